"""Layer-wise inversion on planted ground truth: exact recovery, noise, certificates, batches."""
import numpy as np
import pytest

from layerinv import ReLUNet, invert
from layerinv.lp import kernels
from layerinv.lp.highs import HighsSolution

from conftest import TOL, planted, rel


@pytest.mark.parametrize("k", [10, 50, 100])
@pytest.mark.parametrize("method", ["exact", "linf", "l1", "auto"])
def test_exact_recovery_paper_nets(k, method, seed):
    rng = np.random.default_rng(seed)
    G = ReLUNet.random([k, 250, 600], rng)
    z, x = planted(G, rng)
    res = invert(G, x, method=method)
    assert res.ok, res.message
    assert rel(res.z, z) < TOL["z_paper"]  # far inside the criterion TOL["z_exact"]
    assert res.residual < TOL["residual_paper"]
    assert len(res.layers) == 2 and res.layers[0].index == 1 and res.layers[1].index == 0
    for rec in res.layers:
        assert rec.violation <= 1e-9


def test_paper_tiny_noise_is_still_exact(seed):
    rng = np.random.default_rng(seed)
    G = ReLUNet.random([60, 250, 600], rng)
    z, x = planted(G, rng)
    x = x + 1e-9 * rng.uniform(-1, 1, x.shape)  # the paper's +-1e-9: inactive rows now look "active"
    for method in ["exact", "linf", "l1"]:
        res = invert(G, x, method=method)
        assert res.ok, res.message
        assert rel(res.z, z) < TOL["z_exact"]


@pytest.mark.parametrize("dims, kwargs", [
    ([8, 60, 200], dict(bias=True)),
    ([8, 40, 120, 300], dict()),
    ([8, 40, 120, 300], dict(bias=True)),
    ([10, 60, 150], dict(activation=("leaky_relu", 0.1))),
    ([10, 60, 150], dict(activation=("leaky_relu", 0.2), bias=True)),
    ([6, 80, 200], dict(output_activation="sigmoid")),
    ([6, 80, 200], dict(output_activation="tanh", bias=True)),
    ([6, 80, 200], dict(output_activation="identity")),
])
def test_exact_recovery_architectures(dims, kwargs, seed):
    rng = np.random.default_rng(seed)
    G = ReLUNet.random(dims, rng, **kwargs)
    z, x = planted(G, rng)
    res = invert(G, x, method="exact")
    assert res.status == "exact", res.message
    assert rel(res.z, z) < TOL["z_exact"]


def test_leaky_relu_beyond_relu_limit(seed):
    """LeakyReLU rows are all equations: k = 200 of 250 is still exact (ReLU would need 200 active)."""
    rng = np.random.default_rng(seed)
    G = ReLUNet.random([200, 250, 600], rng, activation=("leaky_relu", 0.1))
    z, x = planted(G, rng)
    res = invert(G, x, method="exact")
    assert res.status == "exact" and rel(res.z, z) < TOL["z_exact"]


def test_off_range_is_certified_infeasible(seed):
    rng = np.random.default_rng(seed)
    G = ReLUNet.random([20, 250, 600], rng)
    z, x = planted(G, rng)
    x_off = x + np.where(x > 0, 1e-3 * rng.standard_normal(x.shape), 0.0)  # stays >= 0 only where active
    x_off = np.maximum(x_off, 0.0)
    res = invert(G, x_off, method="exact")
    assert res.status == "infeasible" and not res.ok
    assert "layer 1 proves it" in res.message
    cert = res.certificate
    assert cert.layer == 1 and cert.kind == "dual" and cert.bound > cert.tol[1]
    assert cert.check() and cert.check(G, x_off)
    assert not cert.check(G, x)  # the same proof does not hold for an x that is in the range


def test_negative_entries_are_out_of_range():
    G = ReLUNet.random([5, 30, 80], rng=0)
    x = G(np.ones(5))
    x[3] = -0.5
    res = invert(G, x, method="exact")
    assert res.status == "infeasible" and "outside the range" in res.message
    assert res.certificate.kind == "range" and res.certificate.check()
    assert list(res.certificate.rows) == [3]


