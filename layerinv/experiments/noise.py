"""Recovery error against the noise level on random 20 x 100 x 500 nets (the paper's Fig. 1).

Trial i draws G = ``ReLUNet.random([20, 100, 500])`` and z* ~ N(0, I) once (the same at every noise
level), then for each level s and each noise kind draws a direction u (uniform: u_j ~ U[-1, 1];
Gaussian: u_j ~ N(0, 1)) and observes

    x = G(z*) + e,    e = s * ||G(z*)||_2 * u / ||u||_2,

so the relative noise ``||e|| / ||G(z*)||`` is exactly s. The ℓ∞ LP inverts the uniform-noise x,
the ℓ1 LP the Gaussian-noise x, and GD (Adam) both. Reported: ``||z - z*|| / ||z*||`` per run.

Files written to ``--out``: ``noise_trials.csv`` (one row per run), ``noise_summary.csv``
(median and quartiles per noise kind, method and level), ``noise.json`` and ``noise.png``.
"""
from __future__ import annotations

import os

import numpy as np

from . import _args as A
from . import _common as C
from .random_k import GD_LR, GD_STEPS, QUICK_GD_STEPS, gd_options, run_method

DESCRIPTION = "recovery error vs noise level on random 20 x 100 x 500 nets: linf, l1, gd (paper Fig. 1)"

DEFAULT_LEVELS = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
QUICK_LEVELS = [1e-4, 1e-2]
#: Which noise each method sees: the ℓ∞ LP is the model for bounded (uniform) noise, ℓ1 for
#: Gaussian-like noise; GD is run on both.
PAIRS = (("uniform", "linf"), ("uniform", "gd"), ("gaussian", "l1"), ("gaussian", "gd"))
METHODS = ("linf", "l1", "gd")

TRIAL_COLUMNS = ["noise", "level", "trial", "method", "status", "z_err", "residual", "seconds"]
SUMMARY_COLUMNS = ["noise", "method", "level", "runs", "median_z_err", "q25_z_err", "q75_z_err",
                   "median_residual", "mean_seconds", "errors"]


def add_arguments(parser):
    g = A.add_common_arguments(parser, trials=200, out="results/noise")
    g.add_argument("--k", type=A.positive_int, default=20, help="latent size (default 20)")
    g.add_argument("--widths", type=A.widths, default=[100, 500], help="layer widths after k (default 100,500)")
    g.add_argument("--levels", type=A.float_list, default=None,
                   help="relative noise levels ||e|| / ||G(z*)|| (default 1e-6,1e-5,...,1e-1)")
    g.add_argument("--methods", type=A.choice_list(METHODS), default=list(METHODS),
                   help="subset of linf,l1,gd (default all; linf sees uniform noise, l1 Gaussian, gd both)")
    A.add_gd_arguments(g, lr=GD_LR, steps=GD_STEPS, quick_steps=QUICK_GD_STEPS, stop_rtol=True)


def level_key(level):
    """A non-negative integer naming a noise level in seeds (its float64 bit pattern), so a level's
    noise does not depend on which other levels are run."""
    return int(np.float64(level).view(np.uint64))


def _trial(task):
    """All (noise kind, method) pairs at every level for one planted instance."""
    cfg, trial = task
    G, z_star, x0 = C.planted(cfg["seed"], (trial,), cfg["k"], cfg["widths"])
    gd = gd_options(cfg)
    rows = []
    for level in cfg["levels"]:
        noisy = {}
        for j, kind in enumerate(("uniform", "gaussian")):
            noisy[kind] = C.add_noise(x0, level, kind, C.trial_rng(cfg["seed"], trial, level_key(level), j),
                                      scale="relative")
        for j, (kind, method) in enumerate(PAIRS):
            if method not in cfg["methods"]:
                continue
            x = noisy[kind]
            z, status, secs, _ = run_method(G, x, method, gd, C.trial_rng(cfg["seed"], trial, level_key(level), 2, j))
            ok = np.all(np.isfinite(z))
            rows.append({"noise": kind, "level": level, "trial": trial, "method": method, "status": status,
                         "z_err": C.relative_error(z, z_star),
                         "residual": float(np.linalg.norm(G(z) - x) / np.linalg.norm(x)) if ok else float("inf"),
                         "seconds": secs})
    return rows


def summarize(rows):
    return C.summarize(rows, ("noise", "method", "level"),
                       lambda t: (t[0] != "uniform", METHODS.index(t[1]), t[2]), count="runs",
                       median_z_err="median:z_err", q25_z_err="q25:z_err", q75_z_err="q75:z_err",
                       median_residual="median:residual", mean_seconds="mean:seconds", errors="errors")


def run(args):
    """Run the experiment; return the files written (CSV, JSON, then the figure)."""
    out = C.out_dir(args.out)
    if args.plot_only:
        return plot(out)
    levels = args.levels or (QUICK_LEVELS if args.quick else DEFAULT_LEVELS)
    trials = min(args.trials, 2) if args.quick else args.trials
    steps = A.pick(args.gd_steps, args.quick, GD_STEPS, QUICK_GD_STEPS)
    cfg = {"seed": args.seed, "k": args.k, "widths": list(args.widths), "levels": sorted(levels),
           "methods": list(args.methods), "gd_lr": args.gd_lr, "gd_steps": steps, "gd_restarts": args.gd_restarts,
           "gd_stop_rtol": args.gd_stop_rtol}
    return C.execute(args, "noise", _trial, [(cfg, i) for i in range(trials)], cfg, summarize,
                     (TRIAL_COLUMNS, SUMMARY_COLUMNS), plot, trials_run=trials,
                     noise_model="e = level * ||G(z*)|| * u / ||u||")


def plot(out_dir):
    """Draw ``noise.png`` from ``noise_trials.csv``: one dot per run, lines through the medians."""
    from .. import plotting as P

    rows, cfg = C.read_results(os.path.join(out_dir, "noise"), "trials")
    plt = P.pyplot()
    kinds = [k for k in ("uniform", "gaussian") if any(r["noise"] == k for r in rows)]
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.5 * len(kinds), 4.2), sharey=True, squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        for m in METHODS:
            rs = [r for r in rows if r["noise"] == kind and r["method"] == m]
            if rs:
                P.scatter_with_medians(ax, [r["level"] for r in rs], [r["z_err"] for r in rs], m)
        lv = np.array(sorted({r["level"] for r in rows}))
        ax.plot(lv, lv, color="grey", linestyle=":", linewidth=1, label="error = noise level")
        ax.set_xlabel(r"relative noise $\|e\| / \|G(z^*)\|$")
        ax.set_title(f"{kind} noise", fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="upper left")
    axes[0][0].set_ylabel(r"$\|\hat z - z^*\| / \|z^*\|$")
    runs = max(sum(1 for r in rows if r["noise"] == kinds[0] and r["method"] == m and r["level"] == rows[0]["level"])
               for m in METHODS)
    fig.suptitle(f"{cfg['k']} x {' x '.join(map(str, cfg['widths']))} random ReLU nets, {runs} runs per level; "
                 f"GD: Adam lr {cfg['gd_lr']:g}, {cfg['gd_steps']} steps, {cfg['gd_restarts']} start(s)", fontsize=9)
    return [P.save(fig, os.path.join(out_dir, "noise.png"))]
