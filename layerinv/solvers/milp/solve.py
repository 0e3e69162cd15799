"""The MILP solve for one observation (:func:`invert_milp`) and its validated public form
(:func:`milp_invert`).

Every point HiGHS returns is polished by an LP over its linear region (``G`` is affine there) and
by Gauss–Newton, then checked by our own forward pass; statuses come from that check, never from
HiGHS's word. "Infeasible" is HiGHS's word: its branch-and-bound proof is not re-checked here, and
the message says so and names the box the proof covers.
"""
from __future__ import annotations

import time

import numpy as np

from ..._checks import as_float_array, check_nonempty
from ...certificate import LayerCertificate
from ...linear_maps import DENSE_LIMIT
from ...network import Layer, ReLUNet
from ...result import LayerRecord, Result
from .._common import relative_residual
from ..gauss_newton import gauss_newton
from .bounds import n_tighten_lps, propagate, tighten_bounds
from .encode import encode, make_target
from .model import FEAS_TOL, INF, MIP_GAP, new_solver, subnet
from .proof import MILPProof
from .region import rank_ok, region_lp
from .scaling import Units, copy_error, needs_scaling, scaled_copy

__all__ = ["milp_invert", "invert_milp", "OBJECTIVES"]

#: The problems :func:`milp_invert` solves.
OBJECTIVES = ("exact", "linf", "l1")

_BOX_FACTOR = 4.0      # default box: this many times the layer-wise estimate's largest |z_i|


def _done(G, net, x, rows, info, t0, z, status, msg, cert=None, obj=np.nan, viol=np.nan, unique=False):
    """The :class:`Result` of one MILP solve (one :class:`LayerRecord` with path "milp")."""
    info["seconds"] = time.perf_counter() - t0
    z = np.full(G.k, np.nan) if z is None else z
    act, n_out = net.layers[-1].activation, net.n
    active = (int(np.sum(net.forward_unchecked(z) > 0)) if (act.has_inactive_region and np.all(np.isfinite(z)))
              else n_out)
    rec = LayerRecord(0, G.k, n_out, active, "milp", obj, float(viol), status, bool(unique), info["seconds"], msg)
    return Result(z, status, msg, relative_residual(G, z, x, rows), info["seconds"], [rec], "milp", cert,
                  {"milp": info})


def _mip(layers, target, R, bounds, solver, deadline, net, x, act):
    """Encode ``target``, solve the MIP and polish its point: ``(enc, sol, candidates)`` (model units)."""
    enc = encode(layers, target, R, bounds)
    enc.model.load_into(solver)
    left = None if deadline is None else max(deadline - time.perf_counter(), 1e-3)
    sol = solver.run(left)
    z_mip = None if sol.x is None else np.clip(sol.x[enc.z], -R, R)
    cands = [z_mip] if z_mip is not None else []
    if z_mip is not None and sol.status in ("optimal", "time_limit"):
        left = None if deadline is None else max(deadline - time.perf_counter(), 1.0)
        zp = region_lp(layers, target, z_mip, R, solver, left)
        if zp is not None:
            cands.append(zp)
        if act.piecewise_linear or target.relaxed is not None or target.gn:
            # least squares on the region (Gauss-Newton): machine precision where the LP polish,
            # at HiGHS's tolerances, stops near 1e-7
            cands.append(np.clip(gauss_newton(net, x, cands[-1], steps=10)[0], -R, R))
    return enc, sol, cands


def _best(cands, units, col):
    """The candidate with the least user-unit fit in column ``col`` (0 linf, 1 l1): ``(z, (linf, l1))``."""
    best, best_s = None, (INF, INF)
    for zc in cands:
        sc = units.scores(zc)
        if sc[col] < best_s[col]:
            best, best_s = zc, sc
    return best, best_s


