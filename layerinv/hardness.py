"""Inverting a ReLU network is NP-hard: 3-SAT as a network inversion instance.

:func:`sat_network` turns a CNF formula over ``n`` variables into a ReLU network
``G: R^n -> R^2`` and the target ``x = (0, 0)`` such that ``G(z) = x`` has a solution exactly when
the formula is satisfiable (the reduction behind the paper's hardness result). With
``s_i`` the literal values (``z_i`` for ``i``, ``1 - z_i`` for ``-i``):

* ``G(z)_0 = sum_c ReLU(1 - sum_{i in c} s_i)``: for binary z, clause c contributes 1 when it is
  violated and 0 otherwise;
* ``G(z)_1 = sum_i [ReLU(min(z_i, 1 - z_i)) + ReLU(-z_i) + ReLU(z_i - 1)]``: zero exactly when z is
  binary (``min(z, 1 - z) = z - ReLU(2 z - 1)``).

Three ReLU layers, every layer ReLU (all the values routed to the output are non-negative, so the
last ReLU is the identity on them): layer 1 computes the clause scores and ``ReLU(z)``,
``ReLU(-z)``, ``ReLU(2z - 1)``, ``ReLU(z - 1)``; layer 2 the clause total, ``ReLU(z - ReLU(2z-1))``
(from ``z = ReLU(z) - ReLU(-z)``) and the outside-penalty total; layer 3 the two sums.

Approximate preimages carry the same information: if ``max |G(z) - x| <= delta < 1 / (L + 1)``
(L the longest clause), every ``z_i`` is within ``delta`` of a bit and rounding gives a satisfying
assignment (:func:`decode`); so proving that no ``z`` at all reaches such a ``delta`` proves the
formula unsatisfiable. Every preimage lies in ``[0, 1]^n`` (the penalty is positive outside), so
``box=1`` loses nothing in :func:`layerinv.solvers.milp.milp_invert`.
"""
from __future__ import annotations

import numbers

import numpy as np

from ._checks import as_rng, check_positive
from .network import ReLUNet

__all__ = ["sat_network", "decode", "is_satisfiable", "satisfies", "random_cnf", "check_clauses"]

_MAX_BRUTE = 24  # is_satisfiable enumerates 2^n assignments


def check_clauses(clauses, n_vars=None):
    """Validate a DIMACS-style CNF and return ``(clauses as tuples of int, n_vars)``.

    Parameters
    ----------
    clauses : sequence of sequence of int
        Each clause a non-empty sequence of non-zero integers; ``i`` is variable i (1-based), ``-i``
        its negation.
    n_vars : int, optional
        Number of variables (default: the largest ``|literal|``); must cover every literal.
    """
    if isinstance(clauses, (str, bytes)) or not hasattr(clauses, "__iter__"):
        raise TypeError(f"clauses must be a list of clauses (tuples of non-zero ints); got {type(clauses).__name__}.")
    out = []
    for c, clause in enumerate(clauses):
        if isinstance(clause, (str, bytes)) or not hasattr(clause, "__iter__"):
            raise TypeError(f"clauses[{c}] must be a tuple of non-zero ints; got {clause!r}.")
        lits = []
        for lit in clause:
            if isinstance(lit, (bool, np.bool_)) or not isinstance(lit, numbers.Integral):
                raise TypeError(f"clauses[{c}] must hold integers (DIMACS literals); got {lit!r}.")
            if lit == 0:
                raise ValueError(f"clauses[{c}] contains the literal 0; literals are 1-based (i or -i), "
                                 "and DIMACS's terminating 0 must be dropped.")
            lits.append(int(lit))
        if not lits:
            raise ValueError(f"clauses[{c}] is empty; an empty clause is unsatisfiable and has no literal "
                             "to encode.")
        out.append(tuple(lits))
    top = max((abs(lit) for cl in out for lit in cl), default=0)
    if n_vars is None:
        if top == 0:
            raise ValueError("clauses is empty; pass n_vars to build the network of the empty formula.")
        n_vars = top
    else:
        n_vars = check_positive(n_vars, "n_vars", integer=True)
        if n_vars < top:
            raise ValueError(f"n_vars must cover every literal: the clauses use variable {top}; got n_vars={n_vars}.")
    return out, n_vars


def _literal_matrix(clauses, n):
    """``S`` (m, n) and ``s0`` (m,) with ``sum_{lit in c} s_lit(z) = S[c] @ z + s0[c]``."""
    m = len(clauses)
    S = np.zeros((m, n))
    s0 = np.zeros(m)
    for c, cl in enumerate(clauses):
        for lit in cl:
            if lit > 0:
                S[c, lit - 1] += 1.0
            else:
                S[c, -lit - 1] -= 1.0
                s0[c] += 1.0
    return S, s0


