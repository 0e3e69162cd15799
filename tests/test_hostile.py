"""Hostile inputs and injected faults (issue 10): every one gets a clear error naming the argument,
the rule and what was received, or an honest status; never a raw numpy/scipy/HiGHS/torch traceback,
never a silently accepted bad input, never a wrong ``ok``."""
import io
import os
import zipfile

import numpy as np
import pytest
from numpy.lib import format as npformat

import layerinv.lp.kernels as kernels
from layerinv import ReLUNet, invert, recover
from layerinv.cli import main
from layerinv.compress import compress, decompress
from layerinv.io import load_code, read_npy, read_npz, save_code
from layerinv.lp.highs import Highs, HighsSolution
from layerinv.lp.solution import LayerSolution
from layerinv.ops import GaussianCS, PhaseRetrieval
from layerinv.solvers import SOLVERS
from layerinv.solvers.milp import milp_invert

from conftest import TOL


@pytest.fixture
def net():
    return ReLUNet.random([3, 10, 20], rng=0)


def _fits(G, res, x, tol=1e-6):
    """``res.z`` is finite and reproduces x within ``tol`` relative to max|x|."""
    z = np.asarray(res.z)
    return bool(np.all(np.isfinite(z)) and np.max(np.abs(G(z) - x)) <= tol * np.max(np.abs(x)))


# ---------------------------------------------------------------------------------------------- own copies
def test_relunet_copies_its_weights():
    W0, W1 = np.ones((4, 2)), np.arange(12.0).reshape(3, 4)
    G = ReLUNet([W0, W1], biases=[np.zeros(4), None])
    x = G(np.ones(2))
    W0[0, 0] = 5.0  # the caller's array stays theirs: writable, and editing it does not change G
    W1[:] = 0.0
    np.testing.assert_array_equal(G(np.ones(2)), x)
    big = np.ones((4, 6))
    G2 = ReLUNet([big[:, :3]])  # a view
    big[0, 0] = -7.0
    assert G2.layers[0].weight[0, 0] == 1.0 and not np.shares_memory(G2.layers[0].weight, big)
    assert not G2.layers[0].weight.flags.writeable  # G's own copy is read-only


def test_relunet_copies_torch_tensors():
    torch = pytest.importorskip("torch")
    W = torch.ones((5, 2), dtype=torch.float64)
    G = ReLUNet([W])
    before = invert(G, G(np.array([1.0, 2.0])), method="gd", rng=0, steps=5)
    W[0, 0] = 100.0  # shared memory before the fix: G (and gd's cached torch weights) would change
    assert G.layers[0].weight[0, 0] == 1.0
    after = invert(G, G(np.array([1.0, 2.0])), method="gd", rng=0, steps=5)
    np.testing.assert_array_equal(before.z, after.z)


@pytest.mark.parametrize("batched", [False, True])
def test_certificate_keeps_its_own_x(net, batched):
    x = np.abs(net(np.ones(3)))
    x[0] = -1.0  # below the ReLU's range: infeasible with a range certificate
    X = np.stack([x, x]) if batched else x
    res = invert(net, X, method="exact")
    cert = res.certificate[0] if batched else res.certificate
    assert cert is not None and cert.check()
    X[...] = np.abs(net(np.ones(3)))  # the caller reuses their array
    assert cert.x[0] == -1.0 and cert.check(), "the certificate followed the caller's edit of x"
    with pytest.raises(ValueError):
        cert.x[0] = 0.0  # read-only



def test_milp_proof_keeps_its_own_x(monkeypatch):
    """MILPProof too, including when the solver sets x after construction (the rescaled MILP does)."""
    from layerinv.solvers.milp.proof import MILPProof

    G = ReLUNet.random([2, 4, 6], rng=0)
    x = np.ones(6)
    p = MILPProof(1.0, 2, "exact", 1e-6, 0, 0, "mip", G, x)
    x[0] = 5.0
    assert p.x[0] == 1.0
    y = np.zeros(6)
    p.x = y
    y[1] = 3.0
    assert p.x[1] == 0.0 and not p.x.flags.writeable


