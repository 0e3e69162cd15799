"""VAE training for MNIST decoders written as layer lists (the shipped ``dense`` and ``conv`` decoders).

A decoder is described by a list of layer records (:data:`SEQUENTIAL_LAYERS`) in ``nn.Sequential``
order; :func:`build_sequential` makes the torch module, ``ReLUNet.from_torch`` the shipped network.
The shipped ones:

* ``dense``: ``z -> Linear(20, 60) -> ReLU -> Linear(60, 784) -> ReLU``, the architecture of
  Lei et al. (2019) with biases (:func:`dense_architecture`);
* ``conv``: ``z -> Linear(20, 32*7*7) -> ReLU -> Unflatten(32, 7, 7) -> ConvTranspose2d(32, 16, 4,
  stride 2, padding 1) -> ReLU -> ConvTranspose2d(16, 1, 4, stride 2, padding 1) -> ReLU -> Flatten``
  (28 x 28 = 784 outputs; :func:`conv_architecture`).

Training (:func:`train_vae`) is a VAE with an MLP encoder ``784 -> 400 -> (mu, logvar)`` and a
Gaussian likelihood ``N(G(z), sigma^2 I)``, so ``G(z)`` is the predicted image on the [0, 1] pixel
scale. After training, the Gaussian that best fits the encoder's aggregate posterior (mean ``m``,
covariance ``C = L L^T``) is folded into the decoder's first Linear layer (``W <- W L``,
``b <- W m + b``): prior samples ``z ~ N(0, I)`` then land where the decoder was trained, which is
what makes them look like digits; the architecture is unchanged.

Training maths only: the decoders are shipped with ``ReLUNet.save`` (:mod:`layerinv.io`), the command
is ``layerinv train-mnist`` (:mod:`layerinv.cli.train`). torch is imported inside functions only.
"""
from __future__ import annotations

import time

import numpy as np

from ._checks import as_float_array, as_rng, check_positive
from ._torch import require_torch
from .train import _adam, epoch_record

__all__ = ["RECIPES", "SEQUENTIAL_LAYERS", "dense_architecture", "conv_architecture", "check_architecture",
           "build_sequential", "to_sequential", "train_vae"]

N_PIXELS = 784

#: Layer record type -> the keys it must have (besides ``type``); names and meanings as in ``torch.nn``.
SEQUENTIAL_LAYERS = {
    "Linear": ("in_features", "out_features", "bias"),
    "ConvTranspose2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding",
                        "bias"),
    "Conv2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "bias"),
    "ReLU": (),
    "LeakyReLU": ("negative_slope",),
    "Unflatten": ("dim", "unflattened_size"),
    "Flatten": (),
}

#: The shipped decoders' recipes (:func:`train_vae` keywords): everything that is not data, seed or output.
RECIPES = {
    "dense": dict(sigma=0.6, beta=1.0, warmup=0, epochs=100, range_weight=0.0),
    "conv": dict(sigma=0.5, beta=1.0, warmup=0, epochs=30, range_weight=0.0),
}


def dense_architecture(latent=20, hidden=60, bias=True):
    """Layer records of ``z -> Linear(latent, hidden) -> ReLU -> Linear(hidden, 784) -> ReLU``."""
    return [{"type": "Linear", "in_features": latent, "out_features": hidden, "bias": bias},
            {"type": "ReLU"},
            {"type": "Linear", "in_features": hidden, "out_features": N_PIXELS, "bias": bias},
            {"type": "ReLU"}]


def conv_architecture(latent=20, channels=(32, 16)):
    """Layer records of the conv decoder: Linear to ``channels[0]`` 7 x 7 maps, two stride-2
    ``ConvTranspose2d`` (kernel 4, padding 1: 7 -> 14 -> 28), ReLU after every layer, Flatten."""
    c1, c2 = (int(c) for c in channels)
    up = {"kernel_size": 4, "stride": 2, "padding": 1, "output_padding": 0, "bias": True}
    return [{"type": "Linear", "in_features": latent, "out_features": c1 * 49, "bias": True},
            {"type": "ReLU"},
            {"type": "Unflatten", "dim": 1, "unflattened_size": [c1, 7, 7]},
            {"type": "ConvTranspose2d", "in_channels": c1, "out_channels": c2, **up},
            {"type": "ReLU"},
            {"type": "ConvTranspose2d", "in_channels": c2, "out_channels": 1, **up},
            {"type": "ReLU"},
            {"type": "Flatten"}]


def check_architecture(arch, where="arch"):
    """``arch`` must be a non-empty list of layer records ``{"type": ..., <exactly its keys>}``."""
    if not isinstance(arch, list) or not arch:
        raise ValueError(f"{where} must be a non-empty list of layer records; got {type(arch).__name__}.")
    for i, rec in enumerate(arch):
        if not isinstance(rec, dict) or rec.get("type") not in SEQUENTIAL_LAYERS:
            raise ValueError(f"{where}[{i}] must be a dict whose 'type' is one of {sorted(SEQUENTIAL_LAYERS)}; "
                             f"got {rec!r}.")
        keys = SEQUENTIAL_LAYERS[rec["type"]]
        missing = [k for k in keys if k not in rec]
        extra = sorted(set(rec) - set(keys) - {"type"})
        if missing or extra:
            raise ValueError(f"{where}[{i}] ({rec['type']}) must have exactly the keys {list(keys)}; missing "
                             f"{missing}, unexpected {extra}.")
    return arch


