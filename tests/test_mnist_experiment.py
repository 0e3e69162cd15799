"""``layerinv experiment mnist`` and the MNIST demo in quick mode."""
import os

import numpy as np

from layerinv.cli import main
from layerinv.experiments import _common as C
from layerinv.experiments import mnist


def test_mnist_experiment_quick(tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["experiment", "mnist", "--quick", "--quiet", "--out", str(out)]) == 0
    rows = C.read_csv(out / "mnist_trials.csv")
    assert list(rows[0]) == mnist.TRIAL_COLUMNS
    assert {r["method"] for r in rows} == set(mnist.METHODS) and {r["variance"] for r in rows} == {0.3, 0.01}
    assert all(np.isfinite(r["z_err"]) for r in rows)
    summary = C.read_csv(out / "mnist_summary.csv")
    assert len(summary) == 2 * len(mnist.METHODS) and all(r["runs"] == 2 for r in summary)
    assert os.path.exists(out / "mnist.png")


def test_mnist_experiment_bad_net(tmp_path, capsys):
    code = main(["experiment", "mnist", "--quick", "--quiet", "--out", str(tmp_path), "--net",
                 str(tmp_path / "missing.npz")])
    assert code == 2 and "missing.npz" in capsys.readouterr().err


def test_demo_quick_writes_table_and_figure(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "inpaint, 90% of pixels kept" in out and "certified, no z has" in out
    assert os.path.getsize(tmp_path / "demo_mnist.png") > 10_000
    rows = C.read_csv(tmp_path / "demo_mnist.csv")
    inpaint = [r for r in rows if r["scenario"].startswith("inpaint")][0]
    assert inpaint["ours_z_error"] < 1e-6  # 90% of pixels of G(z*) pin z* down exactly
    real = [r for r in rows if r["scenario"].startswith("real")]
    assert real and all(r["ours_method"] == "gn+map" for r in real)
    # auto ran no layer LP on a real digit: the table must not present the exact pass's records as LP values
    assert "per-layer LP t" not in out and all(r["certified_linf_lower"] > 0 for r in real)


def test_demo_random_nets_quick(tmp_path, capsys):
    assert main(["demo", "--nets", "random", "--quick", "--out", str(tmp_path)]) == 0
    assert "exact" in capsys.readouterr().out and os.path.exists(tmp_path / "demo_random.png")