def test_lower_layer_certificate():
    """An x whose top layer is consistent but whose hidden target is not: layer 0 proves it."""
    rng = np.random.default_rng(5)
    G = ReLUNet.random([30, 40, 400], rng)
    W1 = G.layers[1].weight
    found = False
    for _ in range(50):
        h = np.maximum(rng.standard_normal(40), 0) + 0.5 * (rng.random(40) < 0.5)  # a random h >= 0
        x = np.maximum(W1 @ h, 0)
        res = invert(G, x, method="exact")
        if res.status == "infeasible":
            found = True
            assert res.certificate.layer == 0 and res.certificate.check()
            break
    assert found, "random hidden vectors should not all be in the range of the first layer"


def test_linf_l1_objective_bounds_noise(seed):
    """The planted z* is feasible at the top layer with t = eps, so the LP optimum must be <= eps."""
    rng = np.random.default_rng(seed)
    G = ReLUNet.random([20, 250, 600], rng)
    z, x = planted(G, rng)
    eps = 1e-4
    xn = x + eps * rng.uniform(-1, 1, x.shape)
    res = invert(G, xn, method="linf", gap_tol=0.0)
    top = res.layers[0]
    assert res.status == "optimal" and top.path == "lp"
    assert top.objective <= eps * (1 + 1e-6)
    assert top.violation <= 1e-7
    assert rel(res.z, z) < 1e-1
    en = rng.standard_normal(x.shape) * eps
    res1 = invert(G, x + en, method="l1", gap_tol=0.0)
    assert res1.status == "optimal"
    assert res1.layers[0].objective <= np.abs(en).sum() * (1 + 1e-6)
    assert rel(res1.z, z) < 1e-1


@pytest.mark.parametrize("noise", [1e-4, 1e-2])
def test_linf_default_gap_tol_keeps_the_lp_optimum(noise):
    """Under the default gap_tol (1e-6 of max|x|) a layer may stop at the least-squares point only when
    its certified bracket is that narrow: the top layer's objective must then be the LP optimum within
    gap_tol. Kills "accept the least-squares bracket whatever its width" (it reported `optimal` with a
    bracket [0.0021, 0.034], 8x the LP's objective)."""
    rng = np.random.default_rng(0)
    G = ReLUNet.random([20, 250, 600], rng)
    z, x = planted(G, rng)
    xn = x + noise * rng.uniform(-1, 1, x.shape)
    gap = 1e-6 * np.max(np.abs(xn))
    res, lp = invert(G, xn, method="linf"), invert(G, xn, method="linf", gap_tol=0.0)
    assert res.status == lp.status == "optimal"
    top, best = res.layers[0], lp.layers[0].objective
    upper = top.objective[1] if top.status == "bracket" else top.objective
    assert best - 1e-12 <= upper <= best + gap, (top.status, top.objective, best)
    for r in res.layers:
        if r.status == "bracket":
            assert r.objective[1] - r.objective[0] <= gap


def test_eps_feasibility_form(seed):
    rng = np.random.default_rng(seed)
    G = ReLUNet.random([10, 100, 300], rng)
    z, x = planted(G, rng)
    xn = x + 1e-3 * rng.uniform(-1, 1, x.shape)
    res = invert(G, xn, method="linf", eps=2e-3)
    assert res.status == "feasible", res.message
    far = xn + 0.5 * (rng.random(x.shape) < 0.3)
    bad = invert(G, far, method="linf", eps=1e-3)
    assert bad.status == "infeasible" and "layer 1 proves it" in bad.message
    assert bad.certificate.check() and bad.certificate.tol[1] == 1e-3
    bad1 = invert(G, far, method="l1", eps=1e-3)
    assert bad1.status == "infeasible" and bad1.layers[0].objective is not None


