"""recover(G, op, y): planted latents recovered through inpainting, Gaussian CS and phase retrieval."""
import numpy as np
import pytest

from conftest import SEEDS, TOL, planted, rel
from layerinv import ReLUNet, invert
from layerinv.ops import GaussianCS, Identity, Inpainting, PhaseRetrieval
from layerinv.recover import methods_for, recover

#: PGD converges linearly (about x0.3 per iteration on the easy net), so it stops at tol, not at
#: machine precision; tol=1e-10 on ||x_new - x|| / ||x|| leaves ||z - z*|| / ||z*|| well below this.
PGD_Z_TOL = TOL["z_exact"]


@pytest.mark.parametrize("seed", SEEDS)
def test_inpainting_90_percent_exact(seed):
    G = ReLUNet.random([20, 250, 600], rng=seed)
    rng = np.random.default_rng(1000 + seed)
    z, x = planted(G, rng)
    op = Inpainting.random(G.n, 0.9, rng)
    for method in ("exact", "auto"):
        res = recover(G, op, op(x), method)
        assert res.status == "exact" and res.method == "exact"
        assert rel(res.z, z) <= TOL["z_exact"]
        assert res.residual <= TOL["residual_exact"]
        assert res.layers[0].n_out == op.m  # the top layer ran on the observed rows only
        assert res.layers[0].active <= op.m


