"""``recover``: find z with ``A(G(z)) ~ y`` for a measurement operator ``A`` (see :mod:`layerinv.ops`).

Which methods each operator takes (``methods_for(op)`` returns the table):

======================  ====================================================================
operator                methods (``"auto"`` picks the first that applies)
======================  ====================================================================
``Identity``            those of :func:`layerinv.invert` (``recover`` hands the call over)
``Inpainting``          ``exact``, ``linf``, ``l1`` (layer-wise LPs on the observed rows),
                        ``gn``, ``pgd``, ``gd``; auto = exact, else linf + Gauss–Newton
other linear operators  ``gn`` (LP start + Gauss–Newton), ``pgd``, ``gd``; auto = gn
``PhaseRetrieval``      ``gn`` (sign pattern + Gauss–Newton, LP and random starts), ``gd``
                        (Hand, Leong & Voroninski 2018); auto = gn
======================  ====================================================================

Gauss–Newton on activation patterns (``gn``). On the region where no ReLU changes sign, G is
affine in z: ``G(z') = G(z) + J (z' - z)``. With the pattern fixed (and, for phase retrieval, the
signs ``s = sign(B G(z))``), ``min ||A(J z' + c) - y||^2 + lam ||z'||^2`` is a k×k least-squares
problem; each step solves it, then a backtracking line search on the true objective accepts the
move only if the objective decreases (a new pattern is read off at the new point). A start comes
from the layer-wise LP: ``invert(G, x0, "linf")`` for a back-projection ``x0`` of y (``A^T y`` and
``A^+ y``; for inpainting the LP on the observed rows itself; for phase retrieval ``±`` the
spectral estimate), then ``restarts`` more: z ~ N(0, I) drawn from ``rng``, or without ``rng`` a
deterministic quasi-random sample of N(0, I) (:func:`layerinv.polish.quasi_random_starts`). The
lowest objective wins; a start that fits y exactly (to 1e-10 relative, ``lam = 0``) ends the search.

Measured on random 20×250×600 nets (see the experiments): the layer-wise LP alone is a poor
projection for PGD (its ℓ∞ answers do not contract), with a Gauss–Newton polish PGD converges
linearly, and Gauss–Newton on the measurement objective itself reaches machine precision in
about ten iterations from an LP start, hence ``auto``.
"""
from __future__ import annotations

import time

import numpy as np

from ._checks import as_rng, check_choice, check_options, check_positive
from .invert import METHODS as _INVERT_METHODS, invert
from .kernels import full_rank
from .layerwise import layerwise
from .network import ReLUNet
from .ops import Identity, Inpainting, LinearOperator, Operator, PhaseRetrieval
from .polish import jacobian, quasi_random_starts
from .result import LayerRecord, Result

__all__ = ["recover", "methods_for"]

_LAYERWISE = {"exact": {"tol", "time_limit"},
              "linf": {"eps", "gap_tol", "time_limit"},
              "l1": {"eps", "gap_tol", "time_limit"}}
_GD = {"steps", "lr", "restarts", "lam", "rng", "init", "stop_rtol"}
_GN = {"steps", "restarts", "rng", "lam", "init", "time_limit"}
_PGD = {"steps", "step", "polish", "tol", "init", "time_limit"}

#: Defaults of the iterative methods: Gauss–Newton iterations per start, extra starts of gn
#: (none for inpainting, whose LP start suffices), pgd iterations and stopping tolerance.
GN_STEPS, GN_RESTARTS, PGD_STEPS, PGD_TOL = 50, 20, 50, 1e-6
#: A gn start whose fit ||op(G(z)) - y|| is below this fraction of ||y|| ends the search (lam = 0).
GN_EXACT = 1e-10


