"""The dense interior-point LP solver (layerinv.lp.ipm) against HiGHS on planted layer systems.

Every answer is re-checked here: the objective is recomputed at h, h >= 0 where required, the
certified bound is recomputed from the multipliers with ``dual_bound`` and compared with an
independent solver (HiGHS through the current kernels).
"""
import numpy as np
import pytest

from layerinv import ReLUNet
from layerinv.lp.ipm import ipm_l1, ipm_linf
from layerinv.lp.kernels import highs_l1, highs_linf, lstsq
from layerinv.lp.system import LayerSystem, build_system, dual_bound

#: Tolerances of this file (the lead's TOL table has no LP entries).
IPM_TOL = {
    # certified gap value - lower must be within max(rel * value, abs * (1 + scale)) (the brief's bar)
    "gap_rel": 1e-8,
    "gap_abs": 1e-9,
    # HiGHS runs with feasibility tolerances 1e-9: its point may be worse than ours by that much
    "highs_abs": 1e-9,
    # a recomputed objective may sit below a rigorous lower bound by rounding only
    "rounding": 1e-13,
}

#: name: (ReLUNet.random arguments, layer index, whether the layer input is h >= 0).
SHAPES = {
    "top": (dict(dims=[8, 40, 120]), 1),            # E and I rows, h >= 0
    "bottom": (dict(dims=[10, 40, 120]), 0),        # E and I rows, h free (the latent)
    "tall": (dict(dims=[5, 30, 200]), 1),           # 200 rows x 30 columns, h >= 0
    "square": (dict(dims=[12, 30, 36]), 1),         # about as many equation rows as unknowns
    "no-ineq+": (dict(dims=[8, 40, 100], output_activation="identity"), 1),  # E rows only, h >= 0
    "no-ineq": (dict(dims=[10, 50, 100], activation=("leaky_relu", 0.2)), 0),  # E rows only, free
}
SOLVE = {"linf": (ipm_linf, highs_linf), "l1": (ipm_l1, highs_l1)}


def planted_system(shape, noise, seed):
    """The layer system of a random net for a planted latent; the layer's target gets uniform noise."""
    kwargs, li = SHAPES[shape]
    rng = np.random.default_rng(seed)
    G = ReLUNet.random(rng=rng, **kwargs)
    acts = G.forward(rng.standard_normal(G.k), all_layers=True)
    a = acts[li + 1] + noise * rng.uniform(-1.0, 1.0, acts[li + 1].shape)
    threshold = 2 * max(-float(a.min()), 0.0) if G.layers[li].activation.has_inactive_region else 0.0
    return build_system(G.layers[li], a, threshold, li > 0)


def gap_target(system, value):
    return max(IPM_TOL["gap_rel"] * value, IPM_TOL["gap_abs"] * (1 + system.scale))


def check_answer(system, res, norm):
    """Properties every answer must have, recomputed from the system."""
    assert res.h.shape == (system.n_in,) and np.all(np.isfinite(res.h))
    if system.nonneg:
        assert np.all(res.h >= 0.0)
    assert res.objective == system.value(res.h, norm)
    assert res.y_E.shape == system.c_E.shape and res.y_I.shape == system.c_I.shape
    assert np.all(res.y_I >= 0)
    bound = dual_bound(system, res.y_E, res.y_I, norm, res.radius)  # recomputed, not trusted
    assert bound.value == res.lower
    assert res.lower <= res.objective + IPM_TOL["rounding"] * (1 + system.scale)


@pytest.mark.parametrize("norm", ["linf", "l1"])
@pytest.mark.parametrize("noise", [0.0, 1e-3, 1e-1])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_agrees_with_highs(shape, noise, norm, seed):
    system = planted_system(shape, noise, seed)
    solve, lp = SOLVE[norm]
    res = solve(system)
    assert res.status == "optimal", res.message
    check_answer(system, res, norm)
    assert res.objective - res.lower <= gap_target(system, res.objective), res.message
    h_highs, sol, _ = lp(system)
    assert sol.status == "optimal"
    h_highs = np.maximum(h_highs, 0.0) if system.nonneg else h_highs
    v_highs = system.value(h_highs, norm)
    # not worse than HiGHS beyond HiGHS's own tolerance, and our bound holds for HiGHS's point
    assert res.objective <= v_highs + IPM_TOL["highs_abs"] * (1 + system.scale)
    assert np.max(np.abs(h_highs)) <= res.radius
    assert v_highs >= res.lower - IPM_TOL["rounding"] * (1 + system.scale)
    if noise == 0.0:  # the planted input fits exactly: the optimum is 0
        assert res.objective <= IPM_TOL["gap_abs"] * (1 + system.scale)