def _invert_milp_raw(G, x, *, objective, eps, box, time_limit, tol, tighten, rows=None, box_msg=None, units=None):
    """One MILP solve of ``G`` as given (no scaling, no refutation): see :func:`invert_milp`.

    ``units`` (:class:`Units`) maps this model to the user's G, x and box when ``G`` is a rescaled copy:
    every number in the message, the record and ``info`` is then in the user's units."""
    t0 = time.perf_counter()
    deadline = None if time_limit is None else t0 + time_limit
    layers = list(G.layers)
    if rows is not None:
        top = layers[-1]
        layers[-1] = Layer(top.weight[rows], top.bias[rows], top.activation)
    net = G if rows is None else subnet(layers)
    k = G.k
    act = layers[-1].activation
    target, delta = make_target(act, x, objective, eps, tol)
    units = Units(G, x, rows, delta=delta) if units is None else units
    D = units.delta  # the claim's tolerance / budget in the user's units
    info = {"objective": objective, "delta": D, "binaries": 0, "nodes": 0}

    def done(z, status, msg, **kw):
        return _done(G, net, x, rows, info, t0, z, status, msg, **kw)

    # entries of x outside the output activation's range: an independent, checkable proof
    if target.empty is not None:
        bad = np.flatnonzero(target.empty)
        if bad.size:
            tols = [0.0] * G.depth
            tols[-1] = delta
            cert = LayerCertificate(G.depth - 1, "range", tols, G, x, rows=bad, observed=rows,
                                    rtol=tol if objective == "exact" else None, atol=delta)
            if not cert.check():
                cert = None
            what = "max |G(z) - x|" if objective == "exact" else "||G(z) - x||_inf"
            also = ", hence none has ||G(z) - x||_1 <= %.3g" % D if objective == "l1" else ""
            return done(None, "infeasible",
                        f"x is not in the range of G: {bad.size} entries of x lie outside the range of the "
                        f"output {act.name} by more than {D:.3g} (e.g. entry {bad[0]} = {units.x[bad[0]]:.3g}), so "
                        f"no z at all has {what} <= {D:.3g}{also}.", cert=cert)

    if box is None:
        with np.errstate(over="ignore", invalid="ignore"):  # huge weights: the bounds are checked, not warned about
            R, box_msg = _default_box(G, x, rows)
    else:
        R, box_msg = box, (box_msg or f"box R = {box:.4g} given by the caller")
    RU = units.R * R  # the user's box
    info.update(box=RU, box_source=box_msg)
    try:
        solver = new_solver()
    except Exception as exc:  # pragma: no cover - highspy missing or broken
        return done(None, "failed", f"HiGHS could not be started ({type(exc).__name__}: {exc}).")

    def proof(stage, nodes, nbin):
        options = dict(objective=objective, eps=eps, box=R, time_limit=time_limit, rows=rows, tol=tol,
                       tighten=tighten)
        return MILPProof(R, k, objective, float(delta), nodes, nbin, stage, G, x, options)

    what = ("max |G(z) - x| <= %.3g (tol %.3g x max|x|)" % (D, tol) if objective == "exact"
            else "||G(z) - x||_%s <= %.3g" % ("inf" if objective == "linf" else "1", D if D is not None else 0))
    word = ("This is HiGHS's word (floating-point simplex and branch and bound, feasibility tolerance "
            f"{FEAS_TOL:g}), not a proof re-checked by layerinv.")
    relaxed = (" The MILP is a sound outer relaxation of the claim for the {0} output (each u_j within "
               "{0}^-1([x_j - eps, x_j + eps]), |{0}(u_j) - x_j| bounded below by the least slope times "
               "|u_j - {0}^-1(x_j)|, all rounded outward): every z that meets the claim satisfies it.".format(act.name)
               if target.relaxed is not None else "")
    col = 1 if (target.mode == "norm" and target.norm == "l1") else 0
    first = None  # the first-order model's point (l1 budget on a sigmoid / tanh output)
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            bounds = propagate(layers, R)
        if not all(np.all(np.isfinite(lu)) for b in bounds for lu in b) or not np.isfinite(R):
            return done(None, "failed", f"the pre-activation bounds over the box (R = {RU:.4g}) overflow the floating-"
                                        "point range (weights or box too large for the MILP's big-M encoding); "
                                        "no claim about x.")
        if target.relaxed is not None:
            # a point first, from the first-order model (cheap and usually good); the relaxation proves
            fo = make_target(act, x, "l1", None, tol)[0]
            fo.gn = True  # a point for the budget: Gauss-Newton too (least squares; the l1 check picks)
            half = None if deadline is None else time.perf_counter() + 0.5 * (deadline - time.perf_counter())
            _, sol1, c1 = _mip(layers, fo, R, bounds, solver, half, net, x, act)
            first = _best(c1, units, 1)
            info["first_order"] = {"highs_status": sol1.raw, "nodes": sol1.nodes, "l1": first[1][1]}
            if first[0] is not None and first[1][1] <= D:
                linf, l1 = first[1]
                info["linf"], info["l1"] = linf, l1
                return done(first[0], "feasible", f"||G(z) - x||_1 = {l1:.3g} <= eps = {D:.3g}, checked by a forward "
                                                  f"pass (z in [−R, R]^k, R = {RU:.4g}; {box_msg}); z from the "
                                                  f"first-order model of the {act.name} output.", obj=l1, viol=0.0)
        info["tighten_lps"] = 0
        if tighten and n_tighten_lps(layers, target, bounds):
            ts = time.perf_counter()
            t_dead = None if time_limit is None else t0 + 0.5 * time_limit  # leave half for the MIP
            bounds, used, infeasible = tighten_bounds(layers, target, R, bounds, solver, t_dead)
            info["tighten_lps"], info["tighten_seconds"] = used, time.perf_counter() - ts
            if infeasible and delta < RESOLVABLE * FEAS_TOL:
                return done(None, "failed", _unresolvable(D, delta, "the LP relaxation"))
            if infeasible:
                return done(None, "infeasible",
                            f"no z in [−R, R]^k (R = {RU:.4g}, k = {k}) has {what}: HiGHS found the LP relaxation "
                            f"of the MILP infeasible.{relaxed} {word} {box_msg}.", cert=proof("relaxation", 0, 0))
        ts = time.perf_counter()
        enc, sol, cands = _mip(layers, target, R, bounds, solver, deadline, net, x, act)
        status = sol.status
        info.update(binaries=enc.binaries, rows=enc.model.nrow, cols=enc.model.ncol, highs_status=sol.raw,
                    nodes=sol.nodes, mip_seconds=time.perf_counter() - ts)
        if status == "infeasible":
            if target.mode == "norm" and target.budget is None:
                return done(None, "failed", f"HiGHS reported the minimisation infeasible ({sol.raw}), "
                                            f"which cannot happen for a non-empty box; no claim about x.")
            if delta < RESOLVABLE * FEAS_TOL:
                return done(None, "failed", _unresolvable(D, delta, "the MILP"))
            if enc.model.dropped:
                return done(None, "inconclusive", f"no claim about x: HiGHS reported the MILP infeasible, but "
                                                  f"{enc.model.dropped_message()} (z in [−R, R]^k, R = {RU:.4g}; {box_msg}).")
            return done(None, "infeasible",
                        f"no z in [−R, R]^k (R = {RU:.4g}, k = {k}) has {what}: HiGHS proved the MILP infeasible "
                        f"({_nodes(sol.nodes)}, {enc.binaries} binaries).{relaxed} {word} {box_msg}.",
                        cert=proof("mip", sol.nodes, enc.binaries))
        if status not in ("optimal", "time_limit"):
            return done(None, "failed", f"HiGHS stopped with status {sol.raw!r}; no claim about x.")
        if first is not None and first[0] is not None:
            cands.append(first[0])
        best, (linf, l1) = _best(cands, units, col)
    except Exception as exc:  # never let a HiGHS / numerical traceback reach the user
        return done(None, "failed", f"the MILP could not be solved ({type(exc).__name__}: {exc}); no claim about x.")

    # HiGHS's bound on the optimum of a minimisation, in the user's units (none for a first-order model)
    minimise = target.mode == "norm" and target.budget is None
    lossy = enc.model.dropped_message()  # HiGHS solved another model: its bound proves nothing
    lb = (units.lower(float(sol.dual_bound), "l1" if col else "linf")
          if minimise and not target.first_order and not lossy else float("nan"))
    if lb > (l1 if col else linf):  # our checked point beats it: HiGHS's bound is wrong (its tolerances)
        lossy, lb = f"HiGHS's lower bound {lb:.3g} is refuted by the point found (checked by a forward pass)", np.nan
    info.update(linf=linf, l1=l1, dual_bound=lb)
    if minimise and target.first_order:
        info["first_order_bound"] = float(sol.dual_bound) * units.P  # of the model, not of G: no claim
    where = f"z in [−R, R]^k, R = {RU:.4g}"
    if status == "time_limit":
        if best is None:
            return done(None, "time_limit",
                        f"HiGHS ran out of time ({sol.nodes} nodes, {enc.binaries} binaries) with no point "
                        f"found and no proof: no claim about x ({where}; {box_msg}).")
        val = l1 if col else linf
        msg = (f"HiGHS ran out of time ({sol.nodes} nodes); best point found has ||G(z) - x||_inf = {linf:.3g}, "
               f"||G(z) - x||_1 = {l1:.3g} (recomputed)")
        if np.isfinite(lb):
            msg += f"; HiGHS's lower bound on the optimum over the box: {lb:.3g}"
        return done(best, "time_limit", msg + f" ({where}; {box_msg}).", obj=(lb, val) if np.isfinite(lb) else val,
                    viol=0.0)
    if best is None:
        return done(None, "failed", f"HiGHS reported {sol.raw!r} but returned no point; no claim about x.")
    try:
        unique = rank_ok(layers, best)
    except np.linalg.LinAlgError:
        unique = False
    uniq_msg = (" z's linear region maps it one-to-one (other regions may still hold preimages)." if unique
                else " z's linear region does not pin z: the preimage is not unique.")
    checked = f"checked by a forward pass ({where}; {box_msg}).{uniq_msg}"
    name = "||G(z) - x||_1" if col else "||G(z) - x||_inf"
    val = l1 if col else linf
    if objective == "exact" or eps is not None:
        if val > D and target.relaxed is not None:
            return done(best, "inconclusive",
                        f"no claim about x: the best point found has {name} = {val:.3g} > eps = {D:.3g} (recomputed), "
                        f"and the sound relaxation of the {act.name} output (HiGHS found it feasible) cannot rule "
                        f"out a z that meets the budget ({where}; {box_msg}).", obj=val, viol=val - D)
        if val > D:
            what = "max |G(z) - x|" if objective == "exact" else name
            bud = f"{D:.3g}" if objective == "exact" else f"eps = {D:.3g}"
            return done(best, "failed", f"HiGHS returned a point that fails our check: {what} = {val:.3g} > "
                                        f"{bud}; no claim about x.", obj=val, viol=val - D)
        if objective == "exact":
            return done(best, "exact", f"MILP preimage checked by a forward pass: max |G(z) - x| = {val:.3g} "
                                       f"<= {D:.3g} ({where}; {box_msg}).{uniq_msg}", obj=val, viol=0.0,
                        unique=unique)
        return done(best, "feasible", f"{name} = {val:.3g} <= eps = {D:.3g}, {checked}", obj=val, viol=0.0,
                    unique=unique)
    if target.first_order:
        return done(best, "approximate",
                    f"min {name} over {where}, approximately: {val:.3g} (recomputed by a forward pass). For the "
                    f"{act.name} output the MILP minimised the residual to first order (rows scaled by the "
                    f"activation's slope at x): z is not certified optimal and no lower bound on the optimum is "
                    f"claimed ({box_msg}).{uniq_msg}", obj=(0.0, val), viol=0.0, unique=unique)
    if lossy:
        return done(best, "approximate", f"min {name} over {where}, approximately: {val:.3g} (recomputed by a "
                                         f"forward pass); no lower bound on the optimum is claimed: {lossy} "
                                         f"({box_msg}).{uniq_msg}", obj=(0.0, val), viol=0.0, unique=unique)
    obj = val if lb >= val else (lb, val)  # the record's lower end is HiGHS's bound, never our point's value
    return done(best, "optimal",
                f"min {name} over {where}: {val:.3g} (recomputed by a forward pass); HiGHS's lower bound {lb:.3g} "
                f"(relative gap tolerance {MIP_GAP:g}; {box_msg}).{uniq_msg}", obj=obj, viol=0.0, unique=unique)


