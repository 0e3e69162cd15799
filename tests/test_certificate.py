"""Certificates re-check from G and x alone, and refuse to vouch for what they do not prove."""
import numpy as np
import pytest

from layerinv import ReLUNet, invert
from layerinv.certificate import fit_lower_bound

from conftest import planted


def _off_range(seed):
    rng = np.random.default_rng(seed)
    G = ReLUNet.random([15, 120, 400], rng)
    z, x = planted(G, rng)
    x_off = np.maximum(x + np.where(x > 0, 1e-2 * rng.standard_normal(x.shape), 0.0), 0.0)
    return G, x, x_off


def test_tampered_certificates_fail(seed):
    G, x, x_off = _off_range(seed)
    cert = invert(G, x_off, method="exact").certificate
    assert cert.check()
    y_E = cert.y_E.copy()
    cert.y_E = -y_E  # flipped multipliers prove nothing
    assert not cert.check() and "bound" in cert.reason
    cert.y_E = y_E
    cert.tol = [t * 1e6 for t in cert.tol]  # a tolerance the bound does not exceed
    assert not cert.check()


def test_forged_certificate_for_an_in_range_x_fails(seed):
    """x = G(z) is in the range, so no certificate about it may check. Forge one: declare every row of
    the (only) layer an equation row, inactive units (target 0 <= tol) included; that system is
    inconsistent, so its LP gives valid-looking multipliers and a bound far above tol. check() must
    refuse it because an equation row's target does not exceed the tolerance."""
    from layerinv.certificate import LayerCertificate
    from layerinv.lp.kernels import solve_exact
    from layerinv.lp.system import build_system

    rng = np.random.default_rng(seed)
    G = ReLUNet.random([3, 12], rng)
    z, x = planted(G, rng)
    assert np.sum(x == 0) >= 2 and invert(G, x, method="exact").status == "exact"
    delta = 1e-6 * np.max(np.abs(x))
    system = build_system(G.layers[0], x, -np.inf, False)  # every row an equation
    out = solve_exact(system, delta)
    assert out.status == "infeasible" and out.bound.value > 100 * delta  # the forged system is infeasible
    forged = LayerCertificate(0, "dual", [delta], G, x, E={0: system.E}, I=system.I, y_E=out.bound.y_E,
                              y_I=out.bound.y_I, bound=out.bound.value, radius=out.bound.radius)
    assert not forged.check()
    # multipliers of the right shape (the layer's own claim system) cannot prove anything about an x in
    # the range either: the recomputed bound stays below the tolerance
    from layerinv.certificate import claim_system

    own = claim_system(G.layers[0], x, delta, False)
    for trial in range(3):
        r = np.random.default_rng(trial)
        forged = LayerCertificate(0, "dual", [delta], G, x, E={0: own.E}, I=own.I,
                                  y_E=r.standard_normal(own.c_E.shape), y_I=np.abs(r.standard_normal(own.c_I.shape)),
                                  bound=1.0, radius=10.0, rtol=1e-6)
        assert not forged.check()


def test_certificate_does_not_transfer_to_other_networks(seed):
    G, x, x_off = _off_range(seed)
    cert = invert(G, x_off, method="exact").certificate
    H = ReLUNet.random(G.dims, rng=seed + 100)
    assert not cert.check(H, x_off)


def test_certificate_rejects_malformed_x():
    G, x, x_off = _off_range(0)
    cert = invert(G, x_off, method="exact").certificate
    assert not cert.check(G, x_off[:10]) and "shape" in cert.reason
    assert not cert.check(G, np.full_like(x_off, np.nan))


def test_fit_lower_bound_is_valid(seed):
    rng = np.random.default_rng(seed)
    G = ReLUNet.random([10, 60, 300], rng)
    z, x = planted(G, rng)
    eps = 0.05 * np.abs(x).max()
    xn = np.maximum(x + eps * rng.uniform(-1, 1, x.shape), 0)
    bound = fit_lower_bound(G, xn).bound
    assert 0 <= bound <= np.abs(G(z) - xn).max() + 1e-12  # z* itself fits within its noise
    for method in ["auto", "linf"]:
        zz = invert(G, xn, method=method).z
        assert bound <= np.abs(G(zz) - xn).max() + 1e-12
    far = xn.copy()
    far[np.argmax(xn)] += 100.0  # one pixel no z can reach cheaply
    assert fit_lower_bound(G, far)[0] > bound


def test_fit_lower_bound_validation():
    G = ReLUNet.random([3, 10, 20], rng=0, output_activation="sigmoid")
    with pytest.raises(ValueError, match="ReLU output"):
        fit_lower_bound(G, np.full(20, 0.5))
    H = ReLUNet.random([3, 10, 20], rng=0)
    with pytest.raises(ValueError, match="single observation"):
        fit_lower_bound(H, np.zeros((2, 20)))


def test_fit_lower_bound_identity_output_is_one_lp():
    rng = np.random.default_rng(0)
    G = ReLUNet.random([4, 20, 40], rng, output_activation="identity")
    x = G(rng.standard_normal(4)) + 0.05 * rng.uniform(-1, 1, 40)
    fb = fit_lower_bound(G, x)
    assert np.isnan(fb.threshold) and fb.radius > 0
    Z = rng.standard_normal((2000, 4)) * 3
    assert 0 < fb.bound <= np.min(np.max(np.abs(G(Z) - x), axis=1))
