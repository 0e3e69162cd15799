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

from .lp import sparse
from .lp.kernels import lstsq, solve_exact, solve_linf
from .lp.system import _U, LayerSystem, build_system, dual_bound, layer_matrix, too_big
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

    def __setattr__(self, name, value):
        # x is stored as our own read-only copy, however it is set (constructor or later): the claim is
        # about this x, and the caller editing their array afterwards cannot change the proof.
        if name == "x" and value is not None:
            value = np.array(value, dtype=np.float64, copy=True)
            value.setflags(write=False)
        object.__setattr__(self, name, value)

    def describe(self):
        """One sentence a person can read: what is proven, for which tolerance."""
        raise NotImplementedError

    def check(self, G=None, x=None):
        """Re-verify the proof (from the stored ``G`` and ``x``, or the ones passed); True when it holds."""
        raise NotImplementedError

    def __str__(self):
        return self.describe()


# ------------------------------------------------------------------------------- rigorous claims
def _preimage(act, a, T):
    """Outward-rounded interval ``[lo, hi]`` holding every pre-activation u with ``|act(u) - a| <= T``
    (``-inf`` / ``inf`` where unbounded; an empty interval is ``[inf, -inf]``)."""
    rnd = 2 * _U * (np.abs(a) + T)  # rounding of a -/+ T
    lo_v, hi_v = a - T - rnd, a + T + rnd
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lo, hi, empty = act.inverse_interval(lo_v, hi_v)
        out = []
        for u, v, side in ((lo, lo_v, -1.0), (hi, hi_v, 1.0)):
            fin = np.isfinite(u)
            uf = np.where(fin, u, 0.0)
            d = np.maximum(act.derivative(uf), 1e-300)
            # evaluating act^-1: a few ulps of u, plus the argument's rounding magnified by 1 / act'(u)
            err = 8 * _U * (np.abs(uf) + (np.abs(v) + 1.0) / d)
            out.append(np.where(fin, u + side * err, u))
    lo, hi = out
    return np.where(empty, np.inf, lo), np.where(empty, -np.inf, hi)


def claim_system(L, a, T, nonneg):
    """The layer system whose ℓ∞ optimum is ``<= T`` for every input g with ``|act(W g + b) - a| <= T``
    (so a certified bound above ``T`` proves no such g exists). Two-sided rows are equations (for
    relu / identity ``W g + b ~ a``; otherwise rows scaled so that the pre-activation interval has
    half-width T), one-sided rows inequalities; rows that constrain nothing are left out.
    Also returns ``form``: per row, ``(||M_j||_1, |c_j|)`` for bounding the rounding in forming them."""
    W, b = L.weight, L.bias
    lo, hi = _preimage(L.activation, a, T)
    two = np.isfinite(lo) & np.isfinite(hi)
    up = ~np.isfinite(lo) & np.isfinite(hi)
    down = np.isfinite(lo) & ~np.isfinite(hi)
    E = np.flatnonzero(two)
    if L.activation.has_inactive_region or L.activation.is_identity:  # u ~ a itself: unscaled rows
        M_E, c_E = W[E], a[E] - b[E]
    else:
        m = 0.5 * (lo[E] + hi[E])
        e = 0.5 * (hi[E] - lo[E])
        e = e + 4 * _U * (np.abs(m) + e) + 1e-300
        f = T / e
        M_E, c_E = W[E] * f[:, None], (m - b[E]) * f
    Iu, Id = np.flatnonzero(up), np.flatnonzero(down)
    M_I = np.vstack([W[Iu], -W[Id]]) if Iu.size + Id.size else np.zeros((0, W.shape[1]))
    c_I = np.concatenate([hi[Iu] - b[Iu] - T, b[Id] - lo[Id] - T])
    system = LayerSystem(np.ascontiguousarray(M_E), c_E, M_I, c_I, E, np.concatenate([Iu, Id]), nonneg)
    return system


def _formation_error(system, T, R):
    """Bound on how much forming the rows in floating point can move any row's value at ||h||_inf <= R."""
    M = np.vstack([system.M_E, system.M_I])
    c = np.concatenate([system.c_E, system.c_I + T])
    if M.shape[0] == 0:
        return 0.0
    n = M.shape[1] + 4
    return float(np.max(4 * n * _U * (np.abs(M).sum(axis=1) * R + np.abs(c) + T)))


