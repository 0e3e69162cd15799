"""Per-layer solvers: given a :class:`~layerinv.lp.system.LayerSystem`, find the layer's input h.

Every kernel first tries one Cholesky least-squares solve on the equation rows (the fast path),
recomputes every constraint itself, and calls HiGHS only when the fast answer cannot be accepted:

* ``exact``: accept when every row holds within ``delta``; otherwise a certified lower bound
  above ``delta`` proves the layer infeasible, and only the undecided cases reach the LP.
* ``linf`` / ``l1``: accept the least-squares point when the certified bracket
  ``[lower, upper]`` on the optimum is narrower than ``gap_tol``; otherwise solve the LP.

Nothing here trusts a solver: the objective, the violation and the bound are recomputed.

A system with sparse rows (a layer above ``linear_maps.DENSE_LIMIT`` entries) takes the same steps
with the sparse least squares and the HiGHS forms of :mod:`layerinv.lp.sparse` (no interior point:
it is dense); its answers go through the same checks.
"""
from __future__ import annotations

import time

import numpy as np
from scipy.linalg import blas, lapack

from . import sparse
from .highs import solve_lp
from .ipm import ipm_l1, ipm_linf
from .solution import LayerSolution
from .system import dual_bound, residual_bound

__all__ = ["solve_exact", "solve_linf", "solve_l1", "solve_layer_lp", "highs_linf", "highs_l1", "lstsq",
           "full_rank"]

_COND = 1e-10  # Cholesky pivots below this fraction of the largest (squared) mean rank deficiency


def lstsq(M, c):
    """Least squares ``argmin ||M h - c||`` by Cholesky on the normal equations with one step of
    iterative refinement. Returns ``(h, r)`` with ``r = c - M h``, or ``None`` when M (m, n) has
    fewer rows than columns or is numerically rank deficient."""
    m, n = M.shape
    if m < n or n == 0:
        return None
    Mt = M.T  # Fortran-ordered view: BLAS needs no copy
    gram = blas.dsyrk(1.0, Mt)
    chol, info = lapack.dpotrf(gram, lower=0, clean=1)
    if info != 0:
        return None
    d = np.diag(chol)
    if d.min() ** 2 < _COND * d.max() ** 2:
        return None
    h, _ = lapack.dpotrs(chol, blas.dgemv(1.0, Mt, c))
    r = c - blas.dgemv(1.0, Mt, h, trans=1)
    dh, _ = lapack.dpotrs(chol, blas.dgemv(1.0, Mt, r))
    h = h + dh
    r = c - blas.dgemv(1.0, Mt, h, trans=1)
    return h, r


def full_rank(M):
    """Whether M has full column rank (checked by the same Cholesky test as :func:`lstsq`)."""
    m, n = M.shape
    if m < n:
        return False
    if n == 0:
        return True
    chol, info = lapack.dpotrf(blas.dsyrk(1.0, M.T), lower=0, clean=1)
    return info == 0 and pivots_ok(np.diag(chol))


def pivots_ok(d):
    """The rank test on Cholesky pivots d (shape (n,)) of a Gram matrix: the smallest squared is at least
    ``_COND`` times the largest squared (True for n = 0)."""
    return bool(d.size == 0 or d.min() ** 2 >= _COND * d.max() ** 2)


def _fast_point(system, time_limit=None):
    """Least-squares point on the equation rows, clipped to h >= 0 where needed.

    Also returns the noise floor of h: for an input that must be >= 0, the most negative
    unclipped entry is pure noise (its true value is 0), an estimate of how wrong h's small
    entries may be; the layer below uses it in its activity threshold. The last value says
    whether the equation rows pin h (full column rank shown).
    """
    if system.sparse:
        h, r, unique = sparse.fast_point(system, time_limit)
    else:
        sol = lstsq(system.M_E, system.c_E)
        h, r = (None, None) if sol is None else sol
        unique = sol is not None
    if h is None:
        return None, None, 0.0, False
    floor = 0.0
    if system.nonneg:
        floor = max(-float(np.min(h)), 0.0)
        h = np.maximum(h, 0.0)
    return h, r, floor, unique


