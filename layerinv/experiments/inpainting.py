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
import time

import numpy as np

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


def _method_list(text):
    import argparse

    out = [m.strip() for m in str(text).split(",")]
    if not out or len(set(out)) != len(out) or any(m not in METHODS for m in out):
        raise argparse.ArgumentTypeError(f"expected distinct methods from {', '.join(METHODS)}; got {text!r}")
    return out


def _ratio_list(text):
    import argparse

    out = C.float_list(text)
    if any(not 0 < r <= 1 for r in out):
        raise argparse.ArgumentTypeError(f"keep ratios must lie in (0, 1]; got {text!r}")
    return out


def add_arguments(parser):
    from .random_k import _widths

    C.add_common_arguments(parser, trials=50, out="results/inpainting")
    g = parser.add_argument_group("inpainting options")
    g.add_argument("--k", type=C.positive_int, default=20, help="latent size (default 20)")
    g.add_argument("--widths", type=_widths, default=[250, 600], help="layer widths after k (default 250,600)")
    g.add_argument("--ratios", type=_ratio_list, default=None,
                   help="observed fractions (default " + ",".join(map(str, DEFAULT_RATIOS)) + ")")
    g.add_argument("--methods", type=_method_list, default=list(METHODS),
                   help="comma-separated subset of " + ",".join(METHODS) + " (default all)")
    g.add_argument("--success-tol", type=C.positive_float, default=1e-3,
                   help="success: ||z - z*|| / ||z*|| below this (default 1e-3)")
    g.add_argument("--gd-lr", type=C.positive_float, default=GD_LR, help=f"Adam step size (default {GD_LR})")
    g.add_argument("--gd-steps", type=C.positive_int, default=None,
                   help=f"Adam steps (default {GD_STEPS}; {QUICK_GD_STEPS} with --quick)")
    g.add_argument("--gd-restarts", type=C.positive_int, default=1, help="GD random starts (default 1)")


def _trial(task):
    cfg, trial = task
    from .. import ReLUNet
    from ..ops import Inpainting
    from ..recover import recover

    rng = C.trial_rng(cfg["seed"], trial)
    G = ReLUNet.random([cfg["k"]] + cfg["widths"], rng)
    z_star = rng.standard_normal(cfg["k"])
    x = G(z_star)
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
            t0 = time.perf_counter()
            try:
                res = recover(G, op, y, method, **opts)
                z, status, resid = res.z, res.status, res.residual
            except Exception as exc:  # recorded in the CSV and counted, never hidden
                z, resid = np.full(G.k, np.nan), math.inf
                status = f"error: {type(exc).__name__}: {exc}".replace("\n", " ")
            err = C.relative_error(z, z_star)
            rows.append({"ratio": ratio, "m": op.m, "trial": trial, "method": method, "status": status,
                         "z_err": err, "residual": resid if np.isfinite(resid) else math.inf,
                         "success": err < cfg["success_tol"], "seconds": time.perf_counter() - t0,
                         "active_obs": active})
    return rows


def summarize(rows):
    out = []
    keys = sorted({(r["ratio"], r["method"]) for r in rows}, key=lambda t: (t[0], METHODS.index(t[1])))
    for ratio, method in keys:
        rs = [r for r in rows if r["ratio"] == ratio and r["method"] == method]
        out.append({"ratio": ratio, "m": rs[0]["m"], "method": method, "trials": len(rs),
                    "success_rate": float(np.mean([r["success"] for r in rs])),
                    "median_z_err": float(np.median([r["z_err"] for r in rs])),
                    "mean_seconds": float(np.mean([r["seconds"] for r in rs])),
                    "mean_active_obs": float(np.mean([r["active_obs"] for r in rs])),
                    "errors": sum(str(r["status"]).startswith("error") for r in rs)})
    return out


def run(args):
    """Run the experiment; return the files written (CSV, JSON, then the figure)."""
    out = C.out_dir(args.out)
    if args.plot_only:
        return plot(out)
    trials = min(args.trials, 2) if args.quick else args.trials
    cfg = {"seed": args.seed, "k": args.k, "widths": list(args.widths),
           "ratios": sorted(args.ratios or (QUICK_RATIOS if args.quick else DEFAULT_RATIOS)),
           "methods": list(args.methods), "success_tol": args.success_tol, "gd_lr": args.gd_lr,
           "gd_steps": args.gd_steps or (QUICK_GD_STEPS if args.quick else GD_STEPS),
           "gd_restarts": args.gd_restarts, "gn_restarts": QUICK_GN_RESTARTS if args.quick else GN_RESTARTS,
           "trials": trials}
    t0 = time.perf_counter()
    results = C.parallel_map(_trial, [(cfg, i) for i in range(trials)], jobs=args.jobs, desc="inpainting",
                             progress=not args.quiet, torch="gd" in cfg["methods"])
    seconds = time.perf_counter() - t0
    rows = [r for rs in results for r in rs]
    stem = os.path.join(out, "inpainting")
    files = [C.write_csv(stem + "_trials.csv", rows, TRIAL_COLUMNS),
             C.write_csv(stem + "_summary.csv", summarize(rows), SUMMARY_COLUMNS),
             C.write_json(stem + ".json", C.run_metadata("inpainting", args, seconds, config=cfg))]
    return files + plot(out)


def plot(out_dir):
    """Draw ``inpainting.png`` from ``inpainting_summary.csv``."""
    from .. import plotting as P

    rows = C.read_csv(os.path.join(out_dir, "inpainting_summary.csv"))
    cfg = C.read_json(os.path.join(out_dir, "inpainting.json"))["config"]
    plt = P.pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for method in METHODS:
        rs = sorted((r for r in rows if r["method"] == method), key=lambda r: r["ratio"])
        if rs:
            rate = np.array([r["success_rate"] for r in rs])
            ratio = np.array([r["ratio"] for r in rs])
            ax.plot(ratio, rate, linestyle="-", markersize=5, **STYLE[method])
            se = np.sqrt(rate * (1 - rate) / np.array([r["trials"] for r in rs]))
            ax.fill_between(ratio, np.clip(rate - 2 * se, 0, 1), np.clip(rate + 2 * se, 0, 1),
                            color=STYLE[method]["color"], alpha=0.12, linewidth=0)
    n = cfg["widths"][-1]
    ax.axvline(2 * cfg["widths"][-2] / n, color="grey", linestyle=":", linewidth=1,
               label=f"expected active observed rows = {cfg['widths'][-2]}")
    ax.set_xlabel("fraction of observed pixels")
    ax.set_ylabel(r"success rate ($\|\hat z - z^*\| / \|z^*\| <$ %g)" % cfg["success_tol"])
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"{cfg['k']} x {' x '.join(map(str, cfg['widths']))} random ReLU nets, {cfg['trials']} trials; "
                 f"GD: Adam lr {cfg['gd_lr']:g}, {cfg['gd_steps']} steps, {cfg['gd_restarts']} start(s)", fontsize=8)
    return [P.save(fig, os.path.join(out_dir, "inpainting.png"))]
