"""``invert``: find z with G(z) ~ x, by the layer-wise LPs, the MILP or the gradient-descent baseline.

Validates once at the boundary (G, x, method, options), looks the method up in
:data:`layerinv.solvers.SOLVERS` and runs its internal entry point on each observation.
"""
from __future__ import annotations

from ._threads import one_blas_thread
from .network import ReLUNet
from .result import Result
from .solvers import get_solver, options_doc

__all__ = ["invert"]


def check_net(G):
    """Refuse anything but a :class:`ReLUNet` (the common first check of invert and recover)."""
    if not isinstance(G, ReLUNet):
        raise TypeError(f"G must be a layerinv.ReLUNet (convert a torch model with ReLUNet.from_torch); "
                        f"got {type(G).__name__}.")


def invert(G, x, method="auto", *, n_jobs=None, batch_size=None, **options):
    """Find a latent z with ``G(z) ~ x``.

    Parameters
    ----------
    G : ReLUNet
        The generator (use ``ReLUNet.from_torch`` for a PyTorch ``nn.Sequential``).
    x : array_like, shape (n,) or (batch, n)
        The observation(s); a batch needs at least one row (an empty one raises ``ValueError``).
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
          units), or HiGHS's proof that none exists in the box; see :mod:`layerinv.solvers.milp`.
        * ``"auto"``: ``exact``; where it is inconclusive (a layer's input was not unique), the
          MILP ladder (layer-wise above, MILP below; ``milp_time_limit`` seconds, default 10);
          where exact fails (noise, x off the range), Gauss–Newton inside the activation regions
          from ``starts`` quasi-random points (the fit), then on ``||G(z) - x||^2 + lam ||z||^2``
          from the best fit (MAP, ``lam`` the noise variance read off that fit), status
          ``"converged"``, ``method="gn+map"``; an exact pass's proof that x is not in the range
          stays attached. No LP runs on this route (``polish=False``: the ``linf`` answer instead).
          ``Result.method`` says which ran; ``info["steps"]`` lists each step and its time.
    **options
        Each method's options (generated from :data:`layerinv.solvers.SOLVERS`; unknown options
        raise ``TypeError`` listing the valid ones, bad values name the option, the rule and the
        value received):

@OPTIONS@

    n_jobs : int, optional
        For a batch: run its chunks on this many processes (joblib; -1: all cores, or all workers of a
        Dask cluster inside ``joblib.parallel_config(backend="dask")``). Default 1. Results do not
        depend on it.
    batch_size : int, optional
        For a batch: images per chunk (default 256). ``exact``, ``linf`` and ``auto`` solve the
        least-squares stage of a chunk's images in stacked linear algebra (:mod:`layerinv.lp.batched`);
        the images that need an LP or a certificate run one by one, and ``auto``'s Gauss–Newton polish
        runs on all of a chunk's remaining images and starts at once (:mod:`layerinv.solvers.gn_batch`).

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
    check_net(G)
    solver = get_solver(method)
    x = G.check_output(x)  # refuses an empty batch too
    clean = solver.validate(options, f"invert(method={method!r})", G)
    return run_batch(solver.invert, (G,), x, clean, method=method, n_jobs=n_jobs, batch_size=batch_size)


def run_batch(fn, args, x, clean, *, method=None, n_jobs=None, batch_size=None):
    """``fn(*args, xi, **clean)`` for one observation or each row of a batch, on one BLAS thread.

    A batch runs in chunks of ``batch_size`` rows on ``n_jobs`` processes (:mod:`layerinv.batch`);
    with ``method`` ``"exact"``, ``"linf"`` or ``"auto"`` and ``args == (G,)``, each chunk's
    least-squares stage is batched."""
    from .batch import check_parallel, invert_many

    n_jobs, batch_size = check_parallel(n_jobs, batch_size)
    if n_jobs != 1 and clean.get("rng") is not None:
        raise ValueError(f"n_jobs must be 1 with rng= (method {method!r}): random starts are drawn from one rng "
                         f"stream in order over the batch; got n_jobs={n_jobs}.")
    with one_blas_thread():
        if x.ndim == 1:
            return fn(*args, x, **clean)
        return Result.stack(invert_many(fn, args, x, clean, method, n_jobs, batch_size))


invert.__doc__ = invert.__doc__.replace("@OPTIONS@", options_doc("invert"))
