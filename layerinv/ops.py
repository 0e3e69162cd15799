"""Measurement operators ``y = A(x)`` applied to a generator's output (deepinv's naming).

Every operator maps signals of shape ``(n,)`` or ``(batch, n)`` to measurements of shape
``out_shape`` or ``(batch,) + out_shape``. Linear operators also give the adjoint ``A_adjoint`` and
a dense matrix view (``matrix``, ``to_matrix()``). Random operators take ``rng`` (an integer seed or
a ``numpy.random.Generator``); nothing draws from a global seed.

=====================  ===========================================  ====================
operator               forward model                                linear
=====================  ===========================================  ====================
``Identity(n)``        ``y = x`` (denoising)                        yes
``Inpainting(mask)``   ``y = x[mask]`` (the kept pixels)            yes (row selection)
``GaussianCS(m, n)``   ``y = A x``, ``A_ij ~ N(0, 1/m)``            yes
``LinearOperator(M)``  ``y = M x`` for any (m, n) matrix            yes
``PhaseRetrieval``     ``y = |B x|`` with ``B`` Gaussian (m, n)     no
=====================  ===========================================  ====================

Examples
--------
>>> import numpy as np
>>> from layerinv.ops import GaussianCS
>>> A = GaussianCS(5, 20, rng=0)
>>> x, v = np.ones(20), np.arange(5.0)
>>> bool(np.isclose(A(x) @ v, x @ A.A_adjoint(v)))
True
"""
from __future__ import annotations

import numbers

import numpy as np

from ._checks import as_float_array, as_rng, check_nonempty

__all__ = ["Operator", "LinearOperator", "Identity", "Inpainting", "GaussianCS", "PhaseRetrieval"]


