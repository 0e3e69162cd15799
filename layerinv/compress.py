"""Compression with a generator: store the k numbers of z instead of the n numbers of x.

``compress(G, x)`` inverts G at x (:func:`layerinv.invert`), stores z in a chosen float dtype and
reports what it costs and how much is lost:

* ``size``: bytes of the stored latent (``z.size * itemsize``; the .npz container adds a fixed
  header), ``ratio``: bytes of x at the same dtype over ``size`` (``n / k``);
* distortion of the decoded ``x_hat = G(z)`` (after rounding z to the dtype): relative error
  ``||x_hat - x|| / ||x||`` and ``PSNR = 10 log10(peak^2 / mean((x_hat - x)^2))`` dB;
* for an x outside the range of G (a real image), the layer-wise ℓ∞ certificate: ``t`` holds each
  layer's ℓ∞ LP optimum (top layer first), and ``t_lower`` a certified lower bound on
  ``min_z ||G(z) - x||_inf`` (:func:`linf_lower_bound`): no latent at all, however found,
  represents x better than that in the ℓ∞ sense (0 when x is in the range of G).

Files are .npz without pickles (``save_code`` / ``load_code``); a code remembers a fingerprint of
the network, so decoding with a different network raises instead of returning garbage.

Examples
--------
>>> import numpy as np
>>> from layerinv import ReLUNet
>>> G = ReLUNet.random([10, 100, 300], rng=0)
>>> x = G(np.random.default_rng(1).standard_normal(10))
>>> code = compress(G, x, dtype="float64")
>>> code.size, code.ratio, bool(code.relative_error < 1e-12)
(80, 30.0, True)
>>> bool(np.allclose(decompress(G, code), x))
True
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

from ._checks import as_float_array, check_choice, check_positive
from .invert import METHODS, invert
from .network import ReLUNet

__all__ = ["Code", "compress", "decompress", "save_code", "load_code", "fingerprint", "linf_lower_bound",
           "register_cli"]

_FORMAT = "layerinv.Code"
_FORMAT_VERSION = 1
DTYPES = ("float16", "float32", "float64")


def fingerprint(G):
    """SHA-256 (hex) of G's sizes, activations, weights and biases: identifies the network."""
    h = hashlib.sha256()
    h.update(repr(G.dims).encode())
    for L in G.layers:
        h.update(repr(L.activation.spec()).encode())
        h.update(np.ascontiguousarray(L.weight, dtype="<f8").tobytes())
        h.update(np.ascontiguousarray(L.bias, dtype="<f8").tobytes())
    return h.hexdigest()


@dataclass
class Code:
    """A compressed signal.

    Attributes
    ----------
    z : ndarray, shape (k,) or (batch, k), dtype ``dtype``
        The stored latent(s).
    shape : tuple
        Shape of the original x (``decompress`` returns this shape).
    dims : list of int
        The network's ``[k, n_1, ..., n]``.
    fingerprint : str
        :func:`fingerprint` of the network.
    method : str
        The inversion method that produced z.
    size : int
        Bytes of z.
    ratio : float
        Bytes of x at the same dtype over ``size``.
    relative_error, psnr : float (or ndarray per signal for a batch)
        Distortion of ``G(z)`` (z as stored) against x; PSNR in dB with peak ``peak``.
    peak : float
    t : ndarray or None
        Each layer's ℓ∞ LP optimum, top layer first (shape (depth,) or (batch, depth)); None when no
        ℓ∞ LP ran (exact success, or method ``gd``).
    t_lower : float or ndarray
        Certified lower bound on ``min_z ||G(z) - x||_inf`` (:func:`linf_lower_bound`; over the
        latents whose last hidden layer has ``||h||_inf <= info["radius"]``); 0 when x was found in
        the range of G, NaN when no ℓ∞ LP ran (methods ``l1``, ``gd``).
    """

    z: np.ndarray
    shape: tuple
    dims: list
    fingerprint: str
    method: str
    size: int
    ratio: float
    relative_error: object
    psnr: object
    peak: float
    t: object = None
    t_lower: object = np.nan
    info: dict = field(default_factory=dict, repr=False)

    @property
    def dtype(self):
        return str(self.z.dtype)

    @property
    def distortion(self):
        """``{"relative_error": ..., "psnr": ...}``."""
        return {"relative_error": self.relative_error, "psnr": self.psnr}

    def summary(self):
        """One human-readable paragraph."""
        rel, ps = np.mean(self.relative_error), np.mean(self.psnr)
        n_sig = 1 if self.z.ndim == 1 else len(self.z)
        lines = [f"{n_sig} signal(s) of {self.dims[-1]} numbers -> {self.z.shape[-1]} latent numbers each "
                 f"({self.dtype}): {self.size} bytes, "
                 f"ratio {self.ratio:.3g}x (method {self.method})",
                 f"distortion: relative error {rel:.3g}, PSNR {ps:.3g} dB (peak {self.peak:.3g})"
                 + (" (means over the batch)" if n_sig > 1 else "")]
        tl = np.atleast_1d(self.t_lower)
        if np.all(np.isnan(tl)):
            lines.append("certificate: none (no layer-wise LP ran)")
        elif np.all(tl == 0):
            lines.append("certificate: x is in the range of G (every layer solved exactly)")
        else:
            lines.append(f"certificate: no z gives ||G(z) - x||_inf below {np.nanmin(tl):.3g}"
                         + (" (smallest over the batch)" if n_sig > 1 else "")
                         + "; per-layer linf optima (top first): "
                         + ", ".join(f"{v:.3g}" for v in np.atleast_2d(self.t)[0]))
        return "\n".join(lines)


