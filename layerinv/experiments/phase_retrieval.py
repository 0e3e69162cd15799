"""Phase retrieval with a generator: success rate against the number of measurements m.

Trial i draws G = ``ReLUNet.random([k] + widths)`` (default 20 x 250 x 600) and z* ~ N(0, I) once;
for each m it observes ``y = |B G(z*)|`` with ``B = GaussianCS(m, n)`` (entries N(0, 1/m)),
noise-free, and runs on the same y:

* ``gn`` (ours, ``recover``'s auto): starts from the layer-wise ℓ∞ LP at ``±`` the spectral estimate
  (top eigenvector of ``B^T diag(y^2) B``) and 20 quasi-random latents; from each, Gauss–Newton on
  ``|| |B G(z)| - y ||^2`` with the ReLU pattern and the signs ``sign(B G(z))`` read off at the
  current point, then again from the negated end point.
* ``gd`` (Hand, Leong & Voroninski 2018): Adam on ``|| |B G(z)| - y ||^2`` with their negation check
  every 50 steps; lr 0.2, 1000 steps, ``--gd-restarts`` starts (default 10).

Success: ``min(||G(z) - x*||, ||G(z) + x*||) / ||x*|| < --success-tol`` (1e-3; y determines x*
only up to sign). Files in ``--out``: ``phase_retrieval_trials.csv``, ``phase_retrieval_summary.csv``,
``phase_retrieval.json``, ``phase_retrieval.png``.
"""
from __future__ import annotations

import math
import os
import time

import numpy as np

from . import _common as C

DESCRIPTION = "phase retrieval: success rate vs measurements m on random expansive nets, ours vs HLV gradient descent"

METHODS = ("gn", "gd")
DEFAULT_MS = [25, 50, 75, 100, 150, 200, 300, 400]
QUICK_MS = [50, 150]
#: Adam lr chosen among 0.01, 0.05, 0.2 (success 2/4, 2/4, 3/4 at m = 75; 4/4 each at m = 150) on
#: instances drawn from default_rng(500 + i), not the experiment's.
GD_LR, GD_STEPS, GD_RESTARTS = 0.2, 1000, 10
QUICK_GD_STEPS, QUICK_GD_RESTARTS = 100, 2
GN_RESTARTS, QUICK_GN_RESTARTS = 20, 2
STYLE = {"gn": dict(color="tab:purple", marker="d", label="ours: LP + spectral / quasi-random starts, Gauss-Newton"),
         "gd": dict(color="tab:red", marker="x", label="GD with negation check (Hand et al.)")}

TRIAL_COLUMNS = ["m", "trial", "method", "status", "x_err", "z_err", "residual", "success", "seconds"]
SUMMARY_COLUMNS = ["m", "method", "trials", "success_rate", "median_x_err", "mean_seconds", "errors"]


def _method_list(text):
    import argparse

    out = [m.strip() for m in str(text).split(",")]
    if not out or len(set(out)) != len(out) or any(m not in METHODS for m in out):
        raise argparse.ArgumentTypeError(f"expected distinct methods from {', '.join(METHODS)}; got {text!r}")
    return out


def add_arguments(parser):
    from .random_k import _widths

    C.add_common_arguments(parser, trials=50, out="results/phase-retrieval")
    g = parser.add_argument_group("phase retrieval options")
    g.add_argument("--k", type=C.positive_int, default=20, help="latent size (default 20)")
    g.add_argument("--widths", type=_widths, default=[250, 600], help="layer widths after k (default 250,600)")
    g.add_argument("--ms", type=C.int_list, default=None,
                   help="numbers of measurements (default " + ",".join(map(str, DEFAULT_MS)) + ")")
    g.add_argument("--methods", type=_method_list, default=list(METHODS),
                   help="comma-separated subset of " + ",".join(METHODS) + " (default all)")
    g.add_argument("--success-tol", type=C.positive_float, default=1e-3,
                   help="success: min(||G(z) -+ x*||) / ||x*|| below this (default 1e-3)")
    g.add_argument("--gd-lr", type=C.positive_float, default=GD_LR, help=f"Adam step size (default {GD_LR})")
    g.add_argument("--gd-steps", type=C.positive_int, default=None,
                   help=f"Adam steps (default {GD_STEPS}; {QUICK_GD_STEPS} with --quick)")
    g.add_argument("--gd-restarts", type=C.positive_int, default=None,
                   help=f"GD random starts (default {GD_RESTARTS}; {QUICK_GD_RESTARTS} with --quick)")


