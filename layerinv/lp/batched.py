"""The least-squares stage of the layer-wise inversion for a whole batch, in stacked linear algebra.

For a batch ``X`` of shape (B, n) and each layer, top layer first, every image gets its own activity
threshold and active mask ``m_b``; the normal equations of all images are solved at once:

* Gram matrices ``W^T diag(m_b) W`` for all b in one matrix product ``m @ P`` with
  ``P[j] = vec(w_j w_j^T)`` (upper triangle only), stacked into (B, k, k);
* stacked Cholesky factors (rank and conditioning test as :func:`layerinv.kernels.lstsq`), the two
  triangular solves with them and one step of iterative refinement (as the single path's ``dpotrs``);
* the single-image path's verification of the layer: every equation row within ``delta`` and every
  inequality row below it (``exact``), or a certified bracket ``[lower, upper]`` on the layer's ℓ∞
  optimum narrower than ``gap_tol`` (``linf``, the least-squares dual bound of NOTES.md).

An image leaves the batch ("drops out") wherever the single-image path would do anything else (an LP,
a range certificate, a repaired threshold) and wherever a decision lies within a rounding margin of
its threshold; the caller re-runs those images on the single-image path. The images that stay end
with the single-image path's statuses and its z up to rounding (~1e-14 relative).

The code is written once against the array API (``array_api_compat``): NumPy arrays and PyTorch
tensors (CPU or GPU, float64) run the same lines, except the triangular solves (the standard has none:
LAPACK per image for NumPy, stacked substitution otherwise; :func:`_cho_solve`). Nothing here imports
torch. The per-layer constants (``W``, ``b``, ``P``) are built once per process and network
(:func:`_layer_consts`).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

__all__ = ["BatchStage", "lstsq_stage", "supported", "stacked_gram", "gram_floor"]

_COND = 1e-10  # same conditioning test as layerinv.kernels.lstsq
_U = np.finfo(np.float64).eps / 2
_MARGIN = 1e-9  # relative to the layer's scale: a decision this close to its threshold goes to the single path
_FLOOR_REL = 1e-6  # above this floor (relative to max|a|) the single path repairs the threshold: drop out


@dataclass
class BatchStage:
    """What :func:`lstsq_stage` found for a batch.

    ``z`` (B, k) in the input's namespace (undefined where ``done`` is False); ``done`` (B,) numpy bool;
    ``layers``: one dict per layer, top layer first, of numpy arrays over the batch (``active``,
    ``threshold``, ``value`` = the verified violation (exact) or upper end of the bracket (linf),
    ``lower``); ``residual`` and ``worst`` (B,) numpy: ``||G(z) - x|| / ||x||`` and ``max |G(z) - x|``.
    """

    z: object
    done: np.ndarray
    layers: list = field(default_factory=list)
    residual: np.ndarray = None
    worst: np.ndarray = None
    _lists: dict = field(default=None, init=False, repr=False, compare=False)

    def lists(self):
        """The per-image numbers as Python lists (built once): ``{"layers": [{key: list}], "residual": list,
        "worst": list}``, for building one result per image without a NumPy scalar per field."""
        if self._lists is None:
            self._lists = {"layers": [{key: v.tolist() for key, v in lay.items()} for lay in self.layers],
                           "residual": np.asarray(self.residual).tolist(), "worst": np.asarray(self.worst).tolist()}
        return self._lists


def supported(G):
    """The batched stage handles nets whose layers are all ReLU."""
    return all(L.activation.has_inactive_region for L in G.layers)


def _to_numpy(v):
    if hasattr(v, "detach"):  # a torch tensor
        return v.detach().cpu().numpy()
    return np.asarray(v)


def _namespace(X):
    from array_api_compat import array_namespace, device

    return array_namespace(X), device(X)


def _half_products(xp, W):
    """``P`` (n, k(k+1)/2) with ``P[j] = (w_j w_j^T)`` on the upper triangle, and the index that
    rebuilds the full (k, k) matrix from it."""
    k = W.shape[1]
    iu, ju = np.triu_indices(k)
    P = xp.take(W, xp.asarray(iu, device=_dev(W)), axis=1) * xp.take(W, xp.asarray(ju, device=_dev(W)), axis=1)
    pos = np.empty((k, k), dtype=np.int64)
    pos[iu, ju] = np.arange(iu.size)
    pos[ju, iu] = np.arange(iu.size)
    return P, xp.asarray(pos.reshape(-1), device=_dev(W))


# Per-network constants (W, b, P, pos) in a namespace/device, built once per process and reused by every
# chunk. An entry is found by the layer's shapes and a sample of its weights, and used only when the
# layer's weights and bias are bitwise equal to the copies the entry keeps: a network whose weights were
# changed (or a different network of the same shape) never meets a stale table.
_CACHE = {}
_CACHE_LOCK = threading.Lock()  # chunks may run on threads (joblib / Dask threading backends)
_CACHE_BYTES = 128 * 2 ** 20  # at most this much (P dominates: n * k(k+1)/2 * 8 bytes per layer)


def _bits(a):
    return np.ascontiguousarray(a, dtype=np.float64).view(np.uint64)


def _layer_consts(xp, dev, L):
    """``(W, b, P, pos)`` of layer ``L`` in namespace ``xp`` on ``dev`` (cached, see ``_CACHE``)."""
    Wn, bn = np.asarray(L.weight, dtype=np.float64), np.asarray(L.bias, dtype=np.float64)
    flat = Wn.reshape(-1)
    key = (getattr(xp, "__name__", repr(xp)), str(dev), Wn.shape, bn.shape,
           flat[:: max(1, flat.size // 64)].tobytes(), bn[:: max(1, bn.size // 16)].tobytes())
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None and np.array_equal(hit[0], _bits(Wn)) and np.array_equal(hit[1], _bits(bn)):
            _CACHE[key] = _CACHE.pop(key)  # most recently used last
            return hit[2]
    W = _const(xp, Wn, dev)
    consts = (W, _const(xp, bn, dev)) + _half_products(xp, W)
    size = 8 * (2 * Wn.size + consts[2].shape[0] * consts[2].shape[1])
    if size <= _CACHE_BYTES // 2:
        with _CACHE_LOCK:
            _CACHE.pop(key, None)
            while _CACHE and size + sum(v[3] for v in _CACHE.values()) > _CACHE_BYTES:
                _CACHE.pop(next(iter(_CACHE)))  # least recently used
            _CACHE[key] = (_bits(Wn).copy(), _bits(bn).copy(), consts, size)
    return consts


def _const(xp, a, dev):
    """A network constant in the batch's namespace and device (a writable float64 copy)."""
    return xp.asarray(np.array(a, dtype=np.float64), device=dev)


