"""Batches of observations: the batched least-squares stage, per-image fallback, and all cores.

``invert(G, X)`` with X of shape (N, n) comes here. The batch is cut into chunks of ``batch_size``
rows (the chunks depend on ``batch_size`` only, never on ``n_jobs``, so results are bitwise the same
for any number of workers); each chunk runs

1. the batched least-squares stage (:mod:`layerinv.lp.batched`) for ``exact``, ``linf`` and ``auto``'s
   exact pass: every image whose layers are all settled by one stacked Cholesky solve and the
   single-image checks is done there;
2. the single-image path for every other image (and for every image of the other methods); for
   ``auto`` only up to its polish, which then runs on all those images and all their starts at once
   (:func:`layerinv.solvers.auto.polish_many`, the kernel the single path runs with one image).

Chunks run in this process (``n_jobs=1``) or through joblib (``n_jobs`` > 1 or -1: loky processes
with one BLAS thread each; inside ``joblib.parallel_config(backend="dask")`` on a Dask cluster).
"""
from __future__ import annotations

import time

import numpy as np

from ._threads import one_blas_thread, roomy_malloc
from .result import LayerRecord, Result

__all__ = ["run_chunks", "invert_chunk", "invert_many", "chunk_bounds", "check_parallel", "DEFAULT_BATCH_SIZE"]

#: Images per chunk when ``batch_size`` is not given (about 0.05 s of batched exact work, seconds of LPs).
DEFAULT_BATCH_SIZE = 256


def check_parallel(n_jobs, batch_size):
    """Validate ``n_jobs`` (None, -1 or a positive int) and ``batch_size`` (None or a positive int)."""
    import numbers

    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral)
                               or not (n_jobs >= 1 or n_jobs == -1)):
        raise ValueError(f"n_jobs must be a positive integer or -1 (all cores / all Dask workers); got {n_jobs!r}.")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral)
                                   or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer (images per chunk); got {batch_size!r}.")
    return (1 if n_jobs is None else int(n_jobs)), (DEFAULT_BATCH_SIZE if batch_size is None else int(batch_size))


def chunk_bounds(N, batch_size):
    """``[(start, stop), ...]`` covering ``range(N)`` in chunks of ``batch_size``."""
    return [(s, min(s + batch_size, N)) for s in range(0, N, batch_size)]


def run_chunks(fn, chunks, n_jobs, *, unordered=False):
    """``[fn(*args) for args in chunks]``, in this process when ``n_jobs == 1``, else with joblib
    (the active ``joblib.parallel_config`` backend, loky processes by default). With ``unordered``
    a generator of ``(index, value)`` in completion order."""
    if n_jobs == 1:
        gen = (_indexed(fn, i, args) for i, args in enumerate(chunks))
        return gen if unordered else [v for _, v in gen]
    import joblib

    tasks = (joblib.delayed(_in_worker)(fn, i, args) for i, args in enumerate(chunks))
    par = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered" if unordered else "list")
    out = par(tasks)
    if unordered:
        return out
    return [v for _, v in out]


def _indexed(fn, i, args):
    with one_blas_thread():
        return i, fn(*args)


def _in_worker(fn, i, args):
    """:func:`_indexed` in a joblib/Dask worker process, after :func:`._threads.roomy_malloc` (a worker that
    inherited Dask's ``MALLOC_TRIM_THRESHOLD_`` would otherwise map and unmap every large array)."""
    roomy_malloc()
    return _indexed(fn, i, args)


def _fresh(args, X):
    """Copies of the arguments' arrays (G, the operator) and of X in this process's own memory.
    Arrays that arrive through a cluster's serialisation can be views into a receive buffer with
    another alignment, and NumPy's vectorised loops may round differently on differently aligned
    memory: with fresh copies every process, and every chunk of a batch in this process, computes
    the same bits."""
    import copy

    return copy.deepcopy(args), np.array(X, dtype=np.float64, order="C")


def invert_many(fn, args, X, clean, method, n_jobs, batch_size):
    """``fn(*args, x, **clean)`` for every row x of X (N, n), in chunks: a list of N results, identical
    for every ``n_jobs``."""
    chunks = [(fn, args, X[s:e], clean, method) for s, e in chunk_bounds(X.shape[0], batch_size)]
    return [r for part in run_chunks(invert_chunk, chunks, n_jobs) for r in part]


