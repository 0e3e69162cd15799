"""Files: safe .npy/.npz reading and writing of library objects (networks, codes, arrays).

Every file is untrusted input. Nothing is unpickled; an array's header is read and its size
checked against the bytes the file really holds (and against ``max_bytes``) *before* any memory
is allocated, so a crafted header claiming a huge array raises a ``ValueError`` naming the file
instead of a ``MemoryError``. A library file must hold exactly the entries its format names, each of
the right type and shape (an edited ``n_layers``, an unknown ``version`` or a tampered code shape is
refused, never read as something else). Errors name the file and what is wrong with it.

Writers (:func:`write_npz`, :func:`write_npy`) use the path exactly as given (no suffix is
appended) and refuse a directory or a missing folder with a ``ValueError``
(:func:`check_writable`, which the CLI calls before it starts any work).

Formats
-------
* Networks (:func:`save_net` / :func:`load_net`, behind ``ReLUNet.save`` / ``ReLUNet.load``): an .npz
  with ``format="layerinv.ReLUNet"``, ``version``, ``n_layers`` and per layer ``W<i>``, ``b<i>``,
  ``act<i>``, ``slope<i>``. Version 2 is written when some layer is not dense (a convolution, a
  sparse matrix, ...): such a layer has, instead of ``W<i>``, ``map<i>`` (a JSON object: the map's
  ``kind`` and integer parameters, see :func:`layerinv.linear_maps.to_arrays`) and the arrays
  ``map<i>_<name>`` its kind stores (``linear_maps.PARTS``, e.g. a convolution's ``map<i>_weight``).
* Codes (:func:`save_code` / :func:`load_code`): an .npz with ``format="layerinv.Code"`` and the
  fields of :class:`layerinv.compress.Code`.
* Plain arrays: :func:`read_npy`, :func:`read_npz`.
"""
from __future__ import annotations

import json
import math
import os
import zipfile

import numpy as np
from numpy.lib import format as npformat

from . import linear_maps
from .activations import Activation

__all__ = ["MAX_BYTES", "read_npy", "read_npz", "write_npz", "write_npy", "check_writable", "save_net", "load_net",
           "save_code", "load_code"]

#: Largest array (bytes) the readers accept unless told otherwise.
MAX_BYTES = 1 << 32

_NET_FORMAT, _NET_VERSION = "layerinv.ReLUNet", 1
_NET_VERSION_MAPS = 2  # some layer is not dense: it is stored as map<i> + map<i>_<array> entries
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