def _dev(a):
    from array_api_compat import device

    return device(a)


def stacked_gram(xp, mask, P, pos, k):
    """``W^T diag(m_b) W`` for every row ``m_b`` of the 0/1 float ``mask`` (B, n): shape (B, k, k)."""
    half = mask @ P
    return xp.reshape(xp.take(half, pos, axis=1), (mask.shape[0], k, k))


def _cholesky(xp, A):
    """Stacked Cholesky factors and a (B,) bool of the ones that exist (failures get the identity)."""
    try:
        return xp.linalg.cholesky(A), xp.ones(A.shape[0], dtype=xp.bool, device=_dev(A))
    except Exception:  # some matrix of the stack is not positive definite: factor one by one
        eye = xp.eye(A.shape[-1], dtype=A.dtype, device=_dev(A))
        facs, ok = [], []
        for b in range(A.shape[0]):
            try:
                facs.append(xp.linalg.cholesky(A[b, ...]))
                ok.append(True)
            except Exception:
                facs.append(eye)
                ok.append(False)
        return xp.stack(facs), xp.asarray(ok, device=_dev(A))


def _cho_solve(xp, L, v):
    """Solve ``L L^T h = v`` for every image: ``L`` (B, k, k) lower Cholesky factors, ``v`` (B, k).

    NumPy: LAPACK ``dpotrs`` per image (two triangular solves, ~2k^2 flops; a stacked LU solve of the
    Gram matrix costs ~k^3). Other namespaces: column-wise forward and back substitution on the whole
    stack (elementwise products and differences only, so no reduction whose rounding could depend on
    memory layout)."""
    if isinstance(v, np.ndarray):
        from scipy.linalg import lapack

        out = np.array(v, dtype=np.float64, order="C", copy=True)
        U = np.swapaxes(L, 1, 2)  # U[b] = L[b].T: the upper factor in Fortran order, so LAPACK needs no copy
        potrs = lapack.dpotrs
        for b in range(v.shape[0]):  # positional (lower=0, overwrite_b=1): solved in place in out[b]
            out[b] = potrs(U[b], out[b], 0, 1)[0]
        return out
    k = v.shape[1]
    Lt = xp.permute_dims(L, (0, 2, 1))
    w = xp.asarray(v, copy=True)
    for j in range(k):  # L y = v, y overwrites w
        w[:, j] = w[:, j] / L[:, j, j]
        if j + 1 < k:
            w[:, j + 1:] = w[:, j + 1:] - Lt[:, j, j + 1:] * w[:, j:j + 1]
    for j in range(k - 1, -1, -1):  # L^T h = y, h overwrites w
        w[:, j] = w[:, j] / L[:, j, j]
        if j > 0:
            w[:, :j] = w[:, :j] - L[:, j, :j] * w[:, j:j + 1]
    return w


