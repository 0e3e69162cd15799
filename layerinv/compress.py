"""Compression with a generator: store the k numbers of z instead of the n numbers of x.

``compress(G, x)`` inverts G at x (:func:`layerinv.invert`), stores z in a chosen float dtype and
reports what it costs and how much is lost:

* ``size``: bytes of the stored latent (``z.size * itemsize``; the .npz container adds a fixed
  header), ``ratio``: bytes of x at the same dtype over ``size`` (``n / k``);
* distortion of the decoded ``x_hat = G(z)`` (after rounding z to the dtype): relative error
  ``||x_hat - x|| / ||x||`` and ``PSNR = 10 log10(peak^2 / mean((x_hat - x)^2))`` dB;
* for an x outside the range of G (a real image), the layer-wise ℓ∞ certificate: ``t`` holds each
  layer's ℓ∞ LP optimum (top layer first), and ``t_lower`` a certified lower bound on
  ``min_z ||G(z) - x||_inf`` (:func:`layerinv.certificate.fit_lower_bound`): no latent at all,
  however found, represents x better than that in the ℓ∞ sense (0 when x is in the range of G).

Files are .npz without pickles (:func:`layerinv.io.save_code` / :func:`layerinv.io.load_code`); a
code remembers a fingerprint of the network, so decoding with a different network raises instead
of returning garbage.

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
import json
from dataclasses import dataclass, field

import numpy as np

from ._checks import as_float_array, check_choice, check_nonempty, check_positive
from ._threads import one_blas_thread
from .certificate import fit_lower_bound_unchecked
from .linear_maps import Dense, to_arrays
from .network import ReLUNet
from .result import Result
from .solvers import get_solver

__all__ = ["Code", "compress", "decompress", "fingerprint", "DTYPES"]

DTYPES = ("float16", "float32", "float64")
#: The certificate: bisection steps of :func:`layerinv.certificate.fit_lower_bound` and the bracket
#: gap (relative to ``max |x|``) accepted without an LP.
CERT_STEPS, CERT_GAP = 12, 1e-3


def fingerprint(G):
    """SHA-256 (hex) of G's sizes, activations, weights and biases: identifies the network."""
    h = hashlib.sha256()
    h.update(repr(G.dims).encode())
    for L in G.layers:
        h.update(repr(L.activation.spec()).encode())
        if isinstance(L.linear, Dense):  # dense nets: the fingerprint as before
            h.update(np.ascontiguousarray(L.weight, dtype="<f8").tobytes())
        else:  # the map's own parameters and arrays (never a dense n_out x n_in matrix)
            params, arrays = to_arrays(L.linear)
            h.update(json.dumps(params, sort_keys=True).encode())
            for name in sorted(arrays):
                a = np.asarray(arrays[name])
                h.update(f"{name}:{a.dtype.kind}:{a.shape}".encode())
                h.update(np.ascontiguousarray(a, dtype="<f8" if a.dtype.kind == "f" else "<i8").tobytes())
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
        Certified lower bound on ``min_z ||G(z) - x||_inf``
        (:func:`layerinv.certificate.fit_lower_bound` with ``CERT_STEPS``, ``CERT_GAP``; NaN for
        leaky/sigmoid/tanh outputs, where it gives no sound bound); 0 when x was found in
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

    def _x_nonzero(self):
        return bool(np.all(np.atleast_1d(self.info.get("x_nonzero", True))))

    def summary(self):
        """One human-readable paragraph."""
        rel, ps = np.mean(self.relative_error), np.mean(self.psnr)
        n_sig = 1 if self.z.ndim == 1 else len(self.z)
        lines = [f"{n_sig} signal(s) of {self.dims[-1]} numbers -> {self.z.shape[-1]} latent numbers each "
                 f"({self.dtype}): {self.size} bytes, "
                 f"ratio {self.ratio:.3g}x (method {self.method})",
                 f"distortion: {'relative' if self._x_nonzero() else 'absolute (x = 0)'} error {rel:.3g}, "
                 f"PSNR {ps:.3g} dB (peak {self.peak:.3g})"
                 + (" (means over the batch)" if n_sig > 1 else "")]
        tl = np.atleast_1d(self.t_lower)
        if np.all(np.atleast_1d(self.info.get("status", "")) == "exact"):
            lines.append("certificate: x is in the range of G (inverted exactly: max |G(z) - x| <= tol max|x| "
                         "before z was rounded)")
        elif np.all(np.isnan(tl)):
            lines.append("certificate: none (no layer-wise LP ran, or the output activation admits no sound bound)")
        elif np.nanmax(tl) == 0:
            lines.append("certificate: none (the certified lower bound on min ||G(z) - x||_inf is 0: nothing is "
                         "proven about how well G can represent x)")
        else:
            lines.append(f"certificate: no z gives ||G(z) - x||_inf below {np.nanmin(tl):.3g}"
                         + (" (smallest over the batch)" if n_sig > 1 else "")
                         + ("; per-layer linf optima (top first): "
                            + ", ".join(f"{v:.3g}" for v in np.atleast_2d(self.t)[0])
                            if self.t is not None and np.any(np.isfinite(np.atleast_2d(self.t)[0])) else ""))
        return "\n".join(lines)


