"""A thin, quiet wrapper around one reusable HiGHS object per thread.

Problems are passed as dense constraint blocks ``A x <= b`` (plus equality-free column bounds);
HiGHS never prints and never raises into user code: every failure becomes a status string.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
from dataclasses import dataclass

import numpy as np

_local = threading.local()


@contextlib.contextmanager
def _quiet_fd1():
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


def _solver():
    h = getattr(_local, "highs", None)
    if h is None:
        import highspy

        with _quiet_fd1():
            h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        _local.highs = h
        _local.module = highspy
    return h, _local.module


@dataclass
class LPSolution:
    """What came back from HiGHS: ``x`` (primal), ``y`` (row duals, HiGHS's sign convention),
    ``status`` one of ``"optimal"``, ``"infeasible"``, ``"unbounded"``, ``"time_limit"``,
    ``"iteration_limit"``, ``"error"``, and the raw status text for messages."""

    x: np.ndarray | None
    y: np.ndarray | None
    status: str
    raw: str
    objective: float = float("nan")
    iterations: int = 0


_STATUS = {
    "kOptimal": "optimal",
    "kInfeasible": "infeasible",
    "kUnboundedOrInfeasible": "infeasible",
    "kUnbounded": "unbounded",
    "kTimeLimit": "time_limit",
    "kIterationLimit": "iteration_limit",
}


def solve_lp(c, A, b, col_lower, col_upper, *, time_limit=None, tol=1e-9, row_lower=None):
    """Solve ``min c.x  s.t.  row_lower <= A x <= b,  col_lower <= x <= col_upper`` with dual simplex.

    ``A`` is a dense (m, n) array. Infinite bounds use ``numpy.inf``.
    """
    h, hs = _solver()
    m, n = A.shape
    inf = hs.kHighsInf
    lp = hs.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = m
    lp.col_cost_ = np.asarray(c, dtype=np.float64)
    lp.col_lower_ = np.where(np.isneginf(col_lower), -inf, col_lower).astype(np.float64)
    lp.col_upper_ = np.where(np.isposinf(col_upper), inf, col_upper).astype(np.float64)
    lp.row_lower_ = (np.full(m, -inf) if row_lower is None
                     else np.where(np.isneginf(row_lower), -inf, row_lower).astype(np.float64))
    lp.row_upper_ = np.where(np.isposinf(b), inf, b).astype(np.float64)
    Af = np.asfortranarray(A)
    nz = Af != 0
    counts = nz.sum(axis=0)
    lp.a_matrix_.format_ = hs.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
    rows = np.nonzero(nz.T)  # column-major order: (col, row)
    lp.a_matrix_.index_ = rows[1].astype(np.int32)
    lp.a_matrix_.value_ = Af.T[rows]
    lp.a_matrix_.num_col_ = n
    lp.a_matrix_.num_row_ = m
    try:
        h.clearModel()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("solver", "simplex")
        h.setOptionValue("simplex_strategy", 1)  # dual simplex: fastest on these dense LPs
        h.setOptionValue("primal_feasibility_tolerance", float(tol))
        h.setOptionValue("dual_feasibility_tolerance", float(tol))
        h.setOptionValue("time_limit", float(time_limit) if time_limit is not None else inf)
        h.passModel(lp)
        h.run()
        raw = h.modelStatusToString(h.getModelStatus())
        key = str(h.getModelStatus()).split(".")[-1]
        status = _STATUS.get(key, "error")
        sol = h.getSolution()
        info = h.getInfo()
        x = np.array(sol.col_value) if sol.value_valid else None
        y = np.array(sol.row_dual) if sol.dual_valid else None
        return LPSolution(x, y, status, raw, float(info.objective_function_value),
                          int(info.simplex_iteration_count))
    except Exception as exc:  # never let a solver traceback reach the user
        _local.highs = None
        return LPSolution(None, None, "error", f"HiGHS failed: {type(exc).__name__}: {exc}")