# ---------------------------------------------------------------------------------- HiGHS forms
def highs_linf(system, t_upper=None, time_limit=None):
    """The ℓ∞ LP for HiGHS: ``min t`` s.t. ``|M_E h - c_E| <= t``, ``M_I h - c_I <= t`` (t in [0, t_upper]).

    With ``t_upper`` given the cost is zero: the fixed-ε feasibility form of the paper.
    Returns ``(h, highs_solution, (y_E, y_I) candidates)``.
    """
    ME, MI = system.M_E, system.M_I
    nE, nI, n = ME.shape[0], MI.shape[0], system.n_in
    A = np.empty((2 * nE + nI, n + 1))
    A[:nE, :n] = ME
    A[nE:2 * nE, :n] = -ME
    A[2 * nE:, :n] = MI
    A[:, n] = -1.0
    b = np.concatenate([system.c_E, -system.c_E, system.c_I])
    cost = np.zeros(n + 1)
    if t_upper is None:
        cost[n] = 1.0
    lo = np.concatenate([_h_lower(system), [0.0]])
    hi = np.concatenate([np.full(n, np.inf), [np.inf if t_upper is None else t_upper]])
    sol = solve_lp(cost, A, b, lo, hi, time_limit=time_limit)
    cands = []
    if sol.y is not None:
        for s in (1.0, -1.0):
            lam = np.maximum(s * sol.y, 0.0)
            cands.append((lam[:nE] - lam[nE:2 * nE], lam[2 * nE:]))
    return _h_of(sol, n), sol, cands


def highs_l1(system, budget=None, time_limit=None):
    """The ℓ1 LP for HiGHS: ``min sum(p + q) + sum(s)`` s.t. ``M_E h - p + q = c_E``, ``M_I h - s <= c_I``
    (p, q, s >= 0). With ``budget`` given: feasibility of ``sum <= budget`` (an extra row, zero cost).
    Returns ``(h, highs_solution, (y_E, y_I) candidates)``.
    """
    ME, MI = system.M_E, system.M_I
    nE, nI, n = ME.shape[0], MI.shape[0], system.n_in
    ncol = n + 2 * nE + nI
    nrow = nE + nI + (1 if budget is not None else 0)
    A = np.zeros((nrow, ncol))
    A[:nE, :n] = ME
    A[nE:nE + nI, :n] = MI
    A[np.arange(nE), n + np.arange(nE)] = -1.0
    A[np.arange(nE), n + nE + np.arange(nE)] = 1.0
    A[nE + np.arange(nI), n + 2 * nE + np.arange(nI)] = -1.0
    upper = np.concatenate([system.c_E, system.c_I])
    lower = np.concatenate([system.c_E, np.full(nI, -np.inf)])
    cost = np.concatenate([np.zeros(n), np.ones(2 * nE + nI)])
    if budget is not None:
        A[-1, n:] = 1.0
        upper = np.append(upper, budget)
        lower = np.append(lower, -np.inf)
        cost = np.zeros(ncol)
    lo = np.concatenate([_h_lower(system), np.zeros(2 * nE + nI)])
    hi = np.full(ncol, np.inf)
    sol = solve_lp(cost, A, upper, lo, hi, time_limit=time_limit, row_lower=lower)
    cands = []
    if sol.y is not None:
        for s in (1.0, -1.0):
            y = s * sol.y[:nE + nI]
            cands.append((-y[:nE], -y[nE:]))
            cands.append((y[:nE], y[nE:]))
    return _h_of(sol, n), sol, cands


def _h_lower(system):
    n = system.n_in
    return np.zeros(n) if system.nonneg else np.full(n, -np.inf)


def _h_of(sol, n):
    return None if sol.x is None else sol.x[:n]


def _best_bound(system, cands, norm):
    best = None
    for yE, yI in cands:
        bd = dual_bound(system, yE, yI, norm)
        if best is None or bd.value > best.value:
            best = bd
    return best


