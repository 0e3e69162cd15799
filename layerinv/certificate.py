"""Proofs that an observation is not in the range of a generator, checkable from G and x alone."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .kernels import full_rank, lstsq
from .network import Layer
from .system import build_system, dual_bound

__all__ = ["Certificate"]

_RANGES = {"relu": (0.0, np.inf), "sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}


def output_range_violations(act, a, delta):
    """Indices of entries of ``a`` outside the activation's range by more than ``delta``."""
    if act.name not in _RANGES:
        return np.arange(0)
    lo, hi = _RANGES[act.name]
    if act.name == "relu":
        return np.flatnonzero(a < lo - delta)
    return np.flatnonzero((a <= lo - delta) | (a >= hi + delta))


@dataclass
class Certificate:
    """A proof that no z reproduces x within a stated tolerance.

    Two kinds:

    * ``kind="range"``: some entries of x lie outside the output activation's range (e.g. below
      ``-tol`` for a ReLU output); ``rows`` lists them.
    * ``kind="dual"``: multipliers ``y_E`` (equation rows ``E``) and ``y_I >= 0`` (inequality rows
      ``I``) of layer ``layer``'s system give a lower bound ``bound > tol`` on the smallest ℓ∞
      violation any input h with ``||h||_inf <= radius`` can achieve (see
      :func:`layerinv.system.dual_bound`; rounding is bounded rigorously). For a layer below the top,
      the layers above are re-solved from x: their equation rows must have full column rank, so the
      layer's target is the unique one any exact preimage must produce.

    ``check()`` re-derives everything from ``G`` and ``x`` (the ones stored, or ones you pass) and
    returns True only if the proof holds; ``reason`` then says why not.

    Attributes
    ----------
    layer : int
        The layer that proves it (0 = first layer, fed by z).
    kind : str
    tol : list of float
        The per-layer tolerance: ``tol[i]`` is layer i's (absolute, in its output units).
    bound : float
        For ``"dual"``: the certified lower bound on the layer's violation (> ``tol[layer]``).
    radius : float
        For ``"dual"``: the proof covers every h with ``||h||_inf <= radius``.
    """

    layer: int
    kind: str
    tol: list
    G: object = field(repr=False)
    x: np.ndarray = field(repr=False)
    rows: np.ndarray = field(default=None, repr=False)
    E: dict = field(default_factory=dict, repr=False)  # layer -> equation rows used
    I: np.ndarray = field(default=None, repr=False)
    y_E: np.ndarray = field(default=None, repr=False)
    y_I: np.ndarray = field(default=None, repr=False)
    bound: float = np.nan
    radius: float = np.inf
    reason: str = ""
    observed: np.ndarray = field(default=None, repr=False)  # observed output rows (inpainting), or None

    def describe(self):
        """One sentence a person can read."""
        if self.kind == "range":
            return (f"{len(self.rows)} entries of the target of layer {self.layer} lie outside the range of its "
                    f"{self.G.layers[self.layer].activation.name} activation (tolerance {self.tol[self.layer]:.3g}).")
        return (f"layer {self.layer}: every input h with ||h||_inf <= {self.radius:.3g} violates the layer's "
                f"rows by at least {self.bound:.3g} > tolerance {self.tol[self.layer]:.3g}.")

    def check(self, G=None, x=None):
        """Re-verify the proof from ``G`` and ``x`` alone; True when it holds."""
        G = self.G if G is None else G
        x = self.x if x is None else np.asarray(x, dtype=np.float64)
        n_obs = G.n if self.observed is None else len(self.observed)
        if x.shape != (n_obs,) or not np.all(np.isfinite(x)):
            self.reason = f"x must be a single finite observation of shape ({n_obs},)."
            return False
        a = x
        for i in range(G.depth - 1, self.layer, -1):  # re-derive the unique target of self.layer
            L = self._layer(G, i)
            E = np.asarray(self.E.get(i, []), dtype=int)
            nonneg = i > 0 and G.layers[i - 1].activation.nonnegative
            delta = self.tol[i]
            if L.activation.name == "relu" and np.any(a[E] <= delta):
                self.reason = f"layer {i}: an equation row has target <= tol, so it may be inactive."
                return False
            if L.activation.name == "leaky_relu" and np.any(np.abs(a) <= delta):
                self.reason = f"layer {i}: a LeakyReLU target within tol of 0 leaves the row's slope open."
                return False
            system = build_system(L, a, -np.inf, nonneg) if L.activation.name != "relu" else _split(L, a, E, nonneg)
            if not full_rank(system.M_E):
                self.reason = f"layer {i}: the equation rows do not have full column rank (target not unique)."
                return False
            h, _ = lstsq(system.M_E, system.c_E)
            if nonneg:
                h = np.maximum(h, 0.0)
            if system.linf_value(h) > delta:
                self.reason = f"layer {i}: the target is not reproduced within tol, the chain does not hold."
                return False
            a = h
        L = self._layer(G, self.layer)
        delta = self.tol[self.layer]
        if self.kind == "range":
            bad = output_range_violations(L.activation, a, delta)
            ok = self.rows is not None and len(self.rows) > 0 and set(map(int, self.rows)) <= set(map(int, bad))
            self.reason = "" if ok else "the listed entries are not outside the activation's range."
            return bool(ok)
        nonneg = self.layer > 0 and G.layers[self.layer - 1].activation.nonnegative
        E = np.asarray(self.E.get(self.layer, []), dtype=int)
        if L.activation.name == "relu":
            if np.any(a[E] <= delta):
                self.reason = "an equation row has target <= tol, so the unit may be inactive."
                return False
            system = _split(L, a, E, nonneg)
        else:
            yE = np.where(np.abs(a) > delta, self.y_E, 0.0) if L.activation.name == "leaky_relu" else self.y_E
            if not np.array_equal(yE, self.y_E):
                self.reason = "a multiplier sits on a LeakyReLU row whose target is within tol of 0."
                return False
            system = build_system(L, a, -np.inf, nonneg)
        if self.y_E.shape != system.c_E.shape or self.y_I.shape != system.c_I.shape:
            self.reason = "the multipliers do not match the layer's rows."
            return False
        bd = dual_bound(system, self.y_E, self.y_I, "linf", radius=self.radius)
        if not bd.value > delta:
            self.reason = f"the recomputed bound {bd.value:.3g} is not above the tolerance {delta:.3g}."
            return False
        self.reason = ""
        return True


    def _layer(self, G, i):
        L = G.layers[i]
        if i == G.depth - 1 and self.observed is not None:
            L = Layer(L.weight[self.observed], L.bias[self.observed], L.activation)
        return L


