"""Every method on convolutional nets (issue 12 item 3): planted z* on small MNIST-style conv decoders
(from_torch of Linear -> Unflatten -> ConvTranspose2d -> ReLU -> ConvTranspose2d -> ReLU), which
layers the layer-wise path pinned, auto's route in latent space when it cannot pin every layer,
gd through torch's convolutions, milp on small latents, recover with every operator, compress,
certificates and fit_lower_bound; the DCGAN-size generator under -m slow."""
import hashlib
import time

import numpy as np
import pytest

from conv_nets import conv_decoder, expansive, planted, rel, shrinking
from conftest import SEEDS, TOL
from layerinv import ReLUNet, invert, recover
from layerinv import linear_maps as lm
from layerinv.certificate import fit_lower_bound
from layerinv.compress import compress, decompress, fingerprint
from layerinv.ops import GaussianCS, Inpainting, LinearOperator, PhaseRetrieval
from layerinv.solvers.gauss_newton import jacobian, region_maps
from layerinv.solvers.regions import layerwise_can_pin

torch = pytest.importorskip("torch")
nn = torch.nn


def dense_copy(G):
    return ReLUNet([L.weight for L in G.layers], [L.bias for L in G.layers], [L.activation.spec() for L in G.layers])


# ---------------------------------------------------------------------- shapes and the maths
def test_the_nets_are_convolutional():
    G, H = expansive(0), shrinking(0)
    assert G.dims == [3, 18, 72, 288] and H.dims == [6, 128, 512, 256]
    assert [type(L.linear) for L in H.layers] == [lm.Dense, lm.ConvTranspose2d, lm.ConvTranspose2d]
    assert layerwise_can_pin(G) and not layerwise_can_pin(H)


@pytest.mark.parametrize("seed", SEEDS)
def test_jacobian_and_region_maps_by_products_match_the_dense_net(seed):
    G = shrinking(seed)
    D = dense_copy(G)
    z = np.random.default_rng(seed).standard_normal(G.k)
    (x, J), (xd, Jd) = jacobian(G, z), jacobian(D, z)
    assert np.allclose(x, xd, rtol=0, atol=1e-12) and np.allclose(J, Jd, rtol=0, atol=1e-12)
    for (A, c, u), (Ad, cd, ud) in zip(region_maps(G.layers, z), region_maps(D.layers, z)):
        assert np.allclose(A, Ad, atol=1e-12) and np.allclose(c, cd, atol=1e-12) and np.allclose(u, ud, atol=1e-12)


# ---------------------------------------------------------------------- layer-wise methods
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("method", ["exact", "linf", "l1"])
def test_layerwise_methods_pin_an_expansive_conv_net(seed, method):
    G = expansive(seed)
    z, x = planted(G, seed)
    res = invert(G, x, method=method)
    assert res.status == ("exact" if method == "exact" else "optimal"), res.message
    assert res.residual < TOL["residual_exact"]
    assert rel(res.z, z) < TOL["z_exact"]
    assert res.info["pinned"] == [2, 1, 0] and res.info["unpinned"] == []
    assert all(r.unique for r in res.layers)


@pytest.mark.parametrize("seed", SEEDS)
def test_layerwise_reports_the_layers_it_could_not_pin(seed):
    G = shrinking(seed)
    z, x = planted(G, seed)
    res = invert(G, x, method="exact", time_limit=60)
    assert 2 in res.info["unpinned"]  # 256 outputs cannot pin 512 inputs
    assert not [r for r in res.layers if r.index == 2][0].unique
    assert "not pinned" in res.message
    assert res.status in ("exact", "inconclusive")  # never infeasible: x is in the range
    if res.status == "exact":
        assert res.residual < TOL["residual_exact"]


@pytest.mark.slow  # ~30-75 s: a real 4096 x 4096 layer; tests/test_sparse_lp.py covers the sparse path with a lowered limit
def test_layers_above_the_dense_limit_are_solved_sparse_never_a_false_verdict():
    rng = np.random.default_rng(0)
    big = lm.ConvTranspose2d(rng.standard_normal((1, 1, 3, 3)), 1, 1, in_shape=(1, 64, 64))  # 4096 x 4096
    assert big.n_out * big.n_in > lm.DENSE_LIMIT
    G = ReLUNet([rng.standard_normal((4096, 4)), big], None, ["relu", "relu"])
    x = G(rng.standard_normal(G.k))
    for method in ("exact", "l1"):  # the big layer's LP on sparse rows (lp/sparse.py); it does not pin its input
        res = invert(G, x, method=method, time_limit=60)
        assert res.status != "infeasible" and 1 in res.info["unpinned"], res.message
        assert res.status not in ("exact", "optimal") or res.residual < 1e-8
    with pytest.raises(ValueError, match="DENSE_LIMIT"):
        invert(G, x, method="milp")
    res = invert(G, x, method="auto")  # the route in latent space needs products only
    assert res.status == "exact" and res.residual < 1e-10


