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

import numpy as np

from . import _args as A
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


def add_arguments(parser):
    g = A.add_common_arguments(parser, trials=50, out="results/phase-retrieval")
    g.add_argument("--k", type=A.positive_int, default=20, help="latent size (default 20)")
    g.add_argument("--widths", type=A.widths, default=[250, 600], help="layer widths after k (default 250,600)")
    g.add_argument("--ms", type=A.int_list, default=None,
                   help="numbers of measurements (default " + ",".join(map(str, DEFAULT_MS)) + ")")
    g.add_argument("--methods", type=A.choice_list(METHODS), default=list(METHODS),
                   help="comma-separated subset of " + ",".join(METHODS) + " (default all)")
    g.add_argument("--success-tol", type=A.positive_float, default=1e-3,
                   help="success: min(||G(z) -+ x*||) / ||x*|| below this (default 1e-3)")
    A.add_gd_arguments(g, lr=GD_LR, steps=GD_STEPS, quick_steps=QUICK_GD_STEPS, restarts=GD_RESTARTS,
                       quick_restarts=QUICK_GD_RESTARTS)


def _trial(task):
    cfg, trial = task
    from ..ops import PhaseRetrieval
    from ..recover import recover

    G, z_star, x = C.planted(cfg["seed"], (trial,), cfg["k"], cfg["widths"])
    nx = float(np.linalg.norm(x))
    rows = []
    for m in cfg["ms"]:
        op = PhaseRetrieval(m, G.n, C.trial_rng(cfg["seed"], trial, m))
        y = op(x)
        for j, method in enumerate(cfg["methods"]):
            opts = {"gn": dict(restarts=cfg["gn_restarts"]),
                    "gd": dict(rng=C.trial_rng(cfg["seed"], trial, m, 1), lr=cfg["gd_lr"], steps=cfg["gd_steps"],
                               restarts=cfg["gd_restarts"])}[method]
            res, status, secs, _ = C.timed_call(recover, G, op, y, method, **opts)
            z, resid = (res.z, res.residual) if res is not None else (np.full(G.k, np.nan), math.inf)
            if np.all(np.isfinite(z)):
                xh = G(z)
                x_err = min(float(np.linalg.norm(xh - x)), float(np.linalg.norm(xh + x))) / nx
            else:
                x_err = math.inf
            rows.append({"m": m, "trial": trial, "method": method, "status": status, "x_err": x_err,
                         "z_err": C.relative_error(z, z_star), "residual": resid if np.isfinite(resid) else math.inf,
                         "success": x_err < cfg["success_tol"], "seconds": secs})
    return rows


def summarize(rows):
    """Success rate, median signal error and seconds per m and method."""
    return C.summarize(rows, ("m", "method"), lambda t: (t[0], METHODS.index(t[1])), success_rate="mean:success",
                       median_x_err="median:x_err", mean_seconds="mean:seconds", errors="errors")


def run(args):
    """Run the experiment; return the files written (CSV, JSON, then the figure)."""
    out = C.out_dir(args.out)
    if args.plot_only:
        return plot(out)
    trials = min(args.trials, 2) if args.quick else args.trials
    ms = sorted(args.ms or (QUICK_MS if args.quick else DEFAULT_MS))
    cfg = {"seed": args.seed, "k": args.k, "widths": list(args.widths), "ms": ms, "methods": list(args.methods),
           "success_tol": args.success_tol, "gd_lr": args.gd_lr,
           "gd_steps": A.pick(args.gd_steps, args.quick, GD_STEPS, QUICK_GD_STEPS),
           "gd_restarts": A.pick(args.gd_restarts, args.quick, GD_RESTARTS, QUICK_GD_RESTARTS),
           "gn_restarts": QUICK_GN_RESTARTS if args.quick else GN_RESTARTS, "trials": trials}
    return C.execute(args, "phase-retrieval", _trial, [(cfg, i) for i in range(trials)], cfg, summarize,
                     (TRIAL_COLUMNS, SUMMARY_COLUMNS), plot)


def plot(out_dir):
    """Draw ``phase_retrieval.png`` from ``phase_retrieval_summary.csv``."""
    from .. import plotting as P

    rows, cfg = C.read_results(os.path.join(out_dir, "phase_retrieval"))
    fig, ax = P.success_figure(rows, METHODS, STYLE, "m")
    P.rate_axes(ax, "number of measurements m", f"success rate (relative error < {cfg['success_tol']:g}, up to sign)",
                f"y = |B x*|, {cfg['k']} x {' x '.join(map(str, cfg['widths']))} random ReLU nets, {cfg['trials']} "
                f"trials; GD: Adam lr {cfg['gd_lr']:g}, {cfg['gd_restarts']} x {cfg['gd_steps']} steps")
    return [P.save(fig, os.path.join(out_dir, "phase_retrieval.png"))]
