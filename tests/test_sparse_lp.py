"""The sparse layer LP (layerinv.lp.sparse): layers above linear_maps.DENSE_LIMIT entries solved on their
sparse rows through HiGHS, verified like the dense kernel's answers.

DENSE_LIMIT is lowered (monkeypatch) so that the sparse path runs on small conv nets the dense path also
solves: both must give the same statuses and the same z (where the answer is unique)."""
import time

import numpy as np
import pytest

from conv_nets import conv_decoder, expansive, planted, rel, shrinking
from conftest import TOL
from layerinv import ReLUNet, invert
from layerinv import linear_maps as lm
from layerinv.certificate import fit_lower_bound
from layerinv.lp import kernels, sparse
from layerinv.lp.system import build_system, dual_bound

torch = pytest.importorskip("torch")
nn = torch.nn

SMALL_LIMIT = 1000  # below the conv layers of the nets here (1,296 and 20,736 entries), above the Linear one
SEEDS6 = range(6)


@pytest.fixture
def spy(monkeypatch):
    """Counts the calls of the sparse kernels (so a test knows the sparse path ran)."""
    calls = {"fast_point": 0, "linf_lp": 0, "l1_lp": 0}
    for name in calls:
        orig = getattr(sparse, name)

        def wrapped(*a, _orig=orig, _name=name, **kw):
            calls[_name] += 1
            return _orig(*a, **kw)
        monkeypatch.setattr(sparse, name, wrapped)
    return calls


def same_or_sound(dense, sp_):
    """On a net the dense pass pinned, both paths agree; where a layer was not pinned, its LP may pick another
    of many optimal points (HiGHS's vertex vs the dense interior point), and only soundness is asked."""
    if dense.info["unpinned"]:
        assert sp_.status in (dense.status, "inconclusive"), sp_.message
        assert sp_.status != "exact" or sp_.residual < TOL["residual_exact"]
        return False
    assert sp_.status == dense.status, sp_.message
    assert [r.status for r in sp_.layers] == [r.status for r in dense.layers]
    return True


def run_both(monkeypatch, G, x, method, **kw):
    """``invert`` on the dense path, then with DENSE_LIMIT lowered (the sparse path)."""
    dense = invert(G, x, method=method, **kw)
    with monkeypatch.context() as m:
        m.setattr(lm, "DENSE_LIMIT", SMALL_LIMIT)
        sp_ = invert(G, x, method=method, **kw)
    return dense, sp_


# ---------------------------------------------------------------------- the rows
def test_conv_rows_are_sparse_with_nnz_weights_times_positions(monkeypatch):
    G = shrinking(0)
    A = G.layers[2].linear
    S = A.to_sparse()
    assert S.format == "csr" and S.nnz == A.nnz and S.data.size == A.nnz
    assert A.nnz < A.n_out * A.n_in / 10  # memory follows the nonzeros, not n_out x n_in
    assert np.array_equal(S.toarray(), G.layers[2].weight)
    x = G(np.ones(G.k))
    monkeypatch.setattr(lm, "DENSE_LIMIT", SMALL_LIMIT)
    system = build_system(G.layers[2], x, 1e-9, True)
    assert system.sparse
    h = np.abs(np.random.default_rng(0).standard_normal(system.n_in))
    ref = G.layers[2].weight @ h - (x - G.layers[2].bias)
    rE, rI = system.residuals(h)
    assert np.allclose(rE, ref[system.E], rtol=0, atol=1e-12) and np.allclose(rI, ref[system.I], rtol=0, atol=1e-12)


def test_dual_bound_is_the_same_on_sparse_and_dense_rows(monkeypatch):
    G = shrinking(1)
    _, x = planted(G, 1)
    dense = build_system(G.layers[2], x, 0.1, True)
    monkeypatch.setattr(lm, "DENSE_LIMIT", SMALL_LIMIT)
    sparse_ = build_system(G.layers[2], x, 0.1, True)
    rng = np.random.default_rng(1)
    y_E, y_I = rng.standard_normal(dense.E.size), np.abs(rng.standard_normal(dense.I.size))
    for norm in ("linf", "l1"):
        a, b = dual_bound(dense, y_E, y_I, norm, 3.0), dual_bound(sparse_, y_E, y_I, norm, 3.0)
        assert a.value == pytest.approx(b.value, rel=1e-12, abs=1e-300)


# ---------------------------------------------------------------------- dense and sparse agree
@pytest.mark.parametrize("seed", SEEDS6)
@pytest.mark.parametrize("method", ["exact", "linf", "l1"])
def test_sparse_and_dense_paths_agree_on_planted_x(monkeypatch, spy, seed, method):
    G = expansive(seed)
    z, x = planted(G, seed)
    dense, sp_ = run_both(monkeypatch, G, x, method)
    assert spy["fast_point"] >= 2  # layers 2 and 1 went through the sparse kernel
    if not same_or_sound(dense, sp_):  # the 288 outputs had fewer than 72 active rows
        return
    assert sp_.status == ("exact" if method == "exact" else "optimal"), sp_.message
    assert rel(sp_.z, dense.z) < 1e-10 and rel(sp_.z, z) < TOL["z_exact"]
    assert sp_.residual < TOL["residual_exact"]
    assert sp_.info["pinned"] == [2, 1, 0] and sp_.info["unpinned"] == []


