"""Core behaviours (certificates, the layer-wise driver, gd) that mutation testing found untested
(docs/testing.md, "Mutation testing"); each test was checked to fail on its mutant."""
import numpy as np
import pytest

import layerinv.lp.kernels as kernels
from layerinv import ReLUNet, invert
from layerinv.certificate import fit_lower_bound, pinned_radius, prove
from layerinv.lp.system import LayerSystem


class _Failed:
    """An interior point that fails (numerical trouble): the kernels fall back to HiGHS."""
    status, h, message, bound, steps, vertex = "failed", None, "injected: numerical trouble", None, 0, False


def test_fit_lower_bound_passes_its_time_limit_to_the_lp(monkeypatch):
    """fit_lower_bound(time_limit=...) bounds each layer LP. x is off the range of G but nonnegative (so
    the activation-range gap is 0): with the interior point failing, HiGHS without a limit still certifies
    a positive distance; with a limit it cannot meet, nothing is certified (bound 0), never more."""
    G = ReLUNet.random([3, 8, 40], rng=0)
    rng = np.random.default_rng(0)
    x = G(rng.standard_normal(3)) + 0.2 * np.abs(rng.standard_normal(40))
    free = fit_lower_bound(G, x)
    assert free.bound > 0.0
    monkeypatch.setattr(kernels, "ipm_linf", lambda system, h0=None: _Failed())
    assert fit_lower_bound(G, x).bound > 0.0
    limited = fit_lower_bound(G, x, time_limit=1e-6)
    assert limited.bound == 0.0


def _dead_row_net(seed):
    """A [3, 12, 10] ReLU net whose output unit 0 has only negative weights and no bias: G(z)_0 = 0 for every z."""
    rng = np.random.default_rng(seed)
    W1, W2 = rng.standard_normal((12, 3)), rng.standard_normal((10, 12))
    W2[0] = -np.abs(W2[0])
    return ReLUNet([W1, W2]), rng


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unreachable_unit_is_proved_by_a_radius_free_dual_certificate(seed):
    """x = G(z*) except x_0 = 1, which no z reaches (G(z)_0 = 0). The top layer's dual proof has no slack
    (its bound holds for every h >= 0), while its few equation rows do not pin h: the certificate must
    still be given (a claim about every z), re-check, and refuse an x that G reaches."""
    G, rng = _dead_row_net(seed)
    x = G(rng.standard_normal(3))
    assert int(np.sum(x > 0)) < 11  # fewer equation rows than hidden units: the rows do not pin h
    x[0] = 1.0
    res = invert(G, x, method="exact")
    assert res.status == "infeasible", res.message
    cert = res.certificate
    assert cert is not None and cert.kind == "dual" and not cert.pinned and cert.layer == 1
    assert res.message.startswith("x is not in the range of G within the region stated below: layer 1 proves it")
    assert cert.check()
    assert not cert.check(G, G(np.ones(3)))  # an x in the range: the claim is false there


def test_pinned_radius_covers_every_input_meeting_the_rows():
    """pinned_radius(system, T) bounds ||h||_inf over {h : |M_E h - c_E| <= T}; the true maximum is found by
    LPs (max ±h_i over that polytope) and must not exceed it; rank-deficient rows give inf."""
    from scipy.optimize import linprog

    rng = np.random.default_rng(4)
    M = rng.standard_normal((12, 4))
    c = M @ rng.standard_normal(4) + 0.01 * rng.standard_normal(12)
    for T in (0.05, 0.5):
        system = LayerSystem(M, c, np.zeros((0, 4)), np.zeros(0), np.arange(12), np.arange(0), False)
        R = pinned_radius(system, T)
        A_ub, b_ub = np.vstack([M, -M]), np.concatenate([c + T, T - c])
        worst = max(-linprog(s * np.eye(4)[i], A_ub=A_ub, b_ub=b_ub, bounds=[(None, None)] * 4).fun
                    for i in range(4) for s in (-1.0, 1.0))
        assert np.isfinite(R) and worst <= R <= 10 * worst
    flat = LayerSystem(M[:3], c[:3], np.zeros((0, 4)), np.zeros(0), np.arange(3), np.arange(0), False)
    assert pinned_radius(flat, 0.05) == np.inf


