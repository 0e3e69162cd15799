"""Work on one point's linear region (where ``G`` is affine): the LP that polishes a MILP point,
the fit scores our own forward pass gives, and whether the region pins z."""
from __future__ import annotations

import numpy as np

from ..gauss_newton import region_maps
from .encode import output_rows
from .model import INF, Model


def region_lp(layers, target, z0, R, solver, time_limit):
    """Best point on z0's linear region: min ||G(z) - x||_inf (or _1 for "l1") as an LP in z."""
    maps = region_maps(layers, z0)
    model = Model()
    k = z0.size
    zc = model.cols(np.full(k, -R), np.full(k, R))
    act = layers[-1].activation
    for A, c, u in (maps if act.kinked else maps[:-1]):
        on = u >= 0
        model.rows(-c[on], INF, (zc, A[on]))       # stay active
        model.rows(-INF, -c[~on], (zc, A[~on]))    # stay inactive
    A, c, u = maps[-1]
    x = target.x
    if act.kinked:
        sl = np.where(u >= 0, 1.0, act.negative_slope)
        M, off, xt = A * sl[:, None], c * sl, x
    else:
        M, off, xt = output_rows(act, x, A, c)
    n = x.size
    if target.mode == "norm" and target.norm == "l1":
        slack = model.cols(np.zeros(n), INF, cost=1.0)
    else:
        slack = np.full(n, model.cols(0.0, INF, cost=1.0)[0])
    model.band(xt - off, [(zc, M)], slack)
    model.load_into(solver, integer=False)
    sol = solver.run(time_limit)
    if sol.status != "optimal" or sol.x is None:
        return None
    return np.clip(sol.x[zc], -R, R)


def scores(net, x, z):
    """``(||G(z) - x||_inf, ||G(z) - x||_1)`` by our own forward pass (inf for a missing z)."""
    if z is None or not np.all(np.isfinite(z)):
        return INF, INF
    r = net.forward_unchecked(z) - x
    return float(np.max(np.abs(r), initial=0.0)), float(np.sum(np.abs(r)))


def rank_ok(layers, z):
    """Whether z's linear region maps z injectively onto the output (full column rank)."""
    A, _, u = region_maps(layers, z)[-1]
    if layers[-1].activation.has_inactive_region:
        A = A[u > 0]
    if A.shape[0] < A.shape[1]:
        return False
    s = np.linalg.svd(A, compute_uv=False)
    return bool(s.size and s[-1] > 1e-10 * s[0])
