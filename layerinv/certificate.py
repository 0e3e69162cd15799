"""Proofs that an observation is not in the range of a generator.

:class:`Certificate` is the base of every proof a :class:`~layerinv.Result` can carry; each says
what it proves (:meth:`~Certificate.describe`) and can be re-checked (:meth:`~Certificate.check`).
:class:`LayerCertificate` is the one layerinv re-derives from ``G`` and ``x`` alone (an output outside
the activation's range, or a dual bound on one layer's rows); the MILP method's proof
(``layerinv.solvers.milp``) is a subclass whose check re-runs HiGHS.

:func:`fit_lower_bound` certifies how close any ``G(z)`` can come to ``x`` in the ℓ∞ norm.
"""
from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass, field

import numpy as np

from .lp.kernels import full_rank, lstsq, solve_linf
from .lp.system import build_system, dual_bound
from .network import Layer

__all__ = ["Certificate", "LayerCertificate", "FitBound", "fit_lower_bound"]


class Certificate:
    """Base class of every proof that no z reproduces x within a stated tolerance.

    A subclass provides the attributes below (as fields or properties) and implements the two
    methods.

    Attributes
    ----------
    kind : str
        What kind of proof: ``"range"`` and ``"dual"`` (:class:`LayerCertificate`), ``"milp"``.
    layer : int
        The layer the proof is about (0 = the first layer, fed by z).
    independent : bool
        True (the default) when :meth:`check` re-derives the proof from ``G`` and ``x`` alone; False
        when it relies on a solver's word again (e.g. HiGHS's branch and bound).
    """

    independent = True

    def describe(self):
        """One sentence a person can read: what is proven, for which tolerance."""
        raise NotImplementedError

    def check(self, G=None, x=None):
        """Re-verify the proof (from the stored ``G`` and ``x``, or the ones passed); True when it holds."""
        raise NotImplementedError

    def __str__(self):
        return self.describe()


@dataclass
class LayerCertificate(Certificate):
    """A proof, checkable from G and x alone, that no z reproduces x within a stated tolerance.

    Two kinds:

    * ``kind="range"``: some entries of the layer's target lie outside its activation's range (e.g.
      below ``-tol`` for a ReLU output); ``rows`` lists them.
    * ``kind="dual"``: multipliers ``y_E`` (equation rows ``E``) and ``y_I >= 0`` (inequality rows
      ``I``) of layer ``layer``'s system give a lower bound ``bound > tol`` on the smallest ℓ∞
      violation any input h with ``||h||_inf <= radius`` can achieve (see
      :func:`layerinv.lp.system.dual_bound`; rounding is bounded rigorously). For a layer below the top,
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

    def __post_init__(self):  # its own read-only copy of x: later edits of the caller's array cannot change the proof
        self.x = np.array(self.x, dtype=np.float64, copy=True)
        self.x.setflags(write=False)

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
            act = L.activation
            if np.any(act.undetermined(a, delta)[E if act.has_inactive_region else slice(None)]):
                self.reason = (f"layer {i}: an equation row's target is within tol of the {act.name} kink, so "
                               "its linear piece (active or not, which slope) is open.")
                return False
            system = _split(L, a, E, nonneg) if act.has_inactive_region else build_system(L, a, -np.inf, nonneg)
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
            bad = L.activation.outside_range(a, delta)
            ok = self.rows is not None and len(self.rows) > 0 and set(map(int, self.rows)) <= set(map(int, bad))
            self.reason = "" if ok else "the listed entries are not outside the activation's range."
            return bool(ok)
        nonneg = self.layer > 0 and G.layers[self.layer - 1].activation.nonnegative
        E = np.asarray(self.E.get(self.layer, []), dtype=int)
        act = L.activation
        unsure = act.undetermined(a, delta)
        if act.has_inactive_region:
            if np.any(unsure[E]):
                self.reason = "an equation row has target <= tol, so the unit may be inactive."
                return False
            system = _split(L, a, E, nonneg)
        else:
            if np.any(unsure) and not np.array_equal(np.where(unsure, 0.0, self.y_E), self.y_E):
                self.reason = f"a multiplier sits on a {act.name} row whose target is within tol of its kink."
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


FitBound = namedtuple("FitBound", ["bound", "threshold", "radius"])
FitBound.__doc__ = """What :func:`fit_lower_bound` proves: no z has ``||G(z) - x||_inf < bound``; ``threshold`` is
the s that gave it; the LP's dual bound behind it covers layer inputs with ``||h||_inf <= radius``."""


