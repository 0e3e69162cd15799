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
from the layer-wise LP: ``linf`` on a back-projection ``x0`` of y (``A^T y`` and
``A^+ y``; for inpainting the LP on the observed rows itself; for phase retrieval ``±`` the
spectral estimate), then ``restarts`` more: z ~ N(0, I) drawn from ``rng``, or without ``rng`` a
deterministic quasi-random sample of N(0, I) (:func:`layerinv.solvers.gauss_newton.quasi_random_starts`). The
lowest objective wins; a start that fits y exactly (to 1e-10 relative, ``lam = 0``) ends the search.

Measured on random 20×250×600 nets (see the experiments): the layer-wise LP alone is a poor
projection for PGD (its ℓ∞ answers do not contract), with a Gauss–Newton refinement PGD converges
linearly, and Gauss–Newton on the measurement objective itself reaches machine precision in
about ten iterations from an LP start, hence ``auto``.
"""
from __future__ import annotations

from .invert import check_net, run_batch
from .ops import Identity, Operator
from .solvers import get_solver, names_for, options_doc

__all__ = ["recover", "methods_for"]


def methods_for(op):
    """The methods :func:`recover` accepts for operator ``op`` and the option names each takes."""
    _check_op(op)
    return {name: {o.name for o in get_solver(name, op=op).options} for name in names_for(op)}


def _check_op(op):
    if not isinstance(op, Operator):
        raise TypeError(f"op must be a layerinv.ops operator (Identity, Inpainting, GaussianCS, LinearOperator, "
                        f"PhaseRetrieval); got {type(op).__name__}.")


def recover(G, op, y, method="auto", *, n_jobs=None, batch_size=None, **options):
    """Find a latent z with ``op(G(z)) ~ y``.

    Parameters
    ----------
    G : ReLUNet
        The generator, output size n.
    op : layerinv.ops.Operator
        The measurement operator (input size n): ``Identity``, ``Inpainting``, ``GaussianCS``,
        ``LinearOperator`` or ``PhaseRetrieval``.
    y : array_like, shape (m,) or (batch, m)
        The measurement(s); a batch needs at least one row (an empty one raises ``ValueError``).
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
        Each method's options (generated from :data:`layerinv.solvers.SOLVERS`; Identity takes
        those of :func:`layerinv.invert`). Unknown methods and options raise, listing the valid ones:

@OPTIONS@

    n_jobs, batch_size : int, optional
        For a batch of measurements: chunks of ``batch_size`` (default 256) run on ``n_jobs``
        processes (joblib; see :func:`layerinv.invert`). Results do not depend on ``n_jobs``.

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
    check_net(G)
    _check_op(op)
    if op.n != G.n:
        raise ValueError(f"op must act on G's output: op's input size is {op.n} but G's output size is {G.n}.")
    solver = get_solver(method, op=op)
    y = op.check_measurement(y)  # refuses an empty batch too
    if isinstance(op, Identity):
        clean = solver.validate(options, f"recover(method={method!r}) on Identity", G)
        return run_batch(solver.invert, (G,), y, clean, method=method, n_jobs=n_jobs, batch_size=batch_size)
    clean = solver.validate(options, f"recover(method={method!r}) on {type(op).__name__}", G)
    return run_batch(solver.recover, (G, op), y, clean, method=method, n_jobs=n_jobs, batch_size=batch_size)


recover.__doc__ = recover.__doc__.replace("@OPTIONS@", options_doc("recover"))
