"""Training the 20-60-784 VAE decoder (tiny runs) and the ``train-mnist`` command."""
import argparse
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from layerinv import ReLUNet  # noqa: E402
from layerinv.datasets import load_mnist_test_digits  # noqa: E402
from layerinv.cli.train import register  # noqa: E402
from layerinv.train import train_mnist_vae  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    images, _ = load_mnist_test_digits()
    return images


def test_tiny_run_returns_decoder(digits):
    G, hist = train_mnist_vae(digits, epochs=2, rng=0, progress=False, return_history=True)
    assert isinstance(G, ReLUNet)
    assert G.dims == [20, 60, 784]
    assert [L.activation.name for L in G.layers] == ["relu", "relu"] and not G.has_bias
    assert len(hist) == 2 and all(np.isfinite([h["loss"], h["mse"], h["kl"]]).all() for h in hist)
    assert hist[1]["loss"] < hist[0]["loss"]
    assert G(np.zeros(20)).max() == 0  # no biases: G(0) = 0


def test_bias_option(digits):
    G = train_mnist_vae(digits[:40], epochs=1, rng=0, bias=True, progress=False)
    assert G.dims == [20, 60, 784] and G.has_bias
    assert G.layers[0].bias.shape == (60,) and G.layers[1].bias.shape == (784,)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_seeded_and_no_global_rng(digits, seed):
    """Same rng -> same weights; different rng -> different; torch's global RNG and threads untouched."""
    state, threads = torch.random.get_rng_state(), torch.get_num_threads()
    a = train_mnist_vae(digits[:50], epochs=1, rng=seed, progress=False)
    b = train_mnist_vae(digits[:50], epochs=1, rng=np.random.default_rng(seed), progress=False)
    c = train_mnist_vae(digits[:50], epochs=1, rng=seed + 100, progress=False)
    assert all(np.array_equal(x.weight, y.weight) for x, y in zip(a.layers, b.layers))
    assert not np.array_equal(a.layers[1].weight, c.layers[1].weight)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.get_num_threads() == threads


def test_bad_inputs(digits):
    with pytest.raises(ValueError, match=r"shape \(N, 784\)"):
        train_mnist_vae(digits.reshape(-1, 28, 28)[0], epochs=1, rng=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        train_mnist_vae(digits * 255, epochs=1, rng=0)
    bad = digits.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        train_mnist_vae(bad, epochs=1, rng=0)
    with pytest.raises(ValueError, match="epochs"):
        train_mnist_vae(digits, epochs=0, rng=0)
    with pytest.raises(TypeError, match="rng"):
        train_mnist_vae(digits, epochs=1, rng=None)
    with pytest.raises(TypeError, match="bias"):
        train_mnist_vae(digits, epochs=1, rng=0, bias="no")


def _parser():
    parser = argparse.ArgumentParser(prog="layerinv")
    register(parser.add_subparsers(dest="command"))
    return parser


def _npm_folder(root, images, labels):
    ddir = root / "package" / "src" / "digits"
    ddir.mkdir(parents=True)
    for d in range(10):
        data = np.round(images[labels == d].ravel(), 3).tolist()
        (ddir / f"{d}.json").write_text(json.dumps({"data": data}))
    return root


def test_cli_quick_run(tmp_path, capsys):
    images, labels = load_mnist_test_digits()
    data = _npm_folder(tmp_path / "npm", images, labels)
    out, held = tmp_path / "G.npz", tmp_path / "held.npz"
    args = _parser().parse_args(["train-mnist", "--decoder", "legacy", "--quick", "--epochs", "1", "--seed", "3",
                                 "--holdout", "2", "--data", str(data), "--out", str(out),
                                 "--test-digits-out", str(held)])
    assert args.func(args) == 0
    G = ReLUNet.load(out)
    assert G.dims == [20, 60, 784]
    with np.load(held, allow_pickle=False) as f:
        assert f["images"].dtype == np.uint8 and f["images"].shape == (20, 784)
        assert np.array_equal(np.bincount(f["labels"], minlength=10), np.full(10, 2))
        in_npm_order = images[np.argsort(labels, kind="stable")]  # the npm package is ordered by class
        assert np.array_equal(f["images"], np.rint(in_npm_order[f["index"]] * 255))
    assert "decoder on 80 digits" in capsys.readouterr().out


def test_cli_rejects_bad_out(tmp_path):
    args = _parser().parse_args(["train-mnist", "--out", str(tmp_path / "G.pt")])
    with pytest.raises(ValueError, match="--out must name an .npz"):
        args.func(args)


@pytest.mark.slow  # constructing torch.optim.Adam imports torch's compiler stack (~7 s)
def test_adam_matches_torch():
    """The written-out Adam follows torch.optim.Adam step for step on a least-squares problem."""
    from layerinv.train import _adam

    for seed in (0, 1, 2):
        g = torch.Generator().manual_seed(seed)
        A, b = torch.randn(30, 8, generator=g), torch.randn(30, generator=g)
        p1, p2 = torch.zeros(8, requires_grad=True), torch.zeros(8, requires_grad=True)
        opt, step = torch.optim.Adam([p1], lr=0.01), _adam([p2], 0.01, torch)
        for _ in range(300):
            opt.zero_grad()
            ((A @ p1 - b) ** 2).sum().backward()
            opt.step()
            ((A @ p2 - b) ** 2).sum().backward()
            step()
        assert torch.allclose(p1, p2, rtol=0, atol=1e-5)  # float32 rounding over 300 steps


@pytest.mark.parametrize("decoder", ["dense", "conv", "legacy"])
def test_cli_quick_run_each_decoder(tmp_path, capsys, decoder):
    """--decoder picks the recipe and the architecture; every decoder is written with ReLUNet.save."""
    images, labels = load_mnist_test_digits()
    data = _npm_folder(tmp_path / "npm", images, labels)
    out = tmp_path / "G.npz"
    args = _parser().parse_args(["train-mnist", "--decoder", decoder, "--quick", "--epochs", "1", "--holdout", "2",
                                 "--data", str(data), "--out", str(out)])
    assert args.func(args) == 0
    G = ReLUNet.load(out)
    if decoder == "conv":
        assert G.dims == [20, 1568, 3136, 784] and type(G.layers[2].linear).__name__ == "ConvTranspose2d"
    else:
        assert G.dims == [20, 60, 784] and G.has_bias == (decoder == "dense")
    assert f"training the {decoder} decoder on 80 digits for 1 epochs" in capsys.readouterr().out


def test_cli_bias_only_for_legacy(tmp_path):
    args = _parser().parse_args(["train-mnist", "--bias", "--out", str(tmp_path / "G.npz")])
    with pytest.raises(ValueError, match="--bias applies to --decoder legacy only"):
        args.func(args)
