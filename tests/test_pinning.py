"""Which layers are pinned (layerinv/solvers/pinning.py): the Gram plan's matrix is R^T R, and its rank verdict
agrees with the singular values of the active rows wherever they leave no doubt."""
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from layerinv.linear_maps import Conv2d, ConvTranspose2d, Sparse
from layerinv.solvers import pinning
from layerinv.solvers.pinning import GramPlan, gram_plan

#: (kind, C_in, C_out, H, kernel, stride, padding, output_padding)
CONFIGS = [
    ("convT", 4, 3, 5, 4, 2, 1, 0),   # the DCGAN / MNIST decoder block
    ("convT", 3, 2, 4, 3, 2, 1, 1),   # odd kernel, output_padding
    ("convT", 2, 2, 5, 3, 1, 1, 0),   # stride 1
    ("convT", 2, 1, 4, 5, 3, 2, 2),   # stride 3
    ("conv", 2, 5, 8, 3, 1, 1, 0),
    ("conv", 2, 6, 9, 3, 2, 0, 0),
    ("conv", 1, 7, 6, 2, 1, 0, 0),
]


def _map(cfg, seed):
    kind, ci, co, h, k, s, p, op = cfg
    rng = np.random.default_rng(seed)
    if kind == "convT":
        return ConvTranspose2d(rng.standard_normal((ci, co, k, k)), s, p, op, in_shape=(ci, h, h))
    return Conv2d(rng.standard_normal((co, ci, k, k)), s, p, in_shape=(ci, h, h))


@pytest.fixture(autouse=True)
def _always_plan(monkeypatch):
    """Plans for every convolution here, even where padding makes them cost more than the sparse product: the
    tests check what a plan computes (the MNIST-size test below checks that it is used where it pays)."""
    monkeypatch.setattr(pinning, "PAD_LIMIT", np.inf)


@pytest.fixture(params=["band", "dense"])
def storage(request, monkeypatch):
    """Both ways a plan stores and factors its Gram matrix: as a band (dpbtrf) and dense (dpotrf)."""
    if request.param == "dense":
        monkeypatch.setattr(pinning, "BAND_RATIO", 1e12)
    return request.param


def _dense_gram(plan, active):
    """The plan's Gram matrix back in the map's own column order, full (n, n)."""
    n, low = plan.n, plan.gram(active)
    if plan.banded:
        M = np.zeros((n, n))
        for d in range(low.shape[0]):
            M[np.arange(d, n), np.arange(n - d)] = low[d, :n - d]
    else:
        M = np.tril(low)
    M = M + np.tril(M, -1).T
    return M[np.ix_(plan.order, plan.order)]


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("seed", range(3))
def test_the_plans_gram_matrix_is_that_of_the_active_rows(cfg, seed, storage):
    A = _map(cfg, seed)
    plan = gram_plan(A)
    assert plan is not None and (storage == "band" or not plan.banded)
    S = A.to_sparse().toarray()
    rng = np.random.default_rng(10 + seed)
    for density in (0.3, 0.7, 1.0):
        active = rng.random(A.n_out) < density
        R = S[active]
        ref = R.T @ R
        got = _dense_gram(plan, active)
        assert np.max(np.abs(got - ref)) <= 1e-12 * max(np.max(np.abs(ref)), 1.0)


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("seed", range(4))
def test_the_rank_verdict_agrees_with_the_singular_values(cfg, seed, storage):
    """Cholesky pivots satisfy d_min^2 >= lambda_min(R^T R) and d_max^2 <= lambda_max, so the test passes
    whenever sigma_min / sigma_max >= 1e-5; an all-zero column can never pass."""
    A = _map(cfg, seed)
    plan = gram_plan(A)
    S = A.to_sparse().toarray()
    rng = np.random.default_rng(100 + seed)
    seen = set()
    for density in (0.2, 0.5, 0.8, 0.95, 1.0):
        active = rng.random(A.n_out) < density
        R = S[active]
        sv = np.linalg.svd(R, compute_uv=False) if R.shape[0] >= A.n_in else np.zeros(1)
        zero_col = R.shape[0] > 0 and np.any(np.all(R == 0, axis=0))
        verdict = plan.full_rank(active)
        if R.shape[0] < A.n_in or zero_col:
            assert verdict is False
            seen.add(False)
        elif sv[-1] >= 1e-5 * sv[0]:
            assert verdict is True
            seen.add(True)
    if cfg[0] == "convT" or cfg[5] == 1:
        assert True in seen  # the full row set of an expansive map pins its input


