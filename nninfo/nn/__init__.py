"""Torch models: networks built from layer configs and activation quantizers."""

from nninfo.nn.network import (
    ACTIVATION_LIMITS,
    ACTIVATIONS,
    Layer,
    Network,
    OutputHeadMixin,
    validate_layer,
)
from nninfo.nn.quantizers import Quantizer

__all__ = [
    "ACTIVATIONS",
    "ACTIVATION_LIMITS",
    "Layer",
    "Network",
    "OutputHeadMixin",
    "Quantizer",
    "validate_layer",
]