@pytest.mark.parametrize("seed", SEEDS6)
@pytest.mark.parametrize("method", ["linf", "l1"])
def test_sparse_and_dense_paths_agree_on_noisy_x(monkeypatch, spy, seed, method):
    G = expansive(seed)
    _, x = planted(G, seed)
    x = x + 1e-3 * np.max(x) * np.random.default_rng(seed).standard_normal(x.size)
    dense, sp_ = run_both(monkeypatch, G, x, method)
    assert spy[f"{method}_lp"] >= 1  # the noisy top layer needed the sparse LP
    # the top layer's optimum value is unique (its point need not be: the ℓ∞ LP is degenerate)
    top_d, top_s = dense.layers[0], sp_.layers[0]
    assert top_s.status == top_d.status == "optimal"
    assert top_s.objective == pytest.approx(top_d.objective, rel=1e-6)
    if same_or_sound(dense, sp_) and method == "l1":  # the ℓ1 optimum point is unique here: the same z
        assert rel(sp_.z, dense.z) < 1e-8


@pytest.mark.parametrize("seed", SEEDS6[:3])
@pytest.mark.parametrize("method", ["exact", "linf", "l1"])
def test_sparse_path_on_nets_it_cannot_pin(monkeypatch, spy, seed, method):
    G = shrinking(seed)
    _, x = planted(G, seed)
    dense, sp_ = run_both(monkeypatch, G, x, method, time_limit=60)
    assert spy["linf_lp"] + spy["l1_lp"] >= 1
    assert 2 in dense.info["unpinned"] and 2 in sp_.info["unpinned"] and "not pinned" in sp_.message
    same_or_sound(dense, sp_)
    assert sp_.status != "infeasible"  # x is in the range: never a verdict against it


@pytest.mark.parametrize("seed", SEEDS6[:3])
def test_tanh_output_layer_on_sparse_rows(monkeypatch, seed):
    G = conv_decoder(seed, 3, 2, 3, 2, out=2, last=nn.Tanh())
    z, x = planted(G, seed)
    dense, sp_ = run_both(monkeypatch, G, x, "exact")
    if same_or_sound(dense, sp_):
        assert sp_.status == "exact" and rel(sp_.z, z) < TOL["z_exact"] and rel(sp_.z, dense.z) < 1e-10


# ---------------------------------------------------------------------- off the range
@pytest.mark.parametrize("seed", SEEDS6)
def test_off_range_x_is_never_a_false_exact(monkeypatch, seed):
    G = expansive(seed)
    _, x = planted(G, seed)
    off = np.maximum(x + 0.3 * np.max(x) * np.random.default_rng(seed).standard_normal(x.size), 0.0)
    monkeypatch.setattr(lm, "DENSE_LIMIT", SMALL_LIMIT)
    res = invert(G, off, method="exact")
    assert res.status in ("infeasible", "inconclusive"), res.message
    if res.status == "infeasible":
        assert res.certificate is not None and res.certificate.check(G, off)
    neg = x.copy()
    neg[np.argmax(x)] = -np.max(x)  # a ReLU output is never negative: the range proof needs no dense rows
    res = invert(G, neg, method="exact")
    assert res.status == "infeasible" and res.certificate.check(G, neg)


@pytest.mark.parametrize("seed", SEEDS6[:4])
def test_fit_lower_bound_on_sparse_rows(monkeypatch, seed):
    G = expansive(seed)
    _, x = planted(G, seed)
    off = np.maximum(x + 0.3 * np.max(x) * np.random.default_rng(seed).standard_normal(x.size), 0.0)
    dense = fit_lower_bound(G, off)
    with monkeypatch.context() as m:
        m.setattr(lm, "DENSE_LIMIT", SMALL_LIMIT)
        assert fit_lower_bound(G, x).bound <= 1e-9 * np.max(x)  # in the range: nothing to certify
        fb = fit_lower_bound(G, off)
    upper = np.max(np.abs(G(invert(G, off, method="auto").z) - off))  # a fit some z achieves
    assert 0 < fb.bound <= upper and dense.bound <= upper
    assert fb.radius > 1e3 * np.max(off)  # not a bound about a tiny region only
    assert fb.bound >= 0.5 * dense.bound  # as informative as the dense LP's (measured: within 2%)


# ---------------------------------------------------------------------- limits
def big_net(rng):
    """4096 -> 4096 single-channel 3x3 convolution on top of a dense layer (16.8M entries > DENSE_LIMIT)."""
    big = lm.ConvTranspose2d(rng.standard_normal((1, 1, 3, 3)), 1, 1, in_shape=(1, 64, 64))
    return ReLUNet([rng.standard_normal((4096, 4)), big], None, ["relu", "relu"])


