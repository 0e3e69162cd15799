"""The linear part ``A`` of a layer ``x = act(A h + b)``: dense, sparse or convolutional.

Every map has ``shape == (n_out, n_in)`` and acts on flat vectors: a convolution's input and
output are its (C, H, W) tensors flattened in C order (PyTorch's ``flatten``), so ``Flatten`` and
``Unflatten`` are the identity and need no map. Memory grows with the number of weights: a
convolution keeps its kernel and computes products with NumPy; its sparse matrix is built only on
request (``to_sparse``, ``rows``).

The interface, shared by all maps:

``matvec(h)``
    ``A h`` for h of shape (n_in,) or (batch, n_in).
``rmatvec(y)``
    ``A^T y`` for y of shape (n_out,) or (batch, n_out).
``rows(idx)``
    The rows ``A[idx]``: a dense array when it has at most ``DENSE_LIMIT`` entries, otherwise a
    ``scipy.sparse.csr_matrix`` (``dense=True``/``False`` forces either).
``to_sparse()``, ``to_dense()``, ``nnz``, ``in_shape``, ``out_shape``.

Examples
--------
>>> import numpy as np
>>> from layerinv.linear_maps import Conv2d
>>> A = Conv2d(np.ones((2, 1, 3, 3)), stride=1, padding=1, in_shape=(1, 4, 4))
>>> A.shape, A.out_shape, A.nnz
((32, 16), (2, 4, 4), 200)
>>> float(A.matvec(np.ones(16))[5])
9.0
"""
from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

from . import _conv
from ._checks import as_float_array

__all__ = ["LinearMap", "Dense", "Sparse", "Diagonal", "Conv2d", "ConvTranspose2d", "Upsample",
           "as_linear_map", "compose", "DENSE_LIMIT"]

#: Largest number of entries (n_rows * n_cols) returned or materialised as a dense array (64 MiB).
DENSE_LIMIT = 1 << 23


def _pair(value, name, low):
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value, value)
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= low for v in value)):
        raise ValueError(f"{name} must be an integer >= {low} or a pair of them; got {value!r}.")
    return (int(value[0]), int(value[1]))


def _shape(value, name, ndim=None):
    if (not isinstance(value, (tuple, list)) or (ndim is not None and len(value) != ndim) or not value
            or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1 for v in value)):
        want = f"a tuple of {ndim} positive integers" if ndim else "a tuple of positive integers"
        raise ValueError(f"{name} must be {want}; got {value!r}.")
    return tuple(int(v) for v in value)


def _check_shapes(A, in_shape, out_shape):
    A.in_shape = (A.shape[1],) if in_shape is None else _shape(in_shape, "in_shape")
    A.out_shape = (A.shape[0],) if out_shape is None else _shape(out_shape, "out_shape")
    if (int(np.prod(A.in_shape)), int(np.prod(A.out_shape))) != (A.shape[1], A.shape[0]):
        raise ValueError(f"in_shape {A.in_shape} and out_shape {A.out_shape} must hold {A.shape[1]} and "
                         f"{A.shape[0]} entries to match the matrix of shape {A.shape}.")


class LinearMap:
    """Base class: subclasses set ``shape``, ``in_shape``, ``out_shape`` and implement
    ``_matvec``/``_rmatvec`` on 2-D (batch, n) arrays and ``_rows_sparse``."""

    kind = "linear"

    @property
    def n_out(self):
        return self.shape[0]

    @property
    def n_in(self):
        return self.shape[1]

    def matvec(self, h):
        """``A h`` for h of shape (n_in,) or (batch, n_in)."""
        h = np.asarray(h, dtype=np.float64)
        return self._matvec(h[None])[0] if h.ndim == 1 else self._matvec(h)

    def rmatvec(self, y):
        """``A^T y`` for y of shape (n_out,) or (batch, n_out)."""
        y = np.asarray(y, dtype=np.float64)
        return self._rmatvec(y[None])[0] if y.ndim == 1 else self._rmatvec(y)

    def rows(self, idx, *, dense=None):
        """The rows ``A[idx]`` (idx: integer indices, a slice or a boolean mask over the outputs)."""
        idx = np.arange(self.n_out)[idx]
        if dense is None:
            dense = np.size(idx) * self.n_in <= DENSE_LIMIT
        out = self._rows_sparse(np.atleast_1d(idx))
        if dense:
            out = out.toarray()
            return out[0] if np.ndim(idx) == 0 else out
        return out

    def to_sparse(self):
        """The whole matrix as a ``scipy.sparse.csr_matrix``."""
        return self._rows_sparse(np.arange(self.n_out))

    def to_dense(self):
        """The whole matrix as a dense array; refused above ``DENSE_LIMIT`` entries."""
        if self.n_out * self.n_in > DENSE_LIMIT:
            raise ValueError(f"this {self!r} has {self.n_out} x {self.n_in} = {self.n_out * self.n_in:,} entries, "
                             f"more than DENSE_LIMIT = {DENSE_LIMIT:,}; use its matvec/rmatvec/rows/to_sparse.")
        return self.to_sparse().toarray()

    @property
    def nnz(self):
        return self.to_sparse().nnz

    def __repr__(self):
        return f"{type(self).__name__}(shape={self.shape}, in_shape={self.in_shape}, out_shape={self.out_shape})"


