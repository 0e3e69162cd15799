"""The layer-wise driver's observable contract beyond recovery: its per-layer records, l1 versus linf,
observed rows (inpainting), leaky and non-ReLU layers, the whole-call time limit. Black box (public
invert / recover and the records they return); written to kill mutants of layerinv/solvers/layerwise.py
that the rest of the suite let survive (docs/testing.md)."""
import time

import numpy as np
import pytest

from layerinv import Inpainting, ReLUNet, invert, recover

from conftest import planted, rel


def _net(seed=0, dims=(10, 120, 300), **kw):
    rng = np.random.default_rng(seed)
    G = ReLUNet.random(list(dims), rng, **kw)
    z, x = planted(G, rng)
    return G, z, x, rng


@pytest.mark.parametrize("method", ["exact", "linf", "l1"])
def test_records_describe_each_layer(method):
    G, z, x, _ = _net()
    res = invert(G, x, method=method, gap_tol=0.0) if method != "exact" else invert(G, x, method=method)
    assert res.ok and rel(res.z, z) < 1e-6
    assert [r.index for r in res.layers] == [1, 0]
    for r, L in zip(res.layers, G.layers[::-1]):
        assert (r.n_in, r.n_out) == (L.n_in, L.n_out)
        assert 0 < r.active < L.n_out  # ReLU rows split: equations are the active units
        assert np.isfinite(r.threshold) and r.threshold >= 0
        assert isinstance(r.unique, bool) and r.unique
        assert r.seconds >= 0 and isinstance(r.objective, float)
    top = res.layers[0]
    assert top.active == int(np.sum(x > top.threshold))


def test_records_of_non_relu_layers_have_every_row_an_equation():
    G, z, x, _ = _net(1, (6, 40, 90), activation=("leaky_relu", 0.2), output_activation="tanh")
    res = invert(G, x, method="exact")
    assert res.status == "exact" and rel(res.z, z) < 1e-6
    for r, L in zip(res.layers, G.layers[::-1]):
        assert r.active == L.n_out and np.isnan(r.threshold)


def test_l1_solves_the_l1_problem_not_the_linf_one():
    """Under noise the top layer's l1 optimum (a sum over 300 rows) is far above its linf optimum (a
    max), and the l1 record is an l1 objective: at most the planted noise's l1 norm."""
    G, z, x, rng = _net(2)
    e = 1e-3 * rng.standard_normal(x.shape)
    xn = x + np.where(x > 0, e, 0.0)
    l1 = invert(G, xn, method="l1", gap_tol=0.0).layers[0]
    li = invert(G, xn, method="linf", gap_tol=0.0).layers[0]
    assert l1.objective <= np.abs(e).sum() * (1 + 1e-6)
    assert li.objective <= np.abs(e).max() * (1 + 1e-6)
    assert l1.objective > 5 * li.objective


def test_bracket_records_carry_the_bracket():
    G, z, x, rng = _net(3)
    xn = x + 1e-9 * rng.uniform(-1, 1, x.shape)
    res = invert(G, xn, method="linf", gap_tol=1e-3)  # a wide gap_tol: least squares is accepted
    brackets = [r for r in res.layers if r.status == "bracket"]
    assert brackets, [r.status for r in res.layers]
    for r in brackets:
        lo, hi = r.objective
        assert 0 <= lo <= hi and r.path == "lstsq"


@pytest.mark.parametrize("method", ["exact", "linf"])
def test_inpainting_uses_only_the_observed_rows(method):
    """recover() with an inpainting operator runs layer-wise on the observed rows of the top layer:
    exact recovery from 60% of the pixels; the top record has the observed rows only."""
    G, z, x, _ = _net(4, (8, 100, 400))
    op = Inpainting.random(400, 0.6, 4)
    res = recover(G, op, op(x), method=method)
    assert res.ok and rel(res.z, z) < 1e-6, res.message
    assert res.layers[0].n_out == op.m and res.layers[1].n_out == 100
    assert res.residual < 1e-9
    y = op(x).copy()
    y[np.argmax(y)] *= 1.5  # one observed pixel off: not exact any more
    bad = recover(G, op, y, method="exact")
    assert bad.status != "exact"


def test_hidden_leaky_layer_feeds_a_signed_input():
    """A leaky hidden layer's output can be negative: the layer above must not be told h >= 0."""
    G, z, x, _ = _net(5, (6, 60, 150), activation=("leaky_relu", 0.1))
    res = invert(G, x, method="exact")
    assert res.status == "exact" and rel(res.z, z) < 1e-6


def test_time_limit_stops_between_layers():
    G, z, x, _ = _net(6, (20, 200, 400, 800))
    t0 = time.perf_counter()
    res = invert(G, x, method="exact", time_limit=1e-9)
    assert res.status == "time_limit" and "layer" in res.message
    assert time.perf_counter() - t0 < 5
    assert len(res.layers) >= 1 and np.all(np.isnan(res.z))
    assert invert(G, x, method="exact", time_limit=60).status == "exact"


def test_inpainting_on_a_three_layer_net():
    """The observed rows belong to the LAST layer (on two layers layers[1] is also layers[-1])."""
    G, z, x, _ = _net(7, (5, 40, 80, 200))
    op = Inpainting.random(200, 0.7, 7)
    res = recover(G, op, op(x), method="exact")
    assert res.status == "exact" and rel(res.z, z) < 1e-6, res.message
    assert [r.n_out for r in res.layers] == [op.m, 80, 40]


def test_inpainting_passes_the_options_through():
    G, z, x, _ = _net(8, (20, 200, 400, 800))
    op = Inpainting.random(800, 0.8, 8)
    res = recover(G, op, op(x), method="exact", time_limit=1e-9)
    assert res.status == "time_limit"
