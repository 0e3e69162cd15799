"""ReLUNet's contract in detail (no torch needed): shapes and laws of random nets, defaults, argument
checks that name the argument, read-only copies, subclass round trips. Written to kill the mutants
of layerinv/network.py that the rest of the suite let survive (docs/testing.md)."""
import numpy as np
import pytest

from layerinv import ReLUNet


def test_random_weights_and_biases_follow_n0_1_over_n_out():
    """Weights and biases i.i.d. N(0, 1/n_out): mean 0 and variance 1/n_out per layer."""
    G = ReLUNet.random([200, 400, 100], rng=0, bias=True)
    for L in G.layers:
        n_out = L.n_out
        W, b = np.asarray(L.weight), np.asarray(L.bias)
        assert abs(W.mean()) < 5 / np.sqrt(W.size * n_out)  # 5 standard errors
        assert abs(W.var() * n_out - 1) < 0.05
        assert abs(b.mean()) < 5 / n_out
        assert abs(b.var() * n_out - 1) < 0.35  # 100-400 draws: the sample variance is within ~30%
    assert np.all([np.all(L.bias == 0) for L in ReLUNet.random([3, 4, 5], rng=0).layers])


def test_random_output_activation_sits_on_the_last_layer_only():
    G = ReLUNet.random([2, 3, 4, 5], rng=0, activation=("leaky_relu", 0.2), output_activation="sigmoid")
    names = [L.activation.name for L in G.layers]
    assert names == ["leaky_relu", "leaky_relu", "sigmoid"]
    assert G.layers[0].activation.slope == 0.2


def test_random_accepts_size_one_and_refuses_bad_dims():
    G = ReLUNet.random([1, 1], rng=0)
    assert G.dims == [1, 1]
    for dims in ("ab", 5, [3], [3, 0], [3, True], [3, 2.0]):
        with pytest.raises(ValueError, match="dims"):
            ReLUNet.random(dims, rng=0)


def test_constructor_defaults_and_shapes():
    G = ReLUNet([np.ones((3, 2)), np.ones((4, 3))])
    assert G.dims == [2, 3, 4] and [L.bias.shape for L in G.layers] == [(3,), (4,)]
    assert [L.activation.name for L in G.layers] == ["relu", "relu"]
    assert ReLUNet([np.ones((5, 1))]).k == 1  # a single latent is a valid size
    assert ReLUNet([np.ones((1, 4))]).n == 1
    with pytest.raises(TypeError, match="weights"):
        ReLUNet([])
    with pytest.raises(ValueError, match=r"weights\[0\]"):
        ReLUNet([np.ones(3)])  # not 2-D
    with pytest.raises(ValueError, match=r"weights\[1\]"):
        ReLUNet([np.ones((3, 2)), np.ones((4, 3, 1))])
    with pytest.raises(ValueError, match=r"weights\[0\]"):
        ReLUNet([np.ones((0, 2))])


def test_weights_are_read_only_copies():
    W = np.ones((3, 2))
    b = np.zeros(3)
    G = ReLUNet([W], [b])
    W[0, 0] = 5.0  # the caller's arrays stay theirs
    b[0] = 1.0
    assert G.layers[0].weight[0, 0] == 1.0 and G.layers[0].bias[0] == 0.0
    with pytest.raises(ValueError):
        G.layers[0].weight[0, 0] = 2.0
    with pytest.raises(ValueError):
        G.layers[0].bias[0] = 2.0
    assert not ReLUNet([W]).layers[0].bias.flags.writeable


def test_repr_names_dims_activations_and_bias():
    G = ReLUNet.random([2, 3], rng=0, bias=True, activation="tanh")
    assert repr(G) == "ReLUNet(dims=[2, 3], activations=['tanh'], bias=True)"
    H = ReLUNet.random([2, 3, 4], rng=0, activation=("leaky_relu", 0.1))
    assert repr(H) == "ReLUNet(dims=[2, 3, 4], activations=[('leaky_relu', 0.1), ('leaky_relu', 0.1)], bias=False)"


def test_forward_unchecked_returns_the_output_unless_asked_for_all_layers():
    G = ReLUNet.random([2, 3, 4], rng=0)
    z = np.array([0.5, -1.0])
    out = G.forward_unchecked(z)
    assert isinstance(out, np.ndarray) and out.shape == (4,)
    np.testing.assert_array_equal(out, G(z))
    every = G.forward_unchecked(z, all_layers=True)
    assert len(every) == 3 and np.array_equal(every[-1], out) and np.array_equal(every[0], z)


def test_check_latent_and_output_name_the_argument_and_the_size():
    G = ReLUNet.random([2, 3], rng=0)
    assert G.check_output(np.ones(3)).dtype == np.float64
    assert G.check_output(np.ones((4, 3)), name="y").shape == (4, 3)
    with pytest.raises(ValueError, match=r"^x must have shape \(3,\) or \(batch, 3\) to match G's output"):
        G.check_output(np.ones(4))
    with pytest.raises(ValueError, match=r"^y must have shape .* G's output"):
        G.check_output(np.ones((2, 4)), name="y")
    with pytest.raises(ValueError, match=r"^z must have shape \(2,\) or \(batch, 2\) to match G's latent size"):
        G.check_latent(np.ones(3))
    for bad in (np.ones((1, 1, 2)), np.float64(1.0)):  # rank 3 and rank 0 are refused, naming the argument
        with pytest.raises(ValueError, match="^w"):
            G.check_latent(bad, name="w")
        with pytest.raises(ValueError, match="^x"):
            G.check_output(bad)


class _MyNet(ReLUNet):
    pass


def test_load_returns_the_class_it_is_called_on(tmp_path):
    G = _MyNet.random([2, 3], rng=0)
    assert type(G) is _MyNet
    G.save(tmp_path / "g.npz")
    H = _MyNet.load(tmp_path / "g.npz")
    assert type(H) is _MyNet and repr(H) == repr(G)
    assert type(ReLUNet.load(tmp_path / "g.npz")) is ReLUNet


def test_layer_from_a_plain_array_rows_and_select():
    from layerinv.activations import Activation
    from layerinv.network import Layer

    relu = Activation.parse("relu", "activation", last=True)
    W = np.arange(6.0).reshape(3, 2)
    L = Layer(W, np.array([1.0, 0.0, -1.0]), relu)  # a dense array is wrapped as the layer's map
    assert (L.n_in, L.n_out) == (2, 3)
    np.testing.assert_array_equal(L.affine(np.array([1.0, 1.0])), W @ [1.0, 1.0] + [1.0, 0.0, -1.0])
    Wr, br = L.rows(np.array([0, 2]))
    np.testing.assert_array_equal(np.asarray(Wr.to_dense() if hasattr(Wr, "to_dense") else Wr), W[[0, 2]])
    np.testing.assert_array_equal(br, [1.0, -1.0])
    S = L.select(np.array([2, 0]))
    assert S.n_out == 2 and S.n_in == 2 and S.activation == relu
    np.testing.assert_array_equal(S.bias, [-1.0, 1.0])
    np.testing.assert_array_equal(S.affine(np.array([1.0, 2.0])), (W @ [1.0, 2.0] + [1.0, 0.0, -1.0])[[2, 0]])
    with pytest.raises((TypeError, ValueError), match="weight"):
        Layer(np.ones(3), np.zeros(3), relu)


def test_empty_batches_name_the_argument():
    G = ReLUNet.random([2, 3], rng=0)
    with pytest.raises(ValueError, match="^z"):
        G(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="^x"):
        G.check_output(np.zeros((0, 3)))
