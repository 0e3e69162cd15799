"""Batches: the batched least-squares stage equals the single-image path, on any number of processes."""
import numpy as np
import pytest

from layerinv import ReLUNet, invert
from layerinv.lp.batched import lstsq_stage

Z_REL = 1e-10  # batched vs single-image z (the criterion); both are one Cholesky solve apart


def _mixed_batch(G, rng, n=24):
    """Planted images, tiny-noise images, a few off the range (negative entries, scaled rows)."""
    Z = rng.standard_normal((n, G.k))
    X = G(Z)
    X[::5] += 1e-9 * rng.standard_normal(X[::5].shape)
    X[3] = -np.abs(X[3]) - 0.1  # far outside the range of a ReLU
    X[7, : G.n // 3] *= 1.5  # not in the range, but a valid ReLU output
    return X


def _assert_same(G, X, method, batched, **opts):
    for i, x in enumerate(X):
        single = invert(G, x, method=method, **opts)
        assert batched.status[i] == single.status, (i, batched.message[i], single.message)
        assert batched.method[i] == single.method
        zb, zs = batched.z[i], np.asarray(single.z)
        assert np.array_equal(np.isnan(zb), np.isnan(zs))
        ok = ~np.isnan(zs)
        assert np.linalg.norm(zb[ok] - zs[ok]) <= Z_REL * max(np.linalg.norm(zs[ok]), 1e-300)


NETS = [([10, 100, 300], False), ([6, 14, 60], False), ([8, 40, 160], True)]  # middle: many first layers < k active


@pytest.mark.parametrize("dims,bias", NETS)
@pytest.mark.parametrize("seed", range(4))
def test_batched_exact_equals_single(dims, bias, seed):
    rng = np.random.default_rng(seed)
    G = ReLUNet.random(dims, rng=seed, bias=bias)
    X = _mixed_batch(G, rng)
    res = invert(G, X, method="exact", batch_size=10)
    _assert_same(G, X, "exact", res)
    stage = lstsq_stage(G, X, "exact")
    assert stage.done.any()
    assert not stage.done[3] and not stage.done[7]  # the off-range images dropped out to the single path


@pytest.mark.parametrize("method", ["linf", "auto"])
@pytest.mark.parametrize("seed", range(3))
def test_batched_linf_auto_equal_single(method, seed):
    rng = np.random.default_rng(100 + seed)
    G = ReLUNet.random([8, 40, 160], rng=seed)
    X = _mixed_batch(G, rng, n=12)
    res = invert(G, X, method=method)
    _assert_same(G, X, method, res)
    if method == "linf":
        assert lstsq_stage(G, X, "linf").done.any()  # the certified bracket ends layers under tiny noise


def test_stage_drops_out_where_the_single_path_needs_an_lp():
    G = ReLUNet.random([6, 14, 60], rng=0)
    Z = np.random.default_rng(0).standard_normal((40, G.k))
    X = G(Z)
    stage = lstsq_stage(G, X, "exact")
    res = invert(G, X, method="exact")
    paths = [tuple(r.path for r in layers) for layers in res.layers]
    for i in range(len(X)):
        assert stage.done[i] == all(p == "lstsq" for p in paths[i])
    assert 0 < stage.done.sum() < len(X)


def test_non_relu_nets_run_image_by_image():
    G = ReLUNet.random([5, 30, 90], rng=1, activation=("leaky_relu", 0.2), output_activation="identity")
    X = G(np.random.default_rng(1).standard_normal((6, 5)))
    assert not lstsq_stage(G, X, "exact").done.any()
    _assert_same(G, X, "exact", invert(G, X, method="exact"))


def test_torch_tensors_run_the_same_kernel():
    torch = pytest.importorskip("torch")
    G = ReLUNet.random([10, 100, 300], rng=3)
    X = _mixed_batch(G, np.random.default_rng(3), n=16)
    for mode in ("exact", "linf"):
        ref = lstsq_stage(G, X, mode)
        out = lstsq_stage(G, torch.from_numpy(X.copy()), mode)
        assert isinstance(out.z, torch.Tensor)
        assert np.array_equal(out.done, ref.done)
        d = ref.done
        zt, zn = out.z.numpy()[d], np.asarray(ref.z)[d]
        assert np.linalg.norm(zt - zn) <= Z_REL * np.linalg.norm(zn)
        np.testing.assert_allclose(out.residual[d], ref.residual[d], rtol=0, atol=1e-12)


def test_parallel_options_are_checked():
    G = ReLUNet.random([5, 20, 60], rng=0)
    X = G(np.ones((2, 5)))
    with pytest.raises(ValueError, match="n_jobs must be a positive integer or -1"):
        invert(G, X, n_jobs=0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        invert(G, X, batch_size=2.5)
    with pytest.raises(ValueError, match="n_jobs must be 1 with rng="):
        invert(G, X, method="gd", rng=0, n_jobs=2)


@pytest.mark.parametrize("method", ["exact", "auto"])
def test_n_jobs_gives_identical_results(method):
    G = ReLUNet.random([6, 14, 60], rng=2)
    rng = np.random.default_rng(2)
    X = G(rng.standard_normal((20, G.k)))
    X[4] += 0.05 * rng.standard_normal(G.n)  # one noisy image: auto's linf + polish
    one = invert(G, X, method=method, batch_size=6)
    two = invert(G, X, method=method, batch_size=6, n_jobs=2)
    assert one.status == two.status
    assert np.array_equal(one.z, two.z, equal_nan=True)
    assert np.array_equal(one.residual, two.residual, equal_nan=True)


def test_recover_and_compress_n_jobs_identical():
    from layerinv import recover
    from layerinv.compress import compress
    from layerinv.ops import Inpainting

    G = ReLUNet.random([6, 30, 90], rng=4)
    X = G(np.random.default_rng(4).standard_normal((8, G.k)))
    op = Inpainting(np.arange(G.n) % 3 != 0)
    Y = op(X)
    a = recover(G, op, Y, method="exact", batch_size=3)
    b = recover(G, op, Y, method="exact", batch_size=3, n_jobs=2)
    assert a.status == b.status and np.array_equal(a.z, b.z, equal_nan=True)
    c1 = compress(G, X, batch_size=3)
    c2 = compress(G, X, batch_size=3, n_jobs=2)
    assert np.array_equal(c1.z, c2.z) and np.array_equal(c1.psnr, c2.psnr)
    assert c1.z.shape == (8, G.k) and c1.info["status"] == ["exact"] * 8


def test_stage_records_match_the_single_path():
    """Each stage-built result carries the single path's per-layer records (shapes, active rows, path, status)."""
    G = ReLUNet.random([8, 40, 160], rng=5, bias=True)
    X = G(np.random.default_rng(5).standard_normal((30, G.k)))
    stage = lstsq_stage(G, X, "exact")
    assert stage.done.sum() >= 20
    for method in ("exact", "linf"):
        res = invert(G, X, method=method, batch_size=7)
        for i in np.flatnonzero(stage.done):
            single = invert(G, X[i], method=method)
            fields = [(r.index, r.n_in, r.n_out, r.active, r.path, r.status, r.unique) for r in res.layers[i]]
            assert fields == [(r.index, r.n_in, r.n_out, r.active, r.path, r.status, r.unique) for r in single.layers]
            assert all(type(r.active) is int and type(r.threshold) is float for r in res.layers[i])
            # the certified lower bound (LayerRecord.lower) is the single path's, never the primal value
            np.testing.assert_allclose([r.lower for r in res.layers[i]], [r.lower for r in single.layers],
                                       rtol=1e-9, atol=0)


def test_cached_layer_tables_never_go_stale():
    """The per-layer table cache is checked bitwise against the weights: a same-shaped net, or a net whose
    (read-only) weights were forcibly edited in place, gets its own table."""
    from layerinv.lp.batched import _half_products, _layer_consts

    G = ReLUNet.random([6, 30, 90], rng=6, bias=True)
    X = G(np.random.default_rng(6).standard_normal((12, G.k)))
    lstsq_stage(G, X, "exact")  # fills the cache
    H = ReLUNet.random([6, 30, 90], rng=7, bias=True)
    for net in (H, G):
        for L in net.layers:
            W, b, P, pos = _layer_consts(np, "cpu", L)
            assert np.array_equal(W, L.weight) and np.array_equal(b, L.bias)
            assert np.array_equal(P, _half_products(np, np.array(L.weight))[0])
    W = G.layers[1].linear.matrix
    W.setflags(write=True)  # an owner can do this; the cache must notice
    W[0, 1] += 1.0  # one entry, off the sample the cache key reads: only the bitwise check sees it
    W.setflags(write=False)
    _, _, P, _ = _layer_consts(np, "cpu", G.layers[1])
    assert np.array_equal(P, _half_products(np, np.array(W))[0])
    _assert_same(G, X, "exact", invert(G, X, method="exact"))


def test_gram_floor_measures_the_forward_check():
    from layerinv.lp.batched import gram_floor

    G = ReLUNet.random([6, 30, 90], rng=8, bias=True)
    Z = np.random.default_rng(8).standard_normal((25, G.k))
    X = G(Z)
    assert gram_floor(G, X, Z, batch_size=7) <= 1e-12
    X[11, 3] += 0.5
    assert gram_floor(G, X, Z, batch_size=7, chunk=3) == pytest.approx(0.5, abs=1e-12)


def test_cholesky_solves_agree_across_namespaces():
    torch = pytest.importorskip("torch")
    from array_api_compat import array_namespace

    from layerinv.lp.batched import _cho_solve

    rng = np.random.default_rng(9)
    M = rng.standard_normal((5, 40, 12))
    A = np.einsum("bij,bik->bjk", M, M)
    v = rng.standard_normal((5, 12))
    L = np.linalg.cholesky(A)
    ref = np.linalg.solve(A, v[..., None])[..., 0]
    Lt, vt = torch.from_numpy(L), torch.from_numpy(v)
    for h in (_cho_solve(np, L, v), _cho_solve(array_namespace(vt), Lt, vt).numpy()):
        assert np.linalg.norm(h - ref) <= 1e-12 * np.linalg.norm(ref)
