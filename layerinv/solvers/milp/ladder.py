"""The ladder: layer-wise where a layer's input is pinned, the MILP below (auto's exact rung), and
the MILP on a prefix of the network towards a hidden target."""
from __future__ import annotations

import numbers
import time

import numpy as np

from ...network import ReLUNet
from ...result import Result
from .._common import relative_residual
from ..layerwise import layerwise
from .model import subnet
from .solve import check_call, invert_milp

__all__ = ["ladder", "milp_ladder", "milp_invert_prefix"]

_NOT_PINNED = ("infeasible", "failed", "time_limit")


def _prefix(G, j, target, options):
    """:func:`invert_milp` on layers ``0..j`` towards ``target`` (options clean)."""
    res = invert_milp(subnet(G.layers[: j + 1]), target, **options)
    res.info["prefix"] = int(j)
    return res


def ladder(G, x, *, tol, box, time_limit, rows=None, exact=None):
    """:func:`milp_ladder` for one observation, options already validated (auto's internal entry).

    ``exact`` is the layer-wise exact :class:`Result` for ``x`` when the caller has it already
    (auto): it is reused, not recomputed.
    """
    t0 = time.perf_counter()

    def left():
        return None if time_limit is None else max(time_limit - (time.perf_counter() - t0), 1e-3)

    lw = layerwise(G, x, "exact", tol=tol, rows=rows, time_limit=left()) if exact is None else exact
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
        if rec.unique and rec.status not in _NOT_PINNED and rec.index == lowest - 1:
            lowest = rec.index
        else:
            break
    j = lowest - 1
    milp = dict(objective="exact", eps=None, tol=tol, box=box, tighten=False)
    if 0 <= j < G.depth - 1:
        up = layerwise(subnet(G.layers[j + 1:]), x, "exact", tol=tol, rows=rows, time_limit=left())
        steps.append((f"layerwise layers {j + 1}..{G.depth - 1}", up.status, up.seconds))
        if up.status == "exact":
            pre = _prefix(G, j, up.z, dict(milp, time_limit=left()))
            steps.append((f"milp layers 0..{j}", pre.status, pre.seconds))
            if pre.status == "exact":
                y = G.forward_unchecked(pre.z) if rows is None else G.forward_unchecked(pre.z)[rows]
                worst = float(np.max(np.abs(y - x)))
                delta = tol * float(np.max(np.abs(x))) if np.any(x) else tol
                if worst <= delta:
                    pre.residual = relative_residual(G, pre.z, x, rows)
                    pre.info.pop("prefix", None)
                    return finish(pre, f"ladder: layers {j + 1}..{G.depth - 1} layer-wise (their inputs are "
                                       f"unique), layers 0..{j} by MILP; max |G(z) - x| = {worst:.3g} <= "
                                       f"{delta:.3g}. ")
    full = invert_milp(G, x, rows=rows, **milp, time_limit=left())
    steps.append(("milp", full.status, full.seconds))
    return finish(full, f"layer-wise: {lw.status}; ")


def milp_ladder(G, x, *, rows=None, **options):
    """Exact inversion by the ladder: layer-wise where a layer's input is pinned, MILP below.

    1. The layer-wise exact method (``invert(G, x, method="exact")``); its ``"exact"`` and
       (certified) ``"infeasible"`` results are returned as they are.
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
    rows
        As for :func:`milp_invert`.
    **options
        ``tol``, ``box``, ``time_limit`` as for :func:`milp_invert` (``time_limit`` covers all steps).

    Returns
    -------
    Result
        The last step's result; ``info["ladder"]`` lists ``(step, status, seconds)``.
    """
    x, rows, clean = check_call(G, x, rows, options, "milp_ladder", names=("tol", "box", "time_limit"))
    opts = dict(clean, rows=rows)
    if x.ndim == 2:
        return Result.stack([ladder(G, xi, **opts) for xi in x])
    return ladder(G, x, **opts)


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
    sub = subnet(G.layers[: j + 1])
    target, rows, clean = check_call(sub, target, options.pop("rows", None), options, "milp_invert_prefix")
    if target.ndim == 2:
        return Result.stack([_prefix(G, j, t, dict(clean, rows=rows)) for t in target])
    return _prefix(G, j, target, dict(clean, rows=rows))
