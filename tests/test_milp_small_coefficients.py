"""HiGHS keeps every coefficient of the MILP, or the MILP claims nothing (reviewer's false "infeasible").

HiGHS silently drops matrix entries ``|a| <= small_matrix_value`` (default 1e-9). The l1 relaxation of a
saturated tanh / sigmoid output scales its rows by the least slope (~1e-9), so its coefficients fell
below that and HiGHS proved a model infeasible that was not the one built. Now the threshold is HiGHS's
least (1e-12), rows are rescaled by powers of two to keep every coefficient, above 1e-9 where their
range allows (:func:`fit_rows`, ``FIT_SMALL``: HiGHS misjudged rows of ~3e-10 even when kept), and a
model HiGHS still cannot hold exactly backs no "infeasible" and no lower bound.
"""
import numpy as np
import pytest

from layerinv import ReLUNet
from layerinv.lp.highs import Highs
from layerinv.solvers.milp import milp_invert
from layerinv.solvers.milp import solve as milp_solve
from layerinv.solvers.milp.model import SMALL_MATRIX_VALUE, Model, fit_rows, new_solver

# the reviewer's reproducer: [1, 5, 5, 6, 2], leaky hidden layers, tanh output, x = G(z*) exactly
_WS = [[[-1.2204404353271616], [-0.052909550823822454], [-0.8221944338235005], [-0.08972289297506317],
        [-0.8727835999235856]],
       [[-0.18332809485670784, -2.242994663142475, 0.34122633350978393, -0.14270581406979366, -1.089978030980136],
        [-0.21620996772416654, -0.524953311218526, 0.21885266274531898, -0.33811680882451384, -0.30064668220666174],
        [0.08640047125556934, 0.22475023152377932, -0.005634732140283006, 1.152165612958958, 0.22148919667983089],
        [-0.7927525891736765, 1.7093375955303864, 0.09788137442865112, 1.5465001285036408, -1.0878712102598111],
        [0.5423288974613577, 1.7030184534224673, 1.2523344624670212, 0.07038760580659141, -0.60868076040108]],
       [[0.21506435436742186, -1.794003341480778, 0.1407747300938593, 0.6660707577298398, -0.96839284759874],
        [-0.9367112473925883, -0.0011979315974724575, -0.06648784591652251, 0.9284475999623722, -2.019783442902032],
        [-0.09293732039707882, 1.3825937711436354, 0.061894666256282746, 1.7504079424701116, 2.1648912247276537],
        [-0.5697735096883357, 1.481616072211595, 0.5003448507761147, -0.03255581566635517, -0.29951279614522547],
        [-0.23925904822519614, -0.9310260623525524, -0.1875262260791327, 0.923613644676261, 1.2458808359473152],
        [-0.39868542391588807, 0.5158209429555703, 0.4635680901051112, -2.3801940980641674, 0.699743428309087]],
       [[-0.12468220233064709, -0.09191156980461655, -0.1938241804517571, -0.3761496903122505, 0.3981512075516174,
         -0.11936311262341325],
        [-0.17915598643262812, 0.19922617733887418, -0.0892206520149465, 0.2411687519854215, 0.17290254624884296,
         0.2189110030075089]]]
_BS = [[0.3122849560095372, 0.6632138264314745, -0.1745676252227664, 0.009376751078938693, 0.013092251732138623],
       [-0.18815246426697266, -0.062308521195825, -0.2986709712668528, -0.23118621497127426, -0.305990611494558],
       [-0.37531903965051244, -0.34936761483392065, 0.24792811351512006, 0.4995084146928772, -0.3387635596145719,
        -0.2710752218229917],
       [0.043377073016517775, -0.3309718667113791]]


def _reviewer():
    G = ReLUNet([np.array(w) for w in _WS], [np.array(b) for b in _BS], [("leaky_relu", 0.01)] * 3 + ["tanh"])
    z_star = np.array([-157.97387528193116])
    return G, z_star, G(z_star)


def _with_options(monkeypatch, **opts):
    """Make every MILP solver use these HiGHS options on top of the MILP's own."""
    def patched():
        s = new_solver()
        s.options.update(opts)
        return s
    monkeypatch.setattr(milp_solve, "new_solver", patched)


