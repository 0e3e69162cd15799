"""Seconds per inversion on random k x 250 x 600 nets (the paper's CPU-time table).

Every method inverts the same instances in the same process, one after the other (the planted
instances of ``random-k``: key (k, trial), x = G(z*) + U[-1e-9, 1e-9] noise). Each method first
runs once on a throw-away instance (imports, caches), then every inversion is timed with
``time.perf_counter`` (wall) and ``time.process_time`` (CPU; the paper reports CPU time, and it is
the robust measure on a shared machine), single-threaded. The table gives the mean and median CPU
seconds (and mean wall seconds) per k and method, and the ratio ``gd / method`` of mean CPU times
(how many times faster than GD).

A row for the MNIST generator is added when ``layerinv.datasets.load_mnist_generator()`` exists
(z* ~ N(0, I) in its latent space, x = G(z*) + the same noise); otherwise the JSON and the table
say it was skipped.

Files written to ``--out``: ``timing_trials.csv``, ``timing_summary.csv``, ``timing_table.md``,
``timing.json`` and ``timing.png``. Timings are meaningful only with ``--jobs 1`` (enforced).
"""
from __future__ import annotations

import os
import time

import numpy as np

from . import _args as A
from . import _common as C
from .random_k import GD_LR, GD_STEPS, QUICK_GD_STEPS, gd_options, run_method

DESCRIPTION = "seconds per inversion (mean, median) for each method at k = 10..110 on k x 250 x 600 nets"

METHODS = ("exact", "linf", "l1", "gd")
DEFAULT_KS = [10, 30, 50, 70, 90, 110]
QUICK_KS = [10, 30]
MNIST = "mnist"
_MNIST_KEY = 2_000_000  # MNIST instances use keys (2_000_000, i)

TRIAL_COLUMNS = ["setting", "trial", "method", "status", "seconds", "cpu_seconds", "z_err", "residual"]
SUMMARY_COLUMNS = ["setting", "method", "runs", "mean_seconds", "median_seconds", "mean_cpu_seconds",
                   "median_cpu_seconds", "gd_over_mean", "gd_over_median", "gd_over_mean_cpu", "success_rate"]


def add_arguments(parser):
    g = A.add_common_arguments(parser, trials=200, out="results/timing")
    A.add_sweep_arguments(g, METHODS, ",".join(map(str, DEFAULT_KS)))
    A.add_gd_arguments(g, lr=GD_LR, steps=GD_STEPS, quick_steps=QUICK_GD_STEPS, stop_rtol=True, trials=True)
    g.add_argument("--no-mnist", action="store_true", help="skip the MNIST generator row")


def mnist_generator():
    """The MNIST generator from ``layerinv.datasets.load_mnist_generator()``, or ``(None, reason)``."""
    try:
        from ..datasets import load_mnist_generator
    except ImportError as exc:
        return None, f"layerinv.datasets.load_mnist_generator is not available ({exc})"
    try:
        G = load_mnist_generator()
    except (OSError, ValueError) as exc:
        return None, f"load_mnist_generator() failed: {exc}"
    from .. import ReLUNet

    if not isinstance(G, ReLUNet):
        return None, f"load_mnist_generator() returned {type(G).__name__}, not a ReLUNet"
    return G, ""


def _timed_trial(cfg, setting, G, z_star, x, key):
    gd = gd_options(cfg)
    rows = []
    for method in cfg["methods"]:
        if method == "gd" and cfg.get("gd_trials") is not None and key[1] >= cfg["gd_trials"]:
            continue
        z, status, wall, cpu = run_method(G, x, method, gd, C.trial_rng(cfg["seed"], *key, 1))
        ok = np.all(np.isfinite(z))
        rows.append({"setting": setting, "trial": key[1], "method": method, "status": status, "seconds": wall,
                     "cpu_seconds": cpu, "z_err": C.relative_error(z, z_star),
                     "residual": float(np.linalg.norm(G(z) - x) / np.linalg.norm(x)) if ok else float("inf")})
    return rows


def summarize(rows, success_tol):
    """Per setting and method: mean and median wall and CPU seconds, and GD's time over the method's."""
    out = []
    settings = list(dict.fromkeys(r["setting"] for r in rows))
    for s in settings:
        by = {m: [r for r in rows if r["setting"] == s and r["method"] == m] for m in METHODS}
        gd_wall = np.array([r["seconds"] for r in by["gd"]]) if by["gd"] else np.full(1, np.nan)
        gd_cpu = np.array([r["cpu_seconds"] for r in by["gd"]]) if by["gd"] else np.full(1, np.nan)
        for m, rs in by.items():
            if not rs:
                continue
            t = np.array([r["seconds"] for r in rs])
            c = np.array([r["cpu_seconds"] for r in rs])
            out.append({"setting": s, "method": m, "runs": len(rs), "mean_seconds": float(t.mean()),
                        "median_seconds": float(np.median(t)), "mean_cpu_seconds": float(c.mean()),
                        "median_cpu_seconds": float(np.median(c)),
                        "gd_over_mean": float(gd_wall.mean() / t.mean()),
                        "gd_over_median": float(np.median(gd_wall) / np.median(t)),
                        "gd_over_mean_cpu": float(gd_cpu.mean() / c.mean()),
                        "success_rate": float(np.mean([r["z_err"] < success_tol for r in rs]))})
    return out