@pytest.mark.parametrize("cfg", CONFIGS[:4])
def test_a_column_whose_rows_are_all_inactive_is_not_pinned(cfg, storage):
    A = _map(cfg, 0)
    S = A.to_sparse().toarray()
    for j in (0, A.n_in // 2, A.n_in - 1):
        active = ~np.any(S[:, [j]] != 0, axis=1)  # drop every row that reads input j
        assert not gram_plan(A).full_rank(active)
        # ... and nothing else: dropping any other single row's worth keeps the verdict the SVD gives
        if active.sum() >= A.n_in:
            assert np.linalg.matrix_rank(S[active]) < A.n_in


@pytest.mark.parametrize("cache", [True, False])
@pytest.mark.parametrize("missing", [(), (0, 1)])
def test_a_map_whose_rows_share_no_supports_falls_back_to_the_sparse_product(monkeypatch, missing, cache):
    """One dense row among single-entry rows: padded blocks would hold m x n entries, so there is no plan, and
    pinned_layers decides the rank from the Gram matrix of the sparse rows. Without the single-entry rows of
    two columns, only the dense row reaches them: rank n - 1."""
    monkeypatch.setattr(pinning, "PAD_LIMIT", 3)
    if not cache:  # the map too large to keep: its rows are built each time
        monkeypatch.setattr(pinning, "SPARSE_CACHE", 0)
    from layerinv import ReLUNet

    rng = np.random.default_rng(0)
    n = 30
    rows = [np.arange(n)] + [np.array([j % n]) for j in range(3 * n) if j % n not in missing]
    M = sp.csr_matrix((np.concatenate([rng.uniform(0.5, 1.5, len(r)) for r in rows]),
                       (np.concatenate([np.full(len(r), i) for i, r in enumerate(rows)]), np.concatenate(rows))),
                      shape=(len(rows), n))
    assert GramPlan.build(M) is None
    G = ReLUNet([rng.standard_normal((n, 4)), M], biases=[np.full(n, 10.0), None])  # every unit active
    n_act, pinned, why = pinning.pinned_layers(G, rng.standard_normal(4))[1]
    assert n_act == len(rows) >= n
    assert pinned == (not missing) == (np.linalg.matrix_rank(M.toarray()) == n), why
    assert pinning.gram_plan(G.layers[1].linear) is None


def test_the_band_is_narrow_on_a_convolution_and_dense_when_it_cannot_be(monkeypatch):
    monkeypatch.setattr(pinning, "PAD_LIMIT", 3)
    A = ConvTranspose2d(np.random.default_rng(0).standard_normal((32, 16, 4, 4)), 2, 1, 0, in_shape=(32, 7, 7))
    plan = gram_plan(A)
    assert plan is not None, "a stride-2 kernel-4 transposed convolution's rows share supports: the plan pays"
    assert plan.banded and plan.bandwidth == 8 * 32 + 31  # channels last: neighbouring pixels, all channels
    tiny = Conv2d(np.ones((3, 2, 3, 3)), 1, 1, in_shape=(2, 2, 2))  # every input reaches every output
    assert not gram_plan(tiny).banded


def test_pinned_layers_on_a_conv_net_match_the_dense_rank():
    pytest.importorskip("torch")
    from conv_nets import conv_decoder

    G = conv_decoder(0, 4, 3, 3, 3, out=2)
    rng = np.random.default_rng(3)
    for _ in range(4):
        z = rng.standard_normal(G.k)
        h = z
        for (n_act, pinned, why), L in zip(pinning.pinned_layers(G, z), G.layers):
            u = L.affine(h)
            R = L.linear.to_dense()[u > 0]
            assert n_act == R.shape[0]
            if R.shape[0] < L.n_in:
                assert not pinned and "active rows <" in why
            else:
                sv = np.linalg.svd(R, compute_uv=False)
                if sv[-1] >= 1e-5 * sv[0]:
                    assert pinned, why
                elif sv[-1] <= 1e-14 * sv[0]:
                    assert not pinned, why
            h = L.activation(u)


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(["conv", "convT"]), ci=st.integers(1, 3), co=st.integers(1, 4), h=st.integers(2, 6),
       k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2), seed=st.integers(0, 2**31 - 1),
       density=st.floats(0.1, 1.0))