def _nodes(n):
    return f"{n} branch-and-bound nodes" if n >= 0 else "in presolve"


#: HiGHS's "infeasible" backs a claim only when the claim's tolerance is this many times its absolute
#: feasibility tolerance FEAS_TOL (in the model's units); tighter claims are beyond its numerics.
RESOLVABLE = 100.0


def _unresolvable(D, delta, what):
    scaled = "" if D == delta else f" ({delta:.3g} in the rescaled model's units)"
    return (f"HiGHS reported {what} infeasible, but the claim's tolerance {D:.3g}{scaled} is below {RESOLVABLE:g} x "
            f"HiGHS's absolute feasibility tolerance {FEAS_TOL:g}, so its numerics cannot back the verdict; no claim "
            f"about x (loosen tol, or rescale x).")


def _fits(G, x, z, objective, delta, rows, R):
    """Whether z (in the box) meets the claim the MILP is about, by our own forward pass."""
    if z is None or not np.all(np.isfinite(z)) or float(np.max(np.abs(z))) > R:
        return False
    y = G.forward_unchecked(z) if rows is None else G.forward_unchecked(z)[rows]
    r = np.abs(y - x)
    return bool((np.sum(r) if objective == "l1" else np.max(r, initial=0.0)) <= delta)


def invert_milp(G, x, *, objective, eps, box, time_limit, tol, tighten, rows=None):
    """:func:`milp_invert` for one observation ``x`` of shape (n,) (``(len(rows),)``) and options
    already validated (the registry's internal entry point; nothing is checked here).

    HiGHS works in absolute tolerances, so where the weights or the box are far from 1 the MILP is
    solved on a rescaled copy (:func:`.scaling.scaled_copy`); every number reported is in G's units
    (fits recomputed on G, HiGHS's bounds mapped back and rounded down), every answer is re-checked on G
    itself, and an "infeasible" is tested against the layer-wise points: one that meets the claim refutes
    HiGHS's verdict (status "failed", never "infeasible")."""
    from ..layerwise import layerwise

    big = [(i, L.n_out, L.n_in) for i, L in enumerate(G.layers) if L.n_out * L.n_in > DENSE_LIMIT]
    if big:
        i, m, n = big[0]
        raise ValueError(f"method='milp' encodes every layer's rows densely and needs each layer to have at most "
                         f"linear_maps.DENSE_LIMIT = {DENSE_LIMIT:,} entries (n_out x n_in); layer {i} of G has "
                         f"{m} x {n} = {m * n:,}. Use method='auto' (Gauss-Newton in latent space) for this net.")
    scale = float(np.max(np.abs(x), initial=0.0))
    delta = (tol * scale if scale > 0 else tol) if objective == "exact" else eps
    box_msg = None
    if box is None:
        with np.errstate(over="ignore", invalid="ignore"):  # huge weights: the bounds are checked, not warned about
            R, box_msg = _default_box(G, x, rows)
    else:
        R = box
    if not np.isfinite(R) or not needs_scaling(G, R):
        res = _invert_milp_raw(G, x, objective=objective, eps=eps, box=R, time_limit=time_limit, tol=tol,
                               tighten=tighten, rows=rows, box_msg=box_msg)
    else:
        Gs, P = scaled_copy(G, R)
        units = Units(G, x, rows, R=R, P=P, err=copy_error(Gs, rows), delta=delta)
        res = _invert_milp_raw(Gs, x / P, objective=objective, eps=None if eps is None else eps / P, box=1.0,
                               time_limit=time_limit, tol=tol, tighten=tighten, rows=rows,
                               box_msg=f"box R = {R:.4g} ({box_msg or 'given by the caller'})", units=units)
        res.z = R * res.z
        res.residual = relative_residual(G, res.z, x, rows)
        res.info["milp"]["scaled"] = {"box": R, "output_factor": P}
        res.message += (f" [Solved on a rescaled copy (z = {R:.3g} z', outputs / {P:.3g}) because HiGHS's "
                        f"tolerances are absolute; every number above is in G's units.]")
        if res.certificate is not None and not isinstance(res.certificate, MILPProof):  # a range proof
            c = res.certificate
            c = LayerCertificate(c.layer, c.kind, [t * P for t in c.tol], G, x, rows=c.rows, observed=rows,
                                 rtol=c.rtol, atol=c.atol * P)
            res.certificate = c if c.check() else None
        if isinstance(res.certificate, MILPProof):
            res.certificate.box = R
            res.certificate.delta = delta
            res.certificate.G, res.certificate.x = G, x
            res.certificate.options = dict(res.certificate.options, box=R, eps=eps)
    if res.status in ("exact", "feasible") and not _fits(G, x, res.z, objective, delta, rows, R * (1 + 1e-12)):
        res.status = "failed"
        res.layers[0].status = "failed"
        res.message = (f"the MILP's point does not meet the claim on G itself (checked by our forward pass); no claim "
                       f"about x. ({res.message})")
    if res.status == "infeasible" and isinstance(res.certificate, MILPProof):
        for how in ("exact", "linf"):
            try:
                z = layerwise(G, x, how, rows=rows).z
            except Exception:  # a refutation attempt only
                continue
            if _fits(G, x, z, objective, delta, rows, R):
                res.status, res.certificate = "failed", None
                res.layers[0].status = "failed"
                res.z, res.residual = z, relative_residual(G, z, x, rows)
                res.message = (f"HiGHS reported the MILP infeasible, but the layer-wise {how} point meets the claim "
                               f"(checked by our forward pass): HiGHS's numerics cannot back its verdict here; no "
                               f"proof that x is outside the range. z is that point.")
                break
    return res


