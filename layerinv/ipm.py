"""A dense interior-point solver for one layer's ℓ∞ and ℓ1 LPs, with a vertex polish.

Both LPs are solved in inequality form ``min c.x  s.t.  A x + s = b,  s >= 0`` by Mehrotra's
predictor–corrector method (dual ``max -b.z  s.t.  A^T z + c = 0,  z >= 0``). ``A`` is never formed:
its rows are ``±M_E``, ``M_I`` and unit rows, so each Newton step costs one weighted Gram matrix
``M^T diag(d) M`` (``dsyrk``), one Cholesky factorisation and a few matrix–vector products.

* ℓ∞: ``x = (h, t)``;  rows ``M_E h - t <= c_E``, ``-M_E h - t <= -c_E``, ``M_I h - t <= c_I``,
  ``-h <= 0`` (when ``system.nonneg``), ``-t <= 0``.  Multipliers: ``y_E = z_E+ - z_E-``, ``y_I = z_I``.
* ℓ1: ``x = (h, e_E, e_I)``;  rows ``M_E h - e_E <= c_E``, ``-M_E h - e_E <= -c_E``,
  ``M_I h - e_I <= c_I``, ``-e_I <= 0``, ``-h <= 0``; the ``e`` block is eliminated in closed form.

Once the duality gap is small the solver guesses the optimal vertex (the constraints with the
largest ``z / s``), solves for it exactly and keeps it when it certifies better than the interior
point. Every answer is judged only by quantities recomputed from the system: the objective at ``h``
and the rigorous :func:`~layerinv.system.dual_bound` of the multipliers.

All dense linear algebra goes through SciPy's BLAS/LAPACK (one OpenBLAS thread pool).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import blas, lapack

from .system import dual_bound

__all__ = ["LPResult", "linf_solve", "l1_solve"]

_STEP = 0.995  # fraction of the step to the boundary


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
        Multipliers for :func:`~layerinv.system.dual_bound` (``y_I >= 0``).
    lower : float
        ``dual_bound(system, y_E, y_I, norm, radius).value``: a certified lower bound on the optimum
        over ``||h||_inf <= radius``.
    radius : float
    iterations : int
        Interior-point iterations.
    status : str
        ``"optimal"`` (certified gap ``value - lower`` within tolerance), ``"max_iter"`` or ``"failed"``.
    polished : bool
        Whether ``h`` and the multipliers come from the exact vertex solve.
    message : str
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

    def gram(self, d, v=None):
        """``[M, v/d]^T diag(d) [M, v/d]`` (upper triangle), for ``d > 0``: the normal matrix."""
        sq = np.sqrt(d)
        n = self.n
        np.multiply(self.M, sq[:, None], out=self.B[:, :n])
        if v is not None:
            self.B[:, n] = v / sq
        if self.B.shape[0] == 0:
            return np.zeros((self.B.shape[1],) * 2, order="F")
        return blas.dsyrk(1.0, self.B, trans=1)


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
        sys_, n = self.sys, self.n
        scale = sys_.scale
        h = h0.copy()
        if self.nH:
            top = float(np.max(h, initial=0.0))
            h = np.maximum(h, max(1e-2 * top, 1e-6 * (1 + scale)))
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

    def vertex(self, x, s, z):
        """Guess the optimal vertex from the ``n + 1`` constraints with the largest ``z / s`` and solve
        it exactly; returns ``(h, y_E, y_I)`` or None."""
        n, nE = self.n, self.rows.nE
        e1, e2, i, hb = self.sl
        idx = np.argpartition(-(z / s), n)[:n + 1] if self.m > n + 1 else np.arange(self.m)
        if idx.size != n + 1:
            return None
        A = np.zeros((n + 1, n + 1))
        rhs = self.b[idx]
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
        lu, piv, info = lapack.dgetrf(A)
        if info != 0:
            return None
        xv = lapack.dgetrs(lu, piv, rhs)[0]
        zb = lapack.dgetrs(lu, piv, -self.c, trans=1)[0]
        if not (np.all(np.isfinite(xv)) and np.all(np.isfinite(zb))):
            return None
        zf = np.zeros(self.m)
        zf[idx] = np.maximum(zb, 0.0)
        h = xv[:n]
        if self.nH:
            h = np.maximum(h, 0.0)
        yE, yI = self.multipliers(zf)
        return h, yE, yI

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
        n, nE = self.n, self.rows.nE
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
        sys_, n, nE = self.sys, self.n, self.rows.nE
        scale = sys_.scale
        h = h0.copy()
        if self.nH:
            top = float(np.max(h, initial=0.0))
            h = np.maximum(h, max(1e-2 * top, 1e-6 * (1 + scale)))
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

    def vertex(self, x, s, z):
        """Guess the optimal vertex: the ``n`` rows (or bounds ``h_j = 0``) that ``h`` interpolates,
        by largest eliminated weight; solve them exactly, then the multipliers of those rows from
        ``M_E^T y_E + M_I^T y_I = z_H`` with the other rows' multipliers at their signs."""
        e1, e2, i1, i0, hb = self.sl
        n, nE, nI = self.n, self.rows.nE, self.rows.nI
        w = z / s
        w1, w2, w3, w4 = w[e1], w[e2], w[i1], w[i0]
        score = np.concatenate([4.0 * w1 * w2 / (w1 + w2), w3 * w4 / (w3 + w4), w[hb]])
        if score.size < n:
            return None
        idx = np.argpartition(-score, n - 1)[:n] if score.size > n else np.arange(n)
        rows_ = idx[idx < nE + nI]
        hidx = idx[idx >= nE + nI] - (nE + nI)
        M, c = self.rows.M, self.rows.c
        A = np.zeros((n, n))
        A[:rows_.size] = M[rows_]
        A[np.arange(rows_.size, n), hidx] = -1.0
        rhs = np.concatenate([c[rows_], np.zeros(hidx.size)])
        lu, piv, info = lapack.dgetrf(A)
        if info != 0:
            return None
        h = lapack.dgetrs(lu, piv, rhs)[0]
        if self.nH:
            h = np.maximum(h, 0.0)
        r = self.rows.mul(h) - c
        y = np.concatenate([np.sign(r[:nE]), (r[nE:] > 0).astype(float)])
        y[rows_] = 0.0
        yb = lapack.dgetrs(lu, piv, -self.rows.tmul(y), trans=1)[0]
        if not (np.all(np.isfinite(h)) and np.all(np.isfinite(yb))):
            return None
        y[rows_] = yb[:rows_.size]
        return h, y[:nE], np.maximum(y[nE:], 0.0)

    def value(self, h):
        return self.sys.l1_value(h)


