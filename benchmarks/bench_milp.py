"""Whole-network MILP vs the layer-wise LPs vs gradient descent where the layer-wise method stops,
on the paper's k x 250 x 600 nets beyond identifiability, and on the 3-SAT family.

    python benchmarks/bench_milp.py [--quick] [--seed 0] [--out results.json]

Success, per method, on x = G(z*) (z* ~ N(0, I)):
  layer-wise  : invert(method="exact") returns "exact" (a preimage checked by a forward pass) or a
                checked "infeasible" certificate;
  ladder      : milp_ladder (layer-wise where inputs are unique, MILP below) returns "exact";
  milp        : milp_invert returns "exact" (checked) or "infeasible" (HiGHS's proof for the box);
  gd          : Adam (lr 0.05, tuned once on 20x40x60 among 0.01 / 0.05 / 0.1; 500 steps, 2 restarts)
                reaches ||G(z) - x|| / ||x|| <= 1e-3 (it never proves anything).
SAT family: random 3-CNF at 4.26 clauses per variable (the hardest ratio), sat_network + milp_invert
with box 1 and a time limit; satisfiable answers are decoded and checked, "infeasible" is HiGHS's word.
Timings: one process, one thread for torch; the machine is shared, so compare ratios within a run.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import numpy as np

from layerinv import ReLUNet, invert
from layerinv.hardness import decode, is_satisfiable, random_cnf, sat_network, satisfies
from layerinv.solvers.milp import milp_invert, milp_ladder

GD = {"steps": 500, "lr": 0.05, "restarts": 2}


def _timed(fn, *a, **kw):
    t = time.perf_counter()
    r = fn(*a, **kw)
    return r, time.perf_counter() - t


def _row_stats(rows, key):
    ok = [r[key + "_ok"] for r in rows]
    t = [r[key + "_s"] for r in rows]
    return sum(ok), len(ok), float(np.median(t)), float(np.max(t))


def stopping_nets(shapes, seeds, time_limit, use_gd):
    """Nets with expansion 1-2 per layer, where the layer-wise path is often inconclusive."""
    out = []
    for dims in shapes:
        for seed in seeds:
            G = ReLUNet.random(dims, rng=seed)
            z = np.random.default_rng(10_000 + seed).standard_normal(dims[0])
            x = G(z)
            row = {"dims": dims, "seed": seed}
            lw, row["lw_s"] = _timed(invert, G, x, method="exact")
            row["lw_status"] = lw.status
            row["lw_ok"] = lw.status == "exact" or (lw.status == "infeasible" and lw.certificate is not None)
            la, row["ladder_s"] = _timed(milp_ladder, G, x, time_limit=time_limit)
            row["ladder_status"], row["ladder_ok"] = la.status, la.status == "exact"
            mi, row["milp_s"] = _timed(milp_invert, G, x, time_limit=time_limit)
            row["milp_status"], row["milp_ok"] = mi.status, mi.status in ("exact", "infeasible")
            row["milp_nodes"], row["milp_binaries"] = mi.info["milp"].get("nodes"), mi.info["milp"].get("binaries")
            row["milp_zerr"] = float(np.linalg.norm(mi.z - z) / np.linalg.norm(z))
            if use_gd:
                gd, row["gd_s"] = _timed(invert, G, x, method="gd", rng=seed, **GD)
                row["gd_res"] = float(gd.residual)
                row["gd_ok"] = bool(gd.residual <= 1e-3)
            out.append(row)
            print(f"  {dims} seed {seed}: layer-wise {lw.status} ({row['lw_s']:.2f}s), ladder {la.status} "
                  f"({row['ladder_s']:.2f}s), milp {mi.status} ({row['milp_s']:.2f}s, {row['milp_nodes']} nodes)"
                  + (f", gd residual {row['gd_res']:.2g} ({row['gd_s']:.2f}s)" if use_gd else ""), file=sys.stderr)
    return out


def big_nets(configs, time_limit):
    """The paper's k x 250 x 600 beyond identifiability, and a width sweep: where the MILP stops."""
    out = []
    for dims, seed in configs:
        G = ReLUNet.random(dims, rng=seed)
        z = np.random.default_rng(20_000 + seed).standard_normal(dims[0])
        x = G(z)
        lw, t_lw = _timed(invert, G, x, method="exact")
        mi, t_mi = _timed(milp_invert, G, x, time_limit=time_limit)
        la, t_la = _timed(milp_ladder, G, x, time_limit=time_limit)
        row = {"dims": dims, "seed": seed, "lw_status": lw.status, "lw_s": t_lw, "lw_res": float(lw.residual),
               "milp_status": mi.status, "milp_s": t_mi, "milp_binaries": mi.info["milp"].get("binaries"),
               "milp_nodes": mi.info["milp"].get("nodes"), "ladder_status": la.status, "ladder_s": t_la,
               "time_limit": time_limit}
        out.append(row)
        print(f"  {dims}: layer-wise {lw.status} ({t_lw:.2f}s), milp {mi.status} ({t_mi:.1f}s, "
              f"{row['milp_binaries']} binaries, {row['milp_nodes']} nodes), ladder {la.status} ({t_la:.2f}s)",
              file=sys.stderr)
    return out


