"""Exact inversion of a whole network as one mixed-integer LP (HiGHS MIP).

Where the layer-wise LPs stop (a layer's input is not unique, so the layer below may receive a
target outside its range), the joint problem over all layers is a mixed-integer LP: with ``z`` in a
box ``[-R, R]^k``, every pre-activation ``u = W h + b`` has sound bounds ``[l, U]`` from interval
arithmetic, and a ReLU / LeakyReLU (slope ``s``) unit ``h = max(u, s u)`` is encoded by

* ``l >= 0`` (always active):   ``h = u``;
* ``U <= 0`` (always inactive): ``h = s u``;
* otherwise one binary ``d`` (1 = active) and the big-M rows
  ``h >= u,  h >= s u,  h <= u - (1 - s) l (1 - d),  h <= s u + (1 - s) U d``.

The observation enters as (``objective="exact"`` or ``"linf"`` with ``eps``) an interval on each
output pre-activation (the output activation is monotone, so ``|act(u) - x| <= delta`` is exactly
``act^-1(x - delta) <= u <= act^-1(x + delta)``; no binaries on the last layer), or (the min-norm
forms) ``|y - x| <= t`` / ``<= e_j`` with ``y = act(u)`` encoded like a hidden unit. Sigmoid and
tanh outputs are handled by logit / atanh: exactly for the interval forms, and to first order (rows
scaled by the activation's slope at x, as :mod:`layerinv.system` does) for the min-norm forms.

Every point HiGHS returns is polished by an LP over its linear region (``G`` is affine there) and
then checked by our own forward pass; statuses come from that check, never from HiGHS's word.
"Infeasible" is HiGHS's word: its branch-and-bound proof is not re-checked here, and the message
says so and names the box the proof covers.
"""
from __future__ import annotations

import contextlib
import numbers
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from ._checks import as_float_array, check_choice, check_positive
from .network import Layer, ReLUNet
from .result import LayerRecord, Result

__all__ = ["milp_invert", "milp_invert_prefix", "milp_ladder", "MILPProof", "OBJECTIVES"]

#: The problems :func:`milp_invert` solves.
OBJECTIVES = ("exact", "linf", "l1")

_U = np.finfo(np.float64).eps / 2
_FEAS_TOL = 1e-9       # HiGHS primal / MIP feasibility tolerance we ask for
_MIP_GAP = 1e-6        # relative MIP gap for the min-norm forms
_BOX_FACTOR = 4.0      # default box: this many times the layer-wise estimate's largest |z_i|
_INF = float("inf")


# ---------------------------------------------------------------------------------------- HiGHS
@contextlib.contextmanager
def _quiet_fd1():
    """Silence C-level stdout while a Highs object is built (HiGHS prints a banner)."""
    try:
        sys.stdout.flush()
        fd = os.dup(1)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(fd, 1)
        os.close(fd)


class _Solver:
    """One quiet ``highspy.Highs`` object of our own; every failure becomes a status string."""

    _STATUS = {"kOptimal": "optimal", "kInfeasible": "infeasible", "kUnboundedOrInfeasible": "infeasible",
               "kUnbounded": "unbounded", "kTimeLimit": "time_limit", "kIterationLimit": "time_limit",
               "kSolutionLimit": "time_limit", "kInterrupt": "time_limit", "kHighsInterrupt": "time_limit"}

    def __init__(self):
        import highspy

        self.hs = highspy
        with _quiet_fd1():
            self.h = highspy.Highs()
        self.h.setOptionValue("output_flag", False)

    def load(self, model, *, integer=True):
        hs, h = self.hs, self.h
        inf = hs.kHighsInf
        lp = hs.HighsLp()
        n, m = model.ncol, model.nrow
        lp.num_col_, lp.num_row_ = n, m
        lp.col_cost_ = model.cost
        lp.col_lower_ = np.where(np.isneginf(model.col_lo), -inf, model.col_lo)
        lp.col_upper_ = np.where(np.isposinf(model.col_hi), inf, model.col_hi)
        lp.row_lower_ = np.where(np.isneginf(model.row_lo), -inf, model.row_lo)
        lp.row_upper_ = np.where(np.isposinf(model.row_hi), inf, model.row_hi)
        start, index, value = model.csc()
        lp.a_matrix_.format_ = hs.MatrixFormat.kColwise
        lp.a_matrix_.start_ = start
        lp.a_matrix_.index_ = index
        lp.a_matrix_.value_ = value
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n, m
        if integer and np.any(model.integer):
            lp.integrality_ = [hs.HighsVarType.kInteger if b else hs.HighsVarType.kContinuous
                               for b in model.integer]
        h.clearModel()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("random_seed", 0)
        h.setOptionValue("primal_feasibility_tolerance", _FEAS_TOL)
        h.setOptionValue("dual_feasibility_tolerance", _FEAS_TOL)
        h.setOptionValue("mip_feasibility_tolerance", _FEAS_TOL)
        h.setOptionValue("mip_rel_gap", _MIP_GAP)
        h.setOptionValue("mip_abs_gap", 0.0)
        h.passModel(lp)

    def run(self, time_limit=None):
        """Solve the loaded model; returns (status, col values or None, info dict)."""
        h = self.h
        h.setOptionValue("time_limit", float(time_limit) if time_limit is not None else _INF)
        h.run()
        raw = h.modelStatusToString(h.getModelStatus())
        key = str(h.getModelStatus()).split(".")[-1]
        status = self._STATUS.get(key, "error")
        sol = h.getSolution()
        info = h.getInfo()
        x = np.array(sol.col_value) if sol.value_valid and len(sol.col_value) else None
        extra = {"raw": raw, "objective": float(info.objective_function_value),
                 "dual_bound": float(info.mip_dual_bound), "gap": float(info.mip_gap),
                 "nodes": int(info.mip_node_count)}
        return status, x, extra

    def set_cost(self, cols, costs, ncol):
        c = np.zeros(ncol)
        c[cols] = costs
        self.h.changeColsCost(ncol, np.arange(ncol, dtype=np.int32), c)


