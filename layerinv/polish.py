"""Polishing a latent inside its activation region (Gauss–Newton on a piecewise-affine G).

Once the activation pattern of every layer is fixed, a ReLU generator is affine in z:
``G(z) = J z + c`` on that region. Minimising ``||A(J z + c) - y||^2 + lam ||z||^2`` is then a k×k
least-squares problem. ``polish`` alternates that solve with a forward pass (which may change the
pattern) and a backtracking line search on the true objective, so the objective never increases:
it can only improve on the starting point (e.g. the layer-wise LP's answer, whose errors compound
across layers under heavy noise).
"""
from __future__ import annotations

import numpy as np

__all__ = ["polish", "polish_many", "polish_best", "map_polish", "quasi_random_starts", "jacobian"]


def jacobian(G, z):
    """``(G(z), J)`` with ``J = dG/dz`` of shape (n, k) at z (shape (k,)).

    For ReLU / LeakyReLU / identity layers G is exactly affine around z: ``G(z') = G(z) + J (z' - z)``
    while no unit changes sign.
    """
    h = z
    J = np.eye(G.k)
    for L in G.layers:
        u = L.affine(h)
        J = L.weight @ J
        act = L.activation
        if act.name == "relu":
            d = (u > 0).astype(float)
        elif act.name == "leaky_relu":
            d = np.where(u >= 0, 1.0, act.slope)
        elif act.name == "sigmoid":
            s = act(u)
            d = s * (1 - s)
        elif act.name == "tanh":
            d = 1 - np.tanh(u) ** 2
        else:
            d = np.ones_like(u)
        h = act(u)
        J = J * d[:, None]
    return h, J


def polish(G, y, z0, *, lam=0.0, A=None, max_iter=50, rtol=1e-12):
    """Lower ``f(z) = ||A G(z) - y||^2 + lam ||z||^2`` from ``z0`` by Gauss–Newton with line search.

    Parameters
    ----------
    G : ReLUNet
    y : ndarray, shape (m,)
        Target (``x`` itself when ``A`` is None).
    z0 : ndarray, shape (k,)
    lam : float
        Weight of ``||z||^2`` (``sigma^2`` gives the MAP estimate under z ~ N(0, I) and Gaussian
        noise of variance ``sigma^2``).
    A : ndarray, shape (m, n), optional
        Linear measurement matrix applied after G.
    max_iter : int
    rtol : float
        Stop when an accepted step lowers f by less than ``rtol * f``.

    Returns
    -------
    z : ndarray, shape (k,)
    f : float
        The objective at z (never above the objective at ``z0``).
    iterations : int
    """
    def objective(z):
        x = G(z)
        r = (x if A is None else A @ x) - y
        return float(r @ r + lam * z @ z)

    z = np.asarray(z0, dtype=np.float64).copy()
    f = objective(z)
    it = 0
    eye = np.eye(G.k)
    for it in range(1, max_iter + 1):
        x, J = jacobian(G, z)
        if A is not None:
            x, J = A @ x, A @ J
        # the affine model on z's region is x + J (z' - z): solve for the step, so that the tiny
        # shift keeping J^T J invertible only damps the step, never biases the answer
        JtJ = J.T @ J
        try:
            step = np.linalg.solve(JtJ + lam * eye + 1e-12 * (np.trace(JtJ) / G.k + 1e-300) * eye,
                                   J.T @ (y - x) - lam * z)
        except np.linalg.LinAlgError:
            break
        accepted = False
        alpha = 1.0
        for _ in range(20):
            cand = z + alpha * step
            fc = objective(cand)
            if fc < f:
                accepted = True
                break
            alpha *= 0.5
        if not accepted:
            break
        decrease = f - fc
        z, f = cand, fc
        if decrease <= rtol * max(f, 1e-300):
            break
    return z, f, it


def _primes(n):
    out = []
    c = 2
    while len(out) < n:
        if all(c % p for p in out if p * p <= c):
            out.append(c)
        c += 1
    return np.array(out, dtype=np.float64)


def quasi_random_starts(k, count):
    """``count`` deterministic, evenly spread latents in R^k (shape (count, k)).

    A Kronecker (Richtmyer) sequence ``u_i = frac(1/2 + i * sqrt(p_j))`` over the first k primes,
    mapped through the standard normal quantile: a space-filling sample of N(0, I) that needs no
    random generator, so results are reproducible without hidden seeds.
    """
    if count <= 0:
        return np.zeros((0, k))
    from scipy.special import ndtri

    alpha = np.sqrt(_primes(k)) % 1.0
    u = (0.5 + np.arange(1, count + 1)[:, None] * alpha) % 1.0
    return ndtri(np.clip(u, 1e-9, 1 - 1e-9))


def polish_many(G, y, starts, *, lam=0.0, A=None, max_iter=20, rtol=1e-8):
    """Polish every start (rows of ``starts``); return ``[(f, z, index), ...]`` sorted by f, and the
    total number of Gauss–Newton iterations."""
    out, total = [], 0
    for i, z0 in enumerate(starts):
        if not np.all(np.isfinite(z0)):
            continue
        z, f, it = polish(G, y, z0, lam=lam, A=A, max_iter=max_iter, rtol=rtol)
        total += it
        out.append((f, z, i))
    out.sort(key=lambda t: t[0])
    return out, total


def polish_best(G, y, starts, *, lam=0.0, A=None, max_iter=20, rtol=1e-8):
    """Polish every start and keep the lowest objective: ``(z, f, index_of_winning_start, iterations)``."""
    out, total = polish_many(G, y, starts, lam=lam, A=A, max_iter=max_iter, rtol=rtol)
    if not out:
        return None, np.inf, -1, total
    f, z, i = out[0]
    return z, f, i, total


def map_polish(G, y, starts, *, lam="auto", A=None, keep=3):
    """Fit, then MAP: polish every start for ``||A G(z) - y||^2``; with ``lam="auto"`` estimate the
    noise variance from the best fit (``RSS / (m - k)``) and re-polish the ``keep`` best fits for
    ``||A G(z) - y||^2 + lam ||z||^2`` (the MAP estimate under z ~ N(0, I)).

    Returns ``(z, f, index_of_winning_start, iterations, lam)``.
    """
    fits, total = polish_many(G, y, starts, A=A)
    if not fits:
        return None, np.inf, -1, total, 0.0
    if lam == "auto":
        m = len(y)
        lam = fits[0][0] / max(m - G.k, 1)
    if lam <= 0:
        f, z, i = fits[0]
        return z, f, i, total, 0.0
    top = fits[:keep]
    cands = [z for _, z, _ in top] + [np.asarray(starts[0], dtype=np.float64)]  # the first start too, so
    maps, more = polish_many(G, y, np.stack(cands), lam=lam, A=A)             # f <= its objective
    f, z, j = maps[0]
    return z, f, (top[j][2] if j < len(top) else 0), total + more, float(lam)
