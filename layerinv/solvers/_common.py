"""Small helpers the solvers share: residuals, the fit objective, time budgets, the one-record summary."""
from __future__ import annotations

import time

import numpy as np

from ..ops import PhaseRetrieval
from ..result import LayerRecord

__all__ = ["relative_residual", "op_residual", "objective", "deadline", "left", "summary_record"]


def _forward(G, z, rows=None):
    x = G.forward_unchecked(z)
    return x if rows is None else x[..., rows]


def relative_residual(G, z, x, rows=None):
    """``||G(z) - x|| / ||x||`` (absolute when x = 0); on ``rows`` of G's output when given."""
    if not np.all(np.isfinite(z)):
        return np.nan
    nx = float(np.linalg.norm(x))
    r = float(np.linalg.norm(_forward(G, z, rows) - x))
    return r / nx if nx > 0 else r


def op_residual(G, op, z, y):
    """``||op(G(z)) - y|| / ||y||`` (absolute when y = 0); NaN when z is not finite."""
    if not np.all(np.isfinite(z)):
        return np.nan
    ny = float(np.linalg.norm(y))
    r = float(np.linalg.norm(op._apply(G.forward_unchecked(z)) - y))
    return r / ny if ny > 0 else r


def objective(G, op, z, y, lam):
    """``||op(G(z)) - y||^2 + lam ||z||^2``."""
    r = op._apply(G.forward_unchecked(z)) - y
    return float(r @ r + lam * z @ z)


def deadline(time_limit):
    """The ``perf_counter`` time at which ``time_limit`` seconds from now run out (None: never)."""
    return None if time_limit is None else time.perf_counter() + time_limit


def left(deadline_):
    """Seconds left before ``deadline_`` (None: no limit; never below 1 ms, so a solver still answers)."""
    return None if deadline_ is None else max(deadline_ - time.perf_counter(), 1e-3)


def summary_record(G, f, status, seconds, msg, method, unique=False):
    """The single :class:`LayerRecord` of a whole-network iterative method (gd, gn, pgd)."""
    return LayerRecord(0, G.k, G.n, 0, method, float(f), 0.0, status, bool(unique), seconds, msg)


def is_phase(op):
    """Phase retrieval measures magnitudes: its fits also try -z (Hand, Leong & Voroninski 2018)."""
    return isinstance(op, PhaseRetrieval)
