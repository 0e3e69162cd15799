"""One layer's inversion problem as a linear system, and certified bounds on it.

Given a layer ``x = act(W h + b)`` and a target ``a`` (the observation for the top layer, the
recovered input of the layer above otherwise), the rows split into

* equation rows E:   ``M_E h ~ c_E``        (``|M_E h - c_E| <= t``)
* inequality rows I: ``M_I h <= c_I + t``
* and ``h >= 0`` when the layer's input is a ReLU output.

For ReLU rows, E holds the rows with ``a_j > threshold`` (``M = W``, ``c = a - b``) and I the others
(``W_j h + b_j <= a_j + t``: valid whether or not the unit is active, so a doubtful row is always safe
in I). LeakyReLU and identity rows are all equations, scaled so that the residual is measured in
output units. Sigmoid and tanh outputs are mapped back by logit / atanh first
(:class:`~layerinv.activations.Activation` holds those maps).

``dual_bound`` turns a multiplier vector into a lower bound on the ℓ∞ or ℓ1 objective that holds
for every ``h`` with ``||h||_inf <= R``, with floating-point rounding bounded rigorously, so the
bound can be re-checked by anybody from ``W``, ``b`` and ``a`` alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .. import linear_maps

_U = np.finfo(np.float64).eps / 2  # unit round-off


class LayerSystem:
    """The rows of one layer's problem (see module docstring). ``E`` and ``I`` are row indices.

    Built either from the blocks (``LayerSystem(M_E, c_E, M_I, c_I, E, I, nonneg)``) or, cheaper,
    from all rows at once (:meth:`from_rows`): then the blocks are sliced out only when asked for,
    and :meth:`residuals` needs one product with the full matrix and no copy.
    """

    def __init__(self, M_E, c_E, M_I, c_I, E, I, nonneg):
        self._blocks = {"M_E": M_E, "c_E": c_E, "M_I": M_I, "c_I": c_I}
        self._M = self._c = None
        self.E, self.I, self.nonneg = E, I, nonneg

    @classmethod
    def from_rows(cls, M, c, E, I, nonneg):
        """All rows ``M h ~ c`` (M (n_out, n_in)), split into equation rows E and inequality rows I."""
        obj = cls.__new__(cls)
        obj._blocks = {}
        obj._M, obj._c = M, c
        obj.E, obj.I, obj.nonneg = E, I, nonneg
        return obj

    def _block(self, name):
        if name not in self._blocks:
            rows = self.E if name.endswith("E") else self.I
            src = self._M if name.startswith("M") else self._c
            self._blocks[name] = src[rows]
        return self._blocks[name]

    def _set_block(self, name, value):
        if self._M is not None:  # materialise every block, then forget the full rows
            for other in ("M_E", "c_E", "M_I", "c_I"):
                self._block(other)
            self._M = self._c = None
        self._blocks[name] = value

    M_E = property(lambda self: self._block("M_E"), lambda self, v: self._set_block("M_E", v))
    c_E = property(lambda self: self._block("c_E"), lambda self, v: self._set_block("c_E", v))
    M_I = property(lambda self: self._block("M_I"), lambda self, v: self._set_block("M_I", v))
    c_I = property(lambda self: self._block("c_I"), lambda self, v: self._set_block("c_I", v))

    @property
    def n_in(self):
        return (self._M if self._M is not None else self.M_E).shape[1]

    @property
    def sparse(self):
        """True when the rows are ``scipy.sparse`` matrices (a layer above ``linear_maps.DENSE_LIMIT``:
        the kernels then use :mod:`layerinv.lp.sparse`)."""
        return sp.issparse(self._M if self._M is not None else self.M_E)

    def residuals(self, h):
        """``(M_E h - c_E, M_I h - c_I)``."""
        if self._M is not None:
            r = self._M @ h - self._c
            return r[self.E], r[self.I]
        return self.M_E @ h - self.c_E, self.M_I @ h - self.c_I

    def linf_value(self, h):
        """Smallest t for which h satisfies the rows: ``max(|M_E h - c_E|, M_I h - c_I, 0)``."""
        rE, rI = self.residuals(h)
        return float(max(np.max(np.abs(rE), initial=0.0), np.max(rI, initial=0.0)))

    def l1_value(self, h):
        """``sum |M_E h - c_E| + sum max(M_I h - c_I, 0)``."""
        rE, rI = self.residuals(h)
        return float(np.sum(np.abs(rE)) + np.sum(np.maximum(rI, 0.0)))

    def value(self, h, norm):
        """The ``norm`` ("linf" or "l1") objective at h: :meth:`linf_value` or :meth:`l1_value`."""
        return self.linf_value(h) if norm == "linf" else self.l1_value(h)

    def sign_violation(self, h):
        """How far h is below 0 when the input must be non-negative (0 otherwise)."""
        return float(max(-np.min(h), 0.0)) if self.nonneg and h.size else 0.0

    @property
    def scale(self):
        """Magnitude of the right-hand sides, for relative tolerances."""
        if self._c is not None:
            return float(max(np.max(np.abs(self._c), initial=0.0), 1e-300))
        return float(max(np.max(np.abs(self.c_E), initial=0.0), np.max(np.abs(self.c_I), initial=0.0), 1e-300))


def too_big(layer):
    """Whether ``layer``'s map has more than ``linear_maps.DENSE_LIMIT`` entries (its rows are then
    kept sparse and its problem goes to :mod:`layerinv.lp.sparse`)."""
    return layer.n_out * layer.n_in > linear_maps.DENSE_LIMIT


def layer_matrix(layer):
    """``layer``'s matrix: the dense ``layer.weight``, or a CSR matrix (memory ~ its nonzeros) when
    :func:`too_big`."""
    return layer.linear.to_sparse().tocsr() if too_big(layer) else layer.weight


def build_system(layer, a, threshold, nonneg, matrix=None):
    """Build the :class:`LayerSystem` of ``layer`` for target ``a`` (shape (n_out,)).

    ``threshold`` decides which rows of an activation with an inactive region (ReLU) are
    equations (``a_j > threshold``); the other activations give equation rows only, scaled into
    output units by :meth:`~layerinv.activations.Activation.equation_rows`. ``matrix`` (optional):
    :func:`layer_matrix` of ``layer``, when the caller already holds it; the rows are sparse for a
    layer above ``linear_maps.DENSE_LIMIT`` entries.
    """
    act = layer.activation
    W, b = (layer_matrix(layer) if matrix is None else matrix), layer.bias
    if act.has_inactive_region:
        mask = a > threshold
        return LayerSystem.from_rows(W, a - b, np.flatnonzero(mask), np.flatnonzero(~mask), nonneg)
    d, c = act.equation_rows(a, b)
    if sp.issparse(W):
        M = W if d is None else sp.csr_matrix(sp.diags(d) @ W)
        return LayerSystem(M, c, sp.csr_matrix((0, W.shape[1])), np.zeros(0), np.arange(W.shape[0]),
                           np.arange(0), nonneg)
    M = W if d is None else W * d[:, None]
    return LayerSystem(np.ascontiguousarray(M), c, np.zeros((0, W.shape[1])), np.zeros(0),
                       np.arange(W.shape[0]), np.arange(0), nonneg)


@dataclass
class DualBound:
    """A certified lower bound ``value`` on the ℓ∞ (``norm="linf"``) or ℓ1 objective of a layer
    system, valid for every h with ``||h||_inf <= radius``; ``y_E``, ``y_I`` are the multipliers."""

    value: float
    radius: float
    y_E: np.ndarray
    y_I: np.ndarray
    norm: str


def dual_bound(system, y_E, y_I, norm, radius=None):
    """Lower bound on the layer objective from multipliers ``y_E`` (any sign), ``y_I >= 0``.

    For every h: ``g.h - y.c <= ||y||_1 t`` (ℓ∞) or ``<= sum e`` (ℓ1, with ``|y| <= 1``), where
    ``g = M_E^T y_E + M_I^T y_I``. The part of ``g.h`` that does not have the right sign is bounded by
    ``R * (sum of its magnitudes)`` for ``||h||_inf <= R``; all floating-point sums carry the
    standard ``gamma_m`` error bound, so the value returned is a rigorous lower bound.

    ``radius=None`` picks the largest R that costs at most 1% of the bound.
    """
    y_E = np.asarray(y_E, dtype=np.float64)
    y_I = np.maximum(np.asarray(y_I, dtype=np.float64), 0.0)
    if norm == "l1":  # multipliers must lie in [-1, 1] (and [0, 1] on I)
        y_E = np.clip(y_E, -1.0, 1.0)
        y_I = np.minimum(y_I, 1.0)
    m = y_E.size + y_I.size
    gamma = (m + 2) * _U / (1 - (m + 2) * _U)
    g = system.M_E.T @ y_E + system.M_I.T @ y_I
    # abs() rather than np.abs: the same array for dense rows, a sparse matrix for sparse ones
    g_err = gamma * (abs(system.M_E).T @ np.abs(y_E) + abs(system.M_I).T @ np.abs(y_I)) + 1e-300
    s = float(y_E @ system.c_E + y_I @ system.c_I)
    s_err = gamma * float(np.abs(y_E) @ np.abs(system.c_E) + y_I @ np.abs(system.c_I))
    if system.nonneg:  # h >= 0: only the negative part of g can lower g.h
        slack = float(np.sum(np.maximum(-(g - g_err), 0.0)))
    else:
        slack = float(np.sum(np.abs(g) + g_err))
    core = -s - s_err  # lower bound on -y.c
    if radius is None:
        with np.errstate(over="ignore"):  # a slack ~1e-300 against the bound: the radius is unbounded
            radius = np.inf if slack == 0 else (0.01 * core / slack if core > 0 else 0.0)
    value = core - (slack * radius if slack > 0 else 0.0)
    if norm == "linf":
        ysum = (float(np.sum(np.abs(y_E)) + np.sum(y_I))) * (1 + m * _U)
        value = value / ysum if ysum > 0 else -np.inf
    return DualBound(max(float(value), 0.0), float(radius), y_E, y_I, norm)  # the objective is >= 0 anyway


def residual_bound(system, r, norm, radius=None):
    """The least-squares bound of NOTES.md: with ``r = c_E - M_E h_ls`` orthogonal to range(M_E),
    multipliers ``y_E = -r`` give ``t >= ||r||^2 / ||r||_1`` (ℓ∞) and ``sum e >= ||r||^2 / ||r||_inf`` (ℓ1).
    Returned as a rigorous :class:`DualBound`."""
    rmax = float(np.max(np.abs(r), initial=0.0))
    if rmax == 0:
        return DualBound(0.0, np.inf, np.zeros_like(r), np.zeros(system.c_I.size), norm)
    y = -r / rmax if norm == "l1" else -r / float(np.sum(np.abs(r)))
    return dual_bound(system, y, np.zeros(system.c_I.size), norm, radius)
