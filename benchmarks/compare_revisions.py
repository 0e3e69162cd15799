"""Compare two checkouts of layerinv on the same benchmarks, interleaved, on a shared machine.

    python benchmarks/compare_revisions.py --before /work/before --after /work/after \
        --rounds 4 --invert-args "--trials 5 --gd-trials 2" --lp-args "--reps 1" --json out.json
    python benchmarks/compare_revisions.py --before ... --after ... --benches calls --rounds 12

Benches (``--benches``, comma-separated):
  invert  each side's own ``benchmarks/bench_invert.py`` (arguments from ``--invert-args``);
  lp      each side's own ``benchmarks/bench_lp.py`` (``--lp-args``);
  calls   per-call CPU cost of the public ``layerinv.invert`` (exact / linf / l1 / auto) on small
          instances, where fixed per-call overhead shows most (``--calls-args``: trials per net).
Each run is a fresh subprocess with ``PYTHONPATH`` set to that checkout (plus ``--extra-path``,
e.g. where the ``bench`` extra's cvxopt is installed); the subprocess checks that ``layerinv`` is
imported from there. Runs alternate before/after and the order flips every round (A B, B A, A B,
...), so a drift in the machine's load hits both sides alike. From each run the markdown tables
it prints are parsed; for every cell the driver reports the median over rounds of the before and
after values and of the per-round ratio after/before, and checks that the success-rate table
(invert) and the IPM status column (lp) are identical in every run. Noise is measured by
comparing "before" with itself: the ratio of each round's before value to the previous round's
(same code, same instances).

Timer: ``bench_lp.py`` already reports CPU milliseconds (``time.process_time``). ``bench_invert.py``
times with ``time.perf_counter`` (wall clock); with ``--invert-timer cpu`` (the default) the driver
loads that script as a module and replaces the ``time`` it sees -- that module only, nothing in
layerinv -- by one whose ``perf_counter`` is ``time.process_time``, so its tables read CPU time of
the benchmark process (all threads; BLAS and torch run on one thread). Nothing else in the scripts
changes: same instances (seed 0), same methods, same medians.

Uses only the standard library and the benchmark scripts' command lines; the ``calls`` bench uses
only layerinv's public API (``ReLUNet``, ``invert``, ``layerinv.datasets.load_mnist_generator``).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import shlex
import statistics
import subprocess
import sys
import time

# Runs inside the subprocess: load a benchmark script as a module, optionally give it a CPU
# clock, check where layerinv comes from, then call its main(argv).
_RUNNER = r"""
import importlib.util, os, sys, time, types
script, timer, root = sys.argv[1], sys.argv[2], sys.argv[3]
argv = sys.argv[4:]
spec = importlib.util.spec_from_file_location("bench_under_test", script)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
import layerinv
where = os.path.realpath(layerinv.__file__)
assert where.startswith(os.path.realpath(root) + os.sep), (where, root)
print("layerinv from", where, flush=True)
if timer == "cpu":
    mod.time = types.SimpleNamespace(perf_counter=time.process_time, process_time=time.process_time)
sys.argv = [script] + argv
rc = mod.main(argv)
sys.exit(rc or 0)
"""


# "calls": per-call CPU cost of the public ``invert`` on small instances, where fixed overhead
# (validation, dispatch, result records) shows most. Public API only; same instances both sides.
_CALLS = r"""
import os, sys, time
import numpy as np
from threadpoolctl import threadpool_limits
import layerinv
from layerinv import ReLUNet, invert
from layerinv.datasets import load_mnist_generator
where = os.path.realpath(layerinv.__file__)
assert where.startswith(os.path.realpath(sys.argv[1]) + os.sep), (where, sys.argv[1])
print("layerinv from", where, flush=True)
trials = int(sys.argv[2]) if len(sys.argv) > 2 else 100
rng = np.random.default_rng(0)
nets = [("10x250x600", ReLUNet.random([10, 250, 600], rng)), ("20x60x784 (random)", ReLUNet.random([20, 60, 784], rng)),
        ("20x60x784 (MNIST VAE)", load_mnist_generator())]