# ---------------------------------------------------------------------------------------------- empty batches
def test_empty_batch_is_refused(net):
    """Decision: an empty batch is a ValueError (no Result to give), at every public entry."""
    msg = r"must hold at least one row.*got an empty batch of shape \(0, 20\)"
    with pytest.raises(ValueError, match="x " + msg):
        invert(net, np.zeros((0, 20)), method="exact")
    with pytest.raises(ValueError, match="x " + msg):
        invert(net, np.zeros((0, 20)))
    with pytest.raises(ValueError, match="x " + msg):
        compress(net, np.zeros((0, 20)), "exact")
    with pytest.raises(ValueError, match="x " + msg):
        milp_invert(net, np.zeros((0, 20)))
    with pytest.raises(ValueError, match=r"y must hold at least one row.*\(0, 8\)"):
        recover(net, GaussianCS(8, 20, rng=0), np.zeros((0, 8)))


# ---------------------------------------------------------------------------------------------- crafted files
def _huge_npy_bytes(shape=(10 ** 12,), dtype="<f8"):
    """An .npy stream whose header claims ``shape`` (8 TB) but which holds 16 bytes of data."""
    buf = io.BytesIO()
    npformat.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    buf.write(b"\0" * 16)
    return buf.getvalue()


def _npz_with(path, arrays, raw=None):
    """An .npz of ``arrays`` plus ``raw`` entries ``{name: bytes of an .npy stream}``."""
    with zipfile.ZipFile(path, "w") as zf:
        for k, v in arrays.items():
            b = io.BytesIO()
            np.save(b, v)
            zf.writestr(k + ".npy", b.getvalue())
        for k, v in (raw or {}).items():
            zf.writestr(k + ".npy", v)
    return path


def test_header_claiming_a_huge_array_is_refused_by_every_reader(tmp_path, net, capsys):
    huge = tmp_path / "huge.npy"
    huge.write_bytes(_huge_npy_bytes())
    with pytest.raises(ValueError, match=r"huge.npy.*header declares.*\(1000000000000,\)"):
        read_npy(huge)
    net.save(tmp_path / "net.npz")
    with np.load(tmp_path / "net.npz") as f:
        arrays = {k: f[k] for k in f.files if k != "W0"}
    _npz_with(tmp_path / "huge_net.npz", arrays, {"W0": _huge_npy_bytes((10 ** 6, 10 ** 6))})
    with pytest.raises(ValueError, match=r"huge_net.npz.*'W0'.*header declares"):
        ReLUNet.load(tmp_path / "huge_net.npz")
    with pytest.raises(ValueError, match=r"huge_net.npz.*'W0'.*header declares"):
        read_npz(tmp_path / "huge_net.npz")
    code = compress(net, net(np.ones(3)), "exact")
    save_code(tmp_path / "code.npz", code)
    with np.load(tmp_path / "code.npz") as f:
        arrays = {k: f[k] for k in f.files if k != "z"}
    _npz_with(tmp_path / "huge_code.npz", arrays, {"z": _huge_npy_bytes()})
    with pytest.raises(ValueError, match=r"huge_code.npz.*'z'.*header declares"):
        load_code(tmp_path / "huge_code.npz")
    rc = main(["invert", "--net", str(tmp_path / "net.npz"), "--x", str(huge), "--out", str(tmp_path / "z.npy")])
    err = capsys.readouterr().err
    assert rc == 2 and "--x file" in err and "header declares" in err and "Traceback" not in err


def test_network_file_that_is_an_npy(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"a.npy.*not a readable .npz archive written by ReLUNet.save"):
        ReLUNet.load(tmp_path / "a.npy")


def _edited_net(tmp_path, net, **changes):
    """``net``'s file with entries replaced (value) or removed (None)."""
    net.save(tmp_path / "net.npz")
    with np.load(tmp_path / "net.npz") as f:
        data = {k: f[k] for k in f.files}
    for k, v in changes.items():
        if v is None:
            data.pop(k)
        else:
            data[k] = np.asarray(v)
    np.savez(tmp_path / "edited.npz", **data)
    return tmp_path / "edited.npz"


