"""The layer-by-layer scheme: invert the last layer, then the one below, down to z.

A layer above ``linear_maps.DENSE_LIMIT`` entries (a convolution) is solved on its sparse rows
(:mod:`layerinv.lp.sparse`, through the same kernels and checks); one above
``lp.sparse.SPARSE_NNZ_LIMIT`` nonzeros stops the pass, inconclusive. The proofs of
:mod:`layerinv.certificate` need dense rows: an infeasible layer with a sparse layer at or above it
yields no certificate, so no verdict about x (``inconclusive``).
"""
from __future__ import annotations

import time

import numpy as np

from ..certificate import is_global, prove
from ..lp.kernels import solve_exact, solve_l1, solve_linf
from ..lp import sparse
from ..lp.system import _U, build_system, too_big
from ..linear_maps import Dense
from ..network import Layer
from ..result import LayerRecord, Result
from ._common import all_dense, deadline, left, op_residual, relative_residual

__all__ = ["layerwise", "layerwise_op"]


def _record(i, L, system, out, thr, own=True):
    """The layer's LayerRecord; ``own=False``: ``out`` solved another system (the claim system of
    ``certificate.prove``), whose dual bound is not one on this layer's rows, so the record claims 0."""
    obj = (out.lower, out.objective) if out.status == "bracket" else out.objective
    thresholded = L.activation.has_inactive_region  # rows split into equations and inequalities
    return LayerRecord(i, L.n_in, L.n_out, int(system.E.size if thresholded else L.n_out),
                       out.path, obj, float(out.violation), out.status, bool(out.unique), out.seconds, out.message,
                       float(thr) if thresholded else float("nan"),
                       _output_bound(L.activation, out.lower if own else 0.0))


def _output_bound(act, lower):
    """The record's certified lower bound (LayerRecord.lower) in the layer's output units, from the layer
    solve's verified dual bound ``lower`` (never its primal objective). ReLU / identity rows are in output
    units. leaky_relu rows are scaled by d_j = 1 (target >= 0) or s (< 0): with v_j the preimage of a_j,
    |leaky(u) - a_j| >= min(1, s) |u - v_j| = (min(1, s) / d_j) |d_j u - d_j v_j| >= f |row residual| for
    f = min(1, s) / max(1, s), so every output residual (max or sum) is >= f times the linearised one.
    sigmoid / tanh rows are a first-order model whose slope goes to 0: no output-space claim (0)."""
    lo = max(float(lower), 0.0) if np.isfinite(lower) else 0.0
    if act.has_inactive_region or act.is_identity:
        return lo
    if act.kinked:  # leaky_relu; the factor and the product rounded down by (1 - 4u)
        return lo * (min(1.0, act.slope) / max(1.0, act.slope)) * (1 - 4 * _U)
    return 0.0


def _linearised_note(act):
    """What the layer LP's figures mean for an output activation it linearises (empty for relu / identity)."""
    if act.has_inactive_region or act.is_identity:
        return ""
    what = (f"the LP's bound times min(1, s) / max(1, s) = {min(1.0, act.slope) / max(1.0, act.slope):.3g}"
            if act.kinked else "0: no output-space claim")
    return (f" (The top layer's LP figures are in its linearised model of the {act.name} output, rows scaled by "
            f"the slope at x: not distances ||G(z) - x|| in output space. The record's certified output-space "
            f"lower bound (LayerRecord.lower) is {what}.)")


def _threshold(a, factor, floor):
    """Activity threshold read off the data: the most negative entry of a ReLU output is pure noise."""
    return max(factor * max(-float(np.min(a)), 0.0), floor)


def _keep_determined(a, thr, n_in, base, floor):
    """Where the floor estimated by the layer above is large (above 1e-6 of the target's scale:
    that layer fitted poorly, e.g. a real image, so the estimate says more about misfit than about
    noise), lower ``thr`` so that at least ``n_in`` rows stay equations (when at least ``n_in``
    entries exceed ``base``). Under tiny noise the threshold is left alone: a layer with fewer than
    ``n_in`` truly active units must stay underdetermined rather than take a noise entry as active."""
    if floor <= 1e-6 * float(np.max(np.abs(a), initial=0.0)):
        return thr
    pos = a[a > base]
    if pos.size < n_in:
        return min(thr, base)
    kth = np.partition(pos, pos.size - n_in)[pos.size - n_in]  # the n_in-th largest entry
    return min(thr, float(np.nextafter(kth, -np.inf)))


