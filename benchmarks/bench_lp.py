"""Per-layer ℓ∞ / ℓ1 LPs: HiGHS (the current kernels) vs the dense interior point (layerinv.lp.ipm) vs CVXOPT.

Every solver gets the same LayerSystem; the objective is recomputed at each returned h, and the
certified lower bound comes from ``dual_bound`` with the IPM's radius rule for every solver (all h
when that costs nothing, else ``||h||_inf <= 10 max(1, ||h||_inf)``). BLAS runs on one thread for every solver (``--threads``), and times are CPU
seconds of this process (``time.process_time``) besides wall clock, since the machine is shared.

    python benchmarks/bench_lp.py                # the full table (a few minutes)
    python benchmarks/bench_lp.py --quick        # one noise level, one repeat
    python benchmarks/bench_lp.py --variants     # also HiGHS variants on the 600x250 case
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from layerinv import ReLUNet
from layerinv.lp.highs import quiet_stdout
from layerinv.lp.ipm import ipm_l1, ipm_linf
from layerinv.lp.kernels import highs_l1, highs_linf
from layerinv.lp.system import build_system, dual_bound

#: name: (dims of the random ReLU net, index of the layer inverted). "+" marks h >= 0 (a ReLU input).
CASES = {
    "600x250+": ([100, 250, 600], 1),
    "784x60+": ([20, 60, 784], 1),
    "250x130": ([130, 250, 600], 0),
    "250x60": ([60, 250, 600], 0),
    "250x20": ([20, 250, 600], 0),
}


def make_system(case, noise, seed):
    """The layer system of ``case`` for a planted latent, its target perturbed by U(-noise, noise)."""
    dims, li = CASES[case]
    G = ReLUNet.random(dims, rng=1000 + seed)
    rng = np.random.default_rng(seed)
    acts = G.forward(rng.standard_normal(dims[0]), all_layers=True)
    a = acts[li + 1] + noise * rng.uniform(-1.0, 1.0, dims[li + 1])
    return build_system(G.layers[li], a, 2 * max(-a.min(), 0.0), li > 0)


# ---------------------------------------------------------------------------------- solvers
def run_ipm(system, norm):
    res = (ipm_linf if norm == "linf" else ipm_l1)(system)
    return res.h, [(res.y_E, res.y_I)], f"{res.status}/{res.steps}it"


def run_highs(system, norm):
    h, sol, cands = (highs_linf if norm == "linf" else highs_l1)(system)
    return h, cands, f"{sol.status}/{sol.iterations}it"


def _dense_lp(system, norm):
    """``min c.x  s.t.  G x <= q`` for CVXOPT (and the HiGHS variants); x = (h, t) or (h, e)."""
    ME, MI = system.M_E, system.M_I
    nE, nI, n = ME.shape[0], MI.shape[0], system.n_in
    nh = n if system.nonneg else 0
    if norm == "linf":
        G = np.zeros((2 * nE + nI + nh, n + 1))
        G[:nE, :n], G[nE:2 * nE, :n], G[2 * nE:2 * nE + nI, :n] = ME, -ME, MI
        G[:2 * nE + nI, n] = -1.0
        c = np.zeros(n + 1)
        c[n] = 1.0
    else:
        ne = nE + nI
        G = np.zeros((2 * nE + 2 * nI + nh, n + ne))
        G[:nE, :n], G[nE:2 * nE, :n], G[2 * nE:2 * nE + nI, :n] = ME, -ME, MI
        G[np.arange(nE), n + np.arange(nE)] = -1.0
        G[nE + np.arange(nE), n + np.arange(nE)] = -1.0
        G[2 * nE + np.arange(nI), n + nE + np.arange(nI)] = -1.0
        G[2 * nE + nI + np.arange(nI), n + nE + np.arange(nI)] = -1.0
        c = np.concatenate([np.zeros(n), np.ones(ne)])
    G[G.shape[0] - nh + np.arange(nh), np.arange(nh)] = -1.0
    q = np.concatenate([system.c_E, -system.c_E, system.c_I, np.zeros(G.shape[0] - 2 * nE - nI)])
    return c, G, q


def run_cvxopt(system, norm):
    from cvxopt import matrix, solvers

    c, G, q = _dense_lp(system, norm)
    nE = system.M_E.shape[0]
    nI = system.M_I.shape[0]
    solvers.options["show_progress"] = False
    sol = solvers.lp(matrix(c), matrix(G), matrix(q))
    if sol["x"] is None:
        return None, [], sol["status"]
    x, z = np.array(sol["x"]).ravel(), np.array(sol["z"]).ravel()
    return x[:system.n_in], [(z[:nE] - z[nE:2 * nE], z[2 * nE:2 * nE + nI])], f"{sol['status']}/{sol['iterations']}it"


def run_highs_variant(system, norm, options):
    """HiGHS on the dense inequality form with the given option overrides."""
    import highspy

    c, G, q = _dense_lp(system, norm)
    nh = system.n_in if system.nonneg else 0
    G, q = G[:G.shape[0] - nh], q[:q.shape[0] - nh]  # h >= 0 as column bounds, as the kernels do
    with quiet_stdout():
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    for k, v in options.items():
        h.setOptionValue(k, v)
    inf = highspy.kHighsInf
    m, n = G.shape
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, m
    lp.col_cost_ = c
    lower = np.full(n, -inf)
    lower[:nh] = 0.0
    if norm == "linf":
        lower[n - 1] = 0.0  # t >= 0
    lp.col_lower_ = lower
    lp.col_upper_ = np.full(n, inf)
    lp.row_lower_ = np.full(m, -inf)
    lp.row_upper_ = q
    Gf = np.asfortranarray(G)
    nz = Gf != 0
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.concatenate(([0], np.cumsum(nz.sum(axis=0)))).astype(np.int32)
    idx = np.nonzero(nz.T)
    lp.a_matrix_.index_ = idx[1].astype(np.int32)
    lp.a_matrix_.value_ = Gf.T[idx]
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n, m
    h.passModel(lp)
    h.run()
    sol = h.getSolution()
    x = np.array(sol.col_value)[:system.n_in]
    cands = []
    if sol.dual_valid:
        nE, nI = system.M_E.shape[0], system.M_I.shape[0]
        for sign in (1.0, -1.0):
            y = np.maximum(sign * np.array(sol.row_dual), 0.0)
            cands.append((y[:nE] - y[nE:2 * nE], y[2 * nE:2 * nE + nI]))
    info = h.getInfo()
    its = info.simplex_iteration_count + info.ipm_iteration_count
    return x, cands, f"{h.modelStatusToString(h.getModelStatus())}/{its}it"


SOLVERS = {"highs": run_highs, "ipm": run_ipm, "cvxopt": run_cvxopt}
VARIANTS = {
    "highs-dual (current)": {"solver": "simplex", "simplex_strategy": 1, "primal_feasibility_tolerance": 1e-9,
                             "dual_feasibility_tolerance": 1e-9},
    "highs-dual presolve off": {"solver": "simplex", "simplex_strategy": 1, "presolve": "off",
                                "primal_feasibility_tolerance": 1e-9, "dual_feasibility_tolerance": 1e-9},
    "highs-dual default tol": {"solver": "simplex", "simplex_strategy": 1},
    "highs-primal": {"solver": "simplex", "simplex_strategy": 4},
    "highs-ipm no crossover": {"solver": "ipm", "run_crossover": "off"},
    "highs-ipm + crossover": {"solver": "ipm", "run_crossover": "on"},
}


# ---------------------------------------------------------------------------------- measuring
def measure(fn, system, norm, reps):
    cpu, wall, out = [], [], None
    for _ in range(reps):
        t0, w0 = time.process_time(), time.perf_counter()
        out = fn(system, norm)
        cpu.append(time.process_time() - t0)
        wall.append(time.perf_counter() - w0)
    return float(np.median(cpu)), float(np.median(wall)), out


def score(system, norm, h, cands):
    """Recomputed objective at h, and the best certified bound of the multiplier candidates (over
    every h where that costs nothing, else over ``||h||_inf <= 10 max(1, ||h||_inf)``: the IPM's rule)."""
    if h is None or not np.all(np.isfinite(h)):
        return np.inf, -np.inf
    h = np.maximum(h, 0.0) if system.nonneg else h
    value = system.linf_value(h) if norm == "linf" else system.l1_value(h)
    radius = 10.0 * max(1.0, float(np.max(np.abs(h), initial=0.0)))
    lower = max((max(dual_bound(system, yE, yI, norm, r).value for r in (radius, np.inf)) for yE, yI in cands),
                default=-np.inf)
    return value, lower


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="noise 1e-3 only, one repeat")
    ap.add_argument("--reps", type=int, default=None, help="repeats per solve, median taken (3; 1 with --quick)")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads (SciPy, NumPy)")
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated subset of " + ", ".join(CASES))
    ap.add_argument("--solvers", default="highs,ipm,cvxopt")
    ap.add_argument("--variants", action="store_true", help="also HiGHS variants on 600x250+ at noise 1e-3")
    args = ap.parse_args(argv)
    noises = [1e-3] if args.quick else [1e-6, 1e-3, 1e-1]
    reps = args.reps if args.reps is not None else (1 if args.quick else 3)
    names = args.solvers.split(",")
    with threadpool_limits(args.threads):
        rows = []
        print("| case | noise | norm | " + " | ".join(f"{s} ms (cpu)" for s in names)
              + " | highs/ipm | cvxopt/ipm | ipm status | ipm value | rel. err vs best: " + ", ".join(names)
              + " | ipm certified gap (abs / rel) | gap <= max(1e-8 value, 1e-9 (1 + scale)) |")
        print("|" + "---|" * (10 + len(names)))
        for case in args.cases.split(","):
            for noise in noises:
                system = make_system(case, noise, 0)
                for norm in ("linf", "l1"):
                    res = {s: measure(SOLVERS[s], system, norm, reps) for s in names}
                    sc = {s: score(system, norm, r[2][0], r[2][1]) for s, r in res.items()}
                    best = min(v for v, _ in sc.values())
                    err = ", ".join(f"{(sc[s][0] - best) / max(best, 1e-300):.0e}" for s in names)
                    t = {s: res[s][0] * 1e3 for s in names}
                    ratio = lambda a: f"{t[a] / t['ipm']:.1f}x" if a in t and "ipm" in t else "-"  # noqa: E731
                    v, lo = sc.get("ipm", (np.nan, np.nan))
                    status = res["ipm"][2][2] if "ipm" in res else "-"
                    line = (f"| {case} | {noise:.0e} | {norm} | " + " | ".join(f"{t[s]:.1f}" for s in names)
                            + f" | {ratio('highs')} | {ratio('cvxopt')} | {status} | {v:.4g} | {err} | "
                            + f"{v - lo:.1e} / {(v - lo) / max(v, 1e-300):.0e} | "
                            + ("yes" if v - lo <= max(1e-8 * v, 1e-9 * (1 + system.scale)) else "NO") + " |")
                    print(line, flush=True)
                    rows.append((case, noise, norm, t))
        for s in names:
            if s != "ipm" and "ipm" in names:
                r = [row[3][s] / row[3]["ipm"] for row in rows]
                print(f"\n{s}/ipm CPU-time ratio: median {np.median(r):.1f}x, min {min(r):.1f}x, max {max(r):.1f}x")
        if args.variants:
            system = make_system("600x250+", 1e-3, 0)
            print("\n| 600x250+, noise 1e-3 | norm | ms (cpu) | ms (wall) | status | rel. err vs ipm |")
            print("|---|---|---|---|---|---|")
            for norm in ("linf", "l1"):
                cpu_i, wall_i, out_i = measure(run_ipm, system, norm, reps)
                v_ipm = score(system, norm, out_i[0], out_i[1])[0]
                print(f"| ipm | {norm} | {cpu_i * 1e3:.1f} | {wall_i * 1e3:.1f} | {out_i[2]} | 0 |")
                for name, opts in VARIANTS.items():
                    cpu, wall, out = measure(lambda s, n: run_highs_variant(s, n, opts), system, norm, reps)
                    v = score(system, norm, out[0], out[1])[0]
                    print(f"| {name} | {norm} | {cpu * 1e3:.1f} | {wall * 1e3:.1f} | {out[2]} | "
                          f"{(v - v_ipm) / v_ipm:.0e} |", flush=True)


if __name__ == "__main__":
    main()
