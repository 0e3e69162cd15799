"""Command-line flags generated from the solver registry (:data:`layerinv.solvers.SOLVERS`).

Every :class:`~layerinv.solvers.Option` with ``cli=True`` of a method the command offers becomes
one flag, ``--`` + its name with ``_`` -> ``-``, whose help is the option's ``doc`` and the methods
that take it. Flags default to "not given", so each method's own default applies; a flag the
chosen method does not take is rejected by :meth:`Solver.validate` with the list of valid ones.
Options of type ``"rng"`` are fed from ``--seed``.
"""
from __future__ import annotations

import argparse

from ..solvers import SOLVERS

__all__ = ["add_method_arguments", "method_options"]


def _offered(kind):
    """``{name: [(method, Option), ...]}`` over the methods with a ``kind`` ("invert") entry."""
    out = {}
    for s in SOLVERS.values():
        if getattr(s, kind) is None:
            continue
        for o in s.options:
            if o.cli and o.type not in ("rng", "latent", "latents"):
                out.setdefault(o.name, []).append((s.name, o))
    return out


def _parser_type(opt, choices):
    """argparse ``type=`` for a number option; strings in ``choices`` (``lam=auto``) pass through."""
    conv = int if opt.type == "int" else float

    def parse(text):
        if text in choices:
            return text
        try:
            return conv(text)
        except ValueError:
            extra = f" or one of {', '.join(choices)}" if choices else ""
            raise argparse.ArgumentTypeError(f"expected {'an integer' if conv is int else 'a number'}{extra}; "
                                             f"got {text!r}") from None
    parse.__name__ = opt.type
    return parse


def _help(users):
    """The flag's help: the meaning, then the methods taking it with their defaults."""
    defaults = {repr(o.default) for _, o in users}
    if len(defaults) == 1:
        tail = f"{', '.join(m for m, _ in users)}; default {defaults.pop()}"
    else:
        tail = ", ".join(f"{m} (default {o.default!r})" for m, o in users)
    return f"{users[0][1].doc} [{tail}]".replace("%", "%%")


def add_method_arguments(parser, kind="invert"):
    """Add ``--method`` and one flag per registry option (plus ``--seed``) to ``parser``."""
    methods = [n for n, s in SOLVERS.items() if getattr(s, kind) is not None]
    parser.add_argument("--method", default="auto", choices=methods, help="inversion method (default auto)")
    g = parser.add_argument_group("method options", "Each applies to the methods named; the method's own default "
                                                    "is used when a flag is not given.")
    for name, users in _offered(kind).items():
        opt = users[0][1]
        kw = {"dest": name, "default": None, "help": _help(users)}
        if opt.type == "bool":
            kw["action"] = argparse.BooleanOptionalAction
        elif opt.type == "str":
            kw["choices"] = list(opt.choices)
        else:
            kw["type"] = _parser_type(opt, sorted({c for _, o in users for c in (o.choices or ())}))
        g.add_argument("--" + name.replace("_", "-"), **kw)
    seeded = [n for n in methods if any(o.type == "rng" for o in SOLVERS[n].options)]
    g.add_argument("--seed", type=int, default=None,
                   help=f"{', '.join(seeded)}: seed of the random starts (default 0)")


def method_options(args, kind="invert"):
    """The options given on the command line for ``args.method``: ``{name: value}``."""
    solver = SOLVERS[args.method]
    opts = {name: getattr(args, name) for name in _offered(kind) if getattr(args, name, None) is not None}
    for o in solver.options:
        if o.type == "rng" and (o.required or args.seed is not None):
            opts[o.name] = 0 if args.seed is None else args.seed
    return opts
