"""Guards for speed work on the stacked Gauss–Newton kernel (solvers/gn_batch.py): its normal equations
equal those from each row's own Jacobian, a row's products are bitwise the same alone and in a stack
(also next to copies of itself, which share its shapes), and so are its iterates."""
import numpy as np
import pytest

from layerinv import ReLUNet
from layerinv.solvers.gauss_newton import jacobian
from layerinv.solvers.gn_batch import _forward_rows, _gram_dense_rows, gn_rows

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
def test_gram_is_each_rows_jacobian(dims, kw):
    G = ReLUNet.random(dims, rng=3, **kw)
    Z, Y = _stack(G, np.random.default_rng(3), 12)
    out = _forward_rows(G, Z)
    JtJ, Jtr = _gram_dense_rows(G, Z, Y, [L.weight for L in G.layers])
    for r in range(len(Z)):
        F, J = jacobian(G, Z[r])
        assert np.allclose(out[r], F, rtol=1e-13, atol=1e-13)
        assert np.allclose(JtJ[r], J.T @ J, rtol=1e-11, atol=1e-12)
        assert np.allclose(Jtr[r], J.T @ (Y[r] - F), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("dims, kw", NETS)
def test_gram_of_a_row_is_bitwise_the_same_alone_and_in_a_stack(dims, kw):
    """The stack holds copies of rows (equal active-output counts for sure) and other rows."""
    G = ReLUNet.random(dims, rng=4, **kw)
    Z, Y = _stack(G, np.random.default_rng(4), 9)
    Z, Y = np.vstack([Z, Z[:4]]), np.vstack([Y, Y[:4]])
    Ws = [L.weight for L in G.layers]
    JtJ, Jtr = _gram_dense_rows(G, Z, Y, Ws)
    for r in range(len(Z)):
        a, b = _gram_dense_rows(G, Z[r:r + 1], Y[r:r + 1], Ws)
        assert np.array_equal(a[0], JtJ[r]) and np.array_equal(b[0], Jtr[r]), r


@pytest.mark.parametrize("dims, kw", NETS[:3])
def test_gn_rows_row_is_bitwise_the_same_alone_and_in_a_stack(dims, kw):
    """Duplicated rows share every shape with their copy at every iteration, yet each row ends where it
    ends alone."""
    G = ReLUNet.random(dims, rng=6, **kw)
    rng = np.random.default_rng(6)
    Z0, Y = _stack(G, rng, 6)
    Z0, Y = np.vstack([Z0, Z0]), np.vstack([Y, Y])
    lam = np.r_[np.zeros(6), np.full(6, 0.01)]
    Z, F, its, _ = gn_rows(G, Y, Z0, lam)
    for r in range(len(Z0)):
        z1, f1, it1, _ = gn_rows(G, Y[r:r + 1], Z0[r:r + 1], lam[r:r + 1])
        assert np.array_equal(z1[0], Z[r]) and f1[0] == F[r] and it1[0] == its[r], r
