"""The experiment framework and the random-network experiments, in their seconds-long forms."""
import argparse
import os

import numpy as np
import pytest
from scipy.stats import binom

from layerinv.cli.experiment import register
from layerinv.experiments import EXPERIMENTS, load
from layerinv.experiments import _common as C
from layerinv.experiments import noise, random_k, timing

from conftest import SEEDS

LP_METHODS = ["exact", "linf", "l1"]


def parser():
    p = argparse.ArgumentParser(prog="layerinv")
    register(p.add_subparsers(dest="command"))
    return p


def parse(*argv):
    return parser().parse_args(["experiment", *argv])


def files_exist(files):
    return all(os.path.getsize(f) > 0 for f in files)


# ------------------------------------------------------------------------------------------ framework
def test_registry_modules_follow_the_contract():
    for name in EXPERIMENTS:
        mod = load(name)
        assert isinstance(mod.DESCRIPTION, str) and mod.DESCRIPTION
        assert callable(mod.add_arguments) and callable(mod.run) and callable(mod.plot)


def test_help_lists_every_experiment(capsys):
    with pytest.raises(SystemExit) as exc:
        parser().parse_args(["experiment", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert all(name in text for name in EXPERIMENTS)


@pytest.mark.parametrize("argv", [
    ["no-such-experiment"],
    ["random-k", "--trials", "0"],
    ["random-k", "--ks", "10,x"],
    ["random-k", "--ks", "10,10"],
    ["random-k", "--methods", "exact,foo"],
    ["random-k", "--noise", "-1"],
    ["random-k", "--noise", "nan"],
    ["random-k", "--activation", "tanh"],
    ["random-k", "--slope", "1.5"],
    ["random-k", "--jobs", "0"],
    ["noise", "--levels", "0,1e-3"],
    ["timing", "--methods", "gd,gd"],
])
def test_bad_options_are_argparse_errors(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        parse(*argv)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


def test_timing_refuses_parallel_jobs(tmp_path):
    args = parse("timing", "--quick", "--jobs", "2", "--out", str(tmp_path))
    with pytest.raises(ValueError, match="--jobs 1"):
        timing.run(args)


@pytest.mark.parametrize("seed", SEEDS)
def test_trial_seed_is_the_spawned_child(seed):
    child = np.random.SeedSequence(seed).spawn(4)[3].spawn(6)[5]
    a = np.random.default_rng(child).standard_normal(5)
    b = C.trial_rng(seed, 3, 5).standard_normal(5)
    assert np.array_equal(a, b)


def test_csv_round_trip_keeps_full_precision(tmp_path):
    rows = [{"a": 1, "b": 0.1 + 0.2, "c": "x", "d": True}, {"a": 2, "b": float("inf"), "c": "y z", "d": False}]
    path = C.write_csv(tmp_path / "t.csv", rows, ["a", "b", "c", "d"])
    assert C.read_csv(path) == rows


@pytest.mark.parametrize("seed", SEEDS)
def test_relative_noise_has_the_stated_norm(seed):
    x = np.abs(np.random.default_rng(seed).standard_normal(50))
    for kind in ("uniform", "gaussian"):
        y = C.add_noise(x, 1e-3, kind, np.random.default_rng(seed), scale="relative")
        assert np.linalg.norm(y - x) / np.linalg.norm(x) == pytest.approx(1e-3, rel=1e-12)
    y = C.add_noise(x, 1e-9, "uniform", np.random.default_rng(seed))
    assert 0 < np.max(np.abs(y - x)) <= 1e-9


# ------------------------------------------------------------------------------------------ random-k
@pytest.mark.parametrize("n1", [20, 250])
def test_ceiling_is_the_binomial_tail(n1):
    ks = np.arange(0, n1 + 3)
    ours = np.array([random_k.ceiling(k, n1) for k in ks])
    np.testing.assert_allclose(ours, binom.sf(ks - 1, n1, 0.5), rtol=1e-12, atol=1e-300)
    assert np.all(np.diff(ours) <= 0) and ours[0] == 1.0 and ours[-1] == 0.0
    assert random_k.ceiling(n1, n1, "leaky_relu") == 1.0 and random_k.ceiling(n1 + 1, n1, "leaky_relu") == 0.0


def test_random_k_quick_schema_and_lp_success(tmp_path):
    ks, trials = [5, 10], 3
    args = parse("random-k", "--quick", "--quiet", "--ks", "5,10",
                 "--methods", ",".join(LP_METHODS), "--trials", str(trials), "--out", str(tmp_path))
    files = random_k.run(args)
    assert [os.path.basename(f) for f in files] == ["random_k_relu_trials.csv", "random_k_relu_summary.csv",
                                                     "random_k_relu_table.md", "random_k_relu.json",
                                                     "random_k_relu.png"]
    assert files_exist(files)
    rows = C.read_csv(files[0])
    assert list(rows[0]) == random_k.TRIAL_COLUMNS
    assert len(rows) == len(ks) * trials * len(LP_METHODS)
    summary = C.read_csv(files[1])
    assert list(summary[0]) == random_k.SUMMARY_COLUMNS
    for r in summary:  # k <= 10 of 250 units: identifiable with overwhelming probability
        assert r["success_rate"] == 1.0 and r["fit_rate"] == 1.0 and r["errors"] == 0, r
        assert r["ceiling"] == pytest.approx(binom.sf(r["k"] - 1, 250, 0.5), rel=1e-12)
    # the figure is drawn from the files alone
    os.remove(files[-1])
    redrawn = random_k.run(parse("random-k", "--plot-only", "--out", str(tmp_path)))
    assert redrawn == [files[-1]] and files_exist(redrawn)


# Regression: found by random-k and noise (linf took inactive rows of a noisy hidden target for
# active ones and returned z errors of 0.2-0.35 although z* fits to ~1e-7); fixed in e0128c6.
@pytest.mark.parametrize("case", ["random-k 10x40x100, noise 1e-9", "noise 20x100x500, level 1e-6"])
def test_linf_tiny_noise_activity_threshold(case):
    from layerinv import ReLUNet, invert

    if case.startswith("random-k"):
        G, z, x = random_k.instance(0, (10, 1), 10, [40, 100], "relu", 0.1, 1e-9)
    else:
        rng = C.trial_rng(0, 1)
        G = ReLUNet.random([20, 100, 500], rng)
        z = rng.standard_normal(20)
        x = C.add_noise(G(z), 1e-6, "uniform", C.trial_rng(0, 1, noise.level_key(1e-6), 0), scale="relative")
    assert C.relative_error(invert(G, x, method="l1").z, z) < 1e-3  # identifiable: l1 recovers z*
    assert C.relative_error(invert(G, x, method="linf").z, z) < 1e-3


# regression: linf/l1 once forced a noise entry of layer 0 into the equations when fewer than k
# units were active (109 of 250 at k = 110) and returned residuals 2e-3 to 0.1; found by random-k.
@pytest.mark.parametrize("method", ["linf", "l1"])
def test_lps_fit_a_non_identifiable_x(method):
    from layerinv import invert

    G, z, x = random_k.instance(0, (110, 27), 110, [250, 600], "relu", 0.1, 1e-9)
    assert np.count_nonzero(G.layers[0].affine(z) > 0) == 109  # fewer active units than k: z* not identifiable
    assert invert(G, x, method="exact").residual < 1e-6  # a preimage exists
    assert invert(G, x, method=method).residual < 1e-6


def test_random_k_results_do_not_depend_on_jobs(tmp_path):
    common = ["random-k", "--quiet", "--ks", "6,12", "--widths", "30,80", "--methods", ",".join(LP_METHODS),
              "--trials", "2"]
    one = C.read_csv(random_k.run(parse(*common, "--out", str(tmp_path / "a"), "--jobs", "1"))[0])
    two = C.read_csv(random_k.run(parse(*common, "--out", str(tmp_path / "b"), "--jobs", "2"))[0])
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in one]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in two]


def test_random_k_trials_are_prefixes(tmp_path):
    """Trial i is the same instance in a 1-trial and a 2-trial run."""
    common = ["random-k", "--quiet", "--ks", "8", "--widths", "30,80", "--methods", "exact"]
    a = C.read_csv(random_k.run(parse(*common, "--trials", "1", "--out", str(tmp_path / "a")))[0])
    b = C.read_csv(random_k.run(parse(*common, "--trials", "2", "--out", str(tmp_path / "b")))[0])
    assert a[0]["z_err"] == b[0]["z_err"] and a[0]["active1"] == b[0]["active1"]


def test_random_k_leaky_with_gd(tmp_path):
    args = parse("random-k", "--quick", "--quiet", "--activation", "leaky_relu", "--ks", "4", "--widths", "20,50",
                 "--trials", "2", "--gd-steps", "30", "--out", str(tmp_path))
    files = random_k.run(args)
    assert files_exist(files) and files[-1].endswith("random_k_leaky_relu.png")
    rows = C.read_csv(files[0])
    assert {r["method"] for r in rows} == set(random_k.METHODS)
    assert not any(str(r["status"]).startswith("error") for r in rows), rows
    for r in rows:
        assert r["identifiable"] is True
        if r["method"] in LP_METHODS:
            assert r["success"] is True, r


def test_tune_gd_quick(tmp_path):
    args = parse("random-k", "--tune-gd", "--quick", "--quiet", "--ks", "3", "--widths", "10,30",
                 "--tune-lrs", "0.01,0.05", "--gd-steps", "20", "--out", str(tmp_path))
    (path,) = random_k.run(args)
    rows = C.read_csv(path)
    assert [(r["lr"], r["k"]) for r in rows] == [(0.01, 3), (0.05, 3)]
    assert all(r["trials"] == 2 for r in rows)


# ------------------------------------------------------------------------------------------ noise
def test_noise_quick(tmp_path):
    args = parse("noise", "--quick", "--quiet", "--levels", "1e-6,1e-2",
                 "--methods", "linf,l1", "--trials", "2", "--out", str(tmp_path))
    files = noise.run(args)
    assert [os.path.basename(f) for f in files] == ["noise_trials.csv", "noise_summary.csv", "noise.json",
                                                     "noise.png"]
    assert files_exist(files)
    rows = C.read_csv(files[0])
    assert list(rows[0]) == noise.TRIAL_COLUMNS
    assert {(r["noise"], r["method"]) for r in rows} == {("uniform", "linf"), ("gaussian", "l1")}
    assert len(rows) == 2 * 2 * 2
    summary = C.read_csv(files[1])
    assert list(summary[0]) == noise.SUMMARY_COLUMNS
    assert all(r["errors"] == 0 for r in summary)
    # the paper's 20 x 100 x 500 net: the error grows with the noise and stays far below 1 at 1e-6
    for r in rows:
        if r["level"] == 1e-6:
            big = next(q for q in rows if q["level"] == 1e-2 and (q["trial"], q["method"]) == (r["trial"], r["method"]))
            assert r["z_err"] < 1e-3 and r["z_err"] < big["z_err"], (r, big)


# ------------------------------------------------------------------------------------------ timing
def test_timing_quick(tmp_path):
    args = parse("timing", "--quick", "--quiet", "--no-mnist", "--ks", "5", "--widths", "30,80",
                 "--methods", ",".join(LP_METHODS), "--out", str(tmp_path))
    files = timing.run(args)
    assert [os.path.basename(f) for f in files] == ["timing_trials.csv", "timing_summary.csv", "timing_table.md",
                                                     "timing.json", "timing.png"]
    assert files_exist(files)
    summary = C.read_csv(files[1])
    assert list(summary[0]) == timing.SUMMARY_COLUMNS
    assert [r["method"] for r in summary] == LP_METHODS
    assert all(r["runs"] == 2 and r["mean_seconds"] > 0 and r["success_rate"] == 1.0 for r in summary)
    with open(files[2]) as fh:
        table = fh.read()
    assert "k = 5" in table and "MNIST row skipped" in table