class Dense(LinearMap):
    """A dense matrix ``W`` of shape (n_out, n_in) (PyTorch's Linear layout)."""

    kind = "dense"

    def __init__(self, W, name="W", in_shape=None, out_shape=None):
        W = as_float_array(W, name, ndim=2).copy()  # never shares memory with (or freezes) the caller's array
        if min(W.shape) == 0:
            raise ValueError(f"{name} must have at least one row and column; got shape {W.shape}.")
        W.setflags(write=False)
        self.matrix = W
        self.shape = W.shape
        _check_shapes(self, in_shape, out_shape)

    def matvec(self, h):
        return h @ self.matrix.T  # the formula ReLUNet always used (bitwise-identical forward passes)

    def rmatvec(self, y):
        return y @ self.matrix

    def rows(self, idx, *, dense=None):
        return self.matrix[idx] if dense is not False else sp.csr_matrix(self.matrix[idx])

    def _rows_sparse(self, idx):
        return sp.csr_matrix(self.matrix[idx])

    def to_dense(self):
        return self.matrix

    @property
    def nnz(self):
        return int(self.matrix.size)


class Sparse(LinearMap):
    """A ``scipy.sparse`` matrix of shape (n_out, n_in), kept in CSR form."""

    kind = "sparse"

    def __init__(self, matrix, in_shape=None, out_shape=None, name="matrix"):
        if not sp.issparse(matrix):
            raise TypeError(f"{name} must be a scipy.sparse matrix; got {type(matrix).__name__}.")
        A = sp.csr_matrix(matrix, dtype=np.float64).copy()
        if min(A.shape) == 0 or not np.all(np.isfinite(A.data)):
            raise ValueError(f"{name} must have at least one row and column and finite entries; got shape {A.shape}.")
        A.sum_duplicates()
        self.matrix = A
        self.shape = A.shape
        _check_shapes(self, in_shape, out_shape)

    def _matvec(self, h):
        return np.ascontiguousarray((self.matrix @ h.T).T)

    def _rmatvec(self, y):
        return np.ascontiguousarray((self.matrix.T @ y.T).T)

    def _rows_sparse(self, idx):
        return self.matrix[idx]

    def to_sparse(self):
        return self.matrix

    @property
    def nnz(self):
        return int(self.matrix.nnz)


class Diagonal(LinearMap):
    """``diag(values)``: an elementwise scale (an eval-mode BatchNorm's slope)."""

    kind = "diagonal"

    def __init__(self, values, shape=None, name="values"):
        values = as_float_array(values, name, ndim=1).copy()
        values.setflags(write=False)
        self.values = values
        self.shape = (values.size, values.size)
        _check_shapes(self, shape, shape)

    def channel_values(self):
        """The per-channel factors when the scale is constant over each channel's positions, else None."""
        if len(self.out_shape) < 2:
            return None
        v = self.values.reshape(self.out_shape[0], -1)
        return v[:, 0].copy() if np.all(v == v[:, :1]) else None

    def _matvec(self, h):
        return h * self.values

    def _rmatvec(self, y):
        return y * self.values

    def _rows_sparse(self, idx):
        return sp.csr_matrix((self.values[idx], (np.arange(len(idx)), idx)), shape=(len(idx), self.n_in))