def check_writable(path, what="output file"):
    """``path`` as a string, or a ``ValueError`` when it names a folder or a file in a missing folder."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"{what} {path!r} is a directory; name a file inside it instead.")
    folder = os.path.dirname(path)
    if folder and not os.path.isdir(folder):
        raise ValueError(f"{what} {path!r} cannot be written: its folder {folder!r} does not exist.")
    return path


def _open_for_writing(path, what):
    path = check_writable(path, what)
    try:
        return open(path, "wb")
    except OSError as exc:
        raise ValueError(f"{what} {path!r} cannot be written ({type(exc).__name__}: {exc.strerror or exc}).") from None


def write_npz(path, arrays, *, compressed=False, what="output file"):
    """Write ``{name: array}`` to ``path`` (.npz, no pickles; the name is used exactly as given).

    A path naming a directory, a missing folder or an unwritable place raises ``ValueError``
    naming ``what`` and the path.
    """
    with _open_for_writing(path, what) as fh:
        (np.savez_compressed if compressed else np.savez)(fh, **arrays)
    return path


def write_npy(path, array, *, what="output file"):
    """Write one array to ``path`` (.npy; the name is used exactly as given, no suffix added)."""
    with _open_for_writing(path, what) as fh:
        np.save(fh, np.asarray(array), allow_pickle=False)
    return path


def _check_format(data, path, what, fmt, writer, version):
    if str(data.get("format", "")) != fmt:
        keys = ", ".join(sorted(data)) or "none"
        raise ValueError(f"{what} {path!r} was not written by {writer}: its 'format' entry is missing or not "
                         f"{fmt!r} (keys found: {keys}).")
    v = data.get("version")
    versions = version if isinstance(version, tuple) else (version,)
    if v is None or v.shape != () or v.dtype.kind not in "iu" or int(v) not in versions:
        got = "missing" if v is None else f"{v.dtype} of shape {v.shape}" if v.shape != () else repr(v.item())
        raise ValueError(f"{what} {path!r} has format version {got}; this layerinv reads version "
                         f"{' or '.join(map(str, versions))} (written by another layerinv version, or edited).")
    return int(v)


_KINDS = {"int": ("iu", "an integer", "integers"), "float": ("iuf", "a real number", "real numbers"),
          "str": ("U", "a string", "strings"), "bool": ("b", "a bool", "bools")}


def _entry(data, key, kind, ndim=0):
    """``data[key]`` checked to be a ``kind`` array with ``ndim`` dimensions (a scalar by default)."""
    a = data[key]
    kinds, one, many = _KINDS[kind]
    if a.ndim != ndim or a.dtype.kind not in kinds:
        want = one if ndim == 0 else f"a {ndim}-D array of {many}"
        got = f"{a.dtype} {a.item()!r}" if a.ndim == 0 and a.dtype.kind in "biufU" else f"{a.dtype} of shape {a.shape}"
        raise ValueError(f"its {key!r} entry must be {want}; got {got}")
    return a.item() if ndim == 0 else a


def _exact_keys(data, expected, path, what, note="", optional=()):
    """The file must hold exactly the ``expected`` entries (plus any of ``optional``): none missing,
    none extra."""
    missing = [k for k in expected if k not in data]
    if missing:
        raise ValueError(f"{what} {path!r} is incomplete: entry {missing[0]!r} is missing{note}.")
    extra = sorted(set(data) - set(expected) - set(optional))
    if extra:
        raise ValueError(f"{what} {path!r} holds entries its format does not have: {', '.join(map(repr, extra))}"
                         f"{note}; the file was edited or is corrupt.")


# ---------------------------------------------------------------------------------------------- networks
def save_net(path, G):
    """Write the network ``G`` to ``path`` (.npz; no pickles). :func:`load_net` reads it back exactly."""
    arrays = {"format": np.array(_NET_FORMAT), "version": np.array(_NET_VERSION), "n_layers": np.array(G.depth)}
    for i, L in enumerate(G.layers):
        if isinstance(L.linear, linear_maps.Dense):
            arrays[f"W{i}"] = np.asarray(L.linear.matrix)
        else:
            arrays["version"] = np.array(_NET_VERSION_MAPS)
            params, parts = linear_maps.to_arrays(L.linear)
            arrays[f"map{i}"] = np.array(json.dumps(params))
            arrays.update({f"map{i}_{key}": value for key, value in parts.items()})
        arrays[f"b{i}"] = np.asarray(L.bias)
        arrays[f"act{i}"] = np.array(L.activation.name)
        arrays[f"slope{i}"] = np.array(L.activation.slope)
    write_npz(path, arrays, what="network file")


def load_net(path, cls=None):
    """Read a network written by :func:`save_net` (an instance of ``cls``, default ``ReLUNet``).

    The file must be exactly what :func:`save_net` writes: the right ``format`` and ``version``,
    a positive integer ``n_layers``, and exactly the entries of that many layers (an edited
    ``n_layers`` or a missing or extra entry is refused, never read as a shorter net).
    """
    if cls is None:
        from .network import ReLUNet as cls
    path = os.fspath(path)
    what = "network file"
    data = read_npz(path, what, hint=" written by ReLUNet.save")
    version = _check_format(data, path, what, _NET_FORMAT, "ReLUNet.save", (_NET_VERSION, _NET_VERSION_MAPS))
    try:
        d = _entry(data, "n_layers", "int") if "n_layers" in data else None
        if d is None:
            raise ValueError("its 'n_layers' entry is missing")
        if d < 1:
            raise ValueError(f"its 'n_layers' entry must be a positive integer; got {d}")
        if d > len(data):
            raise ValueError(f"its 'n_layers' entry says {d} layers but the file holds only {len(data)} entries")
        maps = {i: _map_params(data, i) for i in range(d) if version == _NET_VERSION_MAPS and f"map{i}" in data}
        layer_keys = [key for i in range(d) for key in
                      ([f"W{i}"] if i not in maps else [f"map{i}"] + [f"map{i}_{name}" for name in
                                                                         linear_maps.PARTS[maps[i]["kind"]]])
                      + [f"b{i}", f"act{i}", f"slope{i}"]]
        _exact_keys(data, ["format", "version", "n_layers"] + layer_keys, path, what,
                    note=f" (its 'n_layers' entry says {d} layer{'s' if d > 1 else ''})")
        weights = [_entry(data, f"W{i}", "float", 2) if i not in maps else _load_map(data, i, maps[i])
                   for i in range(d)]
        biases = [_entry(data, f"b{i}", "float", 1) for i in range(d)]
        records = [(_entry(data, f"act{i}", "str"), float(_entry(data, f"slope{i}", "float"))) for i in range(d)]
        acts = [Activation.from_record(name, slope, f"layer {i}'s activation", i == d - 1)
                for i, (name, slope) in enumerate(records)]
        return cls(weights, biases, acts)
    except (TypeError, ValueError) as exc:
        msg = str(exc)
        if msg.startswith(f"{what} {path!r}"):
            raise ValueError(msg) from None
        raise ValueError(f"{what} {path!r} holds an invalid network: {msg.rstrip('.')}.") from None


def _map_params(data, i):
    """The JSON object of entry ``map<i>`` (ValueError naming the entry when it is not one)."""
    try:
        params = json.loads(_entry(data, f"map{i}", "str"))
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"its 'map{i}' entry is not valid JSON ({exc})") from None
    if not isinstance(params, dict) or params.get("kind") not in linear_maps.PARTS:
        raise ValueError(f"its 'map{i}' entry must be a JSON object whose 'kind' is one of "
                         f"{', '.join(linear_maps.PARTS)}; got {str(params)[:80]!r}")
    return params


class _Params(dict):
    def __missing__(self, key):
        raise ValueError(f"parameter {key!r} is missing")


def _load_map(data, i, params):
    """Layer i's linear map from its ``map<i>`` entries (ValueError naming the entry when invalid)."""
    parts = {name: data[f"map{i}_{name}"] for name in linear_maps.PARTS[params["kind"]]}
    try:
        return linear_maps.from_arrays(_Params(params), parts)
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"its 'map{i}' entries do not describe a valid {params['kind']} map ({exc})") from None


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
    write_npz(path, arrays, what="code file")


