"""The MNIST demo: denoising, inpainting and real digits through the shipped 20×60×784 generator.

Every scenario is solved by our method (``invert(..., method="auto")``, or ``recover`` with the
inpainting operator on the observed rows) and by the gradient-descent baseline (CSGM: Adam, lr
0.01, restarts) on the same observation. Results go to a CSV first; the figure is drawn from the
CSV and the arrays saved beside it.
"""
from __future__ import annotations

import os
import time

import numpy as np

from .._checks import as_rng
from . import _common as C

SIDE = 28
HEADER = ("MNIST, shipped 20×60×784 ReLU generator: ours (auto: exact, else Gauss–Newton + MAP) vs gradient "
          "descent (CSGM, Adam)")
COLUMNS = ["scenario", "ours_method", "ours_pixel_mse", "ours_z_error", "ours_seconds", "gd_pixel_mse",
           "gd_z_error", "gd_seconds", "certified_linf_lower", "ours_linf_fit", "layer_t"]


def _block_rows(top=8, left=8, size=12):
    mask = np.ones((SIDE, SIDE), dtype=bool)
    mask[top:top + size, left:left + size] = False
    return np.flatnonzero(mask.ravel())


def _solve(G, y, rows, method, **opts):
    """``invert`` on a full observation, ``recover`` with the inpainting operator on ``rows``."""
    from .. import Inpainting, invert, recover

    if rows is None:
        return invert(G, y, method=method, **opts)
    mask = np.zeros(G.n, dtype=bool)
    mask[rows] = True
    return recover(G, Inpainting(mask), y, method=method, **opts)


def scenarios(quick):
    out = [("denoise, noise variance 0.3 (paper)", "denoise", 0.3),
           ("denoise, noise variance 0.01", "denoise", 0.01),
           ("inpaint, 90% of pixels kept", "inpaint", 0.9),
           ("inpaint, 12×12 block missing", "block", None),
           ("real held-out digit", "real", 0),
           ("real held-out digit", "real", 1)]
    return out[::2] + out[5:] if quick else out


def _observe(G, kind, param, rng, digits):
    """``(truth, z_true or None, rows or None, y, obs_full)`` of one scenario."""
    z_true = None
    if kind == "real":
        truth = digits[int(rng.integers(len(digits)))]
    else:
        z_true = rng.standard_normal(G.k)
        truth = G(z_true)
    rows = None
    if kind == "denoise":
        y = obs_full = truth + np.sqrt(param) * rng.standard_normal(G.n)
    elif kind in ("inpaint", "block"):
        rows = np.sort(rng.permutation(G.n)[: int(round(param * G.n))]) if kind == "inpaint" else _block_rows()
        y = truth[rows]
        obs_full = np.full(G.n, np.nan)
        obs_full[rows] = y
    else:
        obs_full = y = truth
    return truth, z_true, rows, y, obs_full


def run(quick=False, seed=0, G=None, progress=True):
    """Solve every scenario; return (rows, images) with images of shape (scenarios, 4, 784)."""
    from tqdm import tqdm

    from ..certificate import fit_lower_bound
    from ..datasets import load_mnist_generator, load_mnist_test_digits

    rng = as_rng(seed)
    G = load_mnist_generator() if G is None else G
    digits, _ = load_mnist_test_digits()
    gd = {"steps": 200 if quick else 1000, "restarts": 1 if quick else 2, "lr": 0.01}
    # warm up both methods (imports, torch's first call) so that the timings compare the methods
    _solve(G, G(np.zeros(G.k)), None, "gd", rng=0, steps=1, restarts=1, lr=0.01)
    _solve(G, G(np.zeros(G.k)) + 1.0, None, "auto")
    rows_out, images = [], []
    for name, kind, param in tqdm(scenarios(quick), desc="demo", leave=False, disable=not progress):
        truth, z_true, rows, y, obs_full = _observe(G, kind, param, rng, digits)
        t0 = time.perf_counter()
        res = _solve(G, y, rows, "auto")
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        z_gd = _solve(G, y, rows, "gd", rng=rng, **gd).z
        t_gd = time.perf_counter() - t0
        rec = {"scenario": name, "ours_method": res.method}
        for tag, z, sec in (("ours", res.z, t_ours), ("gd", z_gd, t_gd)):
            rec[f"{tag}_pixel_mse"] = float(np.mean((G(z) - truth) ** 2))
            rec[f"{tag}_z_error"] = C.relative_error(z, z_true) if z_true is not None else float("nan")
            rec[f"{tag}_seconds"] = sec
        if kind == "real" and res.layers:
            rec["certified_linf_lower"] = fit_lower_bound(G, truth)[0]  # no z has ||G(z) - x||_inf below it
            rec["ours_linf_fit"] = float(np.max(np.abs(G(res.z) - truth)))
            lp = res.method in ("linf", "linf+polish") and all(r.path in ("lstsq", "lp") for r in res.layers)
            rec["layer_t"] = "; ".join(  # each layer LP's value t at its answer (its certified bound: r.lower)
                f"layer {r.index}: {r.objective[1] if isinstance(r.objective, tuple) else r.objective:.3g}"
                for r in res.layers) if lp else ""
        else:
            rec["certified_linf_lower"] = rec["ours_linf_fit"] = float("nan")
            rec["layer_t"] = ""
        rows_out.append(rec)
        images.append(np.stack([truth, obs_full, G(res.z), G(z_gd)]))
    return rows_out, np.stack(images)