# ---------------------------------------------------------------------------------------- model
class _Model:
    """Columns and sparse rows ``row_lo <= A v <= row_hi`` collected block by block."""

    def __init__(self):
        self._cols = []   # (lo, hi, cost, integer) arrays
        self._rows = []   # (ri, ci, vals, lo, hi)
        self.ncol = 0
        self.nrow = 0

    def cols(self, lo, hi, cost=0.0, integer=False):
        lo = np.atleast_1d(np.asarray(lo, dtype=np.float64))
        hi = np.broadcast_to(np.asarray(hi, dtype=np.float64), lo.shape).copy()
        n = lo.size
        self._cols.append((lo, hi, np.broadcast_to(np.float64(cost), (n,)).copy() if np.ndim(cost) == 0
                           else np.asarray(cost, dtype=np.float64), np.full(n, bool(integer))))
        idx = np.arange(self.ncol, self.ncol + n)
        self.ncol += n
        return idx

    def rows(self, lo, hi, *terms):
        """Add m rows; each term is ``(cols, vals)``: ``cols`` (p,) shared by all rows with ``vals``
        (m, p), or ``cols`` (m,) with ``vals`` (m,) (one entry per row)."""
        lo, hi = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (lo, hi))
        m = max(lo.size, hi.size) if min(lo.size, hi.size) > 0 else 0
        if m == 0:
            return
        lo, hi = np.broadcast_to(lo, (m,)).copy(), np.broadcast_to(hi, (m,)).copy()
        r = np.arange(self.nrow, self.nrow + m)
        ri, ci, vs = [], [], []
        for cols, vals in terms:
            cols = np.asarray(cols)
            vals = np.asarray(vals, dtype=np.float64)
            if vals.ndim == 2:
                ri.append(np.repeat(r, cols.size))
                ci.append(np.tile(cols, m))
                vs.append(vals.ravel())
            else:
                ri.append(r)
                ci.append(cols)
                vs.append(np.broadcast_to(vals, (m,)))
        self._rows.append((np.concatenate(ri), np.concatenate(ci), np.concatenate(vs), lo, hi))
        self.nrow += m

    def _cat(self, k):
        return np.concatenate([c[k] for c in self._cols]) if self._cols else np.zeros(0)

    @property
    def col_lo(self):
        return self._cat(0)

    @property
    def col_hi(self):
        return self._cat(1)

    @property
    def cost(self):
        return self._cat(2)

    @property
    def integer(self):
        return self._cat(3).astype(bool)

    @property
    def row_lo(self):
        return np.concatenate([r[3] for r in self._rows]) if self._rows else np.zeros(0)

    @property
    def row_hi(self):
        return np.concatenate([r[4] for r in self._rows]) if self._rows else np.zeros(0)

    def csc(self):
        from scipy.sparse import coo_matrix

        if self._rows:
            ri = np.concatenate([r[0] for r in self._rows])
            ci = np.concatenate([r[1] for r in self._rows])
            vs = np.concatenate([r[2] for r in self._rows])
            keep = vs != 0
            A = coo_matrix((vs[keep], (ri[keep], ci[keep])), shape=(self.nrow, self.ncol)).tocsc()
        else:
            A = coo_matrix((self.nrow, self.ncol)).tocsc()
        A.sum_duplicates()
        return A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data.astype(np.float64)


# ---------------------------------------------------------------------------------------- bounds
def _slope(act):
    return act.slope if act.name == "leaky_relu" else 0.0


def _act_bounds(act, l, u):
    """Bounds on ``act(v)`` for ``v`` in ``[l, u]`` (ReLU / LeakyReLU; monotone)."""
    return act(l), act(u)


def _affine_bounds(L, lo, hi):
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


def _propagate(layers, R, start=0, pre=None):
    """Pre-activation bounds of every layer over ``z in [-R, R]^k``; layers below ``start`` keep
    ``pre``'s (possibly tightened) bounds, and every new bound is intersected with ``pre``'s."""
    k = layers[0].n_in
    lo, hi = np.full(k, -R), np.full(k, R)
    out = []
    for i, L in enumerate(layers):
        if pre is not None and i < start:
            l, u = pre[i]
        else:
            l, u = _affine_bounds(L, lo, hi)
            if pre is not None:
                l, u = np.maximum(l, pre[i][0]), np.minimum(u, pre[i][1])
        out.append((l, u))
        if i < len(layers) - 1:
            lo, hi = _act_bounds(L.activation, l, u)
    return out


# ---------------------------------------------------------------------------------------- target
@dataclass
class _Target:
    """What the output must satisfy: ``mode`` "box" (``lo <= u <= hi`` on the output pre-activation)
    or "norm" (``|y - x| <= t`` or ``<= e``; ``w`` scales rows for sigmoid/tanh)."""

    mode: str
    x: np.ndarray
    norm: str = "linf"          # for mode "norm": "linf" or "l1"
    budget: float | None = None  # eps for mode "norm" (feasibility), None = minimise
    lo: np.ndarray = None
    hi: np.ndarray = None
    ustar: np.ndarray = None    # sigmoid/tanh: act^-1(x) (clipped)
    w: np.ndarray = None        # sigmoid/tanh: activation slope at x
    empty: np.ndarray = None    # mode "box": entries whose interval misses the activation's range