@pytest.mark.parametrize("seed", SEEDS)
def test_inpainting_noisy_auto_polishes_linf(seed):
    G = ReLUNet.random([10, 100, 300], rng=seed)
    rng = np.random.default_rng(2000 + seed)
    z, x = planted(G, rng)
    op = Inpainting.random(G.n, 0.7, rng)
    y = op(x) + 1e-3 * rng.standard_normal(op.m)
    lin = recover(G, op, y, "linf")
    res = recover(G, op, y)
    # linf alone may be "inconclusive": its top layer's input is not unique and the layer below cannot
    # reproduce the chosen one (issue 10); the Gauss–Newton step repairs that
    assert lin.status in ("optimal", "inconclusive") and res.method == "linf+gn" and res.ok
    assert res.residual <= lin.residual + 1e-15  # Gauss–Newton only ever lowers the fit
    assert res.residual == pytest.approx(np.linalg.norm(op(G(res.z)) - y) / np.linalg.norm(y), rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_gaussian_cs_auto_recovers(seed):
    G = ReLUNet.random([10, 100, 300], rng=seed)
    rng = np.random.default_rng(3000 + seed)
    z, x = planted(G, rng)
    op = GaussianCS(60, G.n, rng)
    res = recover(G, op, op(x))
    assert res.method == "gn" and res.status == "converged"
    assert rel(res.z, z) <= TOL["z_exact"]
    assert res.layers[0].unique  # d A(G(z))/dz has full column rank: z is locally identifiable
    for run in res.info["runs"]:  # every Gauss–Newton run is monotone
        assert run["objective"] <= run["objective_start"]


@pytest.mark.parametrize("seed", SEEDS)
def test_pgd_lp_recovers_on_easy_net(seed):
    G = ReLUNet.random([5, 50, 200], rng=seed)
    rng = np.random.default_rng(4000 + seed)
    z, x = planted(G, rng)
    op = GaussianCS(100, G.n, rng)
    res = recover(G, op, op(x), "pgd", stop_rtol=1e-10)
    assert res.method == "pgd" and res.status == "converged"
    assert rel(res.z, z) <= PGD_Z_TOL
    assert np.all(np.diff(res.info["history"]) <= 0)  # steps that raise ||Ax - y|| are undone


@pytest.mark.parametrize("seed", SEEDS)
def test_phase_retrieval_auto_recovers(seed):
    G = ReLUNet.random([10, 100, 300], rng=seed)
    rng = np.random.default_rng(5000 + seed)
    z, x = planted(G, rng)
    op = PhaseRetrieval(150, G.n, rng)
    res = recover(G, op, op(x), rng=seed, restarts=5)
    assert res.method == "gn"
    assert rel(G(res.z), x) <= TOL["z_exact"]


def test_gn_without_rng_is_deterministic():
    G = ReLUNet.random([10, 100, 300], rng=0)
    rng = np.random.default_rng(6)
    z, x = planted(G, rng)
    op = PhaseRetrieval(100, G.n, rng)
    a, b = recover(G, op, op(x), restarts=3), recover(G, op, op(x), restarts=3)
    np.testing.assert_array_equal(a.z, b.z)
    assert len(a.info["runs"]) <= 2 + 3


def test_gd_baseline_and_identity_delegation():
    G = ReLUNet.random([5, 50, 200], rng=1)
    rng = np.random.default_rng(7)
    z, x = planted(G, rng)
    op = GaussianCS(80, G.n, rng)
    res = recover(G, op, op(x), "gd", rng=0, steps=100, lr=0.05)
    assert res.method == "gd" and np.isfinite(res.residual)
    assert res.residual == pytest.approx(np.linalg.norm(op(G(res.z)) - op(x)) / np.linalg.norm(op(x)), rel=1e-12)
    pr = recover(G, PhaseRetrieval(80, G.n, rng), np.abs(x @ op.matrix.T), "gd", rng=0, steps=20)  # magnitudes
    assert pr.method == "gd"
    ident = recover(G, Identity(G.n), x, "exact")
    np.testing.assert_array_equal(ident.z, invert(G, x, "exact").z)


def test_batched_measurements_stack():
    G = ReLUNet.random([10, 100, 300], rng=2)
    rng = np.random.default_rng(8)
    Z = rng.standard_normal((2, G.k))
    op = GaussianCS(60, G.n, rng)
    res = recover(G, op, op(G(Z)), restarts=0)
    assert res.batched and res.z.shape == (2, G.k) and len(res) == 2
    for i in range(2):
        assert rel(res[i].z, Z[i]) <= TOL["z_exact"]


def test_method_tables():
    assert set(methods_for(Inpainting.random(10, 0.5, 0))) == {"exact", "linf", "l1", "gn", "pgd", "gd", "auto"}
    assert set(methods_for(GaussianCS(3, 10, 0))) == {"gn", "pgd", "gd", "auto"}
    assert set(methods_for(PhaseRetrieval(3, 10, 0))) == {"gn", "gd", "auto"}


@pytest.fixture
def setup():
    G = ReLUNet.random([5, 20, 40], rng=0)
    op = GaussianCS(10, 40, rng=1)
    return G, op, op(G(np.ones(5)))


@pytest.mark.parametrize("kwargs, exc, needle", [
    (dict(method="exact"), ValueError, "method .*'gn', 'pgd', 'gd', 'auto'"),
    (dict(method="gn", eps=0.1), TypeError, "valid options are"),
    (dict(method="gd"), TypeError, "rng"),
    (dict(method="gn", init=np.ones(4)), ValueError, "init"),
    (dict(method="gn", restarts=-1), ValueError, "restarts"),
    (dict(method="pgd", step=0.0), ValueError, "step"),
    (dict(method="pgd", polish="yes"), TypeError, "polish"),
    (dict(method="gn", rng="seed"), TypeError, "rng"),
])
def test_bad_options(setup, kwargs, exc, needle):
    G, op, y = setup
    with pytest.raises(exc, match=needle):
        recover(G, op, y, **kwargs)


def test_bad_arguments(setup):
    G, op, y = setup
    with pytest.raises(ValueError, match="y must have shape"):
        recover(G, op, y[:-1])
    with pytest.raises(ValueError, match="y must be finite"):
        recover(G, op, np.full_like(y, np.nan))
    with pytest.raises(ValueError, match="op must act on G's output"):
        recover(G, GaussianCS(10, 41, rng=0), y)
    with pytest.raises(TypeError, match="op must be"):
        recover(G, op.matrix, y)
    with pytest.raises(TypeError, match="G must be"):
        recover(op, op, y)
