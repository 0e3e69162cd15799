"""Freeze (G, x, method, options) -> (z, status) over ~100 cases, before the redesign moves code.

Run once, from the repository root, on the code whose behaviour is to be kept:

    python tests/regression/make_frozen.py          # writes tests/regression/frozen.npz

``tests/test_regression.py`` re-runs every case on the current code and asserts every z to 1e-10
relative and every status exactly. The file stores the inputs themselves (weights, biases,
activations, x, operator matrices, method and options as JSON), so it does not depend on how the
code draws random networks; nothing in it is pickled.
"""
from __future__ import annotations

import json
import pathlib

import numpy as np

HERE = pathlib.Path(__file__).parent
FROZEN = HERE / "frozen.npz"


def cases():
    """Yield dicts: net (weights, biases, activations), x, op (None or (kind, matrix)), method, options."""
    from layerinv import ReLUNet

    rng = np.random.default_rng(20261202)
    out = []

    def net(dims, act="relu", out_act=None, bias=False, seed=0):
        return ReLUNet.random(dims, rng=seed, bias=bias, activation=act, output_activation=out_act)

    archs = [([4, 20, 60], "relu", None), ([6, 40], "relu", None), ([3, 15, 40, 90], "relu", None),
             ([5, 30, 80], ("leaky_relu", 0.1), None), ([4, 20, 60], "relu", "sigmoid"), ([4, 20, 60], "relu", "tanh"),
             ([5, 25, 70], "relu", "identity"), ([8, 12, 30], "relu", None)]
    seed = 0
    for dims, act, oact in archs:
        for bias in (False, True):
            seed += 1
            G = net(dims, act, oact, bias, seed)
            z = rng.standard_normal(G.k)
            x = G(z)
            scale = np.max(np.abs(x))
            tiny = x + 1e-9 * scale * rng.standard_normal(G.n)
            noisy = x + 0.05 * scale * rng.standard_normal(G.n)
            off = x + 1e-3 * scale * (np.abs(x) > 0) * rng.standard_normal(G.n)
            if oact is None or oact in ("relu", "leaky_relu"):
                tiny, off = np.maximum(tiny, 0) if act == "relu" else tiny, np.maximum(off, 0) if act == "relu" else off
            for method, xx, opts in [("exact", x, {}), ("exact", off, {}), ("linf", tiny, {}), ("linf", noisy, {}),
                                     ("l1", noisy, {}), ("auto", x, {}), ("auto", noisy, {}),
                                     ("gd", x, {"rng": 3, "steps": 150, "restarts": 2})]:
                out.append(dict(G=G, x=xx, op=None, method=method, options=opts))
    # MILP on small nets (exact and noisy objectives)
    for s in range(4):
        G = net([3, 8, 12], bias=bool(s % 2), seed=100 + s)
        z = rng.standard_normal(G.k)
        x = G(z)
        out.append(dict(G=G, x=x, op=None, method="milp", options={}))
        xn = x + 0.02 * rng.standard_normal(G.n)
        out.append(dict(G=G, x=xn, op=None, method="milp", options={"objective": "linf"}))
    # inverse problems
    for s in range(3):
        G = net([5, 40, 120], seed=200 + s)
        z = rng.standard_normal(G.k)
        x = G(z)
        mask = rng.random(G.n) < 0.4
        out.append(dict(G=G, x=x[mask], op=("inpainting", mask.astype(float)), method="auto", options={}))
        out.append(dict(G=G, x=x[mask], op=("inpainting", mask.astype(float)), method="exact", options={}))
        A = rng.normal(0, 1 / np.sqrt(50), size=(50, G.n))
        out.append(dict(G=G, x=A @ x, op=("linear", A), method="auto", options={}))
        out.append(dict(G=G, x=A @ x, op=("linear", A), method="pgd", options={"steps": 10}))
        B = rng.normal(0, 1 / np.sqrt(80), size=(80, G.n))
        out.append(dict(G=G, x=np.abs(B @ x), op=("phase", B), method="auto", options={}))
        out.append(dict(G=G, x=np.abs(B @ x), op=("phase", B), method="gn", options={"restarts": 3, "rng": 5}))
    return out


def make_op(spec):
    from layerinv.ops import Inpainting, LinearOperator, PhaseRetrieval

    if spec is None:
        return None
    kind, M = spec
    if kind == "inpainting":
        return Inpainting(M.astype(bool))
    if kind == "linear":
        return LinearOperator(M)
    return PhaseRetrieval.from_linear(LinearOperator(M))


def run_case(G, x, op, method, options):
    from layerinv import invert, recover

    if op is None:
        return invert(G, x, method=method, **options)
    return recover(G, make_op(op), x, method=method, **options)


def save(path=FROZEN):
    arrays, meta = {}, []
    for i, c in enumerate(cases()):
        G = c["G"]
        for j, L in enumerate(G.layers):
            arrays[f"c{i}_W{j}"] = L.weight
            arrays[f"c{i}_b{j}"] = L.bias
        arrays[f"c{i}_x"] = c["x"]
        if c["op"] is not None:
            arrays[f"c{i}_op"] = c["op"][1]
        res = run_case(G, c["x"], c["op"], c["method"], c["options"])
        arrays[f"c{i}_z"] = res.z
        meta.append(dict(depth=G.depth, acts=[L.activation.spec() for L in G.layers], op=None if c["op"] is None else c["op"][0],
                         method=c["method"], options=c["options"], status=res.status))
        print(i, c["method"], meta[-1]["op"], res.status, flush=True)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(path, **arrays)


def load(path=FROZEN):
    """Yield (G, x, op, method, options, z, status) per frozen case."""
    from layerinv import ReLUNet

    with np.load(path, allow_pickle=False) as f:
        meta = json.loads(str(f["meta"]))
        for i, m in enumerate(meta):
            W = [f[f"c{i}_W{j}"] for j in range(m["depth"])]
            b = [f[f"c{i}_b{j}"] for j in range(m["depth"])]
            G = ReLUNet(W, b, activations=m["acts"])
            op = None if m["op"] is None else (m["op"], f[f"c{i}_op"])
            yield i, G, f[f"c{i}_x"], op, m["method"], m["options"], f[f"c{i}_z"], m["status"]


if __name__ == "__main__":
    save()