def methods_for(op):
    """The methods :func:`recover` accepts for operator ``op`` and the options each takes."""
    if isinstance(op, Identity):
        return dict(_INVERT_METHODS)
    if isinstance(op, Inpainting):
        return {**_LAYERWISE, "gn": _GN, "pgd": _PGD, "gd": _GD,
                "auto": _LAYERWISE["exact"] | _LAYERWISE["linf"] | _GN}
    if isinstance(op, LinearOperator):
        return {"gn": _GN, "pgd": _PGD, "gd": _GD, "auto": _GN}
    if isinstance(op, PhaseRetrieval):
        return {"gn": _GN, "gd": _GD, "auto": _GN}
    raise TypeError(f"op must be a layerinv.ops operator (Identity, Inpainting, GaussianCS, LinearOperator, "
                    f"PhaseRetrieval); got {type(op).__name__}.")


# ---------------------------------------------------------------------------------------------- checks
def _clean(G, op, method, options):
    o = dict(options)
    for name in ("tol", "step"):
        if name in o:
            o[name] = check_positive(o[name], name)
    for name in ("gap_tol", "lam"):
        if name in o:
            o[name] = check_positive(o[name], name, strict=False)
    for name in ("eps", "time_limit", "stop_rtol"):
        if name in o and o[name] is not None:
            o[name] = check_positive(o[name], name, strict=name != "eps")
    if "lr" in o:
        o["lr"] = check_positive(o["lr"], "lr")
    if "steps" in o:
        o["steps"] = check_positive(o["steps"], "steps", integer=True)
    if "restarts" in o:
        o["restarts"] = check_positive(o["restarts"], "restarts", integer=True, strict=method == "gd")
    if "polish" in o and not isinstance(o["polish"], bool):
        raise TypeError(f"polish must be True or False; got {o['polish']!r}.")
    if o.get("init") is not None:
        o["init"] = G.check_latent(o["init"], "init")
        if method != "gd" and o["init"].ndim != 1:
            raise ValueError(f"init must have shape ({G.k},) for method {method!r}; got {o['init'].shape}.")
    if "rng" in o:
        o["rng"] = as_rng(o["rng"])
    if method == "gd" and "rng" not in o:
        raise TypeError(f"recover(method='gd') on {type(op).__name__} needs rng= (an integer seed or "
                        "numpy.random.Generator) for its random starts; randomness is never drawn from a global seed.")
    return o


def _gn_restarts(op, o):
    """Extra starts of gn: ``restarts`` if given; else none for inpainting or with ``init``, else 20."""
    default = 0 if isinstance(op, Inpainting) or o.get("init") is not None else GN_RESTARTS
    return o.get("restarts", default)


# ---------------------------------------------------------------------------------------------- helpers
def _residual(G, op, z, y):
    if not np.all(np.isfinite(z)):
        return np.nan
    ny = float(np.linalg.norm(y))
    r = float(np.linalg.norm(op._apply(G(z)) - y))
    return r / ny if ny > 0 else r


def _objective(G, op, z, y, lam):
    r = op._apply(G(z)) - y
    return float(r @ r + lam * z @ z)


def _local_jacobian(G, op, z):
    """``(A(G(z)), d A(G(z)) / dz)``: shape (m,) and (m, k)."""
    x, J = jacobian(G, z)
    if isinstance(op, PhaseRetrieval):
        v, BJ = op.B._apply(x), op.B._apply(J.T).T
        s = np.where(v >= 0, 1.0, -1.0)
        return np.abs(v), s[:, None] * BJ
    return op._apply(x), op._apply(J.T).T


