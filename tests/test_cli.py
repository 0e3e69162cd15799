"""The command-line interface."""
import numpy as np
import pytest

from layerinv import ReLUNet
from layerinv.cli import main


def test_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "invert" in out and "demo" in out


def test_invert_round_trip(tmp_path, capsys):
    rng = np.random.default_rng(0)
    G = ReLUNet.random([10, 100, 300], rng)
    z = rng.standard_normal(10)
    G.save(tmp_path / "net.npz")
    np.save(tmp_path / "x.npy", G(z))
    code = main(["invert", "--net", str(tmp_path / "net.npz"), "--x", str(tmp_path / "x.npy"),
                 "--method", "linf", "--out", str(tmp_path / "z.npy")])
    assert code == 0
    np.testing.assert_allclose(np.load(tmp_path / "z.npy"), z, rtol=1e-8)
    assert "status: optimal" in capsys.readouterr().out


def test_invert_reports_infeasible_with_exit_1(tmp_path, capsys):
    G = ReLUNet.random([3, 10, 40], rng=0)
    G.save(tmp_path / "net.npz")
    np.save(tmp_path / "x.npy", -np.ones(40))
    code = main(["invert", "--net", str(tmp_path / "net.npz"), "--x", str(tmp_path / "x.npy"),
                 "--method", "exact", "--out", str(tmp_path / "z.npy")])
    assert code == 1
    assert "infeasible" in capsys.readouterr().out


def test_invert_bad_files_give_one_line_errors(tmp_path, capsys):
    (tmp_path / "net.npz").write_text("garbage")
    code = main(["invert", "--net", str(tmp_path / "net.npz"), "--x", "x.npy", "--out", "z.npy"])
    err = capsys.readouterr().err
    assert code == 2 and "net.npz" in err and "Traceback" not in err
    G = ReLUNet.random([3, 10, 40], rng=0)
    G.save(tmp_path / "g.npz")
    np.save(tmp_path / "x.npy", np.ones((28, 28)))
    code = main(["invert", "--net", str(tmp_path / "g.npz"), "--x", str(tmp_path / "x.npy"), "--out",
                 str(tmp_path / "z.npy")])
    assert code == 2 and "got (28, 28)" in capsys.readouterr().err


def test_unknown_method_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["invert", "--net", "a", "--x", "b", "--out", "c", "--method", "nope"])
    assert e.value.code == 2