def _default_box(G, x, rows):
    """A generous box read off the data (a heuristic; the message states the R used):

    ``R = max(4 ||z_lw||_inf, 2 ||x - G(0)||_2 / g, 1)``, with ``z_lw`` the layer-wise ℓ∞ estimate and
    ``g`` the smallest positive gain ``||G(±e_i) - G(0)||_2`` over the 2k coordinate directions
    (``||x - G(0)|| / g`` estimates ``||z||_2 >= ||z||_inf``; for a bias-free ReLU net ``G`` is
    positively homogeneous, so the gain of z's own direction sets ``||z||_2`` exactly).
    """
    from ..layerwise import layerwise

    def out(v):
        y = G.forward_unchecked(v)
        return y if rows is None else y[..., rows]

    try:
        zl = layerwise(G, x, "linf", rows=rows).z
    except Exception:  # an estimate only; never let it fail the call
        zl = None
    m = float(np.max(np.abs(zl), initial=0.0)) if zl is not None and np.all(np.isfinite(zl)) else 0.0
    k = G.k
    g0 = out(np.zeros(k))
    gains = np.linalg.norm(out(np.vstack([np.eye(k), -np.eye(k)])) - g0, axis=1)
    gains = gains[gains > 1e-12 * max(float(np.max(gains, initial=0.0)), 1e-300)]
    d = x - g0
    nd = float(np.linalg.norm(d))
    if not np.isfinite(nd):  # ||d||_2 overflowed (|x| above ~1e154): scale it
        big = float(np.max(np.abs(d)))
        nd = big * float(np.linalg.norm(d / big))
    r2 = nd / float(np.min(gains)) if gains.size else 0.0
    R = max(_BOX_FACTOR * m, 2.0 * r2, 1.0)
    return R, (f"default box R = max({_BOX_FACTOR:g} x {m:.3g} (max|z_i| of the layer-wise linf estimate), "
               f"2 x {r2:.3g} (||x - G(0)|| / smallest gain of G along a coordinate), 1); pass box= to change it")


