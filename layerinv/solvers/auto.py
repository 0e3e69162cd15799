"""``method="auto"``: exact where it succeeds, the MILP ladder where it is inconclusive, else ℓ∞ + Gauss–Newton.

invert: the layer-wise exact pass; ``"exact"`` is returned as it is. ``"inconclusive"`` (a layer's
input was not unique) goes to the MILP ladder (layer-wise above, MILP below), which reuses that
exact pass; its ``"exact"`` / ``"infeasible"`` are returned. Otherwise (noise, x off the range) the
ℓ∞ pass, then Gauss–Newton inside the activation regions from its answer and from ``starts``
quasi-random points (:func:`.gn_batch.gauss_newton_map_many`: one stack over the starts, and in a
batch over all images of a chunk, :func:`polish_many`; the single path is its one-image case).

recover: for inpainting the same on the observed rows (exact, else linf then gn from the LP answer
and 8 quasi-random starts); for every other operator ``gn``.
"""
from __future__ import annotations

import time

import numpy as np

from ..ops import Inpainting
from ._common import all_dense, deadline, left, relative_residual
from .gauss_newton import default_restarts, quasi_random_starts, recover_gn
from .gn_batch import gauss_newton_map_many
from .layerwise import layerwise, layerwise_op
from .regions import invert_regions, layerwise_can_pin

__all__ = ["invert_auto", "invert_auto_unpolished", "polish_many", "Pending", "recover_auto"]


def invert_auto(G, x, *, tol, gap_tol, time_limit, polish, lam, starts, box, milp_time_limit):
    """``invert(method="auto")`` for one clean observation. ``time_limit`` covers the whole call."""
    res = invert_auto_unpolished(G, x, tol=tol, gap_tol=gap_tol, time_limit=time_limit, polish=polish, lam=lam,
                                 starts=starts, box=box, milp_time_limit=milp_time_limit)
    if isinstance(res, Pending):
        polish_many(G, x[None], [res], lam, starts, time_limit=time_limit)
        return res.result
    return res


class Pending:
    """An auto result waiting for its polish: ``result`` (the linf answer) and the ``seconds`` spent on
    it so far (counted against its ``time_limit``)."""

    def __init__(self, result, seconds):
        self.result, self.seconds = result, seconds


def invert_auto_unpolished(G, x, *, tol, gap_tol, time_limit, polish, lam, starts, box, milp_time_limit):
    """auto up to its polish: a final :class:`Result`, or a :class:`Pending` linf answer for
    :func:`polish_many` (which the batched path runs on all images of a chunk at once)."""
    if not all_dense(G) and not layerwise_can_pin(G):  # conv decoders: see solvers/regions.py
        res = invert_regions(G, x, tol=tol, time_limit=time_limit, lam=lam, starts=max(starts, 1), polish=polish,
                             prefix="auto -> Gauss-Newton in activation regions: ")
        res.method = "auto:" + res.method
        return res
    t0 = time.perf_counter()
    end = deadline(time_limit)
    steps = []
    ex = layerwise(G, x, "exact", tol=tol, time_limit=left(end))
    steps.append(("exact", ex.status, ex.seconds))
    if ex.status == "exact":
        ex.method = "exact"
        ex.info["steps"] = steps
        return ex
    if ex.status == "inconclusive":  # the layer-wise path lost uniqueness: MILP below the unique layers
        from .milp import ladder

        budget = milp_time_limit if end is None else min(milp_time_limit, left(end))
        lad = ladder(G, x, tol=tol, box=box, time_limit=budget, exact=ex)
        steps.append(("milp", lad.status, lad.seconds))
        if lad.status in ("exact", "infeasible"):
            lad.method = "milp"
            lad.info["steps"] = steps
            lad.seconds = time.perf_counter() - t0
            return lad
    lin = layerwise(G, x, "linf", gap_tol=gap_tol, time_limit=left(end))
    steps.append(("linf", lin.status, lin.seconds))
    lin.message = f"exact: {ex.status} ({ex.message}) -> linf: {lin.message}"
    lin.certificate = ex.certificate
    lin.info["exact"] = ex
    lin.info["steps"] = steps
    if polish and np.all(np.isfinite(lin.z)):
        return Pending(lin, time.perf_counter() - t0)
    lin.seconds = time.perf_counter() - t0
    return lin


