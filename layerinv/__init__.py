"""layerinv: invert deep ReLU generative models one layer at a time (Lei, Jalal, Dhillon & Dimakis 2019)."""
from .network import ReLUNet
from .invert import invert
from .recover import recover
from .ops import GaussianCS, Identity, Inpainting, LinearOperator, PhaseRetrieval
from .result import Result, STATUSES
from .certificate import Certificate

__all__ = ["ReLUNet", "invert", "recover", "Identity", "Inpainting", "GaussianCS", "LinearOperator",
           "PhaseRetrieval", "Result", "STATUSES", "Certificate"]
__version__ = "0.1.0"
