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
