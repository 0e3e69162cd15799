"""The maths of every activation as laws on planted pre-activations u (x = act(u)): inverse, slope,
equation rows, interval inverse, range tests, flags. Written to kill the mutants of
layerinv/activations.py the rest of the suite let survive (docs/testing.md)."""
import numpy as np
import pytest

from layerinv.activations import Activation

ACTS = [Activation.parse(s) for s in ("relu", ("leaky_relu", 0.2), "identity", "sigmoid", "tanh")]
IDS = [a.name for a in ACTS]
U = np.array([-3.0, -1.2, -0.4, 0.3, 0.9, 2.5])  # no kink, moderate for sigmoid / tanh

#: name -> piecewise_linear, kinked, is_identity, has_inactive_region, hidden_ok, nonnegative, negative_slope
FLAGS = {"relu": (True, True, False, True, True, True, 0.0),
         "leaky_relu": (True, True, False, False, True, False, 0.2),
         "identity": (True, False, True, False, False, False, 0.0),
         "sigmoid": (False, False, False, False, False, True, 0.0),
         "tanh": (False, False, False, False, False, False, 0.0)}


@pytest.mark.parametrize("act", ACTS, ids=IDS)
def test_flags(act):
    got = (act.piecewise_linear, act.kinked, act.is_identity, act.has_inactive_region, act.hidden_ok,
           act.nonnegative, act.negative_slope)
    assert got == FLAGS[act.name]


@pytest.mark.parametrize("act", ACTS, ids=IDS)
def test_inverse_and_linearise_recover_u_and_the_slope(act):
    x = act(U)
    u = U if not act.has_inactive_region else np.where(U > 0, U, x)  # ReLU: only the active part
    np.testing.assert_allclose(act.inverse(x), u, rtol=1e-9, atol=1e-12)
    lu, d = act.linearise(x)
    np.testing.assert_allclose(lu, act.inverse(x), rtol=1e-12, atol=0)
    if not act.has_inactive_region:
        np.testing.assert_allclose(d, act.derivative(U), rtol=1e-9)


@pytest.mark.parametrize("act", ACTS, ids=IDS)
def test_derivative_matches_finite_differences_and_conventions_at_zero(act):
    h = 1e-6
    num = (act(U + h) - act(U - h)) / (2 * h)
    np.testing.assert_allclose(act.derivative(U), num, rtol=1e-6, atol=1e-9)
    at0 = float(act.derivative(np.array(0.0)))
    assert at0 == {"relu": 0.0, "leaky_relu": 1.0, "identity": 1.0, "sigmoid": 0.25, "tanh": 1.0}[act.name]