@pytest.mark.parametrize("norm", ["linf", "l1"])
def test_warm_start_from_least_squares(norm, seed):
    system = planted_system("top", 1e-3, seed)
    h_ls, _ = lstsq(system.M_E, system.c_E)
    cold = SOLVE[norm][0](system)
    warm = SOLVE[norm][0](system, h0=np.maximum(h_ls, 0.0))
    assert warm.status == cold.status == "optimal"
    check_answer(system, warm, norm)
    assert abs(warm.objective - cold.objective) <= gap_target(system, cold.objective)


@pytest.mark.parametrize("norm", ["linf", "l1"])
def test_iteration_limit_still_brackets_the_optimum(norm, seed):
    system = planted_system("tall", 1e-2, seed)
    res = SOLVE[norm][0](system, steps=0)  # the starting point only
    assert res.status == "time_limit"
    check_answer(system, res, norm)
    exact = SOLVE[norm][0](system)
    slack = IPM_TOL["rounding"] * (1 + system.scale)
    assert res.lower <= exact.objective + slack and exact.objective <= res.objective + slack


@pytest.mark.parametrize("norm", ["linf", "l1"])
def test_without_vertex_the_interior_point_is_close(norm, seed):
    system = planted_system("bottom", 1e-2, seed)
    res = SOLVE[norm][0](system, vertex=False, rel_gap=1e-9)
    assert not res.vertex and res.status in ("optimal", "time_limit")
    check_answer(system, res, norm)
    best = SOLVE[norm][0](system)
    assert res.objective - best.objective <= 1e-6 * best.objective


@pytest.mark.parametrize("norm", ["linf", "l1"])
def test_numerical_trouble_is_reported_not_raised(norm):
    system = planted_system("top", 1e-3, 0)
    system.c_E = system.c_E.copy()
    system.c_E[0] = np.nan
    res = SOLVE[norm][0](system)
    assert res.status == "failed" and "NaN" in res.message
    assert res.lower == -np.inf and np.all(np.isnan(res.h))


@pytest.mark.parametrize("norm", ["linf", "l1"])
@pytest.mark.parametrize("n_rows", [0, 3])
def test_degenerate_sizes(norm, n_rows, seed):
    rng = np.random.default_rng(seed)
    n = 0 if n_rows else 4  # no rows at all, or rows but no unknowns
    system = LayerSystem(rng.standard_normal((n_rows, n)), rng.standard_normal(n_rows), np.zeros((1, n)),
                         rng.standard_normal(1), np.arange(n_rows), np.arange(1), True)
    res = SOLVE[norm][0](system)
    assert res.status == "optimal"
    check_answer(system, res, norm)
    assert res.objective - res.lower <= gap_target(system, res.objective)


def test_non_finite_warm_start_is_a_cold_start():
    system = planted_system("top", 1e-3, 0)
    cold = ipm_linf(system)
    warm = ipm_linf(system, h0=np.full(system.n_in, np.nan))
    assert warm.status == "optimal" and warm.objective == cold.objective


@pytest.mark.slow
@pytest.mark.parametrize("norm", ["linf", "l1"])
@pytest.mark.parametrize("noise", [1e-6, 1e-3, 1e-1])
def test_paper_size_agrees_with_highs(noise, norm, seed):
    rng = np.random.default_rng(seed)
    G = ReLUNet.random([100, 250, 600], rng)
    x = G(rng.standard_normal(100)) + noise * rng.uniform(-1, 1, 600)
    system = build_system(G.layers[1], x, 2 * max(-x.min(), 0.0), True)
    res = SOLVE[norm][0](system)
    assert res.status == "optimal", res.message
    check_answer(system, res, norm)
    h_highs, _, _ = SOLVE[norm][1](system)
    v_highs = system.value(np.maximum(h_highs, 0.0), norm)
    assert res.objective <= v_highs + IPM_TOL["highs_abs"] * (1 + system.scale)
    assert v_highs >= res.lower - IPM_TOL["rounding"] * (1 + system.scale)
    assert res.objective - res.lower <= gap_target(system, res.objective)