def _split(L, a, E, nonneg):
    """The ReLU layer system with the given equation rows (every other row an inequality)."""
    mask = np.zeros(L.n_out, dtype=bool)
    mask[E] = True
    thr = np.where(mask, -np.inf, np.inf)
    return build_system(L, a, thr, nonneg)


def fit_lower_bound(G, x, *, iters=8, time_limit=None):
    """A certified lower bound on ``min_z ||G(z) - x||_inf`` for a ReLU output layer.

    For any threshold ``s``: a z with ``||G(z) - x||_inf < s`` must have every unit with ``x_j > s``
    active, so the top layer's ℓ∞ system with those rows as equations has optimum ``t(s) <= ||G(z) - x||_inf``.
    Hence ``min_z ||G(z) - x||_inf >= min(t_lo(s), s)`` for every s, with ``t_lo`` the certified
    (dual) lower bound on ``t(s)``. ``t(s)`` does not increase with s, so the best s is found by
    bisection on ``t(s) = s``. Lower layers are relaxed away, so the bound holds whatever they are.

    Parameters
    ----------
    G : ReLUNet
        Its last activation must be ReLU.
    x : array_like, shape (n,)
    iters : int
        Bisection steps (each one LP).

    Returns
    -------
    bound : float
        No z has ``max_j |G(z)_j - x_j| < bound``.
    threshold : float
        The threshold s that gave it.
    """
    from .kernels import _solve_lp  # noqa: PLC0415 - one LP per bisection step

    x = G.check_output(x)
    if x.ndim != 1:
        raise ValueError(f"x must be a single observation of shape ({G.n},); got {x.shape}.")
    L = G.layers[-1]
    if L.activation.name != "relu":
        raise ValueError(f"fit_lower_bound needs a ReLU output layer; G's is {L.activation.name!r}.")
    nonneg = G.depth > 1 and G.layers[-2].activation.nonnegative
    lo, hi = 0.0, float(max(np.max(x), 0.0))
    best = (0.0, 0.0)
    for _ in range(iters):
        s = 0.5 * (lo + hi)
        out = _solve_lp(build_system(L, x, s, nonneg), "linf", time_limit, 1e-9)
        t_lo = out.lower if np.isfinite(out.lower) else 0.0
        cand = min(t_lo, s)
        if cand > best[0]:
            best = (cand, s)
        if out.status == "optimal" and out.objective > s:
            lo = s  # t(s) above s: a larger threshold relaxes more rows
        else:
            hi = s
    return best