def _gauss_newton(G, op, y, z0, lam, max_iter, rtol=1e-12):
    """Gauss–Newton with backtracking line search on ``f(z) = ||op(G(z)) - y||^2 + lam ||z||^2``.

    Each step linearises ``op(G(.))`` at z on z's activation region (and, for phase retrieval, with
    the signs ``s = sign(B G(z))``), where it is exactly affine, and solves the k×k least-squares
    problem for the step ``d``: ``(J^T J + lam I) d = J^T (y - F) - lam z``; the step is halved until f
    decreases. Stops when no step lowers f or the decrease falls below ``rtol * f``.
    Returns ``(z, f, iterations)``; f never exceeds its value at z0.
    """
    z = np.array(z0, dtype=np.float64)
    f = _objective(G, op, z, y, lam)
    eye = np.eye(G.k)
    it = 0
    for it in range(1, max_iter + 1):
        F, J = _local_jacobian(G, op, z)
        gram = J.T @ J + lam * eye
        jitter = 1e-12 * max(float(np.trace(gram)), 1e-300) / G.k  # keeps a rank-deficient J solvable
        try:
            step = np.linalg.solve(gram + jitter * eye, J.T @ (y - F) - lam * z)
        except np.linalg.LinAlgError:
            break
        alpha, accepted = 1.0, False
        for _ in range(30):
            cand = z + alpha * step
            fc = _objective(G, op, cand, y, lam)
            if fc < f:
                accepted = True
                break
            alpha *= 0.5
        if not accepted:
            break
        decrease = f - fc
        z, f = cand, fc
        if decrease <= rtol * max(f, 1e-300) or f == 0.0:
            break
    return z, f, it


def _descend(G, op, y, z0, lam, steps):
    """One Gauss–Newton run from z0 (for phase retrieval also from the negation of its end point,
    Hand–Leong–Voroninski's check). Returns ``(z, f, iterations)``."""
    z, f, it = _gauss_newton(G, op, y, z0, lam, steps)
    if isinstance(op, PhaseRetrieval):
        zn, fn, itn = _gauss_newton(G, op, y, -z, lam, steps)
        if fn < f:
            return zn, fn, it + itn
    return z, f, it


def _spectral(op, y):
    """Spectral estimate of x for ``y = |B x|``: the top eigenvector of ``B^T diag(y^2) B`` scaled to
    ``||y||`` (for Gaussian B with N(0, 1/m) entries ``E ||B x||^2 = ||x||^2``)."""
    B = op.B.matrix
    M = (B.T * (y * y)) @ B
    if op.n <= 2048:
        v = np.linalg.eigh(M)[1][:, -1]
    else:  # power iteration, deterministic start
        v = np.ones(op.n) / np.sqrt(op.n)
        for _ in range(300):
            v = M @ v
            v /= max(np.linalg.norm(v), 1e-300)
    return float(np.linalg.norm(y)) * v


def _lp_starts(G, op, y, o):
    """Starting latents from the layer-wise LP: ``[(name, z, Result), ...]`` (only finite z)."""
    tl = {"time_limit": o["time_limit"]} if o.get("time_limit") is not None else {}
    if isinstance(op, Inpainting):
        cands = [("linf(observed rows)", lambda: layerwise(G, y, "linf", rows=op.rows, **tl))]
    elif isinstance(op, PhaseRetrieval):
        x0 = _spectral(op, y)
        cands = [(f"linf({s}spectral)", lambda s=s: invert(G, (1.0 if s == "+" else -1.0) * x0, "linf", **tl))
                 for s in "+-"]
    else:
        A = op.matrix
        cands = [("linf(A^T y)", lambda: invert(G, op._adjoint(y), "linf", **tl)),
                 ("linf(A^+ y)", lambda: invert(G, np.linalg.lstsq(A, y, rcond=None)[0], "linf", **tl))]
    out = []
    for name, fn in cands:
        res = fn()
        if np.all(np.isfinite(res.z)):
            out.append((name, res.z, res))
    return out


def _record(G, op, z, f, status, seconds, msg, method):
    unique = bool(np.all(np.isfinite(z)) and full_rank(_local_jacobian(G, op, z)[1]))
    return LayerRecord(0, G.k, G.n, 0, method, float(f), 0.0, status, unique, seconds, msg)