def test_reviewer_reproducer_is_feasible():
    G, z_star, x = _reviewer()
    assert np.sum(np.abs(G(z_star) - x)) <= 1.01e-7
    res = milp_invert(G, x, objective="l1", eps=1.01e-7, box=189.66865033831738)
    assert res.status == "feasible", res.message
    assert np.sum(np.abs(G(res.z) - x)) <= 1.01e-7


def test_reviewer_reproducer_feasible_at_highs_default_threshold(monkeypatch):
    # with HiGHS's default small_matrix_value the rows are rescaled rather than losing coefficients
    _with_options(monkeypatch, small_matrix_value=1e-9)
    G, _, x = _reviewer()
    res = milp_invert(G, x, objective="l1", eps=1.01e-7, box=189.66865033831738)
    assert res.status == "feasible", res.message


def test_new_solver_uses_highs_least_small_matrix_value():
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    assert h.setOptionValue("small_matrix_value", SMALL_MATRIX_VALUE) == highspy.HighsStatus.kOk
    assert h.setOptionValue("small_matrix_value", SMALL_MATRIX_VALUE / 2) == highspy.HighsStatus.kError
    assert new_solver().options["small_matrix_value"] == SMALL_MATRIX_VALUE


def _tiny_model(c):
    """min v + w  s.t.  c v + c w >= 500 c, v, w in [0, 1000]: optimum 500 (infeasible if c is dropped)."""
    m = Model()
    v = m.cols([0.0, 0.0], [1000.0, 1000.0], cost=1.0)
    m.rows(500 * c, np.inf, (v, np.array([[c, c]])))
    return m


@pytest.mark.parametrize("c", [1e-13, 3e-16, 1e-10])
def test_tiny_row_is_rescaled_and_solved(c):
    m = _tiny_model(c)
    s = new_solver()
    m.load_into(s)
    assert m.dropped == 0
    lp = s.h.getLp()
    vals = np.abs(np.asarray(lp.a_matrix_.value_))
    assert vals.size == 2 and np.all(vals > SMALL_MATRIX_VALUE)
    k = np.log2(vals[0] / c)
    assert k == np.round(k) and lp.row_lower_[0] == 500 * c * 2 ** k  # the row scaled exactly, bounds too
    sol = s.run()
    assert sol.status == "optimal" and abs(sol.objective - 500) <= 1e-6


def test_row_too_wide_counts_dropped_coefficients():
    # 1e-14 next to 1e14 in one row: no power of two fits both in (1e-12, 1e15)
    idx, val = np.array([0, 0, 1]), np.array([1e-14, 1e14, 2.0])
    v, lo, hi, dropped = fit_rows(idx, val, np.array([0.0, -np.inf]), np.array([1.0, 3.0]), 1e-12, 1e15)
    assert dropped == 1
    assert np.all(np.abs(v[:2]) < 1e15) and v[2] == 2.0 and hi[1] == 3.0
    v, lo, hi, dropped = fit_rows(idx, np.array([1e-13, 1e13, 2.0]), np.array([1.0, -np.inf]),
                                  np.array([1.0, 3.0]), 1e-12, 1e15)
    assert dropped == 0 and np.all(np.abs(v) > 1e-12) and np.all(np.abs(v) < 1e15)
    assert v[0] / 1e-13 == v[1] / 1e13 == lo[0] == hi[0]  # one power of two for the whole row


def test_highs_rejecting_a_model_is_an_error_not_a_stale_solve():
    s = Highs(large_matrix_value=1e15)
    with pytest.raises(ValueError, match="rejected"):
        s.load(1, 1, np.zeros(1), np.zeros(1), np.ones(1), np.zeros(1), np.ones(1),
               np.array([0, 1], dtype=np.int32), np.array([0], dtype=np.int32), np.array([1e16]))


# a row [1, -1e-10] over hidden ReLUs: the preimage needs the tiny weight (G(0, 5e5) = x)
_TWO = ReLUNet([np.eye(2), np.array([[1.0, -1e-10]])], [np.zeros(2), np.zeros(1)], ["relu", "identity"])
_X2 = np.array([-5e-5])