# ---------------------------------------------------------------------- auto
@pytest.mark.parametrize("seed", range(6))
def test_auto_reproduces_x_on_a_conv_net_it_cannot_pin_layer_by_layer(seed):
    G = shrinking(seed)
    z, x = planted(G, seed)
    res = invert(G, x, method="auto")
    assert res.status == "exact" and res.method == "auto:gn", res.message
    assert res.residual < 1e-10
    assert np.max(np.abs(G(res.z) - x)) <= 1e-6 * np.max(np.abs(x))
    assert sorted(res.info["pinned"] + res.info["unpinned"]) == [0, 1, 2]
    assert 2 in res.info["unpinned"]
    assert "Gauss-Newton" in res.message and "not pinned" in res.message
    assert [r.index for r in res.layers] == [2, 1, 0]
    assert {r.index for r in res.layers if r.unique} == set(res.info["pinned"])
    assert res.seconds > 0


def test_auto_route_keeps_to_its_time_limit():
    G = shrinking(0)
    _, x = planted(G, 0)
    x = x + 0.05 * np.max(x) * np.random.default_rng(0).standard_normal(x.size)  # no start can fit it exactly
    res = invert(G, x, method="auto", time_limit=1e-3, starts=50)
    assert len(res.info["runs"]) == 1 and res.info["runs"][0]["iterations"] <= 5  # one chunk of one start
    assert res.status in ("exact", "converged") and res.ok


def test_auto_on_an_expansive_conv_net_takes_the_layer_wise_path():
    G = expansive(0)
    z, x = planted(G, 0)
    res = invert(G, x, method="auto")
    assert res.status == "exact" and res.method == "exact"
    assert rel(res.z, z) < TOL["z_exact"]


@pytest.mark.parametrize("seed", SEEDS)
def test_auto_off_the_range_is_converged_with_a_sound_certified_bound(seed):
    G = shrinking(seed)
    _, x = planted(G, seed)
    x = x + 0.05 * np.max(x) * np.random.default_rng(seed).standard_normal(x.size)
    res = invert(G, x, method="auto")
    assert res.status == "converged" and res.ok and res.method == "auto:gn+map"
    fb = res.info["fit_lower_bound"]
    achieved = float(np.max(np.abs(G(res.z) - x)))
    assert 0.0 <= fb.bound <= achieved  # a lower bound never exceeds a fit that was reached
    assert "certifies" in res.message


# ---------------------------------------------------------------------- gd, milp
def test_gd_runs_torch_convolutions():
    from layerinv.solvers.gd import torch_forward, torch_layers

    G = shrinking(0)
    z = np.random.default_rng(0).standard_normal((3, G.k))
    out = torch_forward(torch_layers(G, torch, torch.float64), torch.tensor(z), torch).numpy()
    assert np.max(np.abs(out - G(z))) <= 1e-12
    zs, x = planted(G, 0)
    res = invert(G, x, method="gd", rng=7, steps=300, restarts=2)
    start = float(np.linalg.norm(G(np.random.default_rng(7).standard_normal((2, G.k))) - x, axis=1).min())
    assert res.ok and np.isfinite(res.residual)
    assert res.residual * np.linalg.norm(x) < start


def test_gd_torch_maps_of_every_kind():
    from layerinv.solvers.gd import torch_forward, torch_layers

    rng = np.random.default_rng(0)
    conv = lm.Conv2d(rng.standard_normal((3, 2, 3, 3)), 1, 1, (2, 4, 4))
    up = lm.Upsample.nearest((3, 4, 4), 2)
    diag = lm.Diagonal(rng.uniform(0.5, 2, up.n_out), up.out_shape)
    sparse = lm.Sparse(lm.compose(diag, up).to_sparse() * 1.0)
    G = ReLUNet([rng.standard_normal((32, 3)), conv, sparse, diag, up.__class__.nearest((3, 8, 8), 1)],
                None, ["relu", "relu", "relu", ("leaky_relu", 0.1), "identity"])
    z = rng.standard_normal((2, 3))
    out = torch_forward(torch_layers(G, torch, torch.float64), torch.tensor(z), torch).numpy()
    assert np.max(np.abs(out - G(z))) <= 1e-12


def test_milp_on_a_small_conv_net():
    G = conv_decoder(0, 2, 2, 2, 2)  # [2, 8, 32, 64]
    z, x = planted(G, 0)
    res = invert(G, x, method="milp", time_limit=60)
    assert res.status == "exact" and res.residual < TOL["residual_exact"], res.message


