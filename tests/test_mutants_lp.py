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


# ------------------------------------------------------------- HiGHS as the only solver (the interior point fails)
class _Failed:
    status, h, message, bound, steps, vertex = "failed", None, "injected: numerical trouble", None, 0, False


@pytest.fixture
def highs_only(monkeypatch):
    """The interior point fails on every call: every layer LP is HiGHS's (through _highs_layer_lp)."""
    monkeypatch.setattr(kernels, "ipm_linf", lambda system, h0=None: _Failed())
    monkeypatch.setattr(kernels, "ipm_l1", lambda system, h0=None: _Failed())


def _reference(system, norm):
    """The interior point's verified optimum (objective, certified lower bound), computed before any fault."""
    out = solve_layer_lp(system, norm)
    assert out.status == "optimal"
    return out.objective, out.lower


@pytest.mark.parametrize("norm", ["linf", "l1"])
@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_highs_path_finds_the_optimum_with_a_tight_certified_bound(monkeypatch, norm, scale):
    """Via HiGHS alone the layer LP has the interior point's optimum, a certified lower bound below it by at
    most the 1% that dual_bound's radius choice spends, and status optimal, also when the target is large."""
    system = _system(1)
    system = build_system_like(system, scale)
    value, lower = _reference(system, norm)
    monkeypatch.setattr(kernels, "ipm_linf", lambda s, h0=None: _Failed())
    monkeypatch.setattr(kernels, "ipm_l1", lambda s, h0=None: _Failed())
    out = solve_layer_lp(system, norm)
    assert out.status == "optimal", out.message
    assert out.objective == system.value(out.h, norm)
    assert abs(out.objective - value) <= 1e-7 * (1 + value)
    assert 0.985 * out.objective <= out.lower <= out.objective
    assert np.all(out.h >= 0.0)


def build_system_like(system, scale):
    """The same rows with the target (c) scaled: the optimum scales with it."""
    from layerinv.lp.system import LayerSystem
    return LayerSystem(system.M_E, scale * system.c_E, system.M_I, scale * system.c_I, system.E, system.I,
                       system.nonneg)


@pytest.mark.parametrize("norm", ["linf", "l1"])
def test_highs_budget_form_says_feasible_and_infeasible_correctly(highs_only, norm):
    """With a budget, HiGHS's feasibility form: a budget 10% above the optimum is met (status feasible, the
    recomputed objective within it), one 10% below is not (status infeasible, a certified bound above it)."""
    system = _system(2)
    value = _reference_value(system, norm)
    ok = solve_layer_lp(system, norm, budget=1.1 * value)
    assert ok.status == "feasible", ok.message
    assert system.value(ok.h, norm) <= 1.1 * value * (1 + 1e-9)
    bad = kernels._solve_noisy(system, norm, 0.9 * value, 0.0, None, 1e-9)
    assert bad.status == "infeasible", bad.message
    assert bad.lower > 0.9 * value


def _reference_value(system, norm):
    """The optimum from HiGHS directly (no kernel logic): the objective recomputed at its point."""
    h, sol, _ = (highs_linf if norm == "linf" else highs_l1)(system, None, None)
    assert sol.status == "optimal"
    return system.value(np.maximum(h, 0.0), norm)


def test_exact_kernel_honours_its_time_limit(highs_only):
    """solve_exact passes its time_limit to the LP: with HiGHS unable to start, an undecided layer is
    "time_limit" (never "exact", "infeasible" or "failed")."""
    from layerinv.lp.kernels import solve_exact
    system = _system(3)
    value = _reference_value(system, "linf")
    out = solve_exact(system, 0.5 * value, time_limit=TINY)
    assert out.status == "time_limit", out.message
    full = solve_exact(system, 0.5 * value)
    assert full.status == "infeasible" and full.lower > 0.5 * value


