"""Compressed sensing with a generator: per-pixel error against the number of measurements m
(the setting of Bora, Jalal, Price & Dimakis 2017, "CSGM").

Signals x*: with ``--net mnist`` (default) the shipped MNIST decoder (20 -> 60 -> 784,
:func:`layerinv.datasets.load_mnist_generator`) and, with ``--signal real`` (default), the held-out
real test digits (trial i is digit i; they are not in the decoder's range, so every generative
method has a representation-error floor), or with ``--signal generated`` x* = G(z*), z* ~ N(0, I).
``--net random``: a random 20 x 250 x 600 ReLU net and generated signals.

Measurements: ``y = A x* + e`` with ``A = GaussianCS(m, n)`` (entries N(0, 1/m)) and
``e ~ N(0, sigma^2 I)``, ``sigma = noise * ||A x*|| / sqrt(m)``: the noise is ``--noise`` (default
0.1) times the root-mean-square clean measurement, i.e. ``E||e|| = 0.1 ||A x*||`` (20 dB SNR).

Methods, all on the same (A, e):

* ``gn`` (ours, ``recover``'s auto): layer-wise LP starts plus 20 quasi-random starts, then
  Gauss–Newton on ``||A G(z) - y||^2 + lam ||z||^2`` inside activation regions; ``--gn-lam``
  (default 0.1, the same objective as CSGM, so the comparison is between optimisers).
* ``pgd`` (PGD-LP, Shah & Hegde 2018): ``x <- P_G(x - A^T (A x - y))`` with the layer-wise ℓ∞ LP
  plus a Gauss–Newton polish as the projection P_G.
* ``gd`` (CSGM): Adam on ``||A G(z) - y||^2 + 0.1 ||z||^2``, 10 restarts x 1000 steps, lr 0.05.
* ``lasso``: ``min_c 1/2 ||A Psi c - y||^2 + lam ||c||_1`` with Psi the orthonormal (2-D for
  images) inverse DCT, by FISTA (500 iterations); ``lam = --lasso-lam * ||(A Psi)^T y||_inf``
  (default 0.01, chosen on digits 50-53, disjoint from the evaluation digits, among 0.01, 0.03, 0.1).

Reported: per-pixel error ``||x_hat - x*||^2 / n`` (Bora et al.'s measure) and
``||x_hat - x*|| / ||x*||``. Files in ``--out``: ``cs_trials.csv``, ``cs_summary.csv`` (mean and
standard error per m and method), ``cs.json`` and ``cs.png``.
"""
from __future__ import annotations

import math
import os

import numpy as np

from . import _args as A
from . import _common as C

DESCRIPTION = "compressed sensing: per-pixel error vs measurements m, ours (gn, pgd) vs CSGM and Lasso-DCT"

METHODS = ("gn", "pgd", "gd", "lasso")
DEFAULT_MS = [10, 25, 50, 100, 200, 300, 500, 750]
QUICK_MS = [25, 100]
GD_LR, GD_STEPS, GD_RESTARTS, GD_LAM = 0.05, 1000, 10, 0.1
QUICK_GD_STEPS, QUICK_GD_RESTARTS = 100, 2
GN_RESTARTS, QUICK_GN_RESTARTS, QUICK_PGD_STEPS = 20, 2, 3
STYLE = {"gn": dict(color="tab:purple", marker="d", label="ours: LP start + Gauss-Newton"),
         "pgd": dict(color="tab:blue", marker="o", label="PGD-LP (Shah & Hegde)"),
         "gd": dict(color="tab:red", marker="x", label="CSGM (Adam)"),
         "lasso": dict(color="tab:gray", marker="s", label="Lasso (DCT)")}

TRIAL_COLUMNS = ["net", "signal", "m", "trial", "method", "status", "mse", "rel_err", "residual", "seconds"]
SUMMARY_COLUMNS = ["net", "signal", "m", "method", "runs", "mean_mse", "sem_mse", "median_rel_err",
                   "mean_seconds", "errors"]


