"""Option specs: every solver option declared once (name, type, range, default, meaning).

The declaration drives validation (:meth:`Option.check`), the option tables of the
:func:`layerinv.invert` / :func:`layerinv.recover` docstrings and the command-line flags.
One meaning per name across the library: ``tol`` is always the relative fit tolerance, ``steps``
always an iteration count, ``time_limit`` always seconds for one observation's whole call;
solver-internal tolerances have their own names (``gap_tol``, ``stop_rtol``).
"""
from __future__ import annotations

import numbers
import textwrap
from dataclasses import dataclass, replace

import numpy as np

from .._checks import as_rng

__all__ = ["Option", "check_all", "option_table",
           "TOL", "EPS", "GAP_TOL", "TIME_LIMIT", "STEPS", "LR", "RESTARTS", "LAM", "RNG", "INIT", "INITS",
           "STOP_RTOL", "OBJECTIVE", "BOX", "TIGHTEN", "POLISH", "STARTS", "MILP_TIME_LIMIT", "STEP",
           "MAX_FLOAT", "MILP_DEFAULT_TIME_LIMIT"]

TYPES = ("float", "int", "bool", "str", "rng", "latent", "latents")

#: Largest magnitude any float option accepts (unless its own ``high`` is lower). The solvers
#: multiply, square and sum option values with the data; the square root of the largest double is
#: about 1.3e154, so values beyond this could overflow to inf/NaN inside a solve, and no meaningful
#: setting (seconds, noise budgets, box radii, step sizes) comes near it.
MAX_FLOAT = 1e150


@dataclass(frozen=True)
class Option:
    """One option of a solver.

    Attributes
    ----------
    name : str
        The keyword (``tol``); the CLI flag is ``--`` + name with ``_`` -> ``-``.
    type : str
        ``"float"``, ``"int"``, ``"bool"``, ``"str"`` (one of ``choices``), ``"rng"`` (seed or
        Generator), ``"latent"`` (shape (k,)) or ``"latents"`` (shape (k,) or (r, k)).
    default : object
        Filled in by :meth:`Solver.validate` when the option is not given.
    doc : str
        The meaning, one sentence or two (used in docstrings and ``--help``).
    low, high : float, optional
        Range of a number: ``low <= v <= high`` (``low < v`` with ``low_open``, ``v < high`` with
        ``high_open``). A float option without ``high`` is capped at :data:`MAX_FLOAT`.
    allow_none : bool
        ``None`` is accepted (and means what ``doc`` says).
    choices : tuple, optional
        For ``"str"``: the accepted values. For ``"float"``: extra string values accepted besides
        a number (``lam="auto"``).
    cli : bool
        Whether the CLI offers a flag for it (not for arrays).
    required : bool
        The caller must pass it (``rng`` of ``gd``: randomness is never drawn from a global seed).
    """

    name: str
    type: str
    default: object
    doc: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    allow_none: bool = False
    choices: tuple | None = None
    cli: bool = True
    required: bool = False

    def __post_init__(self):
        if self.type not in TYPES:
            raise ValueError(f"Option type must be one of {', '.join(TYPES)}; got {self.type!r}.")

    @property
    def upper(self):
        """The effective upper bound: ``high``, or :data:`MAX_FLOAT` for a float option without one."""
        return MAX_FLOAT if self.high is None and self.type == "float" else self.high

    def rule(self):
        """The accepted values in words: ``"a finite real number > 0, or None"``."""
        if self.type == "bool":
            text = "True or False"
        elif self.type == "str":
            text = "one of " + ", ".join(map(repr, self.choices))
        elif self.type == "rng":
            text = "an integer seed or a numpy.random.Generator"
        elif self.type in ("latent", "latents"):
            text = "an array of shape (k,)" + (" or (restarts, k)" if self.type == "latents" else "")
        else:
            text = "an integer" if self.type == "int" else "a finite real number"
            if self.low is not None:
                text += f" {'>' if self.low_open else '>='} {self.low:g}"
            if self.upper is not None:
                text += f"{' and' if self.low is not None else ''} {'<' if self.high_open else '<='} {self.upper:g}"
            if self.choices:
                text += ", or " + ", ".join(map(repr, self.choices))
        return text + (", or None" if self.allow_none else "")

    def _fail(self, exc, value, where):
        return exc(f"The {self.name!r} option of {where} must be {self.rule()}; got {value!r}.")

    def check(self, value, where, G=None):
        """Return ``value`` cleaned (float / int / Generator / float64 array), or raise naming the
        option, ``where`` (e.g. ``"invert(method='exact')"``), the rule and what was received.
        ``G`` is needed for latents."""
        if value is None and self.allow_none:
            return None
        t = self.type
        if t == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise self._fail(TypeError, value, where)
            return bool(value)
        if t == "str" or (t == "float" and isinstance(value, str) and self.choices):
            if not isinstance(value, str):
                raise self._fail(TypeError, value, where)
            if value not in self.choices:
                raise self._fail(ValueError, value, where)
            return value
        if t == "rng":
            return as_rng(value, self.name)
        if t in ("latent", "latents"):
            z = G.check_latent(value, self.name)
            if t == "latent" and z.ndim != 1:
                raise ValueError(f"The {self.name!r} option of {where} must have shape ({G.k},); got {z.shape}.")
            return z
        kind = numbers.Integral if t == "int" else numbers.Real
        if isinstance(value, bool) or not isinstance(value, kind) or not np.isfinite(value):
            raise self._fail(TypeError, value, where)
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            raise self._fail(ValueError, value, where)
        if self.upper is not None and (value >= self.upper if self.high_open else value > self.upper):
            raise self._fail(ValueError, value, where)
        return int(value) if t == "int" else float(value)

    def describe(self):
        """``name`` (rule; default): meaning -- one entry of a docstring's option table."""
        default = "required" if self.required else f"default {self.default!r}"
        return f"``{self.name}`` ({self.rule()}; {default}): {self.doc}"