# ---------------------------------------------------------------------------------- Mehrotra
def _max_step(v, dv):
    """Largest ``a <= 1`` with ``v + a dv >= 0``."""
    neg = dv < 0
    if not np.any(neg):
        return 1.0
    return float(min(1.0, np.min(-v[neg] / dv[neg])))


class _Certifier:
    """Scores candidate points by the certified gap ``value(h) - dual_bound(y)``; keeps the best."""

    def __init__(self, system, op, norm, radius, target):
        self.sys, self.op, self.norm, self.radius, self.target = system, op, norm, radius, target
        self.best = None

    def offer(self, h, y_E, y_I, polished):
        if not (np.all(np.isfinite(h)) and np.all(np.isfinite(y_E)) and np.all(np.isfinite(y_I))):
            return False
        if self.sys.nonneg:
            h = np.maximum(h, 0.0)
        value = self.op.value(h)
        lower = dual_bound(self.sys, y_E, y_I, self.norm, self.radius).value
        cand = (value - lower, h, value, y_E, y_I, lower, polished)
        if self.best is None or cand[0] < self.best[0]:
            self.best = cand
        return self.done

    @property
    def done(self):
        return self.best is not None and self.best[0] <= self.target(self.best[2])


def _solve(system, op, norm, h0, tol, atol, max_iter, radius, polish):
    scale = system.scale
    n = op.n
    if radius is None:
        radius = 1e3 * (1.0 + scale)

    def target(value):
        return max(tol * value, atol * (1.0 + scale))

    cert = _Certifier(system, op, norm, radius, target)
    if h0 is None:
        h0 = np.zeros(n)
    x, s, z = op.start(h0)
    b, c, m = op.b, op.c, op.m
    nb = 1.0 + float(np.max(np.abs(b), initial=0.0))
    it = 0
    status, msg = "max_iter", ""
    try:
        for it in range(max_iter + 1):
            rp = op.Ax(x) + s - b
            rd = op.ATz(z) + c
            gap = float(np.sum(s * z))
            pobj = float(c @ x)
            pinf = float(np.max(np.abs(rp))) / nb
            dinf = float(np.max(np.abs(rd))) / 2.0
            small = gap <= 1e-3 * max(pobj, atol * (1.0 + scale)) and pinf < 1e-6 and dinf < 1e-6
            if small:
                yE, yI = op.multipliers(z)
                if cert.offer(x[:n], yE, yI, False):
                    break
                if polish:
                    v = op.vertex(x, s, z)
                    if v is not None and cert.offer(*v, True):
                        break
                if gap <= 0.1 * tol * max(pobj, atol * (1 + scale)) and pinf < 0.1 * tol and dinf < 0.1 * tol:
                    break  # the interior point is as good as it gets
            if it == max_iter:
                break
            mu = gap / m
            solve = op.factor(z / s)
            if solve is None:
                status, msg = "failed", "the normal matrix lost positive definiteness"
                break

            def newton(rc):
                dx = solve(-rd + op.ATz((rc - z * rp) / s))
                ds = -rp - op.Ax(dx)
                dz = (-rc - z * ds) / s
                return dx, ds, dz

            dx, ds, dz = newton(s * z)
            ap, ad = _max_step(s, ds), _max_step(z, dz)
            mu_aff = float(np.sum((s + ap * ds) * (z + ad * dz))) / m
            sigma = min(1.0, (mu_aff / mu) ** 3)
            dx, ds, dz = newton(s * z + ds * dz - sigma * mu)
            ap, ad = min(1.0, _STEP * _max_step(s, ds)), min(1.0, _STEP * _max_step(z, dz))
            if not (np.all(np.isfinite(dx)) and np.all(np.isfinite(dz))):
                status, msg = "failed", "the Newton step was not finite"
                break
            x = x + ap * dx
            s = s + ap * ds
            z = z + ad * dz
    except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:  # pragma: no cover
        status, msg = "failed", f"{type(exc).__name__}: {exc}"
    if cert.best is None or not cert.done:  # score the last iterate as well
        yE, yI = op.multipliers(z)
        cert.offer(x[:n], yE, yI, False)
        if polish and status != "failed":
            v = op.vertex(x, s, z)
            if v is not None:
                cert.offer(*v, True)
    g, h, value, yE, yI, lower, polished = cert.best
    if cert.done:
        status = "optimal"
        msg = f"certified gap {g:.3g} (value {value:.6g}, bound {lower:.6g}, radius {radius:.3g})"
    elif not msg:
        msg = f"stopped after {it} iterations with certified gap {g:.3g} > target {target(value):.3g}"
    return LPResult(h, value, yE, yI, lower, radius, it, status, polished, msg)