def add_arguments(parser):
    g = A.add_common_arguments(parser, trials=20, out="results/cs")
    g.add_argument("--net", choices=("mnist", "random"), default="mnist",
                   help="the shipped MNIST decoder (default) or a random 20 x 250 x 600 ReLU net")
    g.add_argument("--signal", choices=("real", "generated"), default=None,
                   help="real held-out MNIST digits (default with --net mnist) or x* = G(z*) (forced for random)")
    g.add_argument("--ms", type=A.int_list, default=None,
                   help="numbers of measurements (default " + ",".join(map(str, DEFAULT_MS)) + ")")
    g.add_argument("--noise", type=A.nonnegative_float, default=0.1,
                   help="noise std as a fraction of the RMS clean measurement ||A x*|| / sqrt(m) (default 0.1)")
    g.add_argument("--methods", type=A.choice_list(METHODS), default=list(METHODS),
                   help="comma-separated subset of " + ",".join(METHODS) + " (default all)")
    g.add_argument("--gn-lam", type=A.nonnegative_float, default=GD_LAM,
                   help=f"gn: weight of ||z||^2 (default {GD_LAM}, the CSGM objective)")
    g.add_argument("--pgd-steps", type=A.positive_int, default=50, help="pgd: iterations (default 50)")
    A.add_gd_arguments(g, lr=GD_LR, steps=GD_STEPS, quick_steps=QUICK_GD_STEPS, restarts=GD_RESTARTS,
                       quick_restarts=QUICK_GD_RESTARTS)
    g.add_argument("--gd-lam", type=A.nonnegative_float, default=GD_LAM, help=f"CSGM: weight of ||z||^2 ({GD_LAM})")
    g.add_argument("--lasso-lam", type=A.positive_float, default=0.01,
                   help="Lasso: lam as a fraction of ||(A Psi)^T y||_inf (default 0.01)")


# ---------------------------------------------------------------------------------------------- trials
def _network(net):
    from .. import ReLUNet

    if net == "mnist":
        from ..datasets import load_mnist_generator

        return load_mnist_generator(), (28, 28)
    return ReLUNet.random([20, 250, 600], rng=C.trial_rng(0, 999_999)), (600,)


def _signal(cfg, G, trial):
    if cfg["signal"] == "real":
        from ..datasets import load_mnist_test_digits

        return load_mnist_test_digits()[0][trial]
    return G(C.trial_rng(cfg["seed"], trial).standard_normal(G.k))


def _trial(task):
    """Every method at one (m, trial): the same A and noise for all."""
    cfg, m, trial = task
    from ..ops import GaussianCS
    from ..recover import recover
    from .lasso import lasso_dct

    G, shape = _network(cfg["net"])
    x = _signal(cfg, G, trial)
    rng = C.trial_rng(cfg["seed"], m, trial)
    op = GaussianCS(m, G.n, rng)
    clean = op(x)
    sigma = cfg["noise"] * float(np.linalg.norm(clean)) / math.sqrt(m)
    y = clean + sigma * rng.standard_normal(m)
    rows = []
    for j, method in enumerate(cfg["methods"]):
        if method == "lasso":
            res, status, secs, _ = C.timed_call(lasso_dct, op.matrix, y, shape, cfg["lasso_lam"])
            x_hat = res if res is not None else np.full(G.n, np.nan)
        else:
            opts = {"gn": dict(lam=cfg["gn_lam"], restarts=cfg["gn_restarts"]), "pgd": dict(steps=cfg["pgd_steps"]),
                    "gd": dict(rng=C.trial_rng(cfg["seed"], m, trial, 1 + j), lr=cfg["gd_lr"],
                               steps=cfg["gd_steps"], restarts=cfg["gd_restarts"], lam=cfg["gd_lam"])}[method]
            res, status, secs, _ = C.timed_call(recover, G, op, y, method, **opts)
            x_hat = G(res.z) if res is not None and np.all(np.isfinite(res.z)) else np.full(G.n, np.nan)
        ok = np.all(np.isfinite(x_hat))
        rows.append({"net": cfg["net"], "signal": cfg["signal"], "m": m, "trial": trial, "method": method,
                     "status": status, "mse": float(np.mean((x_hat - x) ** 2)) if ok else math.inf,
                     "rel_err": C.relative_error(x_hat, x),
                     "residual": float(np.linalg.norm(op(x_hat) - y) / np.linalg.norm(y)) if ok else math.inf,
                     "seconds": secs})
    return rows


