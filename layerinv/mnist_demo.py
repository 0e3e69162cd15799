"""The MNIST demo: denoising, inpainting and real digits through the shipped 20×60×784 generator.

Every scenario is solved by our method (``invert(..., method="auto")``, or the layer-wise LP on
the observed rows for inpainting) and by the gradient-descent baseline (CSGM: Adam, lr 0.01,
restarts) on the same observation. Results go to a CSV first; the figure is drawn from the arrays
saved beside it.
"""
from __future__ import annotations

import csv
import os
import time

import numpy as np

from ._checks import as_rng
from .certificate import fit_lower_bound
from .gd import gd_fit
from .invert import invert
from .ops import Inpainting
from .recover import recover

SIDE = 28


def _block_rows(top=8, left=8, size=12):
    mask = np.ones((SIDE, SIDE), dtype=bool)
    mask[top:top + size, left:left + size] = False
    return np.flatnonzero(mask.ravel())


def _gd(G, y, rng, rows, steps, restarts):
    forward = None
    if rows is not None:
        import torch

        idx = torch.as_tensor(rows)
        forward = lambda v: v[:, idx]  # noqa: E731 - the measurement: keep the observed pixels
    res = gd_fit(G, y, rng, forward=forward, steps=steps, lr=0.01, restarts=restarts)
    return res.z


def _ours(G, y, rows):
    """Our method: ``invert(method="auto")`` on full observations, ``recover(method="auto")`` with
    the inpainting operator on the observed pixels (the layer-wise LP on the observed rows)."""
    if rows is None:
        res = invert(G, y, method="auto")
    else:
        mask = np.zeros(G.n, dtype=bool)
        mask[rows] = True
        res = recover(G, Inpainting(mask), y, method="auto")
    return res.z, res


def scenarios(quick):
    out = [("denoise, noise variance 0.3 (paper)", "denoise", 0.3),
           ("denoise, noise variance 0.01", "denoise", 0.01),
           ("inpaint, 90% of pixels kept", "inpaint", 0.9),
           ("inpaint, 12×12 block missing", "block", None),
           ("real held-out digit", "real", 0),
           ("real held-out digit", "real", 1)]
    return out[::2] + out[5:] if quick else out


def run(out_dir, quick=False, seed=0, G=None):
    """Solve every scenario; returns (csv path, npz path of the images)."""
    from tqdm import tqdm

    from .datasets import load_mnist_generator, load_mnist_test_digits

    rng = as_rng(seed)
    G = load_mnist_generator() if G is None else G
    digits, labels = load_mnist_test_digits()
    steps, restarts = (200, 1) if quick else (1000, 2)
    # warm up both methods (imports, torch's first call) so that the timings compare the methods
    _gd(G, G(np.zeros(G.k)), as_rng(0), None, 1, 1)
    invert(G, G(np.zeros(G.k)) + 1.0, method="auto")
    rows_out, images = [], []
    for name, kind, param in tqdm(scenarios(quick), desc="demo", leave=False):
        z_true = None
        if kind == "real":
            truth = digits[int(rng.integers(len(digits)))]
        else:
            z_true = rng.standard_normal(G.k)
            truth = G(z_true)
        rows = None
        if kind == "denoise":
            obs_full = truth + np.sqrt(param) * rng.standard_normal(G.n)
            y = obs_full
        elif kind in ("inpaint", "block"):
            rows = (np.sort(rng.permutation(G.n)[: int(round(param * G.n))]) if kind == "inpaint"
                    else _block_rows())
            y = truth[rows]
            obs_full = np.full(G.n, np.nan)
            obs_full[rows] = y
        else:
            obs_full = y = truth
        t0 = time.perf_counter()
        z_ours, res = _ours(G, y, rows)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        z_gd = _gd(G, y, rng, rows, steps, restarts)
        t_gd = time.perf_counter() - t0
        rec = {"scenario": name, "ours_method": res.method}
        for tag, z, sec in (("ours", z_ours, t_ours), ("gd", z_gd, t_gd)):
            x_hat = G(z)
            rec[f"{tag}_pixel_mse"] = float(np.mean((x_hat - truth) ** 2))
            rec[f"{tag}_z_error"] = (float(np.linalg.norm(z - z_true) / np.linalg.norm(z_true))
                                     if z_true is not None else float("nan"))
            rec[f"{tag}_seconds"] = sec
        lin_top = res.layers[0] if res.layers else None
        if kind == "real" and lin_top is not None:
            rec["certified_linf_lower"] = fit_lower_bound(G, truth)[0]  # no z has ||G(z) - x||_inf below it
            rec["ours_linf_fit"] = float(np.max(np.abs(G(z_ours) - truth)))
            rec["layer_t"] = "; ".join(f"layer {r.index}: {r.lower:.3g}" for r in res.layers)
        else:
            rec["certified_linf_lower"] = rec["ours_linf_fit"] = float("nan")
            rec["layer_t"] = ""
        rows_out.append(rec)
        images.append(np.stack([truth, obs_full, G(z_ours), G(z_gd)]))
    os.makedirs(out_dir, exist_ok=True)
    csv_path = os.path.join(out_dir, "demo_mnist.csv")
    with open(csv_path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows_out[0]))
        w.writeheader()
        w.writerows(rows_out)
    npz_path = os.path.join(out_dir, "demo_mnist_images.npz")
    np.savez(npz_path, images=np.stack(images))
    return csv_path, npz_path


