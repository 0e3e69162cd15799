"""``method="auto"`` on nets the layer-wise path cannot pin (convolutional decoders).

A layer's input is pinned by its output only when its active rows have full column rank, so at
least ``n_in`` of its ``n_out`` units must be active. Most convolutional decoders are not expansive at
every layer (an MNIST decoder's last layer maps 16 x 14 x 14 = 3,136 values to 784 pixels, a DCGAN's
65,536 to 12,288): layer by layer, the top layer has many inputs that reproduce x and the layers
below cannot be reached from an arbitrary one. The route that works runs in latent space:

1. Gauss–Newton inside activation regions (:func:`.gauss_newton.gauss_newton`, the Jacobian built
   by products with the maps) from ``starts`` quasi-random latents, stopping at the first start
   that fits x to 1e-10 relative;
2. least squares in the final activation pattern (one more Gauss–Newton step, kept if it lowers
   the fit);
3. status ``"exact"`` when ``max |G(z) - x| <= tol max|x|`` (checked by a forward pass); otherwise
   (noise, x off the range) the MAP refinement of auto's dense path (``lam="auto"``), status
   ``"converged"``, and a certified lower bound on ``min_z ||G(z) - x||_inf`` in
   ``Result.info["fit_lower_bound"]``: the top-layer LP's (:func:`layerinv.certificate.fit_lower_bound`,
   ``CERT_STEPS`` bisection steps) when the top layer has at most ``CERT_LP_LIMIT`` entries, else the
   free bound from the output activation's range (the message says how to get the LP's).

Which layers are pinned at the answer (their active rows have full column rank) is reported per layer
(``LayerRecord.unique``) and in ``Result.info["pinned"]`` / ``["unpinned"]``.
"""
from __future__ import annotations

import time

import numpy as np

from ..linear_maps import DENSE_LIMIT
from ..lp.kernels import full_rank
from ..result import LayerRecord, Result
from ._common import deadline, left, relative_residual
from .gauss_newton import GN_EXACT, gauss_newton, jacobian, quasi_random_starts

__all__ = ["layerwise_can_pin", "pinned_layers", "invert_regions"]

#: Gauss–Newton iterations per start on the route (each costs k products through the net).
REGION_STEPS = 50
#: The deadline is checked every ``CHUNK`` Gauss–Newton iterations.
CHUNK = 5
#: Off the range, auto runs the top-layer LP bound (``CERT_STEPS`` bisection steps) only on top layers of at most
#: this many entries (n_out x n_in); above it the dense LP takes minutes per image, and the free bound from
#: the output activation's range is reported instead.
CERT_LP_LIMIT, CERT_STEPS = 1 << 20, 4


def layerwise_can_pin(G):
    """Whether the layer-wise path can pin every layer: every layer has at least as many outputs as
    inputs and is small enough for the dense layer kernel (``linear_maps.DENSE_LIMIT`` entries)."""
    return all(L.n_out >= L.n_in and L.n_out * L.n_in <= DENSE_LIMIT for L in G.layers)


def pinned_layers(G, z):
    """For every layer at ``G``'s point z: ``(active, pinned, why)``. A layer is pinned when its rows
    that are active at z (ReLU units with positive pre-activation; every row of other activations)
    have full column rank; checked on the dense rows when they fit ``DENSE_LIMIT``, else by products
    (the Gram matrix of the active rows, ``n_in`` squared entries) when ``n_in`` is at most 4,096, else
    not decided (``pinned`` False)."""
    out, h = [], z
    for L in G.layers:
        u = L.affine(h)
        idx = np.flatnonzero(u > 0) if L.activation.has_inactive_region else np.arange(L.n_out)
        if idx.size < L.n_in:
            out.append((int(idx.size), False, f"{idx.size} active rows < {L.n_in} inputs"))
        elif idx.size * L.n_in <= DENSE_LIMIT:
            ok = full_rank(np.asarray(L.linear.rows(idx, dense=True)))
            out.append((int(idx.size), ok, "active rows have full column rank" if ok else "active rows rank deficient"))
        elif L.n_in <= 4096:
            R = L.linear.rows(idx, dense=False)
            gram = (R.T @ R).toarray()
            w = np.linalg.eigvalsh(gram)
            ok = bool(w[0] > 1e-10 * w[-1])
            out.append((int(idx.size), ok, "active rows have full column rank" if ok else "active rows rank deficient"))
        else:
            out.append((int(idx.size), False, f"{idx.size} active rows >= {L.n_in} inputs; rank not checked "
                                              f"(layer too large)"))
        h = L.activation(u)
    return out


def _fit(G, x, z):
    r = G.forward_unchecked(z) - x
    return float(r @ r)


def _pattern_lstsq(G, x, z, f):
    """One least-squares solve in z's activation pattern (``min ||J d - (x - G(z))||``); kept if it lowers f."""
    F, J = jacobian(G, z)
    d = np.linalg.lstsq(J, x - F, rcond=None)[0]
    cand = z + d
    fc = _fit(G, x, cand)
    return (cand, fc) if fc < f else (z, f)


def _descend(G, x, z0, end):
    """Gauss–Newton from z0 for at most ``REGION_STEPS`` iterations, in chunks of ``CHUNK`` so that the
    deadline ``end`` is checked every few iterations (Gauss–Newton keeps no state but z: the chunks
    take the same steps as one run)."""
    z, f, total = np.asarray(z0, dtype=np.float64), None, 0
    while total < REGION_STEPS:
        n = min(CHUNK, REGION_STEPS - total)
        z, f_new, it = gauss_newton(G, x, z, steps=n, rtol=1e-10, halvings=30, shift="fit")
        total += it
        if it < n or (f is not None and f_new >= f) or f_new == 0.0:
            f = f_new
            break
        f = f_new
        if end is not None and time.perf_counter() >= end:
            break
    return z, f, total


