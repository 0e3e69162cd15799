"""The sparse-recovery baseline of the compressed-sensing experiment: Lasso in a DCT basis by FISTA.

``min_c 1/2 ||A Psi c - y||^2 + lam ||c||_1`` with Psi the orthonormal inverse DCT (2-D for
images), solved by FISTA (Beck & Teboulle 2009). Maths only: no files, no printing.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["lasso_dct", "LASSO_ITERS"]

LASSO_ITERS = 500


def _dct_pair(shape):
    from scipy.fft import dctn, idctn

    def synth(c):  # Psi c
        return idctn(c.reshape(shape), norm="ortho").reshape(-1)

    def analysis(x):  # Psi^T x
        return dctn(x.reshape(shape), norm="ortho").reshape(-1)

    return synth, analysis


def lasso_dct(A, y, shape, lam_rel, iters=LASSO_ITERS):
    """FISTA on ``1/2 ||A Psi c - y||^2 + lam ||c||_1``; returns ``Psi c``.

    A : (m, n); y : (m,); shape : the signal's shape for the DCT (n entries); ``lam = lam_rel *
    ||(A Psi)^T y||_inf`` (at ``lam_rel >= 1`` the answer is 0). Step ``1 / ||A||_2^2`` (Psi is
    orthonormal).
    """
    synth, analysis = _dct_pair(shape)
    L = float(np.linalg.norm(A, 2)) ** 2
    lam = lam_rel * float(np.max(np.abs(analysis(A.T @ y))))
    c = np.zeros(A.shape[1])
    w, t = c.copy(), 1.0
    for _ in range(iters):
        grad = analysis(A.T @ (A @ synth(w) - y))
        v = w - grad / L
        c_new = np.sign(v) * np.maximum(np.abs(v) - lam / L, 0.0)
        t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
        w = c_new + ((t - 1.0) / t_new) * (c_new - c)
        c, t = c_new, t_new
    return synth(c)
