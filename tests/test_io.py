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



class _Payload:
    """Unpickling this calls os.mkdir(marker): a visible side effect if any reader ever unpickles."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os
        return (os.mkdir, (self.marker,))


def test_pickle_payloads_never_run(tmp_path):
    """A crafted .npz / .npy holding a pickled object whose unpickling has a side effect: every reader
    refuses it with a ValueError and the payload never runs (kills a reader that loads with
    allow_pickle=True and catches UnpicklingError)."""
    from layerinv.io import load_code

    marker = tmp_path / "payload_ran"
    evil = np.array([_Payload(marker)], dtype=object)
    net = tmp_path / "net.npz"
    G = ReLUNet.random([2, 3], rng=0)
    G.save(net)
    arrays = dict(np.load(net))
    arrays["W0"] = evil  # a network file whose weight entry is a pickle
    np.savez(tmp_path / "evil_net.npz", **arrays)
    np.savez(tmp_path / "evil_code.npz", format=np.array("layerinv.Code"), z=evil)
    np.save(tmp_path / "evil.npy", evil, allow_pickle=True)
    with pytest.raises(ValueError, match="evil_net.npz.*Python objects"):
        ReLUNet.load(tmp_path / "evil_net.npz")
    with pytest.raises(ValueError, match="evil_code.npz"):
        load_code(tmp_path / "evil_code.npz")
    with pytest.raises(ValueError, match="evil.npy.*Python objects"):
        read_npy(tmp_path / "evil.npy")
    with pytest.raises(ValueError, match="evil_net.npz"):
        read_npz(tmp_path / "evil_net.npz")
    assert not marker.exists(), "a pickle payload ran"
    # the payload is real: numpy's own pickle-enabled reader does run it
    np.load(tmp_path / "evil.npy", allow_pickle=True)
    assert marker.exists()
