"""Small planted conv decoders shared by the conv-net tests (tests/test_conv_methods.py, tests/test_sparse_lp.py).

Built in torch and converted with ``ReLUNet.from_torch``; the importing test module skips without torch."""
import numpy as np

from layerinv import ReLUNet


def conv_decoder(seed, k, c1, hw, c2, out=1, bias=True, last=None):
    """Linear(k, c1*hw*hw) -> ReLU -> Unflatten -> ConvT(c1, c2, 4, 2, 1) -> ReLU -> ConvT(c2, out, 4, 2, 1) -> ReLU
    (or ``last``), He-initialised (random biases N(0, 0.1^2), or zero biases with ``bias=False``)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    m = nn.Sequential(nn.Linear(k, c1 * hw * hw), nn.ReLU(), nn.Unflatten(1, (c1, hw, hw)),
                      nn.ConvTranspose2d(c1, c2, 4, 2, 1), nn.ReLU(),
                      nn.ConvTranspose2d(c2, out, 4, 2, 1), last if last is not None else nn.ReLU()).double()
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, (nn.Linear, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(mod.weight)
                nn.init.normal_(mod.bias, 0.0, 0.1) if bias else nn.init.zeros_(mod.bias)
    return ReLUNet.from_torch(m.eval())


def expansive(seed):
    """[3, 18, 72, 288]: every layer has 4x more outputs than inputs (the layer-wise path can pin it)."""
    return conv_decoder(seed, 3, 2, 3, 2, out=2)


def shrinking(seed):
    """[6, 128, 512, 256]: the last layer shrinks 8 channels to 1 (the layer-wise path cannot pin it)."""
    return conv_decoder(seed, 6, 8, 4, 8)


def planted(G, seed):
    """A latent z* (seeded by ``seed``) and x = G(z*)."""
    z = np.random.default_rng(1000 + seed).standard_normal(G.k)
    return z, G(z)


def rel(a, b):
    """||a - b|| / ||b||."""
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))
