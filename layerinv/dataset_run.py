"""Invert or compress a whole dataset (.npy of shape (N, n)) without losing work to an interruption.

``X`` is read memory-mapped (its header is checked first; nothing is unpickled), cut into chunks of
``batch_size`` rows, and the chunks run through :func:`layerinv.batch.run_chunks` (this process,
joblib processes, or a Dask cluster). Each finished chunk is written atomically (a temporary file,
then ``os.replace``) into ``<out>.chunks/`` beside the output, with a manifest naming the network,
the data, the method and its options. Re-running the same command reuses every finished chunk whose
rows are unchanged (their hash is stored) and says how many; the output is then byte-for-byte the one
an uninterrupted run writes: chunks are fixed by ``batch_size`` alone and the output ``.npz`` is
streamed from the chunk files with fixed zip timestamps. Memory stays bounded by the chunks in
flight, whatever N is.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import zipfile

import numpy as np

from .batch import chunk_bounds, invert_chunk, run_chunks

__all__ = ["open_dataset", "run_dataset", "npy_header"]

_STR = np.dtype("<U16")  # statuses and method names (the longest, "inconclusive" / "linf+polish", fit)
_DATE = (1980, 1, 1, 0, 0, 0)  # fixed zip timestamps: identical runs write identical bytes


def npy_header(path, name="--x"):
    """``(shape, dtype)`` from a .npy file's header (nothing else is read)."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            reader = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
            if version not in reader:
                raise ValueError(f"unsupported .npy format version {version}")
            shape, _, dtype = reader[version](fh)
    except FileNotFoundError:
        raise FileNotFoundError(f"{name} file {path!r} does not exist.") from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{name} file {path!r} is not a readable .npy array ({exc}).") from None
    return shape, dtype


def open_dataset(path, n, name="--x"):
    """``X`` of shape (N, n) from a .npy file, memory-mapped; the header is validated before mapping."""
    path = os.fspath(path)
    shape, dtype = npy_header(path, name)
    if dtype.hasobject or dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers (a float or int .npy); {path!r} has dtype {dtype}.")
    if len(shape) != 2 or shape[1] != n:
        raise ValueError(f"{name} must have shape (N, {n}) to match G's output (one image per row); "
                         f"{path!r} has shape {shape}.")
    return np.load(path, mmap_mode="r", allow_pickle=False)


def _hash(a):
    return hashlib.blake2b(np.ascontiguousarray(a, dtype="<f8").tobytes(), digest_size=16).hexdigest()


# ------------------------------------------------------------------------------------ per-chunk work
def _invert_rows(G, X, method, opts):
    from .solvers import get_solver

    res = invert_chunk(get_solver(method).invert, (G,), X, opts, method)
    return {"z": np.stack([r.z for r in res]), "status": np.array([r.status for r in res], dtype=_STR),
            "residual": np.array([r.residual for r in res], dtype=np.float64),
            "method_used": np.array([r.method for r in res], dtype=_STR)}


def _compress_rows(G, X, method, opts, dtype, peak):
    from .compress import _compress_chunk

    code = _compress_chunk(G, np.array(X, dtype=np.float64), method, opts, dtype, peak, 0, strict=False)
    out = {"z": code.z, "status": np.array(code.info["status"], dtype=_STR),
           "residual": np.asarray(code.info["residual"], dtype=np.float64),
           "relative_error": np.asarray(code.relative_error, dtype=np.float64),
           "psnr": np.asarray(code.psnr, dtype=np.float64), "t_lower": np.asarray(code.t_lower, dtype=np.float64),
           "method_used": np.array(code.info["method"], dtype=_STR),
           "x_nonzero": np.linalg.norm(X, axis=1) > 0}
    if code.t is not None:
        out["t"] = np.asarray(code.t, dtype=np.float64)
    return out