def fit_lower_bound(G, x, *, steps=8, gap_tol=0.0, time_limit=None):
    """A certified lower bound on ``min_z ||G(z) - x||_inf`` for a ReLU or identity output layer.

    For any threshold ``s``: a z with ``||G(z) - x||_inf < s`` must have every unit with ``x_j > s``
    active, so the top layer's ℓ∞ system with those rows as equations (the others as inequalities
    ``W_j h + b_j <= x_j + t``) has optimum ``t(s) <= ||G(z) - x||_inf``. Hence
    ``min_z ||G(z) - x||_inf >= min(t_lo(s), s)`` for every s, with ``t_lo`` the certified (dual) lower
    bound on ``t(s)``. ``t(s)`` does not increase with s, so the best s is found by bisection on
    ``t(s) = s``. Lower layers are relaxed away, so the bound holds whatever they are. For an identity
    output layer the top layer is affine and one LP gives the bound (``threshold`` is NaN).

    Parameters
    ----------
    G : ReLUNet
        Its last activation must be ReLU or identity.
    x : array_like, shape (n,)
    steps : int
        Bisection steps (each one layer solve).
    gap_tol : float
        Absolute: accept the least-squares point of a step without an LP when its certified bracket
        on ``t(s)`` is this narrow (0: always solve the LP; see :func:`layerinv.lp.kernels.solve_linf`).
    time_limit : float, optional
        Seconds per LP (HiGHS fallback).

    Returns
    -------
    FitBound
        ``(bound, threshold, radius)``: no z has ``max_j |G(z)_j - x_j| < bound``.
    """
    x = G.check_output(x)
    if x.ndim != 1:
        raise ValueError(f"x must be a single observation of shape ({G.n},); got {x.shape}.")
    act = G.layers[-1].activation
    if not (act.has_inactive_region or act.is_identity):
        raise ValueError(f"fit_lower_bound needs a ReLU output layer (or an identity one); G's is {act.name!r}.")
    return fit_lower_bound_unchecked(G, x, steps=steps, gap_tol=gap_tol, time_limit=time_limit)


def fit_lower_bound_unchecked(G, x, *, steps=8, gap_tol=0.0, time_limit=None):
    """:func:`fit_lower_bound` without validation (x a float64 array of shape (n,), G's output
    activation ReLU or identity), for internal callers such as ``compress``."""
    L = G.layers[-1]
    nonneg = G.depth > 1 and G.layers[-2].activation.nonnegative

    def lower(s):  # certified lower bound on t(s), and its radius
        out = solve_linf(build_system(L, x, s, nonneg), gap_tol=gap_tol, time_limit=time_limit)
        radius = out.bound.radius if out.bound is not None else np.nan
        return (max(float(out.lower), 0.0) if np.isfinite(out.lower) else 0.0), radius

    if not L.activation.has_inactive_region:  # every row is an equation: one LP
        bound, radius = lower(-np.inf)
        return FitBound(bound, np.nan, radius)
    lo, hi = 0.0, float(max(np.max(x), 0.0))
    best = FitBound(0.0, 0.0, np.inf)
    for _ in range(steps if hi > 0 else 0):
        s = 0.5 * (lo + hi)
        t, radius = lower(s)
        if min(t, s) > best.bound:
            best = FitBound(min(t, s), s, radius)
        if t > s:
            lo = s  # t(s) above s: a larger threshold relaxes more rows
        else:
            hi = s
    return best
