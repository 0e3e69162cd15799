"""The gradient-descent baseline (Bora et al. 2017, "CSGM"): Adam on ``||A(G(z)) - y||^2 + lam ||z||^2``.

Restarts run together as one batch (the loss is a sum over restarts, so their Adam updates are
independent); the restart with the lowest final loss is returned. The models are small, so torch
runs on one thread during the fit (restored after).
"""
from __future__ import annotations

import time

import numpy as np

from .._threads import one_torch_thread
from ..linear_maps import Conv2d, ConvTranspose2d, Dense, Diagonal, Upsample
from ..result import Result
from .._torch import require_torch
from ._common import is_phase, op_residual, relative_residual, summary_record

__all__ = ["gd_fit", "invert_gd", "recover_gd", "torch_layers", "torch_forward"]


def _torch():
    return require_torch("method='gd'")


def torch_layers(G, torch, dtype):
    """The network's weights as torch tensors (cached per dtype on the network object)."""
    cache = G.__dict__.setdefault("_torch_cache", {})
    if dtype not in cache:
        cache[dtype] = [(torch.tensor(np.array(L.weight), dtype=dtype) if isinstance(L.linear, Dense)
                         else _torch_map(L.linear, torch, dtype),
                         torch.tensor(np.array(L.bias), dtype=dtype), L.activation) for L in G.layers]
    return cache[dtype]


def _torch_map(A, torch, dtype):
    """``h -> A h`` on (batch, n_in) tensors for a non-dense map: torch's own (transposed) convolution,
    a gather for Upsample, a scale for Diagonal, a torch sparse CSR product otherwise."""
    F = torch.nn.functional
    if isinstance(A, (Conv2d, ConvTranspose2d)):
        w = torch.tensor(np.array(A.weight), dtype=dtype)
        shape = tuple(A.in_shape)
        if isinstance(A, Conv2d):
            return lambda h: F.conv2d(h.reshape((-1,) + shape), w, stride=A.stride,
                                      padding=A.padding).reshape(h.shape[0], -1)
        return lambda h: F.conv_transpose2d(h.reshape((-1,) + shape), w, stride=A.stride, padding=A.padding,
                                            output_padding=A.output_padding).reshape(h.shape[0], -1)
    if isinstance(A, Upsample):
        C, H, W = A.in_shape
        index = torch.tensor(np.array(A.index))
        return lambda h: h.reshape(h.shape[0], C, H * W)[:, :, index].reshape(h.shape[0], -1)
    if isinstance(A, Diagonal):
        v = torch.tensor(np.array(A.values), dtype=dtype)
        return lambda h: h * v
    S = A.to_sparse().tocoo()
    St = torch.sparse_coo_tensor(torch.tensor(np.vstack([S.row, S.col]), dtype=torch.int64),
                                 torch.tensor(S.data, dtype=dtype), size=S.shape, check_invariants=True).coalesce()
    return lambda h: torch.sparse.mm(St, h.T).T


def torch_forward(layers, z, torch):
    h = z
    for W, b, act in layers:
        h = act.torch((h @ W.T if isinstance(W, torch.Tensor) else W(h)) + b)
    return h


