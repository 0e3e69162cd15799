"""Files: safe .npy/.npz reading and writing of library objects (networks, codes, arrays).

Every file is untrusted input. Nothing is unpickled; an array's header is read and its size
checked against the bytes the file really holds (and against ``max_bytes``) *before* any memory
is allocated, so a crafted header claiming a huge array raises a ``ValueError`` naming the file
instead of a ``MemoryError``. Errors name the file and what is wrong with it.

Formats
-------
* Networks (:func:`save_net` / :func:`load_net`, behind ``ReLUNet.save`` / ``ReLUNet.load``): an .npz
  with ``format="layerinv.ReLUNet"``, ``version``, ``n_layers`` and per layer ``W<i>``, ``b<i>``,
  ``act<i>``, ``slope<i>``.
* Codes (:func:`save_code` / :func:`load_code`): an .npz with ``format="layerinv.Code"`` and the
  fields of :class:`layerinv.compress.Code`.
* Plain arrays: :func:`read_npy`, :func:`read_npz`.
"""
from __future__ import annotations

import math
import os
import zipfile

import numpy as np
from numpy.lib import format as npformat

from .activations import Activation

__all__ = ["MAX_BYTES", "read_npy", "read_npz", "write_npz", "save_net", "load_net", "save_code", "load_code"]

#: Largest array (bytes) the readers accept unless told otherwise.
MAX_BYTES = 1 << 32

_NET_FORMAT, _NET_VERSION = "layerinv.ReLUNet", 1
_CODE_FORMAT, _CODE_VERSION = "layerinv.Code", 1
_READ_ERRORS = (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError)


# ---------------------------------------------------------------------------------------------- arrays
def _read_array(fh, available, max_bytes):
    """One .npy stream: header first, then the size checks, then the data (no pickles)."""
    version = npformat.read_magic(fh)
    if version == (1, 0):
        shape, fortran, dtype = npformat.read_array_header_1_0(fh)
    elif version in ((2, 0), (3, 0)):
        shape, fortran, dtype = npformat.read_array_header_2_0(fh)
    else:  # pragma: no cover - read_magic accepts only the versions above
        raise ValueError(f"unsupported .npy format version {version}")
    if dtype.hasobject:
        raise ValueError("it holds Python objects (pickles are never loaded)")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > max_bytes:
        raise ValueError(f"its header declares a {dtype} array of shape {shape} ({nbytes} bytes), more than "
                         f"the limit of {max_bytes} bytes")
    if available is not None and nbytes > available:
        raise ValueError(f"its header declares a {dtype} array of shape {shape} ({nbytes} bytes) but the file holds "
                         f"only {available} bytes; it is truncated or corrupt")
    data = fh.read(nbytes)
    if len(data) != nbytes:
        raise ValueError(f"it ends after {len(data)} of the {nbytes} data bytes its header declares")
    arr = np.frombuffer(data, dtype=dtype)
    if fortran:
        return arr.reshape(shape[::-1]).transpose().copy()
    return arr.reshape(shape).copy()


def _not_found(what, path):
    return FileNotFoundError(f"{what} {path!r} does not exist.")


def read_npy(path, what="array file", *, max_bytes=MAX_BYTES):
    """Read one array from an .npy file.

    Raises ``FileNotFoundError`` (missing file) or ``ValueError`` (anything else wrong), naming
    ``what`` and the file.
    """
    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            return _read_array(fh, size, max_bytes)
    except FileNotFoundError:
        raise _not_found(what, path) from None
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{what} {path!r} is not a readable .npy array ({exc}).") from None


def read_npz(path, what="archive", *, hint="", max_bytes=MAX_BYTES):
    """Read every array of an .npz archive into a dict ``{name: ndarray}``.

    ``hint`` completes the message of an unreadable file (e.g. ``" written by ReLUNet.save"``).
    """
    path = os.fspath(path)
    try:
        out = {}
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                with zf.open(info) as fh:
                    try:
                        out[name] = _read_array(fh, info.file_size, max_bytes)
                    except ValueError as exc:
                        raise ValueError(f"entry {name!r}: {exc}") from None
        return out
    except FileNotFoundError:
        raise _not_found(what, path) from None
    except IsADirectoryError:
        raise ValueError(f"{what} {path!r} is a directory, not a file.") from None
    except _READ_ERRORS as exc:
        raise ValueError(f"{what} {path!r} is not a readable .npz archive{hint} "
                         f"({type(exc).__name__}: {exc}).") from None


def write_npz(path, arrays, *, compressed=False):
    """Write ``{name: array}`` to ``path`` (.npz, no pickles; the name is used as given)."""
    with open(path, "wb") as fh:
        (np.savez_compressed if compressed else np.savez)(fh, **arrays)
    return path


def _check_format(data, path, what, fmt, writer):
    if str(data.get("format", "")) != fmt:
        keys = ", ".join(sorted(data)) or "none"
        raise ValueError(f"{what} {path!r} was not written by {writer}: its 'format' entry is missing or not "
                         f"{fmt!r} (keys found: {keys}).")