# ---------------------------------------------------------------------------------------------- methods
def _gn(G, op, y, o, starts=None):
    """Starts (``init``, else the LP starts, unless ``starts`` is given) plus random restarts, each
    followed by Gauss–Newton; the best objective wins."""
    t0 = time.perf_counter()
    lam, steps = o.get("lam", 0.0), o.get("steps", GN_STEPS)
    if starts is not None:
        starts = list(starts)
    elif o.get("init") is not None:
        starts = [("init", o["init"], None)]
    else:
        starts = _lp_starts(G, op, y, o)
    R = _gn_restarts(op, o)
    if "rng" in o:
        starts += [(f"random {r}", z0, None) for r, z0 in enumerate(o["rng"].standard_normal((R, G.k)))]
    else:
        starts += [(f"quasi-random {r}", z0, None) for r, z0 in enumerate(quasi_random_starts(G.k, R))]
    if not starts:
        return Result(np.full(G.k, np.nan), "failed", "no starting point: every layer-wise LP start failed "
                      "(pass rng= and restarts=R for random starts, or init=).", np.nan,
                      time.perf_counter() - t0, [], "gn")
    runs, best, ny = [], None, float(np.linalg.norm(y))
    for name, z0, _ in starts:
        f0 = _objective(G, op, z0, y, lam)
        z, f, it = _descend(G, op, y, z0, lam, steps)
        runs.append({"start": name, "objective_start": f0, "objective": f, "iterations": it})
        if best is None or f < best[1]:
            best = (z, f, it, name)
        if lam == 0 and f <= (GN_EXACT * ny) ** 2:
            break
    z, f, it, name = best
    status = "max_iter" if it >= steps and not isinstance(op, PhaseRetrieval) else "converged"
    seconds = time.perf_counter() - t0
    msg = (f"Gauss-Newton on activation patterns from {len(starts)} start(s) (lam {lam:g}); best from "
           f"{name}: ||A(G(z)) - y||^2 + lam||z||^2 = {f:.4g} after {it} iterations.")
    rec = _record(G, op, z, f, status, seconds, msg, "gn")
    lp = {n: r for n, _, r in starts if r is not None}
    return Result(z, status, msg, _residual(G, op, z, y), seconds, [rec], "gn", None,
                  {"objective": f, "runs": runs, "best_start": name, "lp": lp, "lam": lam})


def _pgd(G, op, y, o):
    """Projected gradient descent (Shah & Hegde 2018) with the layer-wise LP as projection:
    ``x <- P_G(x - eta A^T (A x - y))``, ``P_G(v) = G(z)``, ``z = invert(G, v, "linf").z`` then (with
    ``polish``) Gauss–Newton on ``||G(z) - v||^2``. A step that raises ``||A x - y||`` is undone and
    ``eta`` halved."""
    t0 = time.perf_counter()
    eta0 = o.get("step", 1.0)
    eta, steps, tol = eta0, o.get("steps", PGD_STEPS), o.get("tol", PGD_TOL)
    do_polish = o.get("polish", True)
    tl = {"time_limit": o["time_limit"]} if o.get("time_limit") is not None else {}
    if o.get("init") is not None:
        z = o["init"]
        x = G(z)
    else:
        z, x = np.full(G.k, np.nan), np.zeros(G.n)
    f = float(np.sum((op._apply(x) - y) ** 2))
    lp_failures, history, status, it = 0, [f], "max_iter", 0
    for it in range(1, steps + 1):
        v = x - eta * op._adjoint(op._apply(x) - y)
        proj = invert(G, v, "linf", **tl)
        zn = proj.z
        if not np.all(np.isfinite(zn)):
            lp_failures += 1
            zn = z if np.all(np.isfinite(z)) else None
        if zn is not None and do_polish:
            zn = _gauss_newton(G, Identity(G.n), v, zn, 0.0, GN_STEPS)[0]
        if zn is None:
            status = "failed"
            break
        xn = G(zn)
        fn = float(np.sum((op._apply(xn) - y) ** 2))
        if fn >= f and np.all(np.isfinite(z)):
            eta /= 2
            if eta < 1e-3 * eta0:
                status = "converged"
                break
            continue
        change = float(np.linalg.norm(xn - x))
        z, x, f = zn, xn, fn
        history.append(f)
        if change <= tol * max(float(np.linalg.norm(x)), 1e-300):
            status = "converged"
            break
    seconds = time.perf_counter() - t0
    if not np.all(np.isfinite(z)):
        return Result(np.full(G.k, np.nan), "failed", f"every projection failed ({lp_failures} LP failures).",
                      np.nan, seconds, [], "pgd", None, {"iterations": it})
    proj_name = "LP projection" + (" + Gauss-Newton polish" if do_polish else "")
    msg = (f"projected gradient descent, {it} iteration(s), {proj_name}, final step {eta:.3g}: "
           f"||A(G(z)) - y||^2 = {f:.4g}"
           + (f"; {lp_failures} LP projection(s) failed and kept the previous z" if lp_failures else "") + ".")
    rec = _record(G, op, z, f, status, seconds, msg, "pgd")
    return Result(z, status, msg, _residual(G, op, z, y), seconds, [rec], "pgd", None,
                  {"objective": f, "iterations": it, "step": eta, "history": history, "lp_failures": lp_failures})


