"""Known limits of the verdicts, found by a sceptical review at the end of the round (issue 10).

Each test states the promise (docs/verdicts.md) and a planted counterexample that breaks it today;
``xfail(strict=True)``, so a fix turns the test into an error until the mark is removed.
"""
import pathlib

import numpy as np
import pytest

from layerinv import ReLUNet, invert

DATA = pathlib.Path(__file__).parent / "data"


def test_no_false_infeasible_when_the_certificate_radius_is_small():
    rng = np.random.default_rng(22)
    sc = 10 ** rng.uniform(1, 3)
    rng.integers(4, 16)
    rng.integers(10, 40)
    W1, b1 = sc * rng.standard_normal((11, 2)), sc * rng.standard_normal(11)
    W2 = rng.standard_normal((15, 11))
    W2 /= np.linalg.norm(W2, 2)
    G = ReLUNet([W1, W2], [b1, rng.standard_normal(15)], [("leaky_relu", 0.1), "tanh"])
    z = 0.05 * rng.standard_normal(2)
    x0, tol = G(z), 1e-9
    x = x0 + rng.uniform(-0.9, 0.9, 15) * tol * np.max(np.abs(x0))
    assert np.max(np.abs(G(z) - x)) <= tol * np.max(np.abs(x))  # z* fits within the tolerance
    assert invert(G, x, method="exact", tol=tol).status != "infeasible"


def test_auto_no_false_infeasible_from_the_milp():
    """Found by the review: at tol 1e-9 the claim's tolerance (6.8e-12) is far below HiGHS's absolute
    feasibility tolerance, and auto passed on HiGHS's 'infeasible' with z* inside the box."""
    d = np.load(DATA / "known_limit_auto_box.npz")
    G = ReLUNet([d["W0"], d["W1"]], None, [("leaky_relu", 0.1), "identity"])
    x, z, tol = d["x"], d["z"], float(d["tol"])
    assert np.max(np.abs(G(z) - x)) <= tol * np.max(np.abs(x))
    assert invert(G, x, method="auto", tol=tol).status != "infeasible"


def test_exact_at_tiny_scale_fits_within_tol():
    """Found by the review: at x ~ 1e-300 a 1e-300 floor in the final check accepted G(z) = 0."""
    G = ReLUNet.random([3, 10, 20], rng=1)
    x = G(np.random.default_rng(1001).standard_normal(3)) * 1e-300
    r = invert(G, x, method="exact", tol=0.5)
    assert r.status != "exact" or np.max(np.abs(G(r.z) - x)) <= 0.5 * np.max(np.abs(x))


@pytest.mark.parametrize("method", ["exact", "auto", "milp"])
def test_zero_layer_gives_a_status_not_a_traceback(method):
    """Found by the review: an all-zero weight layer made the MILP's rescaling divide by zero."""
    rng = np.random.default_rng(0)
    G = ReLUNet([rng.standard_normal((8, 2)), np.zeros((1, 8)), rng.standard_normal((20, 1))],
                [rng.standard_normal(8), np.ones(1), rng.standard_normal(20)], ["relu", "relu", "identity"])
    x = G(rng.standard_normal(2))
    assert invert(G, x, method=method).status in ("exact", "inconclusive", "failed", "time_limit")
