"""Label encodings: how a class index is presented to the loss, and back.

Encodings (``label_encoding``):

``index``
    ``y`` is the long class index (for ``cross_entropy`` on ``n_classes`` logits).
``onehot``
    ``y`` is a float32 one-hot vector of width ``n_classes`` (for MSE on sigmoid outputs).
``reconstruction``
    ``y`` is the input ``x`` itself (an autoencoder's target; set by
    :func:`~nninfo.tasks.load_task`, not by :func:`encode_labels`). The class indices stay
    the analysis target Y; there is no class prediction, so no accuracy.
``binary``, ``quaternary``, ``octal``
    ``y`` is the class index written in base 2, 4 or 8 with
    ``n_digits = ceil(log_base(n_classes))`` digits, least significant digit first, one
    output unit per digit. Each digit is presented as its *raw value* ``0 .. base-1`` as
    float32, as in the published nninfo implementation (Ehrlich et al., TMLR 2023), so the
    binary code is ``n_digits`` 0/1 targets for sigmoid outputs with MSE (4 bits for the 10
    MNIST classes, 5 for the 20 classes of ``mnist_fashion``); a base-4/8 digit is one
    output whose target is 0..3 / 0..7 (MSE). Decoding rounds each output to the nearest
    digit (clipped to ``0 .. base-1``).

A code that decodes to a value ``>= n_classes`` (possible for network outputs) is returned
as that value, so it never matches a true label.

``analysis.target: {code_columns: [...]}`` makes the joint value of chosen columns of the
one-hot or positional code the analysis target (:func:`code_symbols`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

#: Base of each positional encoding.
BASES: dict[str, int] = {"binary": 2, "quaternary": 4, "octal": 8}
#: The loss target is the input itself (autoencoders).
RECONSTRUCTION = "reconstruction"
#: All supported encodings.
ENCODINGS: tuple[str, ...] = ("index", "onehot", *BASES, RECONSTRUCTION)
#: Encodings whose loss target is a code of several columns (``analysis.target.code_columns``
#: selects among them): one-hot and the positional codes. ``index`` is the class itself.
CODED: tuple[str, ...] = ("onehot", *BASES)
#: Most bits a joint code symbol may take (int64 symbols).
SYMBOL_BITS = 62


def check_encoding(label_encoding: str) -> str:
    """Return ``label_encoding`` if supported, else raise ValueError naming the choices."""
    if label_encoding not in ENCODINGS:
        raise ValueError(
            f"label_encoding={label_encoding!r} is not supported; allowed: {list(ENCODINGS)}"
        )
    return label_encoding


def n_digits(n_classes: int, base: int) -> int:
    """Smallest number of base-``base`` digits that can represent ``n_classes`` classes."""
    if n_classes < 1:
        raise ValueError(f"n_classes={n_classes} must be >= 1")
    digits, capacity = 1, base
    while capacity < n_classes:
        digits, capacity = digits + 1, capacity * base
    return digits


def _not_a_code(label_encoding: str) -> None:
    if label_encoding == RECONSTRUCTION:
        raise ValueError(f"label_encoding={RECONSTRUCTION!r} has no label code: the loss target "
                         "is the input itself (load_task sets y = x)")


def code_width(label_encoding: str, n_classes: int) -> int:
    """Number of network outputs the encoding needs (``n_classes`` for index/one-hot)."""
    check_encoding(label_encoding)
    _not_a_code(label_encoding)
    if label_encoding in BASES:
        return n_digits(n_classes, BASES[label_encoding])
    return n_classes


def encode_labels(labels: torch.Tensor, label_encoding: str, n_classes: int) -> torch.Tensor:
    """Encode a 1-D long tensor of class indices as the loss target ``y``."""
    check_encoding(label_encoding)
    _not_a_code(label_encoding)
    labels = torch.as_tensor(labels).long()
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {tuple(labels.shape)}")
    if labels.numel() and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    if label_encoding == "index":
        return labels.clone()
    if label_encoding == "onehot":
        return torch.nn.functional.one_hot(labels, n_classes).float()
    base = BASES[label_encoding]
    powers = base ** torch.arange(n_digits(n_classes, base), device=labels.device)
    return ((labels[:, None] // powers) % base).float()


def decode_labels(y: torch.Tensor, label_encoding: str, n_classes: int) -> torch.Tensor:
    """Map targets or network outputs back to long class indices (inverse of encode)."""
    check_encoding(label_encoding)
    _not_a_code(label_encoding)
    y = torch.as_tensor(y)
    if label_encoding == "index":
        return y.argmax(dim=1) if y.ndim == 2 else y.long()
    if label_encoding == "onehot":
        return y.argmax(dim=1)
    base = BASES[label_encoding]
    width = n_digits(n_classes, base)
    if y.ndim != 2 or y.shape[1] != width:
        raise ValueError(
            f"{label_encoding} codes for {n_classes} classes need shape (N, {width}), "
            f"got {tuple(y.shape)}"
        )
    digits = torch.round(y.float()).clamp(0, base - 1).long()
    powers = base ** torch.arange(width, device=digits.device)
    return (digits * powers).sum(dim=1)


def column_base(label_encoding: str) -> int:
    """The number of values one column of a :data:`CODED` encoding takes (2 for one-hot)."""
    if label_encoding not in CODED:
        raise ValueError(f"label_encoding={label_encoding!r} has no code columns; allowed: "
                         f"{list(CODED)}")
    return BASES.get(label_encoding, 2)


def code_columns_problem(columns: Sequence[int], label_encoding: str,
                         n_classes: int) -> str | None:
    """None if ``columns`` are distinct 0-based columns of the code of ``label_encoding``
    for ``n_classes`` classes whose joint value fits an int64; else what is allowed."""
    base, width = column_base(label_encoding), code_width(label_encoding, n_classes)
    cols = list(columns)
    if (not cols or not all(isinstance(c, int) and not isinstance(c, bool) for c in cols)
            or len(set(cols)) != len(cols) or min(cols) < 0 or max(cols) >= width):
        return (f"distinct integers in 0..{width - 1}, the {width} columns of the "
                f"{label_encoding} code of {n_classes} classes")
    most = SYMBOL_BITS // (base.bit_length() - 1)
    if len(cols) > most:
        return f"at most {most} columns of base {base} (int64 symbols)"
    return None


def code_symbols(labels: torch.Tensor, label_encoding: str, n_classes: int,
                 columns: Sequence[int]) -> torch.Tensor:
    """The joint value of ``columns`` (0-based) of the label code of class indices
    ``labels`` (as :func:`encode_labels` writes it), as long symbols: the column
    ``columns[k]`` is digit ``k`` in the code's base (2 for one-hot), the first chosen
    column least significant. So binary columns ``[0]`` are ``label & 1`` (the parity of the
    class), and all columns of a positional code in order give the class index back."""
    problem = code_columns_problem(columns, label_encoding, n_classes)
    if problem:
        raise ValueError(f"columns={list(columns)!r} is not valid; allowed: {problem}")
    code = encode_labels(labels, label_encoding, n_classes).long()[:, list(columns)]
    powers = column_base(label_encoding) ** torch.arange(len(columns), device=code.device)
    return (code * powers).sum(dim=1)
