"""``method="auto"``: exact where it succeeds, the MILP ladder where it is inconclusive, else Gauss–Newton + MAP.

invert: the layer-wise exact pass; ``"exact"`` is returned as it is. ``"inconclusive"`` (a layer's
input was not unique) goes to the MILP ladder (layer-wise above, MILP below), which reuses that
exact pass; its ``"exact"`` / ``"infeasible"`` are returned. Otherwise (noise, x off the range)
Gauss–Newton inside the activation regions from ``starts`` quasi-random latents (the fit), then the
MAP refinement from the best fit (:func:`fit_then_map`; in a batch one stack over all images and
starts of a chunk, :func:`polish_many`; the single path is its one-image case). The exact pass's
infeasibility certificate, when it has one, stays attached (x is not in the range of G). No LP runs
on this route (measured: its LPs took about half of auto's time, and the layer-wise ℓ∞ answer as an
extra start changed the median z-error by 0-7% over 6 nets, most at low noise; docs/results.md, "Round
3"); ``polish=False`` returns the layer-wise ℓ∞ LP's answer instead.

recover: for inpainting the same on the observed rows (exact, else linf then gn from the LP answer
and 8 quasi-random starts); for every other operator ``gn``.
"""
from __future__ import annotations

import time

import numpy as np

from ..ops import Inpainting
from ..result import Result
from ._common import all_dense, deadline, left, relative_residual
from .gauss_newton import default_restarts, quasi_random_starts, recover_gn
from .gn_batch import gn_rows
from .layerwise import layerwise, layerwise_op
from .regions import invert_regions, layerwise_can_pin

