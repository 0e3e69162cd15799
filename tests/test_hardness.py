"""3-SAT as network inversion (layerinv.hardness): the MILP decides it exactly; the layer-wise
methods and gradient descent are run on the same instances and must never claim a wrong preimage."""
import itertools

import numpy as np
import pytest

from layerinv import ReLUNet, invert
from layerinv.hardness import (check_clauses, decode, is_satisfiable, random_cnf, sat_network, satisfies)
from layerinv.solvers.milp import milp_invert

#: Below 1 / (L + 1) (L = 3 literals per clause) an approximate preimage still decodes to a
#: satisfying assignment (module docstring of layerinv.hardness); the MILP's default tol is far below.
SAT_DELTA = 1.0 / 4


def _instances(n_vars, seed):
    """Two satisfiable 3-CNFs (a planted assignment, 3 clauses per variable) and two unsatisfiable
    ones (8 clauses per variable, plus the 8 sign patterns on 3 random variables whenever the
    random draw happens to be satisfiable), as (clauses, satisfiable)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(2):
        plant = list(rng.integers(0, 2, n_vars).astype(bool))
        out.append((random_cnf(n_vars, 3 * n_vars, rng=rng, satisfied_by=plant), True))
    for _ in range(2):
        cl = random_cnf(n_vars, 8 * n_vars, rng=rng)
        if is_satisfiable(cl, n_vars) is not None:
            v = rng.choice(n_vars, 3, replace=False) + 1
            cl += [tuple(int(a) * s for a, s in zip(v, sg)) for sg in itertools.product([1, -1], repeat=3)]
        out.append((cl, False))
    return out


def test_network_scores_every_assignment():
    """On binary z, G(z) = (number of violated clauses, 0); off {0,1}^n the penalty is positive."""
    for seed in range(3):
        cl = random_cnf(5, 12, rng=seed)
        G, x = sat_network(cl)
        assert isinstance(G, ReLUNet) and x.shape == (2,) and np.all(x == 0)
        assert all(L.activation.name == "relu" for L in G.layers)
        for bits in itertools.product([0.0, 1.0], repeat=5):
            z = np.array(bits)
            violated = sum(not satisfies([c], [b > 0 for b in bits]) for c in cl)
            assert np.array_equal(G(z), [violated, 0.0])
        rng = np.random.default_rng(seed)
        Z = rng.uniform(-0.5, 1.5, size=(50, 5))
        off = np.min(np.minimum(np.abs(Z), np.abs(Z - 1)), axis=1) > 1e-3
        assert np.all(G(Z)[off, 1] > 0)


def test_milp_decides_random_3sat(seed):
    """Satisfiable: a verified preimage that decodes to a satisfying assignment. Unsatisfiable
    (checked by brute force): HiGHS proves no z exists (box 1 loses nothing: preimages lie in [0,1]^n)."""
    for cl, sat in _instances(6, seed):
        G, x = sat_network(cl, n_vars=6)
        truth = is_satisfiable(cl, 6)
        assert (truth is not None) == sat
        res = milp_invert(G, x, box=1.0)
        if sat:
            assert res.status == "exact", res.message
            assert np.max(np.abs(G(res.z) - x)) < SAT_DELTA
            assert satisfies(cl, decode(res.z))
        else:
            assert res.status == "infeasible", res.message
            assert "no z in [−R, R]^k" in res.message


def _check_claim(res, G, x, truth_exists, box=None):
    """Whatever a method returns, a claimed preimage must be one and a claimed proof must be right.
    Returns which claim was checked ("exact", "infeasible" or None)."""
    if res.status == "exact":
        assert np.max(np.abs(G(res.z) - x)) <= 1e-6 * max(np.max(np.abs(x)), 1.0)
        assert truth_exists
        return "exact"
    if res.status == "infeasible":
        assert not truth_exists, res.message
        if box is not None:  # independent truth: the MILP finds no z in the box either
            assert milp_invert(G, x, box=box).status == "infeasible"
        return "infeasible"
    return None


def _layerwise_instances(seed):
    """(G, x, a preimage exists, MILP box or None) where layer-wise makes claims either way: the SAT
    networks at x = 0 (no claim expected: every unit inactive) and at an x with a negative entry (no
    ReLU output is negative: a true `infeasible`); small expansive random nets at x = G(z*) and at
    G(z*) + e, |e| <= 0.1 tol max|x| on the active entries (a true `exact`), and at G(z*) pushed off
    the range on active entries (no preimage: checked by the MILP in the box [-50, 50]^k)."""
    out = []
    for cl, _ in _instances(5, seed):
        G, x = sat_network(cl, n_vars=5)
        out.append((G, x, is_satisfiable(cl, 5) is not None, None))
        out.append((G, np.array([-1.0, 0.0]), False, None))
    rng = np.random.default_rng(seed)
    for _ in range(2):
        G = ReLUNet.random([4, 20, 60], rng)
        z = rng.standard_normal(4)
        x = G(z)
        out.append((G, x, True, None))
        e = 0.1 * 1e-6 * np.max(np.abs(x)) * rng.uniform(-1, 1, x.shape)  # within the default tol
        out.append((G, x + np.where(x > 0, e, 0.0), True, None))
        off = np.maximum(x + np.where(x > 0, 0.05 * rng.standard_normal(x.shape), 0.0), 0.0)
        out.append((G, off, milp_invert(G, off, box=50.0).status == "exact", 50.0))
    return out


def test_layerwise_never_claims_a_wrong_preimage(seed):
    """Layer-wise exact / linf: every `exact` must be a preimage and every `infeasible` must be true.
    The instances make both claims (asserted), so a method that claims wrongly fails here."""
    claims = []
    for G, x, exists, box in _layerwise_instances(seed):
        for method in ("exact", "linf"):
            res = invert(G, x, method=method)
            claims.append(_check_claim(res, G, x, exists, box))
    assert claims.count("exact") >= 2 and claims.count("infeasible") >= 4, claims


def test_gd_never_claims_a_wrong_preimage():
    """The CSGM baseline never claims a proof, and the fit it reports is the real one: on satisfiable
    instances started near a satisfying assignment it reaches G(z) = 0 and z decodes to a solution;
    on unsatisfiable ones it cannot reach 0. Both cases run (asserted)."""
    pytest.importorskip("torch")
    seen = set()
    for cl, _ in _instances(5, 0):
        G, x = sat_network(cl, n_vars=5)
        truth = is_satisfiable(cl, 5)
        if truth is not None:
            init = np.array(truth, dtype=float) + 0.05 * np.random.default_rng(1).standard_normal(5)
            res = invert(G, x, method="gd", rng=0, init=init, steps=400, lr=0.01)
        else:
            res = invert(G, x, method="gd", rng=0, steps=100)
        assert res.status in ("max_iter", "converged")
        assert _check_claim(res, G, x, truth is not None) is None  # gd proves nothing
        fit = np.max(np.abs(G(res.z) - x))
        assert res.info["loss"] == pytest.approx(float(np.sum((G(res.z) - x) ** 2)), rel=1e-9, abs=1e-300)
        assert res.residual == pytest.approx(float(np.linalg.norm(G(res.z) - x)), rel=1e-9, abs=1e-300)
        if fit <= 1e-6:  # a preimage found: it must decode to a satisfying assignment
            assert truth is not None and satisfies(cl, decode(res.z))
            seen.add("preimage")
        else:
            seen.add("no preimage")
            if truth is None:  # no preimage exists: gd cannot reach G(z) = 0
                assert fit > 0.1
    assert seen == {"preimage", "no preimage"}


def test_is_satisfiable_small_cases():
    assert is_satisfiable([(1,), (-1,)]) is None
    assert is_satisfiable([(1, 2), (-1, 2), (1, -2), (-1, -2)]) is None
    sol = is_satisfiable([(1, 2), (-1, 2), (1, -2)])
    assert sol == [True, True]
    assert is_satisfiable([(1, -1)]) is not None  # a tautology
    assert is_satisfiable([], n_vars=3) == [False, False, False]


def test_duplicate_and_tautological_literals():
    for cl in ([(1, 1, -2)], [(1, -1, 2), (-2,)]):
        G, x = sat_network(cl)
        truth = is_satisfiable(cl)
        res = milp_invert(G, x, box=1.0)
        assert (res.status == "exact") == (truth is not None)


def test_decode_and_satisfies():
    assert decode(np.array([0.9, 0.1, 1.0])) == [True, False, True]
    assert satisfies([(1, -2)], [False, False])
    assert not satisfies([(1, -2)], [False, True])
    with pytest.raises(ValueError, match="1-D"):
        decode(np.zeros((2, 2)))


@pytest.mark.parametrize("clauses, n_vars, exc, match", [
    ([(1, 0, 2)], None, ValueError, "literal 0"),
    ([(1, 2), ()], None, ValueError, "empty"),
    ([(1, 2.5)], None, TypeError, "integers"),
    ([(1, True)], None, TypeError, "integers"),
    ([(1, 5)], 3, ValueError, "n_vars"),
    ([], None, ValueError, "n_vars"),
    ("1 2 3", None, TypeError, "clauses"),
    ([3], None, TypeError, "clauses"),
    ([(1, 2)], 0, ValueError, "n_vars"),
])
def test_bad_clauses(clauses, n_vars, exc, match):
    with pytest.raises(exc, match=match):
        sat_network(clauses, n_vars)


def test_random_cnf_checks():
    cl = random_cnf(4, 7, rng=0)
    assert len(cl) == 7 and all(len(c) == 3 and len({abs(v) for v in c}) == 3 for c in cl)
    assert check_clauses(cl)[1] <= 4
    with pytest.raises(ValueError, match="width"):
        random_cnf(2, 3, rng=0)
    with pytest.raises(TypeError, match="rng"):
        random_cnf(4, 3, rng=None)
    with pytest.raises(ValueError, match="n_vars"):
        is_satisfiable([(1,)], n_vars=30)
    with pytest.raises(ValueError, match="satisfied_by"):
        random_cnf(4, 3, rng=0, satisfied_by=[True])
    plant = [True, False, True, False, True]
    assert satisfies(random_cnf(5, 30, rng=1, satisfied_by=plant), plant)