def _check_size(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def _rows_of(v, name, size, what):
    """``v`` as float64 of shape (size,) or (batch, size), else a ValueError naming ``what`` it must match."""
    v = check_nonempty(as_float_array(v, name, ndim=(1, 2)), name)
    if v.shape[-1] != size:
        raise ValueError(f"{name} must have shape ({size},) or (batch, {size}) to match {what}; got {v.shape}.")
    return v


class Operator:
    """A measurement operator ``x -> y``. Subclasses set ``n`` (input size) and ``m`` (output size)
    and implement ``_apply`` on validated float arrays of shape (n,) or (batch, n)."""

    linear = False
    n: int
    m: int

    @property
    def in_shape(self):
        return (self.n,)

    @property
    def out_shape(self):
        """Shape of one measurement: ``(m,)``."""
        return (self.m,)

    def check_input(self, x, name="x"):
        """Validate a signal of shape (n,) or (batch, n) and return it as float64."""
        return _rows_of(x, name, self.n, "the operator's input size")

    def check_measurement(self, y, name="y"):
        """Validate a measurement of shape (m,) or (batch, m) and return it as float64."""
        return _rows_of(y, name, self.m, f"the operator's {type(self).__name__} measurements")

    def A(self, x):
        """The forward model ``y = A(x)``; x of shape (n,) or (batch, n)."""
        return self._apply(self.check_input(x))

    def __call__(self, x):
        return self.A(x)

    def _apply(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def _torch_forward(self, torch, dtype):  # pragma: no cover - abstract
        """A function ``x_torch (batch, n) -> y_torch (batch, m)`` for the gradient baselines."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(m={self.m}, n={self.n})"


class LinearOperator(Operator):
    """A linear operator ``y = M x`` given by a dense (m, n) matrix.

    Parameters
    ----------
    matrix : array_like, shape (m, n)
        Finite real entries. Stored read-only.

    Attributes
    ----------
    matrix : ndarray, shape (m, n)
        The dense matrix (``to_matrix()`` returns a writable copy).
    """

    linear = True

    def __init__(self, matrix):
        M = as_float_array(matrix, "matrix", ndim=2)
        if min(M.shape) == 0:
            raise ValueError(f"matrix must have at least one row and one column; got shape {M.shape}.")
        M.setflags(write=False)
        self._matrix = M
        self.m, self.n = M.shape

    @property
    def matrix(self):
        """The (m, n) matrix of the operator (read-only)."""
        return self._matrix

    def to_matrix(self):
        """A writable copy of the (m, n) matrix."""
        return np.array(self.matrix)

    def _apply(self, x):
        return x @ self._matrix.T

    def A_adjoint(self, y):
        """The adjoint ``A^T y``; y of shape (m,) or (batch, m), returns (n,) or (batch, n)."""
        return self._adjoint(self.check_measurement(y))

    def _adjoint(self, y):
        return y @ self._matrix

    def _torch_forward(self, torch, dtype):
        Mt = torch.tensor(np.array(self._matrix.T), dtype=dtype)
        return lambda v: v @ Mt


class Identity(LinearOperator):
    """``y = x``: denoising (``recover`` hands it to :func:`layerinv.invert`).

    Parameters
    ----------
    n : int
        Signal size.
    """

    def __init__(self, n):
        self.n = self.m = _check_size(n, "n")

    @property
    def matrix(self):
        return np.eye(self.n)

    def _apply(self, x):
        return x.copy()

    def _adjoint(self, y):
        return y.copy()

    def _torch_forward(self, torch, dtype):
        return lambda v: v

    def __repr__(self):
        return f"Identity(n={self.n})"


class Inpainting(LinearOperator):
    """``y = x[rows]``: keep the pixels where ``mask`` is True, in row-major order.

    Parameters
    ----------
    mask : ndarray of bool, any shape with ``mask.size == n``
        True marks a kept (observed) pixel; a 2-D image mask is flattened in C order, matching
        ``image.reshape(-1)``. At least one pixel must be kept.

    Attributes
    ----------
    mask : ndarray of bool, shape (n,)
        The flattened mask (read-only).
    rows : ndarray of int, shape (m,)
        The kept indices, increasing: ``A(x) == x[..., rows]``.
    keep_ratio : float
        ``m / n``.

    Examples
    --------
    >>> import numpy as np
    >>> op = Inpainting(np.array([True, False, True]))
    >>> op(np.array([1.0, 2.0, 3.0])), op.rows
    (array([1., 3.]), array([0, 2]))
    """

    def __init__(self, mask):
        if hasattr(mask, "detach") and hasattr(mask, "cpu"):
            mask = mask.detach().cpu().numpy()
        mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            raise TypeError(f"mask must be a boolean array (True = observed pixel); got dtype {mask.dtype}. "
                            "Convert a 0/1 array with mask.astype(bool).")
        if mask.size == 0:
            raise ValueError("mask must have at least one entry; got an empty array.")
        flat = np.array(mask.reshape(-1))
        if not flat.any():
            raise ValueError(f"mask must keep at least one pixel; all {flat.size} entries are False.")
        flat.setflags(write=False)
        rows = np.flatnonzero(flat)
        rows.setflags(write=False)
        self.mask, self.rows = flat, rows
        self.n, self.m = flat.size, rows.size

    @property
    def keep_ratio(self):
        return self.m / self.n

    @classmethod
    def random(cls, n, keep_ratio, rng):
        """Keep ``max(1, round(keep_ratio * n))`` pixels chosen uniformly at random (without replacement).

        Parameters
        ----------
        n : int
        keep_ratio : float in (0, 1]
        rng : int or numpy.random.Generator
        """
        n = _check_size(n, "n")
        if isinstance(keep_ratio, bool) or not isinstance(keep_ratio, numbers.Real) or not 0 < keep_ratio <= 1:
            raise ValueError(f"keep_ratio must be a number in (0, 1] (the fraction of observed pixels); "
                             f"got {keep_ratio!r}.")
        rng = as_rng(rng)
        m = max(1, int(round(keep_ratio * n)))
        mask = np.zeros(n, dtype=bool)
        mask[rng.choice(n, size=m, replace=False)] = True
        return cls(mask)

    @classmethod
    def block(cls, shape=(28, 28), top=0, left=0, height=1, width=1, keep_block=False):
        """A rectangular occlusion: the block ``[top:top+height, left:left+width]`` of an image of
        ``shape`` is hidden and every other pixel kept (``keep_block=True``: keep only the block).

        Examples
        --------
        >>> Inpainting.block((4, 4), top=1, left=1, height=2, width=2).m
        12
        """
        if (not isinstance(shape, (tuple, list)) or len(shape) != 2):
            raise ValueError(f"shape must be an image shape (rows, cols); got {shape!r}.")
        H, W = _check_size(shape[0], "shape[0]"), _check_size(shape[1], "shape[1]")
        for name, v in (("top", top), ("left", left)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
                raise ValueError(f"{name} must be a non-negative integer; got {v!r}.")
        height, width = _check_size(height, "height"), _check_size(width, "width")
        if top + height > H or left + width > W:
            raise ValueError(f"the block rows {top}:{top + height} and columns {left}:{left + width} must lie inside "
                             f"the image of shape {(H, W)}.")
        inside = np.zeros((H, W), dtype=bool)
        inside[top:top + height, left:left + width] = True
        return cls(inside if keep_block else ~inside)

    @property
    def matrix(self):
        M = np.zeros((self.m, self.n))
        M[np.arange(self.m), self.rows] = 1.0
        return M

    def _apply(self, x):
        return x[..., self.rows]

    def _adjoint(self, y):
        out = np.zeros(y.shape[:-1] + (self.n,))
        out[..., self.rows] = y
        return out

    def _torch_forward(self, torch, dtype):
        idx = torch.tensor(np.array(self.rows), dtype=torch.long)
        return lambda v: v[..., idx]

    def __repr__(self):
        return f"Inpainting(n={self.n}, kept={self.m} ({self.keep_ratio:.0%}))"


class GaussianCS(LinearOperator):
    """Compressed sensing ``y = A x`` with i.i.d. ``A_ij ~ N(0, 1/m)`` (so ``E ||A x||^2 = ||x||^2``).

    Parameters
    ----------
    m : int
        Number of measurements.
    n : int
        Signal size.
    rng : int or numpy.random.Generator
    """

    def __init__(self, m, n, rng):
        m, n = _check_size(m, "m"), _check_size(n, "n")
        rng = as_rng(rng)
        super().__init__(rng.normal(0.0, 1.0 / np.sqrt(m), size=(m, n)))

    def __repr__(self):
        return f"GaussianCS(m={self.m}, n={self.n})"


class PhaseRetrieval(Operator):
    """Real phase retrieval ``y = |B x|``: magnitudes (not squared) of a linear measurement ``B``.

    Built from a linear operator, as in deepinv: ``PhaseRetrieval(m, n, rng)`` draws
    ``B = GaussianCS(m, n, rng)`` (entries N(0, 1/m)); ``PhaseRetrieval.from_linear(B)`` wraps any
    :class:`LinearOperator`. Since ``|B(-x)| = |B x|``, x is identifiable only up to its sign.

    Attributes
    ----------
    B : LinearOperator
        The underlying linear measurement.
    """

    def __init__(self, m, n, rng):
        self.B = GaussianCS(m, n, rng)
        self.m, self.n = self.B.m, self.B.n

    @classmethod
    def from_linear(cls, B):
        """``y = |B x|`` for a given :class:`LinearOperator` ``B``."""
        if not isinstance(B, LinearOperator):
            raise TypeError(f"B must be a layerinv.ops.LinearOperator (e.g. GaussianCS or LinearOperator(matrix)); "
                            f"got {type(B).__name__}.")
        op = cls.__new__(cls)
        op.B, op.m, op.n = B, B.m, B.n
        return op

    def check_measurement(self, y, name="y"):
        """Validate magnitudes of shape (m,) or (batch, m): like every operator's, and none negative
        (``|B x| >= 0``; clip noisy magnitudes with ``np.maximum(y, 0)`` first)."""
        y = super().check_measurement(y, name)
        if np.any(y < 0):
            bad = np.argwhere(y < 0)[0]
            where = f"{name}[{', '.join(map(str, bad))}]"
            raise ValueError(f"{name} holds magnitudes |B x| of phase retrieval, which are never negative; got "
                             f"{int(np.sum(y < 0))} negative entries (e.g. {where} = {y[tuple(bad)]:.3g}). Clip "
                             f"noisy magnitudes with np.maximum({name}, 0).")
        return y

    def _apply(self, x):
        return np.abs(self.B._apply(x))

    def _torch_forward(self, torch, dtype):
        inner = self.B._torch_forward(torch, dtype)
        return lambda v: torch.abs(inner(v))

    def __repr__(self):
        return f"PhaseRetrieval(m={self.m}, n={self.n}, B={type(self.B).__name__})"
