"""``layerinv experiment conv`` (issue 12 item 5) in its seconds-long forms, and its pattern oracle."""
import argparse
import os

import numpy as np
import pytest

from layerinv.cli.experiment import register
from layerinv.experiments import _common as C
from layerinv.experiments import conv

torch = pytest.importorskip("torch")


def parse(*argv):
    p = argparse.ArgumentParser(prog="layerinv")
    register(p.add_subparsers(dest="command"))
    return p.parse_args(["experiment", "conv", *argv])


def tiny_net(seed=0):
    from layerinv import ReLUNet

    m = conv.conv_module(4, (3, 2), 3, seed=seed)
    return m, ReLUNet.from_torch(m, input_shape=(4,))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_oracle_is_exact_on_noise_free_x(seed):
    _, G = tiny_net(seed)
    z = np.random.default_rng(seed).standard_normal(G.k)
    assert C.relative_error(conv.oracle(G, G(z), z), z) < 1e-10


def test_affine_map_of_the_region_is_the_net_there():
    _, G = tiny_net(3)
    z = np.random.default_rng(3).standard_normal(G.k)
    J, c = conv.affine_at(G, z)
    dz = 1e-7 * np.random.default_rng(4).standard_normal(G.k)  # small enough to stay in z's region
    np.testing.assert_allclose(J @ (z + dz) + c, G(z + dz), rtol=0, atol=1e-12)


def test_nets_match_torch():
    from layerinv import ReLUNet

    m = conv.dcgan_module(8, 2, seed=0)
    G = ReLUNet.from_torch(m, input_shape=(8, 1, 1))
    assert G.dims[0] == 8 and G.dims[-1] == 64 * 64 * 3
    z = np.random.default_rng(0).standard_normal((2, 8))
    np.testing.assert_allclose(G(z), conv.torch_forward(m, (8, 1, 1), z), rtol=1e-10, atol=1e-14)
    m, G = tiny_net()
    np.testing.assert_allclose(G(z[:, :4]), conv.torch_forward(m, (4,), z[:, :4]), rtol=1e-10, atol=1e-14)


def test_quick_conv_run_writes_csv_table_and_figure(tmp_path):
    args = parse("--quick", "--quiet", "--nets", "conv", "--methods", "auto,csgm", "--lr-grid", "0.03,0.1",
                 "--out", str(tmp_path))
    files = conv.run(args)
    assert [os.path.basename(f) for f in files] == ["conv_trials.csv", "conv_summary.csv", "conv_table.md",
                                                    "conv.json", "conv.png"]
    assert all(os.path.getsize(f) > 0 for f in files)
    rows = C.read_csv(files[0])
    assert list(rows[0]) == conv.TRIAL_COLUMNS
    assert {r["setting"] for r in rows} == {"clean", "var=0.01", "var=0.3", "digits"}
    oracle = [r for r in rows if r["method"] == "oracle"]
    assert {r["setting"] for r in oracle} == {"clean", "var=0.01", "var=0.3"}
    assert all(r["z_err"] < 1e-10 and r["success"] for r in oracle if r["setting"] == "clean")
    assert all(r["forward_err"] < 1e-12 for r in rows if r["setting"] != "digits")
    assert all(r["seconds"] >= 0 and np.isfinite(r["peak_mb"]) for r in rows)
    cfg = C.read_json(files[3])["config"]
    assert cfg["lr"]["conv"] in (0.03, 0.1) and set(cfg["lr_scores"]["conv"]) == {"0.03", "0.1"}
    with open(files[2]) as fh:
        assert "Targets (issue 12)" in fh.read()
    assert conv.plot(str(tmp_path)) == [files[-1]]  # --plot-only path: redrawn from the files


def test_a_failing_method_is_a_status_not_a_crash(tmp_path, monkeypatch):
    import layerinv

    def boom(*a, **k):
        raise RuntimeError("no such luck")

    monkeypatch.setattr(layerinv, "invert", boom)
    args = parse("--quick", "--quiet", "--nets", "dcgan,conv", "--settings", "clean", "--methods", "exact,csgm",
                 "--lr-grid", "0.1",
                 "--steps", "5", "--out", str(tmp_path))
    rows = C.read_csv(conv.run(args)[0])
    exact = [r for r in rows if r["method"] == "exact"]
    assert exact and all(r["status"] == "error: RuntimeError: no such luck" and not r["success"] for r in exact)
    summary = C.read_csv(os.path.join(tmp_path, "conv_summary.csv"))
    assert [r["errors"] for r in summary if r["method"] == "exact"] == [2, 1]  # conv 2 trials, dcgan 1
    assert {(r["net"], r["setting"]) for r in rows} == {("conv", "clean"), ("dcgan", "clean")}


@pytest.mark.parametrize("argv", [["--nets", "conv,foo"], ["--methods", "auto,auto"], ["--decoder", "big"],
                                  ["--lr-grid", "0"], ["--steps", "0"], ["--settings", "clean,noisy"]])
def test_bad_options_are_argparse_errors(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        parse(*argv)
    assert exc.value.code == 2


def test_more_trials_than_digits_is_refused(tmp_path):
    with pytest.raises(ValueError, match="--trials must be <= 100"):
        conv.run(parse("--trials", "101", "--nets", "conv", "--out", str(tmp_path)))


def test_shipped_decoder_and_its_torch_module_agree():
    module, G, shape = conv.load({"decoder": "shipped", "seed": 0, "sizes": {"conv": [20, 32, 16, 7]}}, "conv")
    assert G.dims == [20, 1568, 3136, 784] and shape == (20,)
    z = np.random.default_rng(0).standard_normal((3, 20))
    np.testing.assert_allclose(conv.torch_forward(module, shape, z), G(z), rtol=0, atol=1e-12)
