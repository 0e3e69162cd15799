"""Core sub-commands: ``invert`` and ``demo``."""
from __future__ import annotations

import os

import numpy as np

from .invert import METHODS


def _invert(args):
    from .invert import invert
    from .network import ReLUNet

    G = ReLUNet.load(args.net)
    try:
        x = np.load(args.x, allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"--x file {args.x!r} does not exist.") from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"--x file {args.x!r} is not a readable .npy array ({exc}).") from None
    opts = {}
    for name in ("tol", "eps", "gap_tol", "time_limit", "steps", "lr", "restarts", "lam"):
        value = getattr(args, name)
        if value is not None:
            opts[name] = value
    if args.method == "gd":
        opts["rng"] = args.seed
    res = invert(G, x, method=args.method, **opts)
    np.save(args.out, res.z)
    print(res.summary())
    print(f"wrote z to {args.out}")
    ok = np.all(res.ok)
    return 0 if ok else 1


def _demo(args):
    if args.nets == "random":
        from .demo import run_demo
    else:
        from .mnist_demo import run_demo

    return run_demo(out=args.out, quick=args.quick, seed=args.seed)


def register_cli(sub):
    p = sub.add_parser("invert", help="find z with G(z) ~ x",
                       description="Invert a saved generator (ReLUNet.save .npz) at an observation x (.npy, shape "
                                   "(n,) or (batch, n)); writes z as .npy. Exit status 1 when the inversion did not "
                                   "succeed (e.g. x is not in the range of G).")
    p.add_argument("--net", required=True, help="generator file written by ReLUNet.save (.npz)")
    p.add_argument("--x", required=True, help="observation(s), .npy of shape (n,) or (batch, n)")
    p.add_argument("--method", default="auto", choices=sorted(METHODS), help="inversion method (default auto)")
    p.add_argument("--out", required=True, help="where to write z (.npy)")
    p.add_argument("--tol", type=float, help="exact/auto: relative tolerance (default 1e-6)")
    p.add_argument("--eps", type=float, help="linf/l1: noise bound (fixed-eps feasibility form)")
    p.add_argument("--gap-tol", dest="gap_tol", type=float, help="linf/l1: accepted bracket gap (relative)")
    p.add_argument("--time-limit", dest="time_limit", type=float, help="seconds per LP")
    p.add_argument("--steps", type=int, help="gd: Adam steps")
    p.add_argument("--lr", type=float, help="gd: learning rate")
    p.add_argument("--restarts", type=int, help="gd: random restarts")
    p.add_argument("--lam", type=float, help="gd: weight of ||z||^2")
    p.add_argument("--seed", type=int, default=0, help="gd: seed of the random starts (default 0)")
    p.set_defaults(func=_invert)

    d = sub.add_parser("demo", help="the main demo: compare every method, print a table, write a figure")
    d.add_argument("--out", default=os.path.join("out", "demo"), help="output folder (default out/demo)")
    d.add_argument("--quick", action="store_true", help="a few seconds instead of about a minute")
    d.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    d.add_argument("--nets", choices=["mnist", "random"], default="mnist",
                   help="mnist: denoising / inpainting / real digits with the shipped MNIST generator (default); "
                        "random: every method on random k×250×600 nets")
    d.set_defaults(func=_demo)