def _no_point(system, status, lower, message, bound):
    """A solution without a point (``h`` NaN, objective and violation infinite)."""
    return LayerSolution(np.full(system.n_in, np.nan), status, np.inf, lower, bound, violation=np.inf,
                         message=message)


def _fit_allowance(system, feas_tol, norm):
    """How far a recomputed objective may exceed the claimed one: ``feas_tol`` relative to the
    system's scale, times the number of summed rows for ℓ1."""
    return feas_tol * (1.0 + system.scale) * (1 + (system.M_E.shape[0] if norm == "l1" else 0))


def solve_layer_lp(system, norm, *, time_limit=None, feas_tol=1e-9, budget=None, h0=None):
    """Solve the layer LP for ``norm`` ("linf" or "l1"): the dense interior point of
    :mod:`layerinv.lp.ipm` (warm-started from ``h0``), HiGHS where it does not finish.

    With ``budget``: any h whose objective is ``<= budget`` (status ``"feasible"``), or ``"infeasible"``.
    Returns a :class:`~layerinv.lp.solution.LayerSolution` (``path="lp"``). The interior point's
    answer is judged only by what we recompute: the objective at its h and the certified dual bound
    (:func:`layerinv.lp.system.dual_bound`) from its multipliers, whatever status the kernel gave
    itself (it may stop short of its own gap target with a gap far inside the one HiGHS's answer is
    held to). When HiGHS then stops on its work budget (status ``"time_limit"``), the better of the
    two points is returned, still ``"time_limit"``.
    """
    if system.sparse:  # no dense interior point: HiGHS on the sparse form
        out = _highs_layer_lp(system, norm, time_limit, feas_tol, budget)
        out.message = f"sparse LP, {out.message}"
        return out
    res = (ipm_linf if norm == "linf" else ipm_l1)(system, h0=h0)
    fallback = None
    if res.h is not None and np.all(np.isfinite(res.h)):
        h = np.maximum(res.h, 0.0) if system.nonneg else res.h
        value = system.value(h, norm)  # recomputed, never copied from the solver
        bound = res.bound
        lower = bound.value if bound is not None else -np.inf
        msg = f"interior point: {res.message}"
        kw = {"message": msg, "steps": res.steps, "vertex": res.vertex}
        if budget is None and value - lower <= max(1e-6 * value, _fit_allowance(system, feas_tol, norm)):
            return LayerSolution(h, "optimal", value, lower, bound, **kw)
        if budget is not None and value <= budget:
            return LayerSolution(h, "feasible", value, lower, bound, **kw)
        if budget is not None and lower > budget:
            return _no_point(system, "infeasible", lower, f"no h meets the budget {budget:g}: every h (with "
                             f"||h||_inf <= {bound.radius:.3g}) needs at least {lower:.3g}.", bound)
        if np.isfinite(value):
            fallback = LayerSolution(h, "time_limit", value, lower, bound, **kw)
    out = _highs_layer_lp(system, norm, time_limit, feas_tol, budget)
    out.message = f"interior point: {res.status} ({res.message}); HiGHS: {out.message}"
    if out.status == "time_limit" and fallback is not None:
        if fallback.lower < out.lower:
            fallback.lower, fallback.bound = out.lower, out.bound
        if not fallback.objective < out.objective:  # HiGHS's point is at least as good
            fallback.h, fallback.objective, fallback.violation = out.h, out.objective, out.violation
            fallback.steps, fallback.vertex = 0, False
        fallback.message = out.message
        return fallback
    return out


