"""Conversion of PyTorch modules to layer lists by tracing them with ``torch.fx`` (torch imported lazily).

The module's forward must be a chain: one input, every operation consuming the previous one's
result, one output. The affine operations between two activations (Linear, Conv2d,
ConvTranspose2d, eval-mode BatchNorm1d/2d, nearest Upsample) are composed into one linear map
(``layerinv.linear_maps``); reshapes (Flatten, Unflatten, view, reshape, flatten) are the identity on
flat vectors and only change the per-sample shape tracked for the next convolution. Anything else
raises a ``ValueError`` naming the operation and its fx node or module path.
"""
from __future__ import annotations

import operator

import numpy as np

from . import linear_maps as lm
from .activations import Activation

_BATCH = "batch"  # the symbolic batch size in shape queries (x.size(0), x.shape[0])
_SUPPORTED = ("Linear, Conv2d, ConvTranspose2d (groups 1, dilation 1), BatchNorm1d/2d (eval), ReLU, LeakyReLU, "
              "Sigmoid, Tanh, Identity, Dropout (eval), Flatten, Unflatten, Upsample (nearest), "
              "F.relu/leaky_relu/sigmoid/tanh/interpolate (nearest), torch.flatten/reshape, x.view/reshape/flatten")


def require_torch(what):
    """The ``torch`` module, or an ImportError saying that ``what`` needs PyTorch and how to get it."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is installed wherever the tests run
        raise ImportError(f"{what} needs PyTorch: pip install torch==2.13.0 (CPU build)") from None
    return torch


def _np(t):
    return t.detach().cpu().double().numpy()


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def module_to_layers(module, input_shape=None):
    """Return ``(maps, biases, activations)`` for a module whose forward is a chain of supported layers."""
    torch = require_torch("ReLUNet.from_torch")
    import torch.fx

    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}.")
    try:
        graph = torch.fx.symbolic_trace(module).graph
    except Exception as exc:  # torch.fx raises many types; the user needs the reason, not the traceback
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ValueError(f"module {type(module).__name__} could not be traced with torch.fx ({type(exc).__name__}: "
                         f"{reason}); ReLUNet.from_torch needs a forward that is a fixed chain of layers, without "
                         "control flow that depends on the input.") from None
    chain = _Chain(torch, module, input_shape)
    for node in graph.nodes:
        chain.visit(node)
    return chain.finish()


class _Chain:
    """Walks an fx graph in order, tracking the current tensor, its per-sample shape and the affine
    map being built since the last activation."""

    def __init__(self, torch, module, input_shape):
        self.torch, self.module = torch, module
        if input_shape is not None:
            input_shape = lm._shape(tuple(input_shape) if isinstance(input_shape, list) else input_shape,
                                    "input_shape")
        self.shape = input_shape      # per-sample shape of the current tensor (None: not known yet)
        self.cur = None               # fx node holding the current tensor
        self.shapes = {}              # chain node -> its per-sample shape (for shape queries)
        self.meta = {}                # shape-query nodes -> their values
        self.pending = None           # (map, bias, where) of the affine map since the last activation
        self.layers = []              # [map, bias, activation spec, where]

    # ------------------------------------------------------------------ graph walk
    def visit(self, node):
        if node.op == "placeholder":
            if self.cur is None:
                self.cur = node
                self.shapes[node] = self.shape
            elif node.users:
                raise ValueError(f"forward takes a second input {node.name!r}; ReLUNet.from_torch needs a "
                                 "single input (the latent).")
            return
        if node.op == "get_attr":
            return  # a parameter used directly: the operation consuming it is refused below
        if node.op == "output":
            if node.args[0] is not self.cur:
                raise ValueError(f"forward must return the result of its chain of layers as one tensor; it returns "
                                 f"{node.args[0]!r}.")
            return
        if self._shape_query(node):
            return
        where = self._where(node)
        tensors = [n for n in node.all_input_nodes if n not in self.meta]
        if len(tensors) != 1 or tensors[0] is not self.cur:
            names = ", ".join(repr(n.name) for n in tensors) or "none"
            raise ValueError(f"{where} takes the tensors {names}, not only the previous result {self.cur.name!r}: "
                             "ReLUNet.from_torch needs a chain of single-input operations (residual additions, "
                             "concatenations, parameters used in forward and other branches cannot be represented).")
        users = [u for u in self.cur.users if not self._is_query(u)]
        for u in users:
            merged = [n for n in u.all_input_nodes if n.op != "get_attr" and not self._is_query(n)]
            if len(merged) > 1 and u.op != "call_module":
                raise ValueError(f"{self._where(u)} combines the tensors {', '.join(repr(n.name) for n in merged)} "
                                 "(a residual connection, concatenation or product); ReLUNet.from_torch needs a "
                                 "chain of single-input operations.")
        if len(users) > 1:
            raise ValueError(f"the result of node {self.cur.name!r} is used by {len(users)} operations "
                             f"({', '.join(repr(u.name) for u in users)}): a branch; ReLUNet.from_torch needs a chain.")
        if node.op == "call_module":
            self._module(node, self.module.get_submodule(node.target), where)
        elif node.op == "call_function":
            self._function(node, where)
        else:
            self._method(node, where)
        self.cur = node
        self.shapes[node] = self.shape

    def _where(self, node):
        if node.op == "call_module":
            return f"module {node.target!r} ({type(self.module.get_submodule(node.target)).__name__})"
        name = getattr(node.target, "__name__", str(node.target))
        kind = "function" if node.op == "call_function" else "method"
        return f"{kind} {name!r} at node {node.name!r}"

    def _is_query(self, node):
        """x.size(...), x.dim(), x.shape and indexing into them: shape queries, not tensors."""
        t = node.target
        if node.op == "call_function" and t is operator.getitem and isinstance(node.args[0], type(node)):
            return self._is_query(node.args[0])
        return ((node.op == "call_method" and t in ("size", "dim"))
                or (node.op == "call_function" and t is getattr and node.args[1] == "shape"))

    def _shape_query(self, node):
        """Evaluate x.size(), x.size(d), x.dim(), x.shape, x.shape[d] and getitem on them."""
        if node.op == "call_function" and node.target is operator.getitem and self._is_query(node):
            value = self.meta[node.args[0]]
            if not isinstance(value, tuple) or not isinstance(node.args[1], (int, slice)):
                raise ValueError(f"shape query {node.name!r} indexes {value!r} with {node.args[1]!r}.")
            self.meta[node] = value[node.args[1]]
            return True
        if not self._is_query(node):
            return False
        if node.args[0] not in self.shapes:
            raise ValueError(f"shape query {node.name!r} reads {node.args[0].name!r}, which is not in the chain of "
                             "layers.")
        shape = self.shapes[node.args[0]] if node.args[0] is not self.cur else self.shape
        full = None if shape is None else (_BATCH,) + shape
        if node.target == "dim":
            if full is None:
                raise ValueError(f"{node.name!r} asks for the input's rank; pass input_shape=... to from_torch.")
            self.meta[node] = len(full)
            return True
        dims = [a for a in node.args[1:]] + list(node.kwargs.values())
        if dims:
            d = dims[0]
            if d == 0:
                self.meta[node] = _BATCH
                return True
            if full is None:
                raise ValueError(f"{node.name!r} asks for a size of the input; pass input_shape=... to from_torch.")
            self.meta[node] = full[d]
            return True
        if full is None:
            raise ValueError(f"{node.name!r} asks for the input's shape; pass input_shape=... to from_torch.")
        self.meta[node] = full
        return True

    # ------------------------------------------------------------------ layer kinds
    def _module(self, node, m, where):
        nn = self.torch.nn
        if len(node.args) != 1 or node.kwargs:
            raise ValueError(f"{where} is called with extra arguments; only m(x) is supported.")
        if isinstance(m, nn.Linear):
            self._need_flat(m.in_features, where)
            bias = _np(m.bias) if m.bias is not None else np.zeros(m.out_features)
            self._affine(lm.Dense(_np(m.weight)), bias, where)
        elif isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            self._conv(m, where)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            self._batchnorm(m, where)
        elif isinstance(m, (nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh)):
            slope = m.negative_slope if isinstance(m, nn.LeakyReLU) else None
            self._activate(type(m).__name__.lower().replace("leakyrelu", "leaky_relu"), slope, where)
        elif isinstance(m, nn.Identity):
            pass
        elif isinstance(m, (nn.Dropout, nn.Dropout1d, nn.Dropout2d)):
            if m.training:
                raise ValueError(f"{where} is in training mode; call module.eval() so that dropout is the identity.")
        elif isinstance(m, nn.Flatten):
            self._flatten(m.start_dim, m.end_dim, where)
        elif isinstance(m, nn.Unflatten):
            self._unflatten(m.dim, tuple(m.unflattened_size), where)
        elif isinstance(m, nn.Upsample):
            self._upsample(m, m.mode, where)
        else:
            raise ValueError(f"{where} is not supported; ReLUNet.from_torch accepts {_SUPPORTED}.")

    def _function(self, node, where):
        torch, F = self.torch, self.torch.nn.functional
        f, args, kw = node.target, node.args[1:], dict(node.kwargs)
        if f in (F.relu, torch.relu, F.relu_, torch.relu_):
            self._activate("relu", None, where)
        elif f in (F.leaky_relu, F.leaky_relu_):
            self._activate("leaky_relu", args[0] if args else kw.get("negative_slope", 0.01), where)
        elif f in (torch.sigmoid, F.sigmoid):
            self._activate("sigmoid", None, where)
        elif f in (torch.tanh, F.tanh):
            self._activate("tanh", None, where)
        elif f is torch.flatten:
            full = list(args) + [kw.get("start_dim", 0), kw.get("end_dim", -1)][len(args):]
            self._flatten(full[0], full[1], where)
        elif f is torch.reshape:
            self._reshape(args[0] if args else kw["shape"], where)
        elif f is F.interpolate:
            mode = (list(args) + [None, None, "nearest"])[2] if len(args) >= 3 else kw.get("mode", "nearest")
            self._upsample(lambda x: F.interpolate(x, *args, **kw), mode, where)
        else:
            raise ValueError(f"{where} is not supported; ReLUNet.from_torch accepts {_SUPPORTED}.")

    def _method(self, node, where):
        name, args, kw = node.target, node.args[1:], dict(node.kwargs)
        if name in ("relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_") and not args and not kw:
            self._activate(name.rstrip("_"), None, where)
        elif name in ("view", "reshape"):
            self._reshape(args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args, where)
        elif name == "flatten":
            full = list(args) + [kw.get("start_dim", 0), kw.get("end_dim", -1)][len(args):]
            self._flatten(full[0], full[1], where)
        elif name == "contiguous":
            pass
        else:
            raise ValueError(f"{where} is not supported; ReLUNet.from_torch accepts {_SUPPORTED}.")

    # ------------------------------------------------------------------ affine parts
    def _affine(self, A, bias, where):
        if self.pending is None:
            self.pending = (A, bias, where)
        else:
            B, c, w = self.pending
            self.pending = (lm.compose(A, B), A.matvec(c) + bias, f"{w} + {where}")
        self.shape = A.out_shape

    def _need_flat(self, n, where):
        if self.shape is None:
            self.shape = (n,)
        if len(self.shape) != 1:
            raise ValueError(f"{where} receives a tensor of per-sample shape {self.shape}; flatten it first "
                             "(nn.Flatten() or x.flatten(1)).")
        if self.shape[0] != n:
            raise ValueError(f"{where} expects {n} input features; it receives {self.shape[0]}.")

    def _conv(self, m, where):
        transposed = isinstance(m, self.torch.nn.ConvTranspose2d)
        if m.groups != 1 or tuple(m.dilation) != (1, 1) or m.padding_mode != "zeros":
            raise ValueError(f"{where} has groups={m.groups}, dilation={tuple(m.dilation)}, padding_mode="
                             f"{m.padding_mode!r}; only groups=1, dilation=1 and zero padding are supported.")
        padding = m.padding
        if isinstance(padding, str):
            k = tuple(m.kernel_size)
            if padding == "same" and all(x % 2 == 1 for x in k):
                padding = tuple((x - 1) // 2 for x in k)
            elif padding == "valid":
                padding = (0, 0)
            else:
                raise ValueError(f"{where} has padding={padding!r} with kernel {k}; only 'valid', 'same' with odd "
                                 "kernels, or integer padding are supported.")
        if self.shape is None:
            self.shape = (m.in_channels, 1, 1)  # a latent (k,) read as (k, 1, 1), as in DCGAN
        if len(self.shape) != 3 or self.shape[0] != m.in_channels:
            raise ValueError(f"{where} expects inputs of shape ({m.in_channels}, H, W); it receives per-sample "
                             f"shape {self.shape} (use nn.Unflatten, or from_torch(..., input_shape=(C, H, W))).")
        w = _np(m.weight)
        try:
            if transposed:
                A = lm.ConvTranspose2d(w, tuple(m.stride), padding, tuple(m.output_padding), self.shape)
            else:
                A = lm.Conv2d(w, tuple(m.stride), padding, self.shape)
        except ValueError as exc:
            hint = " (pass input_shape=(C, H, W) to from_torch if the input is an image)" if "empty" in str(exc) else ""
            raise ValueError(f"{where}: {exc}{hint}") from None
        per_channel = _np(m.bias) if m.bias is not None else np.zeros(A.out_shape[0])
        self._affine(A, np.repeat(per_channel, A.n_out // A.out_shape[0]), where)

    def _batchnorm(self, m, where):
        if m.training:
            raise ValueError(f"{where} is in training mode; call module.eval() so that it uses its running "
                             "statistics and can be folded into the neighbouring affine map.")
        if m.running_mean is None:
            raise ValueError(f"{where} has no running statistics (track_running_stats=False) and normalises with "
                             "batch statistics, which is not an affine map of one sample.")
        two_d = isinstance(m, self.torch.nn.BatchNorm2d)
        if self.shape is None and not two_d:
            self.shape = (m.num_features,)
        if (self.shape is None or self.shape[0] != m.num_features
                or (len(self.shape) != 3 if two_d else len(self.shape) > 2)):
            raise ValueError(f"{where} expects {m.num_features} channels and a per-sample rank of "
                             f"{'3' if two_d else '1 or 2'}; it receives per-sample shape {self.shape}.")
        rep = int(np.prod(self.shape[1:]))
        scale = 1.0 / np.sqrt(_np(m.running_var) + m.eps)
        shift = np.zeros(m.num_features)
        if m.affine:
            scale = scale * _np(m.weight)
            shift = _np(m.bias)
        scale, mean, shift = (np.repeat(v, rep) for v in (scale, _np(m.running_mean), shift))
        D = lm.Diagonal(scale, self.shape)
        if self.pending is None:
            self.pending = (D, (np.zeros(D.n_in) - mean) * scale + shift, where)
        else:
            A, b, w = self.pending
            self.pending = (lm.compose(D, A), (b - mean) * scale + shift, f"{w} + {where}")

    def _upsample(self, fn, mode, where):
        if mode not in ("nearest", "nearest-exact"):
            raise ValueError(f"{where} has mode={mode!r}; only nearest upsampling is supported.")
        if self.shape is None or len(self.shape) != 3:
            raise ValueError(f"{where} needs (C, H, W) images; it receives per-sample shape {self.shape}.")
        C, H, W = self.shape
        probe = self.torch.arange(H * W, dtype=self.torch.float64).reshape(1, 1, H, W)
        try:
            with self.torch.no_grad():
                out = fn(probe)
        except Exception as exc:  # torch's own argument errors, reported without its traceback
            raise ValueError(f"{where} fails on an image of shape {self.shape} "
                             f"({type(exc).__name__}: {exc}).") from None
        if out.dim() != 4 or tuple(out.shape[:2]) != (1, 1):
            raise ValueError(f"{where} does not resize (C, H, W) images channel by channel.")
        index = _np(out).ravel()
        U = lm.Upsample(index.astype(np.int64), self.shape, tuple(out.shape[2:]))
        self._affine(U, np.zeros(U.n_out), where)

    def _activate(self, name, slope, where):
        if self.pending is None:
            raise ValueError(f"{where} must follow an affine layer (Linear, Conv2d, ConvTranspose2d, BatchNorm, "
                             "Upsample); two activations in a row, or an activation first, cannot be represented.")
        if name == "leaky_relu" and not (isinstance(slope, (int, float)) and 0 < slope < 1):
            raise ValueError(f"{where} has negative_slope={slope!r}; ReLUNet needs a slope in (0, 1).")
        A, b, w = self.pending
        self.layers.append([A, b, ("leaky_relu", float(slope)) if name == "leaky_relu" else name, f"{w} + {where}"])
        self.pending = None

    # ------------------------------------------------------------------ reshapes
    def _reshape(self, sizes, where):
        sizes = [self.meta.get(s, s) if not isinstance(s, (int, str)) else s for s in sizes]
        if not sizes or sizes[0] not in (_BATCH, -1) or not all(_is_int(s) for s in sizes[1:]):
            raise ValueError(f"{where} reshapes to {sizes}; the first size must be the batch (x.size(0) or -1) and "
                             "the others integers.")
        rest = [int(s) for s in sizes[1:]]
        if rest.count(-1) > (0 if sizes[0] == -1 else 1) or any(s < -1 or s == 0 for s in rest):
            raise ValueError(f"{where} reshapes to {sizes}, which does not keep the batch dimension first.")
        if self.shape is None:
            if -1 in rest:
                raise ValueError(f"{where} reshapes an input of unknown size; pass input_shape=... to from_torch.")
            self.shape = tuple(rest)
            return
        n = int(np.prod(self.shape))
        if -1 in rest:
            known = int(np.prod([s for s in rest if s != -1]))
            rest[rest.index(-1)] = n // known if n % known == 0 else -1
        if int(np.prod(rest)) != n or min(rest) < 1:
            raise ValueError(f"{where} reshapes per-sample shape {self.shape} to {tuple(sizes[1:])}, which does not "
                             "keep each sample's entries together.")
        self.shape = tuple(rest)

    def _flatten(self, start, end, where):
        if self.shape is None:
            if start == 1 and end == -1:
                return  # flat already, size set by the next layer
            raise ValueError(f"{where} flattens an input of unknown shape; pass input_shape=... to from_torch.")
        nb = len(self.shape) + 1
        start, end = start % nb, end % nb
        if start == 0:
            raise ValueError(f"{where} flattens the batch dimension (start_dim=0); use start_dim=1.")
        if end < start:
            raise ValueError(f"{where} has end_dim before start_dim.")
        s = self.shape
        self.shape = s[:start - 1] + (int(np.prod(s[start - 1:end])),) + s[end:]

    def _unflatten(self, dim, sizes, where):
        if self.shape is None:
            self.shape = (int(np.prod(sizes)),) if -1 not in sizes else None
        if self.shape is None:
            raise ValueError(f"{where} unflattens an input of unknown size; pass input_shape=... to from_torch.")
        nb = len(self.shape) + 1
        d = dim % nb
        if d == 0:
            raise ValueError(f"{where} unflattens the batch dimension (dim=0).")
        self._reshape([_BATCH] + list(self.shape[:d - 1]) + list(sizes) + list(self.shape[d:]), where)

    # ------------------------------------------------------------------ end
    def finish(self):
        if self.pending is not None:
            A, b, w = self.pending
            if isinstance(A, lm.Upsample) and self.layers and not np.any(b):
                # a gather commutes with the elementwise activation before it: fold it into that layer
                last = self.layers[-1]
                last[0], last[1], last[3] = lm.compose(A, last[0]), A.matvec(last[1]), f"{last[3]} + {w}"
            else:
                self.layers.append([A, b, "identity", w])
        if not self.layers:
            raise ValueError("module holds no affine layer (Linear, Conv2d, ConvTranspose2d, ...).")
        for i, (_, _, act, w) in enumerate(self.layers[:-1]):
            if not Activation.parse(act).hidden_ok:
                raise ValueError(f"hidden layer {i} ({w}) ends in {act!r}; only the last layer may use sigmoid, tanh "
                                 "or no activation (the layer-wise inversion needs ReLU or LeakyReLU inside).")
        maps, biases, acts, _ = zip(*self.layers)
        return list(maps), list(biases), list(acts)