class _Conv(LinearMap):
    """Shared code of Conv2d and ConvTranspose2d (see ``layerinv._conv``)."""

    def _init(self, weight, stride, padding, in_shape, in_channels):
        weight = as_float_array(weight, "weight", ndim=4).copy()
        if min(weight.shape) == 0:
            raise ValueError(f"weight must have no empty axis; got shape {weight.shape}.")
        weight.setflags(write=False)
        self.weight = weight
        self.stride = _pair(stride, "stride", 1)
        self.padding = _pair(padding, "padding", 0)
        self.in_shape = _shape(in_shape, "in_shape", 3)
        if self.in_shape[0] != in_channels:
            raise ValueError(f"in_shape must have {in_channels} channels to match weight of shape {weight.shape}; "
                             f"got in_shape {self.in_shape}.")

    def _finish(self, out_hw, transposed):
        if min(out_hw) < 1:
            raise ValueError(f"{type(self).__name__} of kernel {self.weight.shape[2:]}, stride {self.stride} and "
                             f"padding {self.padding} has an empty output on an input of shape {self.in_shape}.")
        self.out_shape = (self.weight.shape[0 if not transposed else 1],) + tuple(out_hw)
        self.shape = (int(np.prod(self.out_shape)), int(np.prod(self.in_shape)))
        wr = self.weight.transpose(1, 0, 2, 3) if transposed else self.weight
        self._index = _conv.ConvIndex(wr, self.out_shape, self.in_shape, self.stride, self.padding, transposed)
        small, big = (self.in_shape, self.out_shape) if transposed else (self.out_shape, self.in_shape)
        self._adjoint = _conv.AdjointPlan(self.weight, self.stride, self.padding, small[1:], big[1:])

    def _rows_sparse(self, idx):
        return self._index.rows(idx)

    @property
    def nnz(self):
        return self._index.nnz

    def _params(self):
        return {"stride": list(self.stride), "padding": list(self.padding), "in_shape": list(self.in_shape)}


class Conv2d(_Conv):
    """PyTorch's ``Conv2d`` (groups 1, dilation 1, zero padding) on inputs of shape ``in_shape`` = (C_in, H, W).

    Parameters
    ----------
    weight : array_like, shape (C_out, C_in, kh, kw)
    stride, padding : int or (int, int)
    in_shape : (int, int, int)
    """

    kind = "conv2d"

    def __init__(self, weight, stride=1, padding=0, in_shape=None):
        self._init(weight, stride, padding, in_shape, np.shape(weight)[1] if np.ndim(weight) == 4 else None)
        (_, H, W), (kh, kw) = self.in_shape, self.weight.shape[2:]
        out = (_conv.out_size(H, kh, self.stride[0], self.padding[0]),
               _conv.out_size(W, kw, self.stride[1], self.padding[1]))
        self._finish(out, transposed=False)

    def _matvec(self, h):
        y = _conv.correlate(h.reshape((-1,) + self.in_shape), self.weight, self.stride, self.padding,
                            self.out_shape[1:])
        return y.reshape(len(h), -1)

    def _rmatvec(self, y):
        return self._adjoint(y.reshape((-1,) + self.out_shape)).reshape(len(y), -1)

    def scaled(self, out_scale=None, in_scale=None):
        """The same convolution with per-channel factors on its outputs and/or inputs."""
        w = self.weight
        if out_scale is not None:
            w = w * out_scale[:, None, None, None]
        if in_scale is not None:
            w = w * in_scale[None, :, None, None]
        return Conv2d(w, self.stride, self.padding, self.in_shape)


class ConvTranspose2d(_Conv):
    """PyTorch's ``ConvTranspose2d`` (groups 1, dilation 1) on inputs of shape ``in_shape`` = (C_in, H, W).

    The output has size ``(H - 1) * stride - 2 * padding + k + output_padding`` per axis. It is the
    adjoint of ``Conv2d(weight, stride, padding)`` acting on the output's shape.

    Parameters
    ----------
    weight : array_like, shape (C_in, C_out, kh, kw)
    stride, padding, output_padding : int or (int, int)
    in_shape : (int, int, int)
    """

    kind = "conv_transpose2d"

    def __init__(self, weight, stride=1, padding=0, output_padding=0, in_shape=None):
        self._init(weight, stride, padding, in_shape, np.shape(weight)[0] if np.ndim(weight) == 4 else None)
        self.output_padding = _pair(output_padding, "output_padding", 0)
        if any(op >= s for op, s in zip(self.output_padding, self.stride)):
            raise ValueError(f"output_padding must be smaller than stride {self.stride}; got {self.output_padding}.")
        (_, H, W), (kh, kw) = self.in_shape, self.weight.shape[2:]
        out = tuple((n - 1) * s - 2 * p + k + op for n, s, p, k, op in
                    zip((H, W), self.stride, self.padding, (kh, kw), self.output_padding))
        self._finish(out, transposed=True)

    def _matvec(self, h):
        return self._adjoint(h.reshape((-1,) + self.in_shape)).reshape(len(h), -1)

    def _rmatvec(self, y):
        z = _conv.correlate(y.reshape((-1,) + self.out_shape), self.weight, self.stride, self.padding,
                            self.in_shape[1:])
        return z.reshape(len(y), -1)

    def scaled(self, out_scale=None, in_scale=None):
        """The same transposed convolution with per-channel factors on its outputs and/or inputs."""
        w = self.weight
        if out_scale is not None:
            w = w * out_scale[None, :, None, None]
        if in_scale is not None:
            w = w * in_scale[:, None, None, None]
        return ConvTranspose2d(w, self.stride, self.padding, self.output_padding, self.in_shape)

    def _params(self):
        return dict(super()._params(), output_padding=list(self.output_padding))


