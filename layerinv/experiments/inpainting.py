"""Inpainting: success rate against the fraction of observed pixels on random expansive nets.

Trial i draws G = ``ReLUNet.random([k] + widths)`` (default 20 x 250 x 600) and z* ~ N(0, I) once;
for each keep ratio r it observes ``y = x*[rows]`` on ``Inpainting.random(n, r)`` (``round(r n)``
pixels chosen uniformly), noise-free, and runs every method on the same y:

* ``exact``: the layer-wise LP on the observed rows of the last layer, then down the layers.
* ``auto``: ``recover``'s default: exact, else the ℓ∞ LP on the observed rows + Gauss–Newton.
* ``gn``: the ℓ∞ LP start plus 20 quasi-random starts, each followed by Gauss–Newton.
* ``gd``: Adam on ``||G(z)[rows] - y||^2`` (lr 0.2, tuned for inversion in ``random-k``;
  1000 steps, ``--gd-restarts`` starts).

Success: ``||z - z*|| / ||z*|| < --success-tol`` (1e-3). Also recorded: ``active_obs``, the
observed rows where x* > 0; the layer-wise LP can pin the 250 hidden units by equations alone only
when ``active_obs >= 250``. Files in ``--out``: ``inpainting_trials.csv``, ``inpainting_summary.csv``,
``inpainting.json``, ``inpainting.png``.
"""
from __future__ import annotations

import math
import os

import numpy as np

from . import _args as A
from . import _common as C

DESCRIPTION = "inpainting: success rate vs observed fraction on random expansive nets, layer-wise LP vs GD"

METHODS = ("exact", "auto", "gn", "gd")
DEFAULT_RATIOS = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0]
QUICK_RATIOS = [0.3, 0.9]
GD_LR, GD_STEPS, QUICK_GD_STEPS = 0.2, 1000, 100
GN_RESTARTS, QUICK_GN_RESTARTS = 20, 2
STYLE = {"exact": dict(color="tab:green", marker="s", label="exact (layer-wise LP, observed rows)"),
         "auto": dict(color="tab:purple", marker="d", label="auto: exact, else linf + Gauss-Newton"),
         "gn": dict(color="tab:blue", marker="o", label="LP + 20 starts, Gauss-Newton"),
         "gd": dict(color="tab:red", marker="x", label="GD (Adam)")}

TRIAL_COLUMNS = ["ratio", "m", "trial", "method", "status", "z_err", "residual", "success", "seconds", "active_obs"]
SUMMARY_COLUMNS = ["ratio", "m", "method", "trials", "success_rate", "median_z_err", "mean_seconds",
                   "mean_active_obs", "errors"]


def _ratio_list(text):
    import argparse

    out = A.float_list(text)
    if any(not 0 < r <= 1 for r in out):
        raise argparse.ArgumentTypeError(f"keep ratios must lie in (0, 1]; got {text!r}")
    return out


def add_arguments(parser):
    g = A.add_common_arguments(parser, trials=50, out="results/inpainting")
    g.add_argument("--k", type=A.positive_int, default=20, help="latent size (default 20)")
    g.add_argument("--widths", type=A.widths, default=[250, 600], help="layer widths after k (default 250,600)")
    g.add_argument("--ratios", type=_ratio_list, default=None,
                   help="observed fractions (default " + ",".join(map(str, DEFAULT_RATIOS)) + ")")
    g.add_argument("--methods", type=A.choice_list(METHODS), default=list(METHODS),
                   help="comma-separated subset of " + ",".join(METHODS) + " (default all)")
    g.add_argument("--success-tol", type=A.positive_float, default=1e-3,
                   help="success: ||z - z*|| / ||z*|| below this (default 1e-3)")
    A.add_gd_arguments(g, lr=GD_LR, steps=GD_STEPS, quick_steps=QUICK_GD_STEPS)


