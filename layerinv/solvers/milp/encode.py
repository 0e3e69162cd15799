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
    or "norm" (``|y - x| <= t`` or ``<= e``; sigmoid / tanh outputs to first order, see :func:`output_rows`)."""

    mode: str
    x: np.ndarray
    norm: str = "linf"          # for mode "norm": "linf" or "l1"
    budget: float | None = None  # eps for mode "norm" (feasibility), None = minimise
    lo: np.ndarray = None
    hi: np.ndarray = None
    empty: np.ndarray = None    # mode "box": entries whose interval misses the activation's range


def make_target(act, x, objective, eps, tol):
    """The :class:`Target` for output activation ``act`` and the absolute tolerance / budget it uses."""
    scale = float(np.max(np.abs(x), initial=0.0))
    if objective == "exact":
        delta = tol * scale if scale > 0 else tol
        lo, hi, empty = act.inverse_interval(x - delta, x + delta)
        return Target("box", x, lo=lo, hi=hi, empty=empty), delta
    if eps is not None and objective == "linf":
        lo, hi, empty = act.inverse_interval(x - eps, x + eps)
        return Target("box", x, lo=lo, hi=hi, empty=empty), eps
    return Target("norm", x, norm=objective, budget=eps), eps


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
