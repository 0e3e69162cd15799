"""Activations carry their maths: forward, derivative, inverse, range and the inactive region agree."""
import numpy as np
import pytest

from layerinv.activations import NAMES, Activation

ACTS = [Activation.parse(a) for a in ["relu", ("leaky_relu", 0.2), "identity", "sigmoid", "tanh"]]


@pytest.mark.parametrize("act", ACTS, ids=lambda a: a.name)
def test_derivative_matches_finite_differences(act):
    u = np.random.default_rng(0).uniform(-3, 3, 200)
    u = u[np.abs(u) > 1e-3]  # away from the kink
    fd = (act(u + 1e-6) - act(u - 1e-6)) / 2e-6
    assert np.allclose(act.derivative(u), fd, atol=1e-6)


@pytest.mark.parametrize("act", ACTS, ids=lambda a: a.name)
def test_inverse_and_linearisation_on_the_range(act):
    u = np.random.default_rng(1).uniform(-3, 3, 200)
    if act.has_inactive_region:
        u = u[u > 0]  # only the active part is invertible
    x = act(u)
    assert np.allclose(act.inverse(x), u, atol=1e-8)
    uu, d = act.linearise(x)
    assert np.allclose(uu, u, atol=1e-8) and np.allclose(d, act.derivative(u), atol=1e-8)


@pytest.mark.parametrize("act", ACTS, ids=lambda a: a.name)
def test_range_and_intervals(act):
    lo, hi = act.range
    u = np.linspace(-5, 5, 101)
    x = act(u)
    assert np.all(x >= lo) and np.all(x <= hi)
    assert act.outside_range(x, 0.0).size == 0
    assert act.nonnegative == (lo >= 0)
    a, b = act.interval(u[:-1], u[1:])
    assert np.all(a <= b)
    ul, uh, empty = act.inverse_interval(x - 1e-3, x + 1e-3)
    assert not empty.any() and np.all((ul <= u + 1e-9) & (u - 1e-9 <= uh))
    if np.isfinite(lo):
        assert act.outside_range(np.array([lo - 1.0]), 0.5).tolist() == [0]


def test_kinds():
    kinds = {a.name: (a.piecewise_linear, a.kinked, a.has_inactive_region, a.hidden_ok) for a in ACTS}
    assert kinds == {"relu": (True, True, True, True), "leaky_relu": (True, True, False, True),
                     "identity": (True, False, False, False), "sigmoid": (False, False, False, False),
                     "tanh": (False, False, False, False)}
    assert sorted(kinds) == sorted(NAMES)
    relu, leaky = ACTS[0], ACTS[1]
    assert relu.negative_slope == 0.0 and leaky.negative_slope == 0.2
    x = np.array([-1.0, 0.0, 0.05, 1.0])
    assert relu.undetermined(x, 0.1).tolist() == [True, True, True, False]
    assert leaky.undetermined(x, 0.1).tolist() == [False, True, True, False]
    assert not ACTS[3].undetermined(x, 0.1).any()


def test_parse_and_records():
    for act in ACTS:
        assert Activation.parse(act.spec()) == act
        assert Activation.from_record(act.name, act.slope) == act
    with pytest.raises(ValueError, match="last layer only"):
        Activation.parse("sigmoid", "activations[0]", last=False)
    with pytest.raises(ValueError, match="slope must be a number in"):
        Activation.parse(("leaky_relu", 2.0))
