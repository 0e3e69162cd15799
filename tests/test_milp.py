"""Whole-network inversion as a MILP (layerinv.solvers.milp): planted preimages, proofs, optima checked by
enumerating activation patterns, and input validation."""
import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from conftest import TOL, planted
from layerinv import Certificate, ReLUNet, invert
from layerinv.solvers.milp import MILPProof, milp_invert, milp_invert_prefix, milp_ladder

#: Tolerances of this file. The MILP's "exact" target is max|G(z) - x| <= tol * max|x| with the
#: default tol = 1e-6; the polished points land at ~1e-15, so we check them far tighter.
MILP_TOL = {
    "exact_abs": 1e-9,    # max |G(z) - x| / max|x| of a verified MILP preimage (default tol is 1e-6)
    "optimum": 1e-6,      # relative agreement of the MILP optimum with pattern enumeration (mip_rel_gap 1e-6)
}


def _linf(G, z, x, rows=None):
    y = G(z)
    if rows is not None:
        y = y[rows]
    return float(np.max(np.abs(y - x)))


def _assert_preimage(G, res, x, rows=None):
    assert res.status == "exact", res.message
    assert res.method == "milp"
    assert res.layers and res.layers[0].path == "milp"
    assert _linf(G, res.z, x, rows) <= MILP_TOL["exact_abs"] * max(np.max(np.abs(x)), 1.0)
    assert res.residual <= TOL["residual_exact"]


# ------------------------------------------------------------------ exact recovery
@pytest.mark.parametrize("dims", [[6, 10, 14]])
def test_exact_preimage_on_planted_nets(dims, seed):
    G = ReLUNet.random(dims, rng=seed)
    _, x = planted(G, np.random.default_rng(100 + seed))
    res = milp_invert(G, x)
    _assert_preimage(G, res, x)
    assert "R = " in res.message and res.info["milp"]["box"] > 0


def test_milp_recovers_where_layerwise_stops():
    """Nets with expansion < 2 per layer: the layer-wise method is often inconclusive; the MILP
    must return a verified preimage on every instance, in particular on those."""
    stopped = 0
    for seed in range(6):
        G = ReLUNet.random([4, 6, 8, 10], rng=seed)
        z, x = planted(G, np.random.default_rng(1000 + seed))
        lw = invert(G, x, method="exact")
        if lw.status == "exact":  # whenever it claims a preimage, it must be one
            assert _linf(G, lw.z, x) <= 1e-6 * np.max(np.abs(x))
            continue
        stopped += 1
        res = milp_invert(G, x)
        _assert_preimage(G, res, x)
    assert stopped >= 1  # 6 nets of a shape where layer-wise stops about 2/3 of the time


@pytest.mark.parametrize("out_act", ["identity", "sigmoid", "tanh", ("leaky_relu", 0.2)])
def test_exact_other_output_activations(out_act, seed):
    G = ReLUNet.random([3, 6, 8], rng=seed, activation=("leaky_relu", 0.1), output_activation=out_act, bias=True)
    _, x = planted(G, np.random.default_rng(seed))
    _assert_preimage(G, milp_invert(G, x), x)


def test_rows_inpainting(seed):
    G = ReLUNet.random([4, 8, 12], rng=seed)
    _, x = planted(G, np.random.default_rng(seed))
    rows = np.arange(0, 12, 2)
    res = milp_invert(G, x[rows], rows=rows)
    _assert_preimage(G, res, x[rows], rows)


def test_prefix_reaches_hidden_target(seed):
    G = ReLUNet.random([4, 8, 10, 12], rng=seed)
    z = np.random.default_rng(seed).standard_normal(4)
    h2 = G.forward(z, all_layers=True)[2]  # output of layer 1
    res = milp_invert_prefix(G, 1, h2)
    assert res.status == "exact", res.message
    sub = G.forward(res.z, all_layers=True)[2]
    assert np.max(np.abs(sub - h2)) <= MILP_TOL["exact_abs"] * np.max(np.abs(h2))
    assert res.info["prefix"] == 1