def test_batch_returns_batched_fields():
    rng = np.random.default_rng(0)
    G = ReLUNet.random([10, 100, 300], rng)
    Z = rng.standard_normal((4, 10))
    X = G(Z)
    X[2] = X[2] + 0.1  # not in the range
    res = invert(G, X, method="exact")
    assert res.batched and len(res) == 4 and res.z.shape == (4, 10)
    assert list(res.ok) == [True, True, False, True]
    assert res.status[2] == "infeasible" and res[2].certificate.check()
    np.testing.assert_allclose(res.z[[0, 1, 3]], Z[[0, 1, 3]], rtol=1e-8)
    assert res.residual.shape == (4,) and "4 observations" in res.summary()


def test_auto_falls_back_to_linf():
    rng = np.random.default_rng(1)
    G = ReLUNet.random([10, 100, 300], rng)
    z, x = planted(G, rng)
    res = invert(G, x, method="auto")
    assert res.method == "exact" and res.status == "exact"
    xn = x + 1e-3 * rng.standard_normal(x.shape)
    res = invert(G, xn, method="auto")
    assert res.method == "gn+map" and res.status == "converged"
    assert [s[0] for s in res.info["steps"]] == ["exact", "polish"]  # no LP on this route
    assert "exact: infeasible" in res.message and res.certificate is not None  # x is not in the range: proven
    assert res.certificate.check(G, xn)
    lin = invert(G, xn, method="linf")
    assert res.info["polish"]["lam"] > 0  # MAP with the noise variance estimated from the fit
    assert res.info["polish"]["lam"] == pytest.approx(res.info["polish"]["fit"] / (G.n - G.k))
    fit = invert(G, xn, method="auto", lam=0.0)
    # the least-squares fit near z* fits better than the linf answer and than z* itself (the noise)
    assert fit.residual <= lin.residual and fit.residual <= np.linalg.norm(xn - x) / np.linalg.norm(xn)
    plain = invert(G, xn, method="auto", polish=False)
    assert plain.method == "linf" and plain.status == "optimal"


def test_beyond_identifiability_gives_a_valid_preimage():
    """k = 140 of 250: usually fewer than k active units, z* not unique; any preimage fits x."""
    rng = np.random.default_rng(3)
    G = ReLUNet.random([140, 250, 600], rng)
    z, x = planted(G, rng)
    res = invert(G, x, method="exact")
    assert res.status == "exact"
    assert res.residual < 1e-6
    if (G.forward(z, all_layers=True)[1] > 0).sum() < 140:
        assert not res.layers[-1].unique


def test_solver_answer_is_checked(monkeypatch):
    """A solver that claims 'optimal' for a bad point is reported as a failure, not passed on."""
    rng = np.random.default_rng(0)
    G = ReLUNet.random([10, 100, 300], rng)
    z, x = planted(G, rng)
    xn = x + 1e-2 * rng.uniform(-1, 1, x.shape)
    real = kernels.solve_lp

    def liar(*args, **kw):
        sol = real(*args, **kw)
        return HighsSolution(sol.x + 0.3, sol.y, "optimal", "kOptimal", sol.objective)

    monkeypatch.setattr(kernels, "solve_lp", liar)
    monkeypatch.setattr(kernels, "ipm_linf", lambda system, h0=None: _failed_ipm())  # force HiGHS
    res = invert(G, xn, method="linf", gap_tol=0.0)
    assert res.status == "failed" and "recomputation" in res.message


def _failed_ipm():
    from layerinv.lp.solution import LayerSolution

    return LayerSolution(h=None, status="failed", objective=np.inf, message="forced failure")


def test_interior_point_answer_is_checked(monkeypatch):
    """An interior-point answer whose recomputed objective does not meet its own dual bound is not
    passed on: the layer goes to HiGHS, whose answer is checked in turn."""
    rng = np.random.default_rng(1)
    G = ReLUNet.random([10, 100, 300], rng)
    z, x = planted(G, rng)
    xn = x + 1e-2 * rng.uniform(-1, 1, x.shape)
    honest = invert(G, xn, method="linf", gap_tol=0.0)
    real = kernels.ipm_linf

    def liar(system, h0=None):
        res = real(system, h0=h0)
        res.h = res.h + 0.3
        return res

    monkeypatch.setattr(kernels, "ipm_linf", liar)
    res = invert(G, xn, method="linf", gap_tol=0.0)
    assert res.status == "optimal" and "HiGHS" in res.layers[0].message
    assert np.isclose(res.layers[0].objective, honest.layers[0].objective, rtol=1e-6)


