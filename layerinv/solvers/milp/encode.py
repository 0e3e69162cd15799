"""Big-M encoding of a network and of the observation it must meet, as one :class:`Model`.

A ReLU / LeakyReLU unit (slope ``s``) ``h = max(u, s u)`` with pre-activation bounds ``[l, U]``:

* ``l >= 0`` (always active):   ``h = u``;
* ``U <= 0`` (always inactive): ``h = s u``;
* otherwise one binary ``d`` (1 = active) and the rows
  ``h >= u,  h >= s u,  h <= u - (1 - s) l (1 - d),  h <= s u + (1 - s) U d``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import INF, Model


@dataclass
class Target:
    """What the output must satisfy: ``mode`` "box" (``lo <= u <= hi`` on the output pre-activation)
    or "norm" (``|y - x| <= t`` or ``<= e``; sigmoid / tanh outputs to first order, see :func:`output_rows`,
    or, with ``relaxed`` (an l1 budget on a sigmoid / tanh output), by the sound outer relaxation of
    :func:`relaxed_l1`)."""

    mode: str
    x: np.ndarray
    norm: str = "linf"          # for mode "norm": "linf" or "l1"
    budget: float | None = None  # eps for mode "norm" (feasibility), None = minimise
    lo: np.ndarray = None
    hi: np.ndarray = None
    empty: np.ndarray = None    # mode "box": entries whose interval misses the activation's range
    relaxed: dict = None        # mode "norm" with a budget on a smooth output: relaxed_l1's rows

    @property
    def first_order(self):
        """Whether the model's output rows are a first-order approximation (its optimum or infeasibility
        says nothing certain about the true G)."""
        return self.mode == "norm" and self.relaxed is None and self.smooth

    smooth: bool = False        # the output activation is sigmoid / tanh (not piecewise linear)
    gn: bool = False            # polish this target's points by Gauss-Newton too (smooth outputs)


_U = np.finfo(np.float64).eps / 2
_WIDEN = 1e-12  # relative outward widening of a computed logit / atanh (accurate to a few ulps)


def outer_inverse(act, lo, hi):
    """``act^-1([lo, hi])`` rounded outward: ``(u_lo, u_hi, empty)`` containing the exact preimage of the
    exact interval (``lo`` / ``hi`` are moved one ulp outward first: they were rounded when formed).
    Piecewise-linear activations are inverted as they are (their inverse rows are exact up to rounding
    far below HiGHS's tolerance)."""
    if act.piecewise_linear:
        return act.inverse_interval(lo, hi)
    ul, uh, empty = act.inverse_interval(np.nextafter(lo, -INF), np.nextafter(hi, INF))
    with np.errstate(invalid="ignore"):
        ul = np.where(np.isfinite(ul), ul - _WIDEN * np.abs(ul) - 1e-300, ul)
        uh = np.where(np.isfinite(uh), uh + _WIDEN * np.abs(uh) + 1e-300, uh)
    return ul, uh, empty


def least_slope(act, a, b):
    """A lower bound on ``act'`` over ``[a, b]`` elementwise (sigmoid / tanh: ``act'`` is unimodal with its
    peak at 0, so the least slope is at an end; computed as ``c / cosh^2``, accurate to a few ulps, and
    shrunk by a relative 1e-12). 0 where an end is infinite."""
    with np.errstate(over="ignore"):
        if act.name == "sigmoid":
            f = lambda u: 0.25 / np.cosh(0.5 * u) ** 2  # noqa: E731
        else:
            f = lambda u: 1.0 / np.cosh(u) ** 2  # noqa: E731
        m = np.minimum(f(a), f(b)) * (1.0 - _WIDEN)
    return np.where(np.isfinite(a) & np.isfinite(b), m, 0.0)


def relaxed_l1(act, x, eps):
    """Rows of a sound outer relaxation of ``sum_j |act(u_j) - x_j| <= eps`` for a sigmoid / tanh output.

    Every such u has ``|act(u_j) - x_j| <= eps`` for each j, i.e. ``u_j`` in ``[lo_j, hi_j] =
    act^-1([x_j - eps, x_j + eps])`` (rounded outward). With ``u*_j = act^-1(x_j)`` in ``[s_lo, s_hi]``
    (rounded outward) the mean-value theorem gives ``|act(u_j) - x_j| >= m_lo (s_lo - u_j)`` and
    ``>= m_hi (u_j - s_hi)``, ``m_lo`` / ``m_hi`` lower bounds on the slope over ``[lo, s_hi]`` /
    ``[s_lo, hi]``. Entries of x outside the open range get ``e_j >= dist(x_j, range)`` instead. So
    ``e_j`` meeting these rows with ``sum e <= eps`` exist for every z that meets the budget:
    infeasibility of the relaxation proves that none does.

    Returns a dict with ``lo``, ``hi``, ``s_lo``, ``s_hi``, ``m_lo``, ``m_hi``, ``floor`` (each (n,)) and
    ``empty`` (entries whose interval misses the range: then nothing meets the budget)."""
    lo, hi, empty = outer_inverse(act, x - eps, x + eps)
    a, b = act.range
    inside = (x > a) & (x < b)
    s_lo, s_hi, _ = outer_inverse(act, np.where(inside, x, 0.0), np.where(inside, x, 0.0))
    m_lo = np.where(inside, least_slope(act, lo, s_hi), 0.0)
    m_hi = np.where(inside, least_slope(act, s_lo, hi), 0.0)
    floor = np.where(inside, 0.0, np.maximum(a - x, x - b) * (1.0 - 4 * _U))
    return dict(lo=lo, hi=hi, s_lo=np.where(inside, s_lo, 0.0), s_hi=np.where(inside, s_hi, 0.0), m_lo=m_lo,
                m_hi=m_hi, floor=np.maximum(floor, 0.0), empty=empty)


def make_target(act, x, objective, eps, tol):
    """The :class:`Target` for output activation ``act`` and the absolute tolerance / budget it uses.

    The interval forms ("exact", "linf" with eps) are exact for every monotone output (sigmoid / tanh:
    the interval is rounded outward). "l1" with eps on a sigmoid / tanh output is a sound outer
    relaxation (:func:`relaxed_l1`); the minimisations on such outputs are first order (``first_order``)."""
    scale = float(np.max(np.abs(x), initial=0.0))
    smooth = not act.piecewise_linear
    if objective == "exact":
        delta = tol * scale if scale > 0 else tol
        lo, hi, empty = outer_inverse(act, x - delta, x + delta)
        return Target("box", x, lo=lo, hi=hi, empty=empty, smooth=smooth), delta
    if eps is not None and objective == "linf":
        lo, hi, empty = outer_inverse(act, x - eps, x + eps)
        return Target("box", x, lo=lo, hi=hi, empty=empty, smooth=smooth), eps
    if eps is not None and smooth:
        rel = relaxed_l1(act, x, eps)
        return Target("norm", x, norm=objective, budget=eps, empty=rel["empty"], relaxed=rel, smooth=True), eps
    return Target("norm", x, norm=objective, budget=eps, smooth=smooth), eps


def output_rows(act, x, M, off):
    """``(M', off', x')``: the output residual ``act(M z + off) - x`` as linear rows ``M' z + off' - x'``
    for a linear piece (identity: as is) or to first order (sigmoid / tanh: scaled by the slope at x)."""
    if act.is_identity:
        return M, off, x
    ustar, w = act.linearise(x)
    return M * w[:, None], off * w, w * ustar


@dataclass
class Encoding:
    model: Model
    z: np.ndarray
    h: list            # column indices of each hidden layer's output
    binaries: int
    unstable: list     # per layer: indices of units that carry a binary
    obj: np.ndarray = None


def encode_unit_layer(model, L, prev, l, u, *, relax=False):
    """Columns ``h = act(W prev + b)`` for a ReLU / LeakyReLU layer with pre-activation bounds [l, u]."""
    act = L.activation
    s = act.negative_slope
    W, b = L.weight, L.bias
    hl, hu = act.interval(l, u)
    h = model.cols(hl, hu)
    act_on = l >= 0
    off = (u <= 0) & ~act_on
    unst = np.flatnonzero(~act_on & ~off)
    idx = np.flatnonzero(act_on)  # h = u
    model.rows(b[idx], b[idx], (prev, -W[idx]), (h[idx], 1.0))
    idx = np.flatnonzero(off)     # h = s u (ReLU: h fixed at 0 by its column bounds)
    if s > 0:
        model.rows(s * b[idx], s * b[idx], (prev, -s * W[idx]), (h[idx], 1.0))
    if unst.size:
        d = model.cols(np.zeros(unst.size), np.ones(unst.size), integer=not relax)
        Wu, bu, lu, uu, hu_ = W[unst], b[unst], l[unst], u[unst], h[unst]
        model.rows(bu, INF, (prev, -Wu), (hu_, 1.0))                       # h >= u
        if s > 0:
            model.rows(s * bu, INF, (prev, -s * Wu), (hu_, 1.0))           # h >= s u
        model.rows(-INF, bu - (1 - s) * lu, (prev, -Wu), (hu_, 1.0), (d, -(1 - s) * lu))  # h <= u - (1-s) l (1-d)
        model.rows(-INF, s * bu, (prev, -s * Wu), (hu_, 1.0), (d, -(1 - s) * uu))         # h <= s u + (1-s) U d
    return h, unst


def encode(layers, target, R, bounds, *, relax=False):
    """The whole network and the target as one model (binaries continuous in [0, 1] when ``relax``)."""
    model = Model()
    k = layers[0].n_in
    zc = model.cols(np.full(k, -R), np.full(k, R))
    prev, hs, unstable, nbin = zc, [], [], 0
    for i, L in enumerate(layers[:-1]):
        prev, unst = encode_unit_layer(model, L, prev, *bounds[i], relax=relax)
        hs.append(prev)
        unstable.append(unst)
        nbin += unst.size
    top = layers[-1]
    W, b = top.weight, top.bias
    enc = Encoding(model, zc, hs, nbin, unstable)
    if target.mode == "box":
        model.rows(target.lo - b, target.hi - b, (prev, W))
        unstable.append(np.arange(0))
        return enc
    if target.relaxed is not None:  # l1 budget on a sigmoid / tanh output: the sound outer relaxation
        rel, n = target.relaxed, top.n_out
        unstable.append(np.arange(0))
        model.rows(rel["lo"] - b, rel["hi"] - b, (prev, W))
        e = model.cols(rel["floor"], INF)
        idx = np.arange(n)
        model.rows(rel["m_lo"] * (rel["s_lo"] - b), INF, (prev, rel["m_lo"][:, None] * W), (e, np.ones(n)))
        model.rows(-INF, rel["m_hi"] * (rel["s_hi"] - b), (prev, rel["m_hi"][:, None] * W), (e[idx], -np.ones(n)))
        model.rows(-INF, target.budget, (e, np.ones((1, n))))
        enc.obj = e
        return enc
    # min-norm forms: y = act(u) (sigmoid / tanh: weighted pre-activation residual)
    act = top.activation
    if act.kinked:
        y, unst = encode_unit_layer(model, top, prev, *bounds[-1], relax=relax)
        enc.binaries += unst.size
        unstable.append(unst)
        terms_y, off, xt = [(y, np.ones(y.size))], np.zeros(y.size), target.x
    else:
        unstable.append(np.arange(0))
        M, off, xt = output_rows(act, target.x, W, b)
        terms_y = [(prev, M)]
    n = top.n_out
    minimise = target.budget is None
    if target.norm == "linf":
        t = model.cols(0.0, INF if minimise else target.budget, cost=1.0 if minimise else 0.0)
        model.band(xt - off, terms_y, np.full(n, t[0]))
        enc.obj = t
    else:
        e = model.cols(np.zeros(n), INF, cost=1.0 if minimise else 0.0)
        model.band(xt - off, terms_y, e)
        if not minimise:
            model.rows(-INF, target.budget, (e, np.ones((1, n))))
        enc.obj = e
    return enc