def test_property_gram_and_verdict(kind, ci, co, h, k, s, p, seed, density):
    """Any small convolution: the plan (when there is one) gives R^T R, and a verdict the SVD agrees with."""
    p = min(p, k - 1)
    op = min(s - 1, 1)
    try:
        A = _map((kind, ci, co, h, k, s, p, op), seed)
    except ValueError:  # an empty output for this shape
        return
    plan = GramPlan.build(A.to_sparse(), A.in_shape)
    if plan is None:
        return
    S = A.to_sparse().toarray()
    active = np.random.default_rng(seed).random(A.n_out) < density
    R = S[active]
    assert np.max(np.abs(_dense_gram(plan, active) - R.T @ R)) <= 1e-12 * max(np.max(np.abs(R.T @ R), initial=0), 1)
    verdict = plan.full_rank(active)
    if R.shape[0] < A.n_in or np.any(np.all(R == 0, axis=0)):
        assert verdict is False
    else:
        sv = np.linalg.svd(R, compute_uv=False)
        if sv[-1] >= 1e-5 * sv[0]:
            assert verdict is True


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_nearly_dependent_inputs_are_not_pinned_at_any_scale(scale, storage):
    """Two input channels with the same weights up to ``gap``: at 1e-9 the Cholesky factorisation fails; at
    3e-7 it succeeds but its pivots' ratio (~3e-14) is below the test's 1e-10 (sigma_min / sigma_max ~ 7e-8);
    at 0.2 the rows pin the input. Scaling the map changes no verdict."""
    from scipy.linalg import lapack

    rng = np.random.default_rng(7)
    w = rng.standard_normal((3, 4, 4, 4))
    for gap, expect, chol_ok in ((1e-9, False, False), (3e-7, False, True), (2e-1, True, True)):
        wt = w.copy()
        wt[1] = wt[0] + gap * rng.standard_normal(wt[0].shape)
        A = ConvTranspose2d(scale * wt, 2, 1, 0, in_shape=(3, 4, 4))
        active = np.ones(A.n_out, dtype=bool)
        active[::7] = False
        S = A.to_sparse().toarray()[active]
        sv = np.linalg.svd(S, compute_uv=False)
        assert (sv[-1] >= 1e-5 * sv[0]) == expect  # the construction does what it says
        assert (lapack.dpotrf(S.T @ S, lower=1)[1] == 0) == chol_ok  # ... and reaches the branch it names
        assert gram_plan(A).full_rank(active) is expect, (gap, scale)


def _dense_net(rows_zero, last):
    from layerinv import ReLUNet

    rng = np.random.default_rng(5)
    W1 = rng.standard_normal((12, 3))
    W1[:rows_zero] = 0.0  # rows with pre-activation exactly 0 (no bias): inactive ReLU units
    return ReLUNet([W1, rng.standard_normal((8, 12))], activations=["relu", last])


@pytest.mark.parametrize("last", ["identity", "tanh"])
def test_every_row_of_an_activation_without_an_inactive_region_counts(last):
    G = _dense_net(2, last)
    (a0, _, _), (a1, p1, why1) = pinning.pinned_layers(G, np.array([0.3, -1.0, 0.7]))
    assert a1 == 8  # tanh / identity: every row is active, whatever the sign of its pre-activation
    assert a0 < 12  # ReLU: the two zero rows (u = 0 exactly) and the negative ones are not
    h = np.maximum(G.layers[0].affine(np.array([0.3, -1.0, 0.7])), 0)
    assert a0 == int(np.count_nonzero(h > 0))
    assert p1 is False and "active rows" in why1  # 8 rows cannot pin 12 inputs


def test_a_unit_at_exactly_zero_is_inactive():
    G = _dense_net(3, "identity")
    n_act = pinning.pinned_layers(G, np.zeros(3))[0][0]
    assert n_act == 0  # every pre-activation is exactly 0 at z = 0 (no biases)


def test_a_sparse_layer_above_rank_inputs_is_not_decided(monkeypatch):
    pytest.importorskip("torch")
    from conv_nets import expansive

    G = expansive(0)
    monkeypatch.setattr(pinning, "RANK_INPUTS", 10)
    out = pinning.pinned_layers(G, np.random.default_rng(0).standard_normal(G.k))
    big = [i for i, L in enumerate(G.layers) if L.n_in > 10 and not hasattr(L.linear, "matrix")]
    assert big
    for i in big:
        n_act, pinned, why = out[i]
        assert pinned is False and (("not checked" in why) or ("active rows <" in why)), why


def test_pinned_layers_use_the_plan_on_a_convolution(monkeypatch):
    pytest.importorskip("torch")
    from conv_nets import expansive

    G = expansive(1)
    seen = []
    orig = GramPlan.full_rank
    monkeypatch.setattr(GramPlan, "full_rank", lambda self, active: seen.append(1) or orig(self, active))
    rng = np.random.default_rng(1)
    for _ in range(3):
        pinning.pinned_layers(G, rng.standard_normal(G.k))
    assert seen, "the conv layers' rank must come from their Gram plans"


def test_bad_arguments_are_named():
    A = _map(CONFIGS[0], 0)
    plan = gram_plan(A)
    for bad in (np.ones(A.n_out - 1, dtype=bool), np.ones(A.n_out)):
        with pytest.raises(ValueError, match=r"active must be a boolean array of shape \(%d,\)" % A.n_out):
            plan.full_rank(bad)
    from layerinv import ReLUNet

    G = ReLUNet.random([3, 8, 16], rng=0)
    with pytest.raises(ValueError, match="z"):
        pinning.pinned_layers(G, np.ones(4))
    with pytest.raises(ValueError, match="z"):
        pinning.pinned_layers(G, np.array([1.0, np.nan, 0.0]))