@pytest.mark.parametrize("seed", [0, 1])
def test_hidden_vector_outside_the_first_layers_range_is_proved_at_layer_0(seed):
    """x = relu(W2 h + b2) for a positive h that no z reaches (10 positive units from a 2-dim z): the top layer
    recovers h uniquely, layer 0 cannot meet it, and the proof (over a free z) is certified at layer 0."""
    G = ReLUNet.random([2, 10, 40], rng=seed, bias=True)
    h = 0.5 + np.abs(np.random.default_rng(seed).standard_normal(10))
    top = G.layers[1]
    x = np.maximum(top.weight @ h + top.bias, 0.0)
    res = invert(G, x, method="exact")
    assert res.status == "infeasible", res.message
    cert = res.certificate
    assert cert is not None and cert.layer == 0 and cert.check()
    assert not cert.check(G, G(np.ones(2)))


def test_certificate_with_a_negative_or_infinite_tolerance_is_refused():
    """check() verifies a claim about a stated tolerance; a certificate edited to state a negative or
    infinite one is refused (the claim is meaningless), while the original still checks."""
    G, rng = _dead_row_net(0)
    x = G(rng.standard_normal(3))
    x[0] = 1.0
    cert = invert(G, x, method="exact").certificate
    assert cert.check()
    for rtol in (-1e-6, np.inf):
        cert.rtol = rtol
        assert not cert.check() and "tolerance" in cert.reason


def test_range_certificates_describe_their_claim():
    """A range proof's description states the claim (its tolerance, relative or absolute) and the reason:
    which entries lie outside which activation's range."""
    G = ReLUNet.random([5, 30, 80], rng=0)
    x = G(np.ones(5))
    x[3] = -0.5  # no ReLU output is negative
    exact = invert(G, x, method="exact")
    assert exact.status == "infeasible" and exact.certificate.kind == "range"
    assert exact.message.startswith("x is not in the range of G: layer 1 proves it")  # a claim about every z
    text = exact.certificate.describe()
    atol = 1e-6 * float(np.max(np.abs(x)))
    assert text.startswith(f"no z has ||G(z) - x||_inf <= {atol:.3g} (tol 1e-06 x max|x|): 1 entries of the "
                           "target of layer 1 lie outside the range of its relu activation")
    absolute, _, _, _ = prove(G, x, 1, 0.1)  # the fixed-eps form (method="linf", eps=0.1): no rtol
    assert absolute.kind == "range" and absolute.rtol is None and absolute.check()
    assert absolute.describe().startswith("no z has ||G(z) - x||_inf <= 0.1: 1 entries of the target of layer 1")



def test_recover_gd_uses_the_callers_options():
    """recover(method="gd") runs Adam with the caller's steps, lr and restarts: a 5-step run stops after at
    most 5 steps and fits worse than a 200-step one, and info reports the lr and restarts asked for."""
    pytest.importorskip("torch")
    from layerinv import GaussianCS, recover
    G = ReLUNet.random([4, 30, 80], rng=1)
    rng = np.random.default_rng(2)
    x = G(rng.standard_normal(4))
    op = GaussianCS(40, G.n, rng)
    short = recover(G, op, op(x), "gd", rng=0, steps=5, lr=0.03, restarts=2)
    assert short.info["steps"] <= 5 and short.info["lr"] == 0.03 and short.info["restarts"] == 2
    long = recover(G, op, op(x), "gd", rng=0, steps=200, lr=0.03, restarts=2)
    assert long.info["loss"] < short.info["loss"]


def test_recover_gd_phase_retrieval_flips_a_negated_latent():
    """Phase retrieval by gd checks -z every 50 steps (Hand, Leong & Voroninski): started at -z* with a
    negligible lr, the 50th step flips it to z*, which fits the magnitudes exactly."""
    pytest.importorskip("torch")
    from layerinv import PhaseRetrieval, recover
    G = ReLUNet.random([3, 20, 60], rng=4)
    z = np.random.default_rng(4).standard_normal(3)
    op = PhaseRetrieval(80, G.n, rng=4)
    y = op(G(z))
    assert np.linalg.norm(op(G(-z)) - y) > 0.1 * np.linalg.norm(y)  # -z* is far from fitting
    res = recover(G, op, y, "gd", rng=0, init=-z, steps=50, lr=1e-12)
    np.testing.assert_allclose(res.z, z, rtol=1e-9)
    assert res.residual <= 1e-9


def test_gd_returns_the_best_finite_restart_when_another_diverges():
    """Two explicit starts, one so large that its loss overflows (the restart diverges) and one near z*:
    the finite restart is returned, with a finite z and loss, and the result is not "diverged"."""
    pytest.importorskip("torch")
    G = ReLUNet.random([3, 10, 20], rng=0)
    z = np.random.default_rng(5).standard_normal(3)
    x = G(z)
    res = invert(G, x, method="gd", rng=0, init=np.array([np.full(3, 1e160), z + 0.01]), steps=20)
    assert np.all(np.isfinite(res.z)) and np.isfinite(res.info["loss"])
    assert np.linalg.norm(res.z - z) < 0.1 and "diverged" not in res.message


