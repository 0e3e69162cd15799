"""layerinv.io: safe file reading (no pickles, sizes checked before allocating)."""
import io
import zipfile

import numpy as np
import pytest

from layerinv import ReLUNet
from layerinv.io import read_npy, read_npz


def _npy_bytes(shape, dtype="<f8", body=b"\0" * 16):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue() + body


def test_huge_header_in_npz_is_a_value_error_naming_the_file(tmp_path):
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("format.npy", _npy_bytes((), "<U16", "layerinv.ReLUNet".encode("utf-32-le")))
        zf.writestr("W0.npy", _npy_bytes((10 ** 6, 10 ** 6)))
    with pytest.raises(ValueError, match="huge.npz"):
        ReLUNet.load(path)
    with pytest.raises(ValueError, match="truncated or corrupt|more than the limit"):
        read_npz(path)


def test_huge_header_in_npy(tmp_path):
    path = tmp_path / "x.npy"
    path.write_bytes(_npy_bytes((10 ** 7,)))
    with pytest.raises(ValueError, match="x.npy.*declares"):
        read_npy(path, "--x file")
    with pytest.raises(ValueError, match="limit"):
        read_npy(path, max_bytes=100)


def test_round_trips_and_pickles(tmp_path):
    a = np.arange(12.0).reshape(3, 4)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "f.npy", np.asfortranarray(a))
    np.testing.assert_array_equal(read_npy(tmp_path / "a.npy"), a)
    np.testing.assert_array_equal(read_npy(tmp_path / "f.npy"), a)
    np.savez_compressed(tmp_path / "c.npz", a=a, s=np.array("text"))
    d = read_npz(tmp_path / "c.npz")
    np.testing.assert_array_equal(d["a"], a)
    assert str(d["s"]) == "text"
    np.save(tmp_path / "o.npy", np.array([object()], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="Python objects"):
        read_npy(tmp_path / "o.npy")
    with pytest.raises(FileNotFoundError, match="nope.npy"):
        read_npy(tmp_path / "nope.npy")