def check_all(spec, options, where, G=None):
    """Validate ``options`` against the Options in ``spec``: unknown names raise ``TypeError`` listing
    the valid ones, required ones must be there, values are checked, defaults filled in."""
    by_name = {o.name: o for o in spec}
    unknown = sorted(set(options) - set(by_name))
    if unknown:
        raise TypeError(f"{where} got unknown option(s) {', '.join(map(repr, unknown))}; "
                        f"valid options are: {', '.join(sorted(by_name)) or '(none)'}.")
    clean = {}
    for o in spec:
        if o.name in options:
            clean[o.name] = o.check(options[o.name], where, G)
        elif o.required:
            raise TypeError(f"{where} needs {o.name}= ({o.rule()}): {o.doc}")
        else:
            clean[o.name] = o.default
    return clean


def option_table(spec, indent="    ", width=100):
    """The option list of a docstring: one ``name (rule; default): meaning`` entry per option."""
    return "\n".join(textwrap.fill(o.describe(), width, initial_indent=indent, subsequent_indent=indent + "    ")
                     for o in spec)


# ------------------------------------------------------------------------------ shared options
TOL = Option("tol", "float", 1e-6, "relative fit tolerance: a layer's rows (or G(z) = x) must hold within "
             "tol * max|target|; entries of x below -tol * max|x| put x outside a ReLU's range. Relative, "
             "so 0 < tol < 1 (tol >= 1 would accept any z).",
             low=0.0, low_open=True, high=1.0, high_open=True)
EPS = Option("eps", "float", None, "noise bound on x (absolute, output units): the top layer becomes the paper's "
             "fixed-eps feasibility problem; None minimises the misfit instead. At most 1e150 (squares of larger "
             "numbers overflow).", low=0.0, high=MAX_FLOAT, allow_none=True)
GAP_TOL = Option("gap_tol", "float", 1e-6, "a certified bracket on a layer's optimum narrower than "
                 "gap_tol * max|target| is accepted without an LP; 0 forces the LP. Relative, like tol: "
                 "0 <= gap_tol < 1.", low=0.0, high=1.0, high_open=True)
TIME_LIMIT = Option("time_limit", "float", None, "seconds for one observation's whole call (None: no clock "
                    "limit; the method's work is bounded anyway: one polynomial-time LP per layer, or `steps` "
                    "iterations). A result cut by it (status time_limit) depends on timing: not reproducible.",
                    low=0.0, low_open=True, allow_none=True)
#: The MILP's default clock limit: branch and bound can take exponential time.
MILP_DEFAULT_TIME_LIMIT = 60.0
STEPS = Option("steps", "int", 1000, "iterations (Adam steps).", low=1)
LR = Option("lr", "float", 0.01, "Adam learning rate.", low=0.0, low_open=True)
RESTARTS = Option("restarts", "int", 1, "random starts z0 ~ N(0, I), run together as one batch.", low=1)
LAM = Option("lam", "float", 0.0, "weight of ||z||^2 in the objective (the MAP estimate under z ~ N(0, I)).",
             low=0.0)
RNG = Option("rng", "rng", None, "seed or numpy.random.Generator for the random starts.", cli=False,
             required=True)
INIT = Option("init", "latent", None, "a starting latent of shape (k,) instead of the default starts.",
              allow_none=True, cli=False)
INITS = replace(INIT, type="latents", doc="starting latent(s), shape (k,) or (restarts, k), instead of random ones.")
STOP_RTOL = Option("stop_rtol", "float", None, "stop once an iteration's relative progress falls below this "
                   "(gd: decrease of the best loss over 50 steps; None runs every step).",
                   low=0.0, low_open=True, allow_none=True)
OBJECTIVE = Option("objective", "str", "exact", "what the MILP solves: G(z) = x within tol, or min "
                   "||G(z) - x||_inf / _1 (with eps: the budget as a constraint).", choices=("exact", "linf", "l1"))
BOX = Option("box", "float", None, "radius R of the latent box [-R, R]^k the MILP searches (None: read off "
             "the data and stated in the message).", low=0.0, low_open=True, allow_none=True)
TIGHTEN = Option("tighten", "bool", False, "tighten the big-M bounds by LPs over the relaxation "
                 "(two LPs per unstable unit, at most half of time_limit).")
POLISH = Option("polish", "bool", True, "refine by Gauss-Newton inside activation regions and MAP (auto: False returns "
                "the layer-wise linf answer; pgd: the LP answer unrefined).")
STARTS = Option("starts", "int", 8, "deterministic quasi-random starts of auto's Gauss-Newton fit (the lowest "
                "objective wins). Fewer run faster: 1 start is about 4x faster and matches 8 in median error on "
                "some nets, but falls into worse local fits on others (the paper's decoder: median z-error 0.25 "
                "vs 0.075 at noise variance 0.01).", low=1)
MILP_TIME_LIMIT = Option("milp_time_limit", "float", 10.0, "seconds for the MILP ladder where the exact pass "
                         "is inconclusive (always bounded; raise it for a harder net).", low=0.0, low_open=True)
STEP = Option("step", "float", 1.0, "gradient step eta of projected gradient descent (halved when a step "
              "raises the fit).", low=0.0, low_open=True)