def carry(L, a, S, nonneg):
    """One step down the chain: a point h for the input of layer ``L`` and a rigorous bound ``s`` on
    ``||h - g||_inf`` for every input g whose output lies within ``S`` (ℓ∞) of ``a``.

    The rows whose pre-activation is pinned to an interval of half-width e_j (``|act(u) - a_j| <= S``)
    are weighted by ``1 / e_j``; h is their least-squares point, and with ``r`` its weighted residual,
    ``||h - g||_2 <= || |r| + 1 ||_2 / sigma_min`` of the weighted rows (rounding bounded). ``s`` is
    ``inf`` when those rows do not have full column rank (g is not pinned)."""
    W, b = L.weight, L.bias
    n = W.shape[1]
    lo, hi = _preimage(L.activation, a, S)
    rows = np.flatnonzero(np.isfinite(lo) & np.isfinite(hi))
    if rows.size < n:
        return None, np.inf
    m = 0.5 * (lo[rows] + hi[rows])
    e = 0.5 * (hi[rows] - lo[rows])
    e = e + 4 * _U * (np.abs(m) + e)
    e = np.maximum(e, 1e-300)
    w = 1.0 / e
    M = W[rows] * w[:, None]
    c = (m - b[rows]) * w
    sol = lstsq(M, c)
    if sol is None or not np.all(np.isfinite(sol[0])):
        return None, np.inf
    h = sol[0]
    with np.errstate(over="ignore", invalid="ignore"):
        r = W[rows] @ h + b[rows] - m  # unweighted residual, then its rounding
        rerr = (n + 4) * 2 * _U * (np.abs(W[rows]) @ np.abs(h) + np.abs(b[rows]) + np.abs(m))
        v = (np.abs(r) + rerr) * w * (1 + 4 * _U) + 1.0
        sv = np.linalg.svd(M, compute_uv=False)
        sig = sv[-1] - 8 * (M.shape[0] + n) * _U * sv[0] * (1 + 1e-6)
        if not (np.isfinite(sig) and sig > 0):
            return h, np.inf
        s = float(np.linalg.norm(v) * (1 + 4 * (rows.size + 2) * _U) / sig)
    if nonneg:
        h = np.maximum(h, 0.0)  # projection onto h >= 0, which holds g: the distance can only shrink
    return h, (s if np.isfinite(s) else np.inf)


def chain(G, x, atol, layer, observed=None):
    """The target of ``layer`` re-derived from x, and how far the true one may be from it.

    Returns ``(a, S)``: any z with ``||G(z) - x||_inf <= atol`` (on the observed rows) has layer
    ``layer``'s output within ``S`` of ``a`` (ℓ∞); ``S = inf`` when the layers above do not pin it."""
    a, S = x, float(atol)
    for i in range(G.depth - 1, layer, -1):
        L = _layer_of(G, i, observed)
        nonneg = i > 0 and G.layers[i - 1].activation.nonnegative
        a, S = carry(L, a, S, nonneg)
        if a is None or not np.isfinite(S):
            return a, np.inf
    return a, S


def _layer_of(G, i, observed):
    L = G.layers[i]
    if i == G.depth - 1 and observed is not None:
        L = Layer(L.weight[observed], L.bias[observed], L.activation)
    return L


def prove(G, x, layer, atol, *, rtol=None, observed=None, time_limit=None, dual=True):
    """Try to prove, at ``layer``, that no z has ``||G(z) - x||_inf <= atol`` (on the observed rows).
    ``dual=False``: only the range proof, which needs no dense rows of ``layer`` (a sparse one).

    Returns ``(certificate or None, S, a, outcome)``: ``S`` the allowance carried to the layer's
    target ``a``, ``outcome`` the layer's solve at tolerance S (its ``h`` is a point within the
    allowance when its status is ``"exact"``)."""
    a, S = chain(G, x, atol, layer, observed)
    if a is None or not np.isfinite(S):
        return None, S, a, None
    L = _layer_of(G, layer, observed)
    nonneg = layer > 0 and G.layers[layer - 1].activation.nonnegative
    tols = [np.nan] * G.depth
    tols[layer] = S
    bad = L.activation.outside_range(a, S)
    if bad.size:
        cert = LayerCertificate(layer, "range", tols, G, x, rows=bad, observed=observed, rtol=rtol, atol=atol)
        return (cert if cert.check() else None), S, a, None
    if not dual:  # the range proof only
        return None, S, a, None
    system = claim_system(L, a, S, nonneg)
    out = solve_exact(system, S, time_limit=time_limit)
    if out.status != "infeasible" or out.bound is None:
        return None, S, a, out
    # A dual bound holds for ||h||_inf <= radius only. Accepted as a proof about x only when it is global:
    # every input meeting the layer's equation rows within S lies inside the radius (pinned_radius), or
    # the bound does not depend on the radius at all (slack 0).
    Rg = pinned_radius(system, S)
    slack0 = not np.isfinite(out.bound.radius)
    if np.isfinite(Rg):
        R = max(Rg, out.bound.radius) if not slack0 else Rg
    else:
        R = out.bound.radius if not slack0 else 1e6 * max(1.0, float(np.max(np.abs(a))))
    bd = dual_bound(system, out.bound.y_E, out.bound.y_I, "linf", radius=R)
    cert = LayerCertificate(layer, "dual", tols, G, x, E={layer: system.E}, I=system.I, y_E=out.bound.y_E,
                            y_I=out.bound.y_I, bound=bd.value, radius=R, observed=observed, rtol=rtol,
                            atol=atol, pinned=bool(np.isfinite(Rg)))
    if not cert.check():
        if not np.isfinite(Rg):
            return None, S, a, out
        # the bound does not reach the pinned radius: the claim holds only within the bound's own radius
        R = out.bound.radius if not slack0 else 1e6 * max(1.0, float(np.max(np.abs(a))))
        cert = LayerCertificate(layer, "dual", tols, G, x, E={layer: system.E}, I=system.I, y_E=out.bound.y_E,
                                y_I=out.bound.y_I, bound=out.bound.value, radius=R, observed=observed,
                                rtol=rtol, atol=atol)
        return (cert if cert.check() else None), S, a, out
    return cert, S, a, out