def _gd(G, op, y, o):
    from .gd import _torch, gd_fit

    torch = _torch()
    o = dict(o)
    rng = o.pop("rng")
    res = gd_fit(G, y, rng, forward=op._torch_forward(torch, torch.float64),
                 negation_check=isinstance(op, PhaseRetrieval), **o)
    res.residual = _residual(G, op, res.z, y)
    return res


def _layerwise(G, op, y, method, o):
    opts = {k: v for k, v in o.items() if k in _LAYERWISE[method]}
    res = layerwise(G, y, method, rows=op.rows, **opts)
    res.residual = _residual(G, op, res.z, y)
    return res


def _auto(G, op, y, o):
    t0 = time.perf_counter()
    if not isinstance(op, Inpainting):
        res = _gn(G, op, y, o)
        res.message = "auto -> gn: " + res.message
        return res
    ex = _layerwise(G, op, y, "exact", o)
    steps = [("exact", ex.status, ex.seconds)]
    if ex.status == "exact":
        ex.info["steps"] = steps
        return ex
    lin = _layerwise(G, op, y, "linf", o)
    steps.append(("linf", lin.status, lin.seconds))
    if o.get("init") is not None:
        starts = [("init", o["init"], None)]
    else:
        starts = [("linf(observed rows)", lin.z, lin)] if np.all(np.isfinite(lin.z)) else []
    res = lin
    # besides the LP's answer, 8 quasi-random starts (as invert's auto): with few observed rows the
    # LP start alone can sit in a wrong activation region
    o_gn = o if "restarts" in o or o.get("init") is not None else dict(o, restarts=8)
    if starts or _gn_restarts(op, o_gn):
        res = _gn(G, op, y, o_gn, starts=starts)
        steps.append(("gn", res.status, res.seconds))
        res.layers = lin.layers + res.layers
        res.method = "linf+gn"
        res.message = f"exact: {ex.status} ({ex.message}) -> linf: {lin.status} -> gn: {res.message}"
    res.certificate = ex.certificate
    res.info["steps"] = steps
    res.info["exact"] = ex
    res.seconds = time.perf_counter() - t0
    return res


def _recover_one(G, op, y, method, o):
    if method in _LAYERWISE:
        return _layerwise(G, op, y, method, o)
    if method == "gn":
        return _gn(G, op, y, o)
    if method == "pgd":
        return _pgd(G, op, y, o)
    if method == "gd":
        return _gd(G, op, y, o)
    return _auto(G, op, y, o)


