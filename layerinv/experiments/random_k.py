"""Success rate against the latent size k on random k x 250 x 600 nets (the paper's Fig. 2).

For every k and trial: draw G = ``ReLUNet.random([k, 250, 600])`` (weights N(0, 1/n_out), no bias),
z* ~ N(0, I_k) and x = G(z*) + e with e_j ~ U[-noise, noise] (absolute; default 1e-9, as in the
paper), then invert x with every method on the same instance. A run succeeds when
``||z - z*|| / ||z*|| < success_tol`` (default 1e-3); it fits x when
``||G(z) - x|| / ||x|| < residual_tol`` (default 1e-6).

Identifiability ceiling: z* is determined by x exactly when the active first-layer units (those
with (W_1 z*)_j > 0) have full column rank, i.e. (generically) when at least k of the n_1 = 250
units are active. Each is active with probability 1/2 independently given z* (rows of W_1 are
i.i.d. symmetric), so no method can beat ``P[Binomial(n_1, 1/2) >= k]`` on z*-success, except by
luck. (The second layer needs n_1 of its 600 units active to pin h_1 by equations alone;
``P[Binomial(600, 1/2) < 250] < 1e-4``, ignored.) With LeakyReLU every layer is injective and the
ceiling is 1 for k <= n_1.

Files written to ``--out``: ``random_k_<act>_trials.csv`` (one row per trial and method),
``random_k_<act>_summary.csv`` (one row per k and method), ``random_k_<act>_table.md`` (the
same as a markdown table), ``random_k_<act>.json`` (options,
versions, run time) and the figure ``random_k_<act>.png``; with ``--tune-gd``,
``gd_tuning_<act>.csv`` instead.
"""
from __future__ import annotations

import argparse
import glob
import math
import os

import numpy as np

from . import _args as A
from . import _common as C

DESCRIPTION = "success rate vs latent size k on random k x 250 x 600 nets, all methods (paper Fig. 2)"

METHODS = ("exact", "linf", "l1", "gd")
DEFAULT_KS = {"relu": list(range(10, 131, 10)), "leaky_relu": list(range(10, 251, 20))}
QUICK_KS = {"relu": [10, 30], "leaky_relu": [10, 30]}
#: GD step size, tuned once with ``--tune-gd`` (docs/results.md): Adam lr in {0.005, ..., 0.5} on 20
#: instances per k at k = 40, ..., 120 (ReLU), disjoint from the evaluation instances. 0.2 had the
#: highest success rate (CSGM's usual 0.01-0.05 is much worse here: 0.4 vs 0.95 at k = 100).
GD_LR = 0.2
GD_STEPS = 1000
QUICK_GD_STEPS = 200
TUNE_LRS = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5]
TUNE_KS = {"relu": [40, 60, 80, 100], "leaky_relu": [130, 150, 170]}
_TUNE_KEY = 1_000_000  # tuning instances use keys (1_000_000 + k, i): disjoint from (k, i)

TRIAL_COLUMNS = ["activation", "k", "trial", "method", "status", "z_err", "residual", "success",
                 "fit", "seconds", "active1", "identifiable"]
SUMMARY_COLUMNS = ["activation", "k", "method", "trials", "success_rate", "fit_rate", "ceiling",
                   "identifiable_rate", "median_z_err", "mean_seconds", "median_seconds", "errors"]


def _slope(text):
    v = A.positive_float(text)
    if not v < 1:
        raise argparse.ArgumentTypeError(f"the leaky_relu slope must be in (0, 1); got {text!r}")
    return v