def test_ladder_layerwise_on_top_milp_below():
    """Expansive top layers pin h_1; the 4 -> 6 -> 8 bottom makes the layer-wise path stop. The
    ladder keeps the layer-wise top and solves layers 0..1 by MILP; the full G(z) = x is checked."""
    used_prefix = 0
    for seed in range(6):
        G = ReLUNet.random([4, 6, 8, 40, 80], rng=seed)
        _, x = planted(G, np.random.default_rng(seed))
        res = milp_ladder(G, x, time_limit=60)
        assert res.status == "exact", res.message
        assert _linf(G, res.z, x) <= MILP_TOL["exact_abs"] * np.max(np.abs(x))
        steps = [name for name, _, _ in res.info["ladder"]]
        if steps[0] == "layerwise" and res.info["ladder"][0][1] == "exact":
            assert steps == ["layerwise"] and res.method == "exact"
        else:
            assert res.method == "milp"
            used_prefix += "milp layers 0..1" in steps and "ladder:" in res.message
    assert used_prefix >= 1  # layer-wise stops on about 1 net in 3 of this shape


def test_ladder_off_range_goes_to_full_milp():
    G = ReLUNet.random([3, 5, 7], rng=0, bias=True)
    rng = np.random.default_rng(0)
    x = G(rng.standard_normal(3)) + 0.3 * np.abs(rng.standard_normal(7))
    res = milp_ladder(G, x, box=3.0)
    assert res.status == "infeasible", res.message
    assert res.info["ladder"][-1][0] in ("milp", "layerwise")


def test_batch_of_observations():
    G = ReLUNet.random([3, 6, 8], rng=0)
    Z = np.random.default_rng(0).standard_normal((2, 3))
    res = milp_invert(G, G(Z))
    assert res.batched and list(res.status) == ["exact", "exact"]
    for i in range(2):
        assert _linf(G, res.z[i], G(Z[i])) <= MILP_TOL["exact_abs"] * np.max(np.abs(G(Z[i])))


# ------------------------------------------------------------------ independent check by enumeration
def _pattern_lps(G, x, R, mode, eps=None):
    """For a one-hidden-layer net with identity or ReLU output: enumerate every hidden activation
    pattern s and solve the pattern's LP with scipy (independent of layerinv's encoding).

    mode "linf"/"l1": min of the norm of G(z) - x over the box (identity output);
    mode "feas": whether some z in the box has max |G(z) - x| <= eps (ReLU output, interval rows).
    Returns the best value (or True/False for "feas")."""
    L1, L2 = G.layers
    W1, b1, W2, b2 = L1.weight, L1.bias, L2.weight, L2.bias
    k, n1, n = G.k, L1.n_out, L2.n_out
    best = np.inf
    for s in itertools.product([0.0, 1.0], repeat=n1):
        s = np.array(s)
        # region: s_j = 1 -> W1 z + b1 >= 0 ; s_j = 0 -> <= 0
        sign = np.where(s > 0, -1.0, 1.0)
        A_reg, b_reg = sign[:, None] * W1, -sign * b1
        M = W2 @ (s[:, None] * W1)            # output pre-activation = M z + c
        c = W2 @ (s * b1) + b2
        if mode == "feas":
            # |relu(M z + c) - x| <= eps: active x (x - eps > 0): x-eps <= Mz+c <= x+eps; else Mz+c <= x+eps
            lo = np.where(x - eps > 0, x - eps, -np.inf)
            hi = x + eps
            if np.any(hi < 0):
                return False
            A = np.vstack([A_reg, M, -M[np.isfinite(lo)]])
            b = np.concatenate([b_reg, hi - c, -(lo - c)[np.isfinite(lo)]])
            r = linprog(np.zeros(k), A_ub=A, b_ub=b, bounds=[(-R, R)] * k, method="highs")
            if r.status == 0:
                return True
            continue
        if mode == "linf":  # vars (z, t)
            A = np.vstack([np.hstack([A_reg, np.zeros((n1, 1))]),
                           np.hstack([M, -np.ones((n, 1))]), np.hstack([-M, -np.ones((n, 1))])])
            b = np.concatenate([b_reg, x - c, c - x])
            r = linprog(np.r_[np.zeros(k), 1.0], A_ub=A, b_ub=b, bounds=[(-R, R)] * k + [(0, None)], method="highs")
        else:  # l1: vars (z, e)
            A = np.vstack([np.hstack([A_reg, np.zeros((n1, n))]),
                           np.hstack([M, -np.eye(n)]), np.hstack([-M, -np.eye(n)])])
            b = np.concatenate([b_reg, x - c, c - x])
            r = linprog(np.r_[np.zeros(k), np.ones(n)], A_ub=A, b_ub=b, bounds=[(-R, R)] * k + [(0, None)] * n,
                        method="highs")
        if r.status == 0:
            best = min(best, r.fun)
    return False if mode == "feas" else best