def gd_fit(G, y, rng, *, forward=None, steps=1000, lr=0.01, restarts=1, lam=0.0, init=None,
           init_scale=1.0, stop_rtol=None, negation_check=False):
    """Fit z by Adam from ``restarts`` random starts z0 ~ N(0, init_scale^2 I) (or from ``init``).

    Parameters
    ----------
    G : ReLUNet
    y : ndarray, shape (m,)
        The target (x itself for inversion, a measurement for recovery).
    rng : numpy.random.Generator
    forward : callable, optional
        ``forward(x_torch) -> y_torch`` applied after G (the measurement operator); identity if None.
    steps, lr, restarts, lam : Adam steps, learning rate, number of random starts, weight of ``||z||^2``.
    init : ndarray, shape (k,) or (r, k), optional
        Starting point(s) instead of random ones.
    stop_rtol : float, optional
        Stop once the relative decrease of the best loss over 50 steps falls below this.
    negation_check : bool
        Phase retrieval (Hand, Leong & Voroninski 2018): every 50 steps, replace z by -z where that
        lowers the loss.

    Returns
    -------
    Result
        ``info`` holds ``loss`` (the final objective), ``steps`` and ``restarts``.
    """
    torch = _torch()
    t0 = time.perf_counter()
    dtype = torch.float64
    layers = torch_layers(G, torch, dtype)
    target = torch.as_tensor(y, dtype=dtype)
    if init is not None:
        z0 = np.atleast_2d(np.asarray(init, dtype=np.float64))
    else:
        z0 = init_scale * rng.standard_normal((restarts, G.k))
    z = torch.tensor(z0, dtype=dtype, requires_grad=True)
    opt = torch.optim.Adam([z], lr=lr)
    fwd = forward if forward is not None else (lambda v: v)

    def losses(zz):
        out = fwd(torch_forward(layers, zz, torch))
        return ((out - target) ** 2).sum(dim=1) + lam * (zz ** 2).sum(dim=1)

    status, done, last = "max_iter", steps, None
    with torch.no_grad():
        start = float(np.min(losses(z).numpy(), initial=np.inf))  # the best objective among the starts
    with torch.enable_grad(), one_torch_thread(torch):
        for step in range(steps):
            opt.zero_grad()
            per = losses(z)
            per.sum().backward()
            opt.step()
            if negation_check and step % 50 == 49:
                with torch.no_grad():
                    flip = losses(-z) < losses(z)
                    z[flip] = -z[flip]
            if stop_rtol is not None and step % 50 == 49:
                cur = float(per.detach().min())
                if last is not None and last - cur <= stop_rtol * max(last, 1e-300):
                    status, done = "converged", step + 1
                    break
                last = cur
    with torch.no_grad():
        final = losses(z).numpy()
    zs = z.detach().numpy()
    finite = np.isfinite(final) & np.all(np.isfinite(zs), axis=1)
    best = int(np.argmin(np.where(finite, final, np.inf))) if np.any(finite) else 0
    zb = zs[best].copy()
    diverged = not np.any(finite)
    worse = not diverged and np.isfinite(start) and final[best] > start  # Adam made every start worse
    if diverged:
        status, zb = "failed", np.full(G.k, np.nan)
    elif worse:
        status = "failed"
    seconds = time.perf_counter() - t0
    rec = summary_record(G, final[best], status, seconds, f"Adam, {done} steps, lr {lr}, {len(z0)} restart(s), lam {lam}",
                         "gd")
    msg = (f"Adam ({done} steps, lr {lr}, {len(z0)} restart(s), lam {lam}): best final objective "
           f"{final[best]:.3g}.")
    if diverged:
        msg = (f"Adam diverged ({done} steps, lr {lr}, {len(z0)} restart(s), lam {lam}): every restart ended with a "
               f"non-finite z or objective; try a smaller lr.")
    elif worse:
        msg = (f"Adam diverged ({done} steps, lr {lr}, {len(z0)} restart(s), lam {lam}): the best final objective "
               f"{final[best]:.3g} is above the best starting one {start:.3g}; try a smaller lr.")
    return Result(zb, status, msg, np.nan, seconds, [rec], "gd", None,
                  {"loss": float(final[best]), "steps": done, "restarts": len(z0), "lr": lr, "lam": lam})


def invert_gd(G, x, *, rng, init, **options):
    """``invert(method="gd")`` for one clean observation."""
    res = gd_fit(G, x, rng, init=init, **options)
    res.residual = relative_residual(G, res.z, x)
    return res


def recover_gd(G, op, y, *, rng, **options):
    """``recover(method="gd")`` for one clean measurement (phase retrieval: with the negation check)."""
    torch = _torch()
    res = gd_fit(G, y, rng, forward=op._torch_forward(torch, torch.float64), negation_check=is_phase(op), **options)
    res.residual = op_residual(G, op, res.z, y)
    return res
