"""The same batch on a Dask cluster through joblib's Dask backend: identical results, and a killed
worker's chunk is recomputed with nothing lost."""
import os
import signal
import threading
import time

import numpy as np
import pytest

from layerinv import ReLUNet, invert

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::ResourceWarning"),
              pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
              pytest.mark.filterwarnings("ignore:.*Port .* is already in use.*:UserWarning")]


@pytest.fixture(scope="session")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    cl = distributed.Client(cluster)
    yield cl
    cl.close()
    cluster.close()


def _batch(n, noisy, seed=0):
    G = ReLUNet.random([6, 14, 60], rng=seed)
    rng = np.random.default_rng(seed)
    X = G(rng.standard_normal((n, G.k)))
    X[noisy] += 0.05 * rng.standard_normal(X[noisy].shape)
    return G, X


def _same(a, b):
    assert a.status == b.status
    assert np.array_equal(a.z, b.z, equal_nan=True)
    assert np.array_equal(a.residual, b.residual, equal_nan=True)


def test_dask_backend_gives_identical_results(client):
    G, X = _batch(30, slice(0, 30, 4))
    ref = invert(G, X, method="auto", batch_size=5)
    with joblib.parallel_config(backend="dask"):
        out = invert(G, X, method="auto", batch_size=5, n_jobs=-1)
    _same(ref, out)


def test_killed_worker_chunk_is_recomputed(client):
    G, X = _batch(48, slice(None), seed=1)  # all noisy: linf LPs and polish, ~0.1 s per image
    ref = invert(G, X, method="auto", batch_size=6)
    pids = client.run(os.getpid)  # worker address -> pid
    killed = []

    def killer():
        t_end = time.time() + 60
        while time.time() < t_end and not killed:
            busy = {w: ts for w, ts in client.processing().items() if ts}
            for w in busy:
                if w in pids:
                    os.kill(pids[w], signal.SIGKILL)
                    killed.append(w)
                    return
            time.sleep(0.02)

    th = threading.Thread(target=killer)
    th.start()
    with joblib.parallel_config(backend="dask"):
        out = invert(G, X, method="auto", batch_size=6, n_jobs=-1)
    th.join()
    assert killed, "no worker was busy long enough to be killed"
    _same(ref, out)


def test_dataset_cli_on_a_scheduler(client, tmp_path):
    from layerinv.cli import main
    from layerinv.dataset_run import run_dataset

    G, X = _batch(20, slice(0, 20, 5), seed=2)
    G.save(tmp_path / "g.npz")
    np.save(tmp_path / "x.npy", X)
    code = main(["invert", "--net", str(tmp_path / "g.npz"), "--x", str(tmp_path / "x.npy"), "--out",
                 str(tmp_path / "z.npz"), "--batch-size", "4", "--scheduler", client.scheduler.address])
    assert code == 0
    run_dataset("invert", G, tmp_path / "x.npy", tmp_path / "ref.npz", "auto", {}, batch_size=4, progress=False)
    assert (tmp_path / "z.npz").read_bytes() == (tmp_path / "ref.npz").read_bytes()
