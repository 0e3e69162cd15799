"""Every claim of a layer-wise record is true (issue 10): ``LayerRecord.lower`` is a certified lower bound
(the verified dual bound, never the LP's primal objective), and for the top layer of ``linf``
``min(lower, threshold)`` bounds ``min_z ||G(z) - x||_inf`` from below in OUTPUT units for every output
activation, including the leaky_relu / sigmoid / tanh outputs whose layer LP is a linearised model.

The two regressions are the xfail tests of tests/test_properties_more.py (found by property testing),
here without xfail; the others check the same claims over several seeds and nets against the best fit
of many candidate z (an upper bound on the true min), and on 1-D latents against a dense grid."""
import numpy as np
import pytest

from layerinv import ReLUNet, invert

OUTPUTS = ["relu", "identity", ("leaky_relu", 0.2), ("leaky_relu", 0.05), "sigmoid", "tanh"]


def linf_record_bound(G, res):
    """The documented lower bound on min_z ||G(z) - x||_inf read off a linf Result's top-layer record."""
    top = [r for r in res.layers if r.index == G.depth - 1]
    if not top or np.isnan(top[0].lower):
        return 0.0
    return min(top[0].lower, top[0].threshold) if np.isfinite(top[0].threshold) else top[0].lower


def slack(x):
    """Rounding allowed above a certified bound (the props file allowed 1e-9 max|x| on the LP path for the
    primal overshoot that is fixed here; a certified bound needs none beyond rounding of the forward pass)."""
    return 1e-12 * float(np.max(np.abs(x)))


# ---------------------------------------------------------------------------------- the two regressions
@pytest.mark.parametrize("act, bias, x, fit", [
    (("leaky_relu", 0.2), None, [-1.0, 0.5], 0.75),     # z = -1.25 fits within 0.75; linf's linearised t = 0.917
    ("sigmoid", [50.0, -50.0], [0.99, 0.01], 0.0101),   # z = -45.4 fits within 0.0101; linearised t = 0.45
])
def test_regression_linf_record_bound_for_non_relu_outputs(act, bias, x, fit):
    G = ReLUNet([[[1.0], [1.0]]], None if bias is None else [bias], [act])
    x = np.array(x)
    zs = np.linspace(-60, 60, 240001)[:, None]
    assert np.min(np.max(np.abs(G(zs) - x), axis=1)) <= fit  # the fit the claim must not exceed
    res = invert(G, x, method="linf")
    assert linf_record_bound(G, res) <= fit, (res.layers, res.message)
    assert "linearised" in res.message  # the objective printed is the linearised model's t, and says so


def test_regression_linf_record_lower_is_certified():
    W = [[0.4393260131274593, 0.8961554974738949, 0.3093056034074336, -0.908569869677973],
         [-0.036542730798663964, -0.39026901045587264, 0.14957795605447416, -0.5493830335889042],
         [0.9200902323842504, -1.0053167856516636, 0.8013369275493107, 0.8844197654362488],
         [-0.11444327693666717, -0.6818313916351953, 0.13027112560498627, -0.42710761722471774]]
    h = np.array([0.06209185380717297, 0.22466142459753943, 0.11402184815437642, 0.203278882141104])
    G = ReLUNet([W])
    x = G(h)  # in the range: min_h ||G(h) - x||_inf = 0
    res = invert(G, x, method="linf")
    rec = res.layers[0]
    assert rec.path == "lp"  # the LP path, whose primal objective overshoots 0 by rounding
    assert rec.lower <= 0.0, res.layers
    assert rec.objective >= rec.lower  # objective: the primal value at the returned h


# ---------------------------------------------------------------------------------- the claims over many nets
def _nets():
    for seed in range(6):
        for out in OUTPUTS:
            rng = np.random.default_rng(seed)
            dims = [[2, 8, 14], [3, 10], [2, 6, 9, 16]][seed % 3]
            yield seed, out, ReLUNet.random(dims, rng, output_activation=out, bias=seed % 2 == 1), rng