def table(rows):
    head = (f"{'scenario':<38} {'ours: pixel MSE':>15} {'z-err':>7} {'sec':>6} | {'GD: pixel MSE':>13} {'z-err':>7} "
            f"{'sec':>6}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['scenario']:<38} {r['ours_pixel_mse']:>15.4f} {r['ours_z_error']:>7.3f} "
                     f"{r['ours_seconds']:>6.2f} | {r['gd_pixel_mse']:>13.4f} "
                     f"{r['gd_z_error']:>7.3f} {r['gd_seconds']:>6.2f}")
    for r in rows:
        if np.isfinite(r["certified_linf_lower"]):
            lines.append(f"real digit: certified, no z has max|G(z) - x| < {r['certified_linf_lower']:.3f}; "
                         f"ours reaches {r['ours_linf_fit']:.3f}"
                         + (f" (per-layer LP t: {r['layer_t']})" if r["layer_t"] else ""))
    return "\n".join(lines)


def plot(out_dir):
    """Draw ``demo_mnist.png`` from ``demo_mnist.csv`` and ``demo_mnist_images.npz``."""
    from .. import plotting as P
    from ..io import read_npz

    rows = C.read_csv(os.path.join(out_dir, "demo_mnist.csv"))
    images = read_npz(os.path.join(out_dir, "demo_mnist_images.npz"), "demo image file")["images"]
    plt = P.pyplot()
    n = len(rows)
    fig, axes = plt.subplots(n, 4, figsize=(7.2, 1.95 * n))
    axes = np.atleast_2d(axes)
    titles = ["ground truth", "observation", "ours (LP)", "gradient descent"]
    cmap = plt.get_cmap("gray").with_extremes(bad="tab:red")  # unobserved pixels in red
    for i, r in enumerate(rows):
        for j in range(4):
            ax = axes[i, j]
            ax.imshow(np.ma.masked_invalid(images[i, j].reshape(SIDE, SIDE)), cmap=cmap, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(titles[j], fontsize=9)
            if j == 0:
                ax.set_ylabel(r["scenario"].replace(", ", ",\n"), fontsize=7)
            if j >= 2:
                tag = "ours" if j == 2 else "gd"
                ax.set_xlabel(f"MSE {r[f'{tag}_pixel_mse']:.3f}, {r[f'{tag}_seconds']:.2f}s", fontsize=7)
    fig.tight_layout()
    return P.save(fig, os.path.join(out_dir, "demo_mnist.png"), dpi=110)


def run_demo(out="out/demo", quick=False, seed=0):
    """Run, write the CSV and the images, draw the figure; return the lines to print."""
    from ..io import write_npz

    rows, images = run(quick=quick, seed=seed)
    csv_path = C.write_csv(os.path.join(C.out_dir(out), "demo_mnist.csv"), rows, COLUMNS)
    write_npz(os.path.join(out, "demo_mnist_images.npz"), {"images": images})
    return [HEADER, table(C.read_csv(csv_path)), f"wrote {csv_path} and {plot(out)}"]
