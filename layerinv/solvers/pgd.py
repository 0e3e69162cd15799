"""``recover(method="pgd")``: projected gradient descent (Shah & Hegde 2018) with the layer-wise LP projection.

``x <- P_G(x - eta A^T (A x - y))`` with ``P_G(v) = G(z)``, ``z`` the layer-wise ℓ∞ answer for v
followed (with ``polish``) by Gauss–Newton on ``||G(z) - v||^2``. A step that raises ``||A x - y||``
is undone and ``eta`` halved. Measured on random 20×250×600 nets: the LP alone is a poor projection
(its ℓ∞ answers do not contract); with the Gauss–Newton refinement PGD converges linearly.
"""
from __future__ import annotations

import time

import numpy as np

from ..result import Result
from ._common import all_dense, deadline, left, op_residual, summary_record
from .gauss_newton import gauss_newton, local_rank_ok
from .layerwise import layerwise
from .regions import layerwise_can_pin

__all__ = ["recover_pgd"]

#: Gauss–Newton iterations of the projection's refinement.
GN_STEPS = 50


def recover_pgd(G, op, y, *, steps, step, polish, stop_rtol, init, time_limit):
    """``recover(method="pgd")`` for one clean measurement; ``time_limit`` covers the whole call
    (checked once per iteration, each projection LP gets what is left)."""
    if not all_dense(G) and not layerwise_can_pin(G):
        raise ValueError("method='pgd' projects with the layer-wise LP, which cannot pin every layer of this net (a "
                         "layer with fewer outputs than inputs, or above linear_maps.DENSE_LIMIT entries): each "
                         "projection would be an arbitrary, slow LP point. Use method='auto' or 'gn' for it.")
    t0 = time.perf_counter()
    end = deadline(time_limit)
    eta = eta0 = step
    if init is not None:
        z = init
        x = G.forward_unchecked(z)
    else:
        z, x = np.full(G.k, np.nan), np.zeros(G.n)
    f = float(np.sum((op._apply(x) - y) ** 2))
    lp_failures, history, status, it = 0, [f], "max_iter", 0
    for it in range(1, steps + 1):
        if end is not None and time.perf_counter() >= end:
            status = "time_limit"
            break
        v = x - eta * op._adjoint(op._apply(x) - y)
        zn = layerwise(G, v, "linf", time_limit=left(end)).z
        if not np.all(np.isfinite(zn)):
            lp_failures += 1
            zn = z if np.all(np.isfinite(z)) else None
        if zn is not None and polish:
            zn = gauss_newton(G, v, zn, steps=GN_STEPS)[0]
        if zn is None:
            status = "failed"
            break
        xn = G.forward_unchecked(zn)
        fn = float(np.sum((op._apply(xn) - y) ** 2))
        if fn >= f and np.all(np.isfinite(z)):
            eta /= 2
            if eta < 1e-3 * eta0:
                status = "converged"
                break
            continue
        change = float(np.linalg.norm(xn - x))
        z, x, f = zn, xn, fn
        history.append(f)
        if stop_rtol is not None and change <= stop_rtol * max(float(np.linalg.norm(x)), 1e-300):
            status = "converged"
            break
    seconds = time.perf_counter() - t0
    if not np.all(np.isfinite(z)):
        return Result(np.full(G.k, np.nan), "failed", f"every projection failed ({lp_failures} LP failures).",
                      np.nan, seconds, [], "pgd", None, {"iterations": it})
    proj_name = "LP projection" + (" + Gauss-Newton refinement" if polish else "")
    msg = (f"projected gradient descent, {it} iteration(s), {proj_name}, final step {eta:.3g}: "
           f"||A(G(z)) - y||^2 = {f:.4g}"
           + (f"; {lp_failures} LP projection(s) failed and kept the previous z" if lp_failures else "") + ".")
    rec = summary_record(G, f, status, seconds, msg, "pgd", unique=local_rank_ok(G, op, z))
    return Result(z, status, msg, op_residual(G, op, z, y), seconds, [rec], "pgd", None,
                  {"objective": f, "iterations": it, "step": eta, "history": history, "lp_failures": lp_failures})
