"""Throughput on datasets (issue 11): images/s of every way to invert many images, with their quality.

    python benchmarks/bench_throughput.py [--quick] [--out throughput.json]

Data (a shipped 20x60x784 MNIST generator, layerinv.datasets.load_mnist_generator(--generator)):
  exact : 10,000 images G(z*), z* ~ N(0, I)                              (--quick: 1,000)
  linf, auto : 1,000 noisy images G(z*) + N(0, var) at var 0.01 and 0.3 (--quick: 100),
               and the 100 shipped real digits                           (--quick: 20)
Ways, all through the public API (invert):
  loop     : invert(G, x) image by image (timed on the first 200 images of a set, --quick 30)
  batched  : invert(G, X) in one process (batched least-squares stage, per-image LPs where needed);
             for auto also with starts=1 (row auto-s1, noisy sets)
  n_jobs=2 : invert(G, X, n_jobs=2) (joblib loky processes, one BLAS thread each; workers started
             before the clock starts, as in a session that inverts more than one batch)
  cluster  : the same inside joblib.parallel_config(backend="dask") on a 2-worker LocalCluster
  floor    : (exact only) layerinv.lp.batched.gram_floor: for the same images in the same chunks, the
             stacked Gram matrices + Cholesky factors of every layer + one forward pass, nothing else
  csgm-R   : batched CSGM, torch Adam on one (R*N, k) latent tensor, 1000 steps, R random restarts (best
             loss kept), float32, one torch thread; lr tuned once per data set on 50 disjoint images;
             on at most 1,000 images of a set (the exact set: its first 1,000)
Quality: median ||z - z*|| / ||z*|| (no z* for real digits) and median pixel MSE of G(z) against the
clean image (the digit itself for real digits). Peak memory: resident set of a CLI run
(`layerinv invert --out Z.npz`, exact) on 70,000 images (--quick: 7,000), from getrusage of the child.
Every timing is one run on whatever machine runs it; the script prints the load average beside it.
Under the table it prints each of the issue's targets with its measured ratio (from this one run) and
PASS / FAIL.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

from layerinv import invert
from layerinv.datasets import load_mnist_generator, load_mnist_test_digits


def _zerr(Z, Zt):
    if Zt is None:
        return float("nan")
    ok = np.all(np.isfinite(Z), axis=1)
    e = np.full(len(Z), np.inf)
    e[ok] = np.linalg.norm(Z[ok] - Zt[ok], axis=1) / np.linalg.norm(Zt[ok], axis=1)
    return float(np.median(e))


def _mse(G, Z, Xc):
    ok = np.all(np.isfinite(Z), axis=1)
    m = np.full(len(Z), np.inf)
    m[ok] = np.mean((G(Z[ok]) - Xc[ok]) ** 2, axis=1)
    return float(np.median(m))


def _row(name, way, n, seconds, G, Z, Zt, Xc, extra=""):
    r = {"set": name, "way": way, "images": n, "seconds": seconds, "images_per_s": n / seconds,
         "z_error": _zerr(Z, Zt) if Z is not None else float("nan"),
         "pixel_mse": _mse(G, Z, Xc) if Z is not None else float("nan"), "note": extra}
    print(f"  {name:<14} {way:<10} {n:>6} images {r['images_per_s']:>9.1f} img/s  z-err {r['z_error']:.3g}  "
          f"mse {r['pixel_mse']:.3g} {extra}", flush=True)
    return r


def csgm(G, X, restarts, lr, steps=1000, seed=0):
    import torch

    torch.set_num_threads(1)
    Ws = [torch.tensor(L.weight, dtype=torch.float32) for L in G.layers]
    bs = [torch.tensor(L.bias, dtype=torch.float32) for L in G.layers]
    N = len(X)
    Xt = torch.tensor(X, dtype=torch.float32).repeat(restarts, 1)
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(restarts * N, G.k, generator=gen, dtype=torch.float32).requires_grad_()
    opt = torch.optim.Adam([z], lr=lr)

    def fwd(z):
        h = z
        for W, b in zip(Ws, bs):
            h = torch.relu(h @ W.T + b)
        return h

    for _ in range(steps):
        opt.zero_grad()
        loss = ((fwd(z) - Xt) ** 2).sum()
        loss.backward()
        opt.step()
    with torch.no_grad():
        per = ((fwd(z) - Xt) ** 2).sum(1).reshape(restarts, N)
        best = per.argmin(0)
        Z = z.detach().reshape(restarts, N, G.k)[best, torch.arange(N)]
    return Z.double().numpy()


def tune_lr(G, X, Zt, Xc, steps):
    best = None
    for lr in (0.003, 0.01, 0.03, 0.1):
        Z = csgm(G, X, 1, lr, steps, seed=123)
        score = _zerr(Z, Zt) if Zt is not None else _mse(G, Z, Xc)
        if best is None or score < best[0]:
            best = (score, lr)
    return best[1]


def run_ways(G, name, X, Zt, Xc, methods, args, client, batch_size, loop_n, csgm_sets, csgm_n=1000):
    rows = []
    invert(G, X[:4], method="exact", batch_size=2, n_jobs=2)  # start (or wake) the loky workers: steady state
    for method in methods:
        n = min(loop_n, len(X))
        t0 = time.perf_counter()
        Zl = np.stack([invert(G, x, method=method).z for x in X[:n]])
        rows.append(_row(name, f"{method}:loop", n, time.perf_counter() - t0, G, Zl,
                         None if Zt is None else Zt[:n], Xc[:n], f"(first {n} images)"))
        t0 = time.perf_counter()
        res = invert(G, X, method=method, batch_size=batch_size)
        rows.append(_row(name, f"{method}:batched", len(X), time.perf_counter() - t0, G, res.z, Zt, Xc))
        t0 = time.perf_counter()
        res2 = invert(G, X, method=method, batch_size=batch_size, n_jobs=2)
        rows.append(_row(name, f"{method}:n_jobs=2", len(X), time.perf_counter() - t0, G, res2.z, Zt, Xc,
                         "identical" if np.array_equal(res.z, res2.z, equal_nan=True) else "DIFFERENT"))
        if client is not None:
            import joblib

            t0 = time.perf_counter()
            with joblib.parallel_config(backend="dask"):
                res3 = invert(G, X, method=method, batch_size=batch_size, n_jobs=-1)
            rows.append(_row(name, f"{method}:cluster", len(X), time.perf_counter() - t0, G, res3.z, Zt, Xc,
                             "identical" if np.array_equal(res.z, res3.z, equal_nan=True) else "DIFFERENT"))
        if method == "auto" and Zt is not None:  # auto with one start: the option that trades tails for speed
            t0 = time.perf_counter()
            res4 = invert(G, X, method=method, batch_size=batch_size, starts=1)
            rows.append(_row(name, "auto-s1:batched", len(X), time.perf_counter() - t0, G, res4.z, Zt, Xc,
                             "(starts=1)"))
        if method == "exact":
            from layerinv.lp.batched import gram_floor
            from layerinv._threads import one_blas_thread

            with one_blas_thread():
                t0 = time.perf_counter()
                gram_floor(G, X, Zt, batch_size=batch_size)
                rows.append(_row(name, "floor", len(X), time.perf_counter() - t0, G, None, Zt, Xc))
    if name in csgm_sets:
        tX, tZ, tXc = csgm_sets[name]
        lr = tune_lr(G, tX, tZ, tXc, args.steps)
        m = min(len(X), csgm_n)  # images/s does not depend on N once the batch fills the core
        for R in (1, 4):
            t0 = time.perf_counter()
            Z = csgm(G, X[:m], R, lr, args.steps, seed=0)
            rows.append(_row(name, f"csgm-{R}", m, time.perf_counter() - t0, G, Z, None if Zt is None else Zt[:m],
                             Xc[:m], f"(lr {lr:g})"))
    return rows


def _ips(rows, name, way):
    hit = [r["images_per_s"] for r in rows if r["set"] == name and r["way"] == way]
    return hit[0] if hit else float("nan")


def _zer(rows, name, way):
    hit = [r["z_error"] for r in rows if r["set"] == name and r["way"] == way]
    return hit[0] if hit else float("nan")


def targets(rows, mem, noisy_sets):
    """The issue's targets, each a dict ``{"target", "measured", "pass", "info"}`` with every ratio taken
    from this run's rows; ``pass`` is None where the run did not measure it (e.g. ``--no-cluster``) and
    on the ``info`` lines (context, not targets)."""
    out = []

    def add(text, value, ok, info=False):
        out.append({"target": text, "measured": float(value), "info": info,
                    "pass": None if info or not np.isfinite(value) else ok})

    loop, batched, floor = (_ips(rows, "exact", w) for w in ("exact:loop", "exact:batched", "floor"))
    add("exact: batched >= 10x the per-image loop (images/s ratio)", batched / loop, bool(batched / loop >= 10))
    add("exact: batched time <= 2x the floor's (floor images/s / batched images/s)", floor / batched,
        bool(floor / batched <= 2))
    add("exact: the floor is this many times the loop (the most any batched exact could reach)",
        floor / loop, None, info=True)
    for name in noisy_sets:
        one, two, clu = (_ips(rows, name, f"linf:{w}") for w in ("batched", "n_jobs=2", "cluster"))
        add(f"{name}, linf: n_jobs=2 >= 1.7x one process (images/s ratio)", two / one, bool(two / one >= 1.7))
        add(f"{name}, linf: 2-worker cluster time within 25% of n_jobs=2's (time ratio cluster / n_jobs=2)",
            two / clu, bool(two / clu <= 1.25))
        for way, label in (("auto:batched", "batched auto"), ("auto-s1:batched", "batched auto, starts=1")):
            auto_z, auto_ips = _zer(rows, name, way), _ips(rows, name, way)
            for R in (1, 4):
                cz, cips = _zer(rows, name, f"csgm-{R}"), _ips(rows, name, f"csgm-{R}")
                add(f"{name}: {label} median z-error <= csgm-{R}'s (auto / csgm)", auto_z / cz, bool(auto_z <= cz))
                add(f"{name}: {label} >= 10x csgm-{R}'s throughput (images/s ratio)", auto_ips / cips,
                    bool(auto_ips / cips >= 10))
    if mem is not None:
        limit = 1024 + mem["output_mb"]
        add(f"CLI exact on {mem['images']} images: peak RSS below 1 GB plus the output (MB; limit {limit:.0f})",
            mem["peak_rss_mb"], bool(mem["peak_rss_mb"] < limit))
    return out


def print_targets(goals, quick):
    print(f"targets (ratios from this run{'; --quick: smaller sets than the issue names' if quick else ''}; "
          f"load average now {os.getloadavg()}):", flush=True)
    for t in goals:
        mark = "info" if t["info"] else {True: "PASS", False: "FAIL", None: "n/a "}[t["pass"]]
        print(f"  {mark}  {t['target']}: {t['measured']:.3g}", flush=True)


def peak_memory(G, n, tmp):
    rng = np.random.default_rng(7)
    X = np.lib.format.open_memmap(os.path.join(tmp, "X.npy"), mode="w+", dtype=np.float32, shape=(n, G.n))
    for s in range(0, n, 5000):
        X[s:s + 5000] = G(rng.standard_normal((min(5000, n - s), G.k)))
    X.flush()
    del X
    G.save(os.path.join(tmp, "G.npz"))
    cmd = [sys.executable, "-c", "import sys; from layerinv.cli import main; sys.exit(main())", "invert", "--net", os.path.join(tmp, "G.npz"), "--x",
           os.path.join(tmp, "X.npy"), "--method", "exact", "--out", os.path.join(tmp, "Z.npz")]
    t0 = time.perf_counter()
    peak_kb = 0
    with open(os.path.join(tmp, "stdout.txt"), "w+") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.DEVNULL, text=True)
        # the child's own peak after exec (VmHWM): getrusage's ru_maxrss would also count the pages
        # it shared with this (large) process between fork and exec
        while proc.poll() is None:
            try:
                with open(f"/proc/{proc.pid}/status") as st:
                    peak_kb = max([peak_kb] + [int(line.split()[1]) for line in st if line.startswith("VmHWM:")])
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        fh.seek(0)
        stdout = fh.read()
    seconds = time.perf_counter() - t0
    peak_mb = peak_kb / 1024
    out_mb = os.path.getsize(os.path.join(tmp, "Z.npz")) / 2 ** 20
    x_mb = os.path.getsize(os.path.join(tmp, "X.npy")) / 2 ** 20
    print(f"  CLI exact on {n} images: exit {proc.returncode}, {seconds:.1f} s ({n / seconds:.0f} img/s), "
          f"peak RSS {peak_mb:.0f} MB (X file {x_mb:.0f} MB, output {out_mb:.1f} MB); {stdout.strip()}", flush=True)
    return {"images": n, "seconds": seconds, "peak_rss_mb": peak_mb, "x_mb": x_mb, "output_mb": out_mb,
            "exit": proc.returncode, "stdout": stdout.strip()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None, help="write every row as JSON here")
    p.add_argument("--steps", type=int, default=1000, help="CSGM Adam steps (default 1000)")
    p.add_argument("--no-cluster", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--generator", default="dense", help="which shipped decoder (load_mnist_generator(name))")
    p.add_argument("--sets", default="exact,noisy,digits,memory",
                   help="comma-separated subset of exact,noisy,digits,memory to run (default all)")
    args = p.parse_args(argv)
    q = args.quick
    G = load_mnist_generator(args.generator)
    rng = np.random.default_rng(args.seed)
    print(f"generator {args.generator}: {G}; machine: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()}", flush=True)
    client = cluster = None
    if not args.no_cluster:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    rows = []
    n_exact, n_noisy, n_real, loop_n = (1000, 100, 20, 30) if q else (10000, 1000, 100, 200)
    Zt = rng.standard_normal((n_exact, G.k))
    Ztune = rng.standard_normal((50, G.k))
    only = set(args.sets.split(","))
    if "exact" in only:
        rows += run_ways(G, "exact", G(Zt), Zt, G(Zt), ["exact"], args, client, 256, loop_n * 5,
                         {"exact": (G(Ztune), Ztune, G(Ztune))})
    csgm_sets = {}
    sets = []
    for var in (0.01, 0.3):
        Z = rng.standard_normal((n_noisy + 50, G.k))
        Xc = G(Z)
        X = Xc + np.sqrt(var) * rng.standard_normal(Xc.shape)
        name = f"noisy var {var:g}"
        csgm_sets[name] = (X[n_noisy:], Z[n_noisy:], Xc[n_noisy:])
        sets.append((name, X[:n_noisy], Z[:n_noisy], Xc[:n_noisy]))
    digits, _ = load_mnist_test_digits()
    csgm_sets["real digits"] = (digits[50:], None, digits[50:])  # tuned on the other half (disjoint images)
    sets.append(("real digits", digits[:n_real], None, digits[:n_real]))
    sets = [t for t in sets if ("digits" if t[0] == "real digits" else "noisy") in only]
    for name, X, Z, Xc in sets:
        rows += run_ways(G, name, X, Z, Xc, ["linf", "auto"], args, client, 50 if not q else 10, loop_n, csgm_sets)
    if client is not None:
        client.close()
        cluster.close()
    mem = None
    if "memory" in only:
        with tempfile.TemporaryDirectory() as tmp:
            mem = peak_memory(G, 7000 if q else 70000, tmp)
    goals = targets(rows, mem, [name for name, *_ in sets if name.startswith("noisy")])
    print_targets(goals, q)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"rows": rows, "memory": mem, "targets": goals, "quick": q, "load": os.getloadavg()}, fh,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