def _certificate(res, G, x):
    """``(t, t_lower, radius)`` for one inversion Result."""
    if res.status == "exact":
        return np.zeros(G.depth), 0.0, np.inf
    if isinstance(res.info.get("fit_lower_bound"), tuple):  # auto's route on conv nets already ran it
        fb = res.info["fit_lower_bound"]
        return np.full(G.depth, np.nan), fb.bound, fb.radius
    linf = [r for r in res.layers if r.path in ("lstsq", "lp")]
    if res.method in ("linf", "linf+polish") and len(linf) == G.depth:
        t = np.array([r.objective[1] if isinstance(r.objective, tuple) else r.objective for r in linf], dtype=float)
    elif res.method == "gn+map":  # auto's Gauss-Newton route: no layer-wise LP ran, the bound is computed here
        t = np.full(G.depth, np.nan)
    else:
        return None, np.nan, np.nan
    act = G.layers[-1].activation
    if not (act.has_inactive_region or act.is_identity):  # no sound bound for leaky/sigmoid/tanh outputs
        return t, np.nan, np.nan
    fb = fit_lower_bound_unchecked(G, x, steps=CERT_STEPS, gap_tol=CERT_GAP * max(float(np.max(np.abs(x))), 1e-300))
    return t, fb.bound, fb.radius


def compress(G, x, method="auto", *, dtype="float32", peak=None, n_jobs=None, batch_size=None, **options):
    """Compress x to a latent z with ``G(z) ~ x``.

    Parameters
    ----------
    G : ReLUNet
    x : array_like, shape (n,), (batch, n), or any shape with ``x.size == n`` (e.g. a 28×28 image)
    method : str
        An :func:`layerinv.invert` method (default ``"auto"``: exact, else Gauss–Newton + MAP).
    dtype : {"float16", "float32", "float64"}
        Precision z is stored in (distortion is measured after rounding).
    peak : float, optional
        PSNR peak; default ``max |x|`` (1 for images on the [0, 1] scale that reach white).
    n_jobs, batch_size : int, optional
        For a batch: chunks of ``batch_size`` signals (default 256) compressed on ``n_jobs`` processes
        (joblib; see :func:`layerinv.invert`). The code does not depend on ``n_jobs``.
    **options
        Passed to :func:`layerinv.invert` (e.g. ``rng`` for method ``"gd"``).

    Returns
    -------
    Code
    """
    if not isinstance(G, ReLUNet):
        raise TypeError(f"G must be a layerinv.ReLUNet; got {type(G).__name__}.")
    check_choice(dtype, DTYPES, "dtype")
    solver = get_solver(method)
    clean = solver.validate(options, f"compress(method={method!r})", G)
    arr = as_float_array(x, "x")
    shape = arr.shape
    if arr.ndim == 2 and arr.shape[-1] == G.n:
        flat = check_nonempty(arr, "x")
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
    if flat.ndim == 1:
        return _compress_block(G, flat, method, clean, dtype, peak, shape)
    from .batch import check_parallel, chunk_bounds, run_chunks

    n_jobs, batch_size = check_parallel(n_jobs, batch_size)
    if n_jobs != 1 and clean.get("rng") is not None:
        raise ValueError(f"n_jobs must be 1 with rng= (method {method!r}): random starts are drawn from one rng "
                         f"stream in order over the batch; got n_jobs={n_jobs}.")
    bounds = chunk_bounds(len(flat), batch_size)
    codes = run_chunks(_compress_chunk, [(G, flat[s:e], method, clean, dtype, peak, s) for s, e in bounds], n_jobs)
    return merge_codes(codes, tuple(shape))


