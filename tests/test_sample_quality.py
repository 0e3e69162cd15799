"""Sample-quality metrics (Fréchet distance, precision/recall), the shipped decoders' files, and the
architecture-file format of layerinv.mnist_decoders."""
import json
from importlib import resources

import numpy as np
import pytest

from layerinv import ReLUNet
from layerinv.experiments.sample_quality import frechet_distance, knn_radii, precision_recall

DATA = resources.files("layerinv") / "data"


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


def test_shipped_dense_decoder_loads():
    with resources.as_file(DATA / "mnist_dense_20_60_784.npz") as f:
        G = ReLUNet.load(f)
    assert G.dims == [20, 60, 784]
    assert [L.activation.name for L in G.layers] == ["relu", "relu"]
    x = G(np.random.default_rng(0).standard_normal((5, 20)))
    assert x.shape == (5, 784) and x.min() >= 0


def test_shipped_conv_decoder_file_is_plain_npz():
    """No pickles; the architecture is a JSON list of layer records; parameters match it."""
    with resources.as_file(DATA / "mnist_conv_20.npz") as f, np.load(f, allow_pickle=False) as d:
        arrays = {k: d[k] for k in d.files}
    assert str(arrays["format"]) == "layerinv.sequential"
    arch = json.loads(str(arrays["architecture"]))
    assert [r["type"] for r in arch] == ["Linear", "ReLU", "Unflatten", "ConvTranspose2d", "ReLU",
                                         "ConvTranspose2d", "ReLU", "Flatten"]
    assert arrays["0.weight"].shape == (32 * 49, 20) and arrays["0.bias"].shape == (32 * 49,)
    assert arrays["3.weight"].shape == (32, 16, 4, 4) and arrays["3.bias"].shape == (16,)
    assert arrays["5.weight"].shape == (16, 1, 4, 4) and arrays["5.bias"].shape == (1,)
    assert all(a.dtype == np.float64 for k, a in arrays.items() if "." in k)


def test_shipped_conv_decoder_rebuilds_as_torch_module():
    torch = pytest.importorskip("torch")
    from layerinv.mnist_decoders import load_sequential

    with resources.as_file(DATA / "mnist_conv_20.npz") as f:
        m = load_sequential(f)
    with torch.no_grad():
        x = m(torch.as_tensor(np.random.default_rng(0).standard_normal((3, 20))))
    assert x.shape == (3, 784) and x.dtype == torch.float64 and float(x.min()) >= 0


def test_sequential_roundtrip_and_bad_files(tmp_path):
    torch = pytest.importorskip("torch")
    from layerinv.mnist_decoders import build_sequential, conv_architecture, load_sequential, save_sequential

    arch = conv_architecture(latent=3, channels=(4, 2))
    m = build_sequential(arch, dtype=torch.float64)
    save_sequential(tmp_path / "m.npz", m, arch, note="test")
    m2 = load_sequential(tmp_path / "m.npz")
    z = torch.as_tensor(np.random.default_rng(0).standard_normal((2, 3)))
    with torch.no_grad():
        assert torch.equal(m(z), m2(z))
    np.savez(tmp_path / "bad.npz", format=np.array("something else"))
    with pytest.raises(ValueError, match="is not a 'layerinv.sequential' file"):
        load_sequential(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="must have exactly the keys"):
        build_sequential([{"type": "Linear", "in_features": 2}])


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_train_vae_tiny_run_is_seeded(kind):
    """One epoch on 40 digits: same rng -> same decoder; torch's global RNG untouched; shapes kept."""
    torch = pytest.importorskip("torch")
    from layerinv.datasets import load_mnist_test_digits
    from layerinv.mnist_decoders import conv_architecture, dense_architecture, train_vae

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
