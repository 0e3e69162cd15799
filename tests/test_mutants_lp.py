"""Layer-LP paths that mutation testing found untested (docs/testing.md, "Mutation testing"): HiGHS
stopping on its time limit, and the hand-over from the interior point to HiGHS. Faults are injected
(a tiny time limit, an interior point that stops short, HiGHS relabelled as stopped early); every
answer must keep an honest status, a recomputed objective and a message."""
import numpy as np
import pytest

import layerinv.lp.kernels as kernels
from layerinv import ReLUNet
from layerinv.lp.ipm import ipm_linf
from layerinv.lp.kernels import highs_l1, highs_linf, solve_layer_lp
from layerinv.lp.system import build_system

TINY = 1e-6  # seconds: HiGHS stops on its clock before its first iteration (measured: status "time_limit", no x)


def _system(seed=0):
    """The top layer of a [10, 60, 150] net with a noisy target (about 0.05): E and I rows, h >= 0."""
    rng = np.random.default_rng(seed)
    G = ReLUNet.random([10, 60, 150], rng=rng)
    acts = G.forward(rng.standard_normal(G.k), all_layers=True)
    a = acts[2] + 0.05 * rng.uniform(-1.0, 1.0, acts[2].shape)
    return build_system(G.layers[1], a, 2 * max(-float(a.min()), 0.0), True)


@pytest.mark.parametrize("form", [highs_linf, highs_l1])
def test_highs_forms_honour_the_time_limit(form):
    system = _system()
    h, sol, _ = form(system, None, None)
    assert sol.status == "optimal" and h is not None
    h, sol, cands = form(system, None, TINY)
    assert sol.status == "time_limit" and h is None and cands == []


@pytest.mark.parametrize("norm", ["linf", "l1"])
def test_highs_stopping_without_a_point_is_an_honest_time_limit(monkeypatch, norm):
    """The interior point fails and HiGHS runs out of time before it has a point: status time_limit,
    h NaN, objective inf, and a message that says so."""

    class Failed:
        status, h, message, bound, steps, vertex = "failed", None, "injected: numerical trouble", None, 0, False

    monkeypatch.setattr(kernels, "ipm_linf", lambda system, h0=None: Failed())
    monkeypatch.setattr(kernels, "ipm_l1", lambda system, h0=None: Failed())
    out = solve_layer_lp(_system(), norm, time_limit=TINY)
    assert out.status == "time_limit"
    assert np.all(np.isnan(out.h)) and out.objective == np.inf and out.violation == np.inf
    assert "HiGHS stopped without a solution" in out.message and "injected" in out.message


def _short_ipm(system, shift, steps):
    """The real interior point's answer moved off its optimum by ``shift`` (a run stopped short)."""
    res = ipm_linf(system)

    class Short:
        status, message, vertex = "time_limit", "injected: stopped short", False
    Short.h, Short.bound, Short.steps = res.h + shift, res.bound, steps
    return Short()


def test_time_limited_highs_keeps_the_interior_points_answer(monkeypatch):
    """The interior point stops short (a finite h, a valid bound) and HiGHS then stops on its clock
    without a point: the interior point's h is returned as "time_limit" with its objective recomputed,
    its bound and its step count."""
    system = _system()
    short = _short_ipm(system, 0.05, 7)
    monkeypatch.setattr(kernels, "ipm_linf", lambda s, h0=None: short)
    out = solve_layer_lp(system, "linf", time_limit=TINY)
    assert out.status == "time_limit"
    np.testing.assert_array_equal(out.h, short.h)
    assert out.objective == system.value(short.h, "linf")
    assert out.lower == short.bound.value and out.bound is short.bound
    assert out.lower < out.objective and out.steps == 7
    assert "HiGHS stopped without a solution" in out.message


def test_time_limited_highs_with_a_better_point_replaces_the_interior_point(monkeypatch):
    """HiGHS stops early (status relabelled "time_limit") at a better point than the interior point's:
    its h is returned, still "time_limit", with 0 interior-point steps (the steps did not produce it)."""
    system = _system()
    short = _short_ipm(system, 0.05, 7)
    monkeypatch.setattr(kernels, "ipm_linf", lambda s, h0=None: short)
    real = kernels.solve_lp

    def stopped_early(*a, **k):
        sol = real(*a, **k)
        sol.status = "time_limit"
        return sol

    monkeypatch.setattr(kernels, "solve_lp", stopped_early)
    out = solve_layer_lp(system, "linf")
    assert out.status == "time_limit"
    assert out.objective == system.value(out.h, "linf") < system.value(short.h, "linf")
    assert out.steps == 0 and not out.vertex
    assert out.lower <= out.objective
    assert "stopped early" in out.message
