"""Elementwise activations and their maths, in one place.

Every question the inversion code asks about an activation is a method or property of
:class:`Activation`; no other module branches on an activation's name. The five kinds:

============  ===========  ==============  ============  ================================
name          range        piecewise       kink at 0     an output tells
============  ===========  ==============  ============  ================================
relu          [0, inf)     linear          yes           ``x > 0``: ``u = x``; ``x = 0``: only ``u <= 0``
leaky_relu    (-inf, inf)  linear          yes           ``u = x`` or ``x / slope``
identity      (-inf, inf)  linear          no            ``u = x``
sigmoid       (0, 1)       smooth          no            ``u = logit(x)``
tanh          (-1, 1)      smooth          no            ``u = atanh(x)``
============  ===========  ==============  ============  ================================

Only ReLU has an *inactive region*: an output of 0 does not pin the pre-activation, it only
says ``u <= 0`` (an inequality row in the layer's system). Hidden layers must be ReLU or
LeakyReLU; identity, sigmoid and tanh are allowed on the last layer only.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

__all__ = ["Activation", "NAMES", "HIDDEN_NAMES"]

_CLIP = 1e-12  # sigmoid / tanh outputs are clipped this far inside the open range before inversion


def _logit(p):
    return np.log(p) - np.log1p(-p)


def _none(x):
    return np.zeros(np.shape(x), dtype=bool)


# ---------------------------------------------------------------------------------- the five kinds
# One class per kind holds its maths (static methods taking the slope); Activation delegates to them.
class _Kind:
    range = (-np.inf, np.inf)
    piecewise_linear = kinked = inactive_region = hidden = identity = sloped = False

    @staticmethod
    def inverse(slope, x):
        return x

    @staticmethod
    def linearise(slope, x):
        return x, np.ones(np.shape(x))

    @staticmethod
    def equation_rows(slope, x, b):
        return None, x - b

    @staticmethod
    def undetermined(slope, x, delta):
        return _none(x)

    @classmethod
    def outside_range(cls, x, delta):
        lo, hi = cls.range
        if np.isinf(lo) and np.isinf(hi):
            return np.arange(0)
        return np.flatnonzero((x <= lo - delta) | (x >= hi + delta))  # an open range: its ends are outside


class _ReLU(_Kind):
    range = (0.0, np.inf)
    piecewise_linear = kinked = inactive_region = hidden = True

    @staticmethod
    def forward(slope, u):
        return np.maximum(u, 0.0)

    @staticmethod
    def derivative(slope, u):
        return (u > 0).astype(float)

    @staticmethod
    def torch(torch, slope, u):
        return torch.relu(u)

    @staticmethod
    def inverse_interval(slope, lo, hi):
        return np.where(lo > 0, lo, -np.inf), hi.copy(), hi < 0

    @staticmethod
    def undetermined(slope, x, delta):
        return x <= delta

    @classmethod
    def outside_range(cls, x, delta):
        return np.flatnonzero(x < cls.range[0] - delta)  # closed at 0


class _LeakyReLU(_Kind):
    piecewise_linear = kinked = hidden = sloped = True

    @staticmethod
    def forward(slope, u):
        return np.where(u >= 0, u, slope * u)

    @staticmethod
    def derivative(slope, u):
        return np.where(u >= 0, 1.0, slope)

    @staticmethod
    def torch(torch, slope, u):
        return torch.nn.functional.leaky_relu(u, slope)

    @staticmethod
    def inverse(slope, x):
        return np.where(x >= 0, x, x / slope)

    @staticmethod
    def linearise(slope, x):
        return np.where(x >= 0, x, x / slope), np.where(x >= 0, 1.0, slope)

    @staticmethod
    def equation_rows(slope, x, b):
        d = np.where(x >= 0, 1.0, slope)
        return d, x - d * b

    @staticmethod
    def inverse_interval(slope, lo, hi):
        return np.where(lo >= 0, lo, lo / slope), np.where(hi >= 0, hi, hi / slope), _none(lo)

    @staticmethod
    def undetermined(slope, x, delta):
        return np.abs(x) <= delta


class _Identity(_Kind):
    piecewise_linear = identity = True

    @staticmethod
    def forward(slope, u):
        return u

    @staticmethod
    def derivative(slope, u):
        return np.ones_like(u)

    @staticmethod
    def torch(torch, slope, u):
        return u

    @staticmethod
    def inverse_interval(slope, lo, hi):
        return lo.copy(), hi.copy(), _none(lo)


class _Smooth(_Kind):
    """Sigmoid and tanh: strictly increasing, open range ``(a, b)``, inverted by ``_finv``."""

    @classmethod
    def inverse(cls, slope, x):
        return cls._finv(np.clip(x, cls.range[0] + _CLIP, cls.range[1] - _CLIP))

    @classmethod
    def equation_rows(cls, slope, x, b):  # logit / atanh, rows scaled by the derivative
        u, d = cls.linearise(slope, x)
        return d, d * (u - b)

    @classmethod
    def inverse_interval(cls, slope, lo, hi):
        a, b = cls.range
        f = cls._finv
        empty = (hi <= a) | (lo >= b)
        ul = np.where(lo <= a, -np.inf, f(np.clip(lo, np.nextafter(a, b), np.nextafter(b, a))))
        uh = np.where(hi >= b, np.inf, f(np.clip(hi, np.nextafter(a, b), np.nextafter(b, a))))
        return ul, uh, empty


class _Sigmoid(_Smooth):
    range = (0.0, 1.0)
    _finv = staticmethod(_logit)

    @staticmethod
    def forward(slope, u):
        return 0.5 * (1.0 + np.tanh(0.5 * u))  # overflow-free logistic

    @staticmethod
    def derivative(slope, u):
        s = _Sigmoid.forward(slope, u)
        return s * (1 - s)

    @staticmethod
    def torch(torch, slope, u):
        return torch.sigmoid(u)

    @staticmethod
    def linearise(slope, x):
        p = np.clip(x, _CLIP, 1 - _CLIP)
        return _logit(p), p * (1 - p)


class _Tanh(_Smooth):
    range = (-1.0, 1.0)
    _finv = staticmethod(np.arctanh)

    @staticmethod
    def forward(slope, u):
        return np.tanh(u)

    @staticmethod
    def derivative(slope, u):
        return 1 - np.tanh(u) ** 2

    @staticmethod
    def torch(torch, slope, u):
        return torch.tanh(u)

    @staticmethod
    def linearise(slope, x):
        p = np.clip(x, -1 + _CLIP, 1 - _CLIP)
        return np.arctanh(p), 1 - p * p


_KINDS = {"relu": _ReLU, "leaky_relu": _LeakyReLU, "identity": _Identity, "sigmoid": _Sigmoid, "tanh": _Tanh}
NAMES = tuple(_KINDS)
HIDDEN_NAMES = tuple(name for name, kind in _KINDS.items() if kind.hidden)
_SLOPED = tuple(name for name, kind in _KINDS.items() if kind.sloped)  # spelled (name, slope)


def _flag(attr, doc):
    """A read-only property answering a yes/no question about the activation's kind."""
    return property(lambda self: getattr(self._kind, attr), doc=doc)