def test_noisy_kernel_reports_its_own_seconds():
    """LayerSolution.seconds is the kernel's wall time (a few ms here), not a clock reading."""
    from layerinv.lp.kernels import solve_l1, solve_linf
    system = _system(4)
    for kernel in (solve_linf, solve_l1):
        out = kernel(system, gap_tol=0.0)
        assert 0.0 <= out.seconds < 60.0


def test_interior_point_feasible_answer_carries_its_bound(monkeypatch):
    """A budget met by the interior point (not by the least-squares point): status feasible, and its
    lower bound comes with the multipliers behind it (bound.value == lower)."""
    from layerinv.lp.kernels import solve_linf
    system = _system(5)
    value = _reference_value(system, "linf")
    eps = 1.05 * value
    out = solve_linf(system, eps=eps)
    assert out.status == "feasible" and out.path == "lp", out.message
    assert out.bound is not None and out.bound.value == out.lower


def test_relu_layer_system_keeps_its_sign_constraint():
    """The system of a ReLU layer whose input is a ReLU output (nonneg=True) keeps h >= 0: the kernels'
    points are nonnegative although the unconstrained least-squares point is not."""
    from layerinv.lp.kernels import solve_linf
    system = _system(6)
    assert system.nonneg is True
    h_free = np.linalg.lstsq(system.M_E, system.c_E, rcond=None)[0]
    assert np.min(h_free) < 0.0  # the constraint matters on this instance
    assert np.all(solve_linf(system, gap_tol=0.0).h >= 0.0)


def test_full_rank_tells_full_from_deficient_columns():
    from layerinv.lp.kernels import full_rank
    rng = np.random.default_rng(7)
    M = rng.standard_normal((12, 4))
    assert full_rank(M) and full_rank(np.zeros((3, 0)))
    assert not full_rank(M[:3])                         # fewer rows than columns
    assert not full_rank(np.column_stack([M, M[:, 0]]))  # a repeated column
    assert not full_rank(np.column_stack([M[:, :3], 1e-7 * M[:, 3]]) * [1, 1, 1, 0])


@pytest.mark.parametrize("norm", ["linf", "l1"])
def test_highs_objective_is_trusted_only_within_its_feasibility_tolerance(highs_only, norm):
    """HiGHS's objective may sit below our recomputation by its feasibility tolerance (feas_tol relative to
    the system's scale, times the summed rows for l1): such an answer is optimal; one claiming 3x that
    much below is refuted (status failed). The target is scaled by 30 so the scale matters."""
    system = build_system_like(_system(8), 30.0)
    nsum = 1 + (system.M_E.shape[0] if norm == "l1" else 0)
    allowance = 1e-9 * (1.0 + system.scale) * nsum
    real = kernels.solve_lp
    for shift, status in ((0.5 * allowance, "optimal"), (3.0 * allowance, "failed")):
        def shifted(*a, **k):
            sol = real(*a, **k)
            sol.objective -= shift
            return sol
        kernels.solve_lp = shifted
        try:
            out = solve_layer_lp(system, norm)
        finally:
            kernels.solve_lp = real
        assert out.status == status, (shift, out.message)


def test_exact_kernel_with_an_undecided_gap_says_failed(highs_only):
    """Via HiGHS the certified bound is about 1% below the optimum (dual_bound's radius choice). A tolerance
    inside that gap is decided neither way: status failed (not exact, not infeasible), and the message says
    the bound does not certify."""
    from layerinv.lp.kernels import solve_exact
    system = _system(3)
    value = _reference_value(system, "linf")
    out = solve_exact(system, 0.9995 * value)
    assert out.lower < 0.9995 * value < out.objective
    assert out.status == "failed" and "does not certify infeasibility" in out.message


