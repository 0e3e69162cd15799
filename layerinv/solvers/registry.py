"""The solver registry: ``SOLVERS = {name: Solver}``, each solver declaring its options once.

:func:`layerinv.invert`, :func:`layerinv.recover`, the CLI and the experiments look methods up
here. ``Solver.invert(G, x, **clean)`` / ``Solver.recover(G, op, y, **clean)`` take ONE
observation and options already cleaned by :meth:`Solver.validate`; they never re-validate.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial
from typing import Callable

from ..ops import Identity, Inpainting, LinearOperator, PhaseRetrieval
from . import options as O
from .auto import invert_auto, recover_auto
from .gauss_newton import recover_gn
from .gd import invert_gd, recover_gd
from .layerwise import layerwise, layerwise_op
from .milp import invert_milp
from .options import check_all, option_table
from .pgd import recover_pgd

__all__ = ["Solver", "SOLVERS", "get_solver", "names_for", "options_doc"]


@dataclass(frozen=True)
class Solver:
    """One method of :func:`layerinv.invert` and/or :func:`layerinv.recover`.

    Attributes
    ----------
    name : str
        The ``method=`` string.
    summary : str
        One line: what it solves.
    options : tuple of Option
        The options of ``invert(method=name)`` (of ``recover`` too, unless ``recover_options``).
    invert : callable or None
        ``invert(G, x, **clean) -> Result`` for one observation x of shape (n,).
    recover : callable or None
        ``recover(G, op, y, **clean) -> Result`` for one measurement y of shape (m,).
    operators : tuple of type
        The operator classes ``recover`` accepts it for (``Identity`` always hands over to ``invert``).
    recover_options : tuple of (type, tuple of Option), optional
        ``recover``'s options per operator class (first ``isinstance`` match); default ``options``.
    check : callable, optional
        ``check(clean, where)``: rules between options (raise ``ValueError``).
    """

    name: str
    summary: str
    options: tuple
    invert: Callable | None = None
    recover: Callable | None = None
    operators: tuple = ()
    recover_options: tuple = field(default=(), repr=False)
    check: Callable | None = field(default=None, repr=False)

    def option(self, name):
        """The :class:`Option` called ``name``."""
        return {o.name: o for o in self.options}[name]

    def options_for(self, op):
        """The options of ``recover(G, op, y, method=name)``."""
        for cls, spec in self.recover_options:
            if isinstance(op, cls):
                return spec
        return self.options

    def validate(self, options, where, G=None):
        """Cleaned options with defaults filled in. Unknown names raise ``TypeError`` listing the
        valid ones; bad values raise naming the option, ``where``, the rule and what was received.
        ``G`` is needed to check latents (``init``)."""
        clean = check_all(self.options, options, where, G)
        if self.check is not None:
            self.check(clean, where)
        return clean


# ------------------------------------------------------------------------------ entry points
def _layerwise(mode):
    """The exact / linf / l1 entry points: ``(invert, recover)`` with ``mode`` bound."""
    return partial(layerwise, mode=mode), partial(layerwise_op, mode=mode)


def _milp_check(clean, where):
    if clean["eps"] is not None and clean["objective"] == "exact":
        raise ValueError(f"{where}: eps is a noise budget for objective='linf' or 'l1'; objective='exact' uses tol.")


_EXACT = (O.TOL, O.TIME_LIMIT)
_NOISY = (O.EPS, O.GAP_TOL, O.TIME_LIMIT)
_GD = (O.STEPS, O.LR, O.RESTARTS, O.LAM, O.RNG, O.INITS, O.STOP_RTOL)
_GN = (replace(O.STEPS, default=50, doc="Gauss-Newton iterations per start."),
       replace(O.RESTARTS, default=None, low=0, allow_none=True,
               doc="extra starts after the LP ones (None: 20, or 0 for inpainting and with init)."),
       replace(O.RNG, default=None, required=False, allow_none=True,
               doc="draw the extra starts from N(0, I) with this seed or Generator (None: a fixed "
                   "quasi-random sample of N(0, I))."),
       O.LAM, O.INIT, O.TIME_LIMIT)
_PGD = (replace(O.STEPS, default=50, doc="projected gradient iterations."), O.STEP, O.POLISH,
        replace(O.STOP_RTOL, default=1e-6, doc="stop once ||x_new - x|| <= stop_rtol ||x|| (None: run every step)."),
        O.INIT, O.TIME_LIMIT)
_MILP = (O.OBJECTIVE, replace(O.EPS, doc="noise budget for objective 'linf' / 'l1' (absolute output units)."),
         O.BOX, replace(O.TIME_LIMIT, default=O.MILP_DEFAULT_TIME_LIMIT,
                        doc="seconds for one observation's whole call; branch and bound can take exponential "
                            "time, hence a default limit (status 'time_limit' with the best point found when it "
                            "runs out; None: no limit)."),
         O.TOL, O.TIGHTEN)
_AUTO = (O.TOL, O.GAP_TOL, O.TIME_LIMIT, O.POLISH,
         replace(O.LAM, default="auto", choices=("auto",),
                 doc="weight of ||z||^2 in the Gauss-Newton refinement; 'auto': the MAP estimate under z ~ N(0, I) "
                     "with the noise variance read off the best fit, ||G(z) - x||^2 / (n - k)."),
         O.STARTS, O.BOX, O.MILP_TIME_LIMIT)
_LINEAR_OR_PHASE = (LinearOperator, PhaseRetrieval)


def _solvers():
    ex, ex_op = _layerwise("exact")
    li, li_op = _layerwise("linf")
    l1, l1_op = _layerwise("l1")
    table = [
        Solver("exact", "x = G(z) within tol, layer by layer (least squares or HiGHS per layer); infeasible "
               "comes with a checkable certificate.", _EXACT, ex, ex_op, (Inpainting,)),
        Solver("linf", "per layer min t s.t. |w_j h + b_j - a_j| <= t (active rows), w_j h + b_j <= a_j + t "
               "(others); with eps the fixed-eps feasibility form.", _NOISY, li, li_op, (Inpainting,)),
        Solver("l1", "per layer min sum e_j over the same rows; with eps a budget sum e <= eps.",
               _NOISY, l1, l1_op, (Inpainting,)),
        Solver("gn", "layer-wise LP start(s) plus restarts, then Gauss-Newton inside activation regions on "
               "||op(G(z)) - y||^2 + lam ||z||^2.", _GN, None, recover_gn,
               _LINEAR_OR_PHASE),
        Solver("pgd", "projected gradient descent with the layer-wise LP projection (Shah & Hegde 2018).",
               _PGD, None, recover_pgd, (LinearOperator,)),
        Solver("gd", "CSGM baseline: Adam on ||op(G(z)) - y||^2 + lam ||z||^2 (needs rng).", _GD, invert_gd, recover_gd,
               _LINEAR_OR_PHASE),
        Solver("milp", "the whole network as one mixed-integer LP (HiGHS) over a latent box [-box, box]^k: a "
               "verified preimage, or a proof that none exists in the box.", _MILP, invert_milp,
               check=_milp_check),
        Solver("auto", "exact; if inconclusive the MILP ladder; if it fails, Gauss-Newton from quasi-random "
               "starts then MAP (polish=False: the linf answer) (recover: inpainting exact, else linf then gn; other "
               "operators gn).", _AUTO,
               invert_auto, recover_auto, _LINEAR_OR_PHASE,
               recover_options=((Inpainting, _EXACT[:1] + _NOISY + _GN[:-1]), (object, _GN))),
    ]
    return {s.name: s for s in table}


#: Every method, by name.
SOLVERS: dict[str, Solver] = _solvers()


def names_for(op=None):
    """The method names valid for ``invert`` (``op=None``; also ``recover`` with ``Identity``) or
    ``recover`` with ``op``, in registry order."""
    if op is None or isinstance(op, Identity):
        return [n for n, s in SOLVERS.items() if s.invert is not None]
    return [n for n, s in SOLVERS.items() if s.recover is not None and isinstance(op, s.operators)]


def get_solver(name, *, op=None):
    """The :class:`Solver` for ``method=name`` (with ``op``: for ``recover``, its options those that
    apply to ``op``). Unknown names raise ``ValueError`` listing the valid ones for that problem."""
    valid = names_for(op)
    if not isinstance(name, str) or name not in valid:
        where = "" if op is None else f" (for {type(op).__name__})"
        raise ValueError(f"method{where} must be one of {', '.join(map(repr, valid))}; got {name!r}.")
    s = SOLVERS[name]
    return s if op is None or isinstance(op, Identity) else replace(s, options=s.options_for(op))


def options_doc(op_kind="invert", indent="        "):
    """The option table of the ``invert`` (``"invert"``) or ``recover`` (``"recover"``) docstring."""
    lines = []
    for s in SOLVERS.values():
        if (s.invert if op_kind == "invert" else s.recover) is None:
            continue
        specs = [("", s.options)] if op_kind == "invert" or not s.recover_options else \
            [(f" ({cls.__name__ if cls is not object else 'other operators'})", spec) for cls, spec in s.recover_options]
        for label, spec in specs:
            lines.append(f"{indent}{s.name}{label}:")
            lines.append(option_table(spec, indent + "    "))
    return "\n".join(lines)
