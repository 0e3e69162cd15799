"""Property-based tests (hypothesis) over random generators of every supported kind.

Each property is a promise a user relies on; the nets are drawn from a small seed space so that
every example is cheap (depth 1-4, widths <= 12, weight scales 1e-3..1e4). The default profile is
derandomized (the same examples on every run); ``-m slow`` runs many more.

Only the public API is used: ``ReLUNet``, ``invert``, ``Result``, ``Certificate.check`` and
``layerinv.certificate.fit_lower_bound``.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from layerinv import ReLUNet, invert
from layerinv.certificate import fit_lower_bound

settings.register_profile("layerinv", derandomize=True, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("layerinv")

HIDDEN = ["relu", ("leaky_relu", 0.1)]
OUTPUT = ["relu", ("leaky_relu", 0.2), "identity", "sigmoid", "tanh"]
TOL = 1e-6


@st.composite
def nets(draw, max_depth=4, outputs=OUTPUT, expansive=False, min_scale=-3, max_scale=4):
    """A random ReLUNet: widths small, hidden relu / leaky, any output, biases on or off, and one
    weight scale 10^s for the whole net (s in [min_scale, max_scale])."""
    depth = draw(st.integers(1, max_depth))
    k = draw(st.integers(1, 3))
    dims = [k]
    for _ in range(depth):
        lo = 2 * dims[-1] if expansive else 1
        dims.append(draw(st.integers(lo, max(lo, 2 * dims[-1] + 2, 4))))
    hidden = draw(st.sampled_from(HIDDEN))
    out = draw(st.sampled_from(outputs))
    bias = draw(st.booleans())
    scale = 10.0 ** draw(st.integers(min_scale, max_scale))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    Ws = [scale * rng.standard_normal((o, i)) / np.sqrt(o) for i, o in zip(dims[:-1], dims[1:])]
    if out in ("sigmoid", "tanh"):  # keep the output out of saturation: the top layer at unit scale
        Ws[-1] = Ws[-1] / (scale * max(1.0, np.linalg.norm(Ws[-1], 2)))
    bs = [scale * rng.standard_normal(o) / np.sqrt(o) if bias else None for o in dims[1:]]
    acts = [hidden] * (depth - 1) + [out]
    return ReLUNet(Ws, bs, acts), rng


def _scale_latent(G, rng):
    """A latent whose hidden layers sit at a sane magnitude for the net's weight scale."""
    return rng.standard_normal(G.k)


def _within(G, z, x, tol=TOL):
    return float(np.max(np.abs(G(z) - x))) <= tol * max(float(np.max(np.abs(x))), 0.0) or \
        (not np.any(x) and float(np.max(np.abs(G(z) - x))) <= tol)


def _check_ok(G, x, res, tol=TOL):
    """The promises behind ``ok``: a finite z, a finite residual that matches a forward pass, and for
    ``exact`` a fit within the documented tolerance."""
    if not res.ok:
        return
    assert np.all(np.isfinite(res.z)), f"ok=True with non-finite z ({res.status}, {res.method})"
    assert np.isfinite(res.residual), f"ok=True with residual {res.residual}"
    if res.status == "exact":
        assert _within(G, res.z, x, tol), (res.status, np.max(np.abs(G(res.z) - x)), tol * np.max(np.abs(x)))


# ---------------------------------------------------------------------------------- recovery
def _identifiable(G, z, margin=1e-3):
    """Every layer's active rows pin its input with room to spare, and no pre-activation sits near 0."""
    h = z
    for L in G.layers:
        u = L.affine(h)
        if L.activation.name == "relu":
            if np.any(np.abs(u) < margin * max(np.max(np.abs(u)), 1e-300)):
                return False
            rows = u > 0
        else:
            rows = np.ones(u.shape, dtype=bool)
        M = L.weight[rows]
        if M.shape[0] < M.shape[1] + 1:
            return False
        s = np.linalg.svd(M, compute_uv=False)
        if s[-1] < 1e-3 * s[0]:
            return False
        h = L.activation(u)
    return True


