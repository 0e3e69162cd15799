"""Gauss–Newton inside activation regions (layerinv.solvers.gauss_newton)."""
import numpy as np
import pytest

from layerinv import ReLUNet
from layerinv.ops import LinearOperator
from layerinv.solvers.gauss_newton import gauss_newton, jacobian

from conftest import planted, rel


@pytest.mark.parametrize("kwargs", [dict(), dict(bias=True, activation=("leaky_relu", 0.1)),
                                    dict(output_activation="sigmoid")])
def test_jacobian_matches_finite_differences(seed, kwargs):
    rng = np.random.default_rng(seed)
    G = ReLUNet.random([6, 40, 90], rng, **kwargs)
    z = rng.standard_normal(6)
    x, J = jacobian(G, z)
    np.testing.assert_allclose(x, G(z), rtol=1e-14)
    eps = 1e-7
    fd = np.stack([(G(z + eps * e) - G(z - eps * e)) / (2 * eps) for e in np.eye(6)], axis=1)
    np.testing.assert_allclose(J, fd, rtol=1e-5, atol=1e-7)


def test_polish_never_increases_and_recovers_from_near_start(seed):
    rng = np.random.default_rng(seed)
    G = ReLUNet.random([10, 100, 300], rng)
    z, x = planted(G, rng)
    start = z + 0.05 * rng.standard_normal(10)
    f0 = float(np.sum((G(start) - x) ** 2))
    zp, f, it = gauss_newton(G, x, start)
    assert f <= f0
    assert rel(zp, z) < 1e-8  # noiseless: the region's least squares is z* itself


def test_polish_with_measurements_and_prior(seed):
    rng = np.random.default_rng(seed)
    G = ReLUNet.random([5, 60, 200], rng)
    z, x = planted(G, rng)
    A = rng.standard_normal((40, 200)) / np.sqrt(40)
    y = A @ x + 0.01 * rng.standard_normal(40)
    start = rng.standard_normal(5)
    f0 = float(np.sum((A @ G(start) - y) ** 2) + 0.1 * start @ start)
    zp, f, _ = gauss_newton(G, y, start, op=LinearOperator(A), lam=0.1)
    assert f <= f0 + 1e-12
    assert np.isclose(f, np.sum((A @ G(zp) - y) ** 2) + 0.1 * zp @ zp)


def test_quasi_random_starts_are_deterministic_and_spread():
    from layerinv.solvers.gauss_newton import quasi_random_starts

    a, b = quasi_random_starts(20, 16), quasi_random_starts(20, 16)
    assert a.shape == (16, 20) and np.array_equal(a, b) and np.all(np.isfinite(a))
    assert abs(a.mean()) < 0.3 and 0.5 < a.std() < 1.5
    assert len({tuple(r) for r in a}) == 16