def _highs_layer_lp(system, norm, time_limit, feas_tol, budget=None):
    """Run the LP for ``norm`` with HiGHS and check its answer; returns a :class:`LayerSolution`."""
    if system.sparse:
        form = sparse.linf_lp if norm == "linf" else sparse.l1_lp
        h, sol, cands, feas_tol = form(system, budget, time_limit, feas_tol)  # judged at HiGHS's own tolerance
    else:
        form = highs_linf if norm == "linf" else highs_l1
        h, sol, cands = form(system, budget, time_limit)
    bound = _best_bound(system, cands, norm) if budget is None else None
    if system.sparse and bound is not None and h is not None and np.all(np.isfinite(h)):
        # HiGHS's duals may be loose (tolerance 1e-7): never state a bound on a region that misses the LP's own point
        bound = dual_bound(system, bound.y_E, bound.y_I, norm, radius=max(bound.radius, _radius_covering(h)))
    lower = bound.value if bound is not None else -np.inf
    if sol.status == "time_limit":
        if h is None:
            return _no_point(system, "time_limit", lower, f"HiGHS stopped without a solution ({sol.raw}).", bound)
    elif sol.status == "infeasible" and budget is not None:
        return _no_point(system, "infeasible", lower, f"no h meets the budget {budget:g} (HiGHS: {sol.raw}).",
                         bound)
    elif sol.status != "optimal" or h is None:
        return _no_point(system, "failed", lower, f"HiGHS did not solve the layer LP ({sol.raw}).", bound)
    # our own check of the solver's point
    sign_viol = system.sign_violation(h)
    if system.nonneg:
        h = np.maximum(h, 0.0)
    value = system.value(h, norm)
    claimed = sol.objective if budget is None else budget
    violation = max(value - claimed, 0.0, sign_viol)
    status = "optimal" if budget is None else "feasible"
    msg = f"HiGHS: {sol.raw}"
    allowance = _fit_allowance(system, feas_tol, norm)
    if violation > allowance and sol.status == "time_limit":  # an unfinished run's point claims nothing
        status = "time_limit"
        msg = (f"HiGHS stopped early ({sol.raw}) at a point with objective {value:.3g} (recomputed; "
               f"HiGHS's own figure {claimed:.3g}).")
    elif violation > allowance:
        status = "failed"
        msg = (f"HiGHS reported {sol.raw} with objective {claimed:.3g}, but our recomputation at its point "
               f"gives {value:.3g} (violation {violation:.2g} > tolerance {allowance:.2g}).")
    elif sol.status != "optimal":
        status = "time_limit"
        msg = f"HiGHS stopped early ({sol.raw}); the point is feasible but may not be optimal."
    return LayerSolution(h, status, value, lower, bound, violation=violation, message=msg)


# ---------------------------------------------------------------------------------- kernels
def solve_exact(system, delta, *, time_limit=None, feas_tol=1e-9):
    """Find h with every row of ``system`` satisfied within ``delta`` (ℓ∞), or prove none exists.

    Status ``"exact"`` (h found, ``objective`` is its largest violation), ``"infeasible"`` (``bound``
    is a certified lower bound above ``delta``), or ``"failed"`` / ``"time_limit"``.
    """
    t0 = time.perf_counter()
    h, r, floor, unique = _fast_point(system, time_limit)
    if h is not None:
        value = system.linf_value(h)
        if value <= delta:
            return LayerSolution(h, "exact", value, 0.0, None, "lstsq", value, unique,
                                 seconds=time.perf_counter() - t0, extra={"floor": floor})
        bound = residual_bound(system, r, "linf", _radius_covering(h))
        if bound.value > delta:
            return LayerSolution(h, "infeasible", value, bound.value, bound, "lstsq", value, unique,
                                 f"the equation rows alone cannot be met within {delta:.3g}: every h (with "
                                 f"||h||_inf <= {bound.radius:.3g}) leaves a residual >= {bound.value:.3g}.",
                                 time.perf_counter() - t0)
    out = solve_layer_lp(system, "linf", time_limit=_rest(time_limit, t0), feas_tol=feas_tol, h0=h)
    out.unique = unique
    out.extra["floor"] = floor
    out.seconds = time.perf_counter() - t0
    if out.status in ("time_limit", "failed") and (out.objective <= delta or out.lower > delta):
        # the LP was not solved (a work budget ran out, or a solver's claim was refuted), but this
        # question does not need its optimum: the recomputed objective at h, or the certified bound, decides
        out.message += f" (The LP was not solved to optimality; its point or bound decides the tolerance {delta:.3g}.)"
        out.status = "optimal"
    if out.status == "optimal":
        if out.objective <= delta:
            out.status, out.violation = "exact", out.objective
        elif out.lower > delta:
            out.status = "infeasible"
            out.message = (f"the layer's rows cannot be met within {delta:.3g}: every h (with ||h||_inf <= "
                           f"{out.bound.radius:.3g}) leaves a violation >= {out.lower:.3g}.")
        else:
            out.status = "failed"
            out.message = (f"the LP optimum {out.objective:.3g} exceeds the tolerance {delta:.3g}, but its dual "
                           f"bound {out.lower:.3g} does not certify infeasibility.")
    return out


