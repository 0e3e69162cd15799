"""Denoising with an MNIST generator at the paper's noise (variance 0.3) and a mild one (0.01).

Trial i draws z* ~ N(0, I) and Gaussian noise e ~ N(0, sigma^2 I), observes x = G(z*) + e and
inverts x with linf, l1, gd (CSGM: Adam, lr 0.01, 1000 steps, restarts as given) and auto (linf,
then the Gauss–Newton polish from the linf answer and quasi-random starts). Reported per run:
``||z - z*|| / ||z*||``, the per-pixel MSE of G(z) against the clean G(z*), and seconds.
``--net`` picks the shipped decoder (default), the paper's own decoder
(``../shared/reference_nets/lei2019_vae_relu_20_60_784.npz`` when present) or any .npz written by
``ReLUNet.save``.

Files: ``mnist_trials.csv``, ``mnist_summary.csv``, ``mnist.json``, ``mnist.png``.
"""
from __future__ import annotations

import os
import time

import numpy as np

from . import _common as C

DESCRIPTION = "denoising on an MNIST generator at noise variance 0.3 (paper) and 0.01: linf, l1, gd, auto"
METHODS = ("linf", "l1", "gd", "auto")
VARIANCES = (0.3, 0.01)
TRIAL_COLUMNS = ["net", "variance", "trial", "method", "status", "z_err", "pixel_mse", "seconds"]
SUMMARY_COLUMNS = ["net", "variance", "method", "runs", "median_z_err", "q25_z_err", "q75_z_err",
                   "median_pixel_mse", "median_seconds"]
_NETS = {}


def reference_path():
    """Where the paper's own ReLU decoder lives, if anywhere (env LAYERINV_REFERENCE_NETS first)."""
    here = os.path.dirname(os.path.abspath(__file__))
    folders = [os.environ.get("LAYERINV_REFERENCE_NETS", ""),
               os.path.join(here, "..", "..", "..", "shared", "reference_nets")]
    for folder in folders:
        path = os.path.join(folder, "lei2019_vae_relu_20_60_784.npz")
        if folder and os.path.exists(path):
            return os.path.normpath(path)
    return None


def load_net(spec):
    """``"shipped"``, ``"reference"`` or a path to a ``ReLUNet.save`` file."""
    if spec not in _NETS:
        if spec == "shipped":
            from ..datasets import load_mnist_generator

            _NETS[spec] = load_mnist_generator()
        elif spec == "reference":
            from ..datasets import load_reference_decoder

            path = reference_path()
            if path is None:
                raise ValueError("--net reference: the paper's decoder was not found (set LAYERINV_REFERENCE_NETS "
                                 "to the folder holding lei2019_vae_relu_20_60_784.npz).")
            _NETS[spec] = load_reference_decoder(path)
        else:
            from ..network import ReLUNet

            _NETS[spec] = ReLUNet.load(spec)
    return _NETS[spec]


def add_arguments(parser):
    C.add_common_arguments(parser, trials=100, out="results/mnist")
    g = parser.add_argument_group("mnist options")
    g.add_argument("--net", default="shipped",
                   help="shipped (default), reference (the paper's decoder, if present) or a .npz path")
    g.add_argument("--variances", type=C.float_list, default=list(VARIANCES),
                   help="noise variances (default 0.3,0.01)")
    g.add_argument("--gd-steps", type=C.positive_int, default=1000, help="Adam steps (default 1000)")
    g.add_argument("--gd-restarts", type=C.positive_int, default=1, help="GD random restarts (default 1)")
    g.add_argument("--gd-lr", type=C.positive_float, default=0.01, help="Adam step size (default 0.01)")


def _trial(task):
    cfg, v_index, variance, trial = task
    from .. import invert

    G = load_net(cfg["net"])
    rng = C.trial_rng(cfg["seed"], v_index, trial)
    z = rng.standard_normal(G.k)
    clean = G(z)
    x = clean + np.sqrt(variance) * rng.standard_normal(G.n)
    rows = []
    for method in cfg["methods"]:
        opts = ({"rng": C.trial_rng(cfg["seed"], v_index, trial, 1), "steps": cfg["gd_steps"],
                 "restarts": cfg["gd_restarts"], "lr": cfg["gd_lr"]} if method == "gd" else {})
        t0 = time.perf_counter()
        try:
            res = invert(G, x, method=method, **opts)
            zz, status = res.z, res.status
        except Exception as exc:  # recorded and counted, never hidden
            zz, status = np.full(G.k, np.nan), f"error: {type(exc).__name__}: {exc}"
        sec = time.perf_counter() - t0
        mse = float(np.mean((G(zz) - clean) ** 2)) if np.all(np.isfinite(zz)) else float("inf")
        rows.append({"net": cfg["net"], "variance": variance, "trial": trial, "method": method, "status": status,
                     "z_err": C.relative_error(zz, z), "pixel_mse": mse, "seconds": sec})
    return rows


def run(args):
    out = C.out_dir(args.out)
    files = []
    if not args.plot_only:
        trials = 2 if args.quick else args.trials
        cfg = {"net": args.net, "seed": args.seed, "methods": list(METHODS),
               "gd_steps": 100 if args.quick else args.gd_steps, "gd_restarts": args.gd_restarts,
               "gd_lr": args.gd_lr}
        load_net(args.net)  # fail early on a bad --net
        tasks = [(cfg, i, v, t) for i, v in enumerate(args.variances) for t in range(trials)]
        t0 = time.perf_counter()
        results = C.parallel_map(_trial, tasks, jobs=args.jobs, desc="mnist", progress=not args.quiet, torch=True)
        rows = [r for rs in results for r in rs]
        files.append(C.write_csv(os.path.join(out, "mnist_trials.csv"), rows, TRIAL_COLUMNS))
        summary = []
        for v in args.variances:
            for m in METHODS:
                sel = [r for r in rows if r["variance"] == v and r["method"] == m]
                e = np.array([r["z_err"] for r in sel])
                summary.append({"net": args.net, "variance": v, "method": m, "runs": len(sel),
                                "median_z_err": float(np.median(e)), "q25_z_err": float(np.quantile(e, 0.25)),
                                "q75_z_err": float(np.quantile(e, 0.75)),
                                "median_pixel_mse": float(np.median([r["pixel_mse"] for r in sel])),
                                "median_seconds": float(np.median([r["seconds"] for r in sel]))})
        files.append(C.write_csv(os.path.join(out, "mnist_summary.csv"), summary, SUMMARY_COLUMNS))
        files.append(C.write_json(os.path.join(out, "mnist.json"),
                                  C.run_metadata("mnist", args, time.perf_counter() - t0, config=cfg)))
    return files + plot(out)


def plot(out_dir):
    from ..plotting import pyplot

    plt = pyplot()
    rows = C.read_csv(os.path.join(out_dir, "mnist_trials.csv"))
    variances = sorted({r["variance"] for r in rows}, reverse=True)
    fig, axes = plt.subplots(1, len(variances), figsize=(4.5 * len(variances), 3.6), squeeze=False)
    for ax, v in zip(axes[0], variances):
        data = [[r["z_err"] for r in rows if r["variance"] == v and r["method"] == m and np.isfinite(r["z_err"])]
                for m in METHODS]
        ax.boxplot(data, showfliers=True)
        ax.set_xticks(range(1, len(METHODS) + 1), METHODS)
        ax.set_yscale("log")
        ax.set_title(f"noise variance {v:g} ({rows[0]['net']} net)")
        ax.set_ylabel("||z - z*|| / ||z*||")
    fig.tight_layout()
    path = os.path.join(out_dir, "mnist.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
