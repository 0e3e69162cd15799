"""The interior-point kernel's problem operators: the ℓ∞ and ℓ1 layer LPs in inequality form.

``A`` is never formed: :class:`_Rows` holds the stacked rows ``[M_E; M_I]`` and computes the
products and weighted Gram matrices; :class:`_LinfOp` and :class:`_L1Op` add the slack blocks, the
normal-equation factorisation, the starting point and the vertex guess (with a few simplex pivots
of repair) used by :mod:`layerinv.lp.ipm`. See that module's docstring for the LP forms.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import blas, lapack

__all__ = ["LinfOp", "L1Op"]

_U = np.finfo(np.float64).eps / 2
_DUAL_TOL = 1e-11  # a vertex's multipliers may miss their bounds by this much (rounding)
_FLOOR = 1e-2  # smallest starting h_j (h >= 0), relative to the largest
_PIVOTS = 4  # simplex pivots allowed to repair a guessed vertex


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
        three times the rounding bound of :func:`~layerinv.lp.system.dual_bound`, so that its slack
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


class _Op:
    """What both LP operators share: the system, its stacked rows, ``n`` unknowns h and the
    ``nH`` rows ``-h <= 0`` (when ``system.nonneg``); ``norm`` names the objective."""

    norm = ""

    def __init__(self, system, extra_cols):
        self.sys = system
        self.rows = _Rows(system, extra_cols)
        self.n = self.rows.n
        self.nH = self.n if system.nonneg else 0
        self._last_guess = None

    def _set_rows(self, m):
        """``m`` inequality rows in all; right-hand sides ``[c_E, -c_E, c_I, 0...]``."""
        sys_, R = self.sys, self.rows
        self.m = m
        self.b = np.concatenate([sys_.c_E, -sys_.c_E, sys_.c_I, np.zeros(m - 2 * R.nE - R.nI)])

    def value(self, h):
        """The objective at h, recomputed from the system."""
        return self.sys.value(h, self.norm)


class LinfOp(_Op):
    """ℓ∞ LP in inequality form; slack blocks ``[E+, E-, I, H, T]`` (see module docstring)."""

    norm = "linf"

    def __init__(self, system):
        super().__init__(system, 1)
        nE, nI, n = self.rows.nE, self.rows.nI, self.n
        self.nx = n + 1
        self._set_rows(2 * nE + nI + self.nH + 1)
        self.c = np.zeros(n + 1)
        self.c[n] = 1.0
        self.sl = (slice(0, nE), slice(nE, 2 * nE), slice(2 * nE, 2 * nE + nI), slice(2 * nE + nI, self.m - 1))

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


class L1Op(_Op):
    """ℓ1 LP in inequality form; ``x = (h, e_E, e_I)``, slack blocks ``[E+, E-, I+, I0, H]``."""

    norm = "l1"

    def __init__(self, system):
        super().__init__(system, 0)
        nE, nI, n = self.rows.nE, self.rows.nI, self.n
        self.nx = n + nE + nI
        self._set_rows(2 * nE + 2 * nI + self.nH)
        self.c = np.concatenate([np.zeros(n), np.ones(nE + nI)])
        a = 2 * nE
        self.sl = (slice(0, nE), slice(nE, a), slice(a, a + nI), slice(a + nI, a + 2 * nI),
                   slice(a + 2 * nI, self.m))

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