def _compress_chunk(G, flat, method, clean, dtype, peak, offset, strict=True):
    return _compress_block(G, flat, method, clean, dtype, peak, flat.shape, offset, strict)


def merge_codes(codes, shape):
    """One batched :class:`Code` from the codes of consecutive chunks of a batch."""
    first = codes[0]
    z = np.concatenate([c.z for c in codes])
    cat = lambda name: np.concatenate([np.atleast_1d(getattr(c, name)) for c in codes])  # noqa: E731
    t = None if any(c.t is None for c in codes) else np.concatenate([np.atleast_2d(c.t) for c in codes])
    info = {key: np.concatenate([np.atleast_1d(np.asarray(c.info[key], dtype=float)) for c in codes])
            for key in ("residual", "radius")}
    info["status"] = [st for c in codes for st in c.info["status"]]
    info["method"] = [m for c in codes for m in c.info["method"]]
    info["x_nonzero"] = all(c.info["x_nonzero"] for c in codes)
    methods = sorted({m for c in codes for m in c.method.split(",")})
    return Code(z, shape, first.dims, first.fingerprint, ",".join(methods), int(z.size * z.itemsize), first.ratio,
                cat("relative_error"), cat("psnr"), first.peak, t, cat("t_lower"), info)


def _compress_block(G, flat, method, clean, dtype, peak, shape, offset=0, strict=True):
    """Compress ``flat`` ((n,) or (B, n)); with ``strict`` False, signals without a latent get z = 0
    (their status in ``info["status"]`` says so) instead of raising."""
    from .batch import invert_many

    solver = get_solver(method)
    with one_blas_thread():  # x and the options are checked once, by compress; the solver trusts them
        if flat.ndim == 1:
            items = [solver.invert(G, flat, **clean)]
        else:  # one chunk: the batched least-squares stage, then the per-image path
            items = invert_many(solver.invert, (G,), flat, clean, method, 1, max(len(flat), 1))
    res = items[0] if flat.ndim == 1 else Result.stack(items)
    bad = [i for i, r in enumerate(items) if not np.all(np.isfinite(r.z))]
    if bad and strict:
        r = items[bad[0]]
        raise ValueError(f"cannot compress x{'' if flat.ndim == 1 else f'[{bad[0] + offset}]'}: the inversion found "
                         f"no latent (status {r.status!r}: {r.message})")
    z = np.nan_to_num(np.asarray(res.z), nan=0.0).astype(dtype)
    x_hat = G(z.astype(np.float64))
    err = x_hat - flat
    nx = np.linalg.norm(flat, axis=-1)
    rel = np.linalg.norm(err, axis=-1) / np.where(nx > 0, nx, 1.0)  # absolute for x = 0
    mse = np.mean(err ** 2, axis=-1)
    with np.errstate(divide="ignore"):
        psnr = 10.0 * np.log10(peak ** 2 / mse)
    xs = [flat] if flat.ndim == 1 else list(flat)
    with one_blas_thread():  # small dense solves: one BLAS thread is ~10x faster on a busy machine
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
                {"status": res.status, "residual": res.residual, "radius": radius,
                 "x_nonzero": bool(np.all(nx > 0)), "method": [res.method] if flat.ndim == 1 else list(res.method)})


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
    x = G(np.asarray(code.z, dtype=np.float64))
    if int(np.prod(code.shape)) != x.size or min(code.shape, default=1) < 0:
        raise ValueError(f"code.shape {tuple(code.shape)} (the original x's shape) does not hold the {x.size} decoded "
                         f"numbers (z of shape {np.shape(code.z)}); the code was edited or is corrupt.")
    return x.reshape(code.shape)
