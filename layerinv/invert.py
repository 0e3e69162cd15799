"""``invert``: find z with G(z) ~ x, by the layer-wise LPs or the gradient-descent baseline."""
from __future__ import annotations

import time

import numpy as np

from ._checks import as_rng, check_choice, check_options, check_positive
from .layerwise import layerwise, relative_residual
from ._threads import one_blas_thread
from .network import ReLUNet
from .result import Result

__all__ = ["invert", "METHODS"]

_LAYERWISE_OPTS = {"exact": {"tol", "time_limit"},
                   "linf": {"eps", "gap_tol", "time_limit"},
                   "l1": {"eps", "gap_tol", "time_limit"}}
_GD_OPTS = {"steps", "lr", "restarts", "lam", "rng", "init", "stop_rtol"}
_MILP_OPTS = {"objective", "eps", "box", "time_limit", "tol", "tighten"}

#: Methods accepted by :func:`invert` and the options each one takes.
METHODS = {
    "exact": _LAYERWISE_OPTS["exact"],
    "linf": _LAYERWISE_OPTS["linf"],
    "l1": _LAYERWISE_OPTS["l1"],
    "gd": _GD_OPTS,
    "milp": _MILP_OPTS,
    "auto": {"tol", "gap_tol", "time_limit", "polish", "lam", "starts", "box", "milp_time_limit"},
}


def _check_common(options, method):
    clean = dict(options)
    if "tol" in clean:
        clean["tol"] = check_positive(clean["tol"], "tol")
    if "gap_tol" in clean:
        clean["gap_tol"] = check_positive(clean["gap_tol"], "gap_tol", strict=False)
    if "eps" in clean and clean["eps"] is not None:
        clean["eps"] = check_positive(clean["eps"], "eps", strict=False)
    if "time_limit" in clean and clean["time_limit"] is not None:
        clean["time_limit"] = check_positive(clean["time_limit"], "time_limit")
    if "steps" in clean:
        clean["steps"] = check_positive(clean["steps"], "steps", integer=True)
    if "restarts" in clean:
        clean["restarts"] = check_positive(clean["restarts"], "restarts", integer=True)
    if "lr" in clean:
        clean["lr"] = check_positive(clean["lr"], "lr")
    if "lam" in clean and not (clean["lam"] == "auto" and method == "auto"):
        clean["lam"] = check_positive(clean["lam"], "lam", strict=False)
    if "box" in clean and clean["box"] is not None:
        clean["box"] = check_positive(clean["box"], "box")
    if "milp_time_limit" in clean:
        clean["milp_time_limit"] = check_positive(clean["milp_time_limit"], "milp_time_limit")
    if "starts" in clean:
        clean["starts"] = check_positive(clean["starts"], "starts", strict=False, integer=True)
    if "polish" in clean and not isinstance(clean["polish"], bool):
        raise TypeError(f"polish must be True or False; got {clean['polish']!r}.")
    if "stop_rtol" in clean and clean["stop_rtol"] is not None:
        clean["stop_rtol"] = check_positive(clean["stop_rtol"], "stop_rtol")
    return clean