def table(csv_path):
    with open(csv_path) as fh:
        rows = list(csv.DictReader(fh))
    head = (f"{'scenario':<38} {'ours: pixel MSE':>15} {'z-err':>7} {'sec':>6} | {'GD: pixel MSE':>13} {'z-err':>7} "
            f"{'sec':>6}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['scenario']:<38} {float(r['ours_pixel_mse']):>15.4f} {float(r['ours_z_error']):>7.3f} "
                     f"{float(r['ours_seconds']):>6.2f} | {float(r['gd_pixel_mse']):>13.4f} "
                     f"{float(r['gd_z_error']):>7.3f} {float(r['gd_seconds']):>6.2f}")
    for r in rows:
        if r["layer_t"]:
            lines.append(f"real digit: certified, no z has max|G(z) - x| < {float(r['certified_linf_lower']):.3f}; "
                         f"ours reaches {float(r['ours_linf_fit']):.3f} (per-layer LP t: {r['layer_t']})")
    return "\n".join(lines)


def plot(csv_path, npz_path, png_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_path) as fh:
        rows = list(csv.DictReader(fh))
    with np.load(npz_path, allow_pickle=False) as f:
        images = f["images"]
    n = len(rows)
    fig, axes = plt.subplots(n, 4, figsize=(7.2, 1.95 * n))
    axes = np.atleast_2d(axes)
    titles = ["ground truth", "observation", "ours (LP)", "gradient descent"]
    cmap = plt.get_cmap("gray").with_extremes(bad="tab:red")  # unobserved pixels in red
    for i, r in enumerate(rows):
        for j in range(4):
            ax = axes[i, j]
            img = np.ma.masked_invalid(images[i, j].reshape(SIDE, SIDE))
            ax.imshow(img, cmap=cmap, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(titles[j], fontsize=9)
            if j == 0:
                ax.set_ylabel(r["scenario"].replace(", ", ",\n"), fontsize=7)
            if j >= 2:
                tag = "ours" if j == 2 else "gd"
                ax.set_xlabel(f"MSE {float(r[f'{tag}_pixel_mse']):.3f}, {float(r[f'{tag}_seconds']):.2f}s",
                              fontsize=7)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return png_path


def run_demo(out="out/demo", quick=False, seed=0):
    csv_path, npz_path = run(out, quick=quick, seed=seed)
    print("MNIST, shipped 20×60×784 ReLU generator: ours (layer-wise LP + polish) vs gradient descent (CSGM, Adam)")
    print(table(csv_path))
    png = plot(csv_path, npz_path, os.path.join(out, "demo_mnist.png"))
    print(f"wrote {csv_path} and {png}")
    return 0