def _rowmax(xp, v):
    return xp.max(v, axis=1)


def lstsq_stage(G, X, mode, *, tol=1e-6, gap_tol=1e-6, chunk=256):
    """Run the least-squares stage of ``mode`` (``"exact"`` or ``"linf"``) on every row of ``X``.

    ``X``: (B, n) float64 array of any array-API namespace (NumPy, torch). Returns a
    :class:`BatchStage`; rows with ``done`` False must go to the single-image path.
    Work is done ``chunk`` rows at a time (memory ~ chunk * n * k(k+1)/2 / n ... a few MB per layer).
    """
    xp, dev = _namespace(X)
    B = X.shape[0]
    if mode not in ("exact", "linf") or not supported(G) or B == 0:
        return BatchStage(xp.zeros((B, G.k), dtype=X.dtype, device=dev), np.zeros(B, dtype=bool), [],
                          np.full(B, np.nan), np.full(B, np.nan))
    consts = [_layer_consts(xp, dev, L) for L in G.layers]
    parts = [_stage_chunk(xp, G, consts, X[s:s + chunk, ...], mode, tol, gap_tol) for s in range(0, B, chunk)]
    z = xp.concat([p.z for p in parts], axis=0)
    done = np.concatenate([p.done for p in parts])
    layers = [{key: np.concatenate([p.layers[j][key] for p in parts]) for key in parts[0].layers[j]}
              for j in range(G.depth)]
    return BatchStage(z, done, layers, np.concatenate([p.residual for p in parts]),
                      np.concatenate([p.worst for p in parts]))


def _stage_chunk(xp, G, consts, X, mode, tol, gap_tol):
    B = X.shape[0]
    dev = _dev(X)
    alive = xp.ones(B, dtype=xp.bool, device=dev)
    floor = xp.zeros(B, dtype=X.dtype, device=dev)
    a = X
    layers = []
    for i in range(G.depth - 1, -1, -1):
        W, bias, P, pos = consts[i]
        n_out, n_in = W.shape
        nonneg = i > 0 and G.layers[i - 1].activation.nonnegative
        maxabs = _rowmax(xp, xp.abs(a))
        scale = xp.clip(maxabs, min=1e-300)
        margin = _MARGIN * scale
        noise = xp.clip(-xp.min(a, axis=1), min=0.0)  # the most negative entry of a ReLU output is noise
        if mode == "exact":
            delta = tol * scale
            alive = alive & ~xp.any(a < (margin - delta)[:, None], axis=1)  # range violations: single path
            thr = xp.maximum(10.0 * noise, delta)
        else:
            thr = xp.maximum(2.0 * noise, 1e-9 * scale)
        thr = xp.maximum(thr, 10.0 * floor)
        alive = alive & (floor <= _FLOOR_REL * maxabs - margin)  # _keep_determined would lower thr
        mask = a > thr[:, None]
        alive = alive & ~xp.any(xp.abs(a - thr[:, None]) <= margin[:, None], axis=1)
        active = xp.sum(xp.astype(mask, xp.int64), axis=1)
        alive = alive & (active >= n_in)
        Mf = xp.astype(mask, X.dtype)
        C = a - bias
        eye = xp.eye(n_in, dtype=X.dtype, device=dev)
        gram = xp.where(alive[:, None, None], stacked_gram(xp, Mf, P, pos, n_in), eye)
        chol, ok = _cholesky(xp, gram)
        alive = alive & ok
        d = xp.linalg.diagonal(chol)
        dmin, dmax = xp.min(d, axis=1), xp.max(d, axis=1)
        alive = alive & (dmin ** 2 >= 2.0 * _COND * dmax ** 2)  # factor 2: margin on the single path's test
        h = _cho_solve(xp, chol, (Mf * C) @ W)
        r = Mf * (C - h @ W.T)
        h = h + _cho_solve(xp, chol, r @ W)
        if mode == "linf":
            r = Mf * (C - h @ W.T)  # c_E - M_E h on the equation rows, 0 elsewhere (for the dual bound)
        if nonneg:
            new_floor = xp.clip(-xp.min(h, axis=1), min=0.0)
            h = xp.clip(h, min=0.0)
        else:
            new_floor = xp.zeros(B, dtype=X.dtype, device=dev)
        U = h @ W.T - C
        value = xp.clip(_rowmax(xp, xp.where(mask, xp.abs(U), U)), min=0.0)
        if mode == "exact":
            alive = alive & (value <= delta - margin)
            lower = xp.zeros(B, dtype=X.dtype, device=dev)
        else:
            radius = 10.0 * xp.clip(_rowmax(xp, xp.abs(h)), min=1.0)
            lower = _residual_bound(xp, W, C, r, radius, nonneg)
            alive = alive & (value - lower <= gap_tol * scale - margin)
        layers.append({"active": _to_numpy(active), "threshold": _to_numpy(thr), "value": _to_numpy(value),
                       "lower": _to_numpy(lower)})
        floor = new_floor
        a = xp.where(alive[:, None], h, xp.zeros_like(h))
    # the batched forward check: G(z) - x for every image
    out = a
    for W, bias, _, _ in consts:
        out = xp.clip(out @ W.T + bias, min=0.0)
    diff = out - X
    nx = xp.sqrt(xp.sum(X * X, axis=1))
    nd = xp.sqrt(xp.sum(diff * diff, axis=1))
    residual = xp.where(nx > 0, nd / xp.where(nx > 0, nx, xp.ones_like(nx)), nd)
    worst = _rowmax(xp, xp.abs(diff))
    return BatchStage(a, _to_numpy(alive), layers, _to_numpy(residual), _to_numpy(worst))


