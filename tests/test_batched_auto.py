"""auto's Gauss–Newton polish as one stack over images and starts (issue 11, item 1): the batched path
equals the single-image path (z to 1e-10 relative, same statuses), and the stacked kernel equals the
one-row Gauss–Newton it replaced."""
import numpy as np
import pytest

from layerinv import ReLUNet, invert
from layerinv.solvers.gauss_newton import gauss_newton, quasi_random_starts
from layerinv.solvers.gn_batch import _tie_order, gauss_newton_map_many, gn_rows

Z_REL = 1e-10  # the criterion: batched vs single-image z


def _noisy(G, rng, n, sigma):
    Z = rng.standard_normal((n, G.k))
    X = G(Z)
    scale = np.max(np.abs(X), axis=1, keepdims=True)
    return X + sigma * scale * rng.standard_normal(X.shape)


def _assert_same(G, X, batched):
    for i, x in enumerate(X):
        single = invert(G, x, method="auto")
        assert batched.status[i] == single.status, (i, batched.message[i], single.message)
        assert batched.method[i] == single.method
        zs = np.asarray(single.z)
        assert np.linalg.norm(batched.z[i] - zs) <= Z_REL * np.linalg.norm(zs), i
        polish_b, polish_s = batched[i].info.get("polish"), single.info.get("polish")
        assert (polish_b is None) == (polish_s is None)
        if polish_s is not None:
            assert polish_b["winner"] == polish_s["winner"] and polish_b["starts"] == polish_s["starts"]


NETS = [([6, 30, 90], "relu", None, True), ([4, 20, 60], ("leaky_relu", 0.1), None, False),
        ([5, 25, 70], "relu", "sigmoid", True), ([3, 15, 40, 90], "relu", None, True)]


@pytest.mark.parametrize("dims,act,out,bias", NETS)
@pytest.mark.parametrize("seed", range(3))
def test_batched_auto_equals_single(dims, act, out, bias, seed):
    rng = np.random.default_rng(seed)
    G = ReLUNet.random(dims, rng=seed, bias=bias, activation=act, output_activation=out)
    X = np.vstack([_noisy(G, rng, 8, 0.05), _noisy(G, rng, 4, 0.5), G(rng.standard_normal((2, G.k)))])
    res = invert(G, X, method="auto", batch_size=5)  # chunks mix clean and noisy images
    _assert_same(G, X, res)
    assert {"converged", "exact"} <= set(res.status)
    whole = invert(G, X, method="auto")  # one chunk: the same answers
    assert list(whole.status) == list(res.status)
    assert np.all(np.linalg.norm(whole.z - res.z, axis=1) <= Z_REL * np.linalg.norm(res.z, axis=1))


def test_batched_auto_mnist_generator_equals_single():
    from layerinv.datasets import load_mnist_generator

    G = load_mnist_generator("dense")
    rng = np.random.default_rng(4)
    Z = rng.standard_normal((6, G.k))
    X = G(Z) + np.sqrt(np.array([0.01, 0.01, 0.01, 0.3, 0.3, 0.3]))[:, None] * rng.standard_normal((6, G.n))
    _assert_same(G, X, invert(G, X, method="auto", batch_size=4))


def test_polish_options_keep_their_meaning():
    G = ReLUNet.random([5, 25, 70], rng=3, bias=True)
    X = _noisy(G, np.random.default_rng(3), 4, 0.1)
    off = invert(G, X, method="auto", polish=False)
    assert set(off.status) <= {"optimal", "feasible", "inconclusive"}
    assert all("polish" not in off[i].info for i in range(len(off)))
    two = invert(G, X, method="auto", starts=2)
    assert all(two[i].info["polish"]["starts"] == 2 for i in range(len(two)))
    for i, x in enumerate(X):
        s = invert(G, x, method="auto", starts=2)
        assert np.linalg.norm(two.z[i] - s.z) <= Z_REL * np.linalg.norm(s.z)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("lam", [0.0, 0.01])
def test_gn_rows_equals_one_row_gauss_newton(seed, lam):
    """The stacked kernel takes the one-row Gauss–Newton's decisions row by row."""
    rng = np.random.default_rng(seed)
    G = ReLUNet.random([5, 30, 80], rng=seed, bias=True)
    x = _noisy(G, rng, 1, 0.1)[0]
    Z0 = np.vstack([quasi_random_starts(G.k, 6), rng.standard_normal((3, G.k))])
    Z, F, its = gn_rows(G, np.broadcast_to(x, (len(Z0), G.n)), Z0, np.full(len(Z0), lam))
    for r, z0 in enumerate(Z0):
        z, f, it = gauss_newton(G, x, z0, lam=lam, steps=20, rtol=1e-8, halvings=20, shift="fit")
        assert np.linalg.norm(Z[r] - z) <= Z_REL * np.linalg.norm(z)
        assert F[r] == pytest.approx(f, rel=1e-12)
        assert F[r] <= float(np.sum((G(z0) - x) ** 2) + lam * z0 @ z0)


def test_gn_rows_row_does_not_depend_on_the_stack():
    rng = np.random.default_rng(9)
    G = ReLUNet.random([6, 30, 90], rng=9, bias=True)
    X = _noisy(G, rng, 5, 0.2)
    Z0 = rng.standard_normal((5, G.k))
    Z, F, its = gn_rows(G, X, Z0, np.full(5, 0.003))
    for r in range(5):
        z1, f1, it1 = gn_rows(G, X[r:r + 1], Z0[r:r + 1], np.full(1, 0.003))
        # decisions row by row: the same iterates up to the rounding of a stacked forward pass
        assert np.linalg.norm(z1[0] - Z[r]) <= 1e-13 * np.linalg.norm(Z[r]) and it1[0] == its[r]
        assert f1[0] == pytest.approx(F[r], rel=1e-13)


def test_map_many_skips_non_finite_starts_and_reports_no_start():
    G = ReLUNet.random([4, 20, 60], rng=1, bias=True)
    X = _noisy(G, np.random.default_rng(1), 2, 0.1)
    qr = quasi_random_starts(G.k, 3)
    bad = np.full((2, G.k), np.nan)
    out = gauss_newton_map_many(G, X, [np.vstack([bad[:1], qr]), bad])
    z, f, which, iters, lam = out[0]
    assert which >= 1 and np.all(np.isfinite(z)) and lam > 0
    assert out[1][0] is None and out[1][1] == np.inf and out[1][2] == -1


def test_tie_order_keeps_start_order_among_equal_objectives():
    f = np.array([3.0, 1.0 + 1e-15, 2.0, 1.0, 1.0 + 1e-3])
    assert list(_tie_order(f)) == [1, 3, 4, 2, 0]