# ---------------------------------------------------------------------- recover, every operator
@pytest.mark.parametrize("seed", SEEDS)
def test_recover_auto_with_every_operator_on_a_conv_net(seed):
    G = shrinking(seed)
    z, x = planted(G, seed)
    rng = np.random.default_rng(seed)
    mask = np.zeros(G.n, dtype=bool)
    mask[rng.choice(G.n, G.n // 2, replace=False)] = True
    ops = [GaussianCS(64, G.n, rng), Inpainting(mask), LinearOperator(rng.standard_normal((48, G.n)) / 7)]
    for op in ops:
        res = recover(G, op, op(x), method="auto")
        assert res.ok and res.residual < 1e-8, (type(op).__name__, res.message)
        assert rel(G(res.z), x) < 1e-6
    with pytest.raises(ValueError, match="cannot pin every layer"):
        recover(G, ops[0], ops[0](x), method="pgd")
    for method, kw in (("gn", {}), ("gd", {"rng": 1, "steps": 50})):
        res = recover(G, ops[0], ops[0](x), method=method, **kw)
        assert res.ok and np.isfinite(res.residual), (method, res.message)
    op = PhaseRetrieval(4 * G.n, G.n, rng)
    res = recover(G, op, op(x), method="auto")
    assert res.ok and np.isfinite(res.residual)


# ---------------------------------------------------------------------- compress, certificates
def test_fingerprint_of_dense_nets_is_unchanged_and_conv_nets_hash_their_maps():
    D = ReLUNet.random([3, 7, 11], rng=0, bias=True)
    h = hashlib.sha256()
    h.update(repr(D.dims).encode())
    for L in D.layers:  # the formula before conv layers existed
        h.update(repr(L.activation.spec()).encode())
        h.update(np.ascontiguousarray(L.weight, dtype="<f8").tobytes())
        h.update(np.ascontiguousarray(L.bias, dtype="<f8").tobytes())
    assert fingerprint(D) == h.hexdigest()
    G, G2 = shrinking(0), shrinking(1)
    assert fingerprint(G) == fingerprint(shrinking(0)) != fingerprint(G2)
    assert fingerprint(G) != fingerprint(dense_copy(G))


def test_compress_a_conv_net():
    G = shrinking(0)
    _, x = planted(G, 0)
    code = compress(G, x, dtype="float64")
    assert code.info["status"] == "exact" and code.t_lower == 0.0
    assert rel(decompress(G, code), x) < 1e-10
    noisy = x + 0.05 * np.max(x) * np.random.default_rng(0).standard_normal(x.size)
    code = compress(G, noisy, dtype="float64")
    assert code.t_lower >= 0 and code.t_lower <= np.max(np.abs(decompress(G, code) - noisy))
    assert "certificate" in code.summary()


@pytest.mark.parametrize("seed", SEEDS)
def test_fit_lower_bound_and_infeasibility_certificates_on_conv_nets(seed):
    G = expansive(seed)
    _, x = planted(G, seed)
    assert fit_lower_bound(G, x).bound <= 1e-9 * np.max(x)  # x is in the range: nothing to certify
    bad = x.copy()
    bad[np.argmax(x)] = -np.max(x)  # a ReLU output is never negative
    res = invert(G, bad, method="exact")
    assert res.status == "infeasible" and res.certificate is not None
    assert res.certificate.check(G, bad)
    fb = fit_lower_bound(G, bad)
    assert fb.bound > 0
    best = invert(G, bad, method="auto")
    assert fb.bound <= np.max(np.abs(G(best.z) - bad)) + 1e-12


# ---------------------------------------------------------------------- DCGAN size
@pytest.mark.slow
def test_dcgan_size_generator_forward_and_auto():
    import tracemalloc

    from test_conv import DCGANGenerator, torch_forward

    torch.manual_seed(0)
    gen = DCGANGenerator().double().eval()
    with torch.no_grad():
        for m in gen.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.kaiming_normal_(m.weight)
    G = ReLUNet.from_torch(gen)
    assert G.dims == [100, 8192, 16384, 32768, 65536, 12288] and not layerwise_can_pin(G)
    for seed in range(2):
        z = np.random.default_rng(seed).standard_normal(100)
        x = G(z)
        assert np.max(np.abs(x - torch_forward(gen, z[None], (100, 1, 1))[0])) <= 1e-10
        tracemalloc.start()
        t0 = time.perf_counter()
        res = invert(G, x, method="auto", time_limit=900)
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert res.status == "exact" and res.residual < 1e-6, res.message
        assert peak < 2**30  # never a dense n_out x n_in matrix (layer 3 alone would be 17 GB)
        print(f"DCGAN seed {seed}: {seconds:.1f} s, peak {peak / 2**20:.0f} MiB, residual {res.residual:.2e}, "
              f"pinned {res.info['pinned']}")


# ---------------------------------------------------------------------- auto's batched route (regions.py)
@pytest.mark.parametrize("seed", range(3))
def test_batched_jacobians_match_one_start_at_a_time(seed, monkeypatch):
    from layerinv.solvers import regions

    G = shrinking(seed)
    Z = np.random.default_rng(seed).standard_normal((5, G.k))
    for budget in (regions.BATCH_ENTRIES, 3 * G.k * max(L.n_out for L in G.layers)):  # one pass; 3 starts a pass
        monkeypatch.setattr(regions, "BATCH_ENTRIES", budget)
        F, J = regions.jacobians(G, Z)
        assert F.shape == (5, G.n) and J.shape == (5, G.n, G.k)
        for i, z in enumerate(Z):
            Fi, Ji = jacobian(G, z)
            assert np.allclose(F[i], Fi, rtol=0, atol=1e-12) and np.allclose(J[i], Ji, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_descend_in_lockstep_takes_the_steps_of_one_by_one_gauss_newton(seed):
    from layerinv.solvers.gauss_newton import gauss_newton
    from layerinv.solvers.regions import descend

    G = shrinking(seed)
    rng = np.random.default_rng(seed)
    x = G(rng.standard_normal(G.k)) + 0.05 * rng.standard_normal(G.n)  # off the range: every start runs on
    Z0 = rng.standard_normal((4, G.k))
    Z, f, its = descend(G, x, Z0, lam=0.01, steps=8, rtol=0.0)
    for i, z0 in enumerate(Z0):
        z1, f1, it1 = gauss_newton(G, x, z0, lam=0.01, steps=8, rtol=0.0, halvings=30, shift="fit")
        # the same steps; a last step that changes f by a rounding error may be taken by one and not the other
        assert abs(its[i] - it1) <= 1 and np.isclose(f[i], f1, rtol=1e-9), (i, its[i], it1, f[i], f1)
        assert rel(Z[i], z1) < 1e-6
    r = G.forward(Z) - x
    assert np.allclose(f, np.sum(r * r, axis=1) + 0.01 * np.sum(Z * Z, axis=1), rtol=1e-12)


def test_descend_never_raises_the_objective_and_stops_on_an_exact_fit():
    from layerinv.solvers.regions import _fits, descend

    G = shrinking(1)
    z, x = planted(G, 1)
    Z0 = np.vstack([z + 1e-3, np.random.default_rng(0).standard_normal((3, G.k))])
    Z, f, its = descend(G, x, Z0)
    assert np.all(f <= _fits(G, x, Z0, 0.0))
    assert f[0] <= 1e-20 * float(x @ x)  # next to z*: one Gauss-Newton step fits x, and that ends every start
    assert its.max() <= its[0] + 1


def test_auto_route_with_polish_false_skips_the_map_refinement():
    from layerinv.solvers.regions import invert_regions

    G = shrinking(2)
    _, x = planted(G, 2)
    x = x + 0.05 * np.max(x) * np.random.default_rng(2).standard_normal(x.size)
    on = invert_regions(G, x, tol=1e-6, time_limit=None, lam="auto", starts=4)
    off = invert_regions(G, x, tol=1e-6, time_limit=None, lam="auto", starts=4, polish=False)
    assert on.method == "gn+map" and off.method == "gn" and off.status == on.status == "converged"
    assert "polish=False" in off.message and "MAP refinement (lam" in on.message
    fit = lambda z: float(np.sum((G(z) - x) ** 2))  # noqa: E731
    assert fit(off.z) <= fit(on.z) + 1e-12  # the MAP term trades fit for a smaller z
    assert np.linalg.norm(on.z) <= np.linalg.norm(off.z) + 1e-12


def test_invert_auto_polish_false_reaches_the_conv_route():
    """``invert(method="auto", polish=False)`` on a conv net that the layer-wise path cannot pin: the
    regions route runs without its MAP refinement (method ``auto:gn``), as the option promises."""
    G = shrinking(2)
    _, x = planted(G, 2)
    x = x + 0.05 * np.max(x) * np.random.default_rng(2).standard_normal(x.size)
    on = invert(G, x, method="auto", starts=4)
    off = invert(G, x, method="auto", starts=4, polish=False)
    assert on.method == "auto:gn+map" and off.method == "auto:gn", (on.method, off.method)
    assert "polish=False" in off.message