@pytest.mark.parametrize("kind", ["planted", "noisy", "shift"])
def test_linf_top_record_bounds_the_fit_every_output(kind):
    """For every output activation, no z (z*, linf's own, 40 perturbations of z*) beats the top record's
    bound; per layer ``lower <= objective`` (the primal value) for the LP and bracket paths."""
    positive = {}
    for seed, out, G, rng in _nets():
        z = rng.standard_normal(G.k)
        gz = G(z)
        x = {"planted": gz, "noisy": gz + 1e-4 * rng.uniform(-1, 1, G.n) * np.max(np.abs(gz)),
             "shift": gz + 0.05 * rng.standard_normal(G.n) * np.max(np.abs(gz))}[kind]
        if out in ("sigmoid", "tanh"):  # keep x inside the output range (outside it the linearisation clips)
            lo, hi = (0.0, 1.0) if out == "sigmoid" else (-1.0, 1.0)
            x = np.clip(x, lo + 1e-3, hi - 1e-3)
        res = invert(G, x, method="linf")
        bound = linf_record_bound(G, res)
        cands = [z] + ([res.z] if np.all(np.isfinite(res.z)) else []) + list(z + 0.1 * rng.standard_normal((40, G.k)))
        best = min(float(np.max(np.abs(G(c) - x))) for c in cands)
        assert best >= bound - slack(x), (seed, out, kind, bound, best, res.layers)
        for r in res.layers:
            upper = r.objective[1] if isinstance(r.objective, tuple) else r.objective
            assert 0.0 <= r.lower <= upper, (seed, out, r)
        name = out if isinstance(out, str) else out[0]
        positive[name] = positive.get(name, False) or bound > 0
    if kind == "shift":  # the claims are not vacuous: relu / identity / leaky tops give positive bounds
        assert positive["relu"] and positive["identity"] and positive["leaky_relu"], positive
        assert not positive["sigmoid"] and not positive["tanh"]  # no output-space claim for the smooth outputs


@pytest.mark.parametrize("out", OUTPUTS)
@pytest.mark.parametrize("seed", range(4))
def test_linf_bound_below_the_grid_optimum_on_a_1d_latent(out, seed):
    """k = 1: the true min_z ||G(z) - x||_inf is at most the best of a dense grid; the bound stays below it."""
    rng = np.random.default_rng(100 + seed)
    G = ReLUNet.random([1, 4, 5], rng, output_activation=out, bias=True)
    x = G(rng.standard_normal(1)) + 0.3 * rng.standard_normal(5)
    if out in ("sigmoid", "tanh"):
        x = np.clip(x, (0.0 if out == "sigmoid" else -1.0) + 1e-3, 1.0 - 1e-3)
    res = invert(G, x, method="linf")
    zs = np.linspace(-30, 30, 60001)[:, None]
    grid = float(np.min(np.max(np.abs(G(zs) - x), axis=1)))
    assert linf_record_bound(G, res) <= grid + slack(x), (res.layers, grid)


def test_leaky_top_lower_is_the_scaled_dual_bound():
    """A leaky top's record: ``lower`` = the LP bound times the slope (< the linearised bracket's lower end),
    positive on an x outside the range, so the scaling is what keeps the claim true."""
    G = ReLUNet([[[1.0], [1.0]]], None, [("leaky_relu", 0.2)])
    res = invert(G, np.array([-1.0, 0.5]), method="linf")
    rec = res.layers[0]
    lin = rec.objective[0] if isinstance(rec.objective, tuple) else rec.objective
    assert 0.0 < rec.lower <= 0.2 * lin * (1 + 1e-15) and rec.lower >= 0.2 * lin * (1 - 1e-12) - 1e-12, rec


@pytest.mark.parametrize("method", ["linf", "l1"])
def test_lp_path_records_keep_the_dual_bound_not_the_primal(method):
    """On the LP path a record's ``lower`` is the verified dual bound, not the primal objective: for x in
    the range of a one-layer ReLU net the optimum is 0, so ``lower`` must be 0 even where the primal
    objective overshoots 0 by the solver's accuracy."""
    checked = 0
    for seed in range(8):
        rng = np.random.default_rng(seed)
        G = ReLUNet.random([4, 4], rng)
        h = rng.uniform(0.05, 0.3, 4)
        x = G(h)
        res = invert(G, x, method=method)
        for r in res.layers:
            if r.path == "lp":
                checked += 1
                assert r.lower == 0.0 <= r.objective, r  # the optimum is 0: a certified bound cannot exceed it
    assert checked > 0