def linf_lower_bound(G, x, *, iters=12):
    """A certified lower bound on ``min_z ||G(z) - x||_inf`` from the top layer's ℓ∞ LP.

    For a ReLU top layer and a threshold tau, let ``t(tau)`` be the ℓ∞ LP optimum with the rows
    ``x_j > tau`` as equations and the others as inequalities ``W_j h + b_j <= x_j + t``. Any z either
    keeps every equation row active, so its error is at least ``t(tau)``, or switches one off and
    misses that ``x_j > tau``. Hence ``min_z ||G(z) - x||_inf >= min(t(tau), tau)``; ``t`` is
    non-increasing in tau, and bisection finds the crossing. ``t(tau)`` enters through the LP's
    certified dual bound (:func:`layerinv.system.dual_bound`), valid for layer inputs with
    ``||h||_inf <= radius``.

    Returns
    -------
    bound : float
    radius : float
    """
    from .kernels import solve_linf
    from .system import build_system

    L = G.layers[-1]
    nonneg = G.depth > 1 and G.layers[-2].activation.nonnegative
    scale = max(float(np.max(np.abs(x))), 1e-300)

    def lower(tau):
        out = solve_linf(build_system(L, x, tau, nonneg), gap_tol=1e-3 * scale)
        rad = out.bound.radius if out.bound is not None else np.nan
        return (max(float(out.lower), 0.0) if np.isfinite(out.lower) else 0.0), rad

    if L.activation.name != "relu":
        return lower(-np.inf)
    lo, hi = 0.0, float(np.max(x)) if np.max(x) > 0 else 0.0
    best, radius = 0.0, np.inf
    for _ in range(iters if hi > 0 else 0):
        tau = 0.5 * (lo + hi)
        t, rad = lower(tau)
        if min(t, tau) > best:
            best, radius = min(t, tau), rad
        if t > tau:
            lo = tau
        else:
            hi = tau
    return best, radius


def _certificate(res, G, x):
    """``(t, t_lower, radius)`` for one inversion Result."""
    if res.status == "exact":
        return np.zeros(G.depth), 0.0, np.inf
    linf = [r for r in res.layers if r.path in ("lstsq", "lp")]
    if res.method not in ("linf", "linf+polish") or len(linf) != G.depth:
        return None, np.nan, np.nan
    t = np.array([r.objective[1] if isinstance(r.objective, tuple) else r.objective for r in linf], dtype=float)
    bound, radius = linf_lower_bound(G, x)
    return t, bound, radius


