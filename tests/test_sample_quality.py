"""Sample-quality metrics (Fréchet distance, precision/recall), the shipped dense and conv decoders,
and VAE training (layerinv.train_vae)."""
import os
import subprocess
import sys
from importlib import resources

import numpy as np
import pytest

from layerinv import ReLUNet
from layerinv.datasets import load_mnist_generator
from layerinv.experiments import sample_quality as SQ
from layerinv.experiments.sample_quality import frechet_distance, knn_radii, precision_recall

DATA = resources.files("layerinv.datasets") / "data"


def test_frechet_identical_sets_is_zero():
    F = np.random.default_rng(0).standard_normal((500, 8))
    assert abs(frechet_distance(F, F)) < 1e-9


@pytest.mark.parametrize("seed", [0, 1])
def test_frechet_matches_closed_form_for_gaussians(seed):
    """Two sample sets with known sample means and covariances: the formula's value, computed
    independently (commuting covariances: tr(Sa + Sb - 2 (Sa Sb)^1/2) = sum (sqrt(a_i) - sqrt(b_i))^2)."""
    rng = np.random.default_rng(seed)
    n, d = 2000, 6
    white = rng.standard_normal((n, d))
    white -= white.mean(0)
    # exact whitening: sample covariance of `white` becomes I
    L = np.linalg.cholesky(np.cov(white, rowvar=False))
    white = white @ np.linalg.inv(L).T
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    sa, sb = rng.uniform(0.5, 2, d), rng.uniform(0.5, 2, d)
    shift = rng.standard_normal(d)
    A = (white * np.sqrt(sa)) @ Q.T
    B = (white[rng.permutation(n)] * np.sqrt(sb)) @ Q.T + shift
    expected = shift @ shift + ((np.sqrt(sa) - np.sqrt(sb)) ** 2).sum()
    assert frechet_distance(A, B) == pytest.approx(expected, rel=1e-8, abs=1e-8)


def test_frechet_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same number of columns"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))


def test_precision_recall_identical_sets_is_one():
    F = np.random.default_rng(1).standard_normal((300, 5))
    assert precision_recall(F, F, k=5) == (1.0, 1.0)


def test_precision_recall_disjoint_sets_is_zero():
    rng = np.random.default_rng(2)
    F = rng.standard_normal((200, 3))
    assert precision_recall(F, F + 100.0, k=5) == (0.0, 0.0)


def test_knn_radii_excludes_the_point_itself():
    F = np.arange(10.0)[:, None]  # points 0, 1, ..., 9 on a line
    r = knn_radii(F, k=2)
    assert r[0] == 2.0 and r[5] == 1.0 and r[9] == 2.0


def test_shipped_dense_decoder():
    G = load_mnist_generator("dense")
    assert load_mnist_generator().dims == G.dims == [20, 60, 784]
    assert [L.activation.name for L in G.layers] == ["relu", "relu"] and G.has_bias
    x = G(np.random.default_rng(0).standard_normal((5, 20)))
    assert x.shape == (5, 784) and x.min() >= 0


def test_unknown_generator_name():
    with pytest.raises(ValueError, match="name must be one of 'dense', 'conv', 'legacy'; got 'vae'"):
        load_mnist_generator("vae")


def test_shipped_conv_decoder():
    """A ReLUNet with convolutional linear maps (no dense 3136 x 1568 matrices stored), outputs >= 0."""
    G = load_mnist_generator("conv")
    assert isinstance(G, ReLUNet) and G.dims == [20, 32 * 49, 16 * 196, 784]
    assert [type(L.linear).__name__ for L in G.layers] == ["Dense", "ConvTranspose2d", "ConvTranspose2d"]
    assert [L.activation.name for L in G.layers] == ["relu"] * 3
    x = G(np.random.default_rng(0).standard_normal((3, 20)))
    assert x.shape == (3, 784) and x.min() >= 0 and x.max() > 0.5
    with resources.as_file(DATA / "mnist_conv_20.npz") as f:
        assert os.path.getsize(f) < 500_000


