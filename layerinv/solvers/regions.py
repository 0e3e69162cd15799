"""``method="auto"`` on nets the layer-wise path cannot pin (convolutional decoders).

A layer's input is pinned by its output only when its active rows have full column rank, so at
least ``n_in`` of its ``n_out`` units must be active. Most convolutional decoders are not expansive at
every layer (an MNIST decoder's last layer maps 16 x 14 x 14 = 3,136 values to 784 pixels, a DCGAN's
65,536 to 12,288): layer by layer, the top layer has many inputs that reproduce x and the layers
below cannot be reached from an arbitrary one. The route that works runs in latent space:

1. Gauss–Newton inside activation regions (:func:`descend`: Jacobians by products with the maps in
   cache-sized passes, each start's updated from its last one through the units that switched
   (:class:`Tangents`), the pre-activations at a start's new point taken from the line search that
   chose it; several starts in lockstep, their line-search candidates in batched passes) from
   ``starts`` quasi-random latents: the first runs alone to the end (on x in the range it usually fits
   x to 1e-10 relative, which ends the search); otherwise the others run ``PROBE`` iterations and the
   ``KEEP`` best of them go on to the end. A start stops when a step gains less than ``STALL`` of its
   objective (on a piecewise-linear map Gauss–Newton then crawls along a region boundary); the
   deadline is checked every iteration;
2. least squares in the final activation pattern (one more Gauss–Newton step, kept if it lowers
   the fit);
3. status ``"exact"`` when ``max |G(z) - x| <= tol max|x|`` (checked by a forward pass); otherwise
   (noise, x off the range) the MAP refinement of auto's dense path (``lam="auto"``; skipped with
   ``polish=False``: the fit is returned), status ``"converged"``, and a certified lower bound on
   ``min_z ||G(z) - x||_inf`` in
   ``Result.info["fit_lower_bound"]``: the top-layer LP's (:func:`layerinv.certificate.fit_lower_bound`,
   ``CERT_STEPS`` bisection steps) when the top layer has at most ``CERT_LP_LIMIT`` entries, else the
   free bound from the output activation's range (the message says how to get the LP's).

Which layers are pinned at the answer (their active rows have full column rank;
:func:`layerinv.solvers.pinning.pinned_layers`) is reported per layer (``LayerRecord.unique``) and in ``Result.info["pinned"]`` / ``["unpinned"]``.
"""
from __future__ import annotations

import time
import weakref

import numpy as np
import scipy.sparse as sp

from ..linear_maps import DENSE_LIMIT, Dense
from ..result import LayerRecord, Result
from ._common import deadline, left, relative_residual
from .gauss_newton import GN_EXACT, gauss_newton, jacobian, quasi_random_starts
from .pinning import pinned_layers

__all__ = ["layerwise_can_pin", "pinned_layers", "jacobians", "descend", "invert_regions"]

#: Gauss–Newton iterations per start on the route (each costs k products through the net).
REGION_STEPS = 50
#: The first start runs alone to the end; if it does not fit x, the others run ``PROBE`` iterations (in
#: lockstep) and only the ``KEEP`` best of them go on. (PROBE was 6: on 56 held-out digits 2 gave the
#: same median pixel MSE at ~10% less time; the early objective hardly predicts which start ends best.)
PROBE, KEEP = 2, 2
#: A start stops when an accepted step lowers its objective by less than ``STALL`` times the objective.
STALL = 1e-6
#: Line-search candidates evaluated per batched forward pass: 4 step sizes first, then 8, then the rest.
_BLOCKS = (4, 8, 32)
#: Most values of the widest layer held by one batched pass (Jacobians: starts x k rows; forward passes).
BATCH_ENTRIES = 1 << 23
#: Most values of the widest layer in one pass of Jacobian directions: a cache-sized block (a pass of 140
#: directions through the MNIST decoder's 3,136-unit layer costs ~1.6x per direction what one of 60 does).
PASS_ENTRIES = 1 << 18
#: Gauss–Newton iterations of the MAP refinement (from the best fit and the other kept starts).
MAP_STEPS = 20
#: Off the range, auto runs the top-layer LP bound (``CERT_STEPS`` bisection steps) only on top layers of at most
#: this many entries (n_out x n_in); above it the dense LP takes minutes per image, and the free bound from
#: the output activation's range is reported instead.
CERT_LP_LIMIT, CERT_STEPS = 1 << 20, 4
#: Maps with at most this many nonzeros keep their sparse transpose for :class:`Tangents` (~12 bytes each).
SPARSE_CACHE = 1 << 22


