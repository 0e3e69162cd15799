"""``layerinv demo --nets random``: invert random k×250×600 ReLU nets with every method and compare them.

Prints a table (success rate, median error, median seconds per method) and writes a CSV and a
figure. Results are written before the figure is drawn from them.
"""
from __future__ import annotations

import os
import time

import numpy as np

from .._checks import as_rng
from . import _common as C

METHODS = ["exact", "linf", "l1", "auto", "gd"]
COLUMNS = ["k", "trial", "method", "status", "z_error", "residual", "seconds"]
HEADER = "Inverting random k×250×600 ReLU nets (x = G(z*) ± 1e-9), success = ||z - z*||/||z*|| < 1e-3:"


def run_random(quick, seed, progress=True):
    """Every method on the same planted instances; one row per inversion."""
    from tqdm import tqdm

    from .. import ReLUNet, invert

    rng = as_rng(seed)
    ks = [20, 60, 100] if not quick else [20, 100]
    trials = 5 if not quick else 2
    gd_opts = {"steps": 1000 if not quick else 300, "lr": 0.05, "restarts": 1}
    rows = []
    with tqdm(total=len(ks) * trials * len(METHODS), desc="demo", unit="inv", leave=False,
              disable=not progress) as bar:
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
                    rows.append({"k": k, "trial": t, "method": m, "status": res.status,
                                 "z_error": C.relative_error(res.z, z), "residual": float(res.residual),
                                 "seconds": sec})
                    bar.update()
    return rows


def table(rows):
    """Success rate, median error and median milliseconds per k and method."""
    lines = [f"{'k':>4} {'method':>6} {'success':>8} {'median z-error':>15} {'median ms':>10}"]
    for k in sorted({r["k"] for r in rows}):
        for m in METHODS:
            sel = [r for r in rows if r["k"] == k and r["method"] == m]
            err = np.array([r["z_error"] for r in sel])
            sec = np.array([r["seconds"] for r in sel])
            lines.append(f"{k:>4} {m:>6} {np.mean(err < 1e-3):>8.2f} {np.median(err):>15.2e} "
                         f"{np.median(sec) * 1e3:>10.2f}")
    return "\n".join(lines)


def plot(out_dir):
    """Draw ``demo_random.png`` from ``demo_random.csv``."""
    from .. import plotting as P

    rows = C.read_csv(os.path.join(out_dir, "demo_random.csv"))
    plt = P.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for i, m in enumerate(METHODS):
        sel = [r for r in rows if r["method"] == m]
        ks = np.array([r["k"] for r in sel]) + (i - 2) * 1.5
        axes[0].scatter(ks, [max(r["z_error"], 1e-17) for r in sel], label=m, s=18)
        axes[1].scatter(ks, [r["seconds"] for r in sel], label=m, s=18)
    axes[0].set(yscale="log", xlabel="latent size k (k×250×600 net)", ylabel="||z - z*|| / ||z*||",
                title="recovery error")
    axes[0].axhline(1e-3, color="gray", ls="--", lw=0.8)
    axes[1].set(yscale="log", xlabel="latent size k", ylabel="seconds per inversion", title="time")
    axes[0].legend()
    fig.tight_layout()
    return P.save(fig, os.path.join(out_dir, "demo_random.png"), dpi=110)


def run_demo(out="out/demo", quick=False, seed=0):
    """Run, write the CSV, draw the figure; return the lines to print."""
    rows = run_random(quick, seed)
    csv_path = C.write_csv(os.path.join(C.out_dir(out), "demo_random.csv"), rows, COLUMNS)
    return [HEADER, table(C.read_csv(csv_path)), f"wrote {csv_path} and {plot(out)}"]
