"""Speed and success of every inversion method on the paper's nets, side by side in one run.

    python benchmarks/bench_invert.py [--trials 20] [--out docs/performance.md]

Methods timed on the same instances (x = G(z*) ± 1e-9, the paper's setting):
  exact, linf, l1, auto, gd (Adam lr 0.05, 1000 steps, 1 restart) from layerinv;
  floor       : one Cholesky least-squares solve per layer on the active rows, nothing else;
  naive_cvxopt: the paper's ℓ∞ LP per layer with CVXOPT's default LP solver (what its code used);
  naive_linprog: the same LP as one scipy.optimize.linprog(method="highs") call per layer.
Success: ||z - z*|| / ||z*|| < 1e-3. Every method runs on one BLAS thread (torch: one thread).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
from scipy.linalg import blas, lapack
from scipy.optimize import linprog

from layerinv import ReLUNet, invert


# ------------------------------------------------------------------------- naive baselines
def _layer_lp(W, b, a, nonneg):
    """The paper's ℓ∞ LP for one ReLU layer, dense: variables (h, t)."""
    # activity threshold: twice the noise floor, and at least 1e-6 of the largest entry (an interior-point
    # solver leaves the hidden layer's zeros at ~1e-9 rather than 0; a smaller threshold breaks CVXOPT)
    thr = max(2 * max(-a.min(), 0), 1e-6 * np.abs(a).max())
    E, I = a > thr, a <= thr
    n = W.shape[1]
    A = np.vstack([np.hstack([W[E], -np.ones((E.sum(), 1))]),
                   np.hstack([-W[E], -np.ones((E.sum(), 1))]),
                   np.hstack([W[I], -np.ones((I.sum(), 1))])])
    rhs = np.concatenate([a[E] - b[E], -(a[E] - b[E]), a[I] - b[I]])
    c = np.zeros(n + 1)
    c[-1] = 1
    return A, rhs, c, n


def naive_linprog(G, x):
    a = x
    for i in range(G.depth - 1, -1, -1):
        L = G.layers[i]
        nonneg = i > 0
        A, rhs, c, n = _layer_lp(L.weight, L.bias, a, nonneg)
        bounds = [(0, None) if nonneg else (None, None)] * n + [(0, None)]
        r = linprog(c, A_ub=A, b_ub=rhs, bounds=bounds, method="highs")
        if r.x is None:
            return np.full(G.k, np.nan)
        a = r.x[:n]
    return a


def naive_cvxopt(G, x):
    from cvxopt import matrix, solvers

    solvers.options["show_progress"] = False
    a = x
    for i in range(G.depth - 1, -1, -1):
        L = G.layers[i]
        nonneg = i > 0
        A, rhs, c, n = _layer_lp(L.weight, L.bias, a, nonneg)
        if nonneg:  # -h <= 0
            A = np.vstack([A, np.hstack([-np.eye(n), np.zeros((n, 1))])])
            rhs = np.concatenate([rhs, np.zeros(n)])
        try:
            sol = solvers.lp(matrix(c), matrix(A), matrix(rhs))
        except (ValueError, ArithmeticError):
            return np.full(G.k, np.nan)
        if sol["x"] is None:
            return np.full(G.k, np.nan)
        a = np.array(sol["x"]).ravel()[:n]
    return a


def floor(G, x):
    """The least work any exact method must do: one Cholesky least-squares solve per layer."""
    a = x
    for i in range(G.depth - 1, -1, -1):
        L = G.layers[i]
        E = a > max(10 * max(-a.min(), 0), 1e-6 * a.max()) if L.activation.name == "relu" else slice(None)
        M = L.weight[E]
        c = a[E] - L.bias[E]
        Mt = M.T
        chol, _ = lapack.dpotrf(blas.dsyrk(1.0, Mt), lower=0, clean=1)
        a, _ = lapack.dpotrs(chol, blas.dgemv(1.0, Mt, c))
    return a


# ------------------------------------------------------------------------- runner
def run_case(G, rng, trials, methods, noise=1e-9):
    out = {m: {"sec": [], "err": []} for m in methods}
    for _ in range(trials):
        z = rng.standard_normal(G.k)
        x = G(z) + noise * rng.uniform(-1, 1, G.n)
        for m in methods:
            t0 = time.perf_counter()
            if m == "floor":
                zz = floor(G, x)
            elif m == "naive_cvxopt":
                zz = naive_cvxopt(G, x)
            elif m == "naive_linprog":
                zz = naive_linprog(G, x)
            elif m == "gd":
                zz = invert(G, x, method="gd", rng=rng, steps=1000, lr=0.05, restarts=1).z
            else:
                zz = invert(G, x, method=m).z
            out[m]["sec"].append(time.perf_counter() - t0)
            out[m]["err"].append(float(np.linalg.norm(zz - z) / np.linalg.norm(z)))
    return out