def _residual_bound(xp, W, C, r, radius, nonneg):
    """:func:`layerinv.system.residual_bound` (ℓ∞) for every image: multipliers ``y = -r / ||r||_1`` on the
    equation rows give ``t >= ||r||^2 / ||r||_1``, with the rounding of every sum bounded rigorously."""
    m = W.shape[0]  # equation plus inequality rows
    rabs = xp.abs(r)
    rsum = xp.sum(rabs, axis=1)
    rmax = _rowmax(xp, rabs)
    y = -r / xp.where(rsum > 0, rsum, xp.ones_like(rsum))[:, None]
    gamma = (m + 2) * _U / (1 - (m + 2) * _U)
    g = y @ W
    g_err = gamma * (xp.abs(y) @ xp.abs(W)) + 1e-300
    s = xp.sum(y * C, axis=1)
    s_err = gamma * xp.sum(xp.abs(y) * xp.abs(C), axis=1)
    if nonneg:
        slack = xp.sum(xp.clip(-(g - g_err), min=0.0), axis=1)
    else:
        slack = xp.sum(xp.abs(g) + g_err, axis=1)
    core = -s - s_err
    value = core - xp.where(slack > 0, slack * radius, xp.zeros_like(slack))
    ysum = xp.sum(xp.abs(y), axis=1) * (1 + m * _U)
    value = xp.where(ysum > 0, value / xp.where(ysum > 0, ysum, xp.ones_like(ysum)),
                     xp.full_like(ysum, -float("inf")))
    return xp.where(rmax == 0, xp.zeros_like(value), xp.clip(value, min=0.0))


def gram_floor(G, X, Z, *, batch_size=None, chunk=256):
    """The benchmark's floor for an exact batch inversion of ``X`` (N, n) with known latents ``Z`` (N, k).

    For the same images in the same pieces as ``invert(G, X, method="exact", batch_size=batch_size)``
    (chunks of ``batch_size`` rows, default :data:`layerinv.batch.DEFAULT_BATCH_SIZE`, each cut into
    :func:`lstsq_stage`'s pieces of ``chunk`` rows): one forward pass from ``Z`` (the forward check; it
    also gives every layer's active mask) and, for every layer, the stacked Gram matrices
    ``W^T diag(m_b) W`` and their Cholesky factors, with the stage's own kernels (:func:`stacked_gram`,
    the same Cholesky) and its cached per-layer constants. Nothing else: no thresholds, solves,
    verification or bookkeeping. Returns the largest ``|G(z) - x|`` (so nothing is optimised away)."""
    if batch_size is None:
        from ..batch import DEFAULT_BATCH_SIZE as batch_size
    xp, dev = _namespace(X)
    consts = [_layer_consts(xp, dev, L) for L in G.layers]
    worst = 0.0
    N = X.shape[0]
    pieces = [(s, min(s + chunk, e)) for c in range(0, N, batch_size) for e in (min(c + batch_size, N),)
              for s in range(c, e, chunk)]
    for s, e in pieces:
        h = Z[s:e, ...]
        for W, bias, P, pos in consts:
            h = xp.clip(h @ W.T + bias, min=0.0)
            m = xp.astype(h > 0, X.dtype)
            full = xp.sum(m, axis=1) >= W.shape[1]  # rank-deficient masks: the identity, as the stage does
            eye = xp.eye(W.shape[1], dtype=X.dtype, device=dev)
            _cholesky(xp, xp.where(full[:, None, None], stacked_gram(xp, m, P, pos, W.shape[1]), eye))
        worst = max(worst, float(xp.max(xp.abs(h - X[s:e, ...]))))
    return worst