def _statuses(d, batch):
    """The inversion status(es) a code file records ("" for files written before it did)."""
    st = d.get("status")
    if st is None or st.size == 0:
        return ""
    st = _entry(d, "status", "str", 1)
    if st.shape != (batch or 1,):
        raise ValueError(f"its 'status' entry must hold one status per signal ({batch or 1}); got shape {st.shape}")
    return str(st[0]) if batch is None else [str(v) for v in st]


def load_code(path):
    """Read a code written by :func:`save_code` (an untrusted file: nothing is unpickled).

    Every entry's type and shape is checked, and they must agree with each other (the latent with
    ``dims``, the original ``shape`` and the per-signal distortions with the batch), so a tampered
    file raises a ``ValueError`` naming the file and the entry.
    """
    from .compress import DTYPES, Code

    path = os.fspath(path)
    what = "code file"
    d = read_npz(path, what, hint=" written by save_code")
    if str(d.get("format", "")) != _CODE_FORMAT:
        raise ValueError(f"code file {path!r} was not written by layerinv's save_code (no {_CODE_FORMAT!r} "
                         "format entry).")
    _check_format(d, path, what, _CODE_FORMAT, "save_code", _CODE_VERSION)
    # 'status' and 'x_nonzero' are optional: files written before save_code recorded them stay readable
    _exact_keys(d, ["format", "version", "z", "shape", "dims", "fingerprint", "method", "size", "ratio",
                    "relative_error", "psnr", "peak", "t", "has_t", "t_lower"], path, what,
                optional=("status", "x_nonzero"))
    try:
        fields = _code_fields(d, DTYPES)
        batch = fields[0].shape[0] if fields[0].ndim == 2 else None
        nonzero = _entry(d, "x_nonzero", "bool") if "x_nonzero" in d else True
        return Code(*fields, {"status": _statuses(d, batch), "x_nonzero": bool(nonzero)})
    except (TypeError, ValueError) as exc:
        raise ValueError(f"code file {path!r} is invalid: {str(exc).rstrip('.')}.") from None