def _rest(time_limit, t0):
    """What is left of ``time_limit`` seconds since ``t0`` (None: no limit; at least 1 ms)."""
    return None if time_limit is None else max(time_limit - (time.perf_counter() - t0), 1e-3)


def _radius_covering(h):
    """A radius for the least-squares bound that covers the least-squares point itself."""
    return 10.0 * max(1.0, float(np.max(np.abs(h))))


def _solve_noisy(system, norm, eps, gap_tol, time_limit, feas_tol):
    t0 = time.perf_counter()
    h, r, floor, unique = _fast_point(system, time_limit)
    extra = {"floor": floor}
    if h is not None and eps is None:
        upper = system.value(h, norm)
        bound = residual_bound(system, r, norm, _radius_covering(h))
        if upper - bound.value <= gap_tol:
            return LayerSolution(h, "bracket", upper, bound.value, bound, "lstsq", 0.0, unique,
                                 f"certified bracket [{bound.value:.3g}, {upper:.3g}] (gap <= {gap_tol:.2g}).",
                                 time.perf_counter() - t0, extra=extra)
    if h is not None and eps is not None and system.value(h, norm) <= eps:
        return LayerSolution(h, "feasible", system.value(h, norm), -np.inf, None, "lstsq", 0.0, unique,
                             f"the least-squares point meets the budget {eps:g}.", time.perf_counter() - t0,
                             extra=extra)
    lp = {"time_limit": _rest(time_limit, t0), "feas_tol": feas_tol, "h0": h}
    out = solve_layer_lp(system, norm, budget=eps, **lp)
    if out.status == "infeasible" and not (out.bound is not None and out.lower > eps):
        opt = solve_layer_lp(system, norm, **lp)  # certify with the min-objective LP's dual
        out.lower, out.bound = opt.lower, opt.bound
        if opt.lower > eps:
            out.message = (f"no h meets the noise budget {eps:g}: every h (with ||h||_inf <= "
                           f"{opt.bound.radius:.3g}) needs at least {opt.lower:.3g}.")
        else:
            out.status = "failed"
            out.message += f" (HiGHS says infeasible, but its dual bound {opt.lower:.3g} does not prove it)."
    out.unique = unique
    out.extra.update(extra)
    out.seconds = time.perf_counter() - t0
    return out


def solve_linf(system, *, eps=None, gap_tol=0.0, time_limit=None, feas_tol=1e-9):
    """``min t`` s.t. ``|M_E h - c_E| <= t``, ``M_I h - c_I <= t`` (h >= 0 if ``system.nonneg``).

    With ``eps``: any h feasible at ``t = eps`` (the paper's form), or status ``"infeasible"``.
    Returns a :class:`~layerinv.lp.solution.LayerSolution`.
    """
    return _solve_noisy(system, "linf", eps, gap_tol, time_limit, feas_tol)


def solve_l1(system, *, eps=None, gap_tol=0.0, time_limit=None, feas_tol=1e-9):
    """``min sum e`` s.t. ``|M_E h - c_E| <= e_E``, ``M_I h - c_I <= e_I``, ``e >= 0``.

    With ``eps``: any h with ``sum e <= eps``, or status ``"infeasible"``.
    Returns a :class:`~layerinv.lp.solution.LayerSolution`.
    """
    return _solve_noisy(system, "l1", eps, gap_tol, time_limit, feas_tol)
