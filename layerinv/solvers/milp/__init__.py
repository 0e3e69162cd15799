"""Exact inversion of a whole network as one mixed-integer LP (HiGHS MIP).

Where the layer-wise LPs stop (a layer's input is not unique, so the layer below may receive a
target outside its range), the joint problem over all layers is a mixed-integer LP: with ``z`` in a
box ``[-R, R]^k``, every pre-activation ``u = W h + b`` has sound bounds ``[l, U]`` from interval
arithmetic (:mod:`.bounds`), and a ReLU / LeakyReLU unit is encoded with one binary where its bounds
straddle 0 (:mod:`.encode`).

The observation enters as (``objective="exact"`` or ``"linf"`` with ``eps``) an interval on each
output pre-activation (the output activation is monotone, so ``|act(u) - x| <= delta`` is exactly
``act^-1(x - delta) <= u <= act^-1(x + delta)``; no binaries on the last layer), or (the min-norm
forms) ``|y - x| <= t`` / ``<= e_j`` with ``y = act(u)`` encoded like a hidden unit. Sigmoid and
tanh outputs are handled by logit / atanh: exactly for the interval forms (rounded outward), by a sound
outer relaxation for an l1 budget (:func:`.encode.relaxed_l1`: its infeasibility is a verdict about G),
and to first order (rows scaled by the activation's slope at x, as :mod:`layerinv.lp.system` does) for
the minimisations, whose status is then "approximate" with no lower bound claimed.

Modules: :mod:`.model` (columns, rows, the HiGHS object), :mod:`.bounds` (interval bounds and
bound tightening), :mod:`.encode` (big-M encoding), :mod:`.region` (the LP polish on a point's
linear region, scores, uniqueness), :mod:`.solve` (:func:`invert_milp`, :func:`milp_invert`),
:mod:`.scaling` (the rescaled copy and the map of its numbers back to the user's units),
:mod:`.ladder` (layer-wise above, MILP below), :mod:`.proof` (:class:`MILPProof`).

Internal entry points (options already validated): :func:`invert_milp` (the registry's) and
:func:`ladder` (auto's).
"""
from .ladder import ladder, milp_invert_prefix, milp_ladder
from .proof import MILPProof
from .solve import OBJECTIVES, invert_milp, milp_invert

__all__ = ["milp_invert", "milp_invert_prefix", "milp_ladder", "MILPProof", "OBJECTIVES", "invert_milp", "ladder"]