def add_arguments(parser):
    g = A.add_common_arguments(parser, trials=200, out="results/random-k")
    g.add_argument("--activation", choices=("relu", "leaky_relu"), default="relu",
                   help="activation of every layer (default relu; leaky_relu is the paper's second panel)")
    g.add_argument("--slope", type=_slope, default=0.1, help="leaky_relu slope (default 0.1)")
    A.add_sweep_arguments(g, METHODS, "10,20,...,130 for relu; 10,30,...,250 for leaky_relu")
    g.add_argument("--residual-tol", type=A.positive_float, default=1e-6,
                   help="fit: ||G(z) - x|| / ||x|| below this (default 1e-6)")
    A.add_gd_arguments(g, lr=GD_LR, steps=GD_STEPS, quick_steps=QUICK_GD_STEPS, stop_rtol=True, trials=True,
                       lr_note=", tuned")
    g.add_argument("--tune-gd", action="store_true",
                   help="instead of the experiment, try each --tune-lrs on --tune-trials instances at each --ks "
                        "(default 40,60,80,100 for relu, 130,150,170 for leaky_relu), disjoint from the "
                        "evaluation instances, and write gd_tuning_<act>.csv")
    g.add_argument("--tune-trials", type=A.positive_int, default=20, help="instances per k for --tune-gd (20)")
    g.add_argument("--tune-lrs", type=A.float_list, default=TUNE_LRS,
                   help="step sizes tried by --tune-gd (default " + ",".join(map(str, TUNE_LRS)) + ")")


# ----------------------------------------------------------------------------------------- maths
def ceiling(k, n1, activation="relu"):
    """The best z*-success rate any method can reach at latent size k with first-layer width n1.

    ReLU: ``P[Binomial(n1, 1/2) >= k] = 2^-n1 * sum_{j >= k} C(n1, j)``, computed in exact integer
    arithmetic. LeakyReLU: 1 for k <= n1 (the first layer is injective), else 0.
    """
    k, n1 = int(k), int(n1)
    if activation != "relu":
        return 1.0 if k <= n1 else 0.0
    if k <= 0:
        return 1.0
    if k > n1:
        return 0.0
    num = sum(math.comb(n1, j) for j in range(k, n1 + 1))
    return num / 2 ** n1


# ----------------------------------------------------------------------------------------- trials
def instance(seed, key, k, widths, activation, slope, noise):
    """The planted instance ``(G, z_star, x)`` drawn from ``trial_rng(seed, *key)``; the evaluation
    instance of (k, trial) has key (k, trial). The same for every method and any --jobs."""
    act = ("leaky_relu", slope) if activation == "leaky_relu" else "relu"
    return C.planted(seed, key, k, widths, act, noise)


def run_method(G, x, method, gd, gd_rng):
    """Invert x with one method; return ``(z, status, wall_seconds, cpu_seconds)`` (NaN z and status
    ``'error: ...'`` when it raised, see :func:`._common.timed_call`)."""
    from .. import invert

    opts = dict(gd, rng=gd_rng) if method == "gd" else {}
    res, status, wall, cpu = C.timed_call(invert, G, x, method=method, **opts)
    return (res.z if res is not None else np.full(G.k, np.nan)), status, wall, cpu


def gd_options(cfg):
    """The ``invert(method="gd")`` options of a run configuration."""
    opts = dict(lr=cfg["gd_lr"], steps=cfg["gd_steps"], restarts=cfg["gd_restarts"])
    if cfg.get("gd_stop_rtol") is not None:
        opts["stop_rtol"] = cfg["gd_stop_rtol"]
    return opts


def _trial(task):
    """All methods on one instance (a module-level function, so it can run in a worker process)."""
    cfg, k, trial, key = task
    G, z_star, x = instance(cfg["seed"], key, k, cfg["widths"], cfg["activation"], cfg["slope"], cfg["noise"])
    active1 = int(np.count_nonzero(G.layers[0].affine(z_star) > 0))
    identifiable = bool(active1 >= k if cfg["activation"] == "relu" else k <= cfg["widths"][0])
    rows = []
    gd = gd_options(cfg)
    for method in cfg["methods"]:
        if method == "gd" and cfg.get("gd_trials") is not None and trial >= cfg["gd_trials"]:
            continue
        z, status, secs, _ = run_method(G, x, method, gd, C.trial_rng(cfg["seed"], *key, 1))
        err = C.relative_error(z, z_star)
        resid = (float(np.linalg.norm(G(z) - x) / np.linalg.norm(x)) if np.all(np.isfinite(z)) else math.inf)
        rows.append({"activation": cfg["activation"], "k": k, "trial": trial, "method": method, "status": status,
                     "z_err": err, "residual": resid, "success": err < cfg["success_tol"],
                     "fit": resid < cfg["residual_tol"], "seconds": secs, "active1": active1,
                     "identifiable": identifiable})
    return rows