def sat_family(ns, seeds, time_limit, gd_max_n):
    out = []
    for n in ns:
        for seed in seeds:
            cl = random_cnf(n, int(round(4.26 * n)), rng=seed)
            G, x = sat_network(cl, n_vars=n)
            truth = is_satisfiable(cl, n) if n <= 20 else "unknown"
            mi, t = _timed(milp_invert, G, x, box=1.0, time_limit=time_limit)
            ok = mi.status == "exact" and satisfies(cl, decode(mi.z))
            row = {"n": n, "m": len(cl), "seed": seed, "milp_status": mi.status, "milp_s": t,
                   "decoded_ok": ok, "binaries": mi.info["milp"].get("binaries"), "nodes": mi.info["milp"].get("nodes"),
                   "brute_force": None if truth == "unknown" else truth is not None}
            if row["brute_force"] is not None:  # the MILP's answer must agree with brute force
                assert (mi.status == "exact") == row["brute_force"] or mi.status == "time_limit", row
            lw, row["lw_s"] = _timed(invert, G, x, method="exact")
            row["lw_status"] = lw.status
            if n <= gd_max_n:
                gd, row["gd_s"] = _timed(invert, G, x, method="gd", rng=seed, **GD)
                row["gd_ok"] = bool(satisfies(cl, decode(gd.z)) and np.max(np.abs(G(gd.z))) < 0.25)
            out.append(row)
            print(f"  SAT n={n} m={len(cl)} seed {seed}: milp {mi.status} ({t:.2f}s, {row['nodes']} nodes), "
                  f"brute force {row['brute_force']}, layer-wise {lw.status}", file=sys.stderr)
    return out


def tighten_ab(dims, seeds, time_limit):
    """Bound tightening by LPs on / off, same instances."""
    out = []
    for seed in seeds:
        G = ReLUNet.random(dims, rng=seed)
        x = G(np.random.default_rng(30_000 + seed).standard_normal(dims[0]))
        for tg in (False, True):
            r, t = _timed(milp_invert, G, x, time_limit=time_limit, tighten=tg)
            out.append({"dims": dims, "seed": seed, "tighten": tg, "status": r.status, "s": t,
                        "nodes": r.info["milp"].get("nodes"), "lps": r.info["milp"].get("tighten_lps")})
    return out


