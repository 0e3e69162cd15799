"""Command-line options of the experiments: argparse types and the option groups they share.

An experiment's ``add_arguments(parser)`` declares its options with these; a bad value is an
argparse error (one line, exit status 2).
"""
from __future__ import annotations

import argparse
import math

__all__ = ["add_common_arguments", "add_gd_arguments", "add_sweep_arguments", "positive_int", "nonnegative_int", "positive_float",
           "nonnegative_float", "choice_list", "int_list", "float_list", "widths", "pick"]


def _number(text, conv, strict, what):
    try:
        v = conv(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected {what}; got {text!r}") from None
    if not math.isfinite(v) or v < 0 or (strict and v == 0):
        raise argparse.ArgumentTypeError(f"expected {what}; got {text!r}")
    return v


def positive_int(text):
    """argparse type: an integer >= 1."""
    return _number(text, int, True, "a positive integer")


def nonnegative_int(text):
    """argparse type: an integer >= 0 (seeds)."""
    return _number(text, int, False, "a non-negative integer")


def positive_float(text):
    """argparse type: a finite float > 0."""
    return _number(text, float, True, "a finite number > 0")


def nonnegative_float(text):
    """argparse type: a finite float >= 0."""
    return _number(text, float, False, "a finite number >= 0")


def _list(text, item, what):
    parts = [p for p in str(text).replace(" ", "").split(",")]
    if not parts or any(p == "" for p in parts):
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of {what}; got {text!r}")
    out = [item(p) for p in parts]
    if len(set(out)) != len(out):
        raise argparse.ArgumentTypeError(f"the list {text!r} has repeated entries")
    return out


def choice_list(choices):
    """argparse type factory: ``"a,b"`` -> ``["a", "b"]``, distinct names from ``choices``."""
    def parse(text):
        out = [m.strip() for m in str(text).split(",")]
        if not out or len(set(out)) != len(out) or any(m not in choices for m in out):
            raise argparse.ArgumentTypeError(f"expected distinct names from {', '.join(choices)}; got {text!r}")
        return out
    return parse


def int_list(text):
    """argparse type: ``"10,20,30"`` -> ``[10, 20, 30]`` (positive, distinct)."""
    return _list(text, positive_int, "positive integers")


def float_list(text):
    """argparse type: ``"1e-6,1e-5"`` -> ``[1e-06, 1e-05]`` (positive, distinct)."""
    return _list(text, positive_float, "positive numbers")


def widths(text):
    """argparse type: layer widths after k, ``"250,600"`` -> ``[250, 600]`` (repeats allowed)."""
    try:
        return [positive_int(p) for p in str(text).split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected layer widths like 250,600; got {text!r}") from None


def pick(value, quick, default, quick_default):
    """An option left at ``None``: ``quick_default`` with ``--quick``, else ``default``."""
    if value is not None:
        return value
    return quick_default if quick else default


def add_common_arguments(parser, *, trials, out):
    """Add the options every experiment takes; return the experiment's own option group.

    ``--trials`` (default ``trials``), ``--seed`` (0), ``--out DIR`` (default ``out``), ``--jobs N`` (1),
    ``--quick`` (a seconds-long smoke run), ``--plot-only`` (redraw the figure from the files in --out),
    ``--quiet`` (no progress bar).
    """
    g = parser.add_argument_group("common options")
    g.add_argument("--trials", type=positive_int, default=trials,
                   help=f"random instances per setting (default {trials})")
    g.add_argument("--seed", type=nonnegative_int, default=0,
                   help="root seed; trial i of setting s uses SeedSequence(seed).spawn(...) (default 0)")
    g.add_argument("--out", default=out, help=f"output folder for CSV/JSON/PNG (default {out})")
    g.add_argument("--jobs", type=positive_int, default=1,
                   help="worker processes (default 1); results are identical for any value")
    g.add_argument("--quick", action="store_true", help="a tiny run that finishes in seconds (for smoke tests)")
    g.add_argument("--plot-only", action="store_true",
                   help="do not run anything: redraw the figure from the CSV already in --out")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    name = parser.prog.split()[-1]
    return parser.add_argument_group(f"{name} options")


def add_sweep_arguments(g, methods, ks_default):
    """The options of a sweep over the latent size k on planted random nets: ``--ks``, ``--widths``
    (250,600), ``--methods`` (a subset of ``methods``), ``--noise`` (1e-9) and ``--success-tol`` (1e-3)."""
    g.add_argument("--ks", type=int_list, default=None, help=f"latent sizes, e.g. 10,20,30 (default {ks_default})")
    g.add_argument("--widths", type=widths, default=[250, 600], help="layer widths after k (default 250,600)")
    g.add_argument("--methods", type=choice_list(methods), default=list(methods),
                   help=f"comma-separated subset of {','.join(methods)} (default all)")
    g.add_argument("--noise", type=nonnegative_float, default=1e-9,
                   help="x = G(z*) + e, e_j ~ U[-noise, noise] (absolute; default 1e-9 as in the paper)")
    g.add_argument("--success-tol", type=positive_float, default=1e-3,
                   help="success: ||z - z*|| / ||z*|| below this (default 1e-3)")


def add_gd_arguments(g, *, lr, steps, quick_steps, restarts=1, quick_restarts=None, stop_rtol=False,
                     trials=False, lr_note=""):
    """The gradient-descent baseline's options: ``--gd-lr``, ``--gd-steps``, ``--gd-restarts``
    (and ``--gd-stop-rtol``, ``--gd-trials`` when asked for)."""
    g.add_argument("--gd-lr", type=positive_float, default=lr, help=f"Adam step size (default {lr}{lr_note})")
    g.add_argument("--gd-steps", type=positive_int, default=None,
                   help=f"Adam steps (default {steps}; {quick_steps} with --quick)")
    quick_note = f"; {quick_restarts} with --quick" if quick_restarts else ""
    g.add_argument("--gd-restarts", type=positive_int, default=None if quick_restarts else restarts,
                   help=f"random starts for GD (default {restarts}{quick_note})")
    if trials:
        g.add_argument("--gd-trials", type=positive_int, default=None,
                       help="run GD on the first N trials of each setting only (it costs ~1 s per run; default: all)")
    if stop_rtol:
        g.add_argument("--gd-stop-rtol", type=positive_float, default=None,
                       help="stop GD early once its loss falls by less than this fraction over 50 steps (deepinv's "
                            "CSGM rule uses 1e-4; default: always run all --gd-steps)")