def _config(args):
    steps = A.pick(args.gd_steps, args.quick, GD_STEPS, QUICK_GD_STEPS)
    return {"seed": args.seed, "widths": list(args.widths), "activation": args.activation, "slope": args.slope,
            "noise": args.noise, "methods": list(args.methods), "success_tol": args.success_tol,
            "residual_tol": args.residual_tol, "gd_lr": args.gd_lr, "gd_steps": steps,
            "gd_restarts": args.gd_restarts, "gd_stop_rtol": args.gd_stop_rtol, "gd_trials": args.gd_trials}


def summarize(rows, n1):
    """One row per (k, method) from the per-trial rows."""
    out = C.summarize(rows, ("k", "method"), lambda t: (t[0], METHODS.index(t[1])), activation="first:activation",
                      success_rate="mean:success", fit_rate="mean:fit", identifiable_rate="mean:identifiable",
                      median_z_err="median:z_err", mean_seconds="mean:seconds", median_seconds="median:seconds",
                      errors="errors")
    for r in out:
        r["ceiling"] = ceiling(r["k"], n1, r["activation"])
    return out


def table_markdown(summary):
    """A markdown table of the summary rows: one line per k, success (and fit) rate per method."""
    methods = [m for m in METHODS if any(r["method"] == m for r in summary)]
    head = ["k", "ceiling", "identifiable"] + [f"{m} success" for m in methods] + [f"{m} fit" for m in methods]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for k in sorted({r["k"] for r in summary}):
        by = {r["method"]: r for r in summary if r["k"] == k}
        first = next(iter(by.values()))
        cells = [str(k), f"{first['ceiling']:.3f}", f"{first['identifiable_rate']:.3f}"]
        cells += [f"{by[m]['success_rate']:.3f}" if m in by else "–" for m in methods]
        cells += [f"{by[m]['fit_rate']:.3f}" if m in by else "–" for m in methods]
        lines.append("| " + " | ".join(cells) + " |")
    runs = {m: max(r["trials"] for r in summary if r["method"] == m) for m in methods}
    lines += ["", "Runs per k: " + ", ".join(f"{m} {n}" for m, n in runs.items()) + "."]
    return "\n".join(lines) + "\n"


def _check(args):
    if args.tune_gd and "gd" not in args.methods:
        raise ValueError("--tune-gd tunes method gd; do not remove gd with --methods.")


def run(args):
    """Run the experiment (or ``--tune-gd``); return the files written (data first, then figures)."""
    _check(args)
    out = C.out_dir(args.out)
    if args.plot_only:
        return plot(out, args.activation)
    if args.tune_gd:
        return tune_gd(args)
    ks = args.ks or (QUICK_KS if args.quick else DEFAULT_KS)[args.activation]
    trials = min(args.trials, 3) if args.quick else args.trials
    cfg = _config(args)
    tasks = [(cfg, k, i, (k, i)) for k in ks for i in range(trials)]
    return C.execute(args, "random-k", _trial, tasks, cfg, lambda rows: summarize(rows, args.widths[0]),
                     (TRIAL_COLUMNS, SUMMARY_COLUMNS), lambda out: plot(out, args.activation),
                     stem=f"random_k_{args.activation}", table=table_markdown, ks=ks, trials_run=trials)