# ------------------------------------------------------------------------------------- one chunk
_STAGE_MODES = {"exact": "exact", "linf": "linf", "auto": "exact"}


def _stage_applies(method, opts):
    if method not in _STAGE_MODES:
        return False
    if method == "linf" and opts.get("eps") is not None:  # the fixed-eps feasibility form: single path
        return False
    return True


def invert_chunk(fn, args, X, opts, method):
    """``fn(*args, x, **opts)`` for every row x of ``X`` (N, n), after the batched stage where it applies
    (``args == (G,)``, ``method`` exact/linf/auto). Returns a list of single-image :class:`Result`."""
    args, X = _fresh(args, X)
    G = args[0]
    N = X.shape[0]
    results = [None] * N
    if len(args) == 1 and _stage_applies(method, opts) and N > 0:
        t0 = time.perf_counter()
        mode = _STAGE_MODES[method]
        from .lp.batched import lstsq_stage

        stage = lstsq_stage(G, X, mode, tol=opts.get("tol", 1e-6), gap_tol=opts.get("gap_tol", 1e-6))
        done = np.flatnonzero(stage.done)
        if done.size:
            each = (time.perf_counter() - t0) / N
            z = np.asarray(stage.z)
            for b in done:
                results[b] = _stage_result(G, stage, b, z[b].copy(), mode, opts, each)
                if method == "auto":
                    results[b].info["steps"] = [("exact", "exact", each)]
    if method == "auto" and len(args) == 1:
        return _auto_rest(G, X, opts, results)
    for b in range(N):
        if results[b] is None:
            results[b] = fn(*args, X[b], **opts)
    return results


def _auto_rest(G, X, opts, results):
    """auto for the images the batched stage left: each up to its polish (exact, MILP ladder, linf),
    then one polish for all of them (:func:`.solvers.auto.polish_many`, the kernel the single path runs
    with one image)."""
    from .solvers.auto import Pending, invert_auto_unpolished, polish_many

    pend = []
    for b in range(X.shape[0]):
        if results[b] is None:
            results[b] = invert_auto_unpolished(G, X[b], **opts)
            if isinstance(results[b], Pending):
                pend.append(b)
    if pend:
        polish_many(G, X[pend], [results[b] for b in pend], opts["lam"], opts["starts"],
                    time_limit=opts["time_limit"])
        for b in pend:
            results[b] = results[b].result
    return results


def _stage_result(G, stage, b, z, mode, opts, seconds):
    """Image ``b``'s single-image :class:`Result` from the batched stage (the fields, messages and records
    the single-image path writes for the same outcome)."""
    lists = stage.lists()
    if "shapes" not in lists:  # (index, n_in, n_out) of each layer, top layer first
        lists["shapes"] = [(i, G.layers[i].n_in, G.layers[i].n_out) for i in range(G.depth - 1, -1, -1)]
    each = seconds / G.depth
    records = []
    if mode == "exact":
        for (i, n_in, n_out), lay in zip(lists["shapes"], lists["layers"]):
            value = lay["value"][b]
            records.append(LayerRecord(i, n_in, n_out, lay["active"][b], "lstsq", value, value, "exact", True,
                                       each, "", lay["threshold"][b], 0.0))  # exact mode: no dual bound
        msg = f"every layer solved within tolerance; max |G(z) - x| = {lists['worst'][b]:.3g}."
        return Result(z, "exact", msg, lists["residual"][b], seconds, records, mode, None)
    gap = f"{opts.get('gap_tol', 1e-6):.2g}"
    for (i, n_in, n_out), lay in zip(lists["shapes"], lists["layers"]):
        value, lower = lay["value"][b], lay["lower"][b]
        records.append(LayerRecord(i, n_in, n_out, lay["active"][b], "lstsq", (lower, value), 0.0, "bracket",
                                   True, each, f"certified bracket [{lower:.3g}, {value:.3g}] (gap <= {gap} of "
                                   f"the target's scale).", lay["threshold"][b], max(float(lower), 0.0)))
    msg = "per-layer linf problems solved (bracket); objectives top to bottom: " + ", ".join(
        f"[{r.objective[0]:.3g}, {r.objective[1]:.3g}]" for r in records)
    return Result(z, "optimal", msg, lists["residual"][b], seconds, records, mode, None)
