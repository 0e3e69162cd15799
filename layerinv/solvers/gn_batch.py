"""Gauss–Newton on many rows at once: auto's polish for every image and every start of a batch.

:func:`gn_rows` runs, for each row r of a stack, the Gauss–Newton iteration of
:func:`.gauss_newton.gauss_newton` (``shift="fit"``, ``op=None``) on
``f_r(z) = ||G(z) - y_r||^2 + lam_r ||z||^2`` from ``z0_r``. Every decision (step accepted, step
halved, row stopped) is taken row by row, elementwise on the stack, so a row's iterates do not depend
on the other rows: the single-image path calls the same kernel with the starts of one image, a batch
with the starts of all its images, and both give bitwise the same z: every product is evaluated row
by row (stacked ``(R, 1, k) @ (k, n)`` matmuls, which NumPy runs matrix by matrix), never as one GEMM
over the stack, whose rounding would depend on R (in a flat valley the rtol stopping rule amplifies
that rounding to ~1e-6 in z). Rows that have stopped leave the stack; the others go on.

A ``deadline`` (a ``time.perf_counter`` time) stops every row still running when it passes (checked
before each iteration and each step halving); such rows keep their best point so far and are
reported as cut. Results cut by a deadline depend on timing and are not reproducible.

auto's fit-then-MAP route (:func:`.auto.fit_then_map`) runs both of its phases on this kernel.
"""
from __future__ import annotations

import time

import numpy as np

from ._common import all_dense

__all__ = ["gn_rows"]

#: Rows per stacked Jacobian block (a block holds rows x n x k doubles: 256 x 784 x 20 x 8 B = 32 MB).
BLOCK = 256


def _affine_rows(L, H):
    """``L.affine(h_r)`` for every row of H (R, n_in) -> (R, n_out), each row's products computed on
    their own (a stacked (R, 1, n_in) @ (n_in, n_out) matmul), so a row's result does not depend on
    the other rows of the stack."""
    return np.matmul(H[:, None, :], L.weight.T)[:, 0, :] + L.bias


def _forward_rows(G, Z):
    """``G(z_r)`` for every row of Z (R, k) -> (R, n), row by row (see :func:`_affine_rows`)."""
    if not all_dense(G):
        return np.stack([G.forward_unchecked(z) for z in Z]) if len(Z) else np.zeros((0, G.n))
    h = Z
    for L in G.layers:
        h = L.activation(_affine_rows(L, h))
    return h


def _fit_rows(G, Z, Y, lam):
    """``||G(z_r) - y_r||^2 + lam_r ||z_r||^2`` for the rows of Z (R, k), Y (R, n), lam (R,)."""
    r = _forward_rows(G, Z) - Y
    return np.einsum("ij,ij->i", r, r) + lam * np.einsum("ij,ij->i", Z, Z)


def _normal_rows(G, Z, Y, lam, Ws, late=lambda: False):
    """The shifted normal equations of every row: ``M`` (R, k, k) and ``rhs`` (R, k) with
    ``M = J^T J + lam I + 1e-12 (tr(J^T J) / k + 1e-300) I``, ``rhs = J^T (y - G(z)) - lam z`` and J the
    Jacobian of G at z_r on z_r's activation region; and the number of rows done (R, or fewer where
    ``late()`` said stop between two blocks of :data:`BLOCK` rows; the rest are left unset)."""
    R, k = Z.shape
    M = np.empty((R, k, k))
    rhs = np.empty((R, k))
    eye = np.eye(k)
    for s in range(0, R, BLOCK):
        if s > 0 and late():
            return M, rhs, s
        e = min(s + BLOCK, R)
        if Ws is not None:
            JtJ, Jtr = _gram_dense_rows(G, Z[s:e], Y[s:e], Ws)
        else:
            from .gauss_newton import jacobian

            pairs = [jacobian(G, z) for z in Z[s:e]]
            F, J = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
            Jt = J.transpose(0, 2, 1)
            JtJ, Jtr = np.matmul(Jt, J), np.matmul(Jt, (Y[s:e] - F)[:, :, None])[:, :, 0]
        tr = np.trace(JtJ, axis1=1, axis2=2)
        lb = lam[s:e, None, None]
        M[s:e] = (JtJ + lb * eye) + (1e-12 * (tr / k + 1e-300))[:, None, None] * eye
        rhs[s:e] = Jtr - lam[s:e, None] * Z[s:e]
    return M, rhs, R


