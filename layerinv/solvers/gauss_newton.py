"""Gauss–Newton inside activation regions: auto's refinement after the ℓ∞ LP, and recover's ``gn``.

Once the activation pattern of every layer is fixed, a ReLU generator is affine in z:
``G(z) = J z + c`` on that region. Minimising ``||A(J z + c) - y||^2 + lam ||z||^2`` is then a k×k
least-squares problem (for phase retrieval ``y = |B x|`` with the signs ``s = sign(B G(z))`` fixed
too). :func:`gauss_newton` alternates that solve with a forward pass (which may change the
pattern) and a backtracking line search on the true objective, so the objective never increases:
it can only improve on the starting point (e.g. the layer-wise LP's answer, whose errors compound
across layers under heavy noise).

``recover(method="gn")`` (:func:`recover_gn`): starts from the layer-wise LP (``linf`` on a
back-projection ``x0`` of y: ``A^T y`` and ``A^+ y``; for inpainting the LP on the observed rows
itself; for phase retrieval ``±`` the spectral estimate), then ``restarts`` more: z ~ N(0, I) drawn
from ``rng``, or without ``rng`` a deterministic quasi-random sample of N(0, I)
(:func:`quasi_random_starts`). The lowest objective wins; a start that fits y exactly (to 1e-10
relative, ``lam = 0``) ends the search.
"""
from __future__ import annotations

import time

import numpy as np

from ..linear_maps import Dense
from ..lp.kernels import full_rank
from ..ops import Inpainting
from ..result import Result
from ._common import all_dense, deadline, is_phase, left, objective, op_residual, summary_record

__all__ = ["jacobian", "linearise", "gauss_newton", "gauss_newton_many",
           "quasi_random_starts", "recover_gn"]

#: Extra starts of gn when ``restarts`` is None (none for inpainting or with ``init``).
GN_RESTARTS = 20
#: A gn start whose fit ||op(G(z)) - y|| is below this fraction of ||y|| ends the search (lam = 0).
GN_EXACT = 1e-10


def jacobian(G, z):
    """``(G(z), J)`` with ``J = dG/dz`` of shape (n, k) at z (shape (k,)).

    For ReLU / LeakyReLU / identity layers G is exactly affine around z: ``G(z') = G(z) + J (z' - z)``
    while no unit changes sign.
    """
    if not all_dense(G):
        return _jacobian_by_products(G, z)
    h = z
    J = np.eye(G.k)
    for L in G.layers:
        u = L.affine(h)
        J = L.weight @ J
        d = L.activation.derivative(u)
        h = L.activation(u)
        J = J * d[:, None]
    return h, J


def _jacobian_by_products(G, z):
    """:func:`jacobian` for nets with convolutional / sparse maps: the k columns of I pushed through the
    linearised layers by ``matvec`` (never a dense n_out x n_in matrix; memory ~ k x the widest layer)."""
    h = z
    Jt = np.eye(G.k)  # J^T, shape (k, n_i): one row per latent direction
    for L in G.layers:
        u = L.affine(h)
        Jt = L.linear.matvec(Jt) * L.activation.derivative(u)[None, :]
        h = L.activation(u)
    return h, np.ascontiguousarray(Jt.T)


def linearise(G, op, z):
    """``(A(G(z)), d A(G(z)) / dz)``: shape (m,) and (m, k) (``op=None``: G itself). For phase
    retrieval the signs of ``B G(z)`` are fixed: ``|B x|`` is linear on their region too."""
    x, J = jacobian(G, z)
    if op is None:
        return x, J
    if is_phase(op):
        v, BJ = op.B._apply(x), op.B._apply(J.T).T
        s = np.where(v >= 0, 1.0, -1.0)
        return np.abs(v), s[:, None] * BJ
    return op._apply(x), op._apply(J.T).T


def _fit(G, op, z, y, lam):
    if op is not None:
        return objective(G, op, z, y, lam)
    r = G.forward_unchecked(z) - y
    return float(r @ r + lam * z @ z)