@dataclass(frozen=True)
class Activation:
    """An elementwise activation: ``relu``, ``leaky_relu`` (with ``slope``), ``identity``,
    ``sigmoid`` or ``tanh``. Build one with :meth:`parse`; see the module docstring for the maths."""

    name: str
    slope: float = 0.0

    @property
    def _kind(self):
        return _KINDS[self.name]

    # ------------------------------------------------------------------ forward and slope
    def __call__(self, u):
        """The activation applied elementwise to a NumPy array."""
        return self._kind.forward(self.slope, u)

    def derivative(self, u):
        """``d act / du`` elementwise (ReLU: 0 at ``u = 0``; LeakyReLU: 1 at ``u = 0``)."""
        return self._kind.derivative(self.slope, u)

    def torch(self, u):
        """The activation applied to a torch tensor (torch is imported here, lazily)."""
        import torch  # noqa: PLC0415 - only the gradient baselines need it

        return self._kind.torch(torch, self.slope, u)

    # ------------------------------------------------------------------ kind
    @property
    def range(self):
        """``(lo, hi)``: the outputs' range (closed at 0 for ReLU, open for sigmoid and tanh)."""
        return self._kind.range

    @property
    def nonnegative(self):
        """True when every output of this activation is >= 0 (the next layer's input is h >= 0)."""
        return self.range[0] >= 0.0

    piecewise_linear = _flag("piecewise_linear", "ReLU, LeakyReLU and identity: the net is exactly affine on each "
                             "activation pattern.")
    kinked = _flag("kinked", "ReLU and LeakyReLU: two linear pieces meeting at 0 (a MILP needs a binary per unit "
                   "whose pre-activation straddles 0).")
    is_identity = _flag("identity", "The identity (no activation).")
    has_inactive_region = _flag("inactive_region", "ReLU only: an output of 0 says only ``u <= 0`` (an inequality "
                                "row), not ``u``.")
    hidden_ok = _flag("hidden", "Whether the activation may be used on a hidden layer (ReLU, LeakyReLU).")

    @property
    def negative_slope(self):
        """Slope of the piece below 0 for a kinked activation (ReLU: 0, LeakyReLU: ``slope``)."""
        return float(self.derivative(np.array(-1.0))) if self.kinked else 0.0

    # ------------------------------------------------------------------ inverse maps
    def inverse(self, x):
        """Pre-activation of an output on the range: logit / atanh (clipped ``1e-12`` inside the
        open range) for sigmoid / tanh, ``x / slope`` below 0 for LeakyReLU, ``x`` otherwise
        (for ReLU that is the active part only: an output 0 says just ``u <= 0``)."""
        return self._kind.inverse(self.slope, x)

    def linearise(self, x):
        """``(u, d)``: the pre-activation ``u = inverse(x)`` and the slope ``d = act'(u)`` written
        in terms of the (clipped) output, e.g. ``p (1 - p)`` for sigmoid. A residual ``d (W h + b - u)``
        is then measured in output units."""
        return self._kind.linearise(self.slope, x)

    def equation_rows(self, x, b):
        """Row scales and right-hand sides of the equation rows ``d * (W h) ~ c`` for target ``x``,
        measured in output units: ``(d, c)``, ``d`` None when every row is unscaled. For ReLU these
        are the active rows' (``c = x - b``); its inactive rows are inequalities, see
        :attr:`has_inactive_region`."""
        return self._kind.equation_rows(self.slope, x, b)

    def inverse_interval(self, lo, hi):
        """``act^-1([lo, hi])`` elementwise (monotone activations): ``(u_lo, u_hi, empty)``, where
        ``empty`` marks entries whose interval misses the range altogether."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._kind.inverse_interval(self.slope, lo, hi)

    # ------------------------------------------------------------------ images and tests on outputs
    def interval(self, lo, hi):
        """Image of the box ``[lo, hi]`` (monotone activations): ``(act(lo), act(hi))``."""
        return self(lo), self(hi)

    def outside_range(self, x, delta):
        """Indices of entries of ``x`` outside the range by more than ``delta`` (ReLU's range is
        closed at 0; sigmoid's and tanh's are open, so their bounds themselves are outside)."""
        return self._kind.outside_range(x, delta)

    def undetermined(self, x, delta):
        """Mask of outputs whose linear piece is not determined within ``delta``: for ReLU a target
        ``<= delta`` may come from an inactive unit, for LeakyReLU ``|x| <= delta`` leaves the slope
        open; nothing for the other activations."""
        return self._kind.undetermined(self.slope, x, delta)

    # ------------------------------------------------------------------ construction
    def spec(self):
        """The constructor form: ``"relu"`` or ``("leaky_relu", slope)``."""
        return (self.name, self.slope) if self._kind.sloped else self.name

    @classmethod
    def from_record(cls, name, slope, where="activation", last=True):
        """Rebuild from the stored ``(name, slope)`` pair (as :meth:`ReLUNet.save` writes it)."""
        return cls.parse((name, slope) if name in _SLOPED else name, where, last)

    @classmethod
    def parse(cls, spec, where="activation", last=True):
        """An :class:`Activation` from ``"relu"``, ``("leaky_relu", slope)``, ``"identity"``,
        ``"sigmoid"``, ``"tanh"`` or an Activation; ``last=False`` allows hidden-layer kinds only."""
        allowed = NAMES if last else HIDDEN_NAMES
        if isinstance(spec, Activation):
            spec = spec.spec()
        if isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[0], str) and spec[0] in _SLOPED:
            slope = spec[1]
            if isinstance(slope, bool) or not isinstance(slope, numbers.Real) or not (0 < slope < 1):
                raise ValueError(f"{where}: the {spec[0]} slope must be a number in (0, 1); got {slope!r}.")
            return cls(spec[0], float(slope))
        if isinstance(spec, str) and spec in allowed and spec not in _SLOPED:
            return cls(spec)
        hint = ' ("identity", "sigmoid" and "tanh" are allowed on the last layer only)' if not last else ""
        raise ValueError(
            f"{where} must be one of {', '.join(repr(a) for a in allowed if a not in _SLOPED)} "
            f"or ('leaky_relu', slope){hint}; got {spec!r}."
        )
