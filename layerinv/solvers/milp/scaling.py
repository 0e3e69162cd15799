"""The rescaled copy the MILP is solved on when weights or the box are far from 1 (HiGHS's tolerances
are absolute), and :class:`Units`: how the numbers of the model HiGHS solved map back to the user's
``G``, ``x`` and box (every reported number is in the user's units)."""
from __future__ import annotations

import numpy as np

from ...network import ReLUNet

_U = np.finfo(np.float64).eps / 2


def scaled_copy(G, R):
    """The same network on ``z' = z / R`` with every hidden layer's output divided by a positive factor
    (ReLU / LeakyReLU are positively homogeneous), chosen so that each layer's weights have largest
    magnitude 1. Returns ``(G', P)`` with ``G(z) = P * G'(z / R)`` (``P = 1`` for a sigmoid / tanh output,
    whose pre-activation is kept) up to the rounding of the copy's weights (:func:`copy_error`)."""
    P = float(R)
    Ws, bs, acts = [], [], []
    for i, L in enumerate(G.layers):
        last = i == G.depth - 1
        m = float(np.max(np.abs(L.weight)))
        if m == 0.0:  # an all-zero layer: its output is its bias whatever the input; nothing to rescale
            m = 1.0
        Pn = 1.0 if (last and not L.activation.piecewise_linear) else P * m
        Ws.append(L.weight * (P / Pn))
        bs.append(L.bias / Pn)
        acts.append(L.activation.spec())
        P = Pn
    return ReLUNet(Ws, bs, acts), P


def needs_scaling(G, R):
    """Whether the MILP should be solved on :func:`scaled_copy` (a weight or the box far from 1)."""
    mags = [float(np.max(np.abs(L.weight))) for L in G.layers]
    return R > 1e3 or any(m > 1e2 or 0 < m < 1e-2 for m in mags)


def copy_error(Gs, rows=None):
    """A bound on ``|G(R z') / P - G'(z')|`` per output over ``z'`` in ``[-1, 1]^k`` (the copy's units),
    from the rounding of the copy's weights and biases (each a relative ``<= 2u`` / ``u`` change of the exact
    rescaled value) and of ``z = R z'``: with ``m_i`` a bound on ``|h_i|`` and ``e_i`` on the error of h_i,
    ``e_{i+1} <= |W| e_i + 3u (|W| m_i + |b|)`` (activations are 1-Lipschitz), computed with a factor 2 for
    the rounding of the recurrence itself. Shape (n,) (``(len(rows),)``)."""
    k = Gs.k
    m, e = np.ones(k), np.full(k, 2 * _U)
    with np.errstate(over="ignore", invalid="ignore"):
        for L in Gs.layers:
            Wa, ba = np.abs(L.weight), np.abs(L.bias)
            mag = Wa @ m + ba
            e = 2.0 * (Wa @ e + 3 * _U * mag)
            m = mag * (1 + 4 * _U * (L.n_in + 2))
    e = np.where(np.isfinite(e), e, np.inf)
    return e if rows is None else e[rows]


class Units:
    """How the model HiGHS solved (``net``, ``x'``, box 1 or ``R``) maps to the user's: ``z = R z'`` and
    ``G(z) = P G'(z')``. The identity map when no copy was needed.

    Parameters
    ----------
    G : ReLUNet
        The user's network.
    x : ndarray, shape (n,) (``(len(rows),)``)
        The user's observation.
    rows : ndarray or None
    R, P : float
        Box and output factor of the copy (1, 1 for none).
    err : ndarray, shape like x
        :func:`copy_error` (zeros for none).
    delta : float or None
        The claim's tolerance / budget in the user's units.
    """

    def __init__(self, G, x, rows, R=1.0, P=1.0, err=None, delta=None):
        self.G, self.x, self.rows, self.R, self.P, self.delta = G, x, rows, float(R), float(P), delta
        self.err = np.zeros(x.shape) if err is None else err

    def z(self, zm):
        """The user's z for the model's ``zm`` (None stays None)."""
        return None if zm is None else self.R * zm

    def scores(self, zm):
        """``(||G(z) - x||_inf, ||G(z) - x||_1)`` on the user's G at ``z = R zm`` (inf for a missing z)."""
        z = self.z(zm)
        if z is None or not np.all(np.isfinite(z)):
            return np.inf, np.inf
        with np.errstate(over="ignore", invalid="ignore"):
            y = self.G.forward_unchecked(z)
            r = np.abs((y if self.rows is None else y[self.rows]) - self.x)
        return float(np.max(r, initial=0.0)), float(np.sum(r))

    def lower(self, lb, norm):
        """A lower bound in the user's units on ``min ||G(z) - x||_norm`` from the model's lower bound ``lb``
        (``norm`` "linf" or "l1"): ``P (lb - e)`` rounded down, ``e`` the copy's error in that norm; 0 at
        worst, NaN for a NaN ``lb``."""
        if not np.isfinite(lb):
            return float("nan") if np.isnan(lb) else max(float(lb), 0.0)
        e = float(np.sum(self.err) if norm == "l1" else np.max(self.err, initial=0.0))
        v = (float(lb) - e * (1 + 4 * _U)) * self.P
        v = v * (1 - 4 * _U) if v > 0 else v
        return max(v, 0.0)