def layerwise(G, x, mode, *, tol=1e-6, eps=None, gap_tol=1e-6, time_limit=None, rows=None):
    """Invert ``G`` at a single observation ``x`` layer by layer.

    ``mode`` is ``"exact"``, ``"linf"`` or ``"l1"``; see :func:`layerinv.invert` for the options
    (``time_limit``: seconds for the whole call, each layer's LP gets what is left).
    ``rows`` (int array, optional): only these output rows were observed (inpainting, row
    selection); then ``x`` has shape (len(rows),) and holds ``G(z)[rows]``. No validation: the
    internal entry point for one clean observation.
    """
    t0 = time.perf_counter()
    end = deadline(time_limit)
    a = x
    records = []
    all_unique = True
    floor = 0.0  # noise floor of the current target (estimated by the layer above)
    rounding = 0.0  # what rounding alone can put in the current target (the data reaching the layer above)
    certificate = None
    contradiction = None  # (layer, its optimum) when a non-unique choice above was not reachable
    fail_status, fail_msg = None, ""
    if rows is None:
        top = G.layers[-1]
    elif isinstance(G.layers[-1].linear, Dense):
        top = Layer(G.layers[-1].weight[rows], G.layers[-1].bias[rows], G.layers[-1].activation)
    else:
        top = G.layers[-1].select(rows)
    layers = [G.layers[i] if i < G.depth - 1 else top for i in range(G.depth)]
    # the certificates need dense rows: no proof from layer i when a layer above it is sparse, and only the
    # range proof (no rows of its own) when layer i itself is
    provable = [None if any(too_big(L) for L in layers[i + 1:]) else ("range" if too_big(layers[i]) else "all")
                for i in range(G.depth)]
    if rows is not None and too_big(G.layers[-1]):  # the proofs would slice the dense rows of the observed outputs
        provable = [None] * G.depth
    for i in range(G.depth - 1, -1, -1):
        if end is not None and i < G.depth - 1 and time.perf_counter() >= end:
            fail_status, fail_msg = "time_limit", f"time_limit ({time_limit:g} s) spent before layer {i}."
            break
        L = G.layers[i] if i < G.depth - 1 else top
        why = sparse.too_large(L) if too_big(L) else ""
        if why:  # sound: no verdict about x from a layer we cannot solve
            fail_status = "inconclusive"
            fail_msg = (f"layer {i} ({L.n_out} x {L.n_in}) is too large for the layer LP: {why}; the layer-wise "
                        f"{mode} pass stops there (no claim about x). method='auto' inverts such nets in latent space.")
            break
        nonneg = i > 0 and G.layers[i - 1].activation.nonnegative
        scale = max(float(np.max(np.abs(a))), 1e-300)
        if mode == "exact":
            delta = tol * scale
            bad = L.activation.outside_range(a, delta)
            if bad.size:
                verdict = _exact_failure(G, x, i, tol, rows, left(end), provable[i],
                                         f"{bad.size} entries of layer {i}'s target lie outside the range of its "
                                         f"{L.activation.name} output (e.g. entry {bad[0]} = {a[bad[0]]:.3g}; "
                                         f"tolerance {delta:.3g})")
                if verdict[0] != "continue":
                    fail_status, fail_msg, certificate = verdict
                    break
                records.append(_record(i, L, build_system(L, a, delta, nonneg), verdict[1], delta, own=False))
                a, floor = verdict[1].h, verdict[1].extra.get("floor", 0.0)
                all_unique = False
                continue
            thr = _keep_determined(a, max(_threshold(a, 10.0, delta), 10.0 * floor), L.n_in, delta, floor)
        else:
            base = max(1e-9 * scale, rounding)  # a dead layer's target is rounding noise: not "active" rows
            # 2x the data's own noise floor (bounded noise: -min x estimates it), but 10x the floor the
            # layer above estimated for a hidden target, whose errors are neither i.i.d. nor symmetric
            thr = eps if eps is not None else _keep_determined(
                a, max(_threshold(a, 2.0, base), 10.0 * floor), L.n_in, base, floor)
        system = build_system(L, a, thr, nonneg)
        if mode == "exact":
            out = solve_exact(system, delta, time_limit=left(end))
        else:
            kernel = solve_linf if mode == "linf" else solve_l1
            layer_eps = eps if i == G.depth - 1 else None  # the noise bound is stated for x only
            out = kernel(system, eps=layer_eps, gap_tol=gap_tol * scale, time_limit=left(end))
        records.append(_record(i, L, system, out, thr))
        if out.status == "infeasible" and mode == "exact":
            verdict = _exact_failure(G, x, i, tol, rows, left(end), provable[i], f"layer {i}: {out.message}")
            if verdict[0] != "continue":
                fail_status, fail_msg, certificate = verdict
                break
            records[-1] = _record(i, L, system, verdict[1], thr, own=False)
            out = verdict[1]
        elif out.status == "infeasible":
            if mode == "linf" and provable[i]:  # top layer, fixed-eps form: the same proof with tolerance eps
                certificate, _, _, pout = prove(G, x, i, eps, observed=rows, time_limit=left(end),
                                                dual=provable[i] == "all")
                if not is_global(certificate, pout):  # a region-limited bound proves nothing about x
                    certificate = None
            l1_sound = mode == "l1" and (L.activation.has_inactive_region or L.activation.is_identity)
            if all_unique and (certificate is not None or l1_sound):  # l1: rows exact for relu / identity only
                fail_status = "infeasible"
                fail_msg = f"x is not in the range of G: layer {i} proves it. {out.message}"
            elif i == G.depth - 1:  # the top layer: no layer above; its LP proof did not carry over to x
                fail_status = "inconclusive"
                fail_msg = (f"layer {i}'s LP has no input within the budget, but no proof of that holds for x itself "
                            f"(the bound is region-limited or in a linearised model); this does not prove x is outside "
                            f"the range of G (try method='milp'). {out.message}")
            else:
                fail_status = "inconclusive"
                fail_msg = (f"layer {i} has no solution for the input chosen for layer {i + 1}, whose input was not "
                            f"unique; this does not prove x is outside the range of G (try method='milp'). "
                            f"{out.message}")
            fail_msg += _linearised_note(L.activation) if i == G.depth - 1 else ""
            break
        if out.status in ("failed", "time_limit"):
            fail_status, fail_msg = out.status, f"layer {i}: {out.message}"
            break
        if mode != "exact" and not all_unique and contradiction is None and \
                out.lower > max(gap_tol, 1e-9) * scale:
            contradiction = (i, out.lower)  # the input chosen above is not in this layer's range
        all_unique = all_unique and out.unique
        floor = out.extra.get("floor", 0.0)
        wmax = sparse.max_abs_entry(L.linear) if too_big(L) else float(np.max(np.abs(L.weight)))
        rounding = 64 * _U * (float(np.max(np.abs(a))) + float(np.max(np.abs(L.bias), initial=0.0))) / max(
            wmax, 1e-300)
        a = out.h
    info = {}
    if not all_dense(G):  # conv / sparse nets: which layers the layer-wise path pinned (dense nets unchanged)
        info = {"pinned": [r.index for r in records if r.unique], "unpinned": [r.index for r in records if not r.unique]}
        if info["unpinned"]:
            note = (f" Layers pinned (input unique given the target): {', '.join(map(str, info['pinned'])) or 'none'}; "
                    f"not pinned: {', '.join(map(str, info['unpinned']))}; method='auto' inverts such nets in "
                    f"latent space.")
            fail_msg = fail_msg + note if fail_status is not None else fail_msg
    if fail_status is not None:
        return Result(np.full(G.k, np.nan), fail_status, fail_msg, np.nan, time.perf_counter() - t0, records,
                      mode, certificate, info)
    z = a
    residual = relative_residual(G, z, x, rows)
    status = {"exact": "exact", "linf": "optimal", "l1": "optimal"}[mode] if eps is None else "feasible"
    if mode == "exact":
        fx = G.forward_unchecked(z)
        with np.errstate(over="ignore", invalid="ignore"):
            worst = float(np.max(np.abs((fx if rows is None else fx[rows]) - x)))
        D = tol * float(np.max(np.abs(x)))  # no floor: at tiny x a floor would accept G(z) = 0
        msg = f"every layer solved within tolerance; max |G(z) - x| = {worst:.3g}."
        if not worst <= D:  # the layers' tolerances compounded: not the documented end-to-end fit
            status = "inconclusive"
            msg = (f"every layer was solved within its own tolerance, but the composition misses x: max |G(z) - x| "
                   f"= {worst:.3g} > tol x max|x| = {D:.3g}; no claim about x (z is the layer-wise point).")
        elif not all_unique:
            msg += " The preimage is not unique (a layer had too few active rows); z is one of them."
    else:
        kinds = sorted({r.status for r in records})
        msg = f"per-layer {mode} problems solved ({', '.join(kinds)}); objectives top to bottom: " + ", ".join(
            (f"[{r.objective[0]:.3g}, {r.objective[1]:.3g}]" if isinstance(r.objective, tuple)
             else f"{r.objective:.3g}") for r in records) + "." + _linearised_note(top.activation)
        if contradiction is not None:
            status = "inconclusive"
            msg = (f"layer {contradiction[0]} cannot reproduce the input chosen by a layer above it whose input was not "
                   f"unique (its optimum is {contradiction[1]:.3g} > 0): the per-layer optima do not compose, z is "
                   f"the layer-wise point, not an optimum of anything (try method='auto'). " + msg)
    if info.get("unpinned"):
        msg += (f" Layers pinned (input unique given the target): {', '.join(map(str, info['pinned'])) or 'none'}; "
                f"not pinned: {', '.join(map(str, info['unpinned']))}.")
    return Result(z, status, msg, residual, time.perf_counter() - t0, records, mode, None, info)


