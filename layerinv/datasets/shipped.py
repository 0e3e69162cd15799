"""Files shipped with layerinv (``layerinv/datasets/data/``) and the paper's reference decoders.

* :func:`load_mnist_generator`: the trained MNIST decoders (``"dense"`` 20 -> 60 -> 784 ReLU,
  ``"conv"`` transposed convolutions, ``"legacy"`` the first shipped dense one);
* :func:`load_mnist_test_digits`: the 100 real digits held out of its training
  (:func:`save_test_digits` writes that file);
* :func:`load_reference_decoder`: one of Lei et al.'s published decoders, converted to .npz.

Every file goes through :mod:`layerinv.io` (no pickles, sizes checked before allocating).
"""
from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import numpy as np

from .._checks import as_float_array
from ..io import load_net, read_npz, write_npz
from ..network import ReLUNet

__all__ = ["load_mnist_generator", "load_mnist_test_digits", "save_test_digits", "load_reference_decoder"]

#: ``load_mnist_generator`` name -> file in ``layerinv/datasets/data/``.
GENERATORS = {"dense": "mnist_dense_20_60_784.npz", "conv": "mnist_conv_20.npz", "legacy": "mnist_vae_20_60_784.npz"}
_TEST_DIGITS_FILE = "mnist_test_digits.npz"
_TEST_DIGITS_FORMAT = "layerinv.mnist_test_digits"


def _data_file(name):
    return resources.files("layerinv.datasets") / "data" / name


def load_mnist_generator(name="dense"):
    """A shipped MNIST decoder, trained on 9,900 real MNIST digits; outputs on the [0, 1] pixel scale.

    Parameters
    ----------
    name : {"dense", "conv", "legacy"}
        * ``"dense"`` (default): 20 -> 60 -> 784, ReLU after both layers, with biases (the
          architecture of Lei et al. 2019); its prior samples ``G(z), z ~ N(0, I)`` look like digits
          (``docs/sample_quality.md``). A :class:`ReLUNet`.
        * ``"conv"``: 20 -> Linear -> 32 x 7 x 7 -> ConvTranspose2d -> 16 x 14 x 14 ->
          ConvTranspose2d -> 784, ReLU after every layer; a :class:`ReLUNet` with
          ``dims == [20, 1568, 3136, 784]`` whose last two layers are convolutional linear maps
          (:mod:`layerinv.linear_maps`). Needs no torch.
        * ``"legacy"``: the first shipped decoder, 20 -> 60 -> 784 ReLU without biases, whose prior
          samples do not look like digits; kept because published results used it
          (``docs/results.md``). A :class:`ReLUNet`.

    The training commands, seeds and losses are in ``layerinv/datasets/data/README.md``.

    Examples
    --------
    >>> from layerinv.datasets import load_mnist_generator
    >>> load_mnist_generator().dims
    [20, 60, 784]
    """
    if not isinstance(name, str) or name not in GENERATORS:
        raise ValueError(f"name must be one of {', '.join(map(repr, GENERATORS))}; got {name!r}.")
    with resources.as_file(_data_file(GENERATORS[name])) as f:
        return load_net(f)


def load_mnist_test_digits():
    """The 100 real MNIST digits (10 per class) held out from the shipped decoder's training.

    Returns
    -------
    images : ndarray, shape (100, 784), float64
        ``byte / 255`` in [0, 1] (stored as the original uint8 bytes).
    labels : ndarray, shape (100,), int64

    Examples
    --------
    >>> from layerinv.datasets import load_mnist_test_digits
    >>> images, labels = load_mnist_test_digits()
    >>> images.shape, sorted(set(labels.tolist())) == list(range(10))
    ((100, 784), True)
    """
    with resources.as_file(_data_file(_TEST_DIGITS_FILE)) as f:
        d = read_npz(f, "test-digit file")
        if str(d.get("format", "")) != _TEST_DIGITS_FORMAT or "images" not in d or "labels" not in d:
            raise ValueError(f"{f} is not a layerinv test-digit file.")
    return d["images"].astype(np.float64) / 255.0, d["labels"].astype(np.int64)


def save_test_digits(path, images, labels, index, source):
    """Write held-out digits as uint8 bytes (``rint(255 * images)``) with labels and provenance."""
    images = as_float_array(images, "images", ndim=2, shape=(None, 784))
    b = np.rint(images * 255.0)
    if b.min() < 0 or b.max() > 255:
        raise ValueError("images must lie in [0, 1].")
    write_npz(path, {"format": np.array(_TEST_DIGITS_FORMAT), "images": b.astype(np.uint8),
                     "labels": np.asarray(labels, dtype=np.int64), "index": np.asarray(index, dtype=np.int64),
                     "source": np.array(str(source))}, compressed=True)


def _activation_from_name(path):
    name = path.name.lower()
    if "leakyrelu" in name or "leaky_relu" in name:
        return ("leaky_relu", 0.1)
    if "relu" in name:
        return "relu"
    raise ValueError(f"cannot tell the activation of {str(path)!r} from its name; pass activation='relu' "
                     "or activation=('leaky_relu', 0.1).")


def load_reference_decoder(path, activation=None):
    """Load one of the paper's published MNIST VAE decoders (converted to .npz).

    Parameters
    ----------
    path : str or PathLike
        An .npz with ``W1, W2[, W3, ...]`` in PyTorch's (out, in) layout and no biases (extra
        encoder arrays are ignored).
    activation : str or tuple, optional
        Applied after every layer, the output included. Default: read off the file name,
        ``("leaky_relu", 0.1)`` when it contains ``leakyrelu``, else ``"relu"`` when it contains
        ``relu`` (the two files of Lei et al. 2019); otherwise it must be given.

    Returns
    -------
    ReLUNet
    """
    path = Path(path)
    if activation is None:
        activation = _activation_from_name(path)
    data = read_npz(path, "reference decoder")
    names = sorted((k for k in data if re.fullmatch(r"W\d+", k)), key=lambda k: int(k[1:]))
    if not names or names != [f"W{i}" for i in range(1, len(names) + 1)]:
        raise ValueError(f"reference decoder {str(path)!r} must hold W1, W2, ... (consecutive); found "
                         f"{', '.join(sorted(data)) or 'nothing'}.")
    weights = [data[k] for k in names]
    try:
        return ReLUNet(weights, activations=[activation] * len(weights))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"reference decoder {str(path)!r} holds an invalid network: {exc}") from None