# ---------------------------------------------------------------------------------------- public
def check_rows(rows, n):
    """``rows`` (observed output rows) as a checked index array, or None."""
    if rows is None:
        return None
    arr = np.asarray(rows)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"rows must be a non-empty 1-D array of output row indices; got shape {arr.shape}.")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"rows must hold integers (output row indices); got dtype {arr.dtype}.")
    if arr.min() < 0 or arr.max() >= n:
        raise ValueError(f"rows must lie in [0, {n}) (G has {n} outputs); got values from {arr.min()} to {arr.max()}.")
    if np.unique(arr).size != arr.size:
        raise ValueError("rows must not repeat an index.")
    return arr.astype(np.intp)


def check_call(G, x, rows, options, where, names=None):
    """Validate a public call once: ``(x, rows, clean options)``, the options by milp's registry
    entry (only those in ``names`` when given)."""
    from ..options import check_all
    from ..registry import SOLVERS

    if not isinstance(G, ReLUNet):
        raise TypeError(f"G must be a layerinv.ReLUNet (convert a torch model with ReLUNet.from_torch); "
                        f"got {type(G).__name__}.")
    milp = SOLVERS["milp"]
    clean = (milp.validate(options, where, G) if names is None
             else check_all([o for o in milp.options if o.name in names], options, where, G))
    rows = check_rows(rows, G.n)
    n_obs = G.n if rows is None else rows.size
    x = as_float_array(x, "x", ndim=(1, 2))
    if x.shape[-1] != n_obs:
        what = "G's output" if rows is None else f"the {n_obs} observed rows"
        raise ValueError(f"x must have shape ({n_obs},) or (batch, {n_obs}) to match {what}; got {x.shape}.")
    return check_nonempty(x, "x"), rows, clean


