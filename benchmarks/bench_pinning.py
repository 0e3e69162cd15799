"""Timing of the rank test behind ``Result.info["pinned"]`` (layerinv/solvers/pinning.py) on a conv layer: the
Gram plan (row groups, banded Cholesky) against the plain route (the sparse active rows' product R^T R,
then the dense Cholesky), on the activation patterns of real answers: auto's latents for held-out digits on
the shipped MNIST conv decoder, its middle layer (ConvTranspose2d 32 x 7 x 7 -> 16 x 14 x 14).

Both run in one process, interleaved, on one BLAS thread, in process CPU time (best of ``--reps``); each
pattern's two verdicts must agree.

    PYTHONPATH=$PWD python benchmarks/bench_pinning.py --digits 10 --reps 3
"""
import argparse
import time

import numpy as np

from layerinv import invert
from layerinv._threads import one_blas_thread
from layerinv.datasets import load_mnist_generator, load_mnist_test_digits
from layerinv.solvers import pinning


def plain(A, active):
    R = A[np.flatnonzero(active)]
    return pinning.gram_full_rank((R.T @ R).toarray())


def best(fn, reps):
    out, t = None, np.inf
    for _ in range(reps):
        t0 = time.process_time()
        out = fn()
        t = min(t, time.process_time() - t0)
    return out, t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--digits", type=int, default=10, help="held-out digits whose answers give the patterns")
    ap.add_argument("--reps", type=int, default=3, help="timings per pattern and route; the best counts")
    args = ap.parse_args(argv)
    G = load_mnist_generator("conv")
    L0, L1 = G.layers[0], G.layers[1]
    A = L1.linear.to_sparse().tocsr()
    X = load_mnist_test_digits()[0]
    with one_blas_thread():
        t0 = time.process_time()
        plan = pinning.gram_plan(L1.linear)
        build = time.process_time() - t0
        rows = []
        for i in range(args.digits):
            z = invert(G, X[i], method="auto").z
            active = L1.affine(L0.activation(L0.affine(z))) > 0
            v_plain, t_plain = best(lambda: plain(A, active), args.reps)
            v_plan, t_plan = best(lambda: plan.full_rank(active), args.reps)
            if v_plain != v_plan:
                raise SystemExit(f"digit {i}: the plan says {v_plan}, the plain route {v_plain}")
            rows.append((int(active.sum()), v_plan, t_plain, t_plan))
    print(f"layer: {L1.linear!r}, band {plan.bandwidth} of {plan.n} (banded: {plan.banded}); plan built once in "
          f"{build * 1e3:.0f} ms CPU")
    print("| digit | active rows | pinned | plain ms | plan ms | ratio |\n|---|---|---|---|---|---|")
    for i, (a, v, tp, tq) in enumerate(rows):
        print(f"| {i} | {a} | {v} | {tp * 1e3:.1f} | {tq * 1e3:.1f} | {tp / tq:.1f} |")
    tp, tq = np.median([r[2] for r in rows]), np.median([r[3] for r in rows])
    print(f"median: plain {tp * 1e3:.1f} ms, plan {tq * 1e3:.1f} ms, {tp / tq:.1f}x; verdicts agree on all {len(rows)}")


if __name__ == "__main__":
    main()