def _inverse_interval(act, lo, hi):
    """``act^-1([lo, hi])`` elementwise for a monotone activation: ``(u_lo, u_hi, empty)``, where
    ``empty`` marks entries whose interval misses the activation's range altogether."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if act.name == "identity":
            return lo.copy(), hi.copy(), np.zeros(lo.shape, dtype=bool)
        if act.name == "relu":
            return np.where(lo > 0, lo, -np.inf), hi.copy(), hi < 0
        if act.name == "leaky_relu":
            s = act.slope
            return np.where(lo >= 0, lo, lo / s), np.where(hi >= 0, hi, hi / s), np.zeros(lo.shape, dtype=bool)
        if act.name == "sigmoid":
            a, b = 0.0, 1.0
            f = lambda p: np.log(p) - np.log1p(-p)  # noqa: E731
        else:  # tanh
            a, b = -1.0, 1.0
            f = np.arctanh
        empty = (hi <= a) | (lo >= b)
        ul = np.where(lo <= a, -np.inf, f(np.clip(lo, np.nextafter(a, b), np.nextafter(b, a))))
        uh = np.where(hi >= b, np.inf, f(np.clip(hi, np.nextafter(a, b), np.nextafter(b, a))))
        return ul, uh, empty


def _linearised(act, x):
    """``act^-1(x)`` (clipped into the range) and the activation's slope there (sigmoid / tanh)."""
    if act.name == "sigmoid":
        p = np.clip(x, 1e-12, 1 - 1e-12)
        return np.log(p) - np.log1p(-p), p * (1 - p)
    p = np.clip(x, -1 + 1e-12, 1 - 1e-12)
    return np.arctanh(p), 1 - p * p


# ---------------------------------------------------------------------------------------- encoding
@dataclass
class _Encoding:
    model: _Model
    z: np.ndarray
    h: list            # column indices of each hidden layer's output
    binaries: int
    unstable: list     # per layer: indices of units that carry a binary
    obj: np.ndarray = None


def _encode_unit_layer(model, L, prev, l, u, *, relax=False):
    """Columns ``h = act(W prev + b)`` for a ReLU / LeakyReLU layer with pre-activation bounds [l, u]."""
    act = L.activation
    s = _slope(act)
    W, b = L.weight, L.bias
    hl, hu = _act_bounds(act, l, u)
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
        model.rows(bu, _INF, (prev, -Wu), (hu_, 1.0))                       # h >= u
        if s > 0:
            model.rows(s * bu, _INF, (prev, -s * Wu), (hu_, 1.0))           # h >= s u
        model.rows(-_INF, bu - (1 - s) * lu, (prev, -Wu), (hu_, 1.0), (d, -(1 - s) * lu))  # h <= u - (1-s) l (1-d)
        model.rows(-_INF, s * bu, (prev, -s * Wu), (hu_, 1.0), (d, -(1 - s) * uu))         # h <= s u + (1-s) U d
    return h, unst


def _encode(layers, target, R, bounds, *, relax=False):
    """The whole network and the target as one model (binaries continuous in [0, 1] when ``relax``)."""
    model = _Model()
    k = layers[0].n_in
    zc = model.cols(np.full(k, -R), np.full(k, R))
    prev, hs, unstable, nbin = zc, [], [], 0
    for i, L in enumerate(layers[:-1]):
        prev, unst = _encode_unit_layer(model, L, prev, *bounds[i], relax=relax)
        hs.append(prev)
        unstable.append(unst)
        nbin += unst.size
    top = layers[-1]
    W, b = top.weight, top.bias
    enc = _Encoding(model, zc, hs, nbin, unstable)
    if target.mode == "box":
        model.rows(target.lo - b, target.hi - b, (prev, W))
        unstable.append(np.arange(0))
        return enc
    # min-norm forms: y = act(u) (sigmoid / tanh: weighted pre-activation residual)
    act = top.activation
    if act.name in ("relu", "leaky_relu"):
        y, unst = _encode_unit_layer(model, top, prev, *bounds[-1], relax=relax)
        enc.binaries += unst.size
        unstable.append(unst)
        terms_y, off, wgt = [(y, np.ones(y.size))], np.zeros(y.size), np.ones(y.size)
        xt = target.x
    else:
        unstable.append(np.arange(0))
        if act.name == "identity":
            wgt, xt = np.ones(top.n_out), target.x
        else:
            wgt, xt = target.w, target.w * target.ustar
        terms_y, off = [(prev, W * wgt[:, None])], wgt * b
    n = top.n_out
    if target.norm == "linf":
        t = model.cols(0.0, _INF if target.budget is None else target.budget,
                       cost=1.0 if target.budget is None else 0.0)
        tcol = np.full(n, t[0])
        model.rows(-_INF, xt - off, *terms_y, (tcol, -1.0))   # y - t <= x
        model.rows(xt - off, _INF, *terms_y, (tcol, 1.0))     # y + t >= x
        enc.obj = t
    else:
        e = model.cols(np.zeros(n), _INF, cost=1.0 if target.budget is None else 0.0)
        model.rows(-_INF, xt - off, *terms_y, (e, -1.0))
        model.rows(xt - off, _INF, *terms_y, (e, 1.0))
        if target.budget is not None:
            model.rows(-_INF, target.budget, (e, np.ones((1, n))))
        enc.obj = e
    return enc


# ---------------------------------------------------------------------------------------- tightening
def _tighten(layers, target, R, bounds, solver, deadline):
    """Optimisation-based bound tightening: min / max every unstable pre-activation over the LP
    relaxation of the whole model (target rows included, so the bounds hold on the MIP's feasible
    set). Layer by layer from the bottom; the layers above are re-propagated after each.

    Returns ``(bounds, n_lps, infeasible)``; ``infeasible`` is True when HiGHS finds the relaxation
    itself infeasible.
    """
    n_lps = 0
    n_layers = len(layers) if target.mode == "norm" and layers[-1].activation.name in ("relu", "leaky_relu") \
        else len(layers) - 1
    for i in range(n_layers):
        if i == 0 and target.mode == "norm":
            continue  # over the box alone, interval bounds of layer 0 are already exact
        l, u = bounds[i]
        unst = np.flatnonzero((l < 0) & (u > 0))
        if unst.size == 0:
            continue
        enc = _encode(layers, target, R, bounds, relax=True)
        solver.load(enc.model, integer=False)
        prev = enc.z if i == 0 else enc.h[i - 1]
        L = layers[i]
        l, u = l.copy(), u.copy()
        for j in unst:
            for sign in (1.0, -1.0):
                left = None if deadline is None else deadline - time.perf_counter()
                if left is not None and left <= 0:
                    return bounds, n_lps, False
                solver.set_cost(prev, sign * L.weight[j], enc.model.ncol)
                status, v, _ = solver.run(left)
                n_lps += 1
                if status == "infeasible":
                    return bounds, n_lps, True
                if status != "optimal" or v is None:
                    continue
                val = float(L.weight[j] @ v[prev] + L.bias[j])
                margin = 1e-6 * (u[j] - l[j]) + 1e-9 * (abs(val) + 1.0)
                if sign > 0:
                    l[j] = max(l[j], val - margin)
                else:
                    u[j] = min(u[j], val + margin)
        bounds = list(bounds)
        bounds[i] = (l, u)
        bounds = _propagate(layers, R, start=i + 1, pre=bounds)
    return bounds, n_lps, False