def milp_invert(G, x, *, rows=None, **options):
    """Invert the whole network at once as a mixed-integer LP (HiGHS MIP).

    The same as ``invert(G, x, method="milp", **options)``, plus ``rows``. Problems solved over
    ``z`` in ``[-R, R]^k`` (the box is part of every claim):

    * ``objective="exact"``: find z with ``max_j |G(z)_j - x_j| <= delta``, ``delta = tol * max|x|``
      (``delta = tol`` when x = 0);
    * ``"linf"``: with ``eps``, find z with ``||G(z) - x||_inf <= eps``; without, minimise it;
    * ``"l1"``: with ``eps``, find z with ``||G(z) - x||_1 <= eps``; without, minimise it.

    Parameters
    ----------
    G : ReLUNet
        ReLU / LeakyReLU hidden layers; last layer ReLU, LeakyReLU, identity, sigmoid or tanh.
    x : array_like, shape (n,) or (batch, n)
        The observation (``(len(rows),)`` when ``rows`` is given); a batch is solved one by one.
    rows : array_like of int, optional
        Observed output rows (inpainting): only ``G(z)[rows]`` is matched to ``x``.
    **options
        ``objective`` ("exact", "linf" or "l1"), ``eps``, ``box`` (R; default read off the data and
        stated in ``Result.message`` and ``Result.info["milp"]["box"]``), ``time_limit`` (seconds
        for the whole call; default 60, None for no limit), ``tol`` (relative fit tolerance of
        "exact", default 1e-6), ``tighten`` (bound tightening by LPs over the relaxation, at most
        half of ``time_limit``; off by default: on the nets of docs/milp.md HiGHS's own presolve
        does most of it); see
        ``layerinv.solvers.SOLVERS["milp"].options``.

    Returns
    -------
    Result
        ``status`` ``"exact"`` / ``"feasible"`` / ``"optimal"`` (z checked by our forward pass),
        ``"approximate"`` (a min-norm form on a sigmoid / tanh output, minimised to first order: the value
        is recomputed, no lower bound is claimed; also any minimisation whose rows HiGHS could not hold
        exactly, see :func:`.model.fit_rows`), ``"inconclusive"`` (an l1 budget on a sigmoid / tanh
        output whose sound relaxation is feasible while no point found meets it, or HiGHS's "infeasible"
        for a model whose tiny coefficients it dropped),
        ``"infeasible"`` (HiGHS's proof for the box, described by ``certificate``, a
        :class:`MILPProof`, or an independently checkable
        :class:`layerinv.certificate.LayerCertificate` when entries of x lie outside the output
        activation's range), ``"time_limit"`` (best point found, if any)
        or ``"failed"``. ``info["milp"]`` holds the box, binaries, nodes and HiGHS's bounds.

    Examples
    --------
    >>> import numpy as np
    >>> from layerinv import ReLUNet
    >>> from layerinv.solvers.milp import milp_invert
    >>> G = ReLUNet.random([4, 8, 12], rng=0)
    >>> x = G(np.random.default_rng(1).standard_normal(4))
    >>> res = milp_invert(G, x)
    >>> res.status, bool(np.max(np.abs(G(res.z) - x)) <= 1e-6 * np.max(np.abs(x)))
    ('exact', True)
    """
    x, rows, clean = check_call(G, x, rows, options, "milp_invert")
    if x.ndim == 2:
        return Result.stack([invert_milp(G, xi, rows=rows, **clean) for xi in x])
    return invert_milp(G, x, rows=rows, **clean)
