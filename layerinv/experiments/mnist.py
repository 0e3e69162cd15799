"""Denoising with an MNIST generator at the paper's noise (variance 0.3) and a mild one (0.01).

Trial i draws z* ~ N(0, I) and Gaussian noise e ~ N(0, sigma^2 I), observes x = G(z*) + e and
inverts x with linf, l1, gd (CSGM: Adam, lr 0.01, 1000 steps, restarts as given) and auto (exact pass,
then Gauss–Newton from 8 quasi-random starts and MAP from the best fits). Reported per run:
``||z - z*|| / ||z*||``, the per-pixel MSE of G(z) against the clean G(z*), and seconds.
``--net`` picks the shipped decoder (default; ``legacy``: the first shipped one), the paper's own decoder
(``../shared/reference_nets/lei2019_vae_relu_20_60_784.npz`` when present) or any .npz written by
``ReLUNet.save``.

Files: ``mnist_trials.csv``, ``mnist_summary.csv``, ``mnist.json``, ``mnist.png``.
"""
from __future__ import annotations

import os

import numpy as np

from . import _args as A
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
    """``"shipped"`` (= ``"dense"``), ``"legacy"``, ``"reference"`` or a path to a ``ReLUNet.save`` file."""
    if spec not in _NETS:
        if spec in ("shipped", "dense", "legacy"):
            from ..datasets import load_mnist_generator

            _NETS[spec] = load_mnist_generator("legacy" if spec == "legacy" else "dense")
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
    g = A.add_common_arguments(parser, trials=100, out="results/mnist")
    g.add_argument("--net", default="shipped",
                   help="shipped (default: load_mnist_generator('dense')), legacy (the first shipped decoder, used "
                        "in docs/results.md), reference (the paper's decoder, if present) or a .npz path")
    g.add_argument("--variances", type=A.float_list, default=list(VARIANCES),
                   help="noise variances (default 0.3,0.01)")
    A.add_gd_arguments(g, lr=0.01, steps=1000, quick_steps=100)


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
        res, status, sec, _ = C.timed_call(invert, G, x, method=method, **opts)
        zz = res.z if res is not None else np.full(G.k, np.nan)
        mse = float(np.mean((G(zz) - clean) ** 2)) if np.all(np.isfinite(zz)) else float("inf")
        rows.append({"net": cfg["net"], "variance": variance, "trial": trial, "method": method, "status": status,
                     "z_err": C.relative_error(zz, z), "pixel_mse": mse, "seconds": sec})
    return rows


def summarize(rows, variances):
    """Median and quartiles of the z error, median pixel MSE and seconds per variance and method."""
    return C.summarize(rows, ("variance", "method"), lambda t: (variances.index(t[0]), METHODS.index(t[1])),
                       count="runs", net="first:net", median_z_err="median:z_err", q25_z_err="q25:z_err",
                       q75_z_err="q75:z_err", median_pixel_mse="median:pixel_mse", median_seconds="median:seconds")


def run(args):
    """Run the experiment; return the files written (CSV, JSON, then the figure)."""
    out = C.out_dir(args.out)
    if args.plot_only:
        return plot(out)
    trials = 2 if args.quick else args.trials
    cfg = {"net": args.net, "seed": args.seed, "methods": list(METHODS),
           "gd_steps": A.pick(args.gd_steps, args.quick, 1000, 100), "gd_restarts": args.gd_restarts,
           "gd_lr": args.gd_lr}
    load_net(args.net)  # fail early on a bad --net
    tasks = [(cfg, i, v, t) for i, v in enumerate(args.variances) for t in range(trials)]
    return C.execute(args, "mnist", _trial, tasks, cfg, lambda rows: summarize(rows, list(args.variances)),
                     (TRIAL_COLUMNS, SUMMARY_COLUMNS), plot)


def plot(out_dir):
    from .. import plotting as P

    plt = P.pyplot()
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
    return [P.save(fig, os.path.join(out_dir, "mnist.png"), dpi=110)]
