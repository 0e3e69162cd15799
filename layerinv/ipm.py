"""A dense interior-point solver for one layer's ℓ∞ and ℓ1 LPs, finished on an exact vertex.

Both LPs are solved in inequality form ``min c.x  s.t.  A x + s = b,  s >= 0`` (dual:
``max -b.z  s.t.  A^T z + c = 0,  z >= 0``) by Mehrotra's predictor–corrector method with Gondzio's
centrality correctors. ``A`` is never formed: its rows are ``±M_E``, ``M_I`` and unit rows, so a
Newton step costs one weighted Gram matrix ``M^T diag(d) M`` (``dsyrk``), one Cholesky factorisation
and a few matrix–vector products, all through SciPy's BLAS/LAPACK (one OpenBLAS thread pool).

* ℓ∞: ``x = (h, t)``;  rows ``M_E h - t <= c_E``, ``-M_E h - t <= -c_E``, ``M_I h - t <= c_I``,
  ``-h <= 0`` (when ``system.nonneg``), ``-t <= 0``.  Multipliers ``y_E = z_E+ - z_E-``, ``y_I = z_I``.
* ℓ1: ``x = (h, e_E, e_I)``;  rows ``M_E h - e_E <= c_E``, ``-M_E h - e_E <= -c_E``,
  ``M_I h - e_I <= c_I``, ``-e_I <= 0``, ``-h <= 0``; the ``e`` block is eliminated in closed form,
  so the normal matrix is ``n x n``.  Multipliers ``y_E = z_E+ - z_E-``, ``y_I = z_I+``.

Once the duality gap is about 1% of the objective, each iteration guesses the optimal vertex (the
``n + 1`` constraints with the largest ``z / s`` for ℓ∞, the ``n`` interpolated rows for ℓ1), solves
it exactly by LU, repairs a nearly right guess with a few simplex pivots, and stops as soon as the
vertex is verified optimal (dual feasible multipliers, no violated row). The answer is judged only
by quantities recomputed from the system: the objective at ``h`` and the rigorous
:func:`~layerinv.system.dual_bound` of the multipliers. For ``h >= 0`` the vertex multipliers are
lifted so that ``M^T y`` clears its own rounding error, which makes the bound hold for every h
(no radius); for a free ``h`` the radius term (about ``R * n * m * 1e-16``) is the floor of the gap.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import blas, lapack

from ._checks import check_positive
from .system import LayerSystem, dual_bound

__all__ = ["LPResult", "linf_solve", "l1_solve"]

_U = np.finfo(np.float64).eps / 2
_STEP = 0.995  # fraction of the step to the boundary
_DUAL_TOL = 1e-11  # a vertex's multipliers may miss their bounds by this much (rounding)
_FLOOR = 1e-2  # smallest starting h_j (h >= 0), relative to the largest
_PIVOTS = 4  # simplex pivots allowed to repair a guessed vertex
_GONDZIO = 2  # at most this many centrality correctors per iteration
_POLISH_AT = 1e-2  # guess the vertex once the duality gap is below this fraction of the objective


@dataclass
class LPResult:
    """What :func:`linf_solve` / :func:`l1_solve` found.

    Attributes
    ----------
    h : ndarray, shape (n_in,)
        The primal point (``h >= 0`` exactly when ``system.nonneg``).
    value : float
        The objective at ``h``, recomputed (``system.linf_value(h)`` or ``system.l1_value(h)``).
    y_E, y_I : ndarray, shapes (n_E,), (n_I,)
        The multipliers behind ``lower`` (``y_I >= 0``; for ℓ1 also ``|y| <= 1``).
    lower : float
        ``dual_bound(system, y_E, y_I, norm, radius).value``: a certified lower bound on the optimum
        over every ``h`` with ``||h||_inf <= radius``.
    radius : float
        ``inf`` when the bound holds for every ``h`` (typical for ``h >= 0``, where the multipliers
        are lifted above their rounding error).
    iterations : int
        Interior-point iterations.
    status : str
        ``"optimal"``: the vertex is verified optimal up to rounding, or the certified gap
        ``value - lower`` is within ``max(tol * value, atol * system.scale)``; ``"max_iter"``: the
        iteration limit was reached first (``h`` and ``lower`` are still valid); ``"failed"``:
        numerical trouble (fall back to another solver).
    polished : bool
        Whether ``h`` and the multipliers come from the exact vertex.
    message : str
    bound : DualBound
        The :class:`~layerinv.system.DualBound` behind ``lower`` (``None`` when failed).
    """

    h: np.ndarray
    value: float
    y_E: np.ndarray
    y_I: np.ndarray
    lower: float
    radius: float
    iterations: int
    status: str
    polished: bool = False
    message: str = ""
    bound: object = None  # the DualBound behind ``lower``

    @property
    def gap(self):
        return self.value - self.lower


# ---------------------------------------------------------------------------------- problem operators
class _Rows:
    """The stacked rows ``M = [M_E; M_I]`` (Fortran order, so BLAS never copies) and a scratch
    matrix for the weighted Gram products."""

    def __init__(self, system, extra_cols):
        self.nE, self.nI = system.M_E.shape[0], system.M_I.shape[0]
        self.n = system.n_in
        self.M = np.asfortranarray(np.vstack([system.M_E, system.M_I]))
        self.c = np.concatenate([system.c_E, system.c_I])
        self.B = np.empty((self.nE + self.nI, self.n + extra_cols), order="F")
        self.Mabs = None

    def mul(self, h):
        """``M h``, shape (n_E + n_I,)."""
        if self.M.shape[0] == 0:
            return np.zeros(0)
        return blas.dgemv(1.0, self.M, h)

    def tmul(self, y):
        """``M^T y``, shape (n_in,)."""
        if self.M.shape[0] == 0:
            return np.zeros(self.n)
        return blas.dgemv(1.0, self.M, y, trans=1)

    def floor(self, h, scale):
        """Smallest entry of a starting ``h > 0``: 1% of its largest entry, or of the size that
        moves ``M h`` by ``scale`` when ``h`` is zero."""
        top = float(np.max(np.abs(h), initial=0.0))
        if top == 0.0:
            norm = float(np.max(np.sum(np.abs(self.M), axis=1), initial=0.0)) if self.M.size else 0.0
            top = scale / norm if norm > 0 else 1.0
        return _FLOOR * top

    def lift(self, y, free):
        """A small target for ``M^T y`` on the columns ``free`` (the basic ``h_j``, for ``h >= 0``):
        three times the rounding bound of :func:`~layerinv.system.dual_bound`, so that its slack
        term vanishes (``g - g_err > 0``) at the price of ``kappa . h``."""
        if self.Mabs is None:
            self.Mabs = np.asfortranarray(np.abs(self.M))
        m = self.M.shape[0]
        gamma = (m + 2) * _U / (1 - (m + 2) * _U)
        kappa = 3.0 * gamma * blas.dgemv(1.0, self.Mabs, np.abs(y), trans=1) + 1e-300
        kappa[~free] = 0.0
        return kappa

    def gram(self, d, v=None):
        """``[M, v/d]^T diag(d) [M, v/d]`` (upper triangle), for ``d > 0``: the normal matrix."""
        n, B = self.n, self.B
        if B.shape[0] == 0:
            return np.zeros((B.shape[1],) * 2, order="F")
        sq = np.sqrt(d)
        np.multiply(self.M, sq[:, None], out=B[:, :n])
        if v is not None:
            B[:, n] = v / sq
        return blas.dsyrk(1.0, B, trans=1)


def _cholesky(K):
    """Cholesky factor of the normal matrix, regularised once if it is numerically singular."""
    diag = np.diag(K).copy()
    scale = float(np.max(np.abs(diag), initial=0.0))
    if not np.isfinite(scale) or scale == 0.0:
        return None
    for reg in (0.0, 1e-14, 1e-10):
        if reg:
            K[np.diag_indices_from(K)] = diag + reg * scale
        chol, info = lapack.dpotrf(K, lower=0, clean=0, overwrite_a=0)
        if info == 0:
            return chol
    return None


class _LinfOp:
    """ℓ∞ LP in inequality form; slack blocks ``[E+, E-, I, H, T]`` (see module docstring)."""

    def __init__(self, system):
        self.sys = system
        self.rows = R = _Rows(system, 1)
        nE, nI, n = R.nE, R.nI, R.n
        self.nH = n if system.nonneg else 0
        self.n = n
        self.nx = n + 1
        self.m = 2 * nE + nI + self.nH + 1
        self.b = np.concatenate([system.c_E, -system.c_E, system.c_I, np.zeros(self.nH + 1)])
        self.c = np.zeros(n + 1)
        self.c[n] = 1.0
        s = self.m
        self.sl = (slice(0, nE), slice(nE, 2 * nE), slice(2 * nE, 2 * nE + nI), slice(2 * nE + nI, s - 1))
        self._last_guess = None

    def Ax(self, x):
        n, nE = self.n, self.rows.nE
        h, t = x[:n], x[n]
        u = self.rows.mul(h)
        parts = [u[:nE] - t, -u[:nE] - t, u[nE:] - t]
        if self.nH:
            parts.append(-h)
        parts.append([-t])
        return np.concatenate(parts)

    def ATz(self, z):
        e1, e2, i, hb = self.sl
        y = np.concatenate([z[e1] - z[e2], z[i]])
        g = self.rows.tmul(y)
        if self.nH:
            g = g - z[hb]
        return np.append(g, -(np.sum(z[e1]) + np.sum(z[e2]) + np.sum(z[i]) + z[-1]))

    def multipliers(self, z):
        e1, e2, i, _ = self.sl
        return z[e1] - z[e2], z[i].copy()

    def factor(self, w):
        """Return a solver for ``(A^T diag(w) A) dx = r``, or None."""
        e1, e2, i, hb = self.sl
        n = self.n
        w1, w2, w3 = w[e1], w[e2], w[i]
        dE = w1 + w2
        d = np.concatenate([dE, w3])
        v = np.concatenate([w2 - w1, -w3])
        K = self.rows.gram(d, v)
        K[n, n] += float(np.sum(4.0 * w1 * w2 / dE)) + w[-1]
        if self.nH:
            K[np.arange(n), np.arange(n)] += w[hb]
        chol = _cholesky(K)
        if chol is None:
            return None
        return lambda r: lapack.dpotrs(chol, r)[0]

    def start(self, h0):
        """A strictly feasible, well-centred starting point near ``h0``."""
        sys_ = self.sys
        scale = sys_.scale
        h = h0.copy()
        if self.nH:
            h = np.maximum(h, self.rows.floor(h, scale))
        t = sys_.linf_value(h)
        t = t + max(0.1 * t, 1e-6 * (1 + scale))
        x = np.append(h, t)
        s = self.b - self.Ax(x)
        e1, e2, i, hb = self.sl
        tmask = np.zeros(self.m, bool)
        tmask[e1] = tmask[e2] = tmask[i] = True
        tmask[-1] = True
        mu = 1.0 / float(np.sum(1.0 / s[tmask]))
        z = mu / s
        return x, s, z

    def _basis_rows(self, idx):
        """The rows of ``A`` for the constraints ``idx``, shape (len(idx), n + 1), and the block
        code of each (0: E+, 1: E-, 2: I, 3: h_j >= 0, 4: t >= 0) with its index in the block."""
        n, nE = self.n, self.rows.nE
        e1, e2, i, hb = self.sl
        A = np.zeros((idx.size, n + 1))
        blk = np.searchsorted([e2.start, i.start, hb.start, self.m - 1], idx, side="right")
        j = idx - np.array([0, e2.start, i.start, hb.start, self.m - 1])[blk]
        M = self.rows.M
        for code, sign, off in ((0, 1.0, 0), (1, -1.0, 0), (2, 1.0, nE)):
            sel = blk == code
            A[sel, :n] = sign * M[j[sel] + off]
            A[sel, n] = -1.0
        sel = blk == 3
        A[sel, j[sel]] = -1.0
        A[blk == 4, n] = -1.0
        return A, blk, j

    def vertex(self, x, s, z, target):
        """Guess the optimal vertex from the ``n + 1`` constraints with the largest ``z / s``, solve
        it exactly and, when the guess is only primal or only dual infeasible, repair it with a
        few simplex pivots (dual simplex: the most violated row enters; primal simplex: the most
        negative multiplier leaves). Returns ``(h, y_E, y_I, exact)`` or None; ``exact``: the
        basis is dual feasible and ``value(h) - t <= target(value)`` (optimal up to rounding)."""
        n = self.n
        if self.m <= n + 1:
            return None
        idx = np.argpartition(-(z / s), n)[:n + 1]
        key = np.sort(idx)
        if self._last_guess is not None and np.array_equal(key, self._last_guess):
            return None  # the same guess failed already
        self._last_guess = key
        for pivot in range(_PIVOTS + 1):
            A, blk, j = self._basis_rows(idx)
            lu, piv, info = lapack.dgetrf(A)
            if info != 0:
                return None
            xv = lapack.dgetrs(lu, piv, self.b[idx])[0]
            zb = lapack.dgetrs(lu, piv, -self.c, trans=1)[0]
            if not (np.all(np.isfinite(xv)) and np.all(np.isfinite(zb))):
                return None
            sl = self.b - self.Ax(xv)
            sl[idx] = 0.0
            tol_p = 0.1 * target(max(xv[n], 0.0))
            negz = zb < -_DUAL_TOL
            viol = sl < -tol_p
            if pivot == _PIVOTS or (negz.any() and viol.any()) or not (negz.any() or viol.any()):
                break
            if viol.any():  # dual simplex: the most violated row enters, the ratio test picks who leaves
                jn = int(np.argmin(sl))
                u = lapack.dgetrs(lu, piv, self._basis_rows(np.array([jn]))[0][0], trans=1)[0]
                pos = u > 1e-12 * float(np.max(np.abs(u)))
                if not pos.any():
                    break
                k = np.flatnonzero(pos)[np.argmin(zb[pos] / u[pos])]
                idx[k] = jn
            else:  # primal simplex: the most negative multiplier leaves, the ratio test picks who enters
                k = int(np.argmin(zb))
                e = np.zeros(n + 1)
                e[k] = -1.0
                ad = self.Ax(lapack.dgetrs(lu, piv, e)[0])
                ad[idx] = 0.0
                pos = ad > 1e-12 * float(np.max(np.abs(ad)))
                if not pos.any():
                    break
                cand = np.flatnonzero(pos)
                idx[k] = cand[np.argmin(np.maximum(sl[cand], 0.0) / ad[cand])]
        zf = np.zeros(self.m)
        zf[idx] = np.maximum(zb, 0.0)
        if self.nH and self.rows.M.shape[0]:  # lift M^T y above its rounding error on the basic h_j
            free = np.ones(n, bool)
            free[j[blk == 3]] = False
            y = np.concatenate(self.multipliers(zf))
            dz = lapack.dgetrs(lu, piv, np.append(self.rows.lift(y, free), 0.0), trans=1)[0]
            zl = zf.copy()
            zl[idx] = np.maximum(zb + dz, 0.0)
            if np.all(np.isfinite(zl)):
                zf = zl
        h = xv[:n]
        if self.nH:
            h = np.maximum(h, 0.0)
        yE, yI = self.multipliers(zf)
        value = self.value(h)
        exact = bool(np.min(zb) >= -_DUAL_TOL and value - xv[n] <= target(value))
        return h, yE, yI, exact

    def objective(self, x):
        return float(x[self.n])

    def value(self, h):
        return self.sys.linf_value(h)


class _L1Op:
    """ℓ1 LP in inequality form; ``x = (h, e_E, e_I)``, slack blocks ``[E+, E-, I+, I0, H]``."""

    def __init__(self, system):
        self.sys = system
        self.rows = R = _Rows(system, 0)
        nE, nI, n = R.nE, R.nI, R.n
        self.nH = n if system.nonneg else 0
        self.n = n
        self.nx = n + nE + nI
        self.m = 2 * nE + 2 * nI + self.nH
        self.b = np.concatenate([system.c_E, -system.c_E, system.c_I, np.zeros(nI + self.nH)])
        self.c = np.concatenate([np.zeros(n), np.ones(nE + nI)])
        a = 2 * nE
        self.sl = (slice(0, nE), slice(nE, a), slice(a, a + nI), slice(a + nI, a + 2 * nI),
                   slice(a + 2 * nI, self.m))
        self._last_guess = None

    def Ax(self, x):
        n, nE = self.n, self.rows.nE
        h, eE, eI = x[:n], x[n:n + nE], x[n + nE:]
        u = self.rows.mul(h)
        parts = [u[:nE] - eE, -u[:nE] - eE, u[nE:] - eI, -eI]
        if self.nH:
            parts.append(-h)
        return np.concatenate(parts)

    def ATz(self, z):
        e1, e2, i1, i0, hb = self.sl
        g = self.rows.tmul(np.concatenate([z[e1] - z[e2], z[i1]]))
        if self.nH:
            g = g - z[hb]
        return np.concatenate([g, -(z[e1] + z[e2]), -(z[i1] + z[i0])])

    def multipliers(self, z):
        e1, e2, i1, _, _ = self.sl
        return z[e1] - z[e2], z[i1].copy()

    def factor(self, w):
        e1, e2, i1, i0, hb = self.sl
        n = self.n
        w1, w2, w3, w4 = w[e1], w[e2], w[i1], w[i0]
        D = np.concatenate([w1 + w2, w3 + w4])  # the e block (diagonal)
        coef = np.concatenate([w2 - w1, -w3])  # the (h, e) coupling: M^T diag(coef)
        dred = np.concatenate([4.0 * w1 * w2 / (w1 + w2), w3 * w4 / (w3 + w4)])
        K = self.rows.gram(dred)
        if self.nH:
            K[np.arange(n), np.arange(n)] += w[hb]
        chol = _cholesky(K)
        if chol is None:
            return None
        rows = self.rows

        def solve(r):
            rh, re = r[:n], r[n:]
            dh = lapack.dpotrs(chol, rh - rows.tmul(coef * re / D))[0]
            de = (re - coef * rows.mul(dh)) / D
            return np.concatenate([dh, de])

        return solve

    def start(self, h0):
        sys_, nE = self.sys, self.rows.nE
        scale = sys_.scale
        h = h0.copy()
        if self.nH:
            h = np.maximum(h, self.rows.floor(h, scale))
        r = self.rows.mul(h) - self.rows.c
        delta = max(float(np.mean(np.abs(r))) if r.size else 0.0, 1e-6 * (1 + scale))
        e = np.abs(r) + delta
        e[nE:] = np.maximum(r[nE:], 0.0) + delta
        x = np.concatenate([h, e])
        s = self.b - self.Ax(x)
        e1, e2, i1, i0, hb = self.sl
        z = np.empty(self.m)
        for a, b_ in ((e1, e2), (i1, i0)):  # z_a + z_b = 1 and s_a z_a = s_b z_b
            z[a] = s[b_] / (s[a] + s[b_])
            z[b_] = s[a] / (s[a] + s[b_])
        if self.nH:
            mu = float(np.mean(s[:hb.start] * z[:hb.start])) if hb.start else 1.0
            z[hb] = mu / s[hb]
        return x, s, z

    def _basis_rows(self, idx):
        """Rows of the basis matrix for ``idx`` in ``[0, n_E + n_I)`` (a row of ``M``: ``M_j h = c_j``)
        or ``n_E + n_I + j`` (the bound ``h_j = 0``, written ``-h_j = 0``)."""
        nr = self.rows.nE + self.rows.nI
        A = np.zeros((idx.size, self.n))
        isrow = idx < nr
        A[isrow] = self.rows.M[idx[isrow]]
        A[np.flatnonzero(~isrow), idx[~isrow] - nr] = -1.0
        rhs = np.zeros(idx.size)
        rhs[isrow] = self.rows.c[idx[isrow]]
        return A, rhs

    def _infeasibility(self, idx, w):
        """How far the basic multipliers ``w`` miss their bounds: ``|y| <= 1`` (E), ``0 <= y <= 1`` (I),
        ``z_H >= 0`` (bounds)."""
        nE, nr = self.rows.nE, self.rows.nE + self.rows.nI
        return np.where(idx < nE, np.abs(w) - 1.0,
                        np.where(idx < nr, np.maximum(w - 1.0, -w), -w))

    def vertex(self, x, s, z, target):
        """Guess the optimal vertex: the ``n`` rows (or bounds ``h_j = 0``) that ``h`` interpolates,
        by largest eliminated weight; solve them exactly, then the multipliers of those rows from
        ``M_E^T y_E + M_I^T y_I = z_H`` with the other rows' multipliers at their signs. A basic
        multiplier outside its bounds is repaired by a few primal simplex pivots (Barrodale–Roberts
        line search over the breakpoints). Returns ``(h, y_E, y_I, exact)`` or None; ``exact``: the
        multipliers are feasible and the gap before rounding allowances is within ``target``."""
        e1, e2, i1, i0, hb = self.sl
        n, nE, nI = self.n, self.rows.nE, self.rows.nI
        nr = nE + nI
        w = z / s
        w1, w2, w3, w4 = w[e1], w[e2], w[i1], w[i0]
        score = np.concatenate([4.0 * w1 * w2 / (w1 + w2), w3 * w4 / (w3 + w4), w[hb]])
        if score.size <= n:
            return None
        idx = np.argpartition(-score, n - 1)[:n]
        key = np.sort(idx)
        if self._last_guess is not None and np.array_equal(key, self._last_guess):
            return None  # the same guess failed already
        self._last_guess = key
        c = self.rows.c
        for pivot in range(_PIVOTS + 1):
            A, rhs = self._basis_rows(idx)
            lu, piv, info = lapack.dgetrf(A)
            if info != 0:
                return None
            h = lapack.dgetrs(lu, piv, rhs)[0]
            r = self.rows.mul(h) - c
            y = np.concatenate([np.sign(r[:nE]), (r[nE:] > 0).astype(float)])
            brow = idx[idx < nr]
            y[brow] = 0.0
            rhs = -self.rows.tmul(y)
            wb = lapack.dgetrs(lu, piv, rhs, trans=1)[0]
            if not (np.all(np.isfinite(h)) and np.all(np.isfinite(wb))):
                return None
            bad = self._infeasibility(idx, wb)
            k = int(np.argmax(bad))
            if pivot == _PIVOTS or bad[k] <= _DUAL_TOL or (self.nH and np.min(h) < -1e-12 * (1 + np.max(np.abs(h)))):
                break
            # release constraint k in the direction that lowers the objective, step to the best breakpoint
            wk, code = wb[k], (0 if idx[k] < nE else 1 if idx[k] < nr else 2)
            sigma = -1.0 if code == 2 or wk < (0.0 if code == 1 else -1.0) else 1.0
            slope = -sigma * wk + (1.0 if code == 0 or (code == 1 and sigma > 0) else 0.0)
            e = np.zeros(n)
            e[k] = sigma
            d = lapack.dgetrs(lu, piv, e)[0]
            md = self.rows.mul(d)
            md[brow] = 0.0
            with np.errstate(divide="ignore", invalid="ignore"):
                th = -r / md
            ok = (th > 0) & np.isfinite(th)
            cand = np.flatnonzero(ok)
            inc = np.abs(md[cand]) * np.where(cand < nE, 2.0, 1.0)
            if self.nH:  # a free h_j reaching 0 is a hard stop
                free = np.ones(n, bool)
                free[idx[idx >= nr] - nr] = False
                hj = np.flatnonzero(free & (d < 0))
                cand = np.concatenate([cand, nr + hj])
                th = np.concatenate([th, np.full(n, np.inf)])
                th[nr + hj] = -h[hj] / d[hj]
                inc = np.concatenate([inc, np.full(hj.size, np.inf)])
            if cand.size == 0:
                break
            order = np.argsort(th[cand], kind="stable")
            reach = np.flatnonzero(slope + np.cumsum(inc[order]) >= 0)
            if reach.size == 0:
                break
            idx[k] = cand[order[reach[0]]]
        value = float(np.sum(np.abs(r[:nE])) + np.sum(np.maximum(r[nE:], 0.0)))
        y[brow] = wb[idx < nr]
        naive = value + float(np.sum(y * c))  # zero up to rounding at a vertex
        feasible = bool(np.max(self._infeasibility(idx, wb)) <= _DUAL_TOL)
        h_raw = h
        if self.nH:  # lift M^T y above its rounding error on the basic h_j
            h = np.maximum(h, 0.0)
            free = np.ones(n, bool)
            free[idx[idx >= nr] - nr] = False
            wl = lapack.dgetrs(lu, piv, rhs + self.rows.lift(y, free), trans=1)[0]
            if np.all(np.isfinite(wl)):
                y[brow] = wl[idx < nr]
        y[:nE] = np.clip(y[:nE], -1.0, 1.0)
        y[nE:] = np.clip(y[nE:], 0.0, 1.0)
        if self.nH and np.min(h_raw) < -1e-12 * (1.0 + float(np.max(np.abs(h_raw)))):
            feasible = False  # the vertex violates h >= 0
        exact = feasible and naive <= target(value)
        return h, y[:nE], y[nE:], exact

    def objective(self, x):
        return float(np.sum(x[self.n:]))

    def value(self, h):
        return self.sys.l1_value(h)


def _ridge(system):
    """Starting point: ``argmin ||M_E h - c_E||^2 + lam ||h||^2`` with a tiny ``lam`` (always
    solvable; the least-squares point when ``M_E`` has full column rank)."""
    M, n = system.M_E, system.n_in
    if M.shape[0] == 0:
        return np.zeros(n)
    Mt = M.T
    K = blas.dsyrk(1.0, Mt)
    lam = 1e-10 * float(np.trace(K)) / max(n, 1) + 1e-300
    K[np.diag_indices_from(K)] += lam
    chol, info = lapack.dpotrf(K, lower=0, clean=0)
    if info != 0:
        return np.zeros(n)
    return lapack.dpotrs(chol, blas.dgemv(1.0, Mt, system.c_E))[0]


# ---------------------------------------------------------------------------------- Mehrotra
def _max_step(v, dv):
    """Largest ``a <= 1`` with ``v + a dv >= 0`` (for ``v > 0``)."""
    ratio = np.where(dv < 0, v / np.maximum(-dv, 1e-300), np.inf)
    return min(1.0, float(np.min(ratio, initial=np.inf)))


def _direction(op, x, s, z, rp, rd, mu):
    """One Mehrotra predictor–corrector direction with up to ``_GONDZIO`` centrality correctors.

    Returns ``(dx, ds, dz, ap, ad)`` with the largest feasible primal / dual steps, or None.
    """
    solve = op.factor(z / s)
    if solve is None:
        return None

    def newton(rc):  # A^T dz = -rd,  A dx + ds = -rp,  S dz + Z ds = -rc
        dx = solve(-rd + op.ATz((rc - z * rp) / s))
        ds = -rp - op.Ax(dx)
        return dx, ds, (-rc - z * ds) / s

    dx, ds, dz = newton(s * z)  # affine scaling (predictor)
    ap, ad = _max_step(s, ds), _max_step(z, dz)
    mu_aff = float(np.sum((s + ap * ds) * (z + ad * dz))) / s.size
    sigma = min(1.0, (mu_aff / mu) ** 3)
    rc = s * z + ds * dz - sigma * mu  # Mehrotra's corrector
    dx, ds, dz = newton(rc)
    ap, ad = _max_step(s, ds), _max_step(z, dz)
    for _ in range(_GONDZIO):  # Gondzio's centrality correctors: cheap, they reuse the factor
        if min(ap, ad) >= 1.0:
            break
        tp, td = min(1.0, 1.5 * ap + 0.1), min(1.0, 1.5 * ad + 0.1)
        v = (s + tp * ds) * (z + td * dz)
        vt = np.maximum(np.clip(v, 0.1 * sigma * mu, 10.0 * sigma * mu) - v, -10.0 * sigma * mu)
        cx, cs, cz = newton(rc - vt)
        bp, bd = _max_step(s, cs), _max_step(z, cz)
        if not (np.all(np.isfinite(cx)) and np.all(np.isfinite(cz))) or bp + bd < 1.01 * (ap + ad) + 0.02:
            break
        rc = rc - vt
        dx, ds, dz, ap, ad = cx, cs, cz, bp, bd
    if not (np.all(np.isfinite(dx)) and np.all(np.isfinite(dz))):
        return None
    return dx, ds, dz, ap, ad


def _solve(system, op, norm, h0, tol, atol, max_iter, radius, polish):
    """Mehrotra predictor–corrector on ``op``; see :func:`linf_solve`."""
    scale = system.scale
    n = op.n
    floor = atol * scale  # the system is scaled to max |c| = 1 by the caller
    if h0 is None:
        h0 = _ridge(system)
    x, s, z = op.start(h0)
    b, c, m = op.b, op.c, op.m
    nb = 1.0 + float(np.max(np.abs(b), initial=0.0))
    it, stalled = 0, 0
    status, msg, vert = "max_iter", "", None
    for it in range(max_iter + 1):
        rp = op.Ax(x) + s - b
        rd = op.ATz(z) + c
        gap = float(np.sum(s * z))
        pobj = op.objective(x)
        pinf = float(np.max(np.abs(rp))) / nb
        dinf = float(np.max(np.abs(rd))) / 2.0
        if polish and gap <= max(_POLISH_AT * pobj, floor) and pinf < 1e-6 and dinf < 1e-6:
            vert = op.vertex(x, s, z, lambda v: max(tol * v, floor))
            if vert is not None and vert[3]:
                break
        if gap <= max(tol * pobj, floor) and pinf < tol and dinf < tol:
            break  # the interior point itself is optimal to ``tol``
        if it == max_iter or stalled >= 3:
            break
        step = _direction(op, x, s, z, rp, rd, gap / m)
        if step is None:
            status, msg = "failed", "the normal matrix is numerically singular or the step is not finite"
            break
        dx, ds, dz, ap, ad = step
        ap, ad = _STEP * ap, _STEP * ad
        stalled = stalled + 1 if max(ap, ad) < 1e-3 else 0
        x = x + ap * dx
        s = s + ap * ds
        z = z + ad * dz
    if stalled >= 3:
        status, msg = "failed", "the interior-point steps stalled"
    # candidates: the last interior point and the vertex, judged by their certified gaps
    cands = [(x[:n], *op.multipliers(z), False)]
    if polish and (vert is None or not vert[3]) and status != "failed":
        vert = op.vertex(x, s, z, lambda v: max(tol * v, floor)) or vert
    if vert is not None:
        cands.insert(0, (vert[0], vert[1], vert[2], True))
    best = None
    for h, yE, yI, polished in cands:
        if system.nonneg:
            h = np.maximum(h, 0.0)
        value = op.value(h)
        bound = _certify(system, yE, yI, norm, radius, h)
        if best is None or value - bound.value < best[1] - best[2].value:
            best = (h, value, bound, polished)
        if polished and vert[3]:
            break  # the verified vertex: no need to look further
    h, value, bound, polished = best
    exact = polished and vert[3]
    if exact or value - bound.value <= max(tol * value, floor):
        status = "optimal"
        msg = "verified optimal vertex" if exact else "interior point within tolerance"
    elif not msg:
        msg = f"stopped after {it} iterations"
    return LPResult(h, value, bound.y_E, bound.y_I, bound.value, bound.radius, it, status, polished, msg, bound)


def _certify(system, y_E, y_I, norm, radius, h):
    """The rigorous bound of the multipliers: over every ``h`` when nothing is lost to the radius
    term (``radius = inf``), else over ``||h||_inf <= radius`` (default ``10 max(1, ||h||_inf)``)."""
    if radius is not None:
        return dual_bound(system, y_E, y_I, norm, radius)
    bound = dual_bound(system, y_E, y_I, norm, 10.0 * max(1.0, float(np.max(np.abs(h), initial=0.0))))
    everywhere = dual_bound(system, y_E, y_I, norm, np.inf)
    return everywhere if everywhere.value >= bound.value else bound


def linf_solve(system, *, h0=None, tol=1e-8, atol=1e-12, max_iter=60, radius=None, polish=True):
    """Solve the layer's ℓ∞ LP by a dense interior-point method finished on an exact vertex.

    ``min t  s.t.  |M_E h - c_E| <= t,  M_I h - c_I <= t,  t >= 0``, with ``h >= 0`` when
    ``system.nonneg`` (``h`` free otherwise).

    Parameters
    ----------
    system : LayerSystem
        ``M_E`` (n_E, n), ``c_E`` (n_E,), ``M_I`` (n_I, n), ``c_I`` (n_I,).
    h0 : ndarray, shape (n,), optional
        Starting point, e.g. the least-squares point of the fast path; by default a ridge
        least-squares solve on the equation rows.
    tol, atol : float
        Target: certified gap ``value - lower <= max(tol * value, atol * system.scale)`` (a verified
        optimal vertex is accepted as optimal whatever its rounding allowance). The LP is solved with
        the right-hand sides scaled to ``max |c| = 1``, so the solver is invariant to that scale.
    max_iter : int
        Interior-point iterations.
    radius : float, optional
        The bound ``lower`` holds for every ``h`` with ``||h||_inf <= radius``. By default every
        ``h`` (``radius = inf``) when that costs nothing, else ``10 * max(1, ||h||_inf)`` of the
        returned point: for a free ``h`` the rounding allowance grows like ``radius * n * m * 1e-16``.
    polish : bool
        Guess, repair and verify the optimal vertex (off: a plain interior point to ``tol``).

    Returns
    -------
    LPResult
        Never raises on numerical trouble: ``status == "failed"`` then, and the caller falls back
        to HiGHS.

    Examples
    --------
    >>> import numpy as np
    >>> from layerinv import ReLUNet
    >>> from layerinv.system import build_system
    >>> G = ReLUNet.random([5, 20, 60], rng=0)
    >>> x = G(np.ones(5)) + 1e-3 * np.random.default_rng(1).uniform(-1, 1, 60)
    >>> res = linf_solve(build_system(G.layers[1], x, 2e-3, True))
    >>> res.status, bool(res.value - res.lower <= 1e-8 * res.value)
    ('optimal', True)
    """
    return _run(system, _LinfOp, "linf", h0, tol, atol, max_iter, radius, polish)


def l1_solve(system, *, h0=None, tol=1e-8, atol=1e-12, max_iter=60, radius=None, polish=True):
    """Solve the layer's ℓ1 LP by a dense interior-point method finished on an exact vertex.

    ``min sum_E |M_E h - c_E| + sum_I max(M_I h - c_I, 0)``, with ``h >= 0`` when ``system.nonneg``.
    Parameters and result as for :func:`linf_solve` (here ``|y_E| <= 1``, ``0 <= y_I <= 1``).
    """
    return _run(system, _L1Op, "l1", h0, tol, atol, max_iter, radius, polish)


def _failed(system, radius, message):
    nE, nI = system.M_E.shape[0], system.M_I.shape[0]
    return LPResult(np.full(system.n_in, np.nan), np.inf, np.zeros(nE), np.zeros(nI), -np.inf,
                    np.nan if radius is None else radius, 0, "failed", False, message)


def _run(system, op_cls, norm, h0, tol, atol, max_iter, radius, polish):
    tol = check_positive(tol, "tol")
    atol = check_positive(atol, "atol", strict=False)
    max_iter = check_positive(max_iter, "max_iter", strict=False, integer=True)
    radius = check_positive(radius, "radius", allow_none=True)
    n = system.n_in
    if h0 is not None:
        h0 = np.asarray(h0, dtype=np.float64)
        if h0.shape != (n,):
            raise ValueError(f"h0 must have shape ({n},) to match the system; got {h0.shape}.")
        if not np.all(np.isfinite(h0)):
            h0 = None  # a broken warm start is no reason to fail: start from scratch
    try:
        with np.errstate(all="ignore"):
            if not (np.all(np.isfinite(system.M_E)) and np.all(np.isfinite(system.c_E))
                    and np.all(np.isfinite(system.M_I)) and np.all(np.isfinite(system.c_I))):
                return _failed(system, radius, "the layer system has NaN or infinite entries")
            if system.M_E.shape[0] + system.M_I.shape[0] == 0 or n == 0:
                return _trivial(system, norm, radius, "no unknowns" if n == 0 else "no rows")
            return _scaled(system, op_cls, norm, h0, tol, atol, max_iter, radius, polish)
    except Exception as exc:  # noqa: BLE001 - numerical trouble must not escape; the caller falls back
        return _failed(system, radius, f"{type(exc).__name__}: {exc}")


def _scaled(system, op_cls, norm, h0, tol, atol, max_iter, radius, polish):
    """Solve with the right-hand sides divided by ``sigma = max |c|`` (the LP is homogeneous in
    ``(c, h, t)``, the multipliers do not change), then certify the answer on the original system."""
    sigma = max(float(np.max(np.abs(system.c_E), initial=0.0)), float(np.max(np.abs(system.c_I), initial=0.0)))
    if sigma == 0.0:  # h = 0 meets every row exactly
        return _trivial(system, norm, radius, "all right-hand sides are 0, so h = 0 fits every row")
    unit = LayerSystem(system.M_E, system.c_E / sigma, system.M_I, system.c_I / sigma, system.E, system.I,
                       system.nonneg)
    res = _solve(unit, op_cls(unit), norm, None if h0 is None else h0 / sigma, tol, atol, max_iter,
                 None if radius is None else radius / sigma, polish)
    h = res.h * sigma
    if system.nonneg:
        h = np.maximum(h, 0.0)
    value = system.linf_value(h) if norm == "linf" else system.l1_value(h)
    bound = dual_bound(system, res.y_E, res.y_I, norm, res.radius * sigma)
    message = (f"{res.message}; certified gap {value - bound.value:.3g} (value {value:.6g}, bound "
               f"{bound.value:.6g} for ||h||_inf <= {bound.radius:.3g}, {res.iterations} iterations)")
    return LPResult(h, value, bound.y_E, bound.y_I, bound.value, bound.radius, res.iterations, res.status,
                    res.polished, message, bound)


def _trivial(system, norm, radius, reason):
    """No rows, no unknowns or no right-hand side: ``h = 0`` is optimal, certified in closed form."""
    n = system.n_in
    h = np.zeros(n)
    rE, rI = system.residuals(h)
    if norm == "linf":  # the one row that attains the maximum
        yE, yI = np.zeros(rE.size), np.zeros(rI.size)
        aE, aI = np.abs(rE), np.maximum(rI, 0.0)
        if aE.size and aE.max(initial=0.0) >= aI.max(initial=0.0) and aE.max() > 0:
            j = int(np.argmax(aE))
            yE[j] = np.sign(rE[j])
        elif aI.size and aI.max() > 0:
            yI[int(np.argmax(aI))] = 1.0
    else:
        yE, yI = np.sign(rE), (rI > 0).astype(float)
    bound = _certify(system, yE, yI, norm, radius, h)
    value = system.linf_value(h) if norm == "linf" else system.l1_value(h)
    return LPResult(h, value, bound.y_E, bound.y_I, bound.value, bound.radius, 0, "optimal", True,
                    f"closed form ({reason}); certified gap {value - bound.value:.3g}",
                    bound)
