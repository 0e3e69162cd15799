"""Side-by-side timing of the stacked Gauss–Newton kernel (solvers/gn_batch.py: gn_rows) against the same
module at another git revision, on auto's polish (fit from S quasi-random starts, then MAP from the best
fit: bench_batched_auto.candidate) of noisy images of the shipped MNIST decoder.

The machine is shared and noisy: both versions run in one process, interleaved, on one BLAS thread,
timed in CPU time of the process (``time.process_time``: time slices lost to other processes do not
count), and the best of ``--reps`` runs counts. Each line also says whether the two versions gave bitwise the same latents.

    PYTHONPATH=$PWD python benchmarks/bench_gn_rows.py --rev main --n 200 --starts 1,2,4,8
"""
import argparse
import importlib.util
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

from layerinv.datasets import load_mnist_generator
from layerinv._threads import one_blas_thread
from layerinv.solvers import gn_batch
from layerinv.solvers.gauss_newton import quasi_random_starts

ROOT = pathlib.Path(__file__).resolve().parent.parent


def module_at(rev):
    """solvers/gn_batch.py as of git revision ``rev``, imported as a sibling module of the package."""
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:layerinv/solvers/gn_batch.py"],
                         check=True, capture_output=True, text=True).stdout
    path = pathlib.Path(tempfile.mkdtemp()) / "gn_batch_at_rev.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("layerinv.solvers.gn_batch_at_rev", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def candidate(mod, G, X, S):
    """bench_batched_auto.candidate with the kernel of ``mod``: latents (N, k)."""
    N = len(X)
    starts = np.tile(quasi_random_starts(G.k, S), (N, 1))
    Z1, F1, _, _ = mod.gn_rows(G, np.repeat(X, S, axis=0), starts, np.zeros(N * S))
    best = np.argmin(F1.reshape(N, S), axis=1) + S * np.arange(N)
    lam = F1[best] / max(G.n - G.k, 1)
    return mod.gn_rows(G, X, Z1[best], lam)[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rev", default="main")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--starts", default="1,2,4,8")
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    mods = {a.rev: module_at(a.rev), "worktree": gn_batch}
    G = load_mnist_generator("dense")
    rng = np.random.default_rng(0)
    for var in (0.01, 0.3):
        Zt = rng.standard_normal((a.n, G.k))
        X = G(Zt) + np.sqrt(var) * rng.standard_normal((a.n, G.n))
        for S in (int(s) for s in a.starts.split(",")):
            t, Z = {k: [] for k in mods}, {}
            with one_blas_thread():
                for _ in range(a.reps):
                    for k, mod in mods.items():
                        t0 = time.process_time()
                        Z[k] = candidate(mod, G, X, S)
                        t[k].append(time.process_time() - t0)
            rate = {k: a.n / min(v) for k, v in t.items()}
            same = np.array_equal(Z[a.rev], Z["worktree"])
            print(f"var {var} S {S}: {a.rev} {rate[a.rev]:7.1f} img/s  worktree {rate['worktree']:7.1f} img/s  "
                  f"x{rate['worktree'] / rate[a.rev]:.2f}  bitwise same z: {same}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