def test_conv_decoder_loads_without_torch():
    """load_mnist_generator("conv") and its forward pass import no torch."""
    code = ("import sys; sys.modules['torch'] = None; import numpy as np; "
            "from layerinv.datasets import load_mnist_generator; G = load_mnist_generator('conv'); "
            "assert G(np.zeros(20)).shape == (784,); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_conv_architecture_converts_exactly():
    """from_torch of the conv architecture gives the shipped layer kinds and torch's forward (1e-10)."""
    torch = pytest.importorskip("torch")
    from layerinv.train_vae import build_sequential, conv_architecture

    G = load_mnist_generator("conv")
    m = build_sequential(conv_architecture(), dtype=torch.float64)
    G2 = ReLUNet.from_torch(m)
    z = np.random.default_rng(1).standard_normal((4, 20))
    with torch.no_grad():
        assert np.allclose(G2(z), m(torch.as_tensor(z)).numpy(), rtol=0, atol=1e-10)
    assert G2.dims == G.dims and [type(L.linear) for L in G2.layers] == [type(L.linear) for L in G.layers]


def test_to_sequential_gives_the_shipped_conv_decoder_as_a_torch_module():
    torch = pytest.importorskip("torch")
    from layerinv.train_vae import conv_architecture, dense_architecture, to_sequential

    for name, arch in (("conv", conv_architecture()), ("dense", dense_architecture())):
        G = load_mnist_generator(name)
        m = to_sequential(G, arch)
        z = np.random.default_rng(2).standard_normal((4, 20))
        with torch.no_grad():
            assert np.allclose(m(torch.as_tensor(z)).numpy(), G(z), rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="arch has 3 linear or convolution layers but G has 2 layers"):
        to_sequential(load_mnist_generator("dense"), conv_architecture())


def test_check_architecture_messages():
    from layerinv.train_vae import check_architecture

    with pytest.raises(ValueError, match=r"arch\[0\] \(Linear\) must have exactly the keys"):
        check_architecture([{"type": "Linear", "in_features": 2}])
    with pytest.raises(ValueError, match="must be a dict whose 'type' is one of"):
        check_architecture([{"type": "Softmax"}])


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_train_vae_tiny_run_is_seeded(kind):
    """One epoch on 40 digits: same rng -> same decoder; torch's global RNG untouched; shapes kept."""
    torch = pytest.importorskip("torch")
    from layerinv.datasets import load_mnist_test_digits
    from layerinv.train_vae import conv_architecture, dense_architecture, train_vae

    images, _ = load_mnist_test_digits()
    arch = dense_architecture() if kind == "dense" else conv_architecture(channels=(4, 2))
    state = torch.random.get_rng_state()
    outs = []
    for _ in range(2):
        dec, hist = train_vae(images[:40], arch, epochs=1, rng=0, progress=False, range_weight=0.1)
        with torch.no_grad():
            outs.append(dec(torch.zeros(2, 20)).numpy())
    assert torch.equal(state, torch.random.get_rng_state())
    assert outs[0].shape == (2, 784) and np.array_equal(outs[0], outs[1])
    assert len(hist) == 1 and np.isfinite([hist[0]["mse"], hist[0]["kl"]]).all()


def test_fold_makes_prior_samples_match_the_aggregate_posterior():
    """After the fold, the first layer's pre-activations for z ~ N(0, I) have the mean and covariance
    of W q + b for q ~ the Gaussian fit of the aggregate posterior (checked on the formula's inputs)."""
    torch = pytest.importorskip("torch")
    from layerinv.datasets import load_mnist_test_digits
    from layerinv.train_vae import _encode, _fold_aggregate_posterior, dense_architecture, train_vae

    images, _ = load_mnist_test_digits()
    dec, _ = train_vae(images[:60], dense_architecture(), epochs=1, rng=1, progress=False, fit_prior=False)
    W0, b0 = dec[0].weight.detach().double().clone(), dec[0].bias.detach().double().clone()
    enc = torch.nn.ModuleDict({"body": torch.nn.Sequential(torch.nn.Linear(784, 8), torch.nn.ReLU()),
                               "mu": torch.nn.Linear(8, 20), "logvar": torch.nn.Linear(8, 20)})
    data = torch.as_tensor(images[:60], dtype=torch.float32)
    _fold_aggregate_posterior(torch, enc, dec, data)
    with torch.no_grad():
        mu, logvar = _encode(enc, data)
    mu, var = mu.double().numpy(), np.exp(logvar.double().numpy())
    m, C = mu.mean(0), np.cov(mu.T, bias=True) + np.diag(var.mean(0))
    W, b = dec[0].weight.detach().double().numpy(), dec[0].bias.detach().double().numpy()
    assert np.allclose(b, W0.numpy() @ m + b0.numpy(), atol=1e-5)
    assert np.allclose(W @ W.T, W0.numpy() @ C @ W0.numpy().T, rtol=1e-4, atol=1e-5)


def test_plot_from_files(tmp_path):
    """The table and grids are drawn from the CSV, JSON and samples files alone."""
    from layerinv.experiments import _common as C
    from layerinv.io import write_npz

    (tmp_path / "data").mkdir()
    rows = [{"decoder": "dense", "description": "d", "fd": 18.5, "precision": 0.86, "recall": 0.9, "confidence": 0.8,
             "n_samples": 10, "n_real": 100, "n_reference_pr": 100, "seconds": 1.0, "skipped": ""},
            {"decoder": "paper", "description": "p", "fd": "", "precision": "", "recall": "", "confidence": "",
             "n_samples": 10, "n_real": 100, "n_reference_pr": 100, "seconds": "", "skipped": "not found"}]
    C.write_csv(tmp_path / "data" / "sample_quality.csv", rows, SQ.COLUMNS)
    C.write_json(tmp_path / "data" / "sample_quality.json", {"classifier_accuracy_heldout": 0.96})
    write_npz(tmp_path / "data" / "sample_quality_samples.npz", {"dense": np.zeros((64, 784), dtype=np.uint8)})
    files = SQ.plot(str(tmp_path))
    assert [os.path.basename(f) for f in files] == ["samples_dense.png", "sample_quality_table.md"]
    text = (tmp_path / "data" / "sample_quality_table.md").read_text()
    assert "| d | 18.50 | 0.860 | 0.900 | 0.800 | 10 |" in text and "(skipped: not found) | – |" in text