class Upsample(LinearMap):
    """A per-channel gather ``out[c, q] = in[c, index[q]]`` on (C, H, W) images: nearest-neighbour
    resizing. Each row holds a single 1, so it commutes with elementwise activations.

    Parameters
    ----------
    index : array_like of int, shape (H_out * W_out,)
        Flat source position (into H * W) of every output position.
    in_shape : (C, H, W)
    out_hw : (H_out, W_out)
    """

    kind = "upsample"

    def __init__(self, index, in_shape, out_hw):
        self.in_shape = _shape(in_shape, "in_shape", 3)
        out_hw = _shape(out_hw, "out_hw", 2)
        index = np.asarray(index)
        hw = self.in_shape[1] * self.in_shape[2]
        if (index.dtype.kind not in "iu" or index.shape != (out_hw[0] * out_hw[1],)
                or (index.size and (index.min() < 0 or index.max() >= hw))):
            raise ValueError(f"index must hold {out_hw[0] * out_hw[1]} integers in [0, {hw}); got "
                             f"dtype {index.dtype} and shape {index.shape}.")
        self.index = index.astype(np.int64, copy=True)
        self.index.setflags(write=False)
        self.out_shape = (self.in_shape[0],) + out_hw
        self.shape = (int(np.prod(self.out_shape)), int(np.prod(self.in_shape)))

    @classmethod
    def nearest(cls, in_shape, scale):
        """Nearest upsampling by integer factors ``scale`` (int or (sy, sx)), as ``nn.Upsample(scale_factor=s)``."""
        sy, sx = _pair(scale, "scale", 1)
        _, H, W = _shape(in_shape, "in_shape", 3)
        rows, cols = np.arange(H * sy) // sy, np.arange(W * sx) // sx
        return cls((rows[:, None] * W + cols[None, :]).ravel(), in_shape, (H * sy, W * sx))

    def _matvec(self, h):
        C, H, W = self.in_shape
        return h.reshape(len(h), C, H * W)[:, :, self.index].reshape(len(h), -1)

    def _rmatvec(self, y):
        C, H, W = self.in_shape
        out = np.zeros((len(y), C, H * W))
        np.add.at(out, (slice(None), slice(None), self.index), y.reshape(len(y), C, -1))
        return out.reshape(len(y), -1)

    def _rows_sparse(self, idx):
        C, H, W = self.in_shape
        c, q = np.divmod(idx, self.index.size)
        return sp.csr_matrix((np.ones(len(idx)), (np.arange(len(idx)), c * H * W + self.index[q])),
                             shape=(len(idx), self.n_in))

    @property
    def nnz(self):
        return self.n_out


def as_linear_map(A, name="A"):
    """A LinearMap as is; a 2-D array as ``Dense``; a scipy.sparse matrix as ``Sparse``."""
    if isinstance(A, LinearMap):
        return A
    if sp.issparse(A):
        return Sparse(A, name=name)
    return Dense(A, name=name)