def _md(title, header, rows):
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def report(res):
    parts = []
    rows = []
    by = {}
    for r in res["stopping"]:
        by.setdefault(str(r["dims"]), []).append(r)
    for dims, rs in by.items():
        line = [dims, len(rs)]
        for key in ("lw", "ladder", "milp") + (("gd",) if "gd_ok" in rs[0] else ()):
            ok, n, med, mx = _row_stats(rs, key)
            line.append(f"{ok}/{n}, {med:.2f} s ({mx:.2f})")
        if "gd_ok" not in rs[0]:
            line.append("-")
        lw_t = np.median([r["lw_s"] for r in rs])
        line.append(f"{np.median([r['milp_s'] for r in rs]) / lw_t:.0f}x")
        line.append(f"{np.median([r['milp_zerr'] for r in rs]):.2g}")
        rows.append(line)
    parts.append(_md("Where the layer-wise method stops (x = G(z*), success / trials, median time (max))",
                     ["dims", "trials", "layer-wise exact", "ladder", "milp", "gd", "milp / layer-wise time",
                      "milp median ‖z−z*‖/‖z*‖"], rows))
    rows = [[r["dims"], f"{r['lw_status']} ({r['lw_s']:.2f} s, residual {r['lw_res']:.1g})",
             f"{r['milp_status']} ({r['milp_s']:.1f} s; {r['milp_binaries']} binaries, {r['milp_nodes']} nodes)",
             f"{r['ladder_status']} ({r['ladder_s']:.2f} s)", r["time_limit"]] for r in res["big"]]
    parts.append(_md("Larger nets: where the whole-network MILP becomes impractical",
                     ["dims", "layer-wise exact", "milp", "ladder", "time limit (s)"], rows))
    rows = []
    byn = {}
    for r in res["sat"]:
        byn.setdefault(r["n"], []).append(r)
    for n, rs in byn.items():
        st = ", ".join(f"{s}: {c}" for s, c in zip(*np.unique([r["milp_status"] for r in rs], return_counts=True)))
        bf = [r["brute_force"] for r in rs]
        rows.append([n, rs[0]["m"], rs[0]["binaries"], st,
                     f"{np.median([r['milp_s'] for r in rs]):.2f} / {np.max([r['milp_s'] for r in rs]):.2f}",
                     "n/a (n > 20)" if bf[0] is None else f"{sum(bf)} sat / {len(bf) - sum(bf)} unsat",
                     ", ".join(sorted({r["lw_status"] for r in rs})),
                     f"{sum(r['gd_ok'] for r in rs)}/{len(rs)}" if "gd_ok" in rs[0] else "-"])
    parts.append(_md("3-SAT family (4.26 clauses per variable, box 1)",
                     ["n vars", "clauses", "binaries", "milp outcome", "milp median / max s", "brute force",
                      "layer-wise exact", "gd decodes a satisfying assignment"], rows))
    rows = [[r["dims"], r["seed"], r["tighten"], r["status"], f"{r['s']:.2f}", r["nodes"], r["lps"]]
            for r in res["tighten"]]
    parts.append(_md("Bound tightening by LPs: off vs on", ["dims", "seed", "tighten", "status", "s", "nodes", "LPs"],
                     rows))
    return "\n".join(parts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few instances only (about a minute)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="write the raw results as JSON here")
    args = ap.parse_args(argv)
    try:
        import torch

        torch.set_num_threads(1)
        use_gd = True
    except ImportError:  # pragma: no cover
        use_gd = False
    s = args.seed
    t0 = time.perf_counter()
    if args.quick:
        stopping = stopping_nets([[20, 40, 60]], [s, s + 1], 30, use_gd)
        big = big_nets([([20, 40, 96], s)], 20)
        sat = sat_family([10, 20], [s], 20, 10 if use_gd else 0)
        tight = tighten_ab([10, 20, 30, 40], [s], 30)
    else:
        stopping = stopping_nets([[20, 40, 60], [20, 30, 45], [10, 15, 20, 30]], range(s, s + 4), 30, use_gd)
        big = big_nets([([20, 40, 96], s), ([40, 80, 192], s), ([80, 160, 384], s),
                        ([120, 250, 600], s), ([150, 250, 600], s)], 45)
        sat = sat_family([10, 20, 40, 80], [s, s + 1], 30, 20 if use_gd else 0)
        tight = tighten_ab([10, 20, 30, 40], [s, s + 1], 30)
    res = {"stopping": stopping, "big": big, "sat": sat, "tighten": tight,
           "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
           "total_s": time.perf_counter() - t0, "argv": sys.argv}
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(res, fh, indent=1, default=str)
    print(report(res))
    print(f"total {res['total_s']:.0f} s")


if __name__ == "__main__":
    main()