# ---------------------------------------------------------------------------------------------- networks
def save_net(path, G):
    """Write the network ``G`` to ``path`` (.npz; no pickles). :func:`load_net` reads it back exactly."""
    arrays = {"format": np.array(_NET_FORMAT), "version": np.array(_NET_VERSION), "n_layers": np.array(G.depth)}
    for i, L in enumerate(G.layers):
        arrays[f"W{i}"] = np.asarray(L.weight)
        arrays[f"b{i}"] = np.asarray(L.bias)
        arrays[f"act{i}"] = np.array(L.activation.name)
        arrays[f"slope{i}"] = np.array(L.activation.slope)
    write_npz(path, arrays)


def load_net(path, cls=None):
    """Read a network written by :func:`save_net` (an instance of ``cls``, default ``ReLUNet``)."""
    if cls is None:
        from .network import ReLUNet as cls
    path = os.fspath(path)
    data = read_npz(path, "network file", hint=" written by ReLUNet.save")
    _check_format(data, path, "network file", _NET_FORMAT, "ReLUNet.save")
    try:
        d = int(data["n_layers"])
        weights = [data[f"W{i}"] for i in range(d)]
        biases = [data[f"b{i}"] for i in range(d)]
        records = [(str(data[f"act{i}"]), float(data[f"slope{i}"])) for i in range(d)]
    except KeyError as exc:
        raise ValueError(f"network file {path!r} is incomplete: entry {exc.args[0]!r} is missing.") from None
    try:
        acts = [Activation.from_record(name, slope, f"layer {i}'s activation", i == d - 1)
                for i, (name, slope) in enumerate(records)]
        return cls(weights, biases, acts)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"network file {path!r} holds an invalid network: {exc}") from None


# ---------------------------------------------------------------------------------------------- codes
def save_code(path, code):
    """Write a :class:`layerinv.compress.Code` to ``path`` (.npz, no pickles)."""
    from .compress import Code

    if not isinstance(code, Code):
        raise TypeError(f"code must be a layerinv.compress.Code; got {type(code).__name__}.")
    t = np.full(0, np.nan) if code.t is None else np.asarray(code.t, dtype=np.float64)
    arrays = {"format": np.array(_CODE_FORMAT), "version": np.array(_CODE_VERSION), "z": np.asarray(code.z),
              "shape": np.array(code.shape, dtype=np.int64), "dims": np.array(code.dims, dtype=np.int64),
              "fingerprint": np.array(code.fingerprint), "method": np.array(code.method),
              "size": np.array(code.size), "ratio": np.array(code.ratio),
              "relative_error": np.asarray(code.relative_error, dtype=np.float64),
              "psnr": np.asarray(code.psnr, dtype=np.float64), "peak": np.array(code.peak),
              "t": t, "has_t": np.array(code.t is not None), "t_lower": np.asarray(code.t_lower, dtype=np.float64),
              "status": np.array(np.atleast_1d(code.info.get("status", "")), dtype=str),
              "x_nonzero": np.array(code._x_nonzero())}
    write_npz(path, arrays)


def _statuses(d):
    """The inversion status(es) a code file records ("" for files written before it did)."""
    st = d.get("status")
    if st is None or st.size == 0:
        return ""
    return str(st.ravel()[0]) if st.size == 1 else [str(v) for v in st.ravel()]


def load_code(path):
    """Read a code written by :func:`save_code` (an untrusted file: nothing is unpickled)."""
    from .compress import DTYPES, Code

    path = os.fspath(path)
    d = read_npz(path, "code file", hint=" written by save_code")
    if str(d.get("format", "")) != _CODE_FORMAT:
        raise ValueError(f"code file {path!r} was not written by layerinv's save_code (no {_CODE_FORMAT!r} "
                         "format entry).")
    try:
        z = d["z"]
        if z.dtype.name not in DTYPES or z.ndim not in (1, 2) or not np.all(np.isfinite(z)):
            raise ValueError(f"its latent must be a finite 1-D or 2-D {'/'.join(DTYPES)} array; got {z.dtype} "
                             f"of shape {z.shape}")
        dims = [int(v) for v in d["dims"]]
        if z.shape[-1] != dims[0]:
            raise ValueError(f"its latent has {z.shape[-1]} entries but the network's k is {dims[0]}")
        scal = lambda a: a.item() if a.ndim == 0 else a  # noqa: E731
        return Code(z, tuple(int(v) for v in d["shape"]), dims, str(d["fingerprint"]), str(d["method"]),
                    int(d["size"]), float(d["ratio"]), scal(d["relative_error"]), scal(d["psnr"]),
                    float(d["peak"]), d["t"] if bool(d["has_t"]) else None, scal(d["t_lower"]),
                    {"status": _statuses(d), "x_nonzero": bool(d["x_nonzero"]) if "x_nonzero" in d else True})
    except KeyError as exc:
        raise ValueError(f"code file {path!r} is incomplete: entry {exc.args[0]!r} is missing.") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"code file {path!r} is invalid: {exc}.") from None