def compose(outer, inner):
    """The map ``h -> outer(inner(h))``, kept as structured as the pair allows.

    A per-channel diagonal folds into a convolution's kernel (BatchNorm2d); a product with a
    dense factor is dense; any other pair becomes one sparse matrix.
    """
    if outer.n_in != inner.n_out:
        raise ValueError(f"cannot compose {outer!r} after {inner!r}: {outer.n_in} inputs != {inner.n_out} outputs.")
    shapes = dict(in_shape=inner.in_shape, out_shape=outer.out_shape)
    if isinstance(outer, Diagonal) and isinstance(inner, Diagonal):
        return Diagonal(outer.values * inner.values, outer.out_shape)
    if isinstance(outer, Diagonal):
        if isinstance(inner, Dense):
            return Dense(outer.values[:, None] * inner.matrix, **shapes)
        if isinstance(inner, (Conv2d, ConvTranspose2d)) and (scale := outer.channel_values()) is not None:
            return inner.scaled(out_scale=scale)
    if isinstance(inner, Diagonal):
        if isinstance(outer, Dense):
            return Dense(outer.matrix * inner.values[None, :], **shapes)
        if isinstance(outer, (Conv2d, ConvTranspose2d)) and (scale := inner.channel_values()) is not None:
            return outer.scaled(in_scale=scale)
    if isinstance(outer, Dense):
        return Dense(inner.rmatvec(outer.matrix), **shapes)
    if isinstance(inner, Dense):
        return Dense(np.ascontiguousarray(outer.matvec(inner.matrix.T).T), **shapes)
    return Sparse(outer.to_sparse() @ inner.to_sparse(), **shapes)


# ---------------------------------------------------------------------- files
_MAX_SIZE = 1 << 31  # refuse maps with more inputs or outputs than this in a file (untrusted input)


#: The arrays each kind of map stores in a file (``map<i>_<name>`` entries).
PARTS = {"dense": ("matrix",), "sparse": ("data", "indices", "indptr"), "diagonal": ("values",),
         "conv2d": ("weight",), "conv_transpose2d": ("weight",), "upsample": ("index",)}


def to_arrays(A):
    """``(params, arrays)`` describing A for a .npz file: params is JSON-able, arrays are numeric."""
    if isinstance(A, Dense):
        return {"kind": A.kind, "in_shape": list(A.in_shape), "out_shape": list(A.out_shape)}, {"matrix": A.matrix}
    if isinstance(A, Sparse):
        m = A.matrix
        return ({"kind": A.kind, "shape": list(A.shape), "in_shape": list(A.in_shape), "out_shape": list(A.out_shape)},
                {"data": m.data, "indices": m.indices, "indptr": m.indptr})
    if isinstance(A, Diagonal):
        return {"kind": A.kind, "shape": list(A.out_shape)}, {"values": A.values}
    if isinstance(A, (Conv2d, ConvTranspose2d)):
        return dict(kind=A.kind, **A._params()), {"weight": A.weight}
    if isinstance(A, Upsample):
        return {"kind": A.kind, "in_shape": list(A.in_shape), "out_hw": list(A.out_shape[1:])}, {"index": A.index}
    raise TypeError(f"cannot save a {type(A).__name__}.")


def from_arrays(params, arrays):
    """Rebuild a map written by :func:`to_arrays`; raises ValueError/KeyError/TypeError on bad input."""
    kind = params.get("kind") if isinstance(params, dict) else None
    for key in ("in_shape", "out_shape", "shape"):
        if key in params and np.prod(_shape(params[key], key), dtype=float) > _MAX_SIZE:
            raise ValueError(f"{key} {params[key]} is larger than {_MAX_SIZE:,} entries.")
    if kind == "dense":
        return Dense(arrays["matrix"], in_shape=_shape(params["in_shape"], "in_shape"),
                     out_shape=_shape(params["out_shape"], "out_shape"))
    if kind == "sparse":
        shape = _shape(params["shape"], "shape", 2)
        for key in ("indices", "indptr"):
            if arrays[key].dtype.kind not in "iu":
                raise ValueError(f"{key} must hold integers; got dtype {arrays[key].dtype}.")
        m = sp.csr_matrix((as_float_array(arrays["data"], "data", ndim=1), arrays["indices"], arrays["indptr"]),
                          shape=shape)
        m.check_format(full_check=True)
        return Sparse(m, in_shape=_shape(params["in_shape"], "in_shape"),
                      out_shape=_shape(params["out_shape"], "out_shape"))
    if kind == "diagonal":
        return Diagonal(arrays["values"], _shape(params["shape"], "shape"))
    if kind == "conv2d":
        return Conv2d(arrays["weight"], params["stride"], params["padding"], params["in_shape"])
    if kind == "conv_transpose2d":
        return ConvTranspose2d(arrays["weight"], params["stride"], params["padding"], params["output_padding"],
                               params["in_shape"])
    if kind == "upsample":
        return Upsample(arrays["index"], params["in_shape"], params["out_hw"])
    raise ValueError(f"unknown linear map kind {kind!r}; expected one of dense, sparse, diagonal, conv2d, "
                     "conv_transpose2d, upsample.")
