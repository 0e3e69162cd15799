"""Command-line interface: ``layerinv <command> ...``.

Each command lives in its own module, which exposes ``register_cli(subparsers)``: it adds its
parser with ``set_defaults(func=handler)``, where ``handler(args) -> int`` (exit status). Heavy
imports (torch, matplotlib) happen inside handlers, so ``layerinv --help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

#: Modules that contribute sub-commands, in the order ``--help`` lists them.
COMMAND_MODULES = [
    "layerinv.commands",
    "layerinv.train",
    "layerinv.compress",
    "layerinv.experiments",
]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="layerinv",
        description="Invert deep ReLU generative models one layer at a time (Lei et al., NeurIPS 2019).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register_cli(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError) as exc:  # user errors: one clear line, no traceback
        print(f"layerinv {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
