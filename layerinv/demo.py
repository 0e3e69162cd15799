"""``layerinv demo``: invert random k×250×600 ReLU nets with every method and compare them.

Prints a table (success rate, median error, median seconds per method) and writes a CSV and a
figure. Results are written before the figure is drawn from them.
"""
from __future__ import annotations

import csv
import os
import time

import numpy as np

from ._checks import as_rng
from .invert import invert
from .network import ReLUNet

METHODS = ["exact", "linf", "l1", "auto", "gd"]


def run_random(out, quick, seed):
    rng = as_rng(seed)
    ks = [20, 60, 100] if not quick else [20, 100]
    trials = 5 if not quick else 2
    gd_opts = {"steps": 1000 if not quick else 300, "lr": 0.05, "restarts": 1}
    rows = []
    from tqdm import tqdm

    with tqdm(total=len(ks) * trials * len(METHODS), desc="demo", unit="inv", leave=False) as bar:
        for k in ks:
            for t in range(trials):
                G = ReLUNet.random([k, 250, 600], rng)
                z = rng.standard_normal(k)
                x = G(z) + 1e-9 * rng.uniform(-1, 1, G.n)  # the paper's tiny noise
                for m in METHODS:
                    opts = dict(gd_opts, rng=rng) if m == "gd" else {}
                    t0 = time.perf_counter()
                    res = invert(G, x, method=m, **opts)
                    sec = time.perf_counter() - t0
                    err = float(np.linalg.norm(res.z - z) / np.linalg.norm(z))
                    rows.append({"k": k, "trial": t, "method": m, "status": res.status, "z_error": err,
                                 "residual": float(res.residual), "seconds": sec})
                    bar.update()
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "demo_random.csv")
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def table(csv_path):
    with open(csv_path) as fh:
        rows = list(csv.DictReader(fh))
    lines = [f"{'k':>4} {'method':>6} {'success':>8} {'median z-error':>15} {'median ms':>10}"]
    ks = sorted({int(r["k"]) for r in rows})
    for k in ks:
        for m in METHODS:
            sel = [r for r in rows if int(r["k"]) == k and r["method"] == m]
            err = np.array([float(r["z_error"]) for r in sel])
            sec = np.array([float(r["seconds"]) for r in sel])
            lines.append(f"{k:>4} {m:>6} {np.mean(err < 1e-3):>8.2f} {np.median(err):>15.2e} "
                         f"{np.median(sec) * 1e3:>10.2f}")
    return "\n".join(lines)


def plot(csv_path, png_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_path) as fh:
        rows = list(csv.DictReader(fh))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for i, m in enumerate(METHODS):
        sel = [r for r in rows if r["method"] == m]
        ks = np.array([int(r["k"]) for r in sel]) + (i - 2) * 1.5
        axes[0].scatter(ks, [max(float(r["z_error"]), 1e-17) for r in sel], label=m, s=18)
        axes[1].scatter(ks, [float(r["seconds"]) for r in sel], label=m, s=18)
    axes[0].set(yscale="log", xlabel="latent size k (k×250×600 net)", ylabel="||z - z*|| / ||z*||",
                title="recovery error")
    axes[0].axhline(1e-3, color="gray", ls="--", lw=0.8)
    axes[1].set(yscale="log", xlabel="latent size k", ylabel="seconds per inversion", title="time")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return png_path


def run_demo(out="out/demo", quick=False, seed=0):
    """Run the demo; returns the exit status (0)."""
    csv_path = run_random(out, quick, seed)
    print("Inverting random k×250×600 ReLU nets (x = G(z*) ± 1e-9), success = ||z - z*||/||z*|| < 1e-3:")
    print(table(csv_path))
    png = plot(csv_path, os.path.join(out, "demo_random.png"))
    print(f"wrote {csv_path} and {png}")
    return 0
