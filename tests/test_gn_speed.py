"""The fast paths of the stacked Gauss–Newton kernel (solvers/gn_batch.py) compute what the plain
row-by-row kernel computes: the normal equations from the cached forward pass equal those from each
row's own Jacobian, rows grouped by their number of active outputs give bitwise the same products as
each row alone, and a row's iterates do not depend on the rows stacked with it."""
import numpy as np
import pytest

from layerinv import ReLUNet
from layerinv.solvers.gauss_newton import jacobian
from layerinv.solvers.gn_batch import _fit_rows, _forward_cache, _gram_dense_rows, gn_rows

NETS = [
    ([5, 30, 80], dict(bias=True)),
    ([6, 40, 60, 120], dict(bias=True)),
    ([8, 50, 300], dict(activation=("leaky_relu", 0.1))),
    ([8, 50, 200], dict(bias=True, output_activation="sigmoid")),
    ([12, 30], dict(bias=True)),
]


def _stack(G, rng, R):
    Z = rng.standard_normal((R, G.k))
    Y = G(Z + 0.3 * rng.standard_normal(Z.shape))
    return Z, Y


@pytest.mark.parametrize("dims, kw", NETS)
def test_gram_from_the_cached_forward_pass_is_each_rows_jacobian(dims, kw):
    G = ReLUNet.random(dims, rng=3, **kw)
    Z, Y = _stack(G, np.random.default_rng(3), 12)
    out, us = _forward_cache(G, Z)
    JtJ, Jtr = _gram_dense_rows(G, us, Y, [L.weight for L in G.layers])
    for r in range(len(Z)):
        F, J = jacobian(G, Z[r])
        assert np.allclose(out[r], F, rtol=1e-13, atol=1e-13)
        assert np.allclose(JtJ[r], J.T @ J, rtol=1e-11, atol=1e-12)
        assert np.allclose(Jtr[r], J.T @ (Y[r] - F), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("dims, kw", NETS)
def test_gram_of_a_row_is_bitwise_the_same_alone_and_in_a_stack(dims, kw):
    """Rows with equal active-output counts run as one stacked product; the stack holds copies of rows
    (equal counts for sure) and other rows."""
    G = ReLUNet.random(dims, rng=4, **kw)
    Z, Y = _stack(G, np.random.default_rng(4), 9)
    Z, Y = np.vstack([Z, Z[:4]]), np.vstack([Y, Y[:4]])
    Ws = [L.weight for L in G.layers]
    JtJ, Jtr = _gram_dense_rows(G, _forward_cache(G, Z)[1], Y, Ws)
    for r in range(len(Z)):
        a, b = _gram_dense_rows(G, _forward_cache(G, Z[r:r + 1])[1], Y[r:r + 1], Ws)
        assert np.array_equal(a[0], JtJ[r]) and np.array_equal(b[0], Jtr[r]), r


def test_fit_rows_returns_the_pre_activations_of_every_layer():
    G = ReLUNet.random([6, 40, 60, 120], rng=5, bias=True)
    Z, Y = _stack(G, np.random.default_rng(5), 4)
    f, us = _fit_rows(G, Z, Y, np.full(4, 0.1))
    assert [u.shape for u in us] == [(4, 40), (4, 60), (4, 120)]
    for r in range(4):
        h = Z[r]
        for L, u in zip(G.layers, us):
            assert np.allclose(u[r], L.affine(h), rtol=1e-13, atol=1e-13)
            h = L.activation(L.affine(h))
        assert f[r] == pytest.approx(np.sum((h - Y[r]) ** 2) + 0.1 * Z[r] @ Z[r], rel=1e-12)


@pytest.mark.parametrize("dims, kw", NETS[:3])
def test_gn_rows_row_is_bitwise_the_same_alone_and_in_a_stack(dims, kw):
    """Duplicated rows share every active-output count with their copy at every iteration (the stacked
    products group them), yet each row ends where it ends alone."""
    G = ReLUNet.random(dims, rng=6, **kw)
    rng = np.random.default_rng(6)
    Z0, Y = _stack(G, rng, 6)
    Z0, Y = np.vstack([Z0, Z0]), np.vstack([Y, Y])
    lam = np.r_[np.zeros(6), np.full(6, 0.01)]
    Z, F, its, _ = gn_rows(G, Y, Z0, lam)
    for r in range(len(Z0)):
        z1, f1, it1, _ = gn_rows(G, Y[r:r + 1], Z0[r:r + 1], lam[r:r + 1])
        assert np.array_equal(z1[0], Z[r]) and f1[0] == F[r] and it1[0] == its[r], r
