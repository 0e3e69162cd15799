"""Command-line interface: ``layerinv <command> ...``.

Every sub-command's argument parsing and printing lives in this package, one module per command;
each exposes ``register(subparsers)``, which adds its parser with ``set_defaults(func=handler)``,
where ``handler(args) -> int`` (exit status). Method options of ``invert`` and ``compress`` are
flags generated from the solver registry (:mod:`._options`). Heavy imports (torch, matplotlib)
happen inside handlers, so ``layerinv --help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main", "build_parser"]

#: Modules that contribute sub-commands, in the order ``--help`` lists them.
COMMAND_MODULES = ["invert", "demo", "train", "compress", "experiment"]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="layerinv",
        description="Invert deep ReLU generative models one layer at a time (Lei et al., NeurIPS 2019).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as exc:  # user errors (or a missing optional
        # dependency, e.g. torch for --method gd): one clear line, no traceback
        print(f"layerinv {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
