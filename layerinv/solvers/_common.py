"""Small helpers the solvers share: residuals, the fit objective, time budgets, the one-record summary."""
from __future__ import annotations

import time

import numpy as np

from ..linear_maps import Dense
from ..ops import PhaseRetrieval
from ..result import LayerRecord

__all__ = ["relative_residual", "op_residual", "objective", "deadline", "left", "summary_record", "all_dense"]


def _forward(G, z, rows=None):
    x = G.forward_unchecked(z)
    return x if rows is None else x[..., rows]


def _scaled_ratio(d, x):
    """``||d|| / ||x||`` (``||d||`` when x = 0), both norms taken after scaling by the largest magnitude so
    that neither overflows nor underflows; inf when d is not finite."""
    if not np.all(np.isfinite(d)):
        return np.inf
    sd = float(np.max(np.abs(d), initial=0.0))
    if sd == 0:
        return 0.0
    sx = float(np.max(np.abs(x), initial=0.0))
    r = float(np.linalg.norm(d / sd))
    if sx == 0:
        return r * sd
    return (r / float(np.linalg.norm(x / sx))) * (sd / sx)


def relative_residual(G, z, x, rows=None):
    """``||G(z) - x|| / ||x||`` (absolute when x = 0); on ``rows`` of G's output when given.
    Computed without overflow (:func:`_scaled_ratio`); NaN when z is not finite."""
    if not np.all(np.isfinite(z)):
        return np.nan
    with np.errstate(over="ignore", invalid="ignore"):
        d = _forward(G, z, rows) - x
    return _scaled_ratio(d, x)


def op_residual(G, op, z, y):
    """``||op(G(z)) - y|| / ||y||`` (absolute when y = 0); NaN when z is not finite."""
    if not np.all(np.isfinite(z)):
        return np.nan
    with np.errstate(over="ignore", invalid="ignore"):
        d = op._apply(G.forward_unchecked(z)) - y
    return _scaled_ratio(d, y)


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


def all_dense(G):
    """Whether every layer of G has a dense matrix (the code paths of dense nets are kept bit for bit;
    nets with convolutional / sparse maps use products with the maps instead)."""
    return all(isinstance(L.linear, Dense) for L in G.layers)


def is_phase(op):
    """Phase retrieval measures magnitudes: its fits also try -z (Hand, Leong & Voroninski 2018)."""
    return isinstance(op, PhaseRetrieval)
