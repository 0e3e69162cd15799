"""auto's conv route (layerinv/solvers/regions.py): Jacobians updated from the last ones (``Tangents``),
pre-activations carried over from the line search, cache-sized passes -- the same numbers as the plain
computation."""
import numpy as np
import pytest

pytest.importorskip("torch")

from conv_nets import conv_decoder, planted, shrinking  # noqa: E402

from layerinv.solvers import regions  # noqa: E402


def _path(G, seed, n=12):
    """Points along a random walk: big moves first (many units switch), then small ones (few switch)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((3, G.k))
    out = []
    for t in range(n):
        z = z + (0.5 if t < 3 else 1e-3) * rng.standard_normal(z.shape)
        out.append(z.copy())
    return out


@pytest.mark.parametrize("seed", range(3))
def test_tangents_match_the_full_jacobians_along_a_path(seed, monkeypatch):
    G = shrinking(seed)
    calls = []
    rmul = regions._rmul
    monkeypatch.setattr(regions, "_rmul", lambda *a: calls.append(1) or rmul(*a))
    memo = regions.Tangents(G)
    for t, Z in enumerate(_path(G, seed)):
        idx = np.array([0, 1, 2]) if t % 2 == 0 else np.array([2, 0])  # starts come and go, in any order
        F1, J1 = regions.jacobians(G, Z[idx], memo, idx)
        F0, J0 = regions.jacobians(G, Z[idx])
        assert np.array_equal(F1, F0)
        assert np.max(np.abs(J1 - J0)) <= 1e-12 * np.max(np.abs(J0)), t
    assert calls, "the small moves must take the incremental update"


def test_tangents_with_a_smooth_output_and_chunked_passes(monkeypatch):
    from torch import nn

    G = conv_decoder(4, 5, 4, 3, 4, last=nn.Tanh())  # tanh: every derivative changes, every update is full
    monkeypatch.setattr(regions, "PASS_ENTRIES", 2 * G.k * max(L.n_out for L in G.layers))  # 2 starts a pass
    memo = regions.Tangents(G)
    for Z in _path(G, 4, n=6):
        idx = np.arange(3)
        F1, J1 = regions.jacobians(G, Z, memo, idx)
        F0, J0 = regions.jacobians(G, Z)
        assert np.allclose(F1, F0, rtol=0, atol=1e-12)
        assert np.max(np.abs(J1 - J0)) <= 1e-12 * np.max(np.abs(J0))


@pytest.mark.parametrize("seed", range(2))
def test_descend_takes_the_same_steps_with_and_without_the_memo(seed, monkeypatch):
    G = shrinking(seed)
    rng = np.random.default_rng(seed)
    x = G(rng.standard_normal(G.k)) + 0.05 * rng.standard_normal(G.n)
    Z0 = rng.standard_normal((3, G.k))
    Z1, f1, its1 = regions.descend(G, x, Z0, lam=0.01, steps=10, rtol=0.0)
    monkeypatch.setattr(regions, "Tangents", lambda G: None)
    Z0_, f0, its0 = regions.descend(G, x, Z0, lam=0.01, steps=10, rtol=0.0)
    assert np.all(np.abs(its1 - its0) <= 1)
    assert np.allclose(f1, f0, rtol=1e-9) and np.allclose(Z1, Z0_, rtol=0, atol=1e-6 * np.abs(Z0_).max())
    r = G.forward(Z1) - x
    assert np.allclose(f1, np.sum(r * r, axis=1) + 0.01 * np.sum(Z1 * Z1, axis=1), rtol=1e-12)


def test_fits_keep_returns_each_layers_pre_activations():
    G = shrinking(1)
    z, x = planted(G, 1)
    Z = np.random.default_rng(1).standard_normal((4, G.k))
    f, pre = regions._fits(G, x, Z, 0.5, keep=True)
    assert np.allclose(f, regions._fits(G, x, Z, 0.5), rtol=1e-14)
    H = Z
    for L, U in zip(G.layers, pre):
        assert np.allclose(U, L.affine(H), rtol=0, atol=1e-12)
        H = L.activation(L.affine(H))


def test_the_route_still_fits_x_in_the_range_exactly_and_is_deterministic():
    G = shrinking(2)
    _, x = planted(G, 2)
    a = regions.invert_regions(G, x, tol=1e-6, time_limit=None, lam="auto", starts=8)
    b = regions.invert_regions(G, x, tol=1e-6, time_limit=None, lam="auto", starts=8)
    assert a.status == "exact" and np.max(np.abs(G(a.z) - x)) <= 1e-6 * np.max(np.abs(x))
    assert np.array_equal(a.z, b.z)