@settings(max_examples=60)
@given(nets(outputs=["relu", ("leaky_relu", 0.2), "identity"], expansive=True))
def test_exact_recovers_identifiable_latents(net):
    G, rng = net
    z = _scale_latent(G, rng)
    if not _identifiable(G, z):
        event("not identifiable")
        return
    x = G(z)
    res = invert(G, x, method="exact")
    assert res.status == "exact", res.message
    assert np.linalg.norm(res.z - z) <= 1e-5 * max(np.linalg.norm(z), 1e-12) + 1e-9
    _check_ok(G, x, res)


# ---------------------------------------------------------------------------------- no false infeasible
def _noisy(G, z, rng, frac=0.9, tol=TOL):
    x = G(z)
    d = frac * tol * float(np.max(np.abs(x)))
    return x + rng.uniform(-d, d, size=x.shape)


@settings(max_examples=150)
@given(nets())
def test_exact_never_says_infeasible_within_tolerance(net):
    _no_false_infeasible(net)


def _no_false_infeasible(net):
    G, rng = net
    z = _scale_latent(G, rng)
    x = _noisy(G, z, rng)
    res = invert(G, x, method="exact")
    event(res.status)
    assert res.status != "infeasible", res.message
    _check_ok(G, x, res)


@settings(max_examples=60)
@given(nets(min_scale=0, max_scale=0), st.integers(0, 3))
def test_exact_never_says_infeasible_on_dead_layers(net, which):
    """x = G(0) with one hidden layer all inactive: its recovered target is rounding noise."""
    G, rng = net
    if G.depth < 2:
        return
    i = which % (G.depth - 1)
    Ws = [L.weight for L in G.layers]
    bs = [np.array(L.bias) for L in G.layers]
    bs[i] = -1.0 - np.abs(bs[i])  # layer i dead at z = 0 ...
    for j in range(i + 1, G.depth):  # ... and the layers above fed by their biases alone
        bs[j] = np.abs(bs[j]) + 0.5
    G = ReLUNet(Ws, bs, [L.activation.spec() for L in G.layers])
    x = G(np.zeros(G.k))
    res = invert(G, x, method="exact")
    event(res.status)
    assert res.status != "infeasible", res.message


@pytest.mark.parametrize("method", ["exact", "auto"])
def test_constant_net_within_tolerance_is_not_infeasible(method):
    G = ReLUNet([[[1.0]], [[-1.0]], [[1.0]]], activations=["relu", "relu", "sigmoid"])
    x = G(np.array([1.0])) * (1 + 5e-7)  # within tol = 1e-6 of G(z) for every z
    res = invert(G, x, method=method)
    assert res.status != "infeasible", res.message
    assert res.certificate is None or not res.certificate.check()


@settings(max_examples=60)
@given(nets(), st.sampled_from(["linf", "l1"]))
def test_noise_budget_never_says_infeasible_when_z_star_meets_it(net, method):
    """x = G(z*) + e with e inside the budget: ``eps`` mode may fail to find z, never say infeasible."""
    G, rng = net
    z = _scale_latent(G, rng)
    x0 = G(z)
    e = rng.uniform(-1, 1, x0.shape)
    eps = max(float(np.max(np.abs(x0))), 1e-3) * 1e-3
    e *= 0.9 * eps / (np.max(np.abs(e)) if method == "linf" else np.sum(np.abs(e)))
    res = invert(G, x0 + e, method=method, eps=eps)
    event(res.status)
    assert res.status != "infeasible", res.message
    _check_ok(G, x0 + e, res)


# ---------------------------------------------------------------------------------- certificates
def _independent_fit(G, x, tol=TOL):
    """Whether the MILP finds a z with max|G(z) - x| <= tol max|x| in a generous box (small nets)."""
    res = invert(G, x, method="milp", box=1e3, time_limit=20.0)
    return res.status == "exact" and _within(G, res.z, x, tol)