def _exact_failure(G, x, i, tol, rows, time_limit, provable, what):
    """Layer i has no input within its own tolerance of the recovered target. Decide what is proven.

    The user-level claim is about x: any z with ``||G(z) - x||_inf <= tol max|x|`` has layer i's output
    within an allowance S of the target re-derived from x (:func:`layerinv.certificate.chain`). If the
    layer's rows provably cannot be met within S, x is not in the range of G (``"infeasible"`` with a
    certificate); if they can, the returned point is within the allowance and the driver goes on
    (``("continue", outcome)``); otherwise nothing is proven (``"inconclusive"``).
    """
    sparse_rows = (f"; this does not prove x is outside the range of G: layer {i} or a layer above it is larger "
                   f"than linear_maps.DENSE_LIMIT (solved on sparse rows), and the proofs of layerinv.certificate "
                   f"need dense rows there")
    if provable is None:
        return ("inconclusive", what + sparse_rows + ".", None)
    D = tol * max(float(np.max(np.abs(x))), 1e-300)
    cert, S, _, out = prove(G, x, i, D, rtol=tol, observed=rows, time_limit=time_limit, dual=provable == "all")
    if is_global(cert, out):
        where = "" if cert.kind == "range" or cert.pinned else " within the region stated below"
        return ("infeasible", f"x is not in the range of G{where}: layer {i} proves it ({what}). {cert.describe()}",
                cert)
    if cert is not None:  # a dual bound that holds only for layer inputs within its radius
        return ("inconclusive", f"{what}; this does not prove x is outside the range of G: layer {i}'s dual bound "
                                f"holds only for layer inputs with ||h||_inf <= {cert.radius:.3g}, and its rows do not "
                                f"pin the input inside that region, so it proves nothing about z whose layer-{i} input "
                                f"lies outside it (try method='milp'). Attached: {cert.describe()}", cert)
    if out is not None and out.status == "exact" and np.all(np.isfinite(out.h)):
        out.message = (f"no input within layer {i}'s own tolerance; one within the allowance {S:.3g} that the "
                       f"layers above leave its target ({what}).")
        return ("continue", out)
    if provable != "all" and np.isfinite(S):
        return ("inconclusive", what + sparse_rows + ".", None)
    why = ("the layers above do not pin its target" if not np.isfinite(S)
           else f"no proof holds for every target within the allowance {S:.3g} the layers above leave")
    return ("inconclusive", f"{what}; this does not prove x is outside the range of G: {why} "
                            f"(try method='milp').", None)


def layerwise_op(G, op, y, mode, **options):
    """:func:`layerwise` on the observed rows of an inpainting operator; residual in y-space."""
    res = layerwise(G, y, mode, rows=op.rows, **options)
    res.residual = op_residual(G, op, res.z, y)
    return res