@pytest.mark.parametrize("changes, match", [
    (dict(n_layers=1), r"holds entries its format does not have: 'W1', 'act1', 'b1', 'slope1' \(its 'n_layers' "
                       r"entry says 1 layer\)"),
    (dict(n_layers=3), r"incomplete: entry 'W2' is missing \(its 'n_layers' entry says 3 layers\)"),
    (dict(n_layers=1.5), r"'n_layers' entry must be an integer; got float64 1.5"),
    (dict(n_layers="2"), r"'n_layers' entry must be an integer; got <U1 '2'"),
    (dict(n_layers=True), r"'n_layers' entry must be an integer; got bool True"),
    (dict(n_layers=[2, 2]), r"'n_layers' entry must be an integer; got int64 of shape \(2,\)"),
    (dict(n_layers=0), r"'n_layers' entry must be a positive integer; got 0"),
    (dict(n_layers=10 ** 12), r"'n_layers' entry says 1000000000000 layers but the file holds only 11 entries"),
    (dict(n_layers=None), r"'n_layers' entry is missing"),
    (dict(version=99), r"has format version 99; this layerinv reads version 1"),
    (dict(version=None), r"has format version missing"),
    (dict(version="1"), r"has format version '1'; this layerinv reads version 1"),
    (dict(extra=np.ones(2)), r"holds entries its format does not have: 'extra'"),
    (dict(act0=["relu", "relu"]), r"'act0' entry must be a string; got <U4 of shape \(2,\)"),
    (dict(slope0=[0.0, 0.1]), r"'slope0' entry must be a real number"),
    (dict(W0=np.ones(10)), r"'W0' entry must be a 2-D array of real numbers; got float64 of shape \(10,\)"),
    (dict(b1=np.ones(3)), r"biases\[1\] must have shape \(20\)"),
    (dict(act1="softplus"), r"layer 1's activation"),
])
def test_tampered_network_file_is_refused(tmp_path, net, changes, match):
    path = _edited_net(tmp_path, net, **changes)
    with pytest.raises(ValueError, match=r"network file '.*edited.npz'.*" + match):
        ReLUNet.load(path)


@pytest.fixture
def code_files(tmp_path, net):
    x = net(np.ones(3))
    save_code(tmp_path / "one.npz", compress(net, x, "exact", dtype="float64"))
    save_code(tmp_path / "batch.npz", compress(net, np.stack([x, 2 * x]), "exact", dtype="float64"))
    return tmp_path


@pytest.mark.parametrize("which, changes, match", [
    ("one", dict(shape=[4, 6]), r"'shape' entry \(the original x's shape\) must be a shape with 20 entries.*\(4, 6\)"),
    ("one", dict(shape=[-20]), r"'shape' entry .* got \(-20,\)"),
    ("one", dict(shape=[[20]]), r"'shape' entry must be a 1-D array of integers"),
    ("batch", dict(shape=[3, 20]), r"'shape' entry .* must be \(2, 20\)"),
    ("one", dict(dims=[[3, 10, 20]]), r"'dims' entry must be a 1-D array of integers"),
    ("one", dict(dims=[3, 10, 0]), r"'dims' entry must list at least two positive sizes"),
    ("one", dict(dims=[4, 10, 20]), r"latent has 3 entries but the network's k is 4"),
    ("one", dict(z=np.ones((1, 1, 3))), r"latent must be a finite, non-empty 1-D or 2-D"),
    ("one", dict(z=np.ones((0, 3))), r"latent must be a finite, non-empty"),
    ("one", dict(z=np.array([1.0, np.nan, 0.0])), r"latent must be a finite"),
    ("one", dict(relative_error=np.ones(7)), r"'relative_error' entry must be a real number"),
    ("batch", dict(psnr=np.ones(5)), r"'psnr' entry must hold one value per signal \(2\); got shape \(5,\)"),
    ("batch", dict(t_lower=np.ones(5)), r"'t_lower' entry must hold one value per signal"),
    ("one", dict(has_t=True, t=np.ones((5, 5))), r"'t' entry must be a 1-D array of real numbers"),
    ("one", dict(has_t=True, t=np.ones(5)), r"'t' entry must hold one value per layer \(2\)"),
    ("one", dict(fingerprint=["a", "b"]), r"'fingerprint' entry must be a string"),
    ("one", dict(fingerprint="abc"), r"'fingerprint' entry must be a SHA-256 hex digest"),
    ("one", dict(size=[1, 2]), r"'size' entry must be an integer"),
    ("one", dict(version=99), r"has format version 99; this layerinv reads version 1"),
    ("one", dict(extra=1), r"holds entries its format does not have: 'extra'"),
    ("one", dict(peak=None), r"incomplete: entry 'peak' is missing"),
    ("one", dict(x_nonzero=[True, False]), r"'x_nonzero' entry must be a bool"),
    ("batch", dict(status=["exact"]), r"'status' entry must hold one status per signal \(2\)"),
    ("one", dict(status=[[1]]), r"'status' entry must be a 1-D array of strings"),
])
def test_tampered_code_file_is_refused(code_files, which, changes, match):
    with np.load(code_files / f"{which}.npz") as f:
        data = {k: f[k] for k in f.files}
    for k, v in changes.items():
        if v is None:
            data.pop(k)
        else:
            data[k] = np.asarray(v)
    np.savez(code_files / "edited.npz", **data)
    with pytest.raises(ValueError, match=r"code file '.*edited.npz'.*" + match):
        load_code(code_files / "edited.npz")


