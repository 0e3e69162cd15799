"""MILP behaviours that mutation testing found untested (docs/testing.md, "Mutation testing"): the ladder
on a batch, the layer record of a MILP result, the output activation of nets deeper than two layers,
the proof's description, and the rescaled copy of a net with non-ReLU activations."""
import numpy as np
import pytest

from conftest import TOL, planted
from layerinv import ReLUNet
from layerinv.solvers.milp import MILPProof, milp_invert, milp_ladder

EXACT_ABS = 1e-9  # max |G(z) - x| / max|x| of a verified MILP preimage (as MILP_TOL["exact_abs"] of test_milp)


def _fits(G, z, x, rows=None):
    y = G(z) if rows is None else G(z)[rows]
    return float(np.max(np.abs(y - x))) <= EXACT_ABS * max(float(np.max(np.abs(x))), 1.0)


def test_ladder_on_a_batch_solves_each_observation():
    """milp_ladder on x of shape (batch, n): one result per row, each a verified preimage of its own row."""
    G = ReLUNet.random([3, 6, 12], rng=0)
    Z = np.random.default_rng(1).standard_normal((2, 3))
    X = G(Z)
    res = milp_ladder(G, X, time_limit=60)
    assert res.batched and len(res) == 2
    assert list(res.status) == ["exact", "exact"], res.message
    for i in range(2):
        assert _fits(G, res.z[i], X[i])
        assert res.info["items"][i]["ladder"][0][0] == "layerwise"


def test_milp_result_records_one_layer_indexed_zero():
    """A MILP result has one LayerRecord: the whole net as layer 0, path "milp", k inputs, n outputs."""
    G = ReLUNet.random([3, 6, 8], rng=0)
    _, x = planted(G, np.random.default_rng(0))
    res = milp_invert(G, x)
    assert res.status == "exact", res.message
    (rec,) = res.layers
    assert rec.index == 0 and rec.path == "milp" and rec.status == "exact"
    assert (rec.n_in, rec.n_out) == (G.k, G.n)
    assert rec.active == int(np.sum(G(res.z) > 0))
    info = res.info["milp"]  # what was solved: the objective, its absolute tolerance, the box
    assert info["objective"] == "exact" and info["delta"] == pytest.approx(1e-6 * np.max(np.abs(x)), rel=1e-12)
    assert info["box"] > 0 and info["binaries"] >= 0 and info["nodes"] >= 0
    assert info["highs_status"] == "Optimal" and info["rows"] > 0 and info["cols"] >= G.k + info["binaries"]


@pytest.mark.parametrize("out_act", ["sigmoid", "tanh", "identity"])
@pytest.mark.parametrize("rows", [None, np.array([0, 2, 3, 5, 6, 8, 9, 11])])
def test_three_layer_nets_use_the_output_layers_activation(out_act, rows):
    """On a 3-layer net (ReLU, ReLU, then out_act) the MILP must encode the *last* layer's activation:
    x = G(z*) (or its observed rows) is reached, with and without rows."""
    G = ReLUNet.random([3, 8, 10, 12], rng=3, output_activation=out_act)
    z, y = planted(G, np.random.default_rng(3))
    x = y if rows is None else y[rows]
    res = milp_invert(G, x, rows=rows, time_limit=60)
    assert res.status == "exact", res.message
    assert _fits(G, res.z, x, rows)
    assert res.residual <= TOL["residual_exact"]


@pytest.mark.parametrize("objective, label", [("exact", "max |G(z) - x| <= "), ("linf", "||G(z) - x||_inf <= "),
                                              ("l1", "||G(z) - x||_1 <= ")])
def test_milp_proof_describes_its_claim(objective, label):
    """MILPProof.describe() names the claim it proves, with its tolerance, box and k."""
    G = ReLUNet.random([2, 4, 6], rng=0)
    proof = MILPProof(2.5, 2, objective, 0.125, 7, 3, "mip", G, np.zeros(6))
    text = proof.describe()
    assert label + "0.125" in text
    assert "R = 2.5" in text and "k = 2" in text and "7 nodes, 3 binaries" in text
    relaxed = MILPProof(2.5, 2, objective, 0.125, 0, 0, "relaxation", G, np.zeros(6)).describe()
    assert "infeasible LP relaxation" in relaxed and label + "0.125" in relaxed


def test_milp_infeasible_proof_describes_itself():
    """An off-range x proved infeasible by HiGHS: the certificate's description states the exact claim."""
    G = ReLUNet.random([2, 4, 6], rng=0, bias=True)
    rng = np.random.default_rng(0)
    x = G(rng.standard_normal(2)) + 0.5 * np.abs(rng.standard_normal(6))
    res = milp_invert(G, x, box=2.0)
    assert res.status == "infeasible", res.message
    assert isinstance(res.certificate, MILPProof)
    assert "max |G(z) - x| <= " in res.certificate.describe()


@pytest.mark.parametrize("acts", [[("leaky_relu", 0.1), "sigmoid"], ["relu", "tanh"], [("leaky_relu", 0.2), "identity"]])
def test_rescaled_copy_keeps_the_activations(acts):
    """Weights of magnitude ~1e3 make the MILP solve a rescaled copy of G; the copy must keep G's
    activations (leaky ReLU, a sigmoid / tanh output), or its point would not fit G itself."""
    G0 = ReLUNet.random([3, 8, 12], rng=5, bias=True, activation=acts[0], output_activation=acts[1])
    G = ReLUNet([1e3 * G0.layers[0].weight, G0.layers[1].weight], [G0.layers[0].bias, G0.layers[1].bias],
                activations=acts)
    z = 1e-3 * np.random.default_rng(5).standard_normal(3)
    x = G(z)
    res = milp_invert(G, x, time_limit=60)
    assert "scaled" in res.info["milp"], "the instance must take the rescaled path"
    assert res.status == "exact", res.message
    assert _fits(G, res.z, x)


def test_leaky_units_inactive_over_the_whole_box_keep_their_slope():
    """A leaky-ReLU unit that is off for every z in the box still outputs slope * (W z + b), which depends on z:
    the MILP's encoding of such stably-off units must keep the W z term (x = G(z*) is reached, verified)."""
    G0 = ReLUNet.random([3, 8, 14], rng=7, bias=True, activation=("leaky_relu", 0.3), output_activation="identity")
    b1 = G0.layers[0].bias.copy()
    b1[:3] = -50.0  # units 0..2 are off for every |z_i| <= 3
    G = ReLUNet([G0.layers[0].weight, G0.layers[1].weight], [b1, G0.layers[1].bias],
                activations=[("leaky_relu", 0.3), "identity"])
    z = np.clip(np.random.default_rng(7).standard_normal(3), -2.0, 2.0)
    x = G(z)
    res = milp_invert(G, x, box=3.0, time_limit=60)
    assert res.status == "exact", res.message
    assert _fits(G, res.z, x)


def test_milp_refuses_x_of_the_wrong_dimension():
    """x must be (n,) or (batch, n): a 3-D array (whose last axis has the right size) and a scalar are refused
    with a ValueError that names x, never a raw traceback."""
    G = ReLUNet.random([2, 4, 6], rng=0)
    for bad in (np.zeros((2, 2, 6)), np.float64(1.0)):
        with pytest.raises(ValueError, match="x"):
            milp_invert(G, bad)