@pytest.mark.parametrize("method", ["exact", "linf"])
def test_time_limit_is_respected_on_a_large_sparse_layer(method):
    rng = np.random.default_rng(0)
    G = big_net(rng)
    assert G.layers[1].n_out * G.layers[1].n_in > lm.DENSE_LIMIT
    x = G(rng.standard_normal(G.k))
    t0 = time.perf_counter()
    res = invert(G, x, method=method, time_limit=2.0)
    assert time.perf_counter() - t0 < 2.0 + 3.0  # building the rows and the checks: well under 3 s here
    assert res.status not in ("infeasible", "optimal", "exact") or res.residual < TOL["residual_exact"]


def test_layers_above_the_sparse_limit_are_refused_clearly(monkeypatch):
    G = expansive(0)
    _, x = planted(G, 0)
    monkeypatch.setattr(lm, "DENSE_LIMIT", SMALL_LIMIT)
    monkeypatch.setattr(sparse, "SPARSE_NNZ_LIMIT", 100)
    res = invert(G, x, method="exact")
    assert res.status == "inconclusive" and "SPARSE_NNZ_LIMIT" in res.message
    with pytest.raises(ValueError, match="SPARSE_NNZ_LIMIT"):
        fit_lower_bound(G, x)


def test_a_refuted_highs_answer_is_not_accepted(monkeypatch):
    """HiGHS's point is recomputed: a wrong one (here: perturbed) fails the check instead of passing."""
    G = shrinking(0)
    _, x = planted(G, 0)
    monkeypatch.setattr(lm, "DENSE_LIMIT", SMALL_LIMIT)
    system = build_system(G.layers[2], x, 1e-9, True)
    orig = sparse.linf_lp

    def wrong(*a, **kw):
        h, sol, cands, tol = orig(*a, **kw)
        return h + 1.0, sol, cands, tol
    monkeypatch.setattr(sparse, "linf_lp", wrong)
    out = kernels.solve_linf(system)
    assert out.status == "failed" and "recomputation" in out.message


@pytest.mark.parametrize("seed", SEEDS6[:3])
def test_linf_with_eps_on_sparse_rows(monkeypatch, seed):
    """The fixed-budget form: a budget the planted x meets is feasible; an x off the range by more than the
    budget is never reported feasible (a sparse top layer gives no dual certificate: inconclusive at most)."""
    G = expansive(seed)
    _, x = planted(G, seed)
    monkeypatch.setattr(lm, "DENSE_LIMIT", SMALL_LIMIT)
    eps = 1e-3 * np.max(x)
    noisy = x + 0.5 * eps * np.random.default_rng(seed).uniform(-1, 1, x.size)
    res = invert(G, noisy, method="linf", eps=eps)
    assert res.status in ("feasible", "inconclusive"), res.message
    if res.status == "feasible":
        assert res.layers[0].objective <= eps * (1 + 1e-9)
    off = np.maximum(x + 0.3 * np.max(x) * np.random.default_rng(seed).standard_normal(x.size), 0.0)
    res = invert(G, off, method="linf", eps=eps)
    assert res.status in ("infeasible", "inconclusive"), res.message
    if res.status == "infeasible":
        assert res.certificate is None or res.certificate.check(G, off)


@pytest.mark.parametrize("seed", SEEDS6[:3])
def test_lsqr_point_is_verified_and_claims_no_unique_input(monkeypatch, seed):
    """Above NORMAL_LIMIT the least squares run by LSQR: its point is checked like any other, and the layer
    is not called pinned (LSQR does not show the rank)."""
    G = expansive(seed)
    z, x = planted(G, seed)
    monkeypatch.setattr(lm, "DENSE_LIMIT", SMALL_LIMIT)
    monkeypatch.setattr(sparse, "NORMAL_LIMIT", 0)
    res = invert(G, x, method="exact")
    assert res.status in ("exact", "inconclusive"), res.message
    assert 1 in res.info["unpinned"] and not [r for r in res.layers if r.index == 1][0].unique
    if res.status == "exact":
        assert res.residual < TOL["residual_exact"]


@pytest.mark.parametrize("seed", SEEDS6[:3])
@pytest.mark.parametrize("method", ["linf", "l1"])
def test_interior_point_branch_agrees_with_dense(monkeypatch, seed, method):
    """Large sparse LPs go to HiGHS's interior point (no crossover): forced here on small ones."""
    G = expansive(seed)
    _, x = planted(G, seed)
    x = x + 1e-3 * np.max(x) * np.random.default_rng(seed).standard_normal(x.size)
    monkeypatch.setattr(sparse, "IPM_NNZ", 0)
    dense, sp_ = run_both(monkeypatch, G, x, method)
    top_d, top_s = dense.layers[0], sp_.layers[0]
    assert top_s.status == top_d.status == "optimal" and "sparse LP" in top_s.message
    assert top_s.objective == pytest.approx(top_d.objective, rel=1e-6)  # measured: within 1e-9
    same_or_sound(dense, sp_)
