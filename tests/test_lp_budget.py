"""Nothing hangs in the layer LPs (benchmark find, 2026-12-02).

On the legacy MNIST generator (20x60x784, no biases), a seed-0 stream of 3,000 planted instances
(z* ~ N(0, I), x = G(z*) + 1e-9 U(-1, 1), drawn as two batches) had two top-layer LPs on which the
interior point stopped short of its own gap target (certified gap ~1e-12, value ~4e-10, far inside
the tolerance) and HiGHS's dual simplex, the fallback, cycled at its feasibility tolerance 1e-9:
instance 200 took 51,000 simplex iterations (3 s), instance 2896 did not finish in 400 s. Now the
interior point's answer is judged by its recomputed gap whatever status it gave itself, HiGHS has a
work budget of simplex iterations (``layerinv.lp.highs.iteration_budget``), and ``solve_exact``
decides from a recomputed point or a certified bound even when the LP was not solved to optimality.
"""
import numpy as np
import pytest

from conftest import TOL, rel
from layerinv import invert
from layerinv.lp import kernels
from layerinv.lp.highs import iteration_budget, solve_lp
from layerinv.lp.solution import LayerSolution

STREAM = 3000  # instances in the stream (the noise is drawn as one (STREAM, n) batch)
SLOW = [200, 2896]  # 3 s and > 400 s before the fix; ~0.01 s after


@pytest.fixture(scope="module")
def legacy():
    from layerinv.datasets import load_mnist_generator

    return load_mnist_generator("legacy")


def _instance(G, i):
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((STREAM, G.k))
    X = G(Z) + 1e-9 * rng.uniform(-1, 1, (STREAM, G.n))
    return Z[i], X[i]


def _top_system(G, x, monkeypatch):
    """The top layer's LP system as the exact pass builds it (captured at the interior point)."""
    seen = []
    real = kernels.ipm_linf

    def spy(system, **kw):
        seen.append(system)
        return real(system, **kw)

    monkeypatch.setattr(kernels, "ipm_linf", spy)
    invert(G, x, method="exact")
    monkeypatch.setattr(kernels, "ipm_linf", real)
    assert seen, "the exact pass no longer reaches the layer LP on this instance"
    return seen[0]


@pytest.mark.parametrize("i", SLOW)
def test_slow_stream_instances_are_exact_without_highs(legacy, i, monkeypatch):
    z, x = _instance(legacy, i)
    calls = []
    real = kernels.solve_lp
    monkeypatch.setattr(kernels, "solve_lp", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    res = invert(legacy, x, method="exact")
    assert res.status == "exact"
    assert rel(res.z, z) < TOL["z_exact"]
    assert np.max(np.abs(legacy(res.z) - x)) <= 1e-6 * np.max(np.abs(x))
    assert calls == []  # the interior point's certified answer suffices: HiGHS is not run


def test_highs_stops_on_its_iteration_budget(legacy, monkeypatch):
    """The LP HiGHS cycled on (51,000 iterations) now stops at its budget, status time_limit."""
    _, x = _instance(legacy, 200)
    system = _top_system(legacy, x, monkeypatch)
    h, sol, _ = kernels.highs_linf(system)
    m, n = 2 * len(system.E) + len(system.I), system.n_in + 1
    assert sol.status in ("optimal", "time_limit")
    assert sol.iterations <= iteration_budget(m, n)


def test_solve_lp_iteration_budget_gives_time_limit():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((200, 20))
    sol = solve_lp(np.ones(20), A, np.ones(200), np.full(20, -10.0), np.full(20, 10.0), iterations=3)
    assert sol.status == "time_limit" and sol.iterations <= 3
    full = solve_lp(np.ones(20), A, np.ones(200), np.full(20, -10.0), np.full(20, 10.0))
    assert full.status == "optimal"


def _failing_ipm(system, **kw):
    return LayerSolution(np.full(system.n_in, np.nan), "failed", np.inf, message="forced failure")


@pytest.mark.parametrize("i", SLOW)
def test_highs_out_of_budget_still_decides_exact_soundly(legacy, i, monkeypatch):
    """With the interior point failing, HiGHS runs out of its budget on these LPs (about a second); its
    unfinished point still meets the tolerance when recomputed, so the layer is exact (forward pass)."""
    z, x = _instance(legacy, i)
    monkeypatch.setattr(kernels, "ipm_linf", _failing_ipm)
    res = invert(legacy, x, method="exact")
    assert res.status == "exact"
    assert [r.path for r in res.layers if r.index == legacy.depth - 1] == ["lp"]  # HiGHS's unfinished point, not the least-squares fast path
    assert np.max(np.abs(legacy(res.z) - x)) <= 1e-6 * np.max(np.abs(x))


def test_out_of_budget_layer_lp_keeps_the_better_point(legacy, monkeypatch):
    """HiGHS stopping on its budget returns the interior point's h (better objective), status time_limit."""
    _, x = _instance(legacy, 200)
    system = _top_system(legacy, x, monkeypatch)
    real = kernels.ipm_linf

    def short_ipm(s, **kw):  # the interior point's answer, made to look unfinished (wide gap)
        out = real(s, **kw)
        out.bound = None
        out.lower = -np.inf
        return out

    monkeypatch.setattr(kernels, "ipm_linf", short_ipm)
    monkeypatch.setattr(kernels, "solve_lp", lambda *a, **kw: solve_lp(*a, **{**kw, "iterations": 5}))
    out = kernels.solve_layer_lp(system, "linf")
    assert out.status == "time_limit"
    assert np.all(np.isfinite(out.h)) and out.objective == system.value(out.h, "linf") < 1e-9
    exact = kernels.solve_exact(system, 1e-6)
    assert exact.status == "exact" and system.linf_value(exact.h) <= 1e-6
