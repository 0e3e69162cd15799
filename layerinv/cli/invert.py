"""``layerinv invert``: find z with G(z) ~ x for a saved generator and an .npy observation."""
from __future__ import annotations

import numpy as np

from ._options import add_method_arguments, method_options


def _invert(args):
    from ..invert import invert
    from ..io import check_writable, read_npy, write_npy
    from ..network import ReLUNet

    check_writable(args.out, "--out file")  # before the work, not after
    G = ReLUNet.load(args.net)
    x = read_npy(args.x, "--x file")
    res = invert(G, x, method=args.method, **method_options(args))
    write_npy(args.out, res.z, what="--out file")  # the name exactly as given (np.save would append .npy)
    print(res.summary())
    print(f"wrote z to {args.out}")
    return 0 if np.all(res.ok) else 1


def register(sub):
    p = sub.add_parser("invert", help="find z with G(z) ~ x",
                       description="Invert a saved generator (ReLUNet.save .npz) at an observation x (.npy, shape "
                                   "(n,) or (batch, n)); writes z as .npy. Exit status 1 when the inversion did not "
                                   "succeed (e.g. x is not in the range of G).")
    p.add_argument("--net", required=True, help="generator file written by ReLUNet.save (.npz)")
    p.add_argument("--x", required=True, help="observation(s), .npy of shape (n,) or (batch, n)")
    p.add_argument("--out", required=True, help="where to write z (.npy format; the name is used exactly as given)")
    add_method_arguments(p)
    p.set_defaults(func=_invert)