def _gram_dense_rows(G, Z, Y, Ws):
    """``(J^T J, J^T (y - G(z)))`` per row (shapes (R, k, k), (R, k)) for an all-dense net. The hidden
    layers' Jacobians ``A`` (R, n_{L-1}, k) are stacked; the output layer's rows enter only where the
    output's slope is nonzero (a ReLU output zeroes most rows of an MNIST image): those rows of W are
    gathered row by row, so the cost follows the active outputs, and each row's products have shapes
    of that row alone."""
    h, A = Z, None
    for L, W in zip(G.layers[:-1], Ws[:-1]):
        u = _affine_rows(L, h)
        d = L.activation.derivative(u)
        A = W[None, :, :] * d[:, :, None] if A is None else np.matmul(W, A) * d[:, :, None]
        h = L.activation(u)
    top, Wt = G.layers[-1], Ws[-1]
    u = _affine_rows(top, h)
    d = top.activation.derivative(u)
    res = Y - top.activation(u)
    R, k = Z.shape
    JtJ, Jtr = np.zeros((R, k, k)), np.zeros((R, k))
    unit = bool(np.all((d == 0.0) | (d == 1.0)))  # ReLU: the gathered rows need no scaling
    rr, cc = np.nonzero(d)
    cuts = np.searchsorted(rr, np.arange(R + 1))
    for b in range(R):
        on = cc[cuts[b]:cuts[b + 1]]
        if on.size == 0:
            continue
        Wg = Wt[on] if unit else Wt[on] * d[b, on, None]
        J = Wg if A is None else Wg @ A[b]
        JtJ[b] = J.T @ J
        Jtr[b] = J.T @ res[b, on]
    return JtJ, Jtr


def _solve_rows(M, rhs):
    """``M_r^{-1} rhs_r`` per row; a row whose matrix is singular gets NaN (and stops)."""
    try:
        return np.linalg.solve(M, rhs[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        out = np.full(rhs.shape, np.nan)
        for r in range(len(M)):
            try:
                out[r] = np.linalg.solve(M[r], rhs[r])
            except np.linalg.LinAlgError:
                pass
        return out


def gn_rows(G, Y, Z0, lam, *, steps=20, rtol=1e-8, halvings=20, deadline=None):
    """Gauss–Newton with line search on every row independently.

    Row r lowers ``||G(z) - Y[r]||^2 + lam[r] ||z||^2`` from ``Z0[r]`` exactly as
    :func:`.gauss_newton.gauss_newton` with ``shift="fit"`` does: solve the shifted normal equations
    of z's activation region for the step, halve it (at most ``halvings`` times) until the objective
    decreases, stop when no step decreases it, when the decrease is at most ``rtol * f``, when f is 0,
    or after ``steps`` iterations.

    Parameters
    ----------
    G : ReLUNet
    Y : ndarray, shape (R, n)
        Target of each row (rows of one image repeat it; a broadcast view is fine).
    Z0 : ndarray, shape (R, k)
        Finite starting latents.
    lam : ndarray, shape (R,)
        Weight of ``||z||^2`` per row.
    deadline : float or None
        ``time.perf_counter()`` time after which no row takes another iteration or halving.

    Returns
    -------
    Z : ndarray, shape (R, k)
    F : ndarray, shape (R,)
        Objective at Z (never above the objective at Z0).
    iterations : ndarray of int, shape (R,)
    cut : ndarray of bool, shape (R,)
        Rows stopped by the deadline before their own stopping rule.
    """
    Z = np.array(Z0, dtype=np.float64, copy=True)
    R = Z.shape[0]
    lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), (R,))
    iters = np.zeros(R, dtype=np.int64)
    cut = np.zeros(R, dtype=bool)
    if R == 0:
        return Z, np.zeros(0), iters, cut
    late = (lambda: False) if deadline is None else (lambda: time.perf_counter() > deadline)
    Ws = [L.weight for L in G.layers] if all_dense(G) else None
    F = _fit_rows(G, Z, Y, lam)
    act = np.arange(R)
    for it in range(1, steps + 1):
        if act.size == 0:
            break
        if late():
            cut[act] = True
            break
        iters[act] = it
        Za, Ya, la, fa = Z[act], Y[act], lam[act], F[act]
        M, rhs, done = _normal_rows(G, Za, Ya, la, Ws, late)
        step = np.full(rhs.shape, np.nan)
        step[:done] = _solve_rows(M[:done], rhs[:done])
        cut[act[done:]] = True  # the clock stopped the normal equations before these rows
        iters[act[done:]] = it - 1
        ok = np.all(np.isfinite(step), axis=1)  # a singular system ends the row (the single path's break)
        alpha = np.ones(act.size)
        cand_z, cand_f = np.empty_like(Za), np.full(act.size, np.nan)
        accepted = np.zeros(act.size, dtype=bool)
        pend = np.flatnonzero(ok)
        for _ in range(halvings):
            if pend.size == 0:
                break
            if late():  # the rows still halving keep their current point
                cut[act[pend]] = True
                break
            zc = Za[pend] + alpha[pend, None] * step[pend]
            fc = _fit_rows(G, zc, Ya[pend], la[pend])
            win = fc < fa[pend]
            hit = pend[win]
            cand_z[hit], cand_f[hit], accepted[hit] = zc[win], fc[win], True
            pend = pend[~win]
            alpha[pend] *= 0.5
        acc = np.flatnonzero(accepted)
        rows = act[acc]
        decrease = fa[acc] - cand_f[acc]
        Z[rows], F[rows] = cand_z[acc], cand_f[acc]
        go_on = ~((decrease <= rtol * np.maximum(F[rows], 1e-300)) | (F[rows] == 0.0))
        act = rows[go_on]
    return Z, F, iters, cut
