"""layerinv._threads.roomy_malloc: restores glibc's large-array handling in workers that inherited a
MALLOC_*_ variable (Dask's LocalCluster puts MALLOC_TRIM_THRESHOLD_ into the creating process's
environment, so later loky workers inherit it), once per process, and nowhere else."""
import numpy as np

from layerinv import _threads


class _FakeLibc:
    def __init__(self):
        self.calls = []

    def mallopt(self, param, value):
        self.calls.append((param, value))
        return 1


def _run(monkeypatch, env):
    import ctypes

    fake = _FakeLibc()
    monkeypatch.setattr(_threads, "_malloc_done", False)
    monkeypatch.setattr(ctypes, "CDLL", lambda name: fake)
    for k in [k for k in list(__import__("os").environ) if k.startswith("MALLOC_")]:
        monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    _threads.roomy_malloc()
    _threads.roomy_malloc()  # once per process
    return fake.calls


def test_no_malloc_variable_no_change(monkeypatch):
    assert _run(monkeypatch, {}) == []


def test_dask_trim_threshold_restores_the_mmap_threshold_once(monkeypatch):
    calls = _run(monkeypatch, {"MALLOC_TRIM_THRESHOLD_": "65536"})
    assert calls == [(-3, 32 << 20), (-1, 256 << 20)]  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD


def test_not_glibc_is_silent(monkeypatch):
    import ctypes

    monkeypatch.setattr(_threads, "_malloc_done", False)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")

    def missing(name):
        raise OSError("no libc.so.6")

    monkeypatch.setattr(ctypes, "CDLL", missing)
    _threads.roomy_malloc()  # no exception


def test_results_identical_with_a_malloc_variable_in_the_workers(monkeypatch):
    """The setting changes where memory comes from, never a result: n_jobs=2 workers spawned with
    MALLOC_TRIM_THRESHOLD_ set give bitwise the one-process answers."""
    from joblib.externals.loky import get_reusable_executor

    from layerinv import ReLUNet, invert

    G = ReLUNet.random([4, 20, 60], rng=3, bias=True)
    rng = np.random.default_rng(4)
    X = G(rng.standard_normal((6, 4))) + 0.05 * rng.standard_normal((6, 60))
    one = invert(G, X, method="auto", batch_size=2)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    get_reusable_executor().shutdown(wait=True)  # fresh workers inherit the variable
    two = invert(G, X, method="auto", batch_size=2, n_jobs=2)
    get_reusable_executor().shutdown(wait=True)
    assert np.array_equal(one.z, two.z) and list(one.status) == list(two.status)