def _n_tighten_lps(layers, target, bounds):
    top = len(layers) if target.mode == "norm" and layers[-1].activation.name in ("relu", "leaky_relu") \
        else len(layers) - 1
    first = 1 if target.mode == "norm" else 0
    return 2 * sum(int(np.sum((bounds[i][0] < 0) & (bounds[i][1] > 0))) for i in range(first, top))


# ---------------------------------------------------------------------------------------- polish
def _region(layers, z):
    """Affine maps ``u_i = A_i z + c_i`` of every pre-activation on z's linear region, and the signs."""
    k = z.size
    A, c, h = np.eye(k), np.zeros(k), z
    out = []
    for i, L in enumerate(layers):
        Au, cu = L.weight @ A, L.weight @ c + L.bias
        u = L.affine(h)
        out.append((Au, cu, u))
        if i < len(layers) - 1:
            dsl = np.where(u >= 0, 1.0, _slope(L.activation))
            A, c, h = Au * dsl[:, None], cu * dsl, L.activation(u)
    return out


def _polish(layers, target, z0, R, solver, time_limit):
    """Best point on z0's linear region: min ||G(z) - x||_inf (or _1 for "l1") as an LP in z."""
    maps = _region(layers, z0)
    model = _Model()
    k = z0.size
    zc = model.cols(np.full(k, -R), np.full(k, R))
    for i, (A, c, u) in enumerate(maps[:-1]):
        on = u >= 0
        model.rows(-c[on], _INF, (zc, A[on]))       # stay active
        model.rows(-_INF, -c[~on], (zc, A[~on]))    # stay inactive
    A, c, u = maps[-1]
    act = layers[-1].activation
    x = target.x
    if act.name in ("relu", "leaky_relu"):
        on = u >= 0
        sl = np.where(on, 1.0, _slope(act))
        model.rows(-c[on], _INF, (zc, A[on]))
        model.rows(-_INF, -c[~on], (zc, A[~on]))
        M, off, xt = A * sl[:, None], c * sl, x
    elif act.name == "identity":
        M, off, xt = A, c, x
    else:
        ustar, w = _linearised(act, x)
        M, off, xt = A * w[:, None], c * w, w * ustar
    n = x.size
    if target.mode == "norm" and target.norm == "l1":
        e = model.cols(np.zeros(n), _INF, cost=1.0)
        model.rows(-_INF, xt - off, (zc, M), (e, -1.0))
        model.rows(xt - off, _INF, (zc, M), (e, 1.0))
    else:
        t = model.cols(0.0, _INF, cost=1.0)
        tc = np.full(n, t[0])
        model.rows(-_INF, xt - off, (zc, M), (tc, -1.0))
        model.rows(xt - off, _INF, (zc, M), (tc, 1.0))
    solver.load(model, integer=False)
    status, v, _ = solver.run(time_limit)
    if status != "optimal" or v is None:
        return None
    return np.clip(v[zc], -R, R)


# ---------------------------------------------------------------------------------------- results
@dataclass
class MILPProof:
    """HiGHS's proof that no ``z`` in ``[-box, box]^k`` meets the target (a description, not a
    certificate layerinv re-derives: branch and bound in floating point is HiGHS's word).

    ``check(G, x)`` solves the same MILP again and returns True when HiGHS again proves it
    infeasible; unlike :class:`layerinv.Certificate`, this is not an independent check.

    Attributes
    ----------
    box : float
        The proof covers ``z`` in ``[-box, box]^k`` only.
    k : int
    objective : str
        ``"exact"`` (``max |G(z) - x| <= delta``) or ``"linf"`` / ``"l1"`` (norm ``<= eps``).
    delta : float
        The absolute tolerance (exact) or budget eps the proof is about.
    nodes : int
        Branch-and-bound nodes HiGHS explored.
    binaries : int
        Binary variables of the MILP (unstable units).
    stage : str
        ``"mip"`` (branch and bound) or ``"relaxation"`` (an LP relaxation was already infeasible).
    """

    box: float
    k: int
    objective: str
    delta: float
    nodes: int
    binaries: int
    stage: str
    kind: str = "milp"
    independent: bool = False
    _args: dict = field(default_factory=dict, repr=False)

    @property
    def layer(self):
        return 0

    def describe(self):
        what = ("max |G(z) - x| <= %.3g" % self.delta if self.objective == "exact"
                else "||G(z) - x||_%s <= %.3g" % ("inf" if self.objective == "linf" else "1", self.delta))
        how = (f"its MIP solver (presolve and branch and bound: {self.nodes} nodes, {self.binaries} binaries)"
               if self.stage == "mip" else "an infeasible LP relaxation")
        return (f"HiGHS proved by {how} that no z in [−R, R]^k (R = {self.box:.4g}, k = {self.k}) has {what}; "
                f"this is HiGHS's word, not re-checked by layerinv.")

    def check(self, G=None, x=None):
        """Re-solve the MILP (HiGHS again); True when it is again proved infeasible."""
        G = self._args["G"] if G is None else G
        x = self._args["x"] if x is None else x
        args = {k: v for k, v in self._args.items() if k not in ("G", "x")}
        try:
            res = milp_invert(G, x, **args)
        except (TypeError, ValueError):
            return False
        return res.status == "infeasible"


def _forward(layers, z):
    h = z
    for L in layers:
        h = L.activation(L.affine(h))
    return h


