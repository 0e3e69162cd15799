"""Sample-quality metrics (Fréchet distance, precision/recall), the shipped dense and conv decoders,
the layer-list file format (layerinv.io.save_sequential) and VAE training (layerinv.train_vae)."""
import json
import os
from importlib import resources

import numpy as np
import pytest

from layerinv import ReLUNet
from layerinv.datasets import load_mnist_generator
from layerinv.experiments import sample_quality as SQ
from layerinv.experiments.sample_quality import frechet_distance, knn_radii, precision_recall
from layerinv.io import load_sequential, save_sequential, sequential_parameters

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


def test_shipped_conv_decoder_file():
    """No pickles; the architecture is a list of layer records; parameters match it; provenance is JSON."""
    with resources.as_file(DATA / "mnist_conv_20.npz") as f:
        arch, arrays, provenance = load_sequential(f)
    assert [r["type"] for r in arch] == ["Linear", "ReLU", "Unflatten", "ConvTranspose2d", "ReLU",
                                         "ConvTranspose2d", "ReLU", "Flatten"]
    assert {k: a.shape for k, a in arrays.items()} == {
        "0.weight": (32 * 49, 20), "0.bias": (32 * 49,), "3.weight": (32, 16, 4, 4), "3.bias": (16,),
        "5.weight": (16, 1, 4, 4), "5.bias": (1,)}
    assert all(a.dtype == np.float64 for a in arrays.values())
    meta = json.loads(provenance)
    assert meta["seed"] == 0 and meta["digits"] == 9900 and meta["recipe"]["sigma"] == 0.5


def test_shipped_conv_decoder_is_a_torch_module():
    torch = pytest.importorskip("torch")
    m = load_mnist_generator("conv")
    with torch.no_grad():
        x = m(torch.as_tensor(np.random.default_rng(0).standard_normal((3, 20))))
    assert x.shape == (3, 784) and x.dtype == torch.float64 and float(x.min()) >= 0


def test_sequential_roundtrip_and_bad_files(tmp_path):
    torch = pytest.importorskip("torch")
    from layerinv.train_vae import build_sequential, conv_architecture, module_arrays, module_from_arrays

    arch = conv_architecture(latent=3, channels=(4, 2))
    m = build_sequential(arch, dtype=torch.float64)
    save_sequential(tmp_path / "m.npz", arch, module_arrays(m), provenance="test")
    arch2, arrays, prov = load_sequential(tmp_path / "m.npz")
    assert arch2 == arch and prov == "test"
    m2 = module_from_arrays(arch2, arrays)
    z = torch.as_tensor(np.random.default_rng(0).standard_normal((2, 3)))
    with torch.no_grad():
        assert torch.equal(m(z), m2(z))
    np.savez(tmp_path / "bad.npz", format=np.array("something else"))
    with pytest.raises(ValueError, match="was not written by save_sequential"):
        load_sequential(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="must have exactly the keys"):
        save_sequential(tmp_path / "x.npz", [{"type": "Linear", "in_features": 2}], {})
    # a tampered parameter shape and an extra entry are refused, naming the entry
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        d = {k: f[k] for k in f.files}
    np.savez(tmp_path / "shape.npz", **{**d, "0.weight": d["0.weight"][:, :2]})
    with pytest.raises(ValueError, match="'0.weight' entry must have shape"):
        load_sequential(tmp_path / "shape.npz")
    np.savez(tmp_path / "extra.npz", **d, sneaky=np.zeros(2))
    with pytest.raises(ValueError, match="'sneaky'"):
        load_sequential(tmp_path / "extra.npz")


def test_sequential_parameters_of_the_dense_architecture():
    from layerinv.train_vae import dense_architecture

    assert sequential_parameters(dense_architecture()) == {"0.weight": (60, 20), "0.bias": (60,),
                                                          "2.weight": (784, 60), "2.bias": (784,)}


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
