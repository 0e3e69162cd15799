"""Run the library's small dense linear algebra on one BLAS thread.

The matrices here are small (at most a few thousand × a few hundred): multi-threaded OpenBLAS gains
little on them and, on a busy machine, its spinning threads were measured 8× slower (84 ms vs
10 ms per inversion of a 50×250×600 net with two other processes running). NumPy and SciPy each
ship their own OpenBLAS; both are limited. Entering the limit costs ~0.04 ms with a cached
``threadpoolctl`` controller, and the previous settings are restored on exit.
"""
from __future__ import annotations

import contextlib

_controller = None


@contextlib.contextmanager
def one_blas_thread():
    global _controller
    try:
        if _controller is None:
            import scipy.linalg  # noqa: F401 - make sure SciPy's OpenBLAS is loaded and seen
            from threadpoolctl import ThreadpoolController

            _controller = ThreadpoolController()
        ctx = _controller.limit(limits=1, user_api="blas")
    except Exception:  # threadpoolctl missing or unable to inspect: run as is
        ctx = contextlib.nullcontext()
    with ctx:
        yield


@contextlib.contextmanager
def one_torch_thread(torch):
    """torch's intra-op threads limited to one for small models, restored after."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


_malloc_done = False


def roomy_malloc():
    """In a worker process started with ``MALLOC_TRIM_THRESHOLD_`` (or another ``MALLOC_*_`` variable) in
    its environment, restore glibc's handling of large temporary arrays; once per process, no-op elsewhere.

    ``distributed.LocalCluster`` sets ``MALLOC_TRIM_THRESHOLD_=65536`` for its workers and in the
    creating process's ``os.environ``, so every process spawned afterwards (loky workers too) inherits it.
    Any such variable switches off glibc's dynamic mmap threshold: every array above 128 KiB is then
    mapped and unmapped afresh, and the page faults doubled the CPU time of auto's Gauss–Newton chunks
    (measured: 2 workers ran at one process's speed). Here the mmap threshold goes to 32 MiB and the trim
    threshold to 256 MiB (the process keeps up to that much freed memory for reuse)."""
    global _malloc_done
    if _malloc_done:
        return
    _malloc_done = True
    import os

    if not any(k.startswith("MALLOC_") and k.endswith("_") for k in os.environ):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc: nothing to restore
        pass