@pytest.mark.parametrize("act", ACTS, ids=IDS)
def test_equation_rows_are_the_pre_activation_in_output_units(act):
    """For x = act(u), u = W h + b: the row d * (W h) = c holds, i.e. c = d (u - b) (d = 1 when None)."""
    b = np.linspace(-0.5, 0.5, U.size)
    u = U[U > 0] if act.has_inactive_region else U
    bb = b[: u.size]
    d, c = act.equation_rows(act(u), bb)
    scale = np.ones_like(u) if d is None else d
    if act.name in ("relu", "identity"):
        assert d is None
    else:
        np.testing.assert_allclose(d, act.derivative(u), rtol=1e-9)
    np.testing.assert_allclose(c, scale * (u - bb), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("act", ACTS, ids=IDS)
def test_inverse_interval_of_an_image_is_the_interval(act):
    ul, uh = np.array([-2.0, -1.0, 0.2, -0.5]), np.array([-1.5, 0.5, 1.5, 2.0])
    lo, hi = act.interval(ul, uh)
    np.testing.assert_array_equal(lo, act(ul))
    np.testing.assert_array_equal(hi, act(uh))
    gl, gh, empty = act.inverse_interval(lo, hi)
    assert not empty.any()
    if act.has_inactive_region:  # an output 0 pins nothing below
        np.testing.assert_allclose(gl, np.where(ul > 0, ul, -np.inf))
        np.testing.assert_allclose(gh, np.where(uh > 0, uh, 0.0))
    else:
        np.testing.assert_allclose(gl, ul, rtol=1e-9)
        np.testing.assert_allclose(gh, uh, rtol=1e-9)


def test_inverse_interval_edges_of_the_range():
    relu, sig, tanh = Activation.parse("relu"), Activation.parse("sigmoid"), Activation.parse("tanh")
    lo, hi, empty = relu.inverse_interval(np.array([-2.0, -1.0]), np.array([-1.0, 3.0]))
    np.testing.assert_array_equal(empty, [True, False])
    assert lo[1] == -np.inf and hi[1] == 3.0
    for act, (a, b) in ((sig, (0.0, 1.0)), (tanh, (-1.0, 1.0))):
        lo = np.array([a - 1, a, a - 0.5, b, b + 0.1, a + 0.25 * (b - a)])
        hi = np.array([a - 0.5, b, b + 1, b + 1, b + 1, a + 0.75 * (b - a)])
        gl, gh, empty = act.inverse_interval(lo, hi)
        np.testing.assert_array_equal(empty, [True, False, False, True, True, False])
        assert gl[1] == -np.inf and gh[1] == np.inf and gl[2] == -np.inf and gh[2] == np.inf
        np.testing.assert_allclose(act(np.array([gl[5], gh[5]])), [lo[5], hi[5]], rtol=1e-12)
    lk = Activation.parse(("leaky_relu", 0.5))
    gl, gh, empty = lk.inverse_interval(np.array([-1.0, 0.0]), np.array([-0.5, 2.0]))
    np.testing.assert_array_equal(gl, [-2.0, 0.0])
    np.testing.assert_array_equal(gh, [-1.0, 2.0])
    assert not empty.any()
    gl, gh, empty = Activation.parse("identity").inverse_interval(np.array([-1.0]), np.array([2.0]))
    assert gl[0] == -1.0 and gh[0] == 2.0 and not empty.any()


def test_outside_range_and_undetermined():
    d = 0.1
    relu, lk = Activation.parse("relu"), Activation.parse(("leaky_relu", 0.2))
    sig, tanh, ide = Activation.parse("sigmoid"), Activation.parse("tanh"), Activation.parse("identity")
    x = np.array([-0.2, -0.1, -0.05, 0.0, 0.05, 0.1, 0.5, 1.0, 1.05, 1.1, 1.2])
    np.testing.assert_array_equal(relu.outside_range(x, d), [0])  # closed at 0: -0.1 is within tol
    np.testing.assert_array_equal(sig.outside_range(x, d), [0, 1, 9, 10])  # open: the ends are outside
    np.testing.assert_array_equal(tanh.outside_range(x - 2.0, d), np.flatnonzero(x - 2.0 <= -1.1))
    assert ide.outside_range(x, d).size == 0 and lk.outside_range(x, d).size == 0
    np.testing.assert_array_equal(relu.undetermined(x, d), x <= d)
    np.testing.assert_array_equal(lk.undetermined(x, d), np.abs(x) <= d)
    for act in (sig, tanh, ide):
        assert act.undetermined(x, d).shape == x.shape and not act.undetermined(x, d).any()


@pytest.mark.parametrize("act", ACTS, ids=IDS)
def test_torch_forward_matches_numpy(act):
    torch = pytest.importorskip("torch")
    u = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(act.torch(torch.tensor(u, dtype=torch.float64)).numpy(), act(u), rtol=1e-14, atol=1e-15)


def test_parse_and_from_record():
    assert Activation.parse(("leaky_relu", 0.3)) == Activation("leaky_relu", 0.3)
    assert Activation.parse(["leaky_relu", 0.3]).slope == 0.3
    assert Activation.parse(Activation.parse(("leaky_relu", 0.3))).slope == 0.3
    assert Activation.from_record("leaky_relu", 0.25) == Activation("leaky_relu", 0.25)
    assert Activation.from_record("relu", 0.0) == Activation("relu")
    assert Activation.from_record("tanh", 0.0, last=True).name == "tanh"
    with pytest.raises(ValueError, match="layer 0"):
        Activation.from_record("tanh", 0.0, "layer 0", last=False)
    for bad in (("leaky_relu", 0.0), ("leaky_relu", 1.0), ("leaky_relu", True), ("leaky_relu", "0.1")):
        with pytest.raises(ValueError, match="slope"):
            Activation.parse(bad, "act")
    for bad in ("leaky_relu", "sigmoid_", ("relu", 0.1), ("leaky_relu",), 3):
        with pytest.raises(ValueError, match="^act must be one of"):
            Activation.parse(bad, "act")
    with pytest.raises(ValueError, match="last layer only"):
        Activation.parse("sigmoid", "act", last=False)
    assert Activation.parse("relu", "act", last=False).name == "relu"
    assert Activation.parse(("leaky_relu", 0.1), "act", last=False).spec() == ("leaky_relu", 0.1)
    assert Activation.parse("tanh").spec() == "tanh"


def test_conventions_at_zero_and_at_the_ends_of_open_ranges():
    lk = Activation.parse(("leaky_relu", 0.2))
    u, d = lk.linearise(np.array([0.0, -1.0]))
    np.testing.assert_array_equal(d, [1.0, 0.2])  # slope 1 at 0, as derivative(0)
    d, c = lk.equation_rows(np.array([0.0, -1.0]), np.array([2.0, 2.0]))
    np.testing.assert_array_equal(d, [1.0, 0.2])
    np.testing.assert_array_equal(c, [-2.0, -1.4])
    for name, (a, b) in (("sigmoid", (0.0, 1.0)), ("tanh", (-1.0, 1.0))):
        act = Activation.parse(name)
        ends = np.array([a - 0.5, a, b, b + 0.5])
        inv = act.inverse(ends)
        lu, dd = act.linearise(ends)
        assert np.all(np.isfinite(inv)) and np.all(np.isfinite(lu)) and np.all(dd > 0)
        np.testing.assert_array_equal(inv, lu)
        assert inv[0] == inv[1] < 0 and inv[2] == inv[3] > 0  # clipped just inside the range
        assert abs(act(inv[1]) - a) < 1e-11 and abs(act(inv[2]) - b) < 1e-11
        gl, gh, empty = act.inverse_interval(np.array([a - 1.0]), np.array([a]))  # touches the open end only
        assert empty[0]


def test_masks_and_slopes_have_the_input_shape():
    x = np.array([[0.5, -0.5, 0.0]])
    for act in ACTS:
        m = act.undetermined(x, 0.1)
        assert m.dtype == bool and m.shape == x.shape
        u, d = act.linearise(np.abs(x) * 0.5)
        assert np.shape(d) == x.shape
        gl, gh, empty = act.inverse_interval(x - 1.0, x)
        assert empty.shape == x.shape and empty.dtype == bool
