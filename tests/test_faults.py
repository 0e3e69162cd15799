"""Hostile numbers and injected faults: every one gives an honest status and message, never a
traceback, a wrong ``ok`` or a false ``infeasible`` (issue 10)."""
import numpy as np
import pytest

import layerinv.lp.highs
import layerinv.lp.kernels
from layerinv import STATUSES, ReLUNet, invert
from layerinv.compress import compress


def _scaled_net(scale, seed, dims=(3, 8, 12)):
    rng = np.random.default_rng(seed)
    G0 = ReLUNet.random(list(dims), rng=rng, bias=True)
    G = ReLUNet([L.weight * scale for L in G0.layers], [L.bias * scale for L in G0.layers])
    return G, rng.standard_normal(G.k)


# ---------------------------------------------------------------------------------- MILP numerics
@pytest.mark.parametrize("scale", [1e4, 1e6, 1e8])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_milp_big_weights_never_infeasible_on_the_range(scale, seed):
    G, z = _scaled_net(scale, seed)
    x = G(z)
    res = invert(G, x, method="milp", time_limit=20.0)
    assert res.status != "infeasible", res.message
    if res.status == "exact":
        assert np.max(np.abs(G(res.z) - x)) <= 1e-6 * np.max(np.abs(x))


@pytest.mark.parametrize("zscale", [1e6, 1e8])
def test_milp_huge_latent(zscale):
    G = ReLUNet.random([3, 8, 12], rng=1)
    z = np.random.default_rng(2).standard_normal(3) * zscale
    res = invert(G, G(z), method="milp", time_limit=20.0)
    assert res.status == "exact", res.message


def test_milp_refuses_an_infeasible_verdict_a_layerwise_point_refutes(monkeypatch):
    """HiGHS saying "infeasible" for an x that the layer-wise method fits is not passed on."""
    G = ReLUNet.random([3, 10, 24], rng=0)
    x = G(np.ones(3))
    real_run = layerinv.lp.highs.Highs.run

    def lying_run(self, time_limit=None):
        sol = real_run(self, time_limit)
        sol.status, sol.x = "infeasible", None
        return sol

    monkeypatch.setattr(layerinv.lp.highs.Highs, "run", lying_run)
    res = invert(G, x, method="milp")
    assert res.status == "failed" and res.certificate is None, res.message
    assert "cannot back" in res.message


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
def test_milp_first_order_output_is_approximate(act):
    G = ReLUNet.random([3, 8, 12], rng=1, output_activation=act)
    x = G(np.ones(3)) + 0.01
    res = invert(G, x, method="milp", objective="linf", time_limit=20.0)
    assert res.status == "approximate" and res.ok
    assert "approximate" in STATUSES
    assert np.isclose(res.residual, np.linalg.norm(G(res.z) - x) / np.linalg.norm(x))


def test_milp_highs_error_is_failed(monkeypatch):
    G = ReLUNet.random([3, 8, 12], rng=0)
    monkeypatch.setattr(layerinv.lp.highs.Highs, "run",
                        lambda self, time_limit=None: layerinv.lp.highs.HighsSolution(None, None, "failed",
                                                                                      "Solve error"))
    res = invert(G, G(np.ones(3)), method="milp", box=3.0)
    assert res.status == "failed" and not res.ok and "Solve error" in res.message


# ---------------------------------------------------------------------------------- layer LP faults
def test_lp_error_and_ipm_failure_are_honest(monkeypatch):
    """The interior point fails to converge and HiGHS errors: a layer that needs the LP says failed."""
    from layerinv.lp.highs import HighsSolution

    G = ReLUNet.random([6, 8, 30], rng=0)  # 8 hidden units: the top layer's rows are not all needed
    x = G(np.random.default_rng(0).standard_normal(6)) + 0.05

    class Failed:
        status, h, message, bound, steps, vertex = "time_limit", None, "injected: did not converge", None, 0, False

    monkeypatch.setattr(layerinv.lp.kernels, "ipm_linf", lambda system, h0=None: Failed())
    monkeypatch.setattr(layerinv.lp.kernels, "ipm_l1", lambda system, h0=None: Failed())
    monkeypatch.setattr(layerinv.lp.kernels, "solve_lp",
                        lambda *a, **k: HighsSolution(None, None, "failed", "injected HiGHS error"))
    for method in ["exact", "linf", "l1"]:
        res = invert(G, x, method=method, **({"gap_tol": 0.0} if method != "exact" else {}))
        assert res.status in ("failed", "inconclusive", "infeasible"), (method, res.status)
        assert not res.ok
        if res.status == "failed":
            assert "injected" in res.message