def table_markdown(summary, note=""):
    """The table: one row per setting; per method the mean and median CPU seconds (and the mean wall
    seconds), then how many times GD's mean CPU time is the method's."""
    methods = [m for m in METHODS if any(r["method"] == m for r in summary)]
    head = ["setting"] + [f"{m}: CPU mean / median (wall mean), s" for m in methods] + \
        [f"gd / {m} (CPU mean)" for m in methods if m != "gd"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in dict.fromkeys(r["setting"] for r in summary):
        by = {r["method"]: r for r in summary if r["setting"] == s}
        label = f"k = {s}" if s != MNIST else "MNIST"
        cells = [label] + [f"{by[m]['mean_cpu_seconds']:.4f} / {by[m]['median_cpu_seconds']:.4f} "
                           f"({by[m]['mean_seconds']:.4f})" if m in by else "–" for m in methods]
        cells += [f"{by[m]['gd_over_mean_cpu']:.0f}×" if m in by and np.isfinite(by[m]["gd_over_mean_cpu"]) else "–"
                  for m in methods if m != "gd"]
        lines.append("| " + " | ".join(cells) + " |")
    runs = {m: max(r["runs"] for r in summary if r["method"] == m) for m in methods}
    lines += ["", "Runs per setting: " + ", ".join(f"{m} {n}" for m, n in runs.items()) + "."]
    if note:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def run(args):
    """Run the timing study; return the files written (CSV, table, JSON, then the figure)."""
    out = C.out_dir(args.out)
    if args.plot_only:
        return plot(out)
    if args.jobs != 1:
        raise ValueError("timing measures seconds per inversion and must run alone: use --jobs 1; "
                         f"got --jobs {args.jobs}.")
    ks = args.ks or (QUICK_KS if args.quick else DEFAULT_KS)
    trials = min(args.trials, 2) if args.quick else args.trials
    steps = A.pick(args.gd_steps, args.quick, GD_STEPS, QUICK_GD_STEPS)
    cfg = {"seed": args.seed, "widths": list(args.widths), "methods": list(args.methods), "noise": args.noise,
           "gd_lr": args.gd_lr, "gd_steps": steps, "gd_restarts": args.gd_restarts,
           "gd_stop_rtol": args.gd_stop_rtol, "gd_trials": args.gd_trials}
    G_mnist, note = (None, "MNIST row skipped (--no-mnist).") if args.no_mnist else mnist_generator()
    if G_mnist is None and not args.no_mnist:
        note = f"MNIST row skipped: {note}."
    from tqdm.auto import tqdm

    rows = []
    t0 = time.perf_counter()
    with C.single_thread(torch="gd" in cfg["methods"]):
        # warm-up: imports, torch start-up and caches are not part of any timing
        Gw, zw, xw = C.planted(args.seed, (_MNIST_KEY + 1, 0), ks[0], cfg["widths"], noise=cfg["noise"])
        _timed_trial(cfg, "warmup", Gw, zw, xw, (_MNIST_KEY + 1, 0))
        jobs = [(k, i) for k in ks for i in range(trials)] + ([(MNIST, i) for i in range(trials)] if G_mnist else [])
        for setting, i in tqdm(jobs, desc="timing", disable=args.quiet):
            if setting == MNIST:
                key = (_MNIST_KEY, i)
                rng = C.trial_rng(args.seed, *key)
                z = rng.standard_normal(G_mnist.k)
                x0 = G_mnist(z)
                x = C.add_noise(x0, cfg["noise"], "uniform", rng) if cfg["noise"] > 0 else x0
                rows += _timed_trial(cfg, MNIST, G_mnist, z, x, key)
            else:
                G, z, x = C.planted(args.seed, (setting, i), setting, cfg["widths"], noise=cfg["noise"])
                rows += _timed_trial(cfg, setting, G, z, x, (setting, i))
    seconds = time.perf_counter() - t0
    summary = summarize(rows, args.success_tol)
    files = C.write_results(args, "timing", os.path.join(out, "timing"), rows, TRIAL_COLUMNS, summary,
                            SUMMARY_COLUMNS, seconds, table=table_markdown(summary, note), ks=ks, trials_run=trials,
                            config=cfg, mnist=note or "included")
    return files + plot(out)


def plot(out_dir):
    """Draw ``timing.png`` (mean seconds per inversion against k, log scale) from ``timing_summary.csv``."""
    from .. import plotting as P

    rows, cfg = C.read_results(os.path.join(out_dir, "timing"))
    plt = P.pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for m in METHODS:
        rs = sorted((r for r in rows if r["method"] == m and r["setting"] != MNIST), key=lambda r: r["setting"])
        if rs:
            st = P.METHOD_STYLE[m]
            ax.plot([r["setting"] for r in rs], [r["mean_cpu_seconds"] for r in rs], "-", **st)
            ax.plot([r["setting"] for r in rs], [r["median_cpu_seconds"] for r in rs], ":", color=st["color"])
    ax.set_yscale("log")
    ax.set_xlabel("latent dimension k")
    ax.set_ylabel("CPU seconds per inversion (solid: mean, dotted: median)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    runs = {m: max(r["runs"] for r in rows if r["method"] == m) for m in METHODS if any(r["method"] == m for r in rows)}
    counts = ", ".join(f"{m} {n}" for m, n in runs.items())
    ax.set_title(f"k x {' x '.join(map(str, cfg['widths']))} random ReLU nets, 1 thread; runs per k: {counts}; "
                 f"GD {cfg['gd_steps']} Adam steps", fontsize=8)
    return [P.save(fig, os.path.join(out_dir, "timing.png"))]
