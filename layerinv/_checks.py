"""Input validation at the library boundary.

Every public function converts and checks its arguments here once; internal code trusts them.
Solver options are declared and checked in :mod:`layerinv.solvers.options`.
Errors name the argument, the rule and what was received (scikit-learn's template).
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_rng", "as_float_array", "check_choice", "check_positive", "check_nonempty"]


def as_rng(rng, name="rng"):
    """Return a ``numpy.random.Generator`` from a seed, a Generator or a SeedSequence.

    ``None`` is refused on purpose: randomness is always passed in explicitly.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (np.random.SeedSequence,)):
        return np.random.default_rng(rng)
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"{name} must be a non-negative integer seed or a numpy.random.Generator; got {rng}.")
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"{name} must be an integer seed or a numpy.random.Generator; got {type(rng).__name__} ({rng!r}). "
        "Randomness is never drawn from a global seed: pass rng=0 or rng=np.random.default_rng(0)."
    )


def as_float_array(a, name, *, ndim=None, shape=None, finite=True):
    """Convert ``a`` to a float64 array and check its rank, shape and finiteness.

    Parameters
    ----------
    a : array_like
        Real numbers (bool, int or float dtype; complex, object and string arrays are refused).
    name : str
        The argument's name, used in error messages.
    ndim : int or tuple of int, optional
        Allowed numbers of dimensions.
    shape : tuple, optional
        Expected shape; ``None`` entries match any length.
    finite : bool
        Refuse NaN and infinity.
    """
    try:
        arr = np.asarray(a)
    except Exception as exc:  # pragma: no cover - exotic objects
        raise TypeError(f"{name} must be an array of real numbers; got {type(a).__name__}.") from exc
    if hasattr(a, "detach") and hasattr(a, "cpu"):  # a torch tensor
        arr = a.detach().cpu().numpy()
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers (float or int); got dtype {arr.dtype}.")
    arr = np.asarray(arr, dtype=np.float64)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be {want}; got shape {arr.shape}.")
    if shape is not None:
        if len(shape) != arr.ndim or any(s is not None and s != t for s, t in zip(shape, arr.shape)):
            want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}; got {arr.shape}.")
    if finite and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} must be finite; it has {bad} NaN or infinite entries.")
    return arr


def check_choice(value, choices, name):
    """Check that ``value`` is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}.")
    return value


def check_positive(value, name, *, strict=True, integer=False, allow_none=False):
    """Check a positive (or non-negative) real or integer scalar."""
    if value is None and allow_none:
        return None
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or not np.isfinite(value):
        what = "an integer" if integer else "a finite real number"
        raise TypeError(f"{name} must be {what}; got {value!r}.")
    if (strict and value <= 0) or (not strict and value < 0):
        bound = "> 0" if strict else ">= 0"
        raise ValueError(f"{name} must be {bound}; got {value!r}.")
    return int(value) if integer else float(value)


def check_nonempty(v, name):
    """Refuse an empty batch (shape (0, n)): every public function answers per row (one Result per
    observation), and a batch without rows has no answer to give. Returns ``v``."""
    if v.ndim == 2 and v.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one row (a batch of shape (batch, {v.shape[1]}) needs "
                         f"batch >= 1); got an empty batch of shape {v.shape}.")
    return v
