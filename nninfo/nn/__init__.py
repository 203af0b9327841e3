"""Torch models: networks built from layer configs and activation quantisers."""

from nninfo.nn.network import (
    ACTIVATION_LIMITS,
    ACTIVATIONS,
    BatchedMLP,
    Layer,
    Network,
    validate_layer,
)
from nninfo.nn.quantizers import Quantizer

__all__ = [
    "ACTIVATIONS",
    "ACTIVATION_LIMITS",
    "BatchedMLP",
    "Layer",
    "Network",
    "Quantizer",
    "validate_layer",
]