def test_nan_mid_network_is_not_ok():
    """Weights so large that the forward pass overflows: no method may return ok with a non-finite fit."""
    G = ReLUNet([np.full((4, 2), 1e200), np.full((6, 4), 1e200)])
    x = np.ones(6)
    for method in ["exact", "linf"]:
        res = invert(G, x, method=method)
        if res.ok:
            assert np.all(np.isfinite(res.z)) and np.isfinite(res.residual)


# ---------------------------------------------------------------------------------- ok
def test_gd_divergent_lr_is_not_ok():
    pytest.importorskip("torch")
    G = ReLUNet.random([3, 10, 20], rng=0)
    x = G(np.ones(3))
    # lr is capped at 1e150 (solvers.options.MAX_FLOAT); a start of 1e160 makes the loss overflow
    # (G(z)^2 ~ 1e320), so Adam's gradients turn inf/NaN within the first steps: a real divergence.
    res = invert(G, x, method="gd", rng=0, init=np.full(3, 1e160), steps=20)
    assert not np.all(np.isfinite(res.z))
    assert not res.ok and res.status == "failed" and "diverged" in res.message


def test_exact_on_huge_x_has_a_finite_residual():
    G = ReLUNet.random([3, 8, 16], rng=0)
    x = G(np.ones(3)) * 1e300
    res = invert(G, x, method="exact")
    assert res.ok and np.isfinite(res.residual) and res.residual <= 1e-8


def test_certificate_keeps_its_own_x():
    G = ReLUNet.random([5, 30, 80], rng=0)
    x = G(np.ones(5))
    x[3] = -0.5
    res = invert(G, x, method="exact")
    cert = res.certificate
    assert cert.check()
    x[3] = G(np.ones(5))[3]  # the caller edits their array: the certificate's claim is about the old x
    assert cert.check()
    assert not cert.check(G, x)


# ---------------------------------------------------------------------------------- compress summary
def test_compress_summary_is_honest():
    G = ReLUNet.random([3, 10, 20], rng=0)
    neg = compress(G, -np.ones(20)).summary()
    assert "in the range of G" not in neg
    assert "below 1" in neg  # every ReLU output misses -1 by at least 1
    zero = compress(G, np.zeros(20)).summary()
    assert "absolute (x = 0) error 0" in zero and "e+299" not in zero


# ---------------------------------------------------------------------------------- hostile inputs
def test_relunet_copies_the_callers_arrays():
    W = np.random.default_rng(0).standard_normal((8, 3))
    b = np.zeros(8)
    G = ReLUNet([W], [b])
    W[0, 0] = 123.0  # the caller's array stays writable and theirs
    b[0] = 5.0
    assert G.layers[0].weight[0, 0] != 123.0 and G.layers[0].bias[0] == 0.0
    assert not G.layers[0].weight.flags.writeable


def test_empty_batch_is_refused():
    G = ReLUNet.random([3, 8, 12], rng=0)
    with pytest.raises(ValueError, match="at least one row"):
        invert(G, np.zeros((0, 12)))


@pytest.mark.parametrize("method, opts, name", [("exact", {"tol": 2.0}, "tol"), ("exact", {"tol": 1e300}, "tol"),
                                                 ("linf", {"eps": 1e300}, "eps"), ("auto", {"tol": 1.5}, "tol")])
def test_meaningless_tolerances_are_refused(method, opts, name):
    G = ReLUNet.random([3, 8, 12], rng=0)
    with pytest.raises(ValueError, match=f"'{name}' option"):
        invert(G, G(np.ones(3)), method=method, **opts)


def test_random_bias_must_be_bool():
    with pytest.raises(TypeError, match="bias must be True or False; got 'yes'"):
        ReLUNet.random([3, 8], rng=0, bias="yes")


def test_negative_phase_retrieval_magnitudes_are_refused():
    from layerinv import PhaseRetrieval, recover

    G = ReLUNet.random([3, 8, 12], rng=0)
    op = PhaseRetrieval(20, 12, rng=0)
    y = op(G(np.ones(3)))
    y[4] = -0.5
    with pytest.raises(ValueError, match=r"magnitudes .* never negative; .* y\[4\] = -0.5"):
        recover(G, op, y)


def test_gd_whose_loss_rises_is_not_ok():
    """Adam with a huge (allowed) lr ends far above where it started: failed, not ok (a finite z
    with residual ~1e149 once passed as max_iter/ok)."""
    import layerinv
    G = layerinv.ReLUNet.random([4, 20, 60], rng=0)
    x = G(np.random.default_rng(1).standard_normal(4))
    res = layerinv.invert(G, x, method="gd", rng=0, lr=1e100, steps=20)
    assert res.status == "failed" and not res.ok
    assert "above the best starting one" in res.message
    good = layerinv.invert(G, x, method="gd", rng=0, lr=0.05, steps=300)
    assert good.ok and good.info["loss"] < float(np.sum((G(np.zeros(4)) - x) ** 2))