def _scores(layers, x, z):
    if z is None or not np.all(np.isfinite(z)):
        return _INF, _INF
    r = _forward(layers, z) - x
    return float(np.max(np.abs(r), initial=0.0)), float(np.sum(np.abs(r)))


def _rank_ok(layers, z):
    """Whether z's linear region maps z injectively onto the output (full column rank)."""
    A, _, u = _region(layers, z)[-1]
    act = layers[-1].activation
    if act.name == "relu":
        A = A[u > 0]
    if A.shape[0] < A.shape[1]:
        return False
    s = np.linalg.svd(A, compute_uv=False)
    return bool(s.size and s[-1] > 1e-10 * s[0])


# ---------------------------------------------------------------------------------------- box
def _default_box(G, x, rows):
    """A generous box read off the data (a heuristic; the message states the R used):

    ``R = max(4 ||z_lw||_inf, 2 ||x - G(0)||_2 / g, 1)``, with ``z_lw`` the layer-wise ℓ∞ estimate and
    ``g`` the smallest positive gain ``||G(±e_i) - G(0)||_2`` over the 2k coordinate directions
    (``||x - G(0)|| / g`` estimates ``||z||_2 >= ||z||_inf``; for a bias-free ReLU net ``G`` is
    positively homogeneous, so the gain of z's own direction sets ``||z||_2`` exactly).
    """
    from .layerwise import layerwise

    def out(v):
        y = G(v)
        return y if rows is None else y[..., rows]

    try:
        zl = layerwise(G, x, "linf", rows=rows).z
    except Exception:  # an estimate only; never let it fail the call
        zl = None
    m = float(np.max(np.abs(zl), initial=0.0)) if zl is not None and np.all(np.isfinite(zl)) else 0.0
    k = G.k
    g0 = out(np.zeros(k))
    gains = np.linalg.norm(out(np.vstack([np.eye(k), -np.eye(k)])) - g0, axis=1)
    gains = gains[gains > 1e-12 * max(float(np.max(gains, initial=0.0)), 1e-300)]
    r2 = float(np.linalg.norm(x - g0) / np.min(gains)) if gains.size else 0.0
    R = max(_BOX_FACTOR * m, 2.0 * r2, 1.0)
    return R, (f"default box R = max({_BOX_FACTOR:g} x {m:.3g} (max|z_i| of the layer-wise linf estimate), "
               f"2 x {r2:.3g} (||x - G(0)|| / smallest gain of G along a coordinate), 1); pass box= to change it")


# ---------------------------------------------------------------------------------------- checks
def _check_rows(rows, n):
    if rows is None:
        return None
    arr = np.asarray(rows)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"rows must be a non-empty 1-D array of output row indices; got shape {arr.shape}.")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"rows must hold integers (output row indices); got dtype {arr.dtype}.")
    if arr.min() < 0 or arr.max() >= n:
        raise ValueError(f"rows must lie in [0, {n}) (G has {n} outputs); got values from {arr.min()} to {arr.max()}.")
    if np.unique(arr).size != arr.size:
        raise ValueError("rows must not repeat an index.")
    return arr.astype(np.intp)


def _check_args(G, x, objective, eps, box, time_limit, rows, tol, tighten):
    if not isinstance(G, ReLUNet):
        raise TypeError(f"G must be a layerinv.ReLUNet (convert a torch model with ReLUNet.from_torch); "
                        f"got {type(G).__name__}.")
    check_choice(objective, OBJECTIVES, "objective")
    rows = _check_rows(rows, G.n)
    n_obs = G.n if rows is None else rows.size
    x = as_float_array(x, "x", ndim=(1, 2))
    if x.shape[-1] != n_obs:
        where = "G's output" if rows is None else f"the {n_obs} observed rows"
        raise ValueError(f"x must have shape ({n_obs},) or (batch, {n_obs}) to match {where}; got {x.shape}.")
    if eps is not None:
        if objective == "exact":
            raise ValueError("eps is a noise budget for objective='linf' or 'l1'; objective='exact' uses tol.")
        eps = check_positive(eps, "eps", strict=False)
    box = check_positive(box, "box", allow_none=True)
    time_limit = check_positive(time_limit, "time_limit", allow_none=True)
    tol = check_positive(tol, "tol")
    if not isinstance(tighten, (bool, np.bool_)):
        raise TypeError(f"tighten must be True or False; got {tighten!r}.")
    return x, eps, box, time_limit, rows, tol