def is_global(cert, out):
    """True when ``cert`` (from :func:`prove`, with its layer ``outcome``) is a claim about every z, not only
    those whose layer input lies within its radius: a range proof, a dual proof whose rows pin the layer's input
    inside the radius (``pinned``), or one whose bound does not depend on the radius (slack 0) on rows formed
    without rounding (relu / identity)."""
    if cert is None:
        return False
    if cert.kind != "dual" or getattr(cert, "pinned", False):
        return True
    if out is None or out.bound is None or np.isfinite(out.bound.radius):
        return False
    # slack 0: the bound holds at every radius, but only the rounding of the right-hand sides is then free of
    # the radius when the rows are W itself (relu / identity: claim_system does not scale them)
    act = cert.G.layers[cert.layer].activation
    return bool(act.has_inactive_region or act.is_identity)


def pinned_radius(system, T):
    """A rigorous R such that every h with ``|M_E h - c_E| <= T`` on every equation row (the exact rows, the
    computed ones differing by their formation rounding) has ``||h||_inf <= R``; ``inf`` when the equation rows
    do not have full column rank (or it cannot be shown).

    For any such h and any point h0: ``||h - h0||_2 <= (||M_E h0 - c_E||_2 + sqrt(m) (T + f)) / sigma`` with
    sigma a lower bound on the smallest singular value of M_E (half the computed one, less a rounding term)
    and f the formation rounding of a row at h (relative ``kappa`` of ``sum_k |M_jk| |h_k|`` plus that of c_j),
    solved as a fixed point in ``||h||_inf``."""
    M, c = system.M_E, system.c_E
    m, n = M.shape
    if m < n or n == 0 or not (np.isfinite(T) and T >= 0):
        return np.inf
    with np.errstate(over="ignore", invalid="ignore"):
        if not (np.all(np.isfinite(M)) and np.all(np.isfinite(c))):
            return np.inf
        sol = lstsq(M, c)
        h0 = sol[0] if sol is not None else np.linalg.lstsq(M, c, rcond=None)[0]  # any point will do
        if not np.all(np.isfinite(h0)):
            return np.inf
        sv = np.linalg.svd(M, compute_uv=False)
        sig = 0.5 * sv[-1] - 8 * (m + n) * _U * sv[0] * (1 + 1e-6)
        if not (np.isfinite(sig) and sig > 0):
            return np.inf
        absM = np.abs(M).sum(axis=1)
        kappa = 8 * (n + 4) * _U  # formation rounding of a row, relative to sum |M_jk| |h_k| (and |c_j|)
        r = M @ h0 - c
        rerr = (n + 4) * 2 * _U * (np.abs(M) @ np.abs(h0) + np.abs(c))
        rn = float(np.linalg.norm(np.abs(r) + rerr)) * (1 + 4 * (m + 2) * _U)
        fc = kappa * float(np.max(np.abs(c) + T, initial=0.0))
        A = float(np.max(np.abs(h0))) + (rn + np.sqrt(m) * (T + fc)) * (1 + 8 * _U) / sig
        B = np.sqrt(m) * kappa * float(np.max(absM)) * (1 + 8 * _U) / sig
        if not (np.isfinite(A) and B < 0.5):
            return np.inf
        R = A / (1 - B) * (1 + 16 * _U)
    return float(R) if np.isfinite(R) else np.inf


