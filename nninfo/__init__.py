"""nninfo: information-theoretic analysis of deep neural networks.

Layer naming (used everywhere): ``X`` is the input, ``L1`` .. ``Lk`` are the
network's layers in order (1-based), ``Y`` is the label.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nninfo")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