@pytest.mark.parametrize("norm", ["linf", "l1"])
def test_min_norm_optimum_matches_enumeration(norm, seed):
    G = ReLUNet.random([2, 5, 6], rng=seed, bias=True, output_activation="identity")
    rng = np.random.default_rng(seed)
    x = G(rng.standard_normal(2)) + 0.2 * rng.standard_normal(6)
    R = 3.0
    res = milp_invert(G, x, objective=norm, box=R)
    assert res.status == "optimal", res.message
    assert np.all(np.abs(res.z) <= R)
    r = G(res.z) - x
    val = float(np.max(np.abs(r))) if norm == "linf" else float(np.sum(np.abs(r)))
    ref = _pattern_lps(G, x, R, norm)
    assert abs(val - ref) <= MILP_TOL["optimum"] * max(ref, 1e-12) + 1e-9
    obj = res.layers[0].objective
    lower = obj[0] if isinstance(obj, tuple) else obj
    assert lower <= ref * (1 + MILP_TOL["optimum"]) + 1e-9  # HiGHS's bound is a lower bound


def test_eps_forms_bracket_the_optimum(seed):
    G = ReLUNet.random([3, 6, 8], rng=seed, bias=True)
    rng = np.random.default_rng(seed)
    x = np.maximum(G(rng.standard_normal(3)) + 0.05 * rng.standard_normal(8), 0.0)
    opt = milp_invert(G, x, objective="linf", box=4.0)
    assert opt.status == "optimal", opt.message
    t = float(np.max(np.abs(G(opt.z) - x)))
    above = milp_invert(G, x, objective="linf", eps=1.05 * t, box=4.0)
    assert above.status == "feasible" and _linf(G, above.z, x) <= 1.05 * t
    below = milp_invert(G, x, objective="linf", eps=0.9 * t, box=4.0)
    assert below.status == "infeasible", below.message
    assert "no z in [−R, R]^k" in below.message
    l1 = float(np.sum(np.abs(G(opt.z) - x)))
    feas = milp_invert(G, x, objective="l1", eps=l1, box=4.0)
    assert feas.status == "feasible" and float(np.sum(np.abs(G(feas.z) - x))) <= l1 * (1 + 1e-9)


def test_infeasible_off_range_agrees_with_enumeration(seed):
    """x off the range (a planted G(z*) pushed off the 2-D range manifold): the MILP's proof must
    agree with an independent enumeration of activation patterns over the same box."""
    G = ReLUNet.random([2, 5, 8], rng=seed, bias=True)
    rng = np.random.default_rng(seed)
    z, x = planted(G, rng)
    x = x + 0.3 * np.abs(rng.standard_normal(8))  # non-negative, generically off the range
    R = 3.0
    res = milp_invert(G, x, box=R, tighten=seed % 2 == 0)  # odd seeds: the proof comes from the MIP itself
    delta = 1e-6 * np.max(np.abs(x))
    ref = _pattern_lps(G, x, R, "feas", eps=delta)
    if ref:  # the perturbed x happens to be reachable: the MILP must find a preimage
        _assert_preimage(G, res, x)
        return
    assert res.status == "infeasible", res.message
    assert "no z in [−R, R]^k" in res.message and "HiGHS's word" in res.message
    assert np.all(np.isnan(res.z))
    cert = res.certificate
    assert isinstance(cert, MILPProof) and isinstance(cert, Certificate) and cert.box == R and not cert.independent
    assert cert.kind == "milp" and cert.layer == 0
    assert cert.stage == ("relaxation" if seed % 2 == 0 else "mip")
    assert "no z in [−R, R]^k" in cert.describe()
    assert cert.check()  # HiGHS proves it again (not an independent check; documented)