# ---------------------------------------------------------------------------------------- main
def milp_invert(G, x, *, objective="exact", eps=None, box=None, time_limit=None, rows=None, tol=1e-6,
                tighten=False):
    """Invert the whole network at once as a mixed-integer LP (HiGHS MIP).

    Problems solved over ``z`` in ``[-R, R]^k`` (the box is part of every claim):

    * ``objective="exact"``: find z with ``max_j |G(z)_j - x_j| <= delta``, ``delta = tol * max|x|``
      (``delta = tol`` when x = 0);
    * ``"linf"``: with ``eps``, find z with ``||G(z) - x||_inf <= eps``; without, minimise it;
    * ``"l1"``: with ``eps``, find z with ``||G(z) - x||_1 <= eps``; without, minimise it.

    Parameters
    ----------
    G : ReLUNet
        ReLU / LeakyReLU hidden layers; last layer ReLU, LeakyReLU, identity, sigmoid or tanh.
    x : array_like, shape (n,) or (batch, n)
        The observation (``(len(rows),)`` when ``rows`` is given); a batch is solved one by one.
    objective : {"exact", "linf", "l1"}
    eps : float, optional
        Noise budget for ``"linf"`` / ``"l1"`` (absolute, output units).
    box : float, optional
        R of the latent box. Default: ``max(4 * ||z_lw||_inf, 1)`` with ``z_lw`` the layer-wise ℓ∞
        estimate; ``Result.message`` and ``Result.info["milp"]["box"]`` state the R used.
    time_limit : float, optional
        Seconds for the whole call (bound tightening, MIP and polish).
    rows : array_like of int, optional
        Observed output rows (inpainting): only ``G(z)[rows]`` is matched to ``x``.
    tol : float
        Relative tolerance of ``"exact"`` (default 1e-6).
    tighten : bool
        Tighten the big-M bounds by LPs over the relaxation, target rows included (two LPs per
        unstable unit, at most half of ``time_limit``). Off by default: on the nets measured in
        docs/milp.md it cost more than it saved (HiGHS's own presolve and propagation do most of it).

    Returns
    -------
    Result
        ``status`` ``"exact"`` / ``"feasible"`` / ``"optimal"`` (z checked by our forward pass),
        ``"infeasible"`` (HiGHS's proof for the box, described by ``certificate``, a
        :class:`MILPProof`, or an independently checkable :class:`layerinv.Certificate` when entries of
        x lie outside the output activation's range), ``"time_limit"`` (best point found, if any)
        or ``"failed"``. ``info["milp"]`` holds the box, binaries, nodes and HiGHS's bounds.

    Examples
    --------
    >>> import numpy as np
    >>> from layerinv import ReLUNet
    >>> from layerinv.milp import milp_invert
    >>> G = ReLUNet.random([4, 8, 12], rng=0)
    >>> x = G(np.random.default_rng(1).standard_normal(4))
    >>> res = milp_invert(G, x)
    >>> res.status, bool(np.max(np.abs(G(res.z) - x)) <= 1e-6 * np.max(np.abs(x)))
    ('exact', True)
    """
    x, eps, box, time_limit, rows, tol = _check_args(G, x, objective, eps, box, time_limit, rows, tol, tighten)
    if x.ndim == 2:
        return Result.stack([_milp_one(G, xi, objective, eps, box, time_limit, rows, tol, tighten) for xi in x])
    return _milp_one(G, x, objective, eps, box, time_limit, rows, tol, tighten)


def milp_invert_prefix(G, j, target, **options):
    """Invert layers ``0..j`` of ``G`` towards a hidden target (the ladder's lower rungs).

    Parameters
    ----------
    G : ReLUNet
    j : int
        The target is the output of layer ``j`` (0 = first layer, fed by z); ``j = G.depth - 1`` is
        the whole network.
    target : array_like, shape (n_{j+1},)
        The required output of layer j, e.g. the input of layer ``j + 1`` recovered (uniquely) by
        the layer-wise method.
    **options
        As for :func:`milp_invert`.

    Returns
    -------
    Result
        As :func:`milp_invert`, for the sub-network ``layers[:j + 1]`` (``z`` of shape (k,)).
    """
    if not isinstance(G, ReLUNet):
        raise TypeError(f"G must be a layerinv.ReLUNet; got {type(G).__name__}.")
    if isinstance(j, bool) or not isinstance(j, numbers.Integral) or not 0 <= j < G.depth:
        raise ValueError(f"j must be a layer index in [0, {G.depth - 1}]; got {j!r}.")
    Ls = G.layers[: j + 1]
    sub = ReLUNet([L.weight for L in Ls], [L.bias for L in Ls], [L.activation.spec() for L in Ls])
    res = milp_invert(sub, target, **options)
    res.info["prefix"] = int(j)
    return res


def milp_ladder(G, x, *, tol=1e-6, box=None, time_limit=None, rows=None):
    """Exact inversion by the ladder: layer-wise where a layer's input is pinned, MILP below.

    1. The layer-wise exact method (:func:`layerinv.invert` ``method="exact"``); its ``"exact"``
       and (certified) ``"infeasible"`` results are returned as they are.
    2. Otherwise the top layers whose inputs it found unique pin the hidden vector ``h_j`` that any
       preimage must produce (``j`` = one below the lowest such layer); the MILP inverts layers
       ``0..j`` towards ``h_j`` (:func:`milp_invert_prefix`), and the full ``G(z) = x`` is
       re-checked by a forward pass.
    3. Where there is no unique top layer, the prefix MILP fails or finds no ``z`` (its tolerance is
       on ``h_j``, not on x), the whole network goes to :func:`milp_invert`.

    Parameters
    ----------
    G : ReLUNet
    x : array_like, shape (n,) or (batch, n)
    tol, box, time_limit, rows
        As for :func:`milp_invert` (``time_limit`` covers all steps).

    Returns
    -------
    Result
        The last step's result; ``info["ladder"]`` lists ``(step, status, seconds)``.
    """
    x, _, box, time_limit, rows, tol = _check_args(G, x, "exact", None, box, time_limit, rows, tol, False)
    if x.ndim == 2:
        return Result.stack([_ladder_one(G, xi, tol, box, time_limit, rows) for xi in x])
    return _ladder_one(G, x, tol, box, time_limit, rows)


def _ladder_one(G, x, tol, box, time_limit, rows):
    from .layerwise import layerwise, relative_residual

    t0 = time.perf_counter()

    def left():
        return None if time_limit is None else max(time_limit - (time.perf_counter() - t0), 1e-3)

    lw = layerwise(G, x, "exact", tol=tol, rows=rows, time_limit=left())
    steps = [("layerwise", lw.status, lw.seconds)]

    def finish(res, msg_prefix=""):
        res.info["ladder"] = steps
        res.message = msg_prefix + res.message
        res.seconds = time.perf_counter() - t0
        return res

    if lw.status == "exact" or (lw.status == "infeasible" and lw.certificate is not None):
        return finish(lw)
    lowest = G.depth
    for rec in lw.layers:  # top layer first
        if rec.unique and rec.status not in ("infeasible", "failed", "time_limit") and rec.index == lowest - 1:
            lowest = rec.index
        else:
            break
    j = lowest - 1
    if 0 <= j < G.depth - 1:
        Ls = G.layers[j + 1:]
        top = ReLUNet([L.weight for L in Ls], [L.bias for L in Ls], [L.activation.spec() for L in Ls])
        up = layerwise(top, x, "exact", tol=tol, rows=rows, time_limit=left())
        steps.append((f"layerwise layers {j + 1}..{G.depth - 1}", up.status, up.seconds))
        if up.status == "exact":
            pre = milp_invert_prefix(G, j, up.z, tol=tol, box=box, time_limit=left())
            steps.append((f"milp layers 0..{j}", pre.status, pre.seconds))
            if pre.status == "exact":
                y = G(pre.z) if rows is None else G(pre.z)[rows]
                worst = float(np.max(np.abs(y - x)))
                delta = tol * float(np.max(np.abs(x))) if np.any(x) else tol
                if worst <= delta:
                    pre.residual = relative_residual(G, pre.z, x, rows)
                    pre.info.pop("prefix", None)
                    return finish(pre, f"ladder: layers {j + 1}..{G.depth - 1} layer-wise (their inputs are "
                                       f"unique), layers 0..{j} by MILP; max |G(z) - x| = {worst:.3g} <= "
                                       f"{delta:.3g}. ")
    full = milp_invert(G, x, tol=tol, box=box, time_limit=left(), rows=rows)
    steps.append(("milp", full.status, full.seconds))
    return finish(full, f"layer-wise: {lw.status}; ")