def mnist_section(rng, trials, gd_trials):
    """ℓ∞ LP vs GD (CSGM: Adam lr 0.01, 1000 steps, 1 restart) on the shipped MNIST generator:
    noisy observations G(z*) + N(0, v) and real held-out digits."""
    try:
        from layerinv.datasets import load_mnist_generator, load_mnist_test_digits
    except ImportError:
        return []
    G = load_mnist_generator()
    digits, _ = load_mnist_test_digits()
    cases = [("G(z*) + N(0, 0.01)", 0.01), ("G(z*) + N(0, 0.3)", 0.3), ("real held-out digit", None)]
    out = ["MNIST generator (shipped 20×60×784): median seconds per inversion, same observations for every "
           f"method ({trials} observations, gd {gd_trials}; gd = Adam lr 0.01, 1000 steps, 1 restart):", "",
           "| observation | linf | l1 | auto | gd | gd/linf |", "|---|---|---|---|---|---|"]
    for name, var in cases:
        sec = {m: [] for m in ("linf", "l1", "auto", "gd")}
        for t in range(trials):
            x = (G(rng.standard_normal(G.k)) + np.sqrt(var) * rng.standard_normal(G.n) if var is not None
                 else digits[t % len(digits)])
            for m in sec:
                if m == "gd" and t >= gd_trials:
                    continue
                opts = {"rng": rng, "steps": 1000, "lr": 0.01, "restarts": 1} if m == "gd" else {}
                t0 = time.perf_counter()
                invert(G, x, method=m, **opts)
                sec[m].append(time.perf_counter() - t0)
        med = {m: float(np.median(v)) for m, v in sec.items()}
        out.append(f"| {name} | {med['linf']:.4f} | {med['l1']:.4f} | {med['auto']:.4f} | {med['gd']:.3f} | "
                   f"{med['gd'] / med['linf']:.0f} |")
    return out


def main(argv=None):
    from threadpoolctl import threadpool_limits

    # every method on one BLAS thread, as layerinv's own calls run (layerinv/_threads.py): the
    # baselines get the same conditions, and the shared 2-core machine stays fair
    with threadpool_limits(limits=1):
        return _main(argv)


def _main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--gd-trials", type=int, default=5, help="gd is ~100x slower: fewer trials")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ks", default="10,30,50,70,90,110")
    p.add_argument("--out", default=None, help="markdown file to write (default: print only)")
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    fast = ["floor", "exact", "linf", "l1", "auto", "naive_cvxopt", "naive_linprog"]
    cases = [(f"{k}×250×600", ReLUNet.random([k, 250, 600], rng)) for k in map(int, args.ks.split(","))]
    cases.append(("20×60×784 (random)", ReLUNet.random([20, 60, 784], rng)))
    try:
        from layerinv.datasets import load_mnist_generator

        cases.append(("20×60×784 (MNIST VAE, shipped)", load_mnist_generator()))
    except (ImportError, AttributeError, FileNotFoundError, ValueError) as exc:
        print(f"(skipping the MNIST generator: {exc})", file=sys.stderr)
    # warm up imports / BLAS / torch
    run_case(cases[0][1], np.random.default_rng(123), 1, fast + ["gd"])
    rows = []
    for name, G in cases:
        res = run_case(G, rng, args.trials, fast)
        res.update(run_case(G, rng, args.gd_trials, ["gd"]))
        rows.append((name, res))
        med = {m: np.median(v["sec"]) for m, v in res.items()}
        print(name, " ".join(f"{m}={med[m] * 1e3:.2f}ms" for m in med), flush=True)
    methods = fast + ["gd"]
    lines = ["| net | " + " | ".join(methods) + " | exact/floor | gd/exact | cvxopt/linf | cvxopt/l1 | linprog/linf | linprog/l1 |",
             "|---" * (len(methods) + 7) + "|"]
    succ = ["| net | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for name, res in rows:
        med = {m: float(np.median(res[m]["sec"])) for m in methods}
        lines.append(f"| {name} | " + " | ".join(f"{med[m] * 1e3:.2f}" for m in methods) +
                     f" | {med['exact'] / med['floor']:.2f} | {med['gd'] / med['exact']:.0f} | "
                     f"{med['naive_cvxopt'] / med['linf']:.0f} | {med['naive_cvxopt'] / med['l1']:.0f} | "
                     f"{med['naive_linprog'] / med['linf']:.0f} | {med['naive_linprog'] / med['l1']:.0f} |")
        succ.append(f"| {name} | " + " | ".join(f"{np.mean(np.array(res[m]['err']) < 1e-3):.2f}" for m in methods) + " |")
    mnist_lines = mnist_section(rng, args.trials, args.gd_trials)
    text = "\n".join([
        f"Median milliseconds per inversion ({args.trials} instances per net, gd {args.gd_trials}; "
        f"x = G(z*) ± 1e-9; {platform.processor() or platform.machine()}, {os.cpu_count()} cores):", "",
        *lines, "", "Success rate (||z − z*||/||z*|| < 1e-3) on the same instances:", "", *succ, "",
        *mnist_lines])
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