def linf_solve(system, *, h0=None, tol=1e-9, atol=1e-12, max_iter=60, radius=None, polish=True):
    """Solve the layer's ℓ∞ LP ``min t  s.t. |M_E h - c_E| <= t,  M_I h - c_I <= t`` (``h >= 0`` if
    ``system.nonneg``) by a dense Mehrotra interior-point method with a vertex polish.

    Parameters
    ----------
    system : LayerSystem
    h0 : ndarray, shape (n_in,), optional
        A starting guess (e.g. the least-squares point); zero if omitted.
    tol, atol : float
        Stop once the certified gap ``value - lower <= max(tol * value, atol * (1 + scale))``.
    max_iter : int
    radius : float, optional
        Radius ``R`` of the box ``||h||_inf <= R`` on which ``lower`` holds (see
        :func:`~layerinv.system.dual_bound`); default ``1e3 * (1 + system.scale)``.
    polish : bool
        Try the exact vertex once the gap is small.

    Returns
    -------
    LPResult
        Never raises on numerical trouble: ``status == "failed"`` then.
    """
    return _run(system, _LinfOp, "linf", h0, tol, atol, max_iter, radius, polish)


def l1_solve(system, *, h0=None, tol=1e-9, atol=1e-12, max_iter=60, radius=None, polish=True):
    """Solve the layer's ℓ1 LP ``min sum|M_E h - c_E| + sum max(M_I h - c_I, 0)`` (``h >= 0`` if
    ``system.nonneg``); parameters and result as for :func:`linf_solve`."""
    return _run(system, _L1Op, "l1", h0, tol, atol, max_iter, radius, polish)


def _run(system, op_cls, norm, h0, tol, atol, max_iter, radius, polish):
    n = system.n_in
    try:
        with np.errstate(all="ignore"):
            op = op_cls(system)
            return _solve(system, op, norm, None if h0 is None else np.asarray(h0, float), tol, atol,
                          max_iter, radius, polish)
    except Exception as exc:  # never let numerical trouble escape: the caller falls back to HiGHS
        nE, nI = system.M_E.shape[0], system.M_I.shape[0]
        return LPResult(np.full(n, np.nan), np.inf, np.zeros(nE), np.zeros(nI), -np.inf,
                        np.nan if radius is None else radius, 0, "failed", False,
                        f"{type(exc).__name__}: {exc}")