def test_least_squares_answers_carry_their_path_bound_and_floor():
    """The fast path's answers: a met budget (status feasible, no bound: lower -inf) and a proved-infeasible
    exact layer (a residual bound) both say path "lstsq" and carry the noise floor."""
    from layerinv.lp.kernels import solve_exact, solve_linf
    from layerinv.lp.system import LayerSystem
    rng = np.random.default_rng(9)
    m = rng.standard_normal((20, 4))
    system = LayerSystem(m, m @ rng.standard_normal(4) + 1e-3 * rng.standard_normal(20), np.zeros((0, 4)),
                         np.zeros(0), np.arange(20), np.arange(0), False)
    ok = solve_linf(system, eps=1.0)
    assert ok.status == "feasible" and ok.path == "lstsq" and ok.lower == -np.inf and ok.bound is None
    assert "floor" in ok.extra and ok.violation == 0.0
    bad = solve_exact(system, 1e-9)
    assert bad.status == "infeasible" and bad.path == "lstsq" and bad.bound is not None and bad.lower > 1e-9
    # the least-squares bound of NOTES.md, ||r||^2 / ||r||_1, in a box covering the point (no 1% radius cost)
    r = system.c_E - system.M_E @ bad.h
    assert bad.bound.radius >= np.max(np.abs(bad.h))
    assert bad.lower >= (1 - 1e-6) * float(r @ r) / float(np.sum(np.abs(r)))


def test_interior_point_answer_is_kept_when_its_gap_is_closed():
    """A layer LP the interior point solves (certified gap closed) is its answer: steps > 0, no HiGHS call."""
    out = solve_layer_lp(_system(0), "linf")
    assert out.status == "optimal" and out.steps > 0 and "HiGHS" not in out.message


def test_identity_layer_system_keeps_its_sign_constraint():
    """An identity output layer fed by ReLU units (nonneg=True): its all-equation system keeps h >= 0."""
    from layerinv.lp.kernels import solve_linf
    from layerinv.lp.system import build_system
    rng = np.random.default_rng(10)
    G = ReLUNet.random([3, 12, 30], rng=rng, output_activation="identity")
    a = G(rng.standard_normal(3)) + 0.05 * rng.standard_normal(30)
    system = build_system(G.layers[1], a, 0.0, True)
    assert system.nonneg is True
    assert np.all(solve_linf(system, gap_tol=0.0).h >= 0.0)


def test_linf_dual_bound_is_normalised_by_the_multipliers():
    """M = 0, c = (1, 2): every h has ||M h - c||_inf = 2. Multipliers (0, -3) give the bound 2 (after dividing
    by ||y||_1 = 3, less rounding), never more; the bound records its norm. A zero residual bounds nothing."""
    from layerinv.lp.system import LayerSystem, dual_bound, residual_bound
    system = LayerSystem(np.zeros((2, 1)), np.array([1.0, 2.0]), np.zeros((0, 1)), np.zeros(0), np.arange(2),
                         np.arange(0), False)
    bd = dual_bound(system, np.array([0.0, -3.0]), np.zeros(0), "linf", 1.0)
    assert 2.0 * (1 - 1e-12) <= bd.value <= 2.0 and bd.norm == "linf"
    zero = residual_bound(system, np.zeros(2), "linf")
    assert zero.value == 0.0 and zero.radius == np.inf and zero.y_I.shape == (0,) and zero.norm == "linf"


def test_assigning_a_block_of_a_row_built_system_updates_it():
    """LayerSystem.from_rows keeps the full rows lazily; assigning one block (c_E here) must keep every other
    block as it was and make value() use the new one (no stale full rows)."""
    ref = _system(11)
    M_E, c_E, M_I, c_I = (np.array(b) for b in (ref.M_E, ref.c_E, ref.M_I, ref.c_I))
    h = np.abs(np.random.default_rng(11).standard_normal(ref.n_in))
    system = _system(11)  # the same system, no block read before the assignment
    system.c_E = c_E + 1.0
    np.testing.assert_array_equal(system.M_I, M_I)
    np.testing.assert_array_equal(system.c_I, c_I)
    np.testing.assert_array_equal(system.M_E, M_E)
    expected = max(float(np.max(np.abs(M_E @ h - (c_E + 1.0)))), float(np.max(M_I @ h - c_I, initial=0.0)), 0.0)
    assert system.value(h, "linf") == pytest.approx(expected, rel=1e-12)