def layerwise_can_pin(G):
    """Whether the layer-wise path can pin every layer: every layer has at least as many outputs as
    inputs and is small enough for the dense layer kernel (``linear_maps.DENSE_LIMIT`` entries)."""
    return all(L.n_out >= L.n_in and L.n_out * L.n_in <= DENSE_LIMIT for L in G.layers)


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




def _chunk(G, per_row, budget=None):
    """Rows per batched pass so that a pass holds at most ``budget`` (default ``BATCH_ENTRIES``) values of
    the widest layer."""
    widest = max([G.k] + [L.n_out for L in G.layers])
    return max(1, (BATCH_ENTRIES if budget is None else budget) // (per_row * widest))


def _forward(G, Z, keep=False):
    """G at the rows of Z (shape (s, k)) -> (s, n), in batches of :func:`_chunk` rows. With ``keep``
    (one batch only) also the pre-activations of every layer: a list of arrays of shape (s, n_l)."""
    step = _chunk(G, 1)
    if keep and len(Z) <= step:
        H, pre = Z, []
        for L in G.layers:
            pre.append(L.affine(H))
            H = L.activation(pre[-1])
        return H, pre
    if len(Z) <= step:
        return G.forward_unchecked(Z)
    return np.vstack([G.forward_unchecked(Z[i:i + step]) for i in range(0, len(Z), step)])


def _fits(G, x, Z, lam, keep=False):
    """``||G(z) - x||^2 + lam ||z||^2`` at the rows of Z (shape (s, k)) -> (s,); with ``keep``, also the
    pre-activations (see :func:`_forward`; None when they were not kept)."""
    out = _forward(G, Z, keep)
    F, pre = out if isinstance(out, tuple) else (out, None)
    R = F - x
    f = np.einsum("ij,ij->i", R, R) + lam * np.einsum("ij,ij->i", Z, Z)
    return (f, pre) if keep else f


def jacobians(G, Z, memo=None, idx=None, pre=None):
    """``(G(Z), J)`` at the rows of Z (shape (s, k)): G(Z) of shape (s, n) and the Jacobians
    ``J[i] = dG/dz`` at ``Z[i]``, shape (s, n, k). The s * k directions go through each layer's map in
    batched products (``matvec`` on up to (s * k, n_in) at once; fewer rows on wide nets, so that a
    pass holds at most ``min(BATCH_ENTRIES, PASS_ENTRIES)`` values of the widest layer).

    With a :class:`Tangents` ``memo`` (and ``idx``, shape (s,): which of its starts the rows of Z are),
    each start's Jacobian is updated from its last one where that is cheaper (see :class:`Tangents`);
    ``pre`` (with a memo): per row of Z, its layers' pre-activations when already known (else None)."""
    s, k = Z.shape
    step = _chunk(G, k, min(BATCH_ENTRIES, PASS_ENTRIES))
    idx = np.arange(s) if idx is None else np.asarray(idx)
    if s > step:
        parts = [jacobians(G, Z[i:i + step], memo, idx[i:i + step], None if pre is None else pre[i:i + step])
                 for i in range(0, s, step)]
        return np.vstack([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    if memo is not None:
        return memo.jacobians(Z, idx, pre)
    H, Jt = Z, np.broadcast_to(np.eye(k), (s, k, k)).reshape(s * k, k)
    for L in G.layers:
        U = L.affine(H)
        D = L.activation.derivative(U)  # (s, n_out)
        Jt = (L.linear.matvec(Jt).reshape(s, k, -1) * D[:, None, :]).reshape(s * k, -1)
        H = L.activation(U)
    return H, Jt.reshape(s, k, -1).transpose(0, 2, 1)


class Tangents:
    """Jacobians of G along the paths of several starts, each updated from the start's last one.

    Per start and layer l it keeps ``M_l`` (k, n_l), the tangents of the pre-activations,
    ``P_l = M_l * act'(u_l)`` and the slopes ``act'(u_l)``. At a new point, where the tangents entering layer l changed only in a
    few units (a piecewise-linear net: only where units switched on or off), ``M_l`` is updated by
    ``M_l += dP_{l-1}[:, rows] @ A_l^T[rows]`` through the rows of the map's transpose (kept as CSR,
    :func:`_transpose`) instead of a full product; a layer whose changed rows hold more than
    ``1 / INCREMENT`` of the transpose's nonzeros (or whose map is too large to keep) gets the full
    batched product; where no tangent entering the layer changed, ``M_l`` is the last one and ``P_l``
    changes only in the units whose slope did. The result equals the full computation up to rounding
    (the same bits for the same sequence of points)."""

    def __init__(self, G):
        self.G, self.state = G, {}
        self.maps = [_transpose(L.linear) for L in G.layers]

    def jacobians(self, Z, idx, pre=None):
        G, (s, k) = self.G, Z.shape
        known = pre is not None and all(p is not None for p in pre)
        H = Z
        Pin = [np.eye(k)] * s  # per start: the tangents entering the layer, (k, n_in)
        old = [self.state.get(int(i)) for i in idx]
        new = [[] for _ in range(s)]
        dPin = [None if o is None else np.zeros((k, 0)) for o in old]  # None: the tangents changed everywhere
        rows_in = [None if o is None else np.zeros(0, dtype=np.int64) for o in old]
        last = len(G.layers) - 1
        for l, L in enumerate(G.layers):
            U = np.stack([p[l] for p in pre]) if known else L.affine(H)
            D = L.activation.derivative(U)
            H = L.activation(U)
            AT = self.maps[l]
            P, full = [None] * s, []
            total = None if AT is None else _cost(AT, None)
            for j in range(s):
                if rows_in[j] is None or AT is None or _cost(AT, rows_in[j]) * INCREMENT > total:
                    full.append(j)
                    continue
                Mo, Po, Do = old[j][l]
                if rows_in[j].size:
                    M = Mo + _rmul(dPin[j], AT, rows_in[j])
                    P[j] = M * D[j]
                    new[j].append((M, P[j], D[j]))
                    if l < last:  # the top layer's changes feed no other
                        dP = P[j] - Po
                        rows_in[j] = np.flatnonzero(np.any(dP != 0, axis=0))
                        dPin[j] = dP[:, rows_in[j]]
                    continue
                # the same tangents in: M is the last one; P changes only where the unit's slope did
                flip = np.flatnonzero(D[j] != Do)
                P[j] = Po
                if flip.size:
                    P[j] = Po.copy()
                    P[j][:, flip] = Mo[:, flip] * D[j, flip]
                new[j].append((Mo, P[j], D[j]))
                if l < last:
                    dP = P[j][:, flip] - Po[:, flip]
                    moved = np.any(dP != 0, axis=0)
                    rows_in[j], dPin[j] = flip[moved], dP[:, moved]
            if full:
                Mf = L.linear.matvec(np.stack([Pin[j] for j in full]).reshape(-1, L.n_in)).reshape(len(full), k, -1)
                Pf = Mf * D[full][:, None, :]
                for i, j in enumerate(full):
                    P[j] = Pf[i]
                    new[j].append((Mf[i], Pf[i], D[j]))
                    if old[j] is not None and l < last:
                        dP = Pf[i] - old[j][l][1]
                        rows_in[j] = np.flatnonzero(np.any(dP != 0, axis=0))
                        dPin[j] = dP[:, rows_in[j]]
            Pin = P
        for j in range(s):
            self.state[int(idx[j])] = new[j]
        return H, np.stack(Pin).transpose(0, 2, 1)


#: :class:`Tangents` updates a layer's tangents through the changed rows only when those hold at most
#: 1 / INCREMENT of its map's nonzeros (a sparse product costs more per nonzero than a convolution's).
INCREMENT = 8
_TRANSPOSE = weakref.WeakKeyDictionary()


def _transpose(linear):
    """``linear``'s transpose as CSR (a dense array for a dense map), kept per map while the map lives;
    None when it has more than ``SPARSE_CACHE`` nonzeros."""
    if isinstance(linear, Dense):
        return linear.matrix.T
    AT = _TRANSPOSE.get(linear)
    if AT is None:
        nnz = getattr(linear, "nnz", None)
        if nnz is None or nnz > SPARSE_CACHE:
            return None
        AT = _TRANSPOSE[linear] = linear.to_sparse().T.tocsr()
    return AT


def _cost(AT, rows):
    """Nonzeros of ``AT``'s rows ``rows`` (all of them for None)."""
    if isinstance(AT, np.ndarray):
        return AT.shape[1] * (AT.shape[0] if rows is None else len(rows))
    return AT.nnz if rows is None else int(np.sum(AT.indptr[rows + 1] - AT.indptr[rows]))


def _rmul(dP, AT, rows):
    """``dP @ AT[rows]``: (k, r) times rows ``rows`` (sorted, distinct) of the transpose -> (k, n_out).

    On a CSR transpose the rows are gathered straight from its arrays (scipy's row indexing validates its
    indices at several times the cost) into the CSC matrix ``AT[rows].T``, whose product with ``dP.T`` is
    the one scipy's ``AT[rows].T @ dP.T`` computes (the same loop, the same bits)."""
    if isinstance(AT, np.ndarray):
        return dP @ AT[rows]
    start, stop = AT.indptr[rows], AT.indptr[rows + 1]
    ptr = np.zeros(len(rows) + 1, dtype=AT.indptr.dtype)
    np.cumsum(stop - start, out=ptr[1:])
    at = np.arange(ptr[-1], dtype=AT.indptr.dtype) + np.repeat(start - ptr[:-1], stop - start)
    S = sp.csc_matrix((AT.data[at], AT.indices[at], ptr), shape=(AT.shape[1], len(rows)))
    return (S @ dP.T).T


def descend(G, x, Z0, *, lam=0.0, steps=REGION_STEPS, rtol=STALL, halvings=30, end=None):
    """Gauss–Newton with backtracking from every row of ``Z0`` (shape (s, k)), all starts in lockstep.

    Each iteration linearises G at every live start on its activation region (:func:`jacobians`),
    solves the s stacked k x k systems ``(J^T J + lam I + eps I) d = J^T (x - G(z)) - lam z`` (eps:
    1e-12 of the mean diagonal of J^T J, only so that a rank-deficient J stays solvable) and tries
    ``alpha = 1, 1/2, 1/4, ...`` (at most ``halvings``), taking the first that lowers
    ``f(z) = ||G(z) - x||^2 + lam ||z||^2`` -- the same step as a one-by-one line search, with the
    candidates of all starts evaluated in a few batched forward passes. A start stops when no step
    lowers f, when a step lowers f by less than ``rtol * f`` (GN on a piecewise-linear map then
    crawls along a region boundary: the tail of 1e-6-relative gains is not worth its cost), or when it
    fits x to ``GN_EXACT`` relative (lam 0; that ends every start). The deadline ``end`` is checked
    every iteration.

    Returns ``(Z, f, iterations)``: shapes (s, k), (s,), (s,) (f never above its value at ``Z0``).
    """
    Z = np.array(Z0, dtype=np.float64, copy=True)
    s, k = Z.shape
    with np.errstate(over="ignore", invalid="ignore"):
        f = _fits(G, x, Z, lam)
    its = np.zeros(s, dtype=int)
    live = np.isfinite(f)
    exact = (GN_EXACT ** 2) * float(x @ x) if lam == 0 else -1.0
    eye = np.eye(k)
    width = sum(L.n_out for L in G.layers)
    memo = Tangents(G) if 2 * s * k * width <= BATCH_ENTRIES else None
    pres = [None] * s  # each start's pre-activations at its point, from the line search that chose it
    for _ in range(steps):
        if not live.any() or np.any(f <= exact) or (end is not None and time.perf_counter() >= end):
            break
        idx = np.flatnonzero(live)
        with np.errstate(over="ignore", invalid="ignore"):
            F, J = jacobians(G, Z[idx], memo, idx, [pres[i] for i in idx])
            JtJ = np.einsum("snk,snl->skl", J, J)
            tr = np.trace(JtJ, axis1=1, axis2=2) / k + 1e-300
            M = JtJ + (lam * eye)[None] + 1e-12 * tr[:, None, None] * eye[None]
            rhs = np.einsum("snk,sn->sk", J, x - F) - lam * Z[idx]
        ok = np.all(np.isfinite(M), axis=(1, 2)) & np.all(np.isfinite(rhs), axis=1)
        D = np.zeros_like(rhs)
        for j in np.flatnonzero(ok):  # tiny k x k systems; one singular one must not stop the rest
            try:
                D[j] = np.linalg.solve(M[j], rhs[j])
            except np.linalg.LinAlgError:
                ok[j] = False
        its[idx] += 1
        alpha = np.full(len(idx), np.nan)
        fnew = np.full(len(idx), np.inf)
        todo = np.flatnonzero(ok)
        j0 = 0
        for block in _BLOCKS:
            if todo.size == 0 or j0 >= halvings:
                break
            js = np.arange(j0, min(j0 + block, halvings))
            a = 0.5 ** js
            cand = Z[idx[todo]][:, None, :] + a[None, :, None] * D[todo][:, None, :]
            keep = memo is not None and cand.shape[0] * cand.shape[1] * width <= BATCH_ENTRIES
            with np.errstate(over="ignore", invalid="ignore"):
                fc, pre = _fits(G, x, cand.reshape(-1, k), lam, keep=True) if keep else (
                    _fits(G, x, cand.reshape(-1, k), lam), None)
                fc = fc.reshape(len(todo), len(js))
            better = fc < f[idx[todo]][:, None]
            hit = better.any(axis=1)
            first = np.argmax(better, axis=1)
            alpha[todo[hit]] = a[first[hit]]
            for t in np.flatnonzero(hit):
                pres[idx[todo[t]]] = None if pre is None else [U[t * len(js) + first[t]] for U in pre]
            fnew[todo[hit]] = fc[hit, first[hit]]
            todo = todo[~hit]
            j0 += len(js)
        moved = np.isfinite(alpha)
        for j in range(len(idx)):
            i = idx[j]
            if not moved[j]:
                live[i] = False
                continue
            dec = f[i] - fnew[j]
            Z[i] = Z[i] + alpha[j] * D[j]
            f[i] = fnew[j]
            if dec <= rtol * max(f[i], 1e-300) or f[i] == 0.0:
                live[i] = False
    return Z, f, its


def invert_regions(G, x, *, tol, time_limit, lam, starts, polish=True, prefix=""):
    """auto's route for nets the layer-wise path cannot pin (see the module docstring).

    ``polish=False`` skips the MAP refinement off the range (the answer is then the least-squares fit)."""
    from ..certificate import FitBound, fit_lower_bound_unchecked

    t0 = time.perf_counter()
    end = deadline(time_limit)
    nx2 = float(x @ x)
    D = tol * max(float(np.max(np.abs(x))), 1e-300)
    zs = quasi_random_starts(G.k, max(starts, 1))
    exact = (GN_EXACT ** 2) * nx2
    # stage 1: the first start alone, to the end (on x in the range it usually fits x: done)
    Z, f, its = zs.copy(), np.full(len(zs), np.inf), np.zeros(len(zs), dtype=int)
    Z[:1], f[:1], its[:1] = descend(G, x, zs[:1], end=end)
    keep = [0]
    if len(zs) > 1 and not f[0] <= exact and (end is None or time.perf_counter() < end):
        # stage 2: the others in lockstep for PROBE iterations; the KEEP best of them go on to the end
        Z[1:], f[1:], its[1:] = descend(G, x, zs[1:], steps=min(PROBE, REGION_STEPS), end=end)
        order = 1 + np.argsort(np.where(np.isfinite(f[1:]), f[1:], np.inf), kind="stable")
        go = order[:1] if f[order[0]] <= exact else order[:KEEP]
        more = REGION_STEPS - PROBE
        if more > 0 and not f[go[0]] <= exact and (end is None or time.perf_counter() < end):
            Z[go], f[go], its2 = descend(G, x, Z[go], steps=more, end=end)
            its[go] += its2
        keep += [int(i) for i in go]
    keep = np.array(keep)
    runs = [{"start": int(i), "objective": float(f[i]), "iterations": int(its[i]), "to_the_end": bool(i in keep)}
            for i in range(len(zs)) if its[i] > 0 or i == 0]
    which = int(keep[np.argmin(f[keep])])
    best = (Z[which].copy(), float(f[which]), which)
    z, f, which = best
    z, f = _pattern_lstsq(G, x, z, f)
    worst = float(np.max(np.abs(G.forward_unchecked(z) - x)))
    info = {"route": "gauss-newton in activation regions", "runs": runs, "winner": f"quasi-random start {which}"}
    steps_ = [("gn", "exact" if worst <= D else "converged", time.perf_counter() - t0)]
    if worst <= D:
        status, method = "exact", "gn"
        msg = (f"Gauss-Newton inside activation regions from {len(runs)} quasi-random start(s) ({len(keep)} run to "
               f"the end), then least squares in the final activation pattern: max |G(z) - x| = {worst:.3g} <= tol "
               f"x max|x| = {D:.3g} (checked by a forward pass).")
    else:
        status, method = "converged", ("gn+map" if polish else "gn")
        lam_v = f / max(x.size - G.k, 1) if lam == "auto" else float(lam)
        if polish and lam_v > 0 and (end is None or time.perf_counter() < end):
            cands = np.vstack([z, Z[[i for i in keep if i != which]]])
            Zm, fm, _ = descend(G, x, cands, lam=lam_v, steps=MAP_STEPS, halvings=20, end=end)
            if np.isfinite(fm).any():
                z = Zm[int(np.nanargmin(fm))]
        info["lam"] = lam_v
        then = (f"then the MAP refinement (lam {lam_v:.3g})" if polish else
                "no MAP refinement (polish=False)")
        msg = (f"Gauss-Newton inside activation regions from {len(runs)} quasi-random start(s) ({len(keep)} run to "
               f"the end; best fit ||G(z) - x||^2 = {f:.4g}), least squares in the final activation "
               f"pattern, {then}: max |G(z) - x| = {float(np.max(np.abs(G.forward_unchecked(z) - x))):.3g} > tol x "
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