# ------------------------------------------------------------------------------------- checkpoints
class _Checkpoints:
    def __init__(self, out, manifest):
        self.dir = os.fspath(out) + ".chunks"
        self.manifest = manifest
        path = os.path.join(self.dir, "manifest.json")
        if os.path.exists(path):
            with open(path) as fh:
                old = json.load(fh)
            if old != manifest:
                diff = sorted(k for k in set(old) | set(manifest) if old.get(k) != manifest.get(k))
                raise ValueError(f"the checkpoints in {self.dir!r} belong to another run (different {', '.join(diff)}); "
                                 f"re-run with the same arguments to resume, or delete that folder to start over.")
        else:
            os.makedirs(self.dir, exist_ok=True)
            self._atomic(path, lambda fh: fh.write(json.dumps(manifest, sort_keys=True).encode()))

    def _atomic(self, path, write):
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def path(self, i):
        return os.path.join(self.dir, f"chunk-{i:07d}.npz")

    def save(self, i, arrays, xhash):
        self._atomic(self.path(i), lambda fh: np.savez(fh, xhash=np.array(xhash), **arrays))

    def load(self, i, xhash, rows):
        """The arrays of finished chunk i, or None when absent, unreadable or made from other rows."""
        try:
            with np.load(self.path(i), allow_pickle=False) as f:
                d = {k: f[k] for k in f.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError):
            return None
        if str(d.pop("xhash", "")) != xhash or any(len(v) != rows for v in d.values()):
            return None
        return d


# ------------------------------------------------------------------------------------- the run
def run_dataset(task, G, x_path, out, method, opts, *, n_jobs=1, batch_size=256, scheduler=None,
                dtype="float32", peak=None, progress=True, stream=None, on_chunk=None):
    """Run ``task`` (``"invert"`` or ``"compress"``) on every row of the .npy at ``x_path``; write ``out``.

    ``opts``: the method's options as given (validated here; the output and the manifest record them).

    Returns ``(exit_status, counts)``: 0 when every image is ok, 1 otherwise; ``counts`` maps each
    status to its number of images. ``on_chunk(i)`` is called after chunk i is checkpointed (tests).
    """
    from .compress import fingerprint
    from .result import _OK

    stream = sys.stdout if stream is None else stream
    from .solvers import get_solver

    clean = get_solver(method).validate(opts, f"layerinv {task} --method {method}", G)
    X = open_dataset(x_path, G.n)
    N = X.shape[0]
    if task == "compress" and peak is None:
        peak = max((float(np.max(np.abs(X[s:e]))) for s, e in chunk_bounds(N, batch_size)), default=0.0) or 1.0
    manifest = {"task": task, "net": fingerprint(G), "x_shape": list(X.shape), "x_dtype": str(X.dtype),
                "method": method, "options": {k: _jsonable(v) for k, v in sorted(opts.items())},
                "batch_size": batch_size}
    if task == "compress":
        manifest.update(dtype=dtype, peak=peak)
    ck = _Checkpoints(out, manifest)
    bounds = chunk_bounds(N, batch_size)
    hashes = [_hash(X[s:e]) for s, e in bounds]
    done = {}
    for i, (s, e) in enumerate(bounds):
        d = ck.load(i, hashes[i], e - s)
        if d is not None:
            done[i] = True
    reused = sum(e - s for i, (s, e) in enumerate(bounds) if i in done)
    if done:
        print(f"reusing {len(done)} of {len(bounds)} finished chunks ({reused} images) from {ck.dir}", file=stream)
    todo = [i for i in range(len(bounds)) if i not in done]
    if task == "invert":
        fn, extra = _invert_rows, (method, clean)
    else:
        fn, extra = _compress_rows, (method, clean, dtype, peak)
    args = ((G, np.array(X[bounds[i][0]:bounds[i][1]], dtype=np.float64)) + extra for i in todo)

    from tqdm.auto import tqdm

    bar = tqdm(total=N, initial=reused, unit="img", desc=f"{task} {method}", disable=not progress, file=sys.stderr,
               smoothing=0.1)
    client = _connect(scheduler)
    try:
        ctx = _backend(client)
        with ctx:
            for j, arrays in run_chunks(fn, args, -1 if client is not None else n_jobs, unordered=True):
                i = todo[j]
                ck.save(i, arrays, hashes[i])
                bar.update(bounds[i][1] - bounds[i][0])
                if on_chunk is not None:
                    on_chunk(i)
    finally:
        bar.close()
        if client is not None:
            client.close()
    counts = _write_output(task, G, out, ck, bounds, hashes, method, opts, manifest)
    shutil.rmtree(ck.dir, ignore_errors=True)
    bad = {s: c for s, c in counts.items() if s not in _OK}
    summary = ", ".join(f"{s}: {c}" for s, c in sorted(counts.items()))
    print(f"{N} images ({summary}); wrote {out}", file=stream)
    if bad:
        print(f"not ok: {sum(bad.values())} images ({', '.join(f'{s}: {c}' for s, c in sorted(bad.items()))})",
              file=stream)
    return (1 if bad else 0), counts


