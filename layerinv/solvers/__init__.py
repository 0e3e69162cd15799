"""Inversion and recovery methods, looked up by name in one registry (see :mod:`.registry`).

``SOLVERS[name]`` is a :class:`Solver`: its options (:class:`Option` specs, declared once), and
its internal entry points ``invert(G, x, **clean)`` / ``recover(G, op, y, **clean)`` for one
validated observation.
"""
from .options import Option
from .registry import SOLVERS, Solver, get_solver, names_for, options_doc

__all__ = ["SOLVERS", "Option", "Solver", "get_solver", "names_for", "options_doc"]