def _trial(task):
    cfg, trial = task
    from .. import ReLUNet
    from ..ops import PhaseRetrieval
    from ..recover import recover

    rng = C.trial_rng(cfg["seed"], trial)
    G = ReLUNet.random([cfg["k"]] + cfg["widths"], rng)
    z_star = rng.standard_normal(cfg["k"])
    x = G(z_star)
    nx = float(np.linalg.norm(x))
    rows = []
    for m in cfg["ms"]:
        op = PhaseRetrieval(m, G.n, C.trial_rng(cfg["seed"], trial, m))
        y = op(x)
        for j, method in enumerate(cfg["methods"]):
            opts = {"gn": dict(restarts=cfg["gn_restarts"]),
                    "gd": dict(rng=C.trial_rng(cfg["seed"], trial, m, 1), lr=cfg["gd_lr"], steps=cfg["gd_steps"],
                               restarts=cfg["gd_restarts"])}[method]
            t0 = time.perf_counter()
            try:
                res = recover(G, op, y, method, **opts)
                z, status, resid = res.z, res.status, res.residual
            except Exception as exc:  # recorded in the CSV and counted, never hidden
                z, resid = np.full(G.k, np.nan), math.inf
                status = f"error: {type(exc).__name__}: {exc}".replace("\n", " ")
            if np.all(np.isfinite(z)):
                xh = G(z)
                x_err = min(float(np.linalg.norm(xh - x)), float(np.linalg.norm(xh + x))) / nx
            else:
                x_err = math.inf
            rows.append({"m": m, "trial": trial, "method": method, "status": status, "x_err": x_err,
                         "z_err": C.relative_error(z, z_star), "residual": resid if np.isfinite(resid) else math.inf,
                         "success": x_err < cfg["success_tol"], "seconds": time.perf_counter() - t0})
    return rows


def summarize(rows):
    out = []
    keys = sorted({(r["m"], r["method"]) for r in rows}, key=lambda t: (t[0], METHODS.index(t[1])))
    for m, method in keys:
        rs = [r for r in rows if r["m"] == m and r["method"] == method]
        out.append({"m": m, "method": method, "trials": len(rs),
                    "success_rate": float(np.mean([r["success"] for r in rs])),
                    "median_x_err": float(np.median([r["x_err"] for r in rs])),
                    "mean_seconds": float(np.mean([r["seconds"] for r in rs])),
                    "errors": sum(str(r["status"]).startswith("error") for r in rs)})
    return out


def run(args):
    """Run the experiment; return the files written (CSV, JSON, then the figure)."""
    out = C.out_dir(args.out)
    if args.plot_only:
        return plot(out)
    trials = min(args.trials, 2) if args.quick else args.trials
    ms = sorted(args.ms or (QUICK_MS if args.quick else DEFAULT_MS))
    cfg = {"seed": args.seed, "k": args.k, "widths": list(args.widths), "ms": ms, "methods": list(args.methods),
           "success_tol": args.success_tol, "gd_lr": args.gd_lr,
           "gd_steps": args.gd_steps or (QUICK_GD_STEPS if args.quick else GD_STEPS),
           "gd_restarts": args.gd_restarts or (QUICK_GD_RESTARTS if args.quick else GD_RESTARTS),
           "gn_restarts": QUICK_GN_RESTARTS if args.quick else GN_RESTARTS, "trials": trials}
    t0 = time.perf_counter()
    results = C.parallel_map(_trial, [(cfg, i) for i in range(trials)], jobs=args.jobs, desc="phase retrieval",
                             progress=not args.quiet, torch="gd" in cfg["methods"])
    seconds = time.perf_counter() - t0
    rows = [r for rs in results for r in rs]
    stem = os.path.join(out, "phase_retrieval")
    files = [C.write_csv(stem + "_trials.csv", rows, TRIAL_COLUMNS),
             C.write_csv(stem + "_summary.csv", summarize(rows), SUMMARY_COLUMNS),
             C.write_json(stem + ".json", C.run_metadata("phase-retrieval", args, seconds, config=cfg))]
    return files + plot(out)


def plot(out_dir):
    """Draw ``phase_retrieval.png`` from ``phase_retrieval_summary.csv``."""
    from .. import plotting as P

    rows = C.read_csv(os.path.join(out_dir, "phase_retrieval_summary.csv"))
    cfg = C.read_json(os.path.join(out_dir, "phase_retrieval.json"))["config"]
    plt = P.pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for method in METHODS:
        rs = sorted((r for r in rows if r["method"] == method), key=lambda r: r["m"])
        if rs:
            rate = np.array([r["success_rate"] for r in rs])
            ms = np.array([r["m"] for r in rs], float)
            ax.plot(ms, rate, linestyle="-", markersize=5, **STYLE[method])
            se = np.sqrt(rate * (1 - rate) / np.array([r["trials"] for r in rs]))
            ax.fill_between(ms, np.clip(rate - 2 * se, 0, 1), np.clip(rate + 2 * se, 0, 1),
                            color=STYLE[method]["color"], alpha=0.12, linewidth=0)
    ax.set_xlabel("number of measurements m")
    ax.set_ylabel(f"success rate (relative error < {cfg['success_tol']:g}, up to sign)")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"y = |B x*|, {cfg['k']} x {' x '.join(map(str, cfg['widths']))} random ReLU nets, {cfg['trials']} "
                 f"trials; GD: Adam lr {cfg['gd_lr']:g}, {cfg['gd_restarts']} x {cfg['gd_steps']} steps", fontsize=8)
    return [P.save(fig, os.path.join(out_dir, "phase_retrieval.png"))]