def polish_many(G, X, pending, lam, n_starts, *, time_limit=None):
    """auto's polish of every :class:`Pending` (one per row of ``X``, shape (N, n)) at once: Gauss–Newton
    from each linf answer and ``n_starts`` quasi-random starts, all images and starts in one stack
    (:func:`.gn_batch.gauss_newton_map_many`); the best replaces ``result.z`` (in place; its objective
    is never worse than at the linf answer).

    ``time_limit`` (seconds per image, None: none) bounds the shared polish: it stops at now + the least
    time any of the images has left (``time_limit - pending.seconds``), so every image's reported
    seconds stays within its limit (up to one iteration). A polish cut that way returns the best point
    found so far with status ``"time_limit"``; which point that is depends on the timing, so such
    results are not reproducible."""
    t1 = time.perf_counter()
    end = None if time_limit is None else t1 + max(min(time_limit - p.seconds for p in pending), 0.0)
    qr = quasi_random_starts(G.k, n_starts)
    outs = gauss_newton_map_many(G, X, [np.vstack([p.result.z, qr]) for p in pending], lam=lam, deadline=end)
    each = (time.perf_counter() - t1) / max(len(pending), 1)
    for x, p, (z, f, which, iters, lam_i, cut) in zip(X, pending, outs):
        _finish(G, x, p, z, f, which, iters, lam_i, n_starts, each, cut)


def _finish(G, x, p, z, f, which, iters, lam, n_starts, seconds, cut=False):
    lin = p.result
    lin.info["steps"].append(("polish", "time_limit" if cut else "converged", seconds))
    f0 = float(np.sum((G.forward_unchecked(lin.z) - x) ** 2) + lam * lin.z @ lin.z)
    lin.info["polish"] = {"objective_before": f0, "objective_after": f, "iterations": iters, "lam": lam,
                          "starts": n_starts, "winner": "linf" if which == 0 else f"quasi-random start {which}"}
    lin.z = z
    lin.residual = relative_residual(G, z, x)
    lin.status = "converged" if lin.status in ("optimal", "feasible", "inconclusive") else lin.status
    if cut:
        lin.status = "time_limit"
    lin.method = "linf+polish"
    lin.message += (f" -> polish (Gauss-Newton inside the activation regions from the linf answer and "
                    f"{n_starts} quasi-random starts, lam {lam:g}): ||G(z) - x||^2 + lam||z||^2 from {f0:.4g} "
                    f"(linf answer) to {f:.4g}, best from the {lin.info['polish']['winner']}"
                    + (" (cut by time_limit: the best point found so far; depends on timing)." if cut else "."))
    lin.seconds = p.seconds + seconds  # in a batch: its own steps and its share of the stacked polish


def recover_auto(G, op, y, **o):
    """``recover(method="auto")`` for one clean measurement."""
    if not isinstance(op, Inpainting):
        res = recover_gn(G, op, y, **o)
        res.message = "auto -> gn: " + res.message
        return res
    if not all_dense(G) and not layerwise_can_pin(G):  # conv decoders: Gauss-Newton from quasi-random starts
        res = recover_gn(G, op, y, **{k: o[k] for k in ("steps", "restarts", "rng", "lam", "init", "time_limit")})
        res.message = ("auto -> gn from quasi-random starts (the layer-wise path cannot pin every layer of this "
                       "net): " + res.message)
        return res
    t0 = time.perf_counter()
    end = deadline(o["time_limit"])
    gn = {k: o[k] for k in ("steps", "restarts", "rng", "lam", "init")}
    ex = layerwise_op(G, op, y, "exact", tol=o["tol"], time_limit=left(end))
    steps = [("exact", ex.status, ex.seconds)]
    if ex.status == "exact":
        ex.info["steps"] = steps
        return ex
    lin = layerwise_op(G, op, y, "linf", eps=o["eps"], gap_tol=o["gap_tol"], time_limit=left(end))
    steps.append(("linf", lin.status, lin.seconds))
    if gn["init"] is not None:
        starts = [("init", gn["init"], None)]
    else:
        starts = [("linf(observed rows)", lin.z, lin)] if np.all(np.isfinite(lin.z)) else []
    res = lin
    # besides the LP's answer, 8 quasi-random starts (as invert's auto): with few observed rows the
    # LP start alone can sit in a wrong activation region
    if gn["restarts"] is None and gn["init"] is None:
        gn["restarts"] = 8
    if starts or default_restarts(op, gn["restarts"], gn["init"]):
        res = recover_gn(G, op, y, **gn, time_limit=left(end), starts=starts)
        steps.append(("gn", res.status, res.seconds))
        res.layers = lin.layers + res.layers
        res.method = "linf+gn"
        res.message = f"exact: {ex.status} ({ex.message}) -> linf: {lin.status} -> gn: {res.message}"
    res.certificate = ex.certificate
    res.info["steps"] = steps
    res.info["exact"] = ex
    res.seconds = time.perf_counter() - t0
    return res