def _invert_one(G, x, method, opts):
    if method in _LAYERWISE_OPTS:
        return layerwise(G, x, method, **opts)
    if method == "milp":
        from .milp import milp_invert

        return milp_invert(G, x, **opts)
    if method == "gd":
        from .gd import gd_fit

        opts = dict(opts)
        rng = opts.pop("rng")
        init = opts.pop("init", None)
        res = gd_fit(G, x, rng, init=init, **opts)
        res.residual = relative_residual(G, res.z, x)
        return res
    # auto: exact, then linf where exact did not succeed
    t0 = time.perf_counter()
    steps = []
    ex = layerwise(G, x, "exact", **{k: v for k, v in opts.items() if k in _LAYERWISE_OPTS["exact"]})
    steps.append(("exact", ex.status, ex.seconds))
    if ex.status == "exact":
        ex.method = "exact"
        ex.info["steps"] = steps
        return ex
    if ex.status == "inconclusive":  # the layer-wise path lost uniqueness: MILP below the unique layers
        from .milp import milp_ladder

        lad = milp_ladder(G, x, tol=opts.get("tol", 1e-6), box=opts.get("box"),
                          time_limit=opts.get("milp_time_limit", 10.0))
        steps.append(("milp", lad.status, lad.seconds))
        if lad.status in ("exact", "infeasible"):
            lad.method = "milp"
            lad.info["steps"] = steps
            lad.seconds = time.perf_counter() - t0
            return lad
    lin = layerwise(G, x, "linf", **{k: v for k, v in opts.items() if k in _LAYERWISE_OPTS["linf"]})
    steps.append(("linf", lin.status, lin.seconds))
    lin.message = f"exact: {ex.status} ({ex.message}) -> linf: {lin.message}"
    lin.certificate = ex.certificate
    lin.info["exact"] = ex
    if opts.get("polish", True) and np.all(np.isfinite(lin.z)):
        from .polish import map_polish, quasi_random_starts

        t1 = time.perf_counter()
        n_starts = opts.get("starts", 8)
        starts = np.vstack([lin.z, quasi_random_starts(G.k, n_starts)])
        z, f, which, iters, lam = map_polish(G, x, starts, lam=opts.get("lam", "auto"))
        f0 = float(np.sum((G(lin.z) - x) ** 2) + lam * lin.z @ lin.z)
        steps.append(("polish", "converged", time.perf_counter() - t1))
        lin.info["polish"] = {"objective_before": f0, "objective_after": f, "iterations": iters, "lam": lam,
                              "starts": n_starts, "winner": "linf" if which == 0 else f"quasi-random start {which}"}
        lin.z = z
        lin.residual = relative_residual(G, z, x)
        lin.status = "converged" if lin.ok else lin.status
        lin.method = "linf+polish"
        lin.message += (f" -> polish (Gauss-Newton inside the activation regions from the linf answer and "
                        f"{n_starts} quasi-random starts, lam {lam:g}): ||G(z) - x||^2 + lam||z||^2 from {f0:.4g} "
                        f"(linf answer) to {f:.4g}, best from the {lin.info['polish']['winner']}.")
    lin.info["steps"] = steps
    lin.seconds = time.perf_counter() - t0
    return lin