def gauss_newton(G, y, z0, *, lam=0.0, op=None, steps=50, rtol=1e-12, halvings=30, shift="gram"):
    """Lower ``f(z) = ||A(G(z)) - y||^2 + lam ||z||^2`` from ``z0`` by Gauss–Newton with line search.

    Each step linearises ``A(G(.))`` at z on z's activation region (:func:`linearise`) and solves
    the k×k least-squares problem for the step ``d``: ``(J^T J + lam I) d = J^T (y - F) - lam z``
    (a shift of 1e-12 of the mean diagonal keeps a rank-deficient J solvable: it damps the step,
    never biases the answer); the step is halved (at most ``halvings`` times) until f decreases.
    Stops when no step lowers f or the decrease falls below ``rtol * f``.

    Parameters
    ----------
    G : ReLUNet
    y : ndarray, shape (m,)
        Target (``x`` itself when ``op`` is None).
    z0 : ndarray, shape (k,)
    lam : float
        Weight of ``||z||^2`` (``sigma^2`` gives the MAP estimate under z ~ N(0, I) and Gaussian
        noise of variance ``sigma^2``).
    op : layerinv.ops.Operator, optional
        Measurement operator applied after G.
    steps : int
        Most Gauss–Newton iterations.
    rtol : float
        Stop when an accepted step lowers f by less than ``rtol * f``.
    halvings : int
        Most step halvings in a line search.
    shift : {"gram", "fit"}
        Scale of that shift: the trace of ``J^T J + lam I`` (recover's gn, pgd) or of ``J^T J``
        (auto's refinement); both kept so that results stay bit-identical to before the redesign.

    Returns
    -------
    z : ndarray, shape (k,)
    f : float
        The objective at z (never above the objective at ``z0``).
    iterations : int
    """
    z = np.array(z0, dtype=np.float64)
    f = _fit(G, op, z, y, lam)
    eye = np.eye(G.k)
    it = 0
    for it in range(1, steps + 1):
        F, J = linearise(G, op, z)
        JtJ = J.T @ J
        if shift == "gram":
            gram = JtJ + lam * eye
            M = gram + 1e-12 * max(float(np.trace(gram)), 1e-300) / G.k * eye
        else:
            M = JtJ + lam * eye + 1e-12 * (np.trace(JtJ) / G.k + 1e-300) * eye
        try:
            step = np.linalg.solve(M, J.T @ (y - F) - lam * z)
        except np.linalg.LinAlgError:
            break
        alpha, accepted = 1.0, False
        for _ in range(halvings):
            cand = z + alpha * step
            fc = _fit(G, op, cand, y, lam)
            if fc < f:
                accepted = True
                break
            alpha *= 0.5
        if not accepted:
            break
        decrease = f - fc
        z, f = cand, fc
        if decrease <= rtol * max(f, 1e-300) or f == 0.0:
            break
    return z, f, it


def _primes(n):
    out = []
    c = 2
    while len(out) < n:
        if all(c % p for p in out if p * p <= c):
            out.append(c)
        c += 1
    return np.array(out, dtype=np.float64)


def quasi_random_starts(k, count):
    """``count`` deterministic, evenly spread latents in R^k (shape (count, k)).

    A Kronecker (Richtmyer) sequence ``u_i = frac(1/2 + i * sqrt(p_j))`` over the first k primes,
    mapped through the standard normal quantile: a space-filling sample of N(0, I) that needs no
    random generator, so results are reproducible without hidden seeds.
    """
    if count <= 0:
        return np.zeros((0, k))
    from scipy.special import ndtri

    alpha = np.sqrt(_primes(k)) % 1.0
    u = (0.5 + np.arange(1, count + 1)[:, None] * alpha) % 1.0
    return ndtri(np.clip(u, 1e-9, 1 - 1e-9))


