"""layerinv: invert deep ReLU generative models one layer at a time (Lei, Jalal, Dhillon & Dimakis 2019)."""
from .network import ReLUNet
from .invert import invert
from .result import Result, STATUSES
from .certificate import Certificate

__all__ = ["ReLUNet", "invert", "Result", "STATUSES", "Certificate"]
__version__ = "0.1.0"