@pytest.mark.parametrize("objective", ["linf", "l1"])
def test_tiny_weight_preimage_found(objective):
    res = milp_invert(_TWO, _X2, objective=objective, eps=1e-6, box=1e6)
    assert res.status == "feasible", res.message


@pytest.mark.parametrize("objective", ["linf", "l1"])
def test_dropped_coefficients_never_back_infeasible(monkeypatch, objective):
    # thresholds (1e-9, 1) leave no power of two for the row [1, -1e-10]: HiGHS drops the tiny entry and
    # its model (y = h1 >= 0) is infeasible, but the true one is not
    _with_options(monkeypatch, small_matrix_value=1e-9, large_matrix_value=1.0)
    res = milp_invert(_TWO, _X2, objective=objective, eps=1e-6, box=1e6)
    assert res.status != "infeasible", res.message


def test_dropped_coefficients_back_no_lower_bound(monkeypatch):
    _with_options(monkeypatch, small_matrix_value=1e-9, large_matrix_value=1.0)
    res = milp_invert(_TWO, _X2, objective="l1", box=1e6)
    assert res.status == "approximate" and "too small" in res.message, res.message


def test_refuted_lower_bound_not_claimed():
    # the point found (fit 0) beats HiGHS's bound (~5e-5, from its absolute tolerances on the rescaled copy)
    res = milp_invert(_TWO, _X2, objective="l1", box=1e6)
    fit = float(np.sum(np.abs(_TWO(res.z) - _X2)))
    assert res.status in ("optimal", "approximate"), res.message
    if res.status == "optimal":
        assert res.layers[0].lower <= fit, (res.layers[0], fit)
    else:
        assert not np.isfinite(res.info["milp"]["dual_bound"])


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
@pytest.mark.parametrize("seed", range(4))
def test_planted_saturated_output_is_feasible(act, seed):
    rng = np.random.default_rng(seed)
    k, n = 1, 2
    Ws = [rng.normal(size=(5, k)), rng.normal(size=(5, 5)), rng.normal(size=(n, 5)) * 0.3]
    bs = [rng.normal(size=5) * 0.3, rng.normal(size=5) * 0.3, rng.normal(size=n) * 0.3]
    G = ReLUNet(Ws, bs, [("leaky_relu", 0.01)] * 2 + [act])
    # plant z* where the output saturates: least |pre-activation| near 10 (tanh) / 20 (sigmoid), slopes ~1e-9
    top, target = G.layers[-1], 10.0 if act == "tanh" else 20.0

    def least_u(z):
        return float(np.min(np.abs(top.affine(G.forward_unchecked(z, all_layers=True)[-2]))))
    zs = [np.array([s * t]) for t in np.geomspace(1.0, 400.0, 60) for s in (1.0, -1.0)]
    z_star = min(zs, key=lambda z: abs(least_u(z) - target))
    x = G(z_star)
    eps = 1.01e-7
    res = milp_invert(G, x, objective="l1", eps=eps, box=1.2 * float(np.max(np.abs(z_star))), time_limit=60)
    assert res.status == "feasible", res.message  # (sigmoid seeds 0-2 were "inconclusive" before the fix)
    assert np.sum(np.abs(G(res.z) - x)) <= eps


def test_planted_saturated_sigmoid_kept_coefficients_not_infeasible():
    # found by a random search after the threshold fix: coefficients ~3e-10 were kept, yet HiGHS
    # called the model infeasible until such rows were rescaled above 1e-9 (FIT_SMALL)
    rng = np.random.default_rng(1)
    sizes = [1, 5, 5, 6, 2]
    for t in range(12):
        Ws = [rng.standard_normal((sizes[i + 1], sizes[i])) * (0.3 if i == 3 else 1) for i in range(4)]
        bs = [0.3 * rng.standard_normal(sizes[i + 1]) for i in range(4)]
        z_star = np.array([float(rng.choice([-1, 1])) * float(rng.uniform(20, 200))])
    G = ReLUNet(Ws, bs, [("leaky_relu", 0.01)] * 3 + ["sigmoid"])
    x = G(z_star)
    res = milp_invert(G, x, objective="l1", eps=1.01e-7, box=1.2 * float(abs(z_star[0])), time_limit=20)
    assert res.status == "feasible", res.message
