"""A dense interior-point solver for one layer's ℓ∞ and ℓ1 LPs, finished on an exact vertex.

Both LPs are solved in inequality form ``min c.x  s.t.  A x + s = b,  s >= 0`` (dual:
``max -b.z  s.t.  A^T z + c = 0,  z >= 0``) by Mehrotra's predictor–corrector method with Gondzio's
centrality correctors. ``A`` is never formed: its rows are ``±M_E``, ``M_I`` and unit rows, so a
Newton step costs one weighted Gram matrix ``M^T diag(d) M`` (``dsyrk``), one Cholesky factorisation
and a few matrix–vector products, all through SciPy's BLAS/LAPACK (one OpenBLAS thread pool).

* ℓ∞: ``x = (h, t)``;  rows ``M_E h - t <= c_E``, ``-M_E h - t <= -c_E``, ``M_I h - t <= c_I``,
  ``-h <= 0`` (when ``system.nonneg``), ``-t <= 0``.  Multipliers ``y_E = z_E+ - z_E-``, ``y_I = z_I``.
* ℓ1: ``x = (h, e_E, e_I)``;  rows ``M_E h - e_E <= c_E``, ``-M_E h - e_E <= -c_E``,
  ``M_I h - e_I <= c_I``, ``-e_I <= 0``, ``-h <= 0``; the ``e`` block is eliminated in closed form,
  so the normal matrix is ``n x n``.  Multipliers ``y_E = z_E+ - z_E-``, ``y_I = z_I+``.

Once the duality gap is about 1% of the objective, each iteration guesses the optimal vertex (the
``n + 1`` constraints with the largest ``z / s`` for ℓ∞, the ``n`` interpolated rows for ℓ1), solves
it exactly by LU, repairs a nearly right guess with a few simplex pivots, and stops as soon as the
vertex is verified optimal (dual feasible multipliers, no violated row). The answer is judged only
by quantities recomputed from the system: the objective at ``h`` and the rigorous
:func:`~layerinv.lp.system.dual_bound` of the multipliers. For ``h >= 0`` the vertex multipliers are
lifted so that ``M^T y`` clears its own rounding error, which makes the bound hold for every h
(no radius); for a free ``h`` the radius term (about ``R * n * m * 1e-16``) is the floor of the gap.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import blas, lapack

from .ipm_ops import L1Op, LinfOp
from .solution import LayerSolution
from .system import LayerSystem, dual_bound

__all__ = ["ipm_linf", "ipm_l1"]

_STEP = 0.995  # fraction of the step to the boundary
_GONDZIO = 2  # at most this many centrality correctors per iteration
_VERTEX_AT = 1e-2  # guess the vertex once the duality gap is below this fraction of the objective


def _ridge(system):
    """Starting point: ``argmin ||M_E h - c_E||^2 + lam ||h||^2`` with a tiny ``lam`` (always
    solvable; the least-squares point when ``M_E`` has full column rank)."""
    M, n = system.M_E, system.n_in
    if M.shape[0] == 0:
        return np.zeros(n)
    Mt = M.T
    K = blas.dsyrk(1.0, Mt)
    lam = 1e-10 * float(np.trace(K)) / max(n, 1) + 1e-300
    K[np.diag_indices_from(K)] += lam
    chol, info = lapack.dpotrf(K, lower=0, clean=0)
    if info != 0:
        return np.zeros(n)
    return lapack.dpotrs(chol, blas.dgemv(1.0, Mt, system.c_E))[0]


# ---------------------------------------------------------------------------------- Mehrotra
def _max_step(v, dv):
    """Largest ``a <= 1`` with ``v + a dv >= 0`` (for ``v > 0``)."""
    ratio = np.where(dv < 0, v / np.maximum(-dv, 1e-300), np.inf)
    return min(1.0, float(np.min(ratio, initial=np.inf)))


def _direction(op, x, s, z, rp, rd, mu):
    """One Mehrotra predictor–corrector direction with up to ``_GONDZIO`` centrality correctors.

    Returns ``(dx, ds, dz, ap, ad)`` with the largest feasible primal / dual steps, or None.
    """
    solve = op.factor(z / s)
    if solve is None:
        return None

    def newton(rc):  # A^T dz = -rd,  A dx + ds = -rp,  S dz + Z ds = -rc
        dx = solve(-rd + op.ATz((rc - z * rp) / s))
        ds = -rp - op.Ax(dx)
        return dx, ds, (-rc - z * ds) / s

    dx, ds, dz = newton(s * z)  # affine scaling (predictor)
    ap, ad = _max_step(s, ds), _max_step(z, dz)
    mu_aff = float(np.sum((s + ap * ds) * (z + ad * dz))) / s.size
    sigma = min(1.0, (mu_aff / mu) ** 3)
    rc = s * z + ds * dz - sigma * mu  # Mehrotra's corrector
    dx, ds, dz = newton(rc)
    ap, ad = _max_step(s, ds), _max_step(z, dz)
    for _ in range(_GONDZIO):  # Gondzio's centrality correctors: cheap, they reuse the factor
        if min(ap, ad) >= 1.0:
            break
        tp, td = min(1.0, 1.5 * ap + 0.1), min(1.0, 1.5 * ad + 0.1)
        v = (s + tp * ds) * (z + td * dz)
        vt = np.maximum(np.clip(v, 0.1 * sigma * mu, 10.0 * sigma * mu) - v, -10.0 * sigma * mu)
        cx, cs, cz = newton(rc - vt)
        bp, bd = _max_step(s, cs), _max_step(z, cz)
        if not (np.all(np.isfinite(cx)) and np.all(np.isfinite(cz))) or bp + bd < 1.01 * (ap + ad) + 0.02:
            break
        rc = rc - vt
        dx, ds, dz, ap, ad = cx, cs, cz, bp, bd
    if not (np.all(np.isfinite(dx)) and np.all(np.isfinite(dz))):
        return None
    return dx, ds, dz, ap, ad


def _solve(system, op, norm, h0, rel_gap, abs_gap, steps, radius, vertex):
    """Mehrotra predictor–corrector on ``op``; see :func:`ipm_linf`."""
    scale = system.scale
    n = op.n
    floor = abs_gap * scale  # the system is scaled to max |c| = 1 by the caller
    if h0 is None:
        h0 = _ridge(system)
    x, s, z = op.start(h0)
    b, c, m = op.b, op.c, op.m
    nb = 1.0 + float(np.max(np.abs(b), initial=0.0))
    it, stalled = 0, 0
    status, msg, vert = "time_limit", "", None
    for it in range(steps + 1):
        rp = op.Ax(x) + s - b
        rd = op.ATz(z) + c
        gap = float(np.sum(s * z))
        pobj = op.objective(x)
        pinf = float(np.max(np.abs(rp))) / nb
        dinf = float(np.max(np.abs(rd))) / 2.0
        if vertex and gap <= max(_VERTEX_AT * pobj, floor) and pinf < 1e-6 and dinf < 1e-6:
            vert = op.vertex(x, s, z, lambda v: max(rel_gap * v, floor))
            if vert is not None and vert[3]:
                break
        if gap <= max(rel_gap * pobj, floor) and pinf < rel_gap and dinf < rel_gap:
            break  # the interior point itself is optimal to ``rel_gap``
        if it == steps or stalled >= 3:
            break
        step = _direction(op, x, s, z, rp, rd, gap / m)
        if step is None:
            status, msg = "failed", "the normal matrix is numerically singular or the step is not finite"
            break
        dx, ds, dz, ap, ad = step
        ap, ad = _STEP * ap, _STEP * ad
        stalled = stalled + 1 if max(ap, ad) < 1e-3 else 0
        x = x + ap * dx
        s = s + ap * ds
        z = z + ad * dz
    if stalled >= 3:
        status, msg = "failed", "the interior-point steps stalled"
    # candidates: the last interior point and the vertex, judged by their certified gaps
    cands = [(x[:n], *op.multipliers(z), False)]
    if vertex and (vert is None or not vert[3]) and status != "failed":
        vert = op.vertex(x, s, z, lambda v: max(rel_gap * v, floor)) or vert
    if vert is not None:
        cands.insert(0, (vert[0], vert[1], vert[2], True))
    best = None
    for h, yE, yI, at_vertex in cands:
        if system.nonneg:
            h = np.maximum(h, 0.0)
        value = op.value(h)
        bound = _certify(system, yE, yI, norm, radius, h)
        if best is None or value - bound.value < best[1] - best[2].value:
            best = (h, value, bound, at_vertex)
        if at_vertex and vert[3]:
            break  # the verified vertex: no need to look further
    h, value, bound, at_vertex = best
    exact = at_vertex and vert[3]
    if exact or value - bound.value <= max(rel_gap * value, floor):
        status = "optimal"
        msg = "verified optimal vertex" if exact else "interior point within tolerance"
    elif not msg:
        msg = f"stopped after {it} steps"
    return LayerSolution(h, status, value, bound.value, bound, message=msg, steps=it, vertex=at_vertex)


def _certify(system, y_E, y_I, norm, radius, h):
    """The rigorous bound of the multipliers: over every ``h`` when nothing is lost to the radius
    term (``radius = inf``), else over ``||h||_inf <= radius`` (default ``10 max(1, ||h||_inf)``)."""
    if radius is not None:
        return dual_bound(system, y_E, y_I, norm, radius)
    bound = dual_bound(system, y_E, y_I, norm, 10.0 * max(1.0, float(np.max(np.abs(h), initial=0.0))))
    everywhere = dual_bound(system, y_E, y_I, norm, np.inf)
    return everywhere if everywhere.value >= bound.value else bound


def ipm_linf(system, *, h0=None, rel_gap=1e-8, abs_gap=1e-12, steps=60, radius=None, vertex=True):
    """Solve the layer's ℓ∞ LP by a dense interior-point method finished on an exact vertex.

    ``min t  s.t.  |M_E h - c_E| <= t,  M_I h - c_I <= t,  t >= 0``, with ``h >= 0`` when
    ``system.nonneg`` (``h`` free otherwise).

    Parameters
    ----------
    system : LayerSystem
        ``M_E`` (n_E, n), ``c_E`` (n_E,), ``M_I`` (n_I, n), ``c_I`` (n_I,).
    h0 : ndarray, shape (n,), optional
        Starting point (float64; not validated: this is an internal kernel), e.g. the least-squares point of the fast path; by default a ridge
        least-squares solve on the equation rows.
    rel_gap, abs_gap : float
        Target: certified gap ``objective - lower <= max(rel_gap * objective, abs_gap * system.scale)``
        (a verified optimal vertex is accepted as optimal whatever its rounding allowance); ``rel_gap``
        is also the interior point's relative primal / dual infeasibility target. The LP is solved with
        the right-hand sides scaled to ``max |c| = 1``, so the solver is invariant to that scale.
    steps : int
        Interior-point iterations.
    radius : float, optional
        The bound ``lower`` holds for every ``h`` with ``||h||_inf <= radius``. By default every
        ``h`` (``radius = inf``) when that costs nothing, else ``10 * max(1, ||h||_inf)`` of the
        returned point: for a free ``h`` the rounding allowance grows like ``radius * n * m * 1e-16``.
    vertex : bool
        Guess, repair and verify the optimal vertex (off: a plain interior point to ``rel_gap``).

    Returns
    -------
    LayerSolution
        ``status``: ``"optimal"`` (the vertex is verified optimal up to rounding, or the certified
        gap is within target), ``"time_limit"`` (all ``steps`` used first; ``h`` and ``lower`` are
        still valid) or ``"failed"`` (numerical trouble: never raised, the caller falls back to
        HiGHS). ``steps`` and ``vertex`` say how it was reached.

    Examples
    --------
    >>> import numpy as np
    >>> from layerinv import ReLUNet
    >>> from layerinv.lp.system import build_system
    >>> G = ReLUNet.random([5, 20, 60], rng=0)
    >>> x = G(np.ones(5)) + 1e-3 * np.random.default_rng(1).uniform(-1, 1, 60)
    >>> res = ipm_linf(build_system(G.layers[1], x, 2e-3, True))
    >>> res.status, bool(res.objective - res.lower <= 1e-8 * res.objective)
    ('optimal', True)
    """
    return _run(system, LinfOp, "linf", h0, rel_gap, abs_gap, steps, radius, vertex)


def ipm_l1(system, *, h0=None, rel_gap=1e-8, abs_gap=1e-12, steps=60, radius=None, vertex=True):
    """Solve the layer's ℓ1 LP by a dense interior-point method finished on an exact vertex.

    ``min sum_E |M_E h - c_E| + sum_I max(M_I h - c_I, 0)``, with ``h >= 0`` when ``system.nonneg``.
    Parameters and result as for :func:`ipm_linf` (here ``|y_E| <= 1``, ``0 <= y_I <= 1``).
    """
    return _run(system, L1Op, "l1", h0, rel_gap, abs_gap, steps, radius, vertex)


def _failed(system, radius, message):
    return LayerSolution(np.full(system.n_in, np.nan), "failed", np.inf, message=message)


def _run(system, op_cls, norm, h0, rel_gap, abs_gap, steps, radius, vertex):
    """The arguments are trusted (an internal kernel: its callers pass what they built); only a
    non-finite warm start is dropped, and numerical trouble becomes status "failed"."""
    n = system.n_in
    if h0 is not None and not np.all(np.isfinite(h0)):
        h0 = None  # a broken warm start is no reason to fail: start from scratch
    try:
        with np.errstate(all="ignore"):
            if not (np.all(np.isfinite(system.M_E)) and np.all(np.isfinite(system.c_E))
                    and np.all(np.isfinite(system.M_I)) and np.all(np.isfinite(system.c_I))):
                return _failed(system, radius, "the layer system has NaN or infinite entries")
            if system.M_E.shape[0] + system.M_I.shape[0] == 0 or n == 0:
                return _trivial(system, norm, radius, "no unknowns" if n == 0 else "no rows")
            return _scaled(system, op_cls, norm, h0, rel_gap, abs_gap, steps, radius, vertex)
    except Exception as exc:  # noqa: BLE001 - numerical trouble must not escape; the caller falls back
        return _failed(system, radius, f"{type(exc).__name__}: {exc}")


def _scaled(system, op_cls, norm, h0, rel_gap, abs_gap, steps, radius, vertex):
    """Solve with the right-hand sides divided by ``sigma = max |c|`` (the LP is homogeneous in
    ``(c, h, t)``, the multipliers do not change), then certify the answer on the original system."""
    sigma = max(float(np.max(np.abs(system.c_E), initial=0.0)), float(np.max(np.abs(system.c_I), initial=0.0)))
    if sigma == 0.0:  # h = 0 meets every row exactly
        return _trivial(system, norm, radius, "all right-hand sides are 0, so h = 0 fits every row")
    unit = LayerSystem(system.M_E, system.c_E / sigma, system.M_I, system.c_I / sigma, system.E, system.I,
                       system.nonneg)
    res = _solve(unit, op_cls(unit), norm, None if h0 is None else h0 / sigma, rel_gap, abs_gap, steps,
                 None if radius is None else radius / sigma, vertex)
    h = res.h * sigma
    if system.nonneg:
        h = np.maximum(h, 0.0)
    value = system.value(h, norm)
    bound = dual_bound(system, res.y_E, res.y_I, norm, res.radius * sigma)
    message = (f"{res.message}; certified gap {value - bound.value:.3g} (value {value:.6g}, bound "
               f"{bound.value:.6g} for ||h||_inf <= {bound.radius:.3g}, {res.steps} steps)")
    return LayerSolution(h, res.status, value, bound.value, bound, message=message, steps=res.steps,
                         vertex=res.vertex)


def _trivial(system, norm, radius, reason):
    """No rows, no unknowns or no right-hand side: ``h = 0`` is optimal, certified in closed form."""
    n = system.n_in
    h = np.zeros(n)
    rE, rI = system.residuals(h)
    if norm == "linf":  # the one row that attains the maximum
        yE, yI = np.zeros(rE.size), np.zeros(rI.size)
        aE, aI = np.abs(rE), np.maximum(rI, 0.0)
        if aE.size and aE.max(initial=0.0) >= aI.max(initial=0.0) and aE.max() > 0:
            j = int(np.argmax(aE))
            yE[j] = np.sign(rE[j])
        elif aI.size and aI.max() > 0:
            yI[int(np.argmax(aI))] = 1.0
    else:
        yE, yI = np.sign(rE), (rI > 0).astype(float)
    bound = _certify(system, yE, yI, norm, radius, h)
    value = system.value(h, norm)
    return LayerSolution(h, "optimal", value, bound.value, bound, vertex=True,
                         message=f"closed form ({reason}); certified gap {value - bound.value:.3g}")