def test_decompress_checks_a_hand_edited_code(net):
    code = compress(net, net(np.ones(3)), "exact")
    code.shape = (4, 6)
    with pytest.raises(ValueError, match=r"code.shape \(4, 6\) \(the original x's shape\) does not hold the 20"):
        decompress(net, code)


def test_intact_code_files_still_load(code_files, net):
    for which in ("one", "batch"):
        code = load_code(code_files / f"{which}.npz")
        assert decompress(net, code).shape == ((20,) if which == "one" else (2, 20))
        assert code.info["status"] == ("exact" if which == "one" else ["exact", "exact"])
    with np.load(code_files / "one.npz") as f:  # a file written before codes recorded status / x_nonzero
        np.savez(code_files / "old.npz", **{k: f[k] for k in f.files if k not in ("status", "x_nonzero")})
    old = load_code(code_files / "old.npz")
    assert old.info == {"status": "", "x_nonzero": True}


# ---------------------------------------------------------------------------------------------- output paths
def test_outputs_naming_a_directory_or_missing_folder(tmp_path, net, capsys):
    (tmp_path / "d").mkdir()
    with pytest.raises(ValueError, match=r"network file '.*d' is a directory"):
        net.save(tmp_path / "d")
    with pytest.raises(ValueError, match=r"network file '.*no/net.npz' cannot be written: its folder"):
        net.save(tmp_path / "no" / "net.npz")
    with pytest.raises(ValueError, match=r"code file '.*d' is a directory"):
        save_code(tmp_path / "d", compress(net, net(np.ones(3)), "exact"))
    net.save(tmp_path / "net.npz")
    np.save(tmp_path / "x.npy", net(np.ones(3)))
    for cmd in (["compress"], ["invert"]):
        rc = main(cmd + ["--net", str(tmp_path / "net.npz"), "--x", str(tmp_path / "x.npy"),
                         "--out", str(tmp_path / "d")])
        err = capsys.readouterr().err
        assert rc == 2 and "--out file" in err and "is a directory" in err and "Traceback" not in err, cmd


def test_demo_and_experiment_out_naming_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("not a folder")
    for argv in (["demo", "--quick", "--out", str(f)], ["experiment", "noise", "--quick", "--out", str(f)]):
        rc = main(argv)
        err = capsys.readouterr().err
        assert rc == 2 and "--out" in err and "is an existing file" in err, argv
    assert f.read_text() == "not a folder"


def test_cli_invert_writes_the_name_it_prints(tmp_path, net, capsys):
    net.save(tmp_path / "net.npz")
    np.save(tmp_path / "x.npy", net(np.ones(3)))
    out = tmp_path / "out" / "z"
    out.parent.mkdir()
    rc = main(["invert", "--net", str(tmp_path / "net.npz"), "--x", str(tmp_path / "x.npy"), "--method", "exact",
               "--out", str(out)])
    assert rc == 0 and f"wrote z to {out}\n" in capsys.readouterr().out
    assert out.exists() and not (tmp_path / "out" / "z.npy").exists()
    assert read_npy(out).shape == (3,)