def test_enumeration_confirms_planted_feasibility(seed):
    """The enumeration helper itself: a planted x is feasible, and the MILP agrees."""
    G = ReLUNet.random([2, 5, 8], rng=seed, bias=True)
    z, x = planted(G, np.random.default_rng(seed))
    R = float(np.max(np.abs(z))) + 0.1
    assert _pattern_lps(G, x, R, "feas", eps=1e-9)
    _assert_preimage(G, milp_invert(G, x, box=R), x)


def test_range_violation_gives_checkable_certificate():
    G = ReLUNet.random([3, 6, 8], rng=0)
    _, x = planted(G, np.random.default_rng(0))
    x[2] = -0.5  # a ReLU output cannot be negative
    res = milp_invert(G, x)
    assert res.status == "infeasible"
    assert isinstance(res.certificate, Certificate) and res.certificate.kind == "range"
    assert res.certificate.check()


def test_time_limit_reports_honestly():
    G = ReLUNet.random([20, 40, 60], rng=0)
    _, x = planted(G, np.random.default_rng(0))
    res = milp_invert(G, x, time_limit=0.01)
    assert res.status in ("time_limit", "exact")  # a fast machine may still finish
    if res.status == "time_limit":
        assert np.all(np.isnan(res.z)) or _linf(G, res.z, x) <= 1e-6 * np.max(np.abs(x))
        assert "no claim" in res.message or "best point" in res.message
    else:
        _assert_preimage(G, res, x)


def test_highs_prints_nothing(capfd):
    G = ReLUNet.random([3, 6, 8], rng=0)
    _, x = planted(G, np.random.default_rng(0))
    milp_invert(G, x)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("kwargs, exc, match", [
    ({"objective": "l2"}, ValueError, "objective"),
    ({"objective": "exact", "eps": 0.1}, ValueError, "eps"),
    ({"objective": "linf", "eps": -1.0}, ValueError, "eps"),
    ({"box": 0.0}, ValueError, "box"),
    ({"box": float("nan")}, TypeError, "box"),
    ({"time_limit": -1}, ValueError, "time_limit"),
    ({"tol": 0}, ValueError, "tol"),
    ({"tighten": "yes"}, TypeError, "tighten"),
    ({"rows": [0, 0]}, ValueError, "rows"),
    ({"rows": [0, 99]}, ValueError, "rows"),
    ({"rows": [0.5]}, TypeError, "rows"),
])
def test_bad_options(kwargs, exc, match):
    G = ReLUNet.random([3, 6, 8], rng=0)
    x = G(np.ones(3))
    if "rows" in kwargs:
        x = x[:len(kwargs["rows"])]
    with pytest.raises(exc, match=match):
        milp_invert(G, x, **kwargs)


def test_bad_inputs():
    G = ReLUNet.random([3, 6, 8], rng=0)
    with pytest.raises(TypeError, match="ReLUNet"):
        milp_invert("net", np.zeros(8))
    with pytest.raises(ValueError, match=r"shape \(8,\)"):
        milp_invert(G, np.zeros(7))
    with pytest.raises(ValueError, match="finite"):
        milp_invert(G, np.full(8, np.nan))
    with pytest.raises(TypeError, match="real numbers"):
        milp_invert(G, np.array(["a"] * 8))
    with pytest.raises(TypeError, match="unknown option.*valid options are"):
        milp_invert(G, np.zeros(8), method="milp")
    with pytest.raises(ValueError, match="j must be"):
        milp_invert_prefix(G, 2, np.zeros(8))
    with pytest.raises(ValueError, match=r"shape \(6,\)"):
        milp_invert_prefix(G, 0, np.zeros(8))


def test_ladder_and_prefix_validate_options():
    G = ReLUNet.random([3, 6, 8], rng=0)
    x = G(np.ones(3))
    with pytest.raises(TypeError, match="milp_ladder got unknown option.*objective"):
        milp_ladder(G, x, objective="linf")
    with pytest.raises(ValueError, match="'tol' option of milp_ladder"):
        milp_ladder(G, x, tol=-1.0)
    with pytest.raises(ValueError, match="eps is a noise budget"):
        milp_invert_prefix(G, 0, np.ones(6), eps=0.1)