def _target(act, x, objective, eps, tol):
    scale = float(np.max(np.abs(x), initial=0.0))
    if objective == "exact":
        delta = tol * scale if scale > 0 else tol
        lo, hi, empty = _inverse_interval(act, x - delta, x + delta)
        return _Target("box", x, lo=lo, hi=hi, empty=empty), delta
    if eps is not None and objective == "linf":
        lo, hi, empty = _inverse_interval(act, x - eps, x + eps)
        return _Target("box", x, lo=lo, hi=hi, empty=empty), eps
    tg = _Target("norm", x, norm=objective, budget=eps)
    if act.name in ("sigmoid", "tanh"):
        tg.ustar, tg.w = _linearised(act, x)
    return tg, eps


def _milp_one(G, x, objective, eps, box, time_limit, rows, tol, tighten):
    t0 = time.perf_counter()
    deadline = None if time_limit is None else t0 + time_limit
    layers = list(G.layers)
    if rows is not None:
        top = layers[-1]
        layers[-1] = Layer(top.weight[rows], top.bias[rows], top.activation)
    k, n_out = G.k, layers[-1].n_out
    act = layers[-1].activation
    target, delta = _target(act, x, objective, eps, tol)
    info = {"objective": objective, "delta": delta, "binaries": 0, "nodes": 0}

    def done(z, status, msg, *, cert=None, obj=np.nan, viol=np.nan, unique=False):
        from .layerwise import relative_residual

        info["seconds"] = time.perf_counter() - t0
        z = np.full(k, np.nan) if z is None else z
        active = int(np.sum(_forward(layers, z) > 0)) if (act.name == "relu" and np.all(np.isfinite(z))) else n_out
        rec = LayerRecord(0, k, n_out, active, "milp", obj, float(viol), status, bool(unique),
                          info["seconds"], msg)
        res = Result(z, status, msg, relative_residual(G, z, x, rows), info["seconds"], [rec], "milp", cert,
                     {"milp": info})
        return res

    # entries of x outside the output activation's range: an independent, checkable proof
    if target.mode == "box":
        bad = np.flatnonzero(target.empty)
        if bad.size:
            from .certificate import Certificate

            tols = [0.0] * G.depth
            tols[-1] = delta
            cert = Certificate(G.depth - 1, "range", tols, G, x, rows=bad, observed=rows)
            if not cert.check():
                cert = None
            what = "max |G(z) - x|" if objective == "exact" else "||G(z) - x||_inf"
            return done(None, "infeasible",
                        f"x is not in the range of G: {bad.size} entries of x lie outside the range of the "
                        f"output {act.name} by more than {delta:.3g} (e.g. entry {bad[0]} = {x[bad[0]]:.3g}), so "
                        f"no z at all has {what} <= {delta:.3g}.", cert=cert)

    if box is None:
        R, box_msg = _default_box(G, x, rows)
    else:
        R, box_msg = box, f"box R = {box:.4g} given by the caller"
    info.update(box=R, box_source=box_msg)
    try:
        solver = _Solver()
    except Exception as exc:  # pragma: no cover - highspy missing or broken
        return done(None, "failed", f"HiGHS could not be started ({type(exc).__name__}: {exc}).")

    def proof(stage, nodes, nbin):
        args = dict(objective=objective, eps=eps, box=R, time_limit=time_limit, rows=rows, tol=tol,
                    tighten=tighten, G=G, x=x)
        return MILPProof(R, k, objective, float(delta), nodes, nbin, stage, _args=args)

    what = ("max |G(z) - x| <= %.3g (tol %.3g x max|x|)" % (delta, tol) if objective == "exact"
            else "||G(z) - x||_%s <= %.3g" % ("inf" if objective == "linf" else "1", delta if delta is not None else 0))
    word = ("This is HiGHS's word (floating-point simplex and branch and bound, feasibility tolerance "
            f"{_FEAS_TOL:g}), not a proof re-checked by layerinv.")
    try:
        bounds = _propagate(layers, R)
        info["tighten_lps"] = 0
        if tighten and _n_tighten_lps(layers, target, bounds):
            ts = time.perf_counter()
            t_dead = None if time_limit is None else t0 + 0.5 * time_limit  # leave half for the MIP
            bounds, used, infeasible = _tighten(layers, target, R, bounds, solver, t_dead)
            info["tighten_lps"], info["tighten_seconds"] = used, time.perf_counter() - ts
            if infeasible:
                return done(None, "infeasible",
                            f"no z in [−R, R]^k (R = {R:.4g}, k = {k}) has {what}: HiGHS found the LP relaxation "
                            f"of the MILP infeasible. {word} {box_msg}.", cert=proof("relaxation", 0, 0))
        enc = _encode(layers, target, R, bounds)
        info.update(binaries=enc.binaries, rows=enc.model.nrow, cols=enc.model.ncol)
        solver.load(enc.model)
        left = None if deadline is None else max(deadline - time.perf_counter(), 1e-3)
        ts = time.perf_counter()
        status, v, extra = solver.run(left)
        info.update(highs_status=extra["raw"], nodes=extra["nodes"], dual_bound=extra["dual_bound"],
                    mip_seconds=time.perf_counter() - ts)
        z_mip = None if v is None else np.clip(v[enc.z], -R, R)
        if status == "infeasible":
            if target.mode == "norm" and target.budget is None:
                return done(None, "failed", f"HiGHS reported the minimisation infeasible ({extra['raw']}), "
                                            f"which cannot happen for a non-empty box; no claim about x.")
            return done(None, "infeasible",
                        f"no z in [−R, R]^k (R = {R:.4g}, k = {k}) has {what}: HiGHS proved the MILP infeasible "
                        f"({extra['nodes']} branch-and-bound nodes, {enc.binaries} binaries). {word} {box_msg}.",
                        cert=proof("mip", extra["nodes"], enc.binaries))
        if status not in ("optimal", "time_limit"):
            return done(None, "failed", f"HiGHS stopped with status {extra['raw']!r}; no claim about x.")
        # polish on the linear region and check with our own forward pass
        cands = [z_mip] if z_mip is not None else []
        if z_mip is not None:
            left = None if deadline is None else max(deadline - time.perf_counter(), 1.0)
            zp = _polish(layers, target, z_mip, R, solver, left)
            if zp is not None:
                cands.append(zp)
            if layers[-1].activation.name in ("relu", "leaky_relu", "identity"):
                # least squares on the region (Gauss-Newton): machine precision where the LP polish,
                # at HiGHS's tolerances, stops near 1e-7
                from .polish import polish

                net = ReLUNet([L.weight for L in layers], [L.bias for L in layers],
                              [L.activation.spec() for L in layers])
                cands.append(np.clip(polish(net, x, cands[-1], max_iter=10)[0], -R, R))
        col = 1 if (target.mode == "norm" and target.norm == "l1") else 0
        best, best_s = None, (_INF, _INF)
        for zc in cands:
            s = _scores(layers, x, zc)
            if s[col] < best_s[col]:
                best, best_s = zc, s
        linf, l1 = best_s
    except Exception as exc:  # never let a HiGHS / numerical traceback reach the user
        return done(None, "failed", f"the MILP could not be solved ({type(exc).__name__}: {exc}); no claim about x.")

    info["linf"], info["l1"] = linf, l1
    where = f"z in [−R, R]^k, R = {R:.4g}"
    if status == "time_limit":
        if best is None:
            return done(None, "time_limit",
                        f"HiGHS ran out of time ({extra['nodes']} nodes, {enc.binaries} binaries) with no point "
                        f"found and no proof: no claim about x ({where}; {box_msg}).")
        val = l1 if col else linf
        lb = extra["dual_bound"] if target.mode == "norm" and target.budget is None else np.nan
        msg = (f"HiGHS ran out of time ({extra['nodes']} nodes); best point found has ||G(z) - x||_inf = {linf:.3g}, "
               f"||G(z) - x||_1 = {l1:.3g} (recomputed)")
        if np.isfinite(lb):
            msg += f"; HiGHS's lower bound on the optimum over the box: {max(lb, 0.0):.3g}"
        return done(best, "time_limit", msg + f" ({where}; {box_msg}).", obj=(max(lb, 0.0), val)
                    if np.isfinite(lb) else val, viol=0.0)
    if best is None:
        return done(None, "failed", f"HiGHS reported {extra['raw']!r} but returned no point; no claim about x.")
    try:
        unique = _rank_ok(layers, best)
    except np.linalg.LinAlgError:
        unique = False
    uniq_msg = (" z's linear region maps it one-to-one (other regions may still hold preimages)." if unique
                else " z's linear region does not pin z: the preimage is not unique.")
    if target.mode == "box":
        ok = linf <= delta
        if objective == "exact":
            if not ok:
                return done(best, "failed", f"HiGHS returned a point that fails our check: max |G(z) - x| = "
                                            f"{linf:.3g} > {delta:.3g}; no claim about x.", obj=linf,
                            viol=linf - delta)
            return done(best, "exact", f"MILP preimage checked by a forward pass: max |G(z) - x| = {linf:.3g} "
                                       f"<= {delta:.3g} ({where}; {box_msg}).{uniq_msg}", obj=linf, viol=0.0,
                        unique=unique)
        if not ok:
            return done(best, "failed", f"HiGHS returned a point that fails our check: ||G(z) - x||_inf = "
                                        f"{linf:.3g} > eps = {delta:.3g}; no claim about x.", obj=linf,
                        viol=linf - delta)
        return done(best, "feasible", f"||G(z) - x||_inf = {linf:.3g} <= eps = {delta:.3g}, checked by a "
                                      f"forward pass ({where}; {box_msg}).{uniq_msg}", obj=linf, viol=0.0,
                    unique=unique)
    val = l1 if col else linf
    name = "||G(z) - x||_1" if col else "||G(z) - x||_inf"
    if target.budget is not None:
        if val > target.budget:
            return done(best, "failed", f"HiGHS returned a point that fails our check: {name} = {val:.3g} > "
                                        f"eps = {target.budget:.3g}; no claim about x.", obj=val,
                        viol=val - target.budget)
        return done(best, "feasible", f"{name} = {val:.3g} <= eps = {target.budget:.3g}, checked by a forward "
                                      f"pass ({where}; {box_msg}).{uniq_msg}", obj=val, viol=0.0, unique=unique)
    lb = max(extra["dual_bound"], 0.0)
    approx = (" For the sigmoid/tanh output the MILP minimised the residual to first order (rows scaled by the "
              "activation's slope at x); the value above is the true one." if act.name in ("sigmoid", "tanh") else "")
    obj = val if val - lb <= 1e-9 * max(val, 1.0) else (lb, val)
    return done(best, "optimal", f"min {name} over {where}: {val:.3g} (recomputed by a forward pass); HiGHS's "
                                 f"lower bound {lb:.3g} (relative gap tolerance {_MIP_GAP:g}; {box_msg}).{approx}"
                                 f"{uniq_msg}", obj=obj, viol=0.0, unique=unique)