# ---------------------------------------------------------------------------------------------- option values
@pytest.mark.parametrize("method, options, rule", [
    ("exact", dict(tol=2), r"'tol' option of invert\(method='exact'\) must be a finite real number > 0 and < 1; got 2"),
    ("exact", dict(tol=1.0), r"'tol' .* > 0 and < 1; got 1.0"),
    ("exact", dict(tol=1e300), r"'tol' .* > 0 and < 1; got 1e\+300"),
    ("auto", dict(tol=2), r"'tol' option of invert\(method='auto'\)"),
    ("milp", dict(tol=5), r"'tol' option of invert\(method='milp'\)"),
    ("linf", dict(eps=1e300), r"'eps' option of invert\(method='linf'\) must be a finite real number >= 0 and "
                              r"<= 1e\+150, or None; got 1e\+300"),
    ("l1", dict(eps=1e200), r"'eps' .* <= 1e\+150"),
    ("linf", dict(gap_tol=1.0), r"'gap_tol' .* >= 0 and < 1; got 1.0"),
    ("milp", dict(box=1e300), r"'box' .* <= 1e\+150"),
    ("milp", dict(time_limit=1e300), r"'time_limit' .* <= 1e\+150"),
    ("gd", dict(lr=1e300, rng=0), r"'lr' .* <= 1e\+150"),
])
def test_out_of_range_options_are_refused(net, method, options, rule):
    with pytest.raises(ValueError, match=rule):
        invert(net, net(np.ones(3)), method=method, **options)


def test_in_range_extremes_are_accepted(net):
    x = net(np.ones(3))
    assert invert(net, x, method="exact", tol=0.5).status == "exact"
    assert invert(net, x, method="linf", eps=1e100).status == "feasible"
    assert invert(net, x, method="linf", gap_tol=0.999).ok


def test_phase_retrieval_magnitudes_must_be_nonnegative(net):
    op = PhaseRetrieval(15, 20, rng=0)
    y = op(net(np.ones(3)))
    bad = y.copy()
    bad[4] = -0.5
    for method in ("gn", "auto"):
        with pytest.raises(ValueError, match=r"y holds magnitudes .* never negative; got 1 negative entries "
                                             r"\(e.g. y\[4\] = -0.5\)"):
            recover(net, op, bad, method=method)
    with pytest.raises(ValueError, match=r"y\[1, 4\] = -0.5"):
        recover(net, op, np.stack([y, bad]), method="gn")
    assert recover(net, op, np.zeros(15), method="gn").z.shape == (3,)  # zero magnitudes are fine


@pytest.mark.parametrize("bias", ["yes", 1, None, 0.0])
def test_random_bias_must_be_a_bool(bias):
    with pytest.raises(TypeError, match=f"bias must be True or False; got {bias!r}"):
        ReLUNet.random([2, 3], rng=0, bias=bias)


def test_random_bias_accepts_bools():
    assert ReLUNet.random([2, 3], rng=0, bias=np.bool_(True)).has_bias
    assert not ReLUNet.random([2, 3], rng=0, bias=False).has_bias


# ---------------------------------------------------------------------------------------------- time limits
def test_every_method_has_a_bounded_default():
    """milp has a default clock limit; every other method's work is bounded by its own options
    (one LP per layer, ``steps`` iterations, auto's ``milp_time_limit``), and the doc says how to change it."""
    milp = SOLVERS["milp"].option("time_limit")
    assert milp.default == 60.0 and "default limit" in milp.doc and milp.allow_none
    assert SOLVERS["auto"].option("milp_time_limit").default == 10.0
    for s in SOLVERS.values():
        names = {o.name: o for o in s.options}
        if s.name == "milp":
            continue
        assert "steps" in names or "time_limit" in names, s.name
        if "steps" in names and not names["steps"].allow_none:
            assert names["steps"].default is not None
        if "time_limit" in names:
            assert "bounded" in names["time_limit"].doc, s.name


def test_milp_passes_its_default_time_limit_to_highs(net, monkeypatch):
    seen = []
    real = Highs.run

    def run(self, time_limit=None):
        seen.append(time_limit)
        return real(self, time_limit)

    monkeypatch.setattr(Highs, "run", run)
    invert(net, net(np.ones(3)), method="milp", objective="l1")
    assert seen and all(t is not None and t <= 60.0 for t in seen)


# ---------------------------------------------------------------------------------------------- injected faults
def _noisy(G, seed=1):
    x = G(np.random.default_rng(seed).standard_normal(G.k))
    return x + 1e-2 * np.random.default_rng(seed + 1).uniform(-1, 1, G.n)