def compress(G, x, method="auto", *, dtype="float32", peak=None, **options):
    """Compress x to a latent z with ``G(z) ~ x``.

    Parameters
    ----------
    G : ReLUNet
    x : array_like, shape (n,), (batch, n), or any shape with ``x.size == n`` (e.g. a 28×28 image)
    method : str
        An :func:`layerinv.invert` method (default ``"auto"``: exact, else ℓ∞ LP + polish).
    dtype : {"float16", "float32", "float64"}
        Precision z is stored in (distortion is measured after rounding).
    peak : float, optional
        PSNR peak; default ``max |x|`` (1 for images on the [0, 1] scale that reach white).
    **options
        Passed to :func:`layerinv.invert` (e.g. ``rng`` for method ``"gd"``).

    Returns
    -------
    Code
    """
    if not isinstance(G, ReLUNet):
        raise TypeError(f"G must be a layerinv.ReLUNet; got {type(G).__name__}.")
    check_choice(dtype, DTYPES, "dtype")
    check_choice(method, tuple(METHODS), "method")
    arr = as_float_array(x, "x")
    shape = arr.shape
    if arr.ndim == 2 and arr.shape[-1] == G.n:
        flat = arr
    elif arr.size == G.n:
        flat = arr.reshape(G.n)
    else:
        raise ValueError(f"x must have shape ({G.n},), (batch, {G.n}) or any shape with {G.n} entries (an image) "
                         f"to match G's output; got {shape}.")
    if peak is None:
        peak = float(np.max(np.abs(flat)))
        if peak == 0:
            peak = 1.0
    else:
        peak = check_positive(peak, "peak")
    res = invert(G, flat, method, **options)
    items = [res] if flat.ndim == 1 else [res[i] for i in range(len(res))]
    bad = [i for i, r in enumerate(items) if not np.all(np.isfinite(r.z))]
    if bad:
        r = items[bad[0]]
        raise ValueError(f"cannot compress x{'' if flat.ndim == 1 else f'[{bad[0]}]'}: the inversion found no latent "
                         f"(status {r.status!r}: {r.message})")
    z = np.asarray(res.z).astype(dtype)
    x_hat = G(z.astype(np.float64))
    err = x_hat - flat
    rel = np.linalg.norm(err, axis=-1) / np.maximum(np.linalg.norm(flat, axis=-1), 1e-300)
    mse = np.mean(err ** 2, axis=-1)
    with np.errstate(divide="ignore"):
        psnr = 10.0 * np.log10(peak ** 2 / mse)
    xs = [flat] if flat.ndim == 1 else list(flat)
    certs = [_certificate(r, G, xi) for r, xi in zip(items, xs)]
    if flat.ndim == 1:
        t, t_lower, radius = certs[0]
        rel, psnr = float(rel), float(psnr)
    else:
        t = None if any(c[0] is None for c in certs) else np.stack([c[0] for c in certs])
        t_lower = np.array([c[1] for c in certs])
        radius = np.array([c[2] for c in certs])
    itemsize = np.dtype(dtype).itemsize
    method_used = res.method if flat.ndim == 1 else ",".join(sorted(set(res.method)))
    return Code(z, tuple(shape), list(G.dims), fingerprint(G), method_used, int(z.size * itemsize),
                float(G.n / G.k), rel, psnr, float(peak), t, t_lower,
                {"status": res.status, "residual": res.residual, "radius": radius})


def _check_code(G, code):
    if not isinstance(code, Code):
        raise TypeError(f"code must be a layerinv.compress.Code (from compress or load_code); "
                        f"got {type(code).__name__}.")
    if list(code.dims) != list(G.dims):
        raise ValueError(f"code was made with a network of dims {list(code.dims)}, but G has dims {G.dims}.")
    if code.fingerprint != fingerprint(G):
        raise ValueError("code was made with a different network (same sizes, different weights): its fingerprint "
                         f"{code.fingerprint[:12]}... does not match G's {fingerprint(G)[:12]}...")


def decompress(G, code):
    """``G(z)`` reshaped to the original x's shape (float64)."""
    if not isinstance(G, ReLUNet):
        raise TypeError(f"G must be a layerinv.ReLUNet; got {type(G).__name__}.")
    _check_code(G, code)
    return G(np.asarray(code.z, dtype=np.float64)).reshape(code.shape)