def gauss_newton_many(G, y, starts, *, lam=0.0, steps=20, rtol=1e-8):
    """Gauss–Newton (on ``||G(z) - y||^2 + lam ||z||^2``) from every finite start (rows of
    ``starts``, shape (S, k)), all starts in one stack (:func:`.gn_batch.gn_rows`); return
    ``[(f, z, index), ...]`` sorted by f (ties in start order), and the total number of iterations."""
    from .gn_batch import gn_rows

    starts = np.asarray(starts, dtype=np.float64)
    fin = np.flatnonzero(np.all(np.isfinite(starts), axis=1))
    Y = np.broadcast_to(y, (fin.size, y.shape[0]))
    Z, F, its, _ = gn_rows(G, Y, starts[fin], np.full(fin.size, float(lam)), steps=steps, rtol=rtol, halvings=20)
    out = sorted(((float(F[j]), Z[j], int(fin[j])) for j in range(fin.size)), key=lambda t: t[0])
    return out, int(its.sum())


# ---------------------------------------------------------------------------------- recover's gn
def _spectral(op, y):
    """Spectral estimate of x for ``y = |B x|``: the top eigenvector of ``B^T diag(y^2) B`` scaled to
    ``||y||`` (for Gaussian B with N(0, 1/m) entries ``E ||B x||^2 = ||x||^2``)."""
    B = op.B.matrix
    M = (B.T * (y * y)) @ B
    if op.n <= 2048:
        v = np.linalg.eigh(M)[1][:, -1]
    else:  # power iteration, deterministic start
        v = np.ones(op.n) / np.sqrt(op.n)
        for _ in range(300):
            v = M @ v
            v /= max(np.linalg.norm(v), 1e-300)
    return float(np.linalg.norm(y)) * v


def lp_starts(G, op, y, end=None):
    """Starting latents from the layer-wise LP: ``[(name, z, Result), ...]`` (only finite z); each LP
    gets the time left before ``end``."""
    from .layerwise import layerwise

    if isinstance(op, Inpainting):
        cands = [("linf(observed rows)", lambda: layerwise(G, y, "linf", rows=op.rows, time_limit=left(end)))]
    elif is_phase(op):
        x0 = _spectral(op, y)
        cands = [(f"linf({s}spectral)", lambda s=s: layerwise(G, (1.0 if s == "+" else -1.0) * x0, "linf",
                                                               time_limit=left(end))) for s in "+-"]
    else:
        cands = [("linf(A^T y)", lambda: layerwise(G, op._adjoint(y), "linf", time_limit=left(end))),
                 ("linf(A^+ y)", lambda: layerwise(G, np.linalg.lstsq(op.matrix, y, rcond=None)[0], "linf",
                                                   time_limit=left(end)))]
    out = []
    for name, fn in cands:
        res = fn()
        if np.all(np.isfinite(res.z)):
            out.append((name, res.z, res))
    return out


def default_restarts(op, restarts, init):
    """Extra starts of gn: ``restarts`` if given; else none for inpainting or with ``init``, else 20."""
    if restarts is not None:
        return restarts
    return 0 if isinstance(op, Inpainting) or init is not None else GN_RESTARTS


def _descend(G, op, y, z0, lam, steps):
    """One Gauss–Newton run from z0 (for phase retrieval also from the negation of its end point,
    Hand–Leong–Voroninski's check). Returns ``(z, f, iterations)``."""
    z, f, it = gauss_newton(G, y, z0, lam=lam, op=op, steps=steps)
    if is_phase(op):
        zn, fn, itn = gauss_newton(G, y, -z, lam=lam, op=op, steps=steps)
        if fn < f:
            return zn, fn, it + itn
    return z, f, it