def sat_network(clauses, n_vars=None):
    """The ReLU network and target of a CNF formula: ``G(z) = x`` is solvable iff it is satisfiable.

    Parameters
    ----------
    clauses : sequence of sequence of int
        DIMACS-style clauses, e.g. ``[(1, -2, 3), (-1, 2, 3)]``.
    n_vars : int, optional
        Number of variables (default: the largest variable used).

    Returns
    -------
    G : ReLUNet
        ``n -> (m + 4n) -> (n + 2) -> 2``, ReLU everywhere (m clauses, n variables).
    x : ndarray, shape (2,)
        The target ``(0, 0)``.

    Examples
    --------
    >>> import numpy as np
    >>> G, x = sat_network([(1, 2), (-1, 2), (1, -2)])   # satisfied only by x1 = x2 = True
    >>> G(np.array([1.0, 1.0])), float(G(np.array([0.0, 1.0]))[0])
    (array([0., 0.]), 1.0)
    """
    clauses, n = check_clauses(clauses, n_vars)
    m = len(clauses)
    S, s0 = _literal_matrix(clauses, n)
    I = np.eye(n)
    # layer 1: clause scores ReLU(1 - S z - s0), then ReLU(z), ReLU(-z), ReLU(2z - 1), ReLU(z - 1)
    W1 = np.vstack([-S, I, -I, 2 * I, I])
    b1 = np.concatenate([1.0 - s0, np.zeros(2 * n), -np.ones(2 * n)])
    # layer 2: clause total; ReLU(z - ReLU(2z-1)) = ReLU(a - b - c); outside penalty b + e
    W2 = np.zeros((n + 2, m + 4 * n))
    W2[0, :m] = 1.0
    W2[1:n + 1, m:m + n] = I
    W2[1:n + 1, m + n:m + 2 * n] = -I
    W2[1:n + 1, m + 2 * n:m + 3 * n] = -I
    W2[n + 1, m + n:m + 2 * n] = 1.0
    W2[n + 1, m + 3 * n:] = 1.0
    # layer 3: (clause total, penalty total)
    W3 = np.zeros((2, n + 2))
    W3[0, 0] = 1.0
    W3[1, 1:] = 1.0
    G = ReLUNet([W1, W2, W3], [b1, None, None], ["relu", "relu", "relu"])
    return G, np.zeros(2)


def decode(z):
    """The assignment a latent encodes: variable i is True when ``z_i > 1/2``.

    Parameters
    ----------
    z : array_like, shape (n,)

    Returns
    -------
    list of bool
    """
    z = np.asarray(z)
    if z.ndim != 1 or z.dtype.kind not in "biuf" or not np.all(np.isfinite(z)):
        raise ValueError(f"z must be a finite 1-D array of numbers; got shape {z.shape} and dtype {z.dtype}.")
    return [bool(v > 0.5) for v in z]


def satisfies(clauses, assignment):
    """Whether a list of booleans (variable i+1 = ``assignment[i]``) satisfies every clause."""
    clauses, _ = check_clauses(clauses, len(assignment))
    return all(any(assignment[abs(lit) - 1] == (lit > 0) for lit in cl) for cl in clauses)


def is_satisfiable(clauses, n_vars=None):
    """Brute force over all ``2^n`` assignments (n <= 24); returns a satisfying list of bools or None.

    Parameters
    ----------
    clauses : sequence of sequence of int
    n_vars : int, optional
    """
    clauses, n = check_clauses(clauses, n_vars)
    if n > _MAX_BRUTE:
        raise ValueError(f"is_satisfiable enumerates 2^n_vars assignments; n_vars must be <= {_MAX_BRUTE}, got {n}.")
    S, s0 = _literal_matrix(clauses, n)
    chunk = 1 << min(n, 16)
    for start in range(0, 1 << n, chunk):
        codes = np.arange(start, min(start + chunk, 1 << n), dtype=np.int64)
        Z = ((codes[:, None] >> np.arange(n)) & 1).astype(np.float64)
        ok = np.all(Z @ S.T + s0 >= 1, axis=1) if clauses else np.ones(len(codes), dtype=bool)
        hit = np.flatnonzero(ok)
        if hit.size:
            return [bool(v) for v in Z[hit[0]]]
    return None


def random_cnf(n_vars, n_clauses, rng, width=3, satisfied_by=None):
    """A random ``width``-CNF: each clause picks ``width`` distinct variables and random signs.

    Parameters
    ----------
    n_vars, n_clauses : int
    rng : int or numpy.random.Generator
    width : int
        Literals per clause (3 for 3-SAT); at most ``n_vars``.
    satisfied_by : sequence of bool, optional
        A planted assignment (length ``n_vars``): clauses it violates are redrawn, so the formula
        is satisfiable.

    Returns
    -------
    list of tuple of int
    """
    n_vars = check_positive(n_vars, "n_vars", integer=True)
    n_clauses = check_positive(n_clauses, "n_clauses", integer=True)
    width = check_positive(width, "width", integer=True)
    if width > n_vars:
        raise ValueError(f"width must be <= n_vars ({n_vars}); got {width}.")
    if satisfied_by is not None:
        satisfied_by = [bool(b) for b in satisfied_by]
        if len(satisfied_by) != n_vars:
            raise ValueError(f"satisfied_by must have one entry per variable ({n_vars}); got {len(satisfied_by)}.")
    rng = as_rng(rng)
    out = []
    while len(out) < n_clauses:
        v = rng.choice(n_vars, size=width, replace=False) + 1
        sg = rng.choice([-1, 1], size=width)
        clause = tuple(int(a) for a in v * sg)
        if satisfied_by is None or any(satisfied_by[abs(lit) - 1] == (lit > 0) for lit in clause):
            out.append(clause)
    return out
