"""Every MILP claim true on sigmoid / tanh outputs and on rescaled copies (issue 10).

* An l1 budget on a sigmoid / tanh output is proven infeasible only through a sound outer relaxation
  (never through the first-order model the minimisation uses), so a planted z* within the budget is never
  called infeasible; the minimisations on such outputs are "approximate" with no claimed lower bound.
* On a rescaled copy (weights or box far from 1) every reported number is in G's units: fits recomputed
  on G, HiGHS's lower bound mapped back and rounded down.
"""
import numpy as np
import pytest

from layerinv import ReLUNet, invert
from layerinv.solvers.milp import MILPProof
from layerinv.solvers.milp.encode import relaxed_l1

SEEDS6 = range(6)


# ---------------------------------------------------------------------- the two regressions (props branch)
@pytest.mark.parametrize("objective", ["linf", "l1"])
def test_regression_milp_rescaled_copy_reports_user_units(objective):
    G = ReLUNet([[[1e-3], [2e-3]]])  # weights < 1e-2: solved on a rescaled copy
    x = np.array([1e-3, 3e-3])
    res = invert(G, x, method="milp", objective=objective, box=2.0)
    assert res.status == "optimal" and res.info["milp"].get("scaled")
    r = np.abs(G(res.z) - x)
    true = float(np.max(r) if objective == "linf" else np.sum(r))
    rec = res.layers[0]
    assert rec.lower <= true * (1 + 1e-6), (rec, true)  # a lower bound on the optimum (z's fit is an upper one)
    assert np.isclose(res.info["milp"][objective], true, rtol=1e-9), (res.info["milp"], true)


def test_regression_milp_l1_budget_on_sigmoid_tanh_output():
    G = ReLUNet([[[1.0], [1.0]]], [[1.0, -1.0]], ["tanh"])
    x, z_star = np.array([-0.7, -0.9]), np.array([-2.0])
    assert np.sum(np.abs(G(z_star) - x)) <= 0.157  # z* meets eps = 0.172
    res = invert(G, x, method="milp", objective="l1", eps=0.172, box=4.0)
    assert res.status != "infeasible", res.message


# ---------------------------------------------------------------------- smooth outputs: planted z*
def _planted(seed, act, dims=(2, 5, 4), noise=0.05):
    G = ReLUNet.random(list(dims), rng=seed, bias=True, output_activation=act)
    rng = np.random.default_rng(100 + seed)
    z = rng.uniform(-1.5, 1.5, dims[0])
    x = G(z) + noise * rng.standard_normal(dims[-1])
    return G, z, x


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
@pytest.mark.parametrize("seed", SEEDS6)
def test_smooth_output_budget_above_planted_fit_is_never_infeasible(act, seed):
    G, z, x = _planted(seed, act)
    r = np.abs(G(z) - x)
    for objective, fit in (("l1", np.sum(r)), ("linf", np.max(r))):
        eps = 1.02 * float(fit)  # z* (inside box 2) meets this budget
        res = invert(G, x, method="milp", objective=objective, eps=eps, box=2.0)
        assert res.status in ("feasible", "inconclusive"), (objective, res.status, res.message)
        got = np.abs(G(res.z) - x)
        val = float(np.sum(got) if objective == "l1" else np.max(got))
        assert res.status != "feasible" or val <= eps, (objective, val, eps)
        assert np.max(np.abs(res.z)) <= 2.0


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
@pytest.mark.parametrize("seed", SEEDS6)
def test_smooth_output_exact_x_is_never_infeasible(act, seed):
    G, z, _ = _planted(seed, act)
    x = G(z)
    res = invert(G, x, method="milp", box=2.0)
    assert res.status == "exact", res.message


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
@pytest.mark.parametrize("seed", SEEDS6)
def test_smooth_output_minimisation_is_approximate_and_claims_no_false_bound(act, seed):
    G, z, x = _planted(seed, act)
    r = np.abs(G(z) - x)
    for objective, fit in (("l1", np.sum(r)), ("linf", np.max(r))):
        res = invert(G, x, method="milp", objective=objective, box=2.0)
        assert res.status == "approximate", res.message
        rec = res.layers[0]
        assert rec.lower <= fit, (rec, fit)  # no bound from the first-order model above z*'s true fit
        assert np.isnan(res.info["milp"]["dual_bound"])
        assert "no lower bound" in res.message


def _grid_min(G, x, R, norm, n=200001):
    zs = np.linspace(-R, R, n)[:, None]
    r = np.abs(G(zs) - x)
    return float(np.min(np.sum(r, axis=1) if norm == "l1" else np.max(r, axis=1)))


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
@pytest.mark.parametrize("seed", SEEDS6)
def test_smooth_output_l1_infeasible_only_when_true(act, seed):
    """1-D latent: the grid's minimum is an upper bound on the true one, so an 'infeasible' with eps at or
    above it is false; with eps well below it the relaxation should prove infeasibility."""
    G = ReLUNet.random([1, 4, 3], rng=seed, bias=True, output_activation=act)
    rng = np.random.default_rng(200 + seed)
    x = G(rng.uniform(-1, 1, 1)) + 0.3 * rng.standard_normal(3)
    lo, hi = act_range = (0.0, 1.0) if act == "sigmoid" else (-1.0, 1.0)
    x = np.clip(x, lo + 0.05, hi - 0.05)
    m = _grid_min(G, x, 2.0, "l1")
    seen = set()
    for frac in (0.2, 0.6, 0.95, 1.0, 1.05):
        res = invert(G, x, method="milp", objective="l1", eps=frac * m, box=2.0)
        seen.add(res.status)
        if res.status == "infeasible":
            assert frac * m < m, res.message
            assert isinstance(res.certificate, MILPProof) and "sound outer relaxation" in res.message
        if frac >= 1.0:
            assert res.status in ("feasible", "inconclusive"), res.message
    assert act_range and "infeasible" in seen  # the relaxation does prove the clear case (eps = 0.2 x min)