def build_sequential(arch, dtype=None):
    """An ``nn.Sequential`` with the layers described by ``arch`` (default torch initialisation).

    Parameters
    ----------
    arch : list of dict
        Layer records as written by :func:`dense_architecture` / :func:`conv_architecture`.
    dtype : torch.dtype, optional
        Parameter dtype (default float32).
    """
    torch = require_torch("build_sequential")
    nn = torch.nn
    check_architecture(arch, "arch")
    mods = []
    for rec in arch:
        kw = {k: v for k, v in rec.items() if k != "type"}
        if rec["type"] == "Unflatten":
            kw["unflattened_size"] = tuple(kw["unflattened_size"])
        mods.append(getattr(nn, rec["type"])(**kw))
    seq = nn.Sequential(*mods)
    return seq.to(dtype) if dtype is not None else seq


def to_sequential(G, arch):
    """The torch module ``build_sequential(arch)`` (float64, eval mode) carrying the weights of ``G``.

    The inverse of ``ReLUNet.from_torch`` for decoders built from layer records, e.g.
    ``to_sequential(load_mnist_generator("conv"), conv_architecture())`` gives the shipped conv
    decoder as a torch module (for a baseline that differentiates through torch). ``G`` must have one
    layer per Linear / Conv2d / ConvTranspose2d record, in order, with per-channel biases.
    """
    torch = require_torch("to_sequential")
    module = build_sequential(arch, dtype=torch.float64)
    linear = [m for m in module if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    if len(linear) != G.depth:
        raise ValueError(f"arch has {len(linear)} linear or convolution layers but G has {G.depth} layers.")
    with torch.no_grad():
        for i, (m, L) in enumerate(zip(linear, G.layers)):
            attr = "matrix" if isinstance(m, torch.nn.Linear) else "weight"
            W = getattr(L.linear, attr, None)
            if W is None or tuple(W.shape) != tuple(m.weight.shape):
                raise ValueError(f"layer {i} of G does not match arch's {type(m).__name__} (weight shape "
                                 f"{tuple(m.weight.shape)}; got {type(L.linear).__name__}).")
            b = L.bias.reshape(len(m.bias), -1) if m.bias is not None else np.zeros((0, 1))
            if m.bias is not None and not np.all(b == b[:, :1]):
                raise ValueError(f"layer {i} of G has a bias that is not constant per channel.")
            m.weight.copy_(torch.as_tensor(np.array(W)))
            if m.bias is not None:
                m.bias.copy_(torch.as_tensor(b[:, 0].copy()))
    return module.eval()


# ---------------------------------------------------------------------------------------------- training
def _encoder(torch, latent, hidden):
    nn = torch.nn
    return nn.ModuleDict({"body": nn.Sequential(nn.Linear(N_PIXELS, hidden), nn.ReLU()),
                          "mu": nn.Linear(hidden, latent), "logvar": nn.Linear(hidden, latent)})


def _encode(enc, x):
    h = enc["body"](x)
    return enc["mu"](h), enc["logvar"](h)


def train_vae(images, arch, *, epochs, rng, sigma=0.1, beta=1.0, warmup=0, batch_size=100, lr=1e-3,
              enc_hidden=400, fit_prior=True, range_weight=0.0, threads=1, progress=True):
    """Train a VAE whose decoder is ``build_sequential(arch)``; return the decoder and a history.

    Loss per digit (negative ELBO up to a constant, with a KL weight), minimised with Adam::

        ||x - G(z)||^2 / (2 sigma^2) + beta_t * KL(N(mu, diag(exp(logvar))) || N(0, I)),
        z = mu + exp(logvar / 2) * e,   beta_t = beta * min(1, epoch / warmup)   (KL annealing)

    Parameters
    ----------
    images : array_like, shape (N, 784)
        Training digits in [0, 1].
    arch : list of dict
        Decoder layer records; its first layer must be ``Linear`` from the latent.
    epochs : int
    rng : int or numpy.random.Generator
        Seeds torch's initialisation (inside ``torch.random.fork_rng``, so the global state is
        left as it was) and a ``torch.Generator`` for batch order and noise.
    sigma, beta, warmup : float, float, int
        Likelihood standard deviation (pixel units), final KL weight, epochs of linear KL warm-up.
    fit_prior : bool
        Fold the Gaussian fit of the aggregate posterior into the first Linear layer (see the module
        docstring), so that ``G(z), z ~ N(0, I)`` samples what the decoder was trained on.
    range_weight : float
        Weight of an extra term ``range_weight * ||max(G(z') - 1, 0)||^2 / (2 sigma^2)`` per digit,
        with ``z'`` drawn from the Gaussian fit of the batch's aggregate posterior (where prior
        samples land after the fold): it keeps sampled pixels within the data's range [0, 1].

    Returns
    -------
    decoder : torch.nn.Sequential (float32, eval mode)
    history : list of dict
        Per epoch: ``loss``, ``mse`` (per pixel), ``kl`` (nats per digit), ``beta``, ``seconds``.
    """
    torch = require_torch("train_vae")

    X = as_float_array(images, "images", ndim=2, shape=(None, N_PIXELS))
    if X.min() < 0 or X.max() > 1:
        raise ValueError(f"images must hold pixel values in [0, 1]; got range [{X.min():.3g}, {X.max():.3g}].")
    check_architecture(arch, "arch")
    if arch[0]["type"] != "Linear":
        raise ValueError(f"arch[0] must be the Linear layer from the latent; got {arch[0]['type']}.")
    epochs = check_positive(epochs, "epochs", integer=True)
    sigma, lr = check_positive(sigma, "sigma"), check_positive(lr, "lr")
    beta = check_positive(beta, "beta")
    if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative integer number of epochs; got {warmup!r}.")
    rng = as_rng(rng)
    latent = arch[0]["in_features"]
    seed_init, seed_gen = (int(s) for s in rng.integers(2 ** 63, size=2))
    saved = torch.get_num_threads()
    torch.set_num_threads(check_positive(threads, "threads", integer=True))
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed_init)
            dec = build_sequential(arch)
            enc = _encoder(torch, latent, enc_hidden)
        gen = torch.Generator().manual_seed(seed_gen)
        data = torch.as_tensor(X, dtype=torch.float32)
        history = _fit(torch, enc, dec, data, gen, epochs, sigma, beta, warmup, batch_size, lr, progress, _adam,
                       range_weight)
        if fit_prior:
            _fold_aggregate_posterior(torch, enc, dec, data)
    finally:
        torch.set_num_threads(saved)
    return dec.eval(), history