@dataclass
class LayerCertificate(Certificate):
    """A proof, checkable from G and x alone, that no z has ``||G(z) - x||_inf <= tol`` (the user-level claim, end to end).

    The tolerance is ``rtol * max|x|`` (``invert(method="exact")``'s ``tol``) or the absolute
    ``atol`` (``eps`` of ``linf``). A layer below the top never sees x: the proof re-derives its
    target from x (:func:`chain`) together with a rigorous bound S on how far the target of any such
    z can be from it (the error the layers above allow, carried through the smallest singular value
    of their pinned rows), and proves the layer's statement for every target within S.

    Two kinds:

    * ``kind="range"``: some entries of the layer's target lie outside its activation's range by
      more than S; ``rows`` lists them.
    * ``kind="dual"``: multipliers ``y_E`` (equation rows) and ``y_I >= 0`` (inequality rows) of the
      layer's system (:func:`claim_system`) give a lower bound above S on the smallest ℓ∞ violation any
      input h with ``||h||_inf <= radius`` can achieve (rounding bounded rigorously).

    ``check()`` re-derives everything from ``G`` and ``x`` (the ones stored, or ones you pass) and
    returns True only if the proof holds; ``reason`` then says why not.

    Attributes
    ----------
    layer : int
        The layer that proves it (0 = first layer, fed by z).
    kind : str
    tol : list of float
        ``tol[layer]`` is the allowance S on the layer's target the proof covers (absolute, in the
        layer's output units; for the top layer the user's tolerance).
    bound : float
        For ``"dual"``: the certified lower bound on the layer's violation (> ``tol[layer]``).
    radius : float
        For ``"dual"``: the proof covers every h with ``||h||_inf <= radius``.
    rtol, atol : float
        The user-level tolerance: relative to max|x| (``rtol``) or absolute (``atol`` when rtol is None).
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
    rtol: float = None
    atol: float = np.nan
    pinned: bool = False  # dual: every input meeting the layer's equation rows lies within radius (a global claim)

    def describe(self):
        """One sentence a person can read."""
        claim = (f"no z has ||G(z) - x||_inf <= {self._atol(self.x):.3g}"
                 + (f" (tol {self.rtol:g} x max|x|)" if self.rtol is not None else ""))
        if self.kind == "range":
            return (f"{claim}: {len(self.rows)} entries of the target of layer {self.layer} lie outside the range "
                    f"of its {self.G.layers[self.layer].activation.name} activation by more than "
                    f"{self.tol[self.layer]:.3g} (the error the layers above allow).")
        if self.pinned:
            return (f"{claim}: at layer {self.layer}, every input h meeting its equation rows lies within "
                    f"||h||_inf <= {self.radius:.3g} (they pin it), and every such input misses every target within "
                    f"{self.tol[self.layer]:.3g} of the re-derived one by at least {self.bound:.3g}.")
        inside = "z" if self.layer == 0 else f"z whose layer-{self.layer} input h has"
        region = f"{inside} ||{'z' if self.layer == 0 else 'h'}||_inf <= {self.radius:.3g}"
        return (f"{claim.replace('no z has', f'no {region} has', 1)} (a claim limited to that region): at layer "
                f"{self.layer}, every such input misses every target within {self.tol[self.layer]:.3g} of the "
                f"re-derived one by at least {self.bound:.3g}.")

    def _atol(self, x):
        if self.rtol is None:  # absolute; a certificate built without one states the top layer's tolerance
            return float(self.atol) if np.isfinite(self.atol) else float(self.tol[-1])
        scale = max(float(np.max(np.abs(x))), 1e-300)
        return self.rtol * scale

    def check(self, G=None, x=None):
        """Re-verify the user-level claim from ``G`` and ``x`` alone; True when it holds."""
        G = self.G if G is None else G
        x = self.x if x is None else np.asarray(x, dtype=np.float64)
        n_obs = G.n if self.observed is None else len(self.observed)
        if x.shape != (n_obs,) or not np.all(np.isfinite(x)):
            self.reason = f"x must be a single finite observation of shape ({n_obs},)."
            return False
        if not (0 <= self.layer < G.depth) or len(self.tol) != G.depth:
            self.reason = "the certificate's layer does not exist in this network."
            return False
        atol = self._atol(x)
        if not (np.isfinite(atol) and atol >= 0):
            self.reason = "the certificate states no finite tolerance."
            return False
        a, S = chain(G, x, atol, self.layer, self.observed)
        if a is None or not np.isfinite(S):
            self.reason = f"the layers above layer {self.layer} do not pin its target (rank deficient rows)."
            return False
        T = self.tol[self.layer]
        if not (T >= S):
            self.reason = (f"the proof covers targets within {T:.3g} of layer {self.layer}'s, but the layers above "
                           f"allow {S:.3g}.")
            return False
        L = _layer_of(G, self.layer, self.observed)
        if self.kind == "range":
            bad = L.activation.outside_range(a, T)
            ok = self.rows is not None and len(self.rows) > 0 and set(map(int, self.rows)) <= set(map(int, bad))
            self.reason = "" if ok else "the listed entries are not outside the activation's range."
            return bool(ok)
        nonneg = self.layer > 0 and G.layers[self.layer - 1].activation.nonnegative
        system = claim_system(L, a, T, nonneg)
        if self.y_E is None or self.y_I is None or self.y_E.shape != system.c_E.shape \
                or self.y_I.shape != system.c_I.shape:
            self.reason = (f"the multipliers do not match the layer's rows ({system.c_E.size} equation rows: those "
                           f"whose target is pinned to within {T:.3g}, plus {system.c_I.size} inequality rows); "
                           f"got {np.size(self.y_E)} and {np.size(self.y_I)}.")
            return False
        R = float(self.radius)
        if not (np.isfinite(R) and R > 0):
            self.reason = "the certificate's radius must be finite and positive."
            return False
        if self.pinned and not R >= pinned_radius(system, T):
            self.reason = (f"the certificate claims every input meeting layer {self.layer}'s equation rows lies within "
                           f"||h||_inf <= {R:.3g}, which the rows do not show.")
            return False
        bd = dual_bound(system, self.y_E, self.y_I, "linf", radius=R)
        need = T + _formation_error(system, T, R)
        if not bd.value > need:
            self.reason = f"the recomputed bound {bd.value:.3g} is not above the tolerance {need:.3g}."
            return False
        self.reason = ""
        return True


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
        Seconds per LP (HiGHS fallback). Above ``linear_maps.DENSE_LIMIT`` entries the top layer's LP is
        solved on sparse rows (:mod:`layerinv.lp.sparse`), with the same rigorous ``dual_bound``.

    Returns
    -------
    FitBound
        ``(bound, threshold, radius)``: no z has ``max_j |G(z)_j - x_j| < bound``.
    """
    if (x := G.check_output(x)).ndim != 1:
        raise ValueError(f"x must be a single observation of shape ({G.n},); got {x.shape}.")
    act = G.layers[-1].activation
    if not (act.has_inactive_region or act.is_identity):
        raise ValueError(f"fit_lower_bound needs a ReLU output layer (or an identity one); G's is {act.name!r}.")
    top = G.layers[-1]
    if why := (sparse.too_large(top) if too_big(top) else ""):
        raise ValueError(f"fit_lower_bound solves the top layer's LP, on sparse rows above linear_maps.DENSE_LIMIT "
                         f"entries; G's top layer ({top.n_out} x {top.n_in}) is too large: {why}.")
    return fit_lower_bound_unchecked(G, x, steps=steps, gap_tol=gap_tol, time_limit=time_limit)