def recover(G, op, y, method="auto", **options):
    """Find a latent z with ``op(G(z)) ~ y``.

    Parameters
    ----------
    G : ReLUNet
        The generator, output size n.
    op : layerinv.ops.Operator
        The measurement operator (input size n): ``Identity``, ``Inpainting``, ``GaussianCS``,
        ``LinearOperator`` or ``PhaseRetrieval``.
    y : array_like, shape (m,) or (batch, m)
        The measurement(s).
    method : str
        See :func:`methods_for` for the methods of each operator:

        * ``"exact"``, ``"linf"``, ``"l1"`` (Inpainting): the layer-wise LPs of
          :func:`layerinv.invert` run on the observed rows of the last layer, then down the layers.
        * ``"gn"``: layer-wise LP start(s) (and ``restarts`` more), then Gauss–Newton inside
          activation regions on ``||op(G(z)) - y||^2 + lam ||z||^2`` (module docstring).
        * ``"pgd"`` (linear): projected gradient descent with the layer-wise LP projection.
        * ``"gd"``: the CSGM baseline, Adam on ``||op(G(z)) - y||^2 + lam ||z||^2`` (for phase
          retrieval with Hand–Leong–Voroninski's negation check).
        * ``"auto"``: Identity: :func:`layerinv.invert`'s auto; Inpainting: exact, else linf then gn;
          otherwise gn. ``Result.method`` and ``message`` say what ran.
    **options
        layer-wise: as :func:`layerinv.invert`. gn: ``steps`` (Gauss–Newton iterations per start,
        50), ``restarts`` (extra starts after the LP ones: 20, or 0 for inpainting and with
        ``init``), ``rng`` (draw them from N(0, I); without it they are a fixed quasi-random
        sample), ``lam`` (0), ``init`` (a start instead of the LP starts), ``time_limit`` (per LP).
        pgd: ``steps`` (50), ``step`` (eta, 1.0), ``polish`` (True), ``tol`` (stop when
        ``||x_new - x|| <= tol ||x||``, 1e-6), ``init``, ``time_limit``. gd: ``rng`` (required), ``steps`` (1000), ``lr`` (0.01), ``restarts`` (1),
        ``lam`` (0), ``init``, ``stop_rtol``. Unknown methods and options raise, listing the valid
        ones.

    Returns
    -------
    Result
        ``residual = ||op(G(z)) - y|| / ||y||`` (y-space). gn and pgd give one ``LayerRecord``
        (path ``"gn"``/``"pgd"``) whose ``unique`` says whether ``d op(G(z))/dz`` has full column
        rank at z (z locally identifiable).

    Examples
    --------
    >>> import numpy as np
    >>> from layerinv import ReLUNet
    >>> from layerinv.ops import GaussianCS
    >>> G = ReLUNet.random([5, 50, 200], rng=0)
    >>> z = np.random.default_rng(1).standard_normal(5)
    >>> op = GaussianCS(40, 200, rng=2)
    >>> res = recover(G, op, op(G(z)))
    >>> res.method, bool(np.allclose(res.z, z, atol=1e-6))
    ('gn', True)
    """
    if not isinstance(G, ReLUNet):
        raise TypeError(f"G must be a layerinv.ReLUNet (convert a torch model with ReLUNet.from_torch); "
                        f"got {type(G).__name__}.")
    if not isinstance(op, Operator):
        raise TypeError(f"op must be a layerinv.ops operator (Identity, Inpainting, GaussianCS, LinearOperator, "
                        f"PhaseRetrieval); got {type(op).__name__}.")
    if op.n != G.n:
        raise ValueError(f"op must act on G's output: op's input size is {op.n} but G's output size is {G.n}.")
    table = methods_for(op)
    check_choice(method, tuple(table), f"method (for {type(op).__name__})")
    check_options(options, table[method], f"recover(method={method!r}) on {type(op).__name__}")
    y = op.check_measurement(y)
    if isinstance(op, Identity):
        return invert(G, y, method, **options)
    o = _clean(G, op, method, options)
    if y.ndim == 1:
        return _recover_one(G, op, y, method, o)
    return Result.stack([_recover_one(G, op, yi, method, o) for yi in y])
