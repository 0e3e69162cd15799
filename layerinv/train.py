"""Train the paper's MNIST generator: a VAE whose decoder is 20 -> 60 -> 784 with ReLU after both layers.

The decoder is ``G(z) = ReLU(W2 ReLU(W1 z))`` (no biases unless ``bias=True``), the architecture
of Lei et al. (2019). The output ReLU is kept on purpose: the layer-wise LPs invert a ReLU exactly.

Why a Gaussian (MSE) reconstruction loss: with the usual Bernoulli loss the decoder's output is a
logit that a sigmoid maps to pixels, so ReLU outputs would live on a logit scale (the paper's
published decoder reaches about 6.6) and ``G(z)`` could not be compared with a real digit in
[0, 1]. With ``p(x | z) = N(G(z), sigma^2 I)`` the decoder's output *is* the predicted image, so a
real digit x in [0, 1] is a sensible target for ``invert(G, x)``.

Training uses torch (CPU), with every random draw (initial weights, batch order, the
reparameterisation noise) taken from ``rng``: a ``torch.Generator`` seeded from it, never a global seed.
"""
from __future__ import annotations

import time

import numpy as np

from ._checks import as_float_array, as_rng, check_positive
from ._torch import require_torch
from .network import ReLUNet

__all__ = ["train_mnist_vae", "LATENT", "HIDDEN", "ENC_HIDDEN"]

LATENT, HIDDEN, ENC_HIDDEN = 20, 60, 400
N_PIXELS = 784


def _uniform(rng, fan_in, shape):
    """PyTorch's default Linear initialisation U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from rng."""
    b = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-b, b, size=shape).astype(np.float32)


def _init_params(rng, bias, torch):
    """Encoder 784 -> 400 -> (mu, logvar) in R^20 with biases; decoder 20 -> 60 -> 784."""
    shapes = {"enc_W": (ENC_HIDDEN, N_PIXELS), "enc_b": (ENC_HIDDEN,),
              "mu_W": (LATENT, ENC_HIDDEN), "mu_b": (LATENT,),
              "lv_W": (LATENT, ENC_HIDDEN), "lv_b": (LATENT,),
              "W1": (HIDDEN, LATENT), "W2": (N_PIXELS, HIDDEN)}
    fan_in = {"enc": N_PIXELS, "mu": ENC_HIDDEN, "lv": ENC_HIDDEN, "W1": LATENT, "W2": HIDDEN,
              "b1": LATENT, "b2": HIDDEN}
    if bias:
        shapes.update({"b1": (HIDDEN,), "b2": (N_PIXELS,)})
    params = {}
    for name, shape in shapes.items():
        fi = fan_in[name.split("_")[0]]
        params[name] = torch.tensor(_uniform(rng, fi, shape), requires_grad=True)
    return params


def _decode(p, z, torch):
    h = z @ p["W1"].T
    if "b1" in p:
        h = h + p["b1"]
    x = torch.relu(h) @ p["W2"].T
    if "b2" in p:
        x = x + p["b2"]
    return torch.relu(x)


def _loss(p, x, gen, sigma, torch):
    """Per-digit negative ELBO (without its constant) for p(x|z) = N(G(z), sigma^2 I), q(z|x) Gaussian.

    ``||x - G(z)||^2 / (2 sigma^2) + KL(q(z|x) || N(0, I))``; z = mu + exp(logvar / 2) * noise.
    """
    h = torch.relu(x @ p["enc_W"].T + p["enc_b"])
    mu = h @ p["mu_W"].T + p["mu_b"]
    logvar = h @ p["lv_W"].T + p["lv_b"]
    noise = torch.randn(mu.shape, generator=gen, dtype=mu.dtype)
    z = mu + torch.exp(0.5 * logvar) * noise
    sq = ((x - _decode(p, z, torch)) ** 2).sum(dim=1)
    kl = 0.5 * (mu ** 2 + logvar.exp() - 1.0 - logvar).sum(dim=1)
    return sq / (2.0 * sigma ** 2) + kl, sq, kl


