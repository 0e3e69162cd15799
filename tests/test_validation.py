"""Bad input gets a clear error naming the argument, what was expected and what was received."""
import numpy as np
import pytest

from layerinv import ReLUNet, invert


@pytest.fixture
def G():
    return ReLUNet.random([4, 30, 784], rng=0)


@pytest.mark.parametrize("x, err, match", [
    (np.zeros((28, 28)), ValueError, r"x must have shape \(784,\) or \(batch, 784\) to match G's output; got \(28, 28\)"),
    (np.zeros(10), ValueError, r"got \(10,\)"),
    (np.zeros((2, 3, 784)), ValueError, r"x must be 1-D or 2-D; got shape \(2, 3, 784\)"),
    (np.full(784, np.nan), ValueError, "x must be finite; it has 784 NaN"),
    (np.r_[np.inf, np.zeros(783)], ValueError, "x must be finite"),
    (np.array(["a"] * 784), TypeError, "x must hold real numbers"),
    (np.zeros(784, dtype=complex), TypeError, "x must hold real numbers"),
])
def test_bad_x(G, x, err, match):
    with pytest.raises(err, match=match):
        invert(G, x)


def test_unknown_method_and_options(G):
    x = G(np.ones(4))
    with pytest.raises(ValueError, match=r"method must be one of .*'exact'.*got 'simplex'"):
        invert(G, x, method="simplex")
    with pytest.raises(TypeError, match=r"unknown option\(s\) 'tolerance'; valid options are: time_limit, tol"):
        invert(G, x, method="exact", tolerance=1e-3)
    with pytest.raises(TypeError, match="unknown option"):
        invert(G, x, method="linf", steps=10)
    with pytest.raises(TypeError, match="needs rng="):
        invert(G, x, method="gd")
    with pytest.raises(TypeError, match="rng must be an integer seed"):
        invert(G, x, method="gd", rng="abc")


@pytest.mark.parametrize("opts, match", [
    (dict(method="exact", tol=-1.0), r"The 'tol' option of invert\(method='exact'\) must be a finite real number > 0 and <= 1; got -1.0"),
    (dict(method="exact", tol=float("nan")), "'tol' option .* must be a finite real number > 0 and <= 1; got nan"),
    (dict(method="linf", eps=-0.1), r"'eps' option .* must be a finite real number >= 0 and <= 1e\+150, or None; got -0.1"),
    (dict(method="linf", gap_tol="big"), "'gap_tol' option .* must be a finite real number >= 0; got 'big'"),
    (dict(method="gd", rng=0, steps=0), "'steps' option .* must be an integer >= 1; got 0"),
    (dict(method="gd", rng=0, steps=2.5), "'steps' option .* must be an integer >= 1; got 2.5"),
    (dict(method="gd", rng=0, lr=0), "'lr' option .* must be a finite real number > 0; got 0"),
    (dict(method="gd", rng=0, init=np.ones(3)), r"init must have shape \(4,\)"),
    (dict(method="exact", time_limit=0), "'time_limit' option .* must be a finite real number > 0, or None; got 0"),
])
def test_bad_option_values(G, opts, match):
    x = G(np.ones(4))
    with pytest.raises((ValueError, TypeError), match=match):
        invert(G, x, **opts)


def test_G_must_be_a_relunet():
    with pytest.raises(TypeError, match="G must be a layerinv.ReLUNet"):
        invert(object(), np.zeros(3))


def test_int_and_float32_inputs_are_accepted(G):
    z = np.ones(4)
    x = G(z)
    r32 = invert(G, x.astype(np.float32), method="linf")
    assert r32.ok
    xi = np.round(x * 0).astype(int)  # all-zero integer x: in the range (z with every unit off may exist)
    res = invert(G, xi, method="auto")
    assert res.status in ("exact", "optimal")