@settings(max_examples=40)
@given(nets(max_depth=3, min_scale=-1, max_scale=1), st.sampled_from(["shift", "random", "noisy"]))
def test_every_certificate_that_checks_is_true(net, kind):
    G, rng = net
    z = _scale_latent(G, rng)
    x = G(z)
    if kind == "shift":
        x = x + 0.1 * rng.standard_normal(x.shape) * max(np.max(np.abs(x)), 1e-3)
    elif kind == "random":
        x = rng.standard_normal(x.shape)
    else:
        x = _noisy(G, z, rng)
    res = invert(G, x, method="exact")
    cert = res.certificate
    event(f"{kind}: {res.status}")
    if res.status != "infeasible":
        return
    assert cert is not None and cert.check(), "infeasible without a certificate that checks"
    # a certificate is a statement about x: it must not check for an x that G reproduces
    assert not cert.check(G, G(z))
    assert not _independent_fit(G, x), f"certificate checks, but the MILP fits x: {cert.describe()}"


@settings(max_examples=30)
@given(nets(max_depth=3, outputs=["relu", "identity"], min_scale=-1, max_scale=1))
def test_fit_lower_bound_holds(net):
    G, rng = net
    z = _scale_latent(G, rng)
    x = G(z) + 0.3 * rng.standard_normal(G.n) * max(np.max(np.abs(G(z))), 1e-3)
    bound = fit_lower_bound(G, x).bound
    assert bound >= 0
    assert float(np.max(np.abs(G(z) - x))) >= bound * (1 - 1e-9)
    for zz in rng.standard_normal((50, G.k)) * 3:
        assert float(np.max(np.abs(G(zz) - x))) >= bound * (1 - 1e-9)


# ---------------------------------------------------------------------------------- ok, residual, determinism
@settings(max_examples=40)
@given(nets(max_depth=3), st.sampled_from(["exact", "linf", "l1"]), st.sampled_from(["planted", "random"]))
def test_ok_means_what_it_says(net, method, kind):
    G, rng = net
    z = _scale_latent(G, rng)
    x = G(z) if kind == "planted" else rng.standard_normal(G.n)
    res = invert(G, x, method=method)
    _check_ok(G, x, res)
    if np.all(np.isfinite(res.z)):
        r = np.linalg.norm(G(res.z) - x) / (np.linalg.norm(x) or 1.0)
        assert np.isclose(res.residual, r, rtol=1e-9, atol=1e-300)


@settings(max_examples=100)
@given(nets(max_depth=4, outputs=["relu", ("leaky_relu", 0.2), "identity"]), st.sampled_from(["linf", "l1"]))
def test_layerwise_ok_composes(net, method):
    """On x = G(z*), an ``ok`` linf / l1 result fits x: a non-unique choice above that the layers
    below cannot reproduce is flagged (``inconclusive``), and a dead layer's rounding-noise target
    does not become equation rows."""
    G, rng = net
    z = _scale_latent(G, rng)
    x = G(z)
    res = invert(G, x, method=method)
    event(res.status)
    if res.ok:
        assert res.residual <= 1e-6, (res.residual, res.message)


@settings(max_examples=30)
@given(nets(max_depth=3), st.sampled_from(["exact", "linf", "auto"]))
def test_same_call_same_answer(net, method):
    G, rng = net
    x = G(_scale_latent(G, rng)) + 0.01 * rng.standard_normal(G.n)
    a, b = invert(G, x, method=method), invert(G, x, method=method)
    assert a.status == b.status
    np.testing.assert_array_equal(a.z, b.z)


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_residual_finite_at_extreme_scales(scale):
    G = ReLUNet.random([3, 8, 16], rng=0)
    x = G(np.ones(3)) * scale
    res = invert(G, x, method="exact")
    assert res.ok
    assert np.isfinite(res.residual) and res.residual <= 1e-8
    _check_ok(G, x, res)


# ---------------------------------------------------------------------------------- slow: many more examples
@pytest.mark.slow
@settings(max_examples=2000)
@given(nets())
def test_slow_exact_never_says_infeasible_within_tolerance(net):
    _no_false_infeasible(net)


@pytest.mark.slow
@settings(max_examples=300)
@given(nets(max_depth=3), st.sampled_from(["auto"]))
def test_slow_auto_never_says_infeasible_within_tolerance(net, method):
    G, rng = net
    z = _scale_latent(G, rng)
    x = _noisy(G, z, rng)
    res = invert(G, x, method=method, milp_time_limit=5.0)
    assert res.status != "infeasible", res.message
    _check_ok(G, x, res)
