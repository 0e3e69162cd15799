"""Feed-forward generators made of affine maps and elementwise activations.

``ReLUNet`` is the one network type the inversion code understands. A layer is an affine map
``u = W h + b`` followed by an activation; ``W`` is kept in PyTorch's (out, in) layout. Only
``Layer.affine`` and ``Layer.rows`` touch ``W``; ``W`` may be dense, sparse or convolutional (a
``layerinv.linear_maps.LinearMap``).
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ._checks import as_float_array, as_rng, check_nonempty
from .activations import Activation
from .linear_maps import LinearMap, as_linear_map

__all__ = ["Layer", "ReLUNet"]


def _vectors(v, name, size, what):
    """``v`` as float64 of shape (size,) or (batch, size), else a ValueError naming ``what`` it must match."""
    v = check_nonempty(as_float_array(v, name, ndim=(1, 2)), name)
    if v.shape[-1] != size:
        raise ValueError(f"{name} must have shape ({size},) or (batch, {size}) to match {what}; got {v.shape}.")
    return v


@dataclass(frozen=True, eq=False)
class Layer:
    """One layer ``x = act(A h + b)``.

    Attributes
    ----------
    linear : LinearMap, shape (n_out, n_in)
        The linear part ``A`` (see ``layerinv.linear_maps``); a 2-D array passed here becomes ``Dense``.
    bias : ndarray, shape (n_out,)
        Zeros when the layer has no bias.
    activation : Activation
    """

    linear: LinearMap
    bias: np.ndarray
    activation: Activation

    def __post_init__(self):
        object.__setattr__(self, "linear", as_linear_map(self.linear, "weight"))

    @cached_property
    def weight(self):
        """The dense matrix ``A`` of shape (n_out, n_in); materialised for small non-dense maps, refused
        (ValueError) above ``linear_maps.DENSE_LIMIT`` entries: use ``layer.linear`` there."""
        return self.linear.to_dense()

    @property
    def n_in(self):
        return self.linear.n_in

    @property
    def n_out(self):
        return self.linear.n_out

    def affine(self, h):
        """Pre-activation ``A h + b`` for h of shape (n_in,) or (batch, n_in)."""
        return self.linear.matvec(h) + self.bias

    def rows(self, idx):
        """Rows ``A[idx]`` (dense, or scipy.sparse CSR when large) and ``b[idx]``."""
        return self.linear.rows(idx), self.bias[idx]

    def select(self, idx):
        """The layer restricted to the outputs ``idx`` (its map becomes Dense or Sparse)."""
        return Layer(as_linear_map(self.linear.rows(idx), "rows"), self.bias[idx], self.activation)


class ReLUNet:
    """A generator ``G(z) = act_d(W_d ... act_1(W_1 z + b_1) ... + b_d)``.

    Parameters
    ----------
    weights : sequence of (array_like or LinearMap)
        ``weights[i]`` has PyTorch's (out, in) shape (n_i, n_{i-1}): a dense array, a scipy.sparse
        matrix or a ``layerinv.linear_maps`` map (``Conv2d``, ``ConvTranspose2d``, ...). The network keeps read-only
        copies of the weights and biases: editing the arrays passed in later does not change it.
    biases : sequence of (array_like or None), optional
        ``biases[i]`` of shape (n_i,), or None for no bias.
    activations : sequence, optional
        ``activations[i]`` is ``"relu"`` (the default), ``("leaky_relu", slope)``, or, for the last
        layer only, ``"identity"``, ``"sigmoid"`` or ``"tanh"``.

    Examples
    --------
    >>> import numpy as np
    >>> from layerinv import ReLUNet
    >>> G = ReLUNet.random([5, 20, 40], rng=0)
    >>> G.dims
    [5, 20, 40]
    >>> G(np.ones(5)).shape
    (40,)
    """

    def __init__(self, weights, biases=None, activations=None):
        if isinstance(weights, np.ndarray) or not hasattr(weights, "__len__") or len(weights) == 0:
            raise TypeError("weights must be a non-empty list of 2-D arrays (or linear maps), one per layer; "
                            f"got {type(weights).__name__}.")
        d = len(weights)
        biases = [None] * d if biases is None else list(biases)
        activations = ["relu"] * d if activations is None else list(activations)
        if len(biases) != d:
            raise ValueError(f"biases must have one entry per layer ({d}); got {len(biases)}.")
        if len(activations) != d:
            raise ValueError(f"activations must have one entry per layer ({d}); got {len(activations)}.")
        layers = []
        for i, (W, b, act) in enumerate(zip(weights, biases, activations)):
            W = as_linear_map(W, f"weights[{i}]")  # a Dense map keeps its own read-only copy
            if layers and W.shape[1] != layers[-1].n_out:
                raise ValueError(
                    f"weights[{i}] must have {layers[-1].n_out} columns to follow weights[{i - 1}] "
                    f"of shape {layers[-1].linear.shape} (PyTorch's (out, in) layout); got shape {W.shape}."
                )
            if b is None:
                b = np.zeros(W.shape[0])
            else:
                b = as_float_array(b, f"biases[{i}]", shape=(W.shape[0],))
            a = Activation.parse(act, f"activations[{i}]", last=(i == d - 1))
            # Our own read-only copies: the caller's arrays (or torch tensors sharing memory) stay
            # theirs to edit, and later edits cannot change G (nor caches built from it, e.g. gd's).
            b = np.array(b, copy=True)
            b.setflags(write=False)
            layers.append(Layer(W, b, a))
        self.layers = tuple(layers)

    # ------------------------------------------------------------------ properties
    @property
    def dims(self):
        """``[k, n_1, ..., n_d]``: the latent size then every layer's width."""
        return [self.layers[0].n_in] + [L.n_out for L in self.layers]

    @property
    def k(self):
        """Latent dimension."""
        return self.layers[0].n_in

    @property
    def n(self):
        """Output dimension."""
        return self.layers[-1].n_out

    @property
    def depth(self):
        return len(self.layers)

    @property
    def has_bias(self):
        return any(np.any(L.bias != 0) for L in self.layers)

    def __repr__(self):
        acts = ", ".join(repr(L.activation.spec()) for L in self.layers)
        return f"ReLUNet(dims={self.dims}, activations=[{acts}], bias={self.has_bias})"

    # ------------------------------------------------------------------ forward
    def check_latent(self, z, name="z"):
        """Validate a latent of shape (k,) or (batch, k) and return it as float64."""
        return _vectors(z, name, self.k, "G's latent size")

    def check_output(self, x, name="x"):
        """Validate an observation of shape (n,) or (batch, n) and return it as float64."""
        return _vectors(x, name, self.n, "G's output")

    def forward(self, z, *, all_layers=False):
        """Forward pass.

        Parameters
        ----------
        z : array_like, shape (k,) or (batch, k)
        all_layers : bool
            Return the list ``[z, x_1, ..., x_d]`` of every layer's output instead of ``x_d``.
        """
        return self.forward_unchecked(self.check_latent(z), all_layers=all_layers)

    def forward_unchecked(self, z, *, all_layers=False):
        """:meth:`forward` without validating ``z`` (a float64 array of shape (k,) or (batch, k)):
        for the library's hot loops, which pass latents they built themselves."""
        h = z
        outs = [h]
        for L in self.layers:
            h = L.activation(L.affine(h))
            outs.append(h)
        return outs if all_layers else h

    def __call__(self, z):
        """``G(z)`` for z of shape (k,) or (batch, k); returns shape (n,) or (batch, n)."""
        return self.forward(z)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def random(cls, dims, rng, bias=False, activation="relu", output_activation=None):
        """A random generator with i.i.d. N(0, 1/n_out) weights (the paper's setup).

        Parameters
        ----------
        dims : sequence of int
            ``[k, n_1, ..., n_d]``.
        rng : int or numpy.random.Generator
        bias : bool
            Draw biases i.i.d. N(0, 1/n_out) as well.
        activation : str or tuple
            Activation of every layer, e.g. ``"relu"`` or ``("leaky_relu", 0.1)``.
        output_activation : str or tuple, optional
            The last layer's activation; defaults to ``activation``.
        """
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"bias must be True or False; got {bias!r}.")
        rng = as_rng(rng)
        if isinstance(dims, (str, bytes)) or not hasattr(dims, "__len__") or len(dims) < 2:
            raise ValueError(f"dims must be a list [k, n_1, ..., n_d] of at least two sizes; got {dims!r}.")
        for i, n in enumerate(dims):
            if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
                raise ValueError(f"dims[{i}] must be a positive integer; got {n!r}.")
        dims = [int(n) for n in dims]
        weights, biases = [], []
        for n_in, n_out in zip(dims[:-1], dims[1:]):
            weights.append(rng.normal(0.0, 1.0 / np.sqrt(n_out), size=(n_out, n_in)))
            biases.append(rng.normal(0.0, 1.0 / np.sqrt(n_out), size=n_out) if bias else None)
        acts = [activation] * (len(dims) - 1)
        if output_activation is not None:
            acts[-1] = output_activation
        return cls(weights, biases, acts)

    @classmethod
    def from_torch(cls, module, input_shape=None):
        """Convert a PyTorch module whose forward is a chain of supported layers (traced with torch.fx).

        Supported: ``Linear``, ``Conv2d`` and ``ConvTranspose2d`` (groups 1, dilation 1, zero padding),
        ``BatchNorm1d``/``BatchNorm2d`` in eval mode (folded into the neighbouring affine map),
        ``ReLU``, ``LeakyReLU``, ``Sigmoid``, ``Tanh`` (the last two on the output only), ``Identity``,
        ``Dropout`` (eval), ``Flatten``, ``Unflatten``, nearest ``Upsample``, the functional forms
        (``F.relu``, ``torch.sigmoid``, ...) and ``x.view``/``reshape``/``flatten``; nested containers
        and custom modules (e.g. the PyTorch DCGAN tutorial's ``Generator``) are traced through.
        Consecutive affine maps are composed. Anything else (a residual addition, a concatenation,
        groups or dilation > 1, an unsupported module) raises a ``ValueError`` naming the operation
        and its module path or fx node.

        Parameters
        ----------
        module : torch.nn.Module
        input_shape : tuple of int, optional
            The per-sample shape of the module's input, e.g. ``(100, 1, 1)``. By default the first
            layer decides: ``(in_features,)`` for a Linear, ``(C_in, 1, 1)`` for a convolution (a
            DCGAN latent). G itself always takes flat latents of size ``prod(input_shape)`` and returns
            flat outputs (the module's output flattened in C order).
        """
        from ._torch import module_to_layers

        weights, biases, acts = module_to_layers(module, input_shape)
        return cls(weights, biases, acts)

    # ------------------------------------------------------------------ files
    def save(self, path):
        """Write the network to ``path`` (.npz; no pickles). ``ReLUNet.load`` reads it back exactly.

        The format is described in :mod:`layerinv.io`.
        """
        from .io import save_net

        save_net(path, self)

    @classmethod
    def load(cls, path):
        """Read a network written by :meth:`save`.

        Files are untrusted input: nothing is unpickled, sizes are checked before anything is
        allocated, and a corrupt or foreign file raises a ``ValueError`` naming the file and what is
        wrong (:func:`layerinv.io.load_net`).
        """
        from .io import load_net

        return load_net(path, cls)