def _fail_ipm(monkeypatch):
    """The interior point never converges (one iteration, no vertex): HiGHS must take over."""
    real = {"linf": kernels.ipm_linf, "l1": kernels.ipm_l1}
    monkeypatch.setattr(kernels, "ipm_linf", lambda system, **kw: real["linf"](system, **{**kw, "steps": 1,
                                                                                           "vertex": False}))
    monkeypatch.setattr(kernels, "ipm_l1", lambda system, **kw: real["l1"](system, **{**kw, "steps": 1,
                                                                                       "vertex": False}))


def _break_ipm(monkeypatch):
    """The interior point fails outright (numerical trouble, no point): HiGHS must take over."""
    def failed(system, **kw):
        return LayerSolution(np.full(system.n_in, np.nan), "failed", np.inf, -np.inf, None,
                             message="injected fault: no convergence")
    monkeypatch.setattr(kernels, "ipm_linf", failed)
    monkeypatch.setattr(kernels, "ipm_l1", failed)


def _highs_says(monkeypatch, status, raw, exc=None):
    def run(self, time_limit=None):
        if exc is not None:
            raise exc
        return HighsSolution(None, None, status, raw)
    monkeypatch.setattr(Highs, "run", run)


@pytest.mark.parametrize("mode", ["linf", "l1"])
def test_ipm_not_converging_falls_back_to_highs(monkeypatch, mode):
    G = ReLUNet.random([5, 50, 200], rng=0)  # expansive enough that linf/l1 reach "optimal"
    x = _noisy(G)
    ref = invert(G, x, method=mode, gap_tol=0.0)
    _fail_ipm(monkeypatch)
    res = invert(G, x, method=mode, gap_tol=0.0)
    assert res.status == ref.status == "optimal"
    assert np.isclose(res.layers[0].objective, ref.layers[0].objective, rtol=1e-6)
    assert any("interior point" in r.message and "HiGHS" in r.message for r in res.layers)


@pytest.mark.parametrize("status, raw, exc, expect", [
    ("failed", "kSolveError", None, "failed"),
    ("time_limit", "kTimeLimit", None, "time_limit"),
    (None, None, RuntimeError("HiGHS crashed"), "failed"),
])
@pytest.mark.parametrize("mode", ["linf", "l1", "exact"])
def test_highs_faults_in_the_layer_lps(monkeypatch, mode, status, raw, exc, expect):
    G = ReLUNet.random([6, 5, 40], rng=3)  # 5 < 6: the lower layer is not pinned, its LP must run
    x = _noisy(G) if mode != "exact" else G(np.random.default_rng(0).standard_normal(6))
    _break_ipm(monkeypatch)
    _highs_says(monkeypatch, status, raw, exc)
    res = invert(G, x, method=mode, gap_tol=0.0) if mode != "exact" else invert(G, x, method=mode)
    assert res.status in (expect, "inconclusive") and not res.ok
    assert res.certificate is None
    msg = res.message + " ".join(r.message for r in res.layers)
    assert ("HiGHS" in msg) and (raw or "HiGHS crashed") in msg


@pytest.mark.parametrize("status, raw, exc, expect, said", [
    ("failed", "kSolveError", None, "failed", "kSolveError"),
    ("time_limit", "kTimeLimit", None, "time_limit", "HiGHS ran out of time"),
    ("infeasible", "kInfeasible", RuntimeError("HiGHS crashed"), "failed", "RuntimeError: HiGHS crashed"),
])
def test_highs_faults_in_the_milp(net, monkeypatch, status, raw, exc, expect, said):
    x = net(np.ones(3))
    _highs_says(monkeypatch, status, raw, exc)
    res = invert(net, x, method="milp")
    assert res.status == expect and not res.ok and res.certificate is None
    assert said in res.message and "no claim about x" in res.message


def test_highs_faults_in_auto(monkeypatch):
    """auto on a net where exact is inconclusive (the MILP ladder runs): HiGHS failing everywhere
    gives no false verdict and no traceback."""
    G = ReLUNet.random([6, 5, 40], rng=3)
    x = G(np.random.default_rng(0).standard_normal(6))
    _fail_ipm(monkeypatch)
    _highs_says(monkeypatch, None, None, RuntimeError("HiGHS crashed"))
    res = invert(G, x, method="auto")
    assert res.status != "infeasible" and res.certificate is None
    assert res.ok == (res.status in ("exact", "optimal", "feasible", "converged", "max_iter"))
    if res.ok:
        assert np.all(np.isfinite(res.z))


