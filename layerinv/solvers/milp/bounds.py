"""Sound bounds on every pre-activation over the latent box: interval arithmetic (rounding
included), optionally tightened by LPs over the model's relaxation."""
from __future__ import annotations

import time

import numpy as np

from .encode import encode

_U = np.finfo(np.float64).eps / 2


def affine_bounds(L, lo, hi):
    """Sound bounds on ``W h + b`` for ``lo <= h <= hi`` (interval arithmetic, rounding included)."""
    W, b = L.weight, L.bias
    c = 0.5 * (lo + hi)
    r = 0.5 * (hi - lo)
    Wa = np.abs(W)
    mid = W @ c + b
    rad = Wa @ r
    n = W.shape[1] + 2
    err = (n * _U / (1 - n * _U)) * (Wa @ (np.abs(c) + r) + np.abs(b) + np.abs(mid) + rad) + 1e-300
    return mid - rad - err, mid + rad + err


def propagate(layers, R, start=0, pre=None):
    """Pre-activation bounds of every layer over ``z in [-R, R]^k``; layers below ``start`` keep
    ``pre``'s (possibly tightened) bounds, and every new bound is intersected with ``pre``'s."""
    k = layers[0].n_in
    lo, hi = np.full(k, -R), np.full(k, R)
    out = []
    for i, L in enumerate(layers):
        if pre is not None and i < start:
            l, u = pre[i]
        else:
            l, u = affine_bounds(L, lo, hi)
            if pre is not None:
                l, u = np.maximum(l, pre[i][0]), np.minimum(u, pre[i][1])
        out.append((l, u))
        if i < len(layers) - 1:
            lo, hi = L.activation.interval(l, u)
    return out


def _tightened_layers(layers, target):
    """``(first, stop)``: the layers whose unstable units tightening works on. The output layer
    counts only for the min-norm forms of a kinked output; layer 0 only for the interval forms (over
    the box alone, interval bounds of layer 0 are already exact)."""
    stop = len(layers) if target.mode == "norm" and layers[-1].activation.kinked else len(layers) - 1
    return (1 if target.mode == "norm" else 0), stop


def n_tighten_lps(layers, target, bounds):
    """How many LPs :func:`tighten` would solve (two per unstable unit)."""
    first, stop = _tightened_layers(layers, target)
    return 2 * sum(int(np.sum((bounds[i][0] < 0) & (bounds[i][1] > 0))) for i in range(first, stop))


def tighten_bounds(layers, target, R, bounds, solver, deadline):
    """Optimisation-based bound tightening: min / max every unstable pre-activation over the LP
    relaxation of the whole model (target rows included, so the bounds hold on the MIP's feasible
    set). Layer by layer from the bottom; the layers above are re-propagated after each.

    Returns ``(bounds, n_lps, infeasible)``; ``infeasible`` is True when HiGHS finds the relaxation
    itself infeasible.
    """
    n_lps = 0
    first, stop = _tightened_layers(layers, target)
    for i in range(first, stop):
        l, u = bounds[i]
        unst = np.flatnonzero((l < 0) & (u > 0))
        if unst.size == 0:
            continue
        enc = encode(layers, target, R, bounds, relax=True)
        enc.model.load_into(solver, integer=False)
        if enc.model.dropped:  # HiGHS would solve another model: its bounds would not hold; keep ours
            return bounds, n_lps, False
        prev = enc.z if i == 0 else enc.h[i - 1]
        L = layers[i]
        l, u = l.copy(), u.copy()
        for j in unst:
            for sign in (1.0, -1.0):
                left = None if deadline is None else deadline - time.perf_counter()
                if left is not None and left <= 0:
                    return bounds, n_lps, False
                solver.set_cost(prev, sign * L.weight[j], enc.model.ncol)
                sol = solver.run(left)
                n_lps += 1
                if sol.status == "infeasible":
                    return bounds, n_lps, True
                if sol.status != "optimal" or sol.x is None:
                    continue
                val = float(L.weight[j] @ sol.x[prev] + L.bias[j])
                margin = 1e-6 * (u[j] - l[j]) + 1e-9 * (abs(val) + 1.0)
                if sign > 0:
                    l[j] = max(l[j], val - margin)
                else:
                    u[j] = min(u[j], val + margin)
        bounds = list(bounds)
        bounds[i] = (l, u)
        bounds = propagate(layers, R, start=i + 1, pre=bounds)
    return bounds, n_lps, False