def summarize(rows):
    """Mean per-pixel error with its standard error, median relative error, seconds per m and method."""
    return C.summarize(rows, ("m", "method"), lambda t: (t[0], METHODS.index(t[1])), count="runs",
                       net="first:net", signal="first:signal", mean_mse="mean:mse", sem_mse="sem:mse",
                       median_rel_err="median:rel_err", mean_seconds="mean:seconds", errors="errors")


def _config(args):
    signal = args.signal or ("real" if args.net == "mnist" else "generated")
    if signal == "real" and args.net != "mnist":
        raise ValueError("--signal real needs --net mnist (real digits are 28 x 28 images).")
    trials = 1 if args.quick else args.trials
    if signal == "real" and trials > 100:
        raise ValueError(f"--signal real has 100 held-out digits; --trials must be <= 100, got {trials}.")
    return {"seed": args.seed, "net": args.net, "signal": signal, "noise": args.noise, "methods": list(args.methods),
            "gn_lam": args.gn_lam, "gn_restarts": QUICK_GN_RESTARTS if args.quick else GN_RESTARTS,
            "pgd_steps": min(args.pgd_steps, QUICK_PGD_STEPS) if args.quick else args.pgd_steps,
            "gd_lr": args.gd_lr,
            "gd_steps": A.pick(args.gd_steps, args.quick, GD_STEPS, QUICK_GD_STEPS),
            "gd_restarts": A.pick(args.gd_restarts, args.quick, GD_RESTARTS, QUICK_GD_RESTARTS),
            "gd_lam": args.gd_lam, "lasso_lam": args.lasso_lam, "trials": trials}


def run(args):
    """Run the experiment; return the files written (CSV, JSON, then the figure)."""
    out = C.out_dir(args.out)
    if args.plot_only:
        return plot(out)
    cfg = _config(args)
    ms = args.ms or (QUICK_MS if args.quick else DEFAULT_MS)
    G, _ = _network(cfg["net"])
    if max(ms) > G.n:
        raise ValueError(f"--ms must not exceed the signal size {G.n}; got {max(ms)}.")
    tasks = [(cfg, m, i) for m in ms for i in range(cfg["trials"])]
    return C.execute(args, "cs", _trial, tasks, cfg, summarize, (TRIAL_COLUMNS, SUMMARY_COLUMNS), plot, ms=ms,
                     noise_model="sigma = noise * ||A x*|| / sqrt(m)")


def plot(out_dir):
    """Draw ``cs.png`` from ``cs_summary.csv``: mean per-pixel error (±2 standard errors) against m."""
    from .. import plotting as P

    rows, cfg = C.read_results(os.path.join(out_dir, "cs"))
    plt = P.pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for method in METHODS:
        rs = sorted((r for r in rows if r["method"] == method), key=lambda r: r["m"])
        if not rs:
            continue
        ms = np.array([r["m"] for r in rs], float)
        mean = np.array([r["mean_mse"] for r in rs])
        sem = np.array([r["sem_mse"] for r in rs])
        ax.errorbar(ms, mean, yerr=2 * sem, capsize=3, linestyle="-", markersize=5, **STYLE[method])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("number of measurements m")
    ax.set_ylabel(r"per-pixel error $\|\hat x - x^*\|^2 / n$")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    net = "MNIST decoder 20-60-784" if cfg["net"] == "mnist" else "random 20-250-600 ReLU net"
    sig = "real held-out digits" if cfg["signal"] == "real" else "x* = G(z*)"
    ax.set_title(f"{net}, {sig}, {cfg['trials']} trials per m; noise {cfg['noise']:g} x RMS measurement\n"
                 f"CSGM: Adam lr {cfg['gd_lr']:g}, {cfg['gd_restarts']} x {cfg['gd_steps']} steps, "
                 f"lam {cfg['gd_lam']:g}; "
                 f"gn lam {cfg['gn_lam']:g}", fontsize=8)
    return [P.save(fig, os.path.join(out_dir, "cs.png"))]