def _fit(torch, enc, dec, data, gen, epochs, sigma, beta, warmup, batch_size, lr, progress, adam, range_weight):
    from tqdm import tqdm

    params = list(enc.parameters()) + list(dec.parameters())
    step = adam(params, lr, torch)
    n, history, t0 = len(data), [], time.perf_counter()
    bar = tqdm(range(epochs), desc="train", unit="epoch", disable=not progress)
    for epoch in bar:
        b_t = beta * min(1.0, (epoch + 1) / warmup) if warmup else beta
        order = torch.randperm(n, generator=gen)
        tot = sq_tot = kl_tot = 0.0
        for start in range(0, n, batch_size):
            xb = data[order[start:start + batch_size]]
            mu, logvar = _encode(enc, xb)
            z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen)
            sq = ((xb - dec(z)) ** 2).sum(dim=1)
            kl = 0.5 * (mu ** 2 + logvar.exp() - 1.0 - logvar).sum(dim=1)
            loss = sq / (2.0 * sigma ** 2) + b_t * kl
            if range_weight:
                over = _overshoot(torch, dec, mu.detach(), logvar.detach(), gen)
                loss = loss + range_weight * over / (2.0 * sigma ** 2)
            loss.mean().backward()
            step()
            tot += float(loss.detach().sum())
            sq_tot += float(sq.detach().sum())
            kl_tot += float(kl.detach().sum())
        rec = epoch_record(epoch, tot, sq_tot, kl_tot, n, lr, t0, beta=b_t)
        history.append(rec)
        bar.set_postfix(mse=f"{rec['mse']:.4f}", kl=f"{rec['kl']:.1f}")
    bar.close()
    return history


def _overshoot(torch, dec, mu, logvar, gen):
    """Per-sample ``||max(G(z) - 1, 0)||^2`` for z drawn from the Gaussian fit of the batch's aggregate
    posterior (the distribution prior samples follow after the fold): pixels above the data's range."""
    m = mu.mean(dim=0)
    C = torch.cov(mu.T, correction=0) + torch.diag(logvar.exp().mean(dim=0))
    L = torch.linalg.cholesky(C + 1e-6 * torch.eye(len(m)))
    z = m + torch.randn(mu.shape, generator=gen) @ L.T
    return (torch.relu(dec(z) - 1.0) ** 2).sum(dim=1)


def _fold_aggregate_posterior(torch, enc, dec, data):
    """W <- W L, b <- W m + b for the first Linear layer, where N(m, L L^T) is the Gaussian fit of
    the aggregate posterior (1/N) sum_i N(mu_i, diag(var_i))."""
    with torch.no_grad():
        mu, logvar = _encode(enc, data)
        mu, var = mu.double(), logvar.double().exp()
        m = mu.mean(dim=0)
        C = torch.cov(mu.T, correction=0) + torch.diag(var.mean(dim=0))
        L = torch.linalg.cholesky(C)
        lin = dec[0]
        if lin.bias is None:
            raise ValueError("fit_prior=True needs a bias in the decoder's first Linear layer (arch[0]['bias']).")
        W, b = lin.weight.double(), lin.bias.double()
        lin.weight.copy_((W @ L).float())
        lin.bias.copy_((W @ m + b).float())
