"""``layerinv demo``: the main demo (every method compared, a table, a figure)."""
from __future__ import annotations

import os


def _demo(args):
    from ..experiments._common import check_out_dir

    check_out_dir(args.out)  # refuse a file before the run, not after it
    if args.nets == "random":
        from ..experiments import demo as mod
    else:
        from ..experiments import mnist_demo as mod
    for line in mod.run_demo(out=args.out, quick=args.quick, seed=args.seed):
        print(line)
    return 0


def register(sub):
    d = sub.add_parser("demo", help="the main demo: compare every method, print a table, write a figure")
    d.add_argument("--out", default=os.path.join("out", "demo"), help="output folder (default out/demo)")
    d.add_argument("--quick", action="store_true", help="a few seconds instead of about a minute")
    d.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    d.add_argument("--nets", choices=["mnist", "random"], default="mnist",
                   help="mnist: denoising / inpainting / real digits with the shipped MNIST generator (default); "
                        "random: every method on random k×250×600 nets")
    d.set_defaults(func=_demo)