methods = ("exact", "linf", "l1", "auto")
print("| net | " + " | ".join(methods) + " |")
print("|---" * (len(methods) + 1) + "|")
with threadpool_limits(limits=1):
    for name, G in nets:
        xs = [G(z) + 1e-9 * rng.uniform(-1, 1, G.n) for z in rng.standard_normal((trials, G.k))]
        for m in methods:
            invert(G, xs[0], method=m)  # warm up
        sec = {m: [] for m in methods}
        for x in xs:
            for m in methods:
                t0 = time.process_time()
                invert(G, x, method=m)
                sec[m].append(time.process_time() - t0)
        print(f"| {name} | " + " | ".join(f"{np.median(sec[m]) * 1e3:.4f}" for m in methods) + " |", flush=True)
"""


def parse_tables(text):
    """Every markdown table in ``text``: a list of (header, rows), rows as lists of cell strings."""
    tables, cur = [], None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("|") and line.endswith("|"):
            cells = [c.strip() for c in line[1:-1].split("|")]
            if cur is None:
                cur = (cells, [])
            elif all(set(c) <= set("-: ") for c in cells):
                continue
            else:
                cur[1].append(cells)
        else:
            if cur is not None:
                tables.append(cur)
            cur = None
    if cur is not None:
        tables.append(cur)
    return tables


def _num(cell):
    m = re.fullmatch(r"\s*([-+]?[0-9.]+(?:e[-+]?\d+)?)\s*x?", cell)
    return float(m.group(1)) if m else None


def cells_of(bench, text):
    """{(table, row key, column): value} for the timing cells of one run's output."""
    out = {}
    nets = 0
    for header, rows in parse_tables(text):
        nets += header[:1] == ["net"]
        if bench == "invert" and header[:2] == ["net", "floor"] and nets == 1:  # the 2nd is success rates
            cols = [c for c in header[1:] if "/" not in c]  # timings, not the derived ratios
            for r in rows:
                for c in cols:
                    out[("invert ms", r[0], c)] = _num(r[header.index(c)])
        elif bench == "invert" and header[:1] == ["observation"]:
            for r in rows:
                for c in ("linf", "l1", "auto", "gd"):
                    out[("mnist s", r[0], c)] = _num(r[header.index(c)])
        elif bench == "calls" and header[:1] == ["net"]:
            for r in rows:
                for c in header[1:]:
                    out[("calls ms", r[0], c)] = _num(r[header.index(c)])
        elif bench == "lp" and header[:3] == ["case", "noise", "norm"]:
            cols = [c for c in header if c.endswith("ms (cpu)")]
            for r in rows:
                for c in cols:
                    out[("lp ms", f"{r[0]} {r[1]} {r[2]}", c.split()[0])] = _num(r[header.index(c)])
    return {k: v for k, v in out.items() if v is not None}


def success_of(text):
    """The invert success-rate table and the lp status column, to check behaviour is the same."""
    out = {}
    for header, rows in parse_tables(text):
        if header[:2] == ["net", "floor"] and not any("/" in c for c in header):  # success rates
            for r in rows:
                out[("success", r[0])] = r[1:]
        if header[:3] == ["case", "noise", "norm"] and "ipm status" in header:
            for r in rows:
                out[("ipm status", f"{r[0]} {r[1]} {r[2]}")] = r[header.index("ipm status")]
    return out


