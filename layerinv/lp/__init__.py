"""The one-layer problem: rows and thresholds, certified brackets, interior-point and HiGHS solvers.

=================  ==============================================================================
``system``         :class:`LayerSystem` (equation rows E, inequality rows I, ``h >= 0``),
                   :func:`build_system`, the rigorous :func:`dual_bound` / :func:`residual_bound`
``kernels``        per-layer ``solve_exact`` / ``solve_linf`` / ``solve_l1`` (least-squares fast path,
                   then :func:`solve_layer_lp`: the interior point, HiGHS where it does not finish),
                   the HiGHS forms ``highs_linf`` / ``highs_l1``, ``lstsq``, ``full_rank``
``ipm``            the dense interior-point kernel ``ipm_linf`` / ``ipm_l1`` (operators in ``ipm_ops``)
``sparse``         layers above ``linear_maps.DENSE_LIMIT`` entries: sparse least squares and the
                   ℓ∞ / ℓ1 LPs in CSC form for HiGHS (the kernels dispatch to it on sparse rows)
``highs``          THE HiGHS wrapper (LP and MIP) with one status map onto ``layerinv.STATUSES``
``solution``       :class:`LayerSolution`, the one record every per-layer solve returns, and
                   :data:`LAYER_STATUSES`, every status it can carry
=================  ==============================================================================

Nothing here imports ``layerinv.solvers``, torch or matplotlib.
"""
from .solution import LAYER_STATUSES, LayerSolution
from .system import DualBound, LayerSystem, build_system, dual_bound

__all__ = ["LAYER_STATUSES", "LayerSolution", "DualBound", "LayerSystem", "build_system", "dual_bound"]