def test_nan_or_inf_in_x_is_refused(net):
    for bad in (np.nan, np.inf):
        x = net(np.ones(3))
        x[2] = bad
        with pytest.raises(ValueError, match=r"x must be finite; it has 1 NaN or infinite entries"):
            invert(net, x)
        with pytest.raises(ValueError, match=r"y must be finite"):
            recover(net, GaussianCS(8, 20, rng=0), np.r_[np.ones(7), bad])


@pytest.mark.parametrize("method", ["exact", "linf", "l1", "auto", "milp"])
def test_overflow_mid_network_gives_an_honest_answer(method):
    """Weights of 1e200: a forward pass of an ordinary z overflows to inf (and inf - inf = NaN in the
    next layer). Whatever the method says, it never raises and never calls a z ok that does not fit."""
    W0 = np.full((4, 2), 1e200)
    W0[::2] *= -1
    W1 = np.random.default_rng(0).standard_normal((6, 4)) * 1e200
    G = ReLUNet([W0, W1])
    x = np.abs(np.random.default_rng(1).standard_normal(6))
    with np.errstate(all="ignore"):
        assert not np.all(np.isfinite(G(np.ones(2))))
    res = invert(G, x, method=method)
    if res.ok:
        with np.errstate(all="ignore"):
            assert _fits(G, res, x, 1e-6 if method in ("exact", "milp") else 1.0), (res.status, res.message)
    assert np.isfinite(res.residual) or not res.ok


@pytest.mark.parametrize("method, op", [("gn", "cs"), ("pgd", "cs"), ("auto", "cs"), ("gd", "cs"), ("gn", "phase")])
def test_overflow_mid_network_in_recover(method, op):
    """The same overflowing net under recover: no warning (warnings are errors here), and a method
    whose every start overflows says "failed", never "converged" with a NaN objective."""
    W0 = np.full((4, 2), 1e200)
    W0[::2] *= -1
    G = ReLUNet([W0, np.random.default_rng(0).standard_normal((6, 4)) * 1e200])
    A = GaussianCS(4, 6, rng=0) if op == "cs" else PhaseRetrieval(5, 6, rng=0)
    y = A(np.abs(np.random.default_rng(1).standard_normal(6)))
    res = recover(G, A, y, method=method, **({"rng": 0, "steps": 50} if method == "gd" else {}))
    assert not res.ok and res.status == "failed"


def test_torch_missing_for_gd(net, monkeypatch, capsys, tmp_path):
    """Decision: a missing optional dependency is an ImportError saying what needs it and how to get it
    (before any work), and one line with exit status 2 from the CLI."""
    import layerinv.solvers.gd as gd

    def no_torch(what):
        raise ImportError(f"{what} needs PyTorch: pip install torch==2.13.0 (CPU build)")

    monkeypatch.setattr(gd, "require_torch", no_torch)
    with pytest.raises(ImportError, match=r"method='gd' needs PyTorch: pip install torch"):
        invert(net, net(np.ones(3)), method="gd", rng=0)
    with pytest.raises(ImportError, match=r"method='gd' needs PyTorch"):
        recover(net, GaussianCS(8, 20, rng=0), np.ones(8), method="gd", rng=0)
    net.save(tmp_path / "net.npz")
    np.save(tmp_path / "x.npy", net(np.ones(3)))
    rc = main(["invert", "--net", str(tmp_path / "net.npz"), "--x", str(tmp_path / "x.npy"), "--method", "gd",
               "--out", str(tmp_path / "z.npy")])
    err = capsys.readouterr().err
    assert rc == 2 and "needs PyTorch" in err and "Traceback" not in err


def test_exact_inversion_still_exact(net):
    """The copies changed nothing numerically: planted truth is still recovered to TOL."""
    z = np.array([0.3, -1.2, 0.8])
    res = invert(net, net(z), method="exact")
    assert res.status == "exact" and res.residual <= TOL["residual_exact"]
