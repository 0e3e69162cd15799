"""The one record every per-layer solve returns, and the statuses it can carry."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["LayerSolution", "LAYER_STATUSES", "SOLVER_STATUSES"]

#: Every status a layer's solve can hand to the driver (and so to a ``LayerRecord``), with its meaning.
LAYER_STATUSES = {
    "exact": "every row of the layer holds within the tolerance at h (exact inversion).",
    "optimal": "h solves the layer's ℓ∞ / ℓ1 LP: its certified gap (objective - lower) is within the "
               "solver's tolerance, recomputed by us.",
    "bracket": "the least-squares h was accepted without an LP: its objective and a certified lower bound "
               "bracket the optimum within gap_tol; objective is the upper end, lower the lower end.",
    "feasible": "h meets the noise budget eps (the fixed-budget form of the LP).",
    "infeasible": "no input h meets the rows within the tolerance or budget: `lower` (from `bound`) is a "
                  "certified lower bound above it.",
    "time_limit": "the LP solver stopped on a work budget (time or iterations) before proving optimality; "
                  "h, if finite, is feasible but may not be optimal.",
    "failed": "no solver produced an answer that passed our checks (numerical trouble, or a solver's claim "
              "that our recomputation refuted); see message.",
}

#: Statuses of the interior-point kernel alone (internal: the driver never sees them; the kernel's
#: caller judges its h and lower by their recomputed gap, and falls back to HiGHS when that is too wide).
SOLVER_STATUSES = {
    "optimal": LAYER_STATUSES["optimal"],
    "time_limit": "the interior point used all its steps, or converged short of its own gap target; h and "
                  "lower are still valid.",
    "failed": "numerical trouble; the caller falls back to HiGHS.",
}


@dataclass
class LayerSolution:
    """What one layer's solve found (the interior point, HiGHS or the least-squares fast path).

    Attributes
    ----------
    h : ndarray, shape (n_in,)
        The layer's input (NaN when none was found; ``h >= 0`` when the system says so).
    status : str
        One of :data:`LAYER_STATUSES` (the interior point alone: :data:`SOLVER_STATUSES`).
    objective : float
        The objective at ``h``, recomputed by us (ℓ∞: ``t``; ℓ1: ``sum e``; ``inf`` without ``h``).
    lower : float
        A certified lower bound on the optimum (``-inf`` if none): ``bound.value``.
    bound : DualBound or None
        The multipliers behind ``lower`` and the radius ``||h||_inf <= radius`` it covers.
    path : str
        ``"lstsq"`` (Cholesky fast path) or ``"lp"`` (interior point, then HiGHS).
    violation : float
        Largest violation of the solved problem's own constraints at ``h``, recomputed.
    unique : bool
        The equation rows pin ``h`` (full column rank).
    message : str
    seconds : float
    steps : int
        Interior-point steps (0 for the other paths).
    vertex : bool
        ``h`` and the multipliers come from an exact vertex of the LP.
    extra : dict
        E.g. ``floor``: the noise floor of ``h`` (see ``kernels``).
    """

    h: np.ndarray
    status: str
    objective: float
    lower: float = -np.inf
    bound: object = None
    path: str = "lp"
    violation: float = 0.0
    unique: bool = False
    message: str = ""
    seconds: float = 0.0
    steps: int = 0
    vertex: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def y_E(self):
        """Multipliers of the equation rows (from ``bound``; None without one)."""
        return None if self.bound is None else self.bound.y_E

    @property
    def y_I(self):
        """Multipliers of the inequality rows, ``>= 0`` (from ``bound``; None without one)."""
        return None if self.bound is None else self.bound.y_I

    @property
    def radius(self):
        """``lower`` holds for every h with ``||h||_inf <= radius`` (NaN without a bound)."""
        return np.nan if self.bound is None else self.bound.radius

    @property
    def gap(self):
        """``objective - lower``: how far from proven optimal ``h`` may be."""
        return self.objective - self.lower