def test_keep_determined_is_relative_to_the_targets_scale():
    """The layer-wise threshold rule is scale-free: scaling the target, its threshold, base and noise floor by
    1e-3 scales the returned threshold by 1e-3 (a floor above 1e-6 of the target's scale lowers the threshold
    so that n_in rows stay equations; a floor below leaves it alone)."""
    from layerinv.solvers.layerwise import _keep_determined
    a = np.abs(np.random.default_rng(6).standard_normal(30)) + 0.1
    thr, base, n_in = 1.0, 0.05, 20
    for floor in (1e-3, 1e-9):  # poor fit above the layer: the rule acts; tiny noise: it does not
        full = _keep_determined(a, thr, n_in, base, floor)
        assert (full < thr) == (floor == 1e-3)
        small = _keep_determined(1e-3 * a, 1e-3 * thr, n_in, 1e-3 * base, 1e-3 * floor)
        assert small == pytest.approx(1e-3 * full, rel=1e-12)


def test_layer_within_the_allowance_of_the_layers_above_continues():
    """x = G(z*) + e with |e| <= 0.9 tol max|x| (z* fits within the tolerance): layer 0 cannot meet its own
    re-derived target within its own tolerance, but can within the allowance the layer above leaves; the
    driver goes on (the record says so) and never claims infeasible."""
    rng = np.random.default_rng(2)
    G = ReLUNet.random([2, 8, 20], rng=2)
    x = G(rng.standard_normal(2))
    x = x + 0.9e-6 * np.max(np.abs(x)) * rng.choice([-1.0, 1.0], size=x.shape)
    res = invert(G, x, method="exact")
    assert res.status in ("exact", "inconclusive"), res.message
    assert "within the allowance" in res.layers[-1].message and res.layers[-1].index == 0
    if res.status == "exact":
        assert np.max(np.abs(G(res.z) - x)) <= 1e-6 * np.max(np.abs(x))


def test_region_limited_dual_bound_is_attached_not_claimed():
    """x = relu(W2 h + b2) for an h with 3 active units that layer 0 cannot produce; its 3 equation rows do
    not pin z (k = 4), so layer 0's dual bound holds only for ||z||_inf <= its radius: the result is
    inconclusive (not infeasible), with that region-limited certificate attached, re-checkable and saying so."""
    rng = np.random.default_rng(0)
    G = ReLUNet.random([4, 10, 40], rng=0, bias=True)
    h = np.zeros(10)
    h[rng.choice(10, 3, replace=False)] = 0.5 + np.abs(rng.standard_normal(3))
    x = np.maximum(G.layers[1].weight @ h + G.layers[1].bias, 0.0)
    res = invert(G, x, method="exact")
    assert res.status == "inconclusive" and "holds only for layer inputs" in res.message
    cert = res.certificate
    assert cert is not None and cert.layer == 0 and not cert.pinned and np.isfinite(cert.radius)
    assert cert.check()
    assert cert.describe().startswith(f"no z ||z||_inf <= {cert.radius:.3g} has ||G(z) - x||_inf <= ")
    assert "(tol 1e-06 x max|x|) (a claim limited to that region)" in cert.describe()


def test_a_layer_lp_stopped_by_its_time_limit_stops_the_driver(monkeypatch):
    """The top layer's LP cannot finish (interior point fails, HiGHS stops on its clock without a point): the
    layer-wise driver stops there with status time_limit, names the layer, and is not ok."""
    from layerinv.lp.highs import HighsSolution
    G = ReLUNet.random([4, 12, 40], rng=0)
    x = G(np.random.default_rng(0).standard_normal(4)) + 0.05
    monkeypatch.setattr(kernels, "ipm_linf", lambda system, h0=None: _Failed())
    monkeypatch.setattr(kernels, "solve_lp",
                        lambda *a, **k: HighsSolution(None, None, "time_limit", "injected: time limit reached"))
    res = invert(G, x, method="linf", gap_tol=0.0)
    assert res.status == "time_limit" and not res.ok, res.message
    assert res.message.startswith("layer 1: ") and "injected" in res.message
    assert [r.index for r in res.layers] == [1]


def test_exact_on_x_zero_is_exact():
    """x = 0 is G(0) for a bias-free ReLU net: the exact method returns a z with G(z) = 0 exactly (the
    end-to-end check max |G(z) - x| <= tol max|x| holds with equality, 0 <= 0)."""
    G = ReLUNet.random([3, 10, 30], rng=0)
    res = invert(G, np.zeros(30), method="exact")
    assert res.status == "exact", res.message
    assert np.all(G(res.z) == 0.0)