def test_every_kernel_status_is_documented(seed):
    from layerinv.lp.kernels import solve_exact, solve_l1, solve_linf
    from layerinv.lp.solution import LAYER_STATUSES

    seen = set()
    for noise in (0.0, 1e-3, 1e-1):
        system = planted_system("top", noise, seed)
        seen |= {solve_exact(system, 1e-6).status, solve_linf(system).status, solve_l1(system, gap_tol=1.0).status,
                 solve_linf(system, eps=1e-4).status, solve_l1(system, eps=10.0).status}
    assert {"exact", "infeasible", "optimal", "bracket", "feasible"} <= seen <= set(LAYER_STATUSES)


# ------------------------------------------------------------- the bounds on hand-made systems
# (mutation testing of lp/, docs/testing.md: each case has its optimum known in closed form)
def _one_row(m, c, nonneg):
    """Equation rows ``M h ~ c`` only (no inequality row)."""
    m = np.asarray(m, dtype=float)
    return LayerSystem(m, np.asarray(c, dtype=float), np.zeros((0, m.shape[1])), np.zeros(0),
                       np.arange(m.shape[0]), np.arange(0), nonneg)


def test_l1_dual_bound_clips_multipliers_and_stays_below_the_optimum_in_its_box():
    # min |h - 1| over |h| <= 0.5 is 0.5; an unclipped multiplier y = -2 would claim 1.0
    system = _one_row([[1.0]], [1.0], False)
    bd = dual_bound(system, np.array([-2.0]), np.zeros(0), "l1", 0.5)
    assert bd.radius == 0.5 and np.all(np.abs(bd.y_E) <= 1.0)
    assert 0.5 - 1e-12 <= bd.value <= 0.5


def test_dual_bound_without_slack_is_the_exact_optimum():
    # h >= 0, min |h + 1| = 1 at h = 0; y = 1 gives g = 1 >= 0 (no slack): the bound holds for every h
    system = _one_row([[1.0]], [-1.0], True)
    for norm in ("linf", "l1"):
        bd = dual_bound(system, np.array([1.0]), np.zeros(0), norm)
        assert bd.radius == np.inf
        assert 1.0 - 1e-12 <= bd.value <= 1.0


def test_l1_residual_bound_is_the_squared_residual_over_its_largest_entry():
    # M = 0: h cannot change the residual r = c = (1, 2); the l1 optimum is 3, the bound of NOTES.md
    # ||r||^2 / ||r||_inf = 2.5 (ℓ∞: optimum 2, bound ||r||^2 / ||r||_1 = 5/3), less the 1% that
    # radius=None spends on the box
    from layerinv.lp.system import residual_bound
    system = _one_row(np.zeros((2, 1)), [1.0, 2.0], False)
    r = np.array([1.0, 2.0])
    l1 = residual_bound(system, r, "l1")
    assert 2.5 * 0.99 * (1 - 1e-9) <= l1.value <= 3.0
    linf = residual_bound(system, r, "linf")
    assert 5 / 3 * 0.99 * (1 - 1e-9) <= linf.value <= 2.0


def test_exact_solution_of_a_full_rank_system_is_unique():
    from layerinv.lp.kernels import solve_exact
    rng = np.random.default_rng(3)
    m = rng.standard_normal((12, 4))
    h_true = rng.standard_normal(4)
    system = _one_row(m, m @ h_true, False)
    out = solve_exact(system, 1e-8)
    assert out.status == "exact" and out.unique
    assert np.max(np.abs(out.h - h_true)) <= 1e-10


@pytest.mark.parametrize("norm", ["linf", "l1"])
def test_least_squares_bracket_covers_its_own_point(norm):
    # a full-rank system with noise: the least-squares point and its residual bound form the bracket;
    # the bound must hold in a box that contains the point it brackets (kernels._radius_covering)
    from layerinv.lp.kernels import solve_l1, solve_linf
    rng = np.random.default_rng(5)
    m = rng.standard_normal((20, 4))
    h_true = 3.0 * rng.standard_normal(4)
    system = _one_row(m, m @ h_true + 1e-3 * rng.standard_normal(20), False)
    out = (solve_linf if norm == "linf" else solve_l1)(system, gap_tol=1.0)
    assert out.status == "bracket" and out.path == "lstsq"
    assert out.bound.radius >= np.max(np.abs(out.h))
    assert 0.0 < out.lower <= out.objective <= out.lower + 1.0
    # and such a box costs next to nothing: the bound is the one of NOTES.md, not 1% below it
    r = system.c_E - m @ np.linalg.lstsq(m, system.c_E, rcond=None)[0]
    notes = r @ r / (np.sum(np.abs(r)) if norm == "linf" else np.max(np.abs(r)))
    assert out.lower >= (1 - 1e-6) * notes
