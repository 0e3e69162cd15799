"""ReLUNet: construction, forward pass, torch conversion, files."""
import numpy as np
import pytest

from layerinv import ReLUNet

from conftest import TOL

torch = pytest.importorskip("torch")
nn = torch.nn


def test_random_shapes_and_scale(seed):
    G = ReLUNet.random([10, 250, 600], rng=seed)
    assert G.dims == [10, 250, 600] and G.k == 10 and G.n == 600 and G.depth == 2
    W = G.layers[1].weight
    assert abs(W.var() * 600 - 1) < 0.05  # N(0, 1/n_out)
    assert not G.has_bias
    assert ReLUNet.random([3, 5], rng=seed, bias=True).has_bias


def test_random_is_reproducible_and_rng_explicit():
    a = ReLUNet.random([4, 8, 9], rng=3)
    b = ReLUNet.random([4, 8, 9], rng=np.random.default_rng(3))
    assert all(np.array_equal(x.weight, y.weight) for x, y in zip(a.layers, b.layers))
    with pytest.raises(TypeError, match="rng"):
        ReLUNet.random([4, 8], rng=None)


def test_forward_matches_manual(seed):
    rng = np.random.default_rng(seed)
    G = ReLUNet.random([5, 20, 30], rng, bias=True, output_activation="sigmoid")
    z = rng.standard_normal((4, 5))
    W0, b0 = G.layers[0].weight, G.layers[0].bias
    W1, b1 = G.layers[1].weight, G.layers[1].bias
    h = np.maximum(z @ W0.T + b0, 0)
    x = 1 / (1 + np.exp(-(h @ W1.T + b1)))
    np.testing.assert_allclose(G(z), x, rtol=1e-13)
    np.testing.assert_allclose(G(z[0]), x[0], rtol=1e-13)
    outs = G.forward(z, all_layers=True)
    assert [o.shape for o in outs] == [(4, 5), (4, 20), (4, 30)]


@pytest.mark.parametrize("act", ["relu", ("leaky_relu", 0.2)])
@pytest.mark.parametrize("last", [None, nn.Sigmoid, nn.Tanh])
def test_from_torch_matches_torch(seed, act, last):
    g = torch.Generator().manual_seed(seed)
    a = nn.ReLU() if act == "relu" else nn.LeakyReLU(act[1])
    bn = nn.BatchNorm1d(40)
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(40, generator=g))
        bn.running_var.copy_(torch.rand(40, generator=g) + 0.5)
        bn.weight.copy_(torch.randn(40, generator=g))
        bn.bias.copy_(torch.randn(40, generator=g))
    layers = [nn.Linear(6, 40), bn, a, nn.Sequential(nn.Linear(40, 50), nn.Identity()), nn.Dropout(0.3)]
    if last is not None:
        layers.append(last())
    model = nn.Sequential(*layers).double().eval()
    G = ReLUNet.from_torch(model)
    assert G.dims == [6, 40, 50]
    z = torch.randn(7, 6, generator=g, dtype=torch.float64)
    with torch.no_grad():
        want = model(z).numpy()
    np.testing.assert_allclose(G(z.numpy()), want, rtol=TOL["forward"], atol=TOL["forward"])


def test_from_torch_refuses_unsupported_layers():
    # more cases (residual, concat, dilation, groups, ...) in test_conv.py
    with pytest.raises(ValueError, match=r"module '1' \(Conv1d\) is not supported"):
        ReLUNet.from_torch(nn.Sequential(nn.Linear(3, 4), nn.Conv1d(1, 1, 1)))
    with pytest.raises(ValueError, match="training mode"):
        ReLUNet.from_torch(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU()))
    with pytest.raises(TypeError, match="torch.nn.Module"):
        ReLUNet.from_torch([nn.Linear(3, 4)])
    with pytest.raises(ValueError, match="hidden layer 0"):
        ReLUNet.from_torch(nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, 5), nn.ReLU()))
    with pytest.raises(ValueError, match="must follow an affine layer"):
        ReLUNet.from_torch(nn.Sequential(nn.ReLU(), nn.Linear(4, 5)))


def test_save_load_round_trip_exact(tmp_path, seed):
    G = ReLUNet.random([3, 7, 11], rng=seed, bias=True, activation=("leaky_relu", 0.1), output_activation="tanh")
    path = tmp_path / "g.npz"
    G.save(path)
    H = ReLUNet.load(path)
    assert H.dims == G.dims
    for a, b in zip(G.layers, H.layers):
        assert np.array_equal(a.weight, b.weight) and np.array_equal(a.bias, b.bias)
        assert a.activation == b.activation


def test_load_rejects_corrupt_and_foreign_files(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="bad.npz"):
        ReLUNet.load(bad)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, W1=np.ones((3, 2)))
    with pytest.raises(ValueError, match="format"):
        ReLUNet.load(foreign)
    G = ReLUNet.random([2, 3], rng=0)
    G.save(tmp_path / "g.npz")
    with np.load(tmp_path / "g.npz") as f:
        data = {k: f[k] for k in f.files if k != "W0"}
    np.savez(tmp_path / "partial.npz", **data)
    with pytest.raises(ValueError, match="'W0' is missing"):
        ReLUNet.load(tmp_path / "partial.npz")
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, format=np.array("layerinv.ReLUNet"), n_layers=np.array(1),
             W0=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="pickled.npz"):
        ReLUNet.load(pickled)
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        ReLUNet.load(tmp_path / "nope.npz")


@pytest.mark.parametrize("kwargs, match", [
    (dict(weights=[np.ones((3, 2)), np.ones((4, 4))]), r"weights\[1\] must have 3 columns"),
    (dict(weights=[np.ones((3, 2))], biases=[np.ones(2)]), r"biases\[0\] must have shape \(3\)"),
    (dict(weights=[np.ones((3, 2))], activations=["sigmoid", "relu"]), "one entry per layer"),
    (dict(weights=[np.ones((3, 2)), np.ones((2, 3))], activations=["tanh", "relu"]), "last layer only"),
    (dict(weights=[np.ones((3, 2))], activations=[("leaky_relu", 2.0)]), "slope"),
    (dict(weights=[np.ones((3, 2))], activations=["softplus"]), "activations"),
    (dict(weights=[np.array([[np.nan, 1.0]])]), "finite"),
    (dict(weights=[np.array([["a", "b"]])]), "real numbers"),
    (dict(weights=np.ones((3, 2))), "list of 2-D arrays"),
])
def test_constructor_validation(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ReLUNet(**kwargs)


def test_forward_validation():
    G = ReLUNet.random([4, 6], rng=0)
    with pytest.raises(ValueError, match=r"z must have shape \(4,\) or \(batch, 4\).*got \(5,\)"):
        G(np.ones(5))
    with pytest.raises(ValueError, match="finite"):
        G(np.array([1.0, np.inf, 0, 0]))
    with pytest.raises(ValueError, match=r"dims\[1\]"):
        ReLUNet.random([4, 0], rng=0)