def save_code(path, code):
    """Write ``code`` to ``path`` (.npz, no pickles)."""
    if not isinstance(code, Code):
        raise TypeError(f"code must be a layerinv.compress.Code; got {type(code).__name__}.")
    t = np.full(0, np.nan) if code.t is None else np.asarray(code.t, dtype=np.float64)
    arrays = {"format": np.array(_FORMAT), "version": np.array(_FORMAT_VERSION), "z": np.asarray(code.z),
              "shape": np.array(code.shape, dtype=np.int64), "dims": np.array(code.dims, dtype=np.int64),
              "fingerprint": np.array(code.fingerprint), "method": np.array(code.method),
              "size": np.array(code.size), "ratio": np.array(code.ratio),
              "relative_error": np.asarray(code.relative_error, dtype=np.float64),
              "psnr": np.asarray(code.psnr, dtype=np.float64), "peak": np.array(code.peak),
              "t": t, "has_t": np.array(code.t is not None), "t_lower": np.asarray(code.t_lower, dtype=np.float64)}
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def load_code(path):
    """Read a code written by :func:`save_code` (an untrusted file: nothing is unpickled)."""
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            d = {key: f[key] for key in f.files}
    except FileNotFoundError:
        raise FileNotFoundError(f"code file {path!r} does not exist.") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"code file {path!r} is not a readable .npz archive written by save_code "
                         f"({type(exc).__name__}: {exc}).") from None
    if not isinstance(d, dict) or "format" not in d or str(d["format"]) != _FORMAT:
        raise ValueError(f"code file {path!r} was not written by layerinv's save_code (no {_FORMAT!r} format entry).")
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
                    float(d["peak"]), d["t"] if bool(d["has_t"]) else None, scal(d["t_lower"]))
    except KeyError as exc:
        raise ValueError(f"code file {path!r} is incomplete: entry {exc.args[0]!r} is missing.") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"code file {path!r} is invalid: {exc}.") from None


# ---------------------------------------------------------------------------------------------- CLI
def _load_x(path):
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"--x file {path!r} does not exist.") from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"--x file {path!r} is not a readable .npy array ({exc}).") from None


def _compress_cmd(args):
    G = ReLUNet.load(args.net)
    opts = {"rng": args.seed} if args.method == "gd" else {}
    code = compress(G, _load_x(args.x), args.method, dtype=args.dtype, peak=args.peak, **opts)
    save_code(args.out, code)
    print(code.summary())
    print(f"wrote the code to {args.out} ({os.path.getsize(args.out)} bytes on disk)")
    return 0


def _decompress_cmd(args):
    G = ReLUNet.load(args.net)
    code = load_code(args.code)
    x = decompress(G, code)
    np.save(args.out, x)
    print(f"decoded {x.shape} from {code.z.shape[-1]} latent numbers; wrote {args.out}")
    return 0


def register_cli(subparsers):
    """Add ``compress`` and ``decompress`` to the ``layerinv`` command line."""
    p = subparsers.add_parser(
        "compress", help="store x as the latent z of a generator (.npz code)",
        description="Invert a saved generator at x and store z (k numbers) with its size, distortion and, for x "
                    "outside the range of G, the layer-wise linf certificate of how well G can represent x.")
    p.add_argument("--net", required=True, help="generator file written by ReLUNet.save (.npz)")
    p.add_argument("--x", required=True, help="signal(s), .npy of shape (n,), (batch, n) or an image with n pixels")
    p.add_argument("--out", required=True, help="where to write the code (.npz)")
    p.add_argument("--method", default="auto", choices=sorted(METHODS), help="inversion method (default auto)")
    p.add_argument("--dtype", default="float32", choices=DTYPES, help="precision of the stored z (default float32)")
    p.add_argument("--peak", type=float, default=None, help="PSNR peak value (default max |x|)")
    p.add_argument("--seed", type=int, default=0, help="gd: seed of the random start (default 0)")
    p.set_defaults(func=_compress_cmd)
    d = subparsers.add_parser("decompress", help="decode a code written by 'layerinv compress'",
                              description="Decode x = G(z) from a code written by 'layerinv compress'.")
    d.add_argument("--net", required=True, help="the generator the code was made with (.npz)")
    d.add_argument("--code", required=True, help="code file written by 'layerinv compress' (.npz)")
    d.add_argument("--out", required=True, help="where to write x (.npy, the original shape)")
    d.set_defaults(func=_decompress_cmd)