def tune_gd(args):
    """Try each step size on instances disjoint from the evaluation ones; write gd_tuning_<act>.csv."""
    ks = args.ks or ([10] if args.quick else TUNE_KS[args.activation])
    trials = min(args.tune_trials, 2) if args.quick else args.tune_trials
    cfg = dict(_config(args), methods=["gd"])
    tasks = [(dict(cfg, gd_lr=lr), k, i, (_TUNE_KEY + k, i)) for lr in args.tune_lrs for k in ks
             for i in range(trials)]
    rows, _ = C.run_trials(args, _tune_trial, tasks, desc="tune gd lr", methods=("gd",))
    path = os.path.join(C.out_dir(args.out), f"gd_tuning_{args.activation}.csv")
    summary = C.summarize(rows, ("lr", "k"), lambda t: (args.tune_lrs.index(t[0]), ks.index(t[1])),
                          success_rate="mean:success", fit_rate="mean:fit", median_z_err="median:z_err",
                          mean_seconds="mean:seconds")
    C.write_csv(path, summary, ["lr", "k", "trials", "success_rate", "fit_rate", "median_z_err", "mean_seconds"])
    return [path]


def _tune_trial(task):
    rows = _trial(task)
    for r in rows:
        r["lr"] = task[0]["gd_lr"]
    return rows


# ----------------------------------------------------------------------------------------- figure
def plot(out_dir, activation=None):
    """Draw ``random_k_<act>.png`` from ``random_k_<act>_summary.csv`` for each activation found
    (or only ``activation``); return the PNG paths."""
    from .. import plotting as P

    if activation is None:
        acts = sorted(os.path.basename(p)[len("random_k_"):-len("_summary.csv")]
                      for p in glob.glob(os.path.join(out_dir, "random_k_*_summary.csv")))
    else:
        acts = [activation]
    files = []
    for act in acts:
        stem = os.path.join(out_dir, f"random_k_{act}")
        rows, cfg = C.read_results(stem)
        plt = P.pyplot()
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
        methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
        ks = sorted({r["k"] for r in rows})
        n1 = cfg["widths"][0]
        kk = np.arange(min(ks), max(ks) + 1)
        ceil = [ceiling(k, n1, act) for k in kk]
        for ax, col, title in ((axes[0], "success_rate", r"recovery: $\|\hat z - z^*\| / \|z^*\| <$ %g"
                                % cfg["success_tol"]),
                               (axes[1], "fit_rate", r"fit: $\|G(\hat z) - x\| / \|x\| <$ %g"
                                % cfg["residual_tol"])):
            if col == "success_rate":
                lab = (r"ceiling $P[\mathrm{Bin}(%d, 1/2) \geq k]$" % n1) if act == "relu" else "ceiling (injective)"
                ax.plot(kk, ceil, "k--", linewidth=1.2, label=lab)
            for m in methods:
                rs = sorted((r for r in rows if r["method"] == m), key=lambda r: r["k"])
                P.success_curves(ax, [r["k"] for r in rs], [r[col] for r in rs], m, [r["trials"] for r in rs])
            ax.set_xlabel("latent dimension k")
            ax.set_title(title, fontsize=10)
            ax.set_ylim(-0.03, 1.03)
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("fraction of trials")
        axes[0].legend(fontsize=8, loc="lower left")
        name = "ReLU" if act == "relu" else f"LeakyReLU({cfg['slope']:g})"
        trials = max(r["trials"] for r in rows)
        gd_runs = [r["trials"] for r in rows if r["method"] == "gd"]
        gd_note = f" (GD on {max(gd_runs)})" if gd_runs and max(gd_runs) != trials else ""
        fig.suptitle(f"{name}, k x {' x '.join(map(str, cfg['widths']))} random nets, {trials} trials per k{gd_note}, "
                     f"noise U[-{cfg['noise']:g}, {cfg['noise']:g}]; GD: Adam lr {cfg['gd_lr']:g}, "
                     f"{cfg['gd_steps']} steps, {cfg['gd_restarts']} start(s)", fontsize=9)
        files.append(P.save(fig, stem + ".png"))
    if not files:
        raise FileNotFoundError(f"no random_k_*_summary.csv in {out_dir}; run the experiment first.")
    return files