def train_mnist_vae(images, *, epochs, rng, bias=False, progress=True, batch_size=100, lr=1e-3, sigma=0.1,
                    threads=1, return_history=False):
    """Train a VAE on MNIST digits and return its decoder as a ReLUNet.

    Model: encoder ``784 -> 400 (ReLU) -> (mu, logvar) in R^20``; decoder
    ``G(z) = ReLU(W2 ReLU(W1 z + b1) + b2)`` with ``W1`` (60, 20), ``W2`` (784, 60), biases only
    with ``bias=True``. Loss per digit (the negative ELBO up to a constant), minimised with Adam::

        ||x - G(z)||^2 / (2 sigma^2) + KL(N(mu, diag(exp(logvar))) || N(0, I)),   z = mu + exp(logvar/2) * e

    A Gaussian likelihood keeps G's outputs on the [0, 1] pixel scale of the data (a Bernoulli
    likelihood would make them logits), so real digits can be fed to :func:`layerinv.invert`.

    Parameters
    ----------
    images : array_like, shape (N, 784)
        Training digits with pixel values in [0, 1].
    epochs : int
        Passes over the data.
    rng : int or numpy.random.Generator
        Seeds the initial weights (numpy) and a ``torch.Generator`` for batch order and noise.
    bias : bool
        Give the decoder's two layers biases (the paper's decoder has none).
    progress : bool
        Show a tqdm progress bar over epochs with the running loss.
    batch_size : int
    lr : float
        Adam's learning rate.
    sigma : float
        Standard deviation of the Gaussian likelihood, in pixel units. Smaller values weight
        reconstruction more against the KL term.
    threads : int
        torch CPU threads during training (restored afterwards). One is fastest for this small
        model: on a busy machine several threads were measured ~20x slower per batch.
    return_history : bool
        Also return one dict per epoch: ``loss`` (mean negative ELBO per digit, without its
        constant), ``mse`` (mean squared error per pixel), ``kl`` (mean KL per digit), ``seconds``.

    Returns
    -------
    ReLUNet or (ReLUNet, list of dict)
        The decoder, ``dims == [20, 60, 784]``, float64 copies of the trained float32 weights.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).uniform(size=(50, 784))
    >>> G = train_mnist_vae(X, epochs=1, rng=0, progress=False)
    >>> G.dims
    [20, 60, 784]
    """
    torch = require_torch("train_mnist_vae")
    X = as_float_array(images, "images", ndim=2)
    if X.shape[1] != N_PIXELS or X.shape[0] < 1:
        raise ValueError(f"images must have shape (N, 784) with N >= 1 (flattened 28 x 28 digits); got {X.shape}.")
    if X.min() < 0 or X.max() > 1:
        raise ValueError(f"images must hold pixel values in [0, 1]; got range [{X.min():.3g}, {X.max():.3g}]. "
                         "Divide 8-bit images by 255.")
    epochs = check_positive(epochs, "epochs", integer=True)
    batch_size = check_positive(batch_size, "batch_size", integer=True)
    lr = check_positive(lr, "lr")
    sigma = check_positive(sigma, "sigma")
    if not isinstance(bias, bool):
        raise TypeError(f"bias must be True or False; got {bias!r}.")
    threads = check_positive(threads, "threads", integer=True)
    rng = as_rng(rng)
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _train(torch, X, epochs, rng, bias, progress, batch_size, lr, sigma, return_history)
    finally:
        torch.set_num_threads(saved_threads)


def epoch_record(epoch, tot, sq_tot, kl_tot, n, lr, t0, **extra):
    """One epoch's summary (mean loss, pixel MSE, KL, seconds); a non-finite loss raises ValueError."""
    if not np.isfinite(tot):
        raise ValueError(f"training diverged at epoch {epoch + 1} (loss {tot}); lower lr (now {lr}).")
    return {"epoch": epoch + 1, "loss": tot / n, "mse": sq_tot / (n * N_PIXELS), "kl": kl_tot / n, **extra,
            "seconds": time.perf_counter() - t0}


def _adam(params, lr, torch, betas=(0.9, 0.999), eps=1e-8):
    """Adam (Kingma & Ba 2015) as in ``torch.optim.Adam`` with default options; returns ``step()``,
    which updates ``params`` from their ``.grad`` and clears the gradients.

    Written out because constructing ``torch.optim.Adam`` imports torch's compiler stack, measured
    at ~7 s on this project's CI machine, longer than the whole training run of the tests.
    """
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    t = [0]

    def step():
        t[0] += 1
        c1, c2 = 1.0 - betas[0] ** t[0], 1.0 - betas[1] ** t[0]
        with torch.no_grad():
            for p, mi, vi in zip(params, m, v):
                g = p.grad
                mi.mul_(betas[0]).add_(g, alpha=1.0 - betas[0])
                vi.mul_(betas[1]).addcmul_(g, g, value=1.0 - betas[1])
                p.addcdiv_(mi, (vi / c2).sqrt_().add_(eps), value=-lr / c1)
                p.grad = None

    return step


def _train(torch, X, epochs, rng, bias, progress, batch_size, lr, sigma, return_history):
    from tqdm import tqdm

    params = _init_params(rng, bias, torch)
    gen = torch.Generator().manual_seed(int(rng.integers(2 ** 63)))
    data = torch.as_tensor(X, dtype=torch.float32)
    step = _adam(list(params.values()), lr, torch)
    n = len(data)
    history = []
    t0 = time.perf_counter()
    bar = tqdm(range(epochs), desc="train-mnist", unit="epoch", disable=not progress)
    for epoch in bar:
        order = torch.randperm(n, generator=gen)
        tot = sq_tot = kl_tot = 0.0
        for start in range(0, n, batch_size):
            xb = data[order[start:start + batch_size]]
            loss, sq, kl = _loss(params, xb, gen, sigma, torch)
            loss.mean().backward()
            step()
            tot += float(loss.detach().sum())
            sq_tot += float(sq.detach().sum())
            kl_tot += float(kl.detach().sum())
        rec = epoch_record(epoch, tot, sq_tot, kl_tot, n, lr, t0)
        history.append(rec)
        bar.set_postfix(loss=f"{rec['loss']:.1f}", mse=f"{rec['mse']:.4f}", kl=f"{rec['kl']:.1f}")
    bar.close()

    weights = [params["W1"].detach().double().numpy(), params["W2"].detach().double().numpy()]
    biases = ([params["b1"].detach().double().numpy(), params["b2"].detach().double().numpy()] if bias
              else None)
    G = ReLUNet(weights, biases, ["relu", "relu"])
    return (G, history) if return_history else G