def run_one(python, root, bench, args, timer, extra_path=""):
    script = os.path.join(root, "benchmarks", f"bench_{bench}.py")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, extra_path) if p))
    cmd = [python, "-c", _RUNNER, script, timer if bench == "invert" else "wall", root] + shlex.split(args)
    if bench == "calls":
        cmd = [python, "-c", _CALLS, root] + shlex.split(args)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - w0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if p.returncode != 0:
        raise SystemExit(f"{cmd} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return {"stdout": p.stdout, "wall_s": wall, "cpu_s": cpu}


def _q(xs, q):
    xs = sorted(xs)
    if not xs:
        return math.nan
    i = (len(xs) - 1) * q
    lo, hi = math.floor(i), math.ceil(i)
    return xs[lo] + (xs[hi] - xs[lo]) * (i - lo)


def summarise(runs, bench):
    """Per cell: medians of before, after, after/before per round; and the before/before noise."""
    rounds = len(runs["before"])
    cells = [[cells_of(bench, r["stdout"]) for r in runs[side]] for side in ("before", "after")]
    keys = [k for k in cells[0][0] if all(k in c for side in cells for c in side)]
    rows = []
    for k in keys:
        b = [c[k] for c in cells[0]]
        a = [c[k] for c in cells[1]]
        ratio = [x / y for x, y in zip(a, b) if y > 0]
        aa = [b[i + 1] / b[i] for i in range(rounds - 1) if b[i] > 0]
        rows.append({"table": k[0], "row": k[1], "col": k[2], "before": statistics.median(b),
                     "after": statistics.median(a), "ratio": statistics.median(ratio) if ratio else math.nan,
                     "ratios": ratio, "aa": aa})
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="checkout of the old revision")
    ap.add_argument("--after", required=True, help="checkout of the new revision")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--benches", default="invert,lp", help="comma-separated: invert, lp, calls")
    ap.add_argument("--invert-args", default="--trials 5 --gd-trials 2")
    ap.add_argument("--lp-args", default="--reps 1")
    ap.add_argument("--calls-args", default="100", help="trials per net for the 'calls' bench")
    ap.add_argument("--invert-timer", choices=("cpu", "wall"), default="cpu")
    ap.add_argument("--extra-path", default="", help="appended to PYTHONPATH (e.g. where cvxopt is installed)")
    ap.add_argument("--json", default=None, help="write every run's output and the summary here")
    args = ap.parse_args(argv)
    roots = {"before": os.path.abspath(args.before), "after": os.path.abspath(args.after)}
    benches = args.benches.split(",")
    runs = {b: {"before": [], "after": []} for b in benches}
    t_start = time.time()
    for r in range(args.rounds):
        order = ("before", "after") if r % 2 == 0 else ("after", "before")
        for bench in benches:
            for side in order:
                extra = {"invert": args.invert_args, "lp": args.lp_args, "calls": args.calls_args}[bench]
                res = run_one(args.python, roots[side], bench, extra, args.invert_timer, args.extra_path)
                runs[bench][side].append(res)
                print(f"[{time.time() - t_start:6.0f}s] round {r} {bench:6s} {side:6s}: wall {res['wall_s']:.0f}s, "
                      f"cpu {res['cpu_s']:.0f}s, load {os.getloadavg()[0]:.1f}", flush=True)
    summary = {}
    for bench in benches:
        rows = summarise(runs[bench], bench)
        summary[bench] = rows
        same = all(success_of(r["stdout"]) == success_of(runs[bench]["before"][0]["stdout"])
                   for side in runs[bench].values() for r in side)
        aa = [x for row in rows for x in row["aa"]]
        print(f"\n## {bench}: {args.rounds} rounds; success/status tables identical in every run: {same}")
        print(f"before/before (same code, consecutive rounds), all cells: median {statistics.median(aa):.2f}, "
              f"10-90% {_q(aa, .1):.2f}-{_q(aa, .9):.2f}, min {min(aa):.2f}, max {max(aa):.2f}")
        print("| table | row | column | before | after | after/before (median) | per round | before/before |")
        print("|---|---|---|---|---|---|---|---|")
        for row in rows:
            print(f"| {row['table']} | {row['row']} | {row['col']} | {row['before']:.4g} | {row['after']:.4g} | "
                  f"{row['ratio']:.2f} | {' '.join(f'{x:.2f}' for x in row['ratios'])} | "
                  f"{' '.join(f'{x:.2f}' for x in row['aa'])} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "runs": runs, "summary": summary}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
