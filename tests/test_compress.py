"""compress / decompress: round trips, sizes, certificates, files and the CLI commands."""
import argparse

import numpy as np
import pytest

from conftest import SEEDS, TOL, planted
from layerinv import ReLUNet
from layerinv.certificate import fit_lower_bound
from layerinv.cli.compress import register
from layerinv.compress import CERT_GAP, CERT_STEPS, Code, compress, decompress
from layerinv.io import load_code, save_code

#: float32 keeps ~7 digits of z; G is Lipschitz with a constant near 1 on these nets.
FLOAT32_REL = 1e-5


@pytest.mark.parametrize("seed", SEEDS)
def test_round_trip_in_range(seed):
    G = ReLUNet.random([10, 100, 300], rng=seed)
    z, x = planted(G, np.random.default_rng(seed))
    code = compress(G, x, dtype="float64")
    assert code.method == "exact" and code.size == 10 * 8 and code.ratio == 30.0
    assert code.relative_error <= TOL["residual_exact"] and code.t_lower == 0.0
    np.testing.assert_allclose(decompress(G, code), x, rtol=0, atol=TOL["residual_exact"] * np.abs(x).max())
    c32 = compress(G, x)
    assert c32.dtype == "float32" and c32.size == 40 and c32.relative_error <= FLOAT32_REL
    c16 = compress(G, x, dtype="float16")
    assert c16.size == 20 and c32.relative_error <= c16.relative_error
    assert c16.psnr == pytest.approx(10 * np.log10(np.abs(x).max() ** 2 / np.mean((decompress(G, c16) - x) ** 2)))


@pytest.mark.parametrize("seed", SEEDS)
def test_certificate_bounds_every_latent(seed):
    """For x outside the range, t_lower <= ||G(z) - x||_inf for the code's z and for random z."""
    G = ReLUNet.random([5, 40, 120], rng=seed)
    rng = np.random.default_rng(10 + seed)
    _, x = planted(G, rng)
    x = np.maximum(x + 0.1 * rng.standard_normal(G.n), 0.0)  # a non-negative "image" off the range
    code = compress(G, x, dtype="float64")
    assert code.method == "gn+map" and code.t is not None and code.t.shape == (G.depth,)
    assert 0 < code.t_lower <= np.max(np.abs(decompress(G, code) - x))
    Z = rng.standard_normal((2000, G.k)) * 3
    assert code.t_lower <= np.min(np.max(np.abs(G(Z) - x), axis=1))
    assert fit_lower_bound(G, x, steps=CERT_STEPS, gap_tol=CERT_GAP * np.max(np.abs(x))).bound == code.t_lower


def test_batches_and_image_shapes(tmp_path):
    G = ReLUNet.random([5, 30, 64], rng=0)
    Z = np.random.default_rng(1).standard_normal((3, 5))
    X = G(Z)
    code = compress(G, X, dtype="float64")
    assert code.z.shape == (3, 5) and code.size == 3 * 5 * 8 and np.asarray(code.relative_error).shape == (3,)
    np.testing.assert_allclose(decompress(G, code), X, atol=1e-10)
    img = compress(G, X[0].reshape(8, 8), dtype="float64")
    assert decompress(G, img).shape == (8, 8)
    save_code(tmp_path / "b.npz", code)
    back = load_code(tmp_path / "b.npz")
    np.testing.assert_array_equal(back.z, code.z)
    np.testing.assert_array_equal(back.relative_error, code.relative_error)


def test_files_round_trip_and_guard_the_network(tmp_path):
    G = ReLUNet.random([10, 100, 300], rng=3)
    _, x = planted(G, np.random.default_rng(3))
    code = compress(G, x)
    path = tmp_path / "code.npz"
    save_code(path, code)
    with np.load(path, allow_pickle=False) as f:  # plain arrays only
        assert "z" in f.files
    back = load_code(path)
    assert isinstance(back, Code) and back.z.dtype == np.float32
    for name in ("shape", "dims", "fingerprint", "method", "size", "ratio", "relative_error", "psnr", "peak"):
        assert getattr(back, name) == getattr(code, name), name
    np.testing.assert_array_equal(decompress(G, back), decompress(G, code))
    with pytest.raises(ValueError, match="different network"):
        decompress(ReLUNet.random([10, 100, 300], rng=4), back)
    with pytest.raises(ValueError, match="dims"):
        decompress(ReLUNet.random([10, 100, 301], rng=3), back)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="junk.npz"):
        load_code(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", a=np.ones(3))
    with pytest.raises(ValueError, match="save_code"):
        load_code(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError):
        load_code(tmp_path / "missing.npz")


def test_bad_arguments():
    G = ReLUNet.random([5, 20, 40], rng=0)
    x = G(np.ones(5))
    with pytest.raises(ValueError, match="x must have shape"):
        compress(G, x[:-1])
    with pytest.raises(ValueError, match="dtype"):
        compress(G, x, dtype="int8")
    with pytest.raises(ValueError, match="peak"):
        compress(G, x, peak=-1.0)
    with pytest.raises(TypeError, match="valid options"):
        compress(G, x, bogus=1)
    with pytest.raises(ValueError, match="cannot compress"):
        compress(G, -np.abs(x) - 1.0, "exact")  # negative entries: outside a ReLU's range


def test_cli_commands(tmp_path, capsys):
    G = ReLUNet.random([10, 100, 300], rng=5)
    _, x = planted(G, np.random.default_rng(5))
    G.save(tmp_path / "net.npz")
    np.save(tmp_path / "x.npy", x)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["compress", "--net", str(tmp_path / "net.npz"), "--x", str(tmp_path / "x.npy"),
                              "--out", str(tmp_path / "code.npz"), "--dtype", "float64"])
    assert args.func(args) == 0
    assert "ratio 30x" in capsys.readouterr().out
    args = parser.parse_args(["decompress", "--net", str(tmp_path / "net.npz"), "--code", str(tmp_path / "code.npz"),
                              "--out", str(tmp_path / "x_hat.npy")])
    assert args.func(args) == 0
    np.testing.assert_allclose(np.load(tmp_path / "x_hat.npy"), x, atol=1e-10)
    args = parser.parse_args(["compress", "--net", str(tmp_path / "net.npz"), "--x", str(tmp_path / "nope.npy"),
                              "--out", str(tmp_path / "c.npz")])
    with pytest.raises(FileNotFoundError, match="nope.npy"):
        args.func(args)
