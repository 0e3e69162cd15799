"""``layerinv compress`` and ``layerinv decompress``: a signal as the latent z of a generator."""
from __future__ import annotations

import os

from ..compress import DTYPES, compress, decompress
from ..io import check_writable, load_code, read_npy, save_code, write_npy
from ..network import ReLUNet
from ._dataset import add_dataset_arguments, dataset_options
from ._options import add_method_arguments, method_options


def register(subparsers):
    """Add ``compress`` and ``decompress``."""
    p = subparsers.add_parser(
        "compress", help="store x as the latent z of a generator (.npz code)",
        description="Invert a saved generator at x and store z (k numbers) with its size, distortion and, for x "
                    "outside the range of G, the layer-wise linf certificate of how well G can represent x.")
    p.add_argument("--net", required=True, help="generator file written by ReLUNet.save (.npz)")
    p.add_argument("--x", required=True, help="signal(s), .npy of shape (n,), (batch, n) or an image with n pixels; "
                                              "a (N, n) dataset runs in checkpointed chunks (see 'layerinv invert')")
    p.add_argument("--out", required=True, help="where to write the code (.npz)")
    p.add_argument("--dtype", default="float32", choices=DTYPES, help="precision of the stored z (default float32)")
    p.add_argument("--peak", type=float, default=None, help="PSNR peak value (default max |x|)")
    add_method_arguments(p)
    add_dataset_arguments(p)
    p.set_defaults(func=_compress)
    d = subparsers.add_parser("decompress", help="decode a code written by 'layerinv compress'",
                              description="Decode x = G(z) from a code written by 'layerinv compress'.")
    d.add_argument("--net", required=True, help="the generator the code was made with (.npz)")
    d.add_argument("--code", required=True, help="code file written by 'layerinv compress' (.npz)")
    d.add_argument("--out", required=True, help="where to write x (.npy format, the original shape; the name is "
                                                "used exactly as given)")
    d.set_defaults(func=_decompress)


def _compress(args):
    check_writable(args.out, "--out file")  # before the work, not after
    G = ReLUNet.load(args.net)
    from ..dataset_run import npy_header

    shape, _ = npy_header(args.x)
    if len(shape) == 2 and shape[1] == G.n:  # a dataset: memory-mapped, checkpointed, resumable
        from .._checks import check_positive
        from ..dataset_run import run_dataset

        peak = None if args.peak is None else check_positive(args.peak, "--peak")
        return run_dataset("compress", G, args.x, args.out, args.method, method_options(args), dtype=args.dtype,
                           peak=peak, **dataset_options(args))[0]
    x = read_npy(args.x, "--x file")
    code = compress(G, x, args.method, dtype=args.dtype, peak=args.peak, **method_options(args))
    save_code(args.out, code)
    print(code.summary())
    print(f"wrote the code to {args.out} ({os.path.getsize(args.out)} bytes on disk)")
    return 0


def _decompress(args):
    check_writable(args.out, "--out file")
    G = ReLUNet.load(args.net)
    code = load_code(args.code)
    x = decompress(G, code)
    write_npy(args.out, x, what="--out file")  # the name exactly as given (np.save would append .npy)
    print(f"decoded {x.shape} from {code.z.shape[-1]} latent numbers; wrote {args.out}")
    return 0