__all__ = ["invert_auto", "invert_auto_unpolished", "polish_many", "fit_then_map", "Pending", "recover_auto"]


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
        res = invert_regions(G, x, tol=tol, time_limit=time_limit, lam=lam,
                             starts=starts, polish=polish,
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
    if not polish:  # the unrefined answer: the layer-wise linf LP's (certified per layer)
        lin = layerwise(G, x, "linf", gap_tol=gap_tol, time_limit=left(end))
        steps.append(("linf", lin.status, lin.seconds))
        lin.message = f"exact: {ex.status} ({ex.message}) -> linf (polish=False): {lin.message}"
        return _after_exact(lin, ex, steps, t0)
    res = Result(np.full(G.k, np.nan), "inconclusive", f"exact: {ex.status} ({ex.message})", np.nan, 0.0,
                 ex.layers, "gn+map", ex.certificate, {"exact": ex, "steps": steps})
    return Pending(res, time.perf_counter() - t0)


def polish_many(G, X, pending, lam, n_starts, *, time_limit=None):
    """auto's Gauss–Newton route for every :class:`Pending` (one per row of ``X``, shape (N, n)) at once,
    all images and starts in one stack (:func:`fit_then_map`); fills each ``result`` in place.

    ``n_starts`` quasi-random starts per image. ``time_limit`` (seconds per
    image, None: none) bounds the shared work: it stops at now + the least time any of the images has
    left (``time_limit - pending.seconds``), so every image's reported seconds stays within its limit (up
    to one iteration). A run cut that way returns the best point found so far with status
    ``"time_limit"``; which point that is depends on the timing, so such results are not reproducible."""
    t1 = time.perf_counter()
    end = None if time_limit is None else t1 + max(min(time_limit - p.seconds for p in pending), 0.0)
    S = max(int(n_starts), 1)
    outs = fit_then_map(G, X, quasi_random_starts(G.k, S), lam=lam, deadline=end)
    each = (time.perf_counter() - t1) / max(len(pending), 1)
    for x, p, out in zip(X, pending, outs):
        _finish(G, x, p, *out, S, each)


#: The fit phase (lam = 0) only estimates the noise and picks the MAP starts: it stops when a step gains
#: less than this fraction of the objective. The MAP phase runs from the ``KEEP`` best fits and stops at
#: ``MAP_RTOL``. Measured on the shipped and the paper's decoders (80 images, noise variance 0.01 and 0.3):
#: the same median z-error as running both phases to 1e-8, in about 60% of the time; MAP from 3 fits
#: instead of 1 lowers the paper decoder's median z-error at variance 0.3 from 0.377 to 0.337.
FIT_RTOL, KEEP, MAP_RTOL = 1e-3, 3, 1e-6
#: Gauss–Newton iterations per row in each phase (a MAP row that uses them all ends ``"max_iter"``).
STEPS = 20


def fit_then_map(G, X, starts, *, lam="auto", deadline=None):
    """Gauss–Newton fit of every image from every start (rows of ``starts``, shape (S, k); lam = 0, rtol
    :data:`FIT_RTOL`), then MAP Gauss–Newton (rtol :data:`MAP_RTOL`) from each image's :data:`KEEP` best
    fits with ``lam = ||G(z) - x||^2 / (n - k)`` of the best fit (``lam="auto"``) or the given float; the
    lowest MAP objective wins (ties: the better fit). Every row is computed on its own
    (:func:`.gn_batch.gn_rows`), so one image alone and the same image in a batch give the same bits.

    Returns a list of N tuples ``(z, f, winning_start, iterations, lam, fit, cut, capped)``: the MAP point,
    its objective, the index of the start whose fit won, total iterations, the lam used, the best fit's
    objective ``||G(z) - x||^2``, whether the deadline cut any of the image's rows, and whether the
    winning row used all :data:`STEPS` iterations (still decreasing: status ``"max_iter"``)."""
    with np.errstate(all="ignore"):  # a net whose outputs overflow gives f = inf / NaN: that image fails
        return _fit_then_map(G, np.asarray(X, dtype=np.float64), np.asarray(starts, dtype=np.float64), lam,
                             deadline)


def _fit_then_map(G, X, starts, lam, deadline):
    N, S, n = X.shape[0], starts.shape[0], X.shape[1]
    Y = np.broadcast_to(X[:, None, :], (N, S, n)).reshape(N * S, n)
    Z1, F1, I1, C1 = gn_rows(G, Y, np.tile(starts, (N, 1)), np.zeros(N * S), steps=STEPS, rtol=FIT_RTOL,
                             deadline=deadline)
    F1m = np.where(np.isfinite(F1), F1, np.inf).reshape(N, S)
    K = min(KEEP, S)
    order = np.argsort(F1m, axis=1, kind="stable")[:, :K]  # the K best fits of each image, ties in start order
    fit = F1m[np.arange(N), order[:, 0]]
    lams = fit / max(G.n - G.k, 1) if isinstance(lam, str) else np.full(N, float(lam))
    lams = np.where(np.isfinite(lams) & (lams > 0), lams, 0.0)
    rows = (order + S * np.arange(N)[:, None]).ravel()  # image i's candidates: rows i*K .. i*K + K - 1
    img = np.repeat(np.arange(N), K)
    go = np.flatnonzero(lams[img] > 0)
    Z2, F2 = Z1[rows].copy(), F1[rows].copy()
    I2, C2 = np.zeros(N * K, dtype=np.int64), np.zeros(N * K, dtype=bool)
    capped = I1[rows] >= STEPS  # the answer's last phase used its whole budget (no MAP: the fit's)
    if go.size:
        Z2[go], F2[go], I2[go], C2[go] = gn_rows(G, X[img[go]], Z2[go], lams[img[go]], steps=STEPS, rtol=MAP_RTOL,
                                                 deadline=deadline)
        capped[go] = I2[go] >= STEPS
    F2m = np.where(np.isfinite(F2), F2, np.inf).reshape(N, K)
    pick = np.argmin(F2m, axis=1)  # first of the lowest
    best = pick + K * np.arange(N)
    win = order[np.arange(N), pick]
    its = I1.reshape(N, S).sum(axis=1) + I2.reshape(N, K).sum(axis=1)
    cut = C1.reshape(N, S).any(axis=1) | C2.reshape(N, K).any(axis=1)
    return [(Z2[best[i]], float(F2[best[i]]), int(win[i]), int(its[i]), float(lams[i]), float(fit[i]), bool(cut[i]),
             bool(capped[best[i]])) for i in range(N)]


def _finish(G, x, p, z, f, which, iters, lam, fit, cut, capped, n_starts, seconds):
    res = p.result
    res.info["steps"].append(("polish", "time_limit" if cut else ("max_iter" if capped else "converged"), seconds))
    res.info["polish"] = {"fit": fit, "objective_after": f, "iterations": iters, "lam": lam, "starts": n_starts,
                          "winner": f"quasi-random start {which}"}
    if not (np.isfinite(f) and np.all(np.isfinite(z))):  # every start overflowed: no fit, no claim
        res.z, res.residual, res.status = np.full(G.k, np.nan), np.nan, "failed"
        res.message += (" -> Gauss-Newton found no finite fit: G's outputs overflow the floating-point range from "
                        f"every one of {n_starts} quasi-random start(s) (weights too large?).")
        res.seconds = p.seconds + seconds
        return
    res.z = z
    res.residual = relative_residual(G, z, x)
    res.status = "time_limit" if cut else ("max_iter" if capped else "converged")
    res.message += (f" -> Gauss-Newton inside activation regions from {n_starts} quasi-random start(s) (best fit "
                    f"||G(z) - x||^2 = {fit:.4g}), then the MAP refinement (lam {lam:.3g}) from the {KEEP} best fits, "
                    f"won by the fit from start {which}: "
                    f"||G(z) - x||^2 + lam ||z||^2 = {f:.4g}; a local fit, not a certified optimum (for a certified "
                    f"lower bound on the fit: layerinv.certificate.fit_lower_bound(G, x), or method='linf')"
                    + (" (cut by time_limit: the best point found so far; depends on timing)." if cut else "."))
    res.seconds = p.seconds + seconds  # in a batch: its own steps and its share of the stacked work


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
    return _after_exact(res, ex, steps, t0)


def _after_exact(res, ex, steps, t0):
    """``res`` with the exact pass's certificate (a proof that x is not in the range, or None), the exact
    pass itself and the steps in ``info``, and the seconds since ``t0``."""
    res.certificate = ex.certificate
    res.info["exact"] = ex
    res.info["steps"] = steps
    res.seconds = time.perf_counter() - t0
    return res
