"""Dataset runs from the command line: memory-mapped input, checkpoints, resumption that loses nothing."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from layerinv import ReLUNet
from layerinv.cli import main
from layerinv.dataset_run import run_dataset


@pytest.fixture
def data(tmp_path):
    G = ReLUNet.random([6, 14, 60], rng=0)
    G.save(tmp_path / "g.npz")
    rng = np.random.default_rng(0)
    X = G(rng.standard_normal((40, G.k)))
    X[::6] += 0.05 * rng.standard_normal(X[::6].shape)  # noisy rows: auto's linf + polish
    np.save(tmp_path / "x.npy", X)
    return G, X, tmp_path


def _args(tmp, out, *extra, method="auto"):
    return ["invert", "--net", str(tmp / "g.npz"), "--x", str(tmp / "x.npy"), "--method", method,
            "--out", str(tmp / out), "--batch-size", "5", *extra]


def test_dataset_output_and_exit_status(data, capsys):
    G, X, tmp = data
    assert main(_args(tmp, "z.npz")) == 0
    with np.load(tmp / "z.npz", allow_pickle=False) as d:
        assert d["z"].shape == (40, G.k) and d["status"].shape == (40,) and d["residual"].shape == (40,)
        assert str(d["method"]) == "auto" and json.loads(str(d["options"])) == {}
    assert not (tmp / "z.npz.chunks").exists()  # checkpoints are removed once the output is written
    X[3] = -1.0  # outside the range of a ReLU: exact reports it infeasible
    np.save(tmp / "x.npy", X)
    capsys.readouterr()
    assert main(_args(tmp, "e.npz", method="exact")) == 1
    out = capsys.readouterr().out
    assert "infeasible: 8" in out and "not ok: 8 images (infeasible: 8)" in out  # 7 noisy rows + row 3


def test_interrupted_run_resumes_to_identical_bytes(data, capsys):
    G, X, tmp = data
    run_dataset("invert", G, tmp / "x.npy", tmp / "full.npz", "auto", {}, batch_size=5, progress=False)

    def stop_after_three(i, seen=[]):
        seen.append(i)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_dataset("invert", G, tmp / "x.npy", tmp / "part.npz", "auto", {}, batch_size=5, progress=False,
                    on_chunk=stop_after_three)
    assert len([f for f in os.listdir(tmp / "part.npz.chunks") if f.startswith("chunk-")]) == 3
    capsys.readouterr()
    code, _ = run_dataset("invert", G, tmp / "x.npy", tmp / "part.npz", "auto", {}, batch_size=5, progress=False)
    assert code == 0
    assert "reusing 3 of 8 finished chunks (15 images)" in capsys.readouterr().out
    assert (tmp / "part.npz").read_bytes() == (tmp / "full.npz").read_bytes()


def test_killed_process_resumes_to_identical_bytes(data):
    G, X, tmp = data
    X = np.concatenate([X] * 3)  # 24 chunks, all noisy (linf + polish): time to kill the run in the middle
    X += 0.05 * np.random.default_rng(1).standard_normal(X.shape)
    np.save(tmp / "x.npy", X)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    cmd = [sys.executable, "-c", "import sys; from layerinv.cli import main; sys.exit(main())"] + _args(tmp, "z.npz")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    chunks = tmp / "z.npz.chunks"
    t_end = time.time() + 120
    while time.time() < t_end and proc.poll() is None:
        if chunks.exists() and len([f for f in os.listdir(chunks) if f.startswith("chunk-")]) >= 2:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    proc.stdout.close()
    if proc.returncode != -signal.SIGKILL:
        pytest.skip("the run finished before it could be killed")
    assert not (tmp / "z.npz").exists()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "reusing" in out.stdout
    run_dataset("invert", G, tmp / "x.npy", tmp / "ref.npz", "auto", {}, batch_size=5, progress=False)
    with np.load(tmp / "z.npz") as a, np.load(tmp / "ref.npz") as b:
        for key in ("z", "status", "residual"):
            assert a[key].tobytes() == b[key].tobytes()
    assert (tmp / "z.npz").read_bytes() == (tmp / "ref.npz").read_bytes()


def test_other_settings_do_not_reuse_checkpoints(data):
    G, X, tmp = data
    with pytest.raises(KeyboardInterrupt):
        run_dataset("invert", G, tmp / "x.npy", tmp / "z.npz", "exact", {}, batch_size=5, progress=False,
                    on_chunk=lambda i: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(ValueError, match="belong to another run .different batch_size"):
        run_dataset("invert", G, tmp / "x.npy", tmp / "z.npz", "exact", {}, batch_size=4, progress=False)


def test_dataset_header_is_checked(tmp_path, capsys):
    G = ReLUNet.random([3, 10, 40], rng=0)
    G.save(tmp_path / "g.npz")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "wide.npy", np.zeros((4, 41)))
    for name, msg in (("obj.npy", "real numbers"), ("wide.npy", "shape (N, 40)")):
        code = main(["invert", "--net", str(tmp_path / "g.npz"), "--x", str(tmp_path / name),
                     "--out", str(tmp_path / "z.npz")])
        err = capsys.readouterr().err
        assert code == 2 and msg in err and "Traceback" not in err


def test_compress_dataset_matches_the_api(data):
    from layerinv.compress import compress
    from layerinv.io import load_code

    G, X, tmp = data
    assert main(["compress", "--net", str(tmp / "g.npz"), "--x", str(tmp / "x.npy"), "--out", str(tmp / "c.npz"),
                 "--batch-size", "5", "--jobs", "2"]) == 0
    code = load_code(tmp / "c.npz")
    ref = compress(G, X, batch_size=5)
    assert np.array_equal(code.z, ref.z) and np.array_equal(code.psnr, ref.psnr)
    assert code.method == ref.method and code.peak == ref.peak