def invert_regions(G, x, *, tol, time_limit, lam, starts, prefix=""):
    """auto's route for nets the layer-wise path cannot pin (see the module docstring)."""
    from ..certificate import FitBound, fit_lower_bound_unchecked
    from .gauss_newton import gauss_newton_many

    t0 = time.perf_counter()
    end = deadline(time_limit)
    nx2 = float(x @ x)
    D = tol * max(float(np.max(np.abs(x))), 1e-300)
    zs = quasi_random_starts(G.k, max(starts, 1))
    best, runs = None, []
    for i, z0 in enumerate(zs):
        if best is not None and end is not None and time.perf_counter() >= end:
            break
        with np.errstate(over="ignore", invalid="ignore"):
            z, f, it = _descend(G, x, z0, end)
        runs.append({"start": i, "objective": f, "iterations": it})
        if best is None or f < best[1]:
            best = (z, f, i)
        if f <= (GN_EXACT ** 2) * nx2:
            break
    z, f, which = best
    z, f = _pattern_lstsq(G, x, z, f)
    worst = float(np.max(np.abs(G.forward_unchecked(z) - x)))
    info = {"route": "gauss-newton in activation regions", "runs": runs, "winner": f"quasi-random start {which}"}
    steps_ = [("gn", "exact" if worst <= D else "converged", time.perf_counter() - t0)]
    if worst <= D:
        status, method = "exact", "gn"
        msg = (f"Gauss-Newton inside activation regions from {len(runs)} quasi-random start(s), then least squares "
               f"in the final activation pattern: max |G(z) - x| = {worst:.3g} <= tol x max|x| = {D:.3g} (checked "
               f"by a forward pass).")
    else:
        status, method = "converged", "gn+map"
        lam_v = f / max(x.size - G.k, 1) if lam == "auto" else float(lam)
        if lam_v > 0 and (end is None or time.perf_counter() < end):
            fits = sorted(((r["objective"], r["start"]) for r in runs))[:3]
            cands = [best[0]] + [zs[j] for _, j in fits if j != which]
            maps, _ = gauss_newton_many(G, x, np.stack(cands), lam=lam_v)
            if maps:
                z = maps[0][1]
        info["lam"] = lam_v
        msg = (f"Gauss-Newton inside activation regions from {len(runs)} quasi-random start(s) (best fit "
               f"||G(z) - x||^2 = {f:.4g}), least squares in the final activation pattern, then the MAP refinement "
               f"(lam {lam_v:.3g}): max |G(z) - x| = {float(np.max(np.abs(G.forward_unchecked(z) - x))):.3g} > tol x "
               f"max|x| = {D:.3g}; a local fit, not a certified optimum.")
        top = G.layers[-1]
        if not (top.activation.has_inactive_region or top.activation.is_identity):
            msg += f" No certified lower bound on the fit (a {top.activation.name} output admits no sound LP bound)."
        elif top.n_out * top.n_in <= CERT_LP_LIMIT and (end is None or time.perf_counter() < end):
            fb = fit_lower_bound_unchecked(G, x, steps=CERT_STEPS, time_limit=left(end))
            info["fit_lower_bound"] = fb
            msg += (f" The top-layer LP certifies min_z max |G(z) - x| >= {fb.bound:.3g} (fit_lower_bound, layers "
                    f"below relaxed).")
        else:  # the range of the output activation alone: free, and sound
            lo_, hi_ = top.activation.range
            gap = float(max(np.max(lo_ - x, initial=0.0), np.max(x - hi_, initial=0.0), 0.0))
            info["fit_lower_bound"] = FitBound(gap, np.nan, np.inf)
            msg += (f" Certified: min_z max |G(z) - x| >= {gap:.3g} (entries of x outside the output's range); the "
                    f"top-layer LP bound is skipped by default on a layer of {top.n_out} x {top.n_in} entries "
                    f"(> {CERT_LP_LIMIT:,}; minutes per image): layerinv.certificate.fit_lower_bound(G, x) "
                    f"computes it.")
    if not (np.isfinite(worst) and np.all(np.isfinite(z))):  # overflow everywhere: no fit, no claim
        status, method = "failed", "gn"
        msg = ("Gauss-Newton inside activation regions found no finite fit: G's outputs overflow the floating-point "
               "range from every start (weights too large?).")
        return Result(np.full(G.k, np.nan), status, prefix + msg, np.nan, time.perf_counter() - t0, [], method, None,
                      info)
    pins = pinned_layers(G, z)
    info["pinned"] = [i for i, (_, p, _) in enumerate(pins) if p]
    info["unpinned"] = [i for i, (_, p, _) in enumerate(pins) if not p]
    info["steps"] = steps_
    msg = prefix + msg + (" Layers pinned by their active rows at z: " + (", ".join(map(str, info["pinned"])) or "none")
                          + "; not pinned: " + (", ".join(map(str, info["unpinned"])) or "none")
                          + " (the layer-wise path cannot pin every layer, hence this route).")
    seconds = time.perf_counter() - t0
    records = [LayerRecord(i, L.n_in, L.n_out, a, "gn", float("nan"), 0.0,
                           "exact" if status == "exact" else "converged", bool(p), seconds, why)
               for i, (L, (a, p, why)) in reversed(list(enumerate(zip(G.layers, pins))))]
    return Result(z, status, msg, relative_residual(G, z, x), seconds, records, method, None, info)
