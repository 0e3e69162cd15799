"""The one wrapper around HiGHS (``highspy``), for LPs and MILPs.

HiGHS never prints and never raises into user code: every failure becomes a status string.
Statuses are names from :data:`layerinv.STATUSES`, mapped once by :data:`STATUS_MAP`; HiGHS's own
status text is kept in :attr:`HighsSolution.raw`, for messages only.

* :func:`solve_lp` solves a dense LP with dual simplex on one reusable HiGHS object per thread
  (the layer LPs of :mod:`layerinv.lp.kernels`), within a work budget of simplex iterations that
  grows with the LP's size (:func:`iteration_budget`): dual simplex can cycle for minutes on a
  degenerate LP whose optimum is at HiGHS's feasibility tolerance (an observation with noise
  ~1e-9); it then stops with status ``"time_limit"``.
* :class:`Highs` is one quiet HiGHS object of the caller's own, loaded with a sparse model (column
  bounds, costs, integrality, rows ``row_lo <= A v <= row_hi`` in CSC form) and run repeatedly with
  new costs or time limits (the MILP of :mod:`layerinv.solvers.milp`).
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
from dataclasses import dataclass

import numpy as np

__all__ = ["Highs", "HighsSolution", "STATUS_MAP", "quiet_stdout", "solve_lp", "iteration_budget"]

#: HiGHS model status -> :data:`layerinv.STATUSES` name. Every limit HiGHS can stop on (time,
#: simplex iterations, solutions found, interrupts) is "time_limit": the solver stopped early on a
#: work budget, and the point it returns, if any, is the best found. Any status not listed
#: (unbounded, model or solver errors, not solved) is "failed".
STATUS_MAP = {
    "kOptimal": "optimal",
    "kInfeasible": "infeasible",
    "kUnboundedOrInfeasible": "infeasible",
    "kTimeLimit": "time_limit",
    "kIterationLimit": "time_limit",
    "kSolutionLimit": "time_limit",
    "kInterrupt": "time_limit",
    "kHighsInterrupt": "time_limit",
}

_local = threading.local()


@contextlib.contextmanager
def quiet_stdout():
    """Silence C-level stdout (HiGHS prints a banner the first time a solver is built)."""
    try:
        sys.stdout.flush()
        fd = os.dup(1)
    except (OSError, ValueError):  # no real stdout (e.g. captured): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(fd, 1)
        os.close(fd)


@dataclass
class HighsSolution:
    """What came back from HiGHS.

    ``x`` (primal column values) and ``y`` (row duals, HiGHS's sign convention) are None when HiGHS
    has none; ``status`` is a :data:`STATUS_MAP` value (``"optimal"``, ``"infeasible"``,
    ``"time_limit"`` or ``"failed"``); ``raw`` is HiGHS's status text (for messages).
    ``dual_bound``, ``gap`` and ``nodes`` are the MIP's (NaN / 0 for an LP).
    """

    x: np.ndarray | None
    y: np.ndarray | None
    status: str
    raw: str
    objective: float = float("nan")
    iterations: int = 0
    dual_bound: float = float("nan")
    gap: float = float("nan")
    nodes: int = 0


def _status(h):
    raw = h.modelStatusToString(h.getModelStatus())
    key = str(h.getModelStatus()).split(".")[-1]
    return STATUS_MAP.get(key, "failed"), raw


def _bounds(v, inf, sign):
    """``v`` as float64 with infinite entries of ``sign`` replaced by HiGHS's infinity."""
    v = np.asarray(v, dtype=np.float64)
    return np.where(np.isneginf(v) if sign < 0 else np.isposinf(v), sign * inf, v).astype(np.float64)


class Highs:
    """One quiet ``highspy.Highs`` object; :meth:`load` a model, then :meth:`run` it (repeatedly).

    ``options`` are HiGHS option values set on every :meth:`load` (after ``output_flag=False``).
    """

    def __init__(self, **options):
        import highspy

        self.hs = highspy
        with quiet_stdout():
            self.h = highspy.Highs()
        self.h.setOptionValue("output_flag", False)
        self.options = options

    def load(self, ncol, nrow, cost, col_lo, col_hi, row_lo, row_hi, start, index, value, integer=None):
        """Pass the model ``min cost.v  s.t.  row_lo <= A v <= row_hi, col_lo <= v <= col_hi``, ``A`` in
        CSC form (``start``, ``index``, ``value``); ``integer`` marks integer columns (None: an LP)."""
        hs, h = self.hs, self.h
        inf = hs.kHighsInf
        lp = hs.HighsLp()
        lp.num_col_, lp.num_row_ = ncol, nrow
        lp.col_cost_ = cost
        lp.col_lower_ = np.where(np.isneginf(col_lo), -inf, col_lo)
        lp.col_upper_ = np.where(np.isposinf(col_hi), inf, col_hi)
        lp.row_lower_ = np.where(np.isneginf(row_lo), -inf, row_lo)
        lp.row_upper_ = np.where(np.isposinf(row_hi), inf, row_hi)
        lp.a_matrix_.format_ = hs.MatrixFormat.kColwise
        lp.a_matrix_.start_ = start
        lp.a_matrix_.index_ = index
        lp.a_matrix_.value_ = value
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = ncol, nrow
        if integer is not None and np.any(integer):
            lp.integrality_ = [hs.HighsVarType.kInteger if b else hs.HighsVarType.kContinuous for b in integer]
        h.clearModel()
        h.setOptionValue("output_flag", False)
        for name, val in self.options.items():
            h.setOptionValue(name, val)
        if h.passModel(lp) == hs.HighsStatus.kError:  # e.g. an entry >= large_matrix_value: nothing loaded
            raise ValueError("HiGHS rejected the model (an infinite, NaN or too large coefficient)")

    def run(self, time_limit=None):
        """Solve the loaded model within ``time_limit`` seconds (None: no limit)."""
        h = self.h
        h.setOptionValue("time_limit", float(time_limit) if time_limit is not None else self.hs.kHighsInf)
        h.run()
        status, raw = _status(h)
        sol = h.getSolution()
        info = h.getInfo()
        x = np.array(sol.col_value) if sol.value_valid and len(sol.col_value) else None
        y = np.array(sol.row_dual) if sol.dual_valid else None
        return HighsSolution(x, y, status, raw, float(info.objective_function_value),
                             int(info.simplex_iteration_count), float(info.mip_dual_bound), float(info.mip_gap),
                             int(info.mip_node_count))

    def set_cost(self, cols, costs, ncol):
        """Replace the objective: ``costs`` on columns ``cols``, zero elsewhere."""
        c = np.zeros(ncol)
        c[cols] = costs
        self.h.changeColsCost(ncol, np.arange(ncol, dtype=np.int32), c)


def _thread_solver():
    h = getattr(_local, "highs", None)
    if h is None:
        h = Highs(solver="simplex", simplex_strategy=1)  # dual simplex: fastest on these dense LPs
        _local.highs = h
    return h


#: Simplex iterations allowed per row and column of a dense LP (plus :data:`_BASE_ITERATIONS`).
#: Healthy layer LPs (random and MNIST nets, noise 1e-9 to 1e-1) need at most ~2.5 (m + n) and the
#: degenerate ones that still finish ~8 (m + n); a cycling one (50,000+ iterations for m + n ~ 900,
#: minutes) is stopped at 20 (m + n) + 1000, about a second at that size.
ITERATIONS_PER_ROW = 20
_BASE_ITERATIONS = 1000


def iteration_budget(m, n):
    """The simplex iterations :func:`solve_lp` allows an (m, n) LP: ``20 (m + n) + 1000``."""
    return ITERATIONS_PER_ROW * (int(m) + int(n)) + _BASE_ITERATIONS


def solve_lp(c, A, b, col_lower, col_upper, *, time_limit=None, feas_tol=1e-9, row_lower=None, iterations=None):
    """Solve ``min c.x  s.t.  row_lower <= A x <= b,  col_lower <= x <= col_upper`` with dual simplex.

    ``A`` is a dense (m, n) array. Infinite bounds use ``numpy.inf``. ``feas_tol`` is HiGHS's primal
    and dual feasibility tolerance. ``iterations`` caps the simplex iterations (default
    :func:`iteration_budget`), ``time_limit`` the seconds (None: no clock); either limit reached gives
    status ``"time_limit"``. Returns a :class:`HighsSolution`; never raises.
    """
    try:
        solver = _thread_solver()
        m, n = A.shape
        inf = solver.hs.kHighsInf
        Af = np.asfortranarray(A)
        nz = Af != 0
        counts = nz.sum(axis=0)
        start = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
        rows = np.nonzero(nz.T)  # column-major order: (col, row)
        solver.options.update(primal_feasibility_tolerance=float(feas_tol), dual_feasibility_tolerance=float(feas_tol),
                              simplex_iteration_limit=int(iteration_budget(m, n) if iterations is None else iterations))
        solver.load(n, m, np.asarray(c, dtype=np.float64), _bounds(col_lower, inf, -1), _bounds(col_upper, inf, 1),
                    np.full(m, -inf) if row_lower is None else _bounds(row_lower, inf, -1), _bounds(b, inf, 1),
                    start, rows[1].astype(np.int32), Af.T[rows])
        return solver.run(time_limit)
    except Exception as exc:  # never let a solver traceback reach the user
        _local.highs = None
        return HighsSolution(None, None, "failed", f"HiGHS failed: {type(exc).__name__}: {exc}")
