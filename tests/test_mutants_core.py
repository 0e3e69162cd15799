"""Core behaviours (certificates, the layer-wise driver, gd) that mutation testing found untested
(docs/testing.md, "Mutation testing"); each test was checked to fail on its mutant."""
import numpy as np

import layerinv.lp.kernels as kernels
from layerinv import ReLUNet
from layerinv.certificate import fit_lower_bound


class _Failed:
    """An interior point that fails (numerical trouble): the kernels fall back to HiGHS."""
    status, h, message, bound, steps, vertex = "failed", None, "injected: numerical trouble", None, 0, False


def test_fit_lower_bound_passes_its_time_limit_to_the_lp(monkeypatch):
    """fit_lower_bound(time_limit=...) bounds each layer LP. x is off the range of G but nonnegative (so
    the activation-range gap is 0): with the interior point failing, HiGHS without a limit still certifies
    a positive distance; with a limit it cannot meet, nothing is certified (bound 0), never more."""
    G = ReLUNet.random([3, 8, 40], rng=0)
    rng = np.random.default_rng(0)
    x = G(rng.standard_normal(3)) + 0.2 * np.abs(rng.standard_normal(40))
    free = fit_lower_bound(G, x)
    assert free.bound > 0.0
    monkeypatch.setattr(kernels, "ipm_linf", lambda system, h0=None: _Failed())
    assert fit_lower_bound(G, x).bound > 0.0
    limited = fit_lower_bound(G, x, time_limit=1e-6)
    assert limited.bound == 0.0