def _jsonable(v):
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    if isinstance(v, np.random.Generator):
        return repr(v.bit_generator.state)
    return v


def _connect(scheduler):
    if scheduler is None:
        return None
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("--scheduler needs dask.distributed: pip install 'layerinv[dask]'.") from None
    try:
        return Client(scheduler, timeout="20s")
    except OSError as exc:
        raise ValueError(f"--scheduler {scheduler!r}: no Dask scheduler answers there ({exc}).") from None


def _backend(client):
    import contextlib

    if client is None:
        return contextlib.nullcontext()
    import joblib

    return joblib.parallel_config(backend="dask")


# ------------------------------------------------------------------------------------- the output
def _write_output(task, G, out, ck, bounds, hashes, method, opts, manifest):
    """Stream the chunk files into ``out`` (.npz, written atomically); returns the status counts."""
    N = bounds[-1][1] if bounds else 0
    first = ck.load(0, hashes[0], bounds[0][1] - bounds[0][0]) if bounds else {}
    names = sorted(first) if first else ["residual", "status", "z"]
    if task == "compress":  # exactly the entries of a code file (io.save_code), which load_code insists on
        names = [n for n in names if n in ("z", "status", "relative_error", "psnr", "t_lower", "t")]
    if task == "compress" and first:
        has_t = all("t" in ck.load(i, hashes[i], e - s) for i, (s, e) in enumerate(bounds))
        if not has_t and "t" in names:
            names.remove("t")
    counts = {}

    def parts(name):
        for i, (s, e) in enumerate(bounds):
            d = ck.load(i, hashes[i], e - s)
            if d is None:
                raise RuntimeError(f"checkpoint {ck.path(i)} vanished or changed while the output was written.")
            if name == "status":
                for st, c in zip(*np.unique(d["status"], return_counts=True)):
                    counts[str(st)] = counts.get(str(st), 0) + int(c)
            yield d[name]

    entries = []
    for name in names:
        sample = first[name]
        entries.append((name, sample.dtype, (N,) + sample.shape[1:], parts(name)))
    meta = {"task": np.array(task), "method": np.array(method),
            "options": np.array(json.dumps(manifest["options"], sort_keys=True)),
            "batch_size": np.array(manifest["batch_size"])}
    if task == "compress":
        meta = {}
        from .io import _CODE_FORMAT as _FORMAT, _CODE_VERSION as _FORMAT_VERSION

        k = G.k
        dt = np.dtype(manifest["dtype"])
        used = sorted({str(m) for i, (s, e) in enumerate(bounds) for m in np.unique(ck.load(i, hashes[i], e - s)["method_used"])})
        meta.update({"format": np.array(_FORMAT), "version": np.array(_FORMAT_VERSION),
                     "shape": np.array([N, G.n], dtype=np.int64), "dims": np.array(G.dims, dtype=np.int64),
                     "fingerprint": np.array(manifest["net"]), "method": np.array(",".join(used)),
                     "size": np.array(N * k * dt.itemsize), "ratio": np.array(float(G.n / G.k)),
                     "peak": np.array(float(manifest["peak"])), "has_t": np.array("t" in names)})
        if "t" not in names:
            meta["t"] = np.full(0, np.nan)
        meta["x_nonzero"] = np.array(all(bool(np.all(ck.load(i, hashes[i], e - s)["x_nonzero"]))
                                         for i, (s, e) in enumerate(bounds)))
    tmp = f"{os.fspath(out)}.tmp{os.getpid()}"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in sorted(meta.items()):
            _write_member(zf, name, arr.dtype, arr.shape, [arr])
        for name, dt, shape, gen in entries:
            _write_member(zf, name, dt, shape, gen)
    os.replace(tmp, out)
    return counts


def _write_member(zf, name, dtype, shape, parts):
    info = zipfile.ZipInfo(name + ".npy", date_time=_DATE)
    info.compress_type = zipfile.ZIP_STORED
    with zf.open(info, "w", force_zip64=True) as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                  "fortran_order": False, "shape": tuple(shape)})
        for part in parts:
            fh.write(np.ascontiguousarray(part, dtype=dtype).tobytes())