def test_gd_recovers_easy_instance(seed):
    rng = np.random.default_rng(seed)
    G = ReLUNet.random([5, 100, 300], rng)
    z, x = planted(G, rng)
    res = invert(G, x, method="gd", rng=seed, steps=1500, lr=0.05, restarts=3)
    assert res.ok and res.method == "gd"
    assert rel(res.z, z) < TOL["z_gd"]
    assert res.info["restarts"] == 3


def _two_basins():
    """G(z) = (relu(z), relu(-z)), x = (1, 0.5): a start z0 > 0 descends to z = 1 (loss 0.25), a start
    z0 < 0 to the worse local minimum z = -0.5 (loss 1); the barrier at z = 0 (loss 1.25) keeps Adam
    with lr 0.05 in its basin. About half of the N(0, 1) starts fail."""
    return ReLUNet([np.array([[1.0], [-1.0]])], activations=["relu"]), np.array([1.0, 0.5])


def test_gd_restarts_are_distinct_and_the_best_one_is_returned():
    """12 independent starts all land in the bad basin with probability 2^-12: on every seed the best
    restart (z = 1) must come back. Kills "every restart from the same start" (fails on about half of
    the seeds, where that one start is negative) and "return restart 0, not the best"."""
    G, x = _two_basins()
    singles = []
    for s in range(10):
        res = invert(G, x, method="gd", rng=s, restarts=12, steps=300, lr=0.05)
        assert abs(res.z[0] - 1.0) < 1e-5 and abs(res.info["loss"] - 0.25) < 1e-9, (s, res.z, res.info)
        assert res.info["restarts"] == 12
        singles.append(invert(G, x, method="gd", rng=s, restarts=1, steps=300, lr=0.05).z[0])
    assert min(singles) < -0.4 and max(singles) > 0.9  # the instance really has two basins
    # explicit starts: restart 0 and 2 end in the bad basin, restart 1 in the good one
    res = invert(G, x, method="gd", rng=0, init=np.array([[-1.0], [2.0], [-0.5]]), steps=300, lr=0.05)
    assert abs(res.z[0] - 1.0) < 1e-5 and res.info["restarts"] == 3
    assert res.layers[0].objective == pytest.approx(0.25, abs=1e-9)


def test_gd_reports_its_penalised_objective_and_admits_making_things_worse():
    """The loss gd reports is ||G(z) - x||^2 + lam ||z||^2 at the z it returns; a run that ends above
    its best start (lr far too large) is `failed`, not ok."""
    rng = np.random.default_rng(0)
    G = ReLUNet.random([4, 30, 60], rng)
    z, x = planted(G, rng)
    res = invert(G, x, method="gd", rng=0, init=-np.abs(z) - 0.5, steps=50, lr=0.01, lam=0.3)
    want = float(np.sum((G(res.z) - x) ** 2) + 0.3 * np.sum(res.z ** 2))
    assert res.info["loss"] == pytest.approx(want, rel=1e-9)
    assert res.info["lr"] == 0.01 and res.info["lam"] == 0.3 and res.info["steps"] == 50
    rec = res.layers[0]
    assert rec.status == res.status and rec.objective == pytest.approx(want, rel=1e-9)
    assert isinstance(rec.seconds, float) and 0 <= rec.seconds <= res.seconds + 1e-9
    bad = invert(G, x, method="gd", rng=0, init=z + 1e-3, steps=3, lr=1.0)
    assert bad.status == "failed" and not bad.ok
    assert bad.info["loss"] > float(np.sum((G(z + 1e-3) - x) ** 2))


def test_gd_init_and_early_stop():
    rng = np.random.default_rng(0)
    G = ReLUNet.random([5, 50, 100], rng)
    z, x = planted(G, rng)
    res = invert(G, x, method="gd", rng=0, init=z + 0.01, steps=3000, lr=0.01, stop_rtol=1e-3)
    assert res.status == "converged" and res.info["steps"] < 3000
    assert rel(res.z, z) < TOL["z_gd"]
