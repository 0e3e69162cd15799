"""``layerinv invert``: find z with G(z) ~ x for a saved generator and an .npy observation."""
from __future__ import annotations

import numpy as np

from ._dataset import add_dataset_arguments, dataset_options
from ._options import add_method_arguments, method_options


def _invert(args):
    from ..invert import invert
    from ..io import check_writable, read_npy, write_npy
    from ..network import ReLUNet

    check_writable(args.out, "--out file")  # before the work, not after
    G = ReLUNet.load(args.net)
    if str(args.out).endswith(".npz"):  # a dataset: memory-mapped, checkpointed, resumable
        from ..dataset_run import run_dataset

        return run_dataset("invert", G, args.x, args.out, args.method, method_options(args),
                           **dataset_options(args))[0]
    x = read_npy(args.x, "--x file")
    res = invert(G, x, method=args.method, **method_options(args))
    write_npy(args.out, res.z, what="--out file")  # the name exactly as given (np.save would append .npy)
    print(res.summary())
    print(f"wrote z to {args.out}")
    return 0 if np.all(res.ok) else 1


def register(sub):
    p = sub.add_parser("invert", help="find z with G(z) ~ x",
                       description="Invert a saved generator (ReLUNet.save .npz) at an observation x (.npy, shape "
                                   "(n,) or (batch, n)); writes z as .npy. With --out *.npz, x is a dataset (N, n): "
                                   "read memory-mapped, inverted in chunks (--batch-size) on --jobs processes or a "
                                   "Dask --scheduler, each finished chunk checkpointed beside the output so that a "
                                   "re-run resumes; writes z (N, k), status, residual, method and options. Exit "
                                   "status 1 when an inversion did not succeed (e.g. x is not in the range of G).")
    p.add_argument("--net", required=True, help="generator file written by ReLUNet.save (.npz)")
    p.add_argument("--x", required=True, help="observation(s), .npy of shape (n,) or (batch, n)")
    p.add_argument("--out", required=True, help="where to write z (.npy format; the name is used exactly as given), "
                                                "or a dataset's results (a name ending in .npz)")
    add_method_arguments(p)
    add_dataset_arguments(p)
    p.set_defaults(func=_invert)