def recover_gn(G, op, y, **options):
    """``recover(method="gn")`` for one clean measurement: starts (``init``, else the LP starts,
    unless ``starts`` is given) plus restarts, each followed by Gauss–Newton; the best objective
    wins. ``time_limit`` covers the whole call: no start begins once it is spent. Where G's outputs
    overflow (huge weights), objectives are inf/NaN: no warning is raised, and when no start has a
    finite objective the status is ``"failed"``."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _recover_gn(G, op, y, **options)


def _recover_gn(G, op, y, *, steps, restarts, rng, lam, init, time_limit, starts=None):
    t0 = time.perf_counter()
    end = deadline(time_limit)
    if starts is not None:
        starts = list(starts)
    elif init is not None:
        starts = [("init", init, None)]
    elif all_dense(G) or _can_pin(G):
        starts = lp_starts(G, op, y, end)
    else:  # a conv decoder the layer-wise LP cannot pin: its start would be arbitrary (and slow)
        starts = []
    R = default_restarts(op, restarts, init)
    if not starts and restarts is None and init is None:
        R = GN_RESTARTS
    if rng is not None:
        starts += [(f"random {r}", z0, None) for r, z0 in enumerate(rng.standard_normal((R, G.k)))]
    else:
        starts += [(f"quasi-random {r}", z0, None) for r, z0 in enumerate(quasi_random_starts(G.k, R))]
    if not starts:
        return Result(np.full(G.k, np.nan), "failed", "no starting point: every layer-wise LP start failed "
                      "(pass rng= and restarts=R for random starts, or init=).", np.nan,
                      time.perf_counter() - t0, [], "gn")
    runs, best, ny = [], None, float(np.linalg.norm(y))
    for name, z0, _ in starts:
        if best is not None and end is not None and time.perf_counter() >= end:
            break
        f0 = objective(G, op, z0, y, lam)
        z, f, it = _descend(G, op, y, z0, lam, steps)
        runs.append({"start": name, "objective_start": f0, "objective": f, "iterations": it})
        if best is None or f < best[1] or not np.isfinite(best[1]):  # a NaN objective never wins
            best = (z, f, it, name)
        if lam == 0 and f <= (GN_EXACT * ny) ** 2:
            break
    z, f, it, name = best
    status = "max_iter" if it >= steps and not is_phase(op) else "converged"
    seconds = time.perf_counter() - t0
    msg = (f"Gauss-Newton on activation patterns from {len(starts)} start(s) (lam {lam:g}); best from "
           f"{name}: ||A(G(z)) - y||^2 + lam||z||^2 = {f:.4g} after {it} iterations.")
    if not np.isfinite(f):
        status = "failed"
        msg += (" No start has a finite objective: G's outputs overflow the floating-point range there "
                "(weights too large?); no fit found.")
    rec = summary_record(G, f, status, seconds, msg, "gn", unique=local_rank_ok(G, op, z))
    lp = {n: r for n, _, r in starts if r is not None}
    return Result(z, status, msg, op_residual(G, op, z, y), seconds, [rec], "gn", None,
                  {"objective": f, "runs": runs, "best_start": name, "lp": lp, "lam": lam})


def _can_pin(G):
    from .regions import layerwise_can_pin

    return layerwise_can_pin(G)


def local_rank_ok(G, op, z):
    """Whether ``d op(G(z)) / dz`` has full column rank at z (z locally identifiable)."""
    return bool(np.all(np.isfinite(z)) and full_rank(linearise(G, op, z)[1]))


def region_maps(layers, z):
    """Affine maps ``u_i = A_i z + c_i`` of every pre-activation on z's linear region (hidden layers
    ReLU / LeakyReLU): a list of ``(A_i, c_i, u_i)``, ``u_i`` the pre-activation at z.

    A hidden unit at ``u = 0`` counts as active (slope 1, unlike :func:`jacobian`'s ReLU
    derivative), as the MILP's region rows ``u >= 0`` do (:mod:`layerinv.solvers.milp.region`).
    """
    k = z.size
    A, c, h = np.eye(k), np.zeros(k), z
    out = []
    dense = all(isinstance(L.linear, Dense) for L in layers)  # dense nets: the formulas as before
    for i, L in enumerate(layers):
        if dense:
            Au, cu = L.weight @ A, L.weight @ c + L.bias
        else:  # products with the map: no dense n_out x n_in matrix
            Au, cu = np.ascontiguousarray(L.linear.matvec(A.T).T), L.linear.matvec(c) + L.bias
        u = L.affine(h)
        out.append((Au, cu, u))
        if i < len(layers) - 1:
            dsl = np.where(u >= 0, 1.0, L.activation.negative_slope)
            A, c, h = Au * dsl[:, None], cu * dsl, L.activation(u)
    return out
