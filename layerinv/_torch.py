"""Conversion of PyTorch modules to layer lists (torch is imported lazily)."""
from __future__ import annotations

import numpy as np

from .activations import Activation



def require_torch(what):
    """The ``torch`` module, or an ImportError saying that ``what`` needs PyTorch and how to get it."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is installed wherever the tests run
        raise ImportError(f"{what} needs PyTorch: pip install torch==2.13.0 (CPU build)") from None
    return torch


_ACTS = {"ReLU": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh"}


def _flatten(module):
    import torch.nn as nn

    if isinstance(module, nn.Sequential):
        for name, child in module.named_children():
            for sub_name, sub in _flatten(child):
                yield (f"{name}.{sub_name}" if sub_name else name), sub
    else:
        yield "", module


def sequential_to_layers(module):
    """Return ``(weights, biases, activations)`` for an ``nn.Sequential`` generator."""
    try:
        import torch.nn as nn
    except ImportError:  # pragma: no cover
        raise ImportError("ReLUNet.from_torch needs PyTorch: pip install torch") from None
    if not isinstance(module, nn.Sequential):
        raise TypeError(f"module must be a torch.nn.Sequential; got {type(module).__name__}. "
                        "Wrap your layers: nn.Sequential(nn.Linear(...), nn.ReLU(), ...).")
    weights, biases, acts = [], [], []
    pending = None  # (W, b) of the affine map being built
    for name, m in _flatten(module):
        where = f"layer {name!r} ({type(m).__name__})"
        if isinstance(m, nn.Linear):
            W = m.weight.detach().cpu().double().numpy()
            b = (m.bias.detach().cpu().double().numpy() if m.bias is not None else np.zeros(W.shape[0]))
            if pending is not None:  # compose consecutive affine maps
                W, b = W @ pending[0], W @ pending[1] + b
            pending = (W, b)
        elif isinstance(m, nn.BatchNorm1d):
            if m.training:
                raise TypeError(f"{where} is in training mode; call module.eval() so that BatchNorm1d uses "
                                "its running statistics and can be folded into the preceding Linear.")
            if pending is None:
                raise TypeError(f"{where} must follow a Linear layer to be folded into it.")
            if m.running_mean is None:
                raise TypeError(f"{where} has no running statistics (track_running_stats=False).")
            mean = m.running_mean.detach().cpu().double().numpy()
            var = m.running_var.detach().cpu().double().numpy()
            scale = 1.0 / np.sqrt(var + m.eps)
            if m.affine:
                scale = scale * m.weight.detach().cpu().double().numpy()
                shift = m.bias.detach().cpu().double().numpy()
            else:
                shift = 0.0
            pending = (pending[0] * scale[:, None], (pending[1] - mean) * scale + shift)
        elif isinstance(m, (nn.Identity,)) or (isinstance(m, nn.Dropout) and not m.training):
            continue
        elif isinstance(m, (nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh)):
            if pending is None:
                raise TypeError(f"{where} must follow a Linear layer; two activations in a row, or an "
                                "activation first, cannot be represented.")
            act = ("leaky_relu", float(m.negative_slope)) if isinstance(m, nn.LeakyReLU) else _ACTS[type(m).__name__]
            weights.append(pending[0])
            biases.append(pending[1])
            acts.append(act)
            pending = None
        else:
            raise TypeError(f"{where} is not supported: ReLUNet.from_torch accepts Linear, ReLU, LeakyReLU, "
                            "Sigmoid, Tanh, Identity, Dropout (eval) and BatchNorm1d (eval).")
    if pending is not None:
        weights.append(pending[0])
        biases.append(pending[1])
        acts.append("identity")
    if not weights:
        raise TypeError("module holds no Linear layer.")
    for i, a in enumerate(acts[:-1]):
        if not Activation.parse(a).hidden_ok:
            raise TypeError(f"hidden layer {i} ends in {a!r}; only the last layer may use sigmoid, tanh or no "
                            "activation (the layer-wise inversion needs ReLU or LeakyReLU inside).")
    return weights, biases, acts
