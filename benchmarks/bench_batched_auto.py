"""Batched auto against batched CSGM (issue 11 target): images/s and median z-error.

    python benchmarks/bench_batched_auto.py [--generator dense] [--n 200] [--loop 40]

For var in (0.01, 0.3): x = G(z*) + N(0, var) for n images (z* ~ N(0, I), seed 0); `auto` image by image
on the first --loop images, batched `invert(G, X, method="auto")` on all, and csgm-4 (benchmarks/
bench_throughput.csgm: torch Adam, 1000 steps, 4 restarts, one thread) with lr tuned on 50 disjoint
images (bench_throughput.tune_lr). One BLAS thread throughout; prints the load average.

--candidate S also times a candidate cheaper polish (NOT what auto does today): no linf LP, Gauss-Newton
fit from the first S quasi-random starts, lam = RSS / (n - k) of the best fit, then MAP Gauss-Newton from
that fit (solvers/gn_batch.gn_rows), all images in one stack.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from bench_throughput import _zerr, csgm, tune_lr  # noqa: E402

from layerinv import invert  # noqa: E402
from layerinv._threads import one_blas_thread  # noqa: E402
from layerinv.datasets import load_mnist_generator  # noqa: E402


def candidate(G, X, S):
    """The candidate polish of --candidate (see the module docstring): latents (N, k)."""
    from layerinv.solvers.gauss_newton import quasi_random_starts
    from layerinv.solvers.gn_batch import gn_rows

    N = len(X)
    starts = np.tile(quasi_random_starts(G.k, S), (N, 1))  # image i's starts: rows i*S .. i*S + S - 1
    Z1, F1, _, _ = gn_rows(G, np.repeat(X, S, axis=0), starts, np.zeros(N * S))
    best = np.argmin(F1.reshape(N, S), axis=1) + S * np.arange(N)
    lam = F1[best] / max(G.n - G.k, 1)
    return gn_rows(G, X, Z1[best], lam)[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--generator", default="dense")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--loop", type=int, default=40)
    ap.add_argument("--skip-csgm", action="store_true")
    ap.add_argument("--candidate", type=int, default=0, metavar="S")
    a = ap.parse_args()
    G = load_mnist_generator(a.generator)
    rng = np.random.default_rng(0)
    print(f"generator {a.generator}, load {os.getloadavg()}", flush=True)
    for var in (0.01, 0.3):
        Zt = rng.standard_normal((a.n + 50, G.k))
        Xc = G(Zt)
        X = Xc + np.sqrt(var) * rng.standard_normal(Xc.shape)
        Xtune, Ztune, X, Zt = X[a.n:], Zt[a.n:], X[:a.n], Zt[:a.n]
        with one_blas_thread():
            t0 = time.perf_counter()
            loop = [invert(G, x, method="auto") for x in X[:a.loop]]
            tl = time.perf_counter() - t0
            t0 = time.perf_counter()
            B = invert(G, X, method="auto")
            tb = time.perf_counter() - t0
        Zl = np.stack([r.z for r in loop])
        d = np.max(np.linalg.norm(Zl - B.z[:a.loop], axis=1) / np.linalg.norm(Zl, axis=1))
        same = [r.status for r in loop] == list(B.status[:a.loop])
        print(f"var {var}: auto loop  {a.loop / tl:7.1f} img/s  z-err {_zerr(Zl, Zt[:a.loop]):.4f} (first {a.loop})")
        print(f"var {var}: auto batch {a.n / tb:7.1f} img/s  z-err {_zerr(B.z, Zt):.4f} (first {a.loop}: "
              f"{_zerr(B.z[:a.loop], Zt[:a.loop]):.4f}); batch vs loop max rel dz {d:.2g}, statuses equal {same}",
              flush=True)
        if a.candidate:
            with one_blas_thread():
                t0 = time.perf_counter()
                Zc = candidate(G, X, a.candidate)
                tk = time.perf_counter() - t0
            print(f"var {var}: candidate  {a.n / tk:7.1f} img/s  z-err {_zerr(Zc, Zt):.4f} (no linf, "
                  f"{a.candidate} quasi-random start(s), fit then MAP)", flush=True)
        if not a.skip_csgm:
            lr = tune_lr(G, Xtune, Ztune, None, 1000)
            t0 = time.perf_counter()
            Zc = csgm(G, X, 4, lr)
            tc = time.perf_counter() - t0
            print(f"var {var}: csgm-4     {a.n / tc:7.1f} img/s  z-err {_zerr(Zc, Zt):.4f} (lr {lr}); "
                  f"auto batch / csgm-4 throughput {tc / tb:.2f}x", flush=True)
        print(f"  load {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