def _trial(task):
    cfg, trial = task
    from ..ops import Inpainting
    from ..recover import recover

    G, z_star, x = C.planted(cfg["seed"], (trial,), cfg["k"], cfg["widths"])
    rows = []
    for s, ratio in enumerate(cfg["ratios"]):
        key = int(np.float64(ratio).view(np.uint64))  # a ratio's mask does not depend on the other ratios
        op = Inpainting.random(G.n, ratio, C.trial_rng(cfg["seed"], trial, key))
        y = op(x)
        active = int(np.count_nonzero(y > 0))
        for j, method in enumerate(cfg["methods"]):
            opts = {"gn": dict(restarts=cfg["gn_restarts"]),
                    "gd": dict(rng=C.trial_rng(cfg["seed"], trial, key, 1), lr=cfg["gd_lr"], steps=cfg["gd_steps"],
                               restarts=cfg["gd_restarts"])}.get(method, {})
            res, status, secs, _ = C.timed_call(recover, G, op, y, method, **opts)
            z, resid = (res.z, res.residual) if res is not None else (np.full(G.k, np.nan), math.inf)
            err = C.relative_error(z, z_star)
            rows.append({"ratio": ratio, "m": op.m, "trial": trial, "method": method, "status": status,
                         "z_err": err, "residual": resid if np.isfinite(resid) else math.inf,
                         "success": err < cfg["success_tol"], "seconds": secs, "active_obs": active})
    return rows


def summarize(rows):
    """Success rate, median error, seconds and active observed rows per keep ratio and method."""
    return C.summarize(rows, ("ratio", "method"), lambda t: (t[0], METHODS.index(t[1])), m="first:m",
                       success_rate="mean:success", median_z_err="median:z_err", mean_seconds="mean:seconds",
                       mean_active_obs="mean:active_obs", errors="errors")


def run(args):
    """Run the experiment; return the files written (CSV, JSON, then the figure)."""
    out = C.out_dir(args.out)
    if args.plot_only:
        return plot(out)
    trials = min(args.trials, 2) if args.quick else args.trials
    cfg = {"seed": args.seed, "k": args.k, "widths": list(args.widths),
           "ratios": sorted(args.ratios or (QUICK_RATIOS if args.quick else DEFAULT_RATIOS)),
           "methods": list(args.methods), "success_tol": args.success_tol, "gd_lr": args.gd_lr,
           "gd_steps": A.pick(args.gd_steps, args.quick, GD_STEPS, QUICK_GD_STEPS),
           "gd_restarts": args.gd_restarts, "gn_restarts": QUICK_GN_RESTARTS if args.quick else GN_RESTARTS,
           "trials": trials}
    return C.execute(args, "inpainting", _trial, [(cfg, i) for i in range(trials)], cfg, summarize,
                     (TRIAL_COLUMNS, SUMMARY_COLUMNS), plot)


def plot(out_dir):
    """Draw ``inpainting.png`` from ``inpainting_summary.csv``."""
    from .. import plotting as P

    rows, cfg = C.read_results(os.path.join(out_dir, "inpainting"))
    fig, ax = P.success_figure(rows, METHODS, STYLE, "ratio")
    n = cfg["widths"][-1]
    ax.axvline(2 * cfg["widths"][-2] / n, color="grey", linestyle=":", linewidth=1,
               label=f"expected active observed rows = {cfg['widths'][-2]}")
    P.rate_axes(ax, "fraction of observed pixels",
                r"success rate ($\|\hat z - z^*\| / \|z^*\| <$ %g)" % cfg["success_tol"],
                f"{cfg['k']} x {' x '.join(map(str, cfg['widths']))} random ReLU nets, {cfg['trials']} trials; "
                f"GD: Adam lr {cfg['gd_lr']:g}, {cfg['gd_steps']} steps, {cfg['gd_restarts']} start(s)")
    return [P.save(fig, os.path.join(out_dir, "inpainting.png"))]