def invert(G, x, method="auto", **options):
    """Find a latent z with ``G(z) ~ x``.

    Parameters
    ----------
    G : ReLUNet
        The generator (use ``ReLUNet.from_torch`` for a PyTorch ``nn.Sequential``).
    x : array_like, shape (n,) or (batch, n)
        The observation(s).
    method : {"auto", "exact", "linf", "l1", "milp", "gd"}
        * ``"exact"``: x = G(z) up to ``tol``. Per layer, rows with target above a threshold read
          off the data are equations, the others inequalities; one Cholesky least-squares solve when
          the equations pin the layer's input, HiGHS otherwise. If a layer has no solution, status
          ``"infeasible"`` with a checkable ``certificate``.
        * ``"linf"``: per layer ``min t`` s.t. ``|w_j h + b_j - a_j| <= t`` (active rows) and
          ``w_j h + b_j <= a_j + t`` (others); with ``eps`` the paper's fixed-ε feasibility form.
        * ``"l1"``: per layer ``min sum e_j`` with the same rows; with ``eps`` a budget ``sum e <= eps``.
        * ``"gd"``: CSGM baseline, Adam on ``||G(z) - x||^2 + lam ||z||^2`` (needs ``rng``).
        * ``"milp"``: the whole network as one mixed-integer LP (HiGHS) over a latent box
          ``[-box, box]^k``: a verified preimage where the layer-wise LPs stop (too few active
          units), or HiGHS's proof that none exists in the box; see :mod:`layerinv.milp`.
        * ``"auto"``: ``exact``; where it is inconclusive (a layer's input was not unique), the
          MILP ladder (layer-wise above, MILP below; ``milp_time_limit`` seconds, default 10);
          where exact fails (noise, x off the range), ``linf`` followed by a
          polish: Gauss–Newton on ``||G(z) - x||^2 + lam ||z||^2`` inside the activation regions,
          from the linf answer and from ``starts`` quasi-random points; it can only lower the fit
          (status ``"converged"``, ``method="linf+polish"``).
          ``Result.method`` says which ran; ``info["steps"]`` lists each step and its time.
    **options
        exact: ``tol`` (relative, default 1e-6: a layer's rows must hold within ``tol * max|a|``, where
        ``a`` is the layer's target; entries of x below ``-tol * max|x|`` put x outside a ReLU's range),
        ``time_limit`` (seconds per LP).
        linf / l1: ``eps`` (noise bound on x, absolute: the top layer is the paper's fixed-ε
        feasibility problem, the layers below, whose noise is unknown, minimise t / Σe), ``gap_tol`` (default
        1e-6: a certified bracket on a layer's optimum narrower than ``gap_tol * max|a|`` is
        accepted without an LP; 0 forces the LP), ``time_limit``.
        milp: ``objective`` ("exact", "linf", "l1"), ``eps``, ``box`` (latent box radius; default
        read off the data and stated in the message), ``time_limit`` (seconds for the whole MILP),
        ``tol``, ``tighten`` (LP bound tightening).
        auto: ``tol``, ``gap_tol``, ``time_limit`` as above, ``box``, ``milp_time_limit``,
        ``polish`` (default True), ``lam``
        (default ``"auto"``: the MAP estimate under z ~ N(0, I) with the noise variance estimated from
        the best fit, ``||G(z) - x||^2 / (n - k)``; 0 gives the plain least-squares fit), ``starts``
        (default 8: deterministic quasi-random starts polished besides the linf answer; the lowest
        objective wins, so the objective is never worse than at the linf answer).
        gd: ``rng`` (required), ``steps`` (1000), ``lr`` (0.01), ``restarts`` (1), ``lam`` (0),
        ``init`` (starting z), ``stop_rtol`` (early stop on relative loss decrease).
        Unknown options raise ``TypeError``.

    Returns
    -------
    Result
        ``z`` of shape (k,) (or (batch, k)), ``status``, ``residual = ||G(z) - x|| / ||x||``,
        per-layer records (top layer first) and, for ``"infeasible"``, a certificate.

    Examples
    --------
    >>> import numpy as np
    >>> from layerinv import ReLUNet, invert
    >>> G = ReLUNet.random([10, 100, 300], rng=0)
    >>> z = np.random.default_rng(1).standard_normal(10)
    >>> res = invert(G, G(z), method="exact")
    >>> res.status, bool(np.allclose(res.z, z))
    ('exact', True)
    """
    if not isinstance(G, ReLUNet):
        raise TypeError(f"G must be a layerinv.ReLUNet (convert a torch model with ReLUNet.from_torch); "
                        f"got {type(G).__name__}.")
    check_choice(method, tuple(METHODS), "method")
    check_options(options, METHODS[method], f"invert(method={method!r})")
    x = G.check_output(x)
    opts = _check_common(options, method)
    if method == "gd":
        if "rng" not in opts:
            raise TypeError("invert(method='gd') needs rng= (an integer seed or numpy.random.Generator) for its "
                            "random starts; randomness is never drawn from a global seed.")
        opts["rng"] = as_rng(opts["rng"])
        if "init" in opts and opts["init"] is not None:
            opts["init"] = G.check_latent(opts["init"], "init")
    with one_blas_thread():
        if x.ndim == 1:
            return _invert_one(G, x, method, opts)
        return Result.stack([_invert_one(G, xi, method, opts) for xi in x])