def _code_fields(d, dtypes):
    """The arguments of ``Code`` from a code file's entries, each checked (ValueError naming it)."""
    z = d["z"]
    if z.dtype.name not in dtypes or z.ndim not in (1, 2) or z.size == 0 or not np.all(np.isfinite(z)):
        raise ValueError(f"its latent must be a finite, non-empty 1-D or 2-D {'/'.join(dtypes)} array; got {z.dtype} "
                         f"of shape {z.shape}")
    dims = [int(v) for v in _entry(d, "dims", "int", 1)]
    if len(dims) < 2 or min(dims) < 1:
        raise ValueError(f"its 'dims' entry must list at least two positive sizes [k, ..., n]; got {dims}")
    if z.shape[-1] != dims[0]:
        raise ValueError(f"its latent has {z.shape[-1]} entries but the network's k is {dims[0]}")
    batch = z.shape[0] if z.ndim == 2 else None
    shape = tuple(int(v) for v in _entry(d, "shape", "int", 1))
    ok = (shape == (batch, dims[-1])) if batch is not None else (min(shape, default=1) >= 1
                                                                 and math.prod(shape) == dims[-1])
    if not ok:
        want = f"({batch}, {dims[-1]})" if batch is not None else f"a shape with {dims[-1]} entries"
        raise ValueError(f"its 'shape' entry (the original x's shape) must be {want} to match its latent and "
                         f"dims; got {shape}")
    per = (lambda key: _entry(d, key, "float")) if batch is None else \
        (lambda key: _batch_entry(d, key, batch))
    rel, psnr, t_lower = per("relative_error"), per("psnr"), per("t_lower")
    has_t = _entry(d, "has_t", "bool")
    t = _entry(d, "t", "float", 1 if batch is None else 2) if has_t else None
    if t is not None and t.shape != ((len(dims) - 1,) if batch is None else (batch, len(dims) - 1)):
        raise ValueError(f"its 't' entry must hold one value per layer ({len(dims) - 1}) per signal; got shape "
                         f"{t.shape}")
    fp = _entry(d, "fingerprint", "str")
    if len(fp) != 64 or any(c not in "0123456789abcdef" for c in fp):
        raise ValueError(f"its 'fingerprint' entry must be a SHA-256 hex digest (64 hex digits); got {fp[:80]!r}")
    return (z, shape, dims, fp, _entry(d, "method", "str"), int(_entry(d, "size", "int")),
            float(_entry(d, "ratio", "float")), rel, psnr, float(_entry(d, "peak", "float")), t, t_lower)


def _batch_entry(d, key, batch):
    a = _entry(d, key, "float", 1)
    if a.shape != (batch,):
        raise ValueError(f"its {key!r} entry must hold one value per signal ({batch}); got shape {a.shape}")
    return a