def fit_lower_bound_unchecked(G, x, *, steps=8, gap_tol=0.0, time_limit=None):
    """:func:`fit_lower_bound` without validation (x a float64 array of shape (n,), G's output
    activation ReLU or identity), for internal callers such as ``compress``."""
    L = G.layers[-1]
    nonneg = G.depth > 1 and G.layers[-2].activation.nonnegative
    W = layer_matrix(L)  # dense, or CSR above linear_maps.DENSE_LIMIT (the same certified dual bound)

    def lower(s):  # certified lower bound on t(s), and its radius
        out = solve_linf(build_system(L, x, s, nonneg, W), gap_tol=gap_tol, time_limit=time_limit)
        radius = out.bound.radius if out.bound is not None else np.nan
        return (max(float(out.lower), 0.0) if np.isfinite(out.lower) else 0.0), radius

    # outputs live in the activation's range: an entry outside it is missed by its distance to it, for every z
    r_lo, r_hi = L.activation.range
    gap = float(max(np.max(r_lo - x, initial=0.0), np.max(x - r_hi, initial=0.0), 0.0))
    if not L.activation.has_inactive_region:  # every row is an equation: one LP
        bound, radius = lower(-np.inf)
        return FitBound(bound, np.nan, radius) if bound >= gap else FitBound(gap, np.nan, np.inf)
    lo, hi = 0.0, float(max(np.max(x), 0.0))
    best = FitBound(gap, np.nan, np.inf)
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