def test_smooth_output_l1_relaxation_proves_a_clear_case():
    G = ReLUNet([[[1.0], [1.0]]], [[1.0, -1.0]], ["tanh"])
    x = np.array([-0.7, -0.9])
    m = _grid_min(G, x, 4.0, "l1")
    res = invert(G, x, method="milp", objective="l1", eps=0.5 * m, box=4.0)
    assert res.status == "infeasible", res.message
    assert res.certificate.check()


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
def test_relaxed_l1_rows_hold_at_every_point(act):
    """The relaxation's rows are valid: for u within the interval, e = |act(u) - x| meets both slope rows."""
    from layerinv.activations import Activation

    a = Activation.parse(act)
    rng = np.random.default_rng(0)
    lo_r, hi_r = a.range
    x = rng.uniform(lo_r + 0.01, hi_r - 0.01, 50)
    eps = 0.3
    rel = relaxed_l1(a, x, eps)
    for _ in range(20):
        t = rng.uniform(0, 1, 50)
        ul, uh = np.maximum(rel["lo"], -40), np.minimum(rel["hi"], 40)
        u = ul + t * (uh - ul)
        e = np.abs(a(u) - x)
        ok = e <= eps
        assert np.all((e >= rel["m_lo"] * (rel["s_lo"] - u) - 1e-15)[ok])
        assert np.all((e >= rel["m_hi"] * (u - rel["s_hi"]) - 1e-15)[ok])


def test_range_proof_for_l1_budget_on_a_smooth_output():
    G = ReLUNet([[[1.0], [1.0]]], [[1.0, -1.0]], ["sigmoid"])
    x = np.array([1.5, 0.3])  # entry 0 lies 0.5 above sigmoid's range: l1 >= 0.5 for every z
    res = invert(G, x, method="milp", objective="l1", eps=0.4, box=4.0)
    assert res.status == "infeasible" and res.certificate is not None and res.certificate.check(), res.message


# ---------------------------------------------------------------------- rescaled copies: user units
@pytest.mark.parametrize("scale", [1e-4, 1e-3, 3e3])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("objective", ["linf", "l1"])
def test_rescaled_copy_reports_user_units(scale, seed, objective):
    base = ReLUNet.random([2, 4, 5], rng=seed, bias=True, output_activation="identity")
    G = ReLUNet([L.weight * scale for L in base.layers], [L.bias * scale for L in base.layers],
                [L.activation.spec() for L in base.layers])
    rng = np.random.default_rng(300 + seed)
    z = rng.uniform(-1, 1, 2)
    x = G(z) + 0.1 * scale * rng.standard_normal(5)
    res = invert(G, x, method="milp", objective=objective, box=2.0)
    assert res.status == "optimal" and res.info["milp"].get("scaled"), res.message
    r = np.abs(G(res.z) - x)
    true = float(np.max(r) if objective == "linf" else np.sum(r))
    rp = np.abs(G(z) - x)
    planted = float(np.max(rp) if objective == "linf" else np.sum(rp))
    info = res.info["milp"]
    assert np.isclose(info[objective], true, rtol=1e-12, atol=0), (info, true)
    assert info["dual_bound"] <= true and res.layers[0].lower <= min(true, planted), (res.layers[0], true, planted)
    assert info["dual_bound"] >= 0.99 * true  # mapped back, not left in the copy's units
    assert f"{true:.3g}" in res.message and "R = 2:" in res.message


def test_rescaled_copy_budget_message_in_user_units():
    G = ReLUNet([[[1e-3], [2e-3]]])
    x = np.array([1e-3, 3e-3])
    res = invert(G, x, method="milp", objective="linf", eps=4e-4, box=2.0)
    assert res.status == "feasible" and res.info["milp"]["scaled"]
    assert "eps = 0.0004" in res.message and res.layers[0].objective <= 4e-4
    res = invert(G, x, method="milp", objective="linf", eps=2e-4, box=2.0)
    assert res.status == "infeasible" and "<= 0.0002" in res.message, res.message
    assert res.certificate.delta == 2e-4 and res.certificate.check()


def test_regression_milp_huge_x():
    G = ReLUNet([[[1.0]], [[1.0]]])
    x = np.array([1e155])  # = G(1e155), well inside float64: the default box's norm must not overflow
    res = invert(G, x, method="milp")
    assert res.status == "exact", res.message
    assert res.z[0] == pytest.approx(1e155, rel=1e-9)
