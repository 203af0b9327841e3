"""The losses, defined once for training and evaluation: targets, per-sample loss, accuracy.

A network's output head is its last layer: an activation, maybe a quantizer. The loss sees two
tensors of a pass (:meth:`Network.forward_parts <nninfo.nn.Network.forward_parts>`): ``out``,
the network's output (logits for a softmax head, else the activated, maybe quantized output),
and ``pre``, the last layer's pre-activation. :class:`OutputLoss` defines for one (loss, head)
pair

* ``cross_entropy``: softmax cross-entropy of ``out`` taken as logits; class-index or soft
  (float) targets. Correct: ``argmax out`` is the target class.
* ``bce``: binary cross-entropy, mean over the outputs. With logits (the sigmoid as part of the
  loss, :func:`bce_with_logits`) of ``pre`` for an unquantized sigmoid head and of ``out``
  for an identity or softmax head; of the clamped output ``out`` for a quantized sigmoid
  head. Correct: the mean over outputs of (output above 1/2) == (target above 1/2).
* ``mse``: mean squared error over the outputs of ``out``, of the softmax probabilities for a
  softmax head. Correct: the argmax of output and target agree.

A head whose output has several axes per sample (``sample_dims`` > 1: an image, e.g. an
autoencoder's reconstruction, label encoding ``reconstruction``) has no class: its per-sample
loss is the mean over all of the sample's axes (so the batch mean is the mean over every
element, as ``nn.MSELoss``) and no accuracy is defined.

:meth:`OutputLoss.published_per_sample` is the published package's evaluation (its Tester),
which differs from the training loss on a softmax head (see there).

The training loops (:mod:`~nninfo.training.loop`, :mod:`~nninfo.training.batched`) and the
evaluation (:mod:`nninfo.jobs.evaluate`) both use it; the numpy step of
:mod:`~nninfo.training.mlp_step` computes the same numbers by hand for the pairs it covers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from nninfo.tasks.labels import decode_labels

LOSSES = ("cross_entropy", "bce", "mse")
_BCE_CLAMP = 1e-7  # BCE of probabilities: outputs clamped to [eps, 1 - eps]


def bce_with_logits(activation: str, quantized: bool) -> bool:
    """Whether BCE on a head with ``activation`` is BCE with logits (else of probabilities).

    An unquantized sigmoid head's pre-activation, an identity or softmax head's output are the
    logits; a quantized sigmoid head's output is taken as probabilities.
    """
    return activation in ("identity", "softmax") or (activation == "sigmoid" and not quantized)


def output_is_logits(activation: str, quantized: bool) -> bool:
    """Whether a head's output ``out`` is its (unquantized) pre-activation ``pre``: a softmax
    head (the softmax is the loss's), or an unquantized identity head."""
    return activation == "softmax" or (activation == "identity" and not quantized)


def _last_mean(v: Tensor) -> Tensor:
    """Mean over the last axis (the outputs); a view for a single output."""
    return v.squeeze(-1) if v.shape[-1] == 1 else v.mean(-1)


class OutputLoss:
    """The loss ``loss`` on a head with ``activation`` (``quantized``: it has a quantizer).

    ``width``: the number of outputs, or a function giving it; needed only to one-hot class
    labels for MSE. ``sample_dims``: the number of axes of one sample's output (1; 3 for an
    image: the loss is then averaged over all three and there is no accuracy). :meth:`of`
    builds one for a network. Calling it on ``(out, pre, t)`` gives the per-sample loss and
    correctness (shape ``out.shape[:-sample_dims]``; leading axes, such as the seed axis of a
    :class:`~nninfo.training.stacked.BatchedMLP`, are kept).
    """

    def __init__(
        self,
        loss: str,
        activation: str,
        quantized: bool = False,
        width: int | Callable[[], int] | None = None,
        sample_dims: int = 1,
    ) -> None:
        if loss not in LOSSES:
            raise ValueError(f"loss: {loss!r} is not one of {list(LOSSES)}")
        self.loss, self.activation, self.quantized = loss, activation, quantized
        self.logits = loss == "bce" and bce_with_logits(activation, quantized)
        if loss == "bce" and not self.logits and activation != "sigmoid":
            raise ValueError(
                f"loss: 'bce' needs a sigmoid or identity output layer, not {activation!r}"
            )
        self._width = width
        self.sample_dims = sample_dims
        self._fn = {"cross_entropy": self._cross_entropy, "bce": self._bce, "mse": self._mse}[loss]

    @classmethod
    def of(cls, net: torch.nn.Module, loss: str) -> OutputLoss:
        """The loss ``loss`` on ``net``'s output layer (a :class:`~nninfo.nn.OutputHeadMixin`)."""
        return cls(loss, net.output_activation, net.output_quantized, lambda: net.output_width,
                   getattr(net, "output_ndim", 1))

    def __repr__(self) -> str:
        q = ", quantized" if self.quantized else ""
        return f"OutputLoss({self.loss!r}, {self.activation!r}{q})"

    # --- targets -----------------------------------------------------------------------------

    def targets(self, y: Tensor) -> tuple[Tensor, bool]:
        """Targets ``y`` in the form the loss takes, and whether accuracy is defined for them.

        Cross-entropy: class indices (long) or soft targets (float, no accuracy). BCE, MSE:
        float ``(N, outputs)``; class labels (integer ``y``) of a multi-output MSE head are
        one-hot encoded. Accuracy: for BCE, and for MSE on class labels; never for image
        outputs (``sample_dims`` > 1, e.g. an autoencoder's).
        """
        if self.sample_dims > 1 and self.loss != "cross_entropy":
            return y.float(), False
        if self.loss == "cross_entropy":
            if y.is_floating_point():
                return y.float(), False
            return y.long(), True
        labels = not y.is_floating_point()
        if self.loss == "mse" and labels and y.dim() == 1 and self.width > 1:
            return F.one_hot(y.long(), self.width).float(), True
        t = y.float()
        return (t[:, None] if t.dim() == 1 else t), self.loss == "bce" or labels

    @property
    def width(self) -> int:
        """Number of outputs."""
        if self._width is None:
            raise ValueError(f"{self!r}: the number of outputs is unknown; pass width=")
        return self._width if isinstance(self._width, int) else self._width()

    # --- loss and accuracy ----------------------------------------------------------------

    def _sample_mean(self, v: Tensor) -> Tensor:
        """Mean over the axes of one sample's output (the last ``sample_dims`` axes)."""
        if self.sample_dims == 1:
            return _last_mean(v)
        return v.mean(dim=tuple(range(-self.sample_dims, 0)))

    def __call__(self, out: Tensor, pre: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Per-sample loss and correctness (in [0, 1]) of outputs ``(out, pre)``, targets ``t``."""
        return self._fn(out, pre, t)

    def per_sample(self, out: Tensor, pre: Tensor, t: Tensor) -> Tensor:
        """Per-sample loss (shape ``out.shape[:-1]``)."""
        return self._fn(out, pre, t)[0]

    def published_per_sample(self, out: Tensor, pre: Tensor, t: Tensor) -> Tensor:
        """Per-sample loss as the published package's Tester evaluates it (the config's
        ``performance.loss: published``): it applies the softmax to a softmax head's output
        and then the trainer's loss, which for cross-entropy (``nn.CrossEntropyLoss``) applies
        it again. So on a softmax head: cross-entropy of the probabilities taken as logits
        (at least ``log(e + K - 1) - 1`` for K classes, reached by a one-hot output) and BCE
        of the softmax probabilities. MSE of a softmax head (of its probabilities) and every
        other head: :meth:`per_sample`, the same rule as the published tester's."""
        if self.activation != "softmax" or self.loss == "mse":
            return self.per_sample(out, pre, t)
        p = torch.softmax(out, dim=-1)
        if self.loss == "cross_entropy":
            return self._cross_entropy(p, pre, t)[0]
        return self._sample_mean(F.binary_cross_entropy(p, t, reduction="none"))

    def mean(self, out: Tensor, pre: Tensor, t: Tensor) -> Tensor:
        """Loss averaged over the samples (the training objective, without l1/l2 terms)."""
        return self._fn(out, pre, t)[0].mean()

    def _cross_entropy(self, out: Tensor, pre: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        c = out.shape[-1]
        flat_t = t.reshape(-1, c) if t.is_floating_point() else t.reshape(-1)
        loss = F.cross_entropy(out.reshape(-1, c), flat_t, reduction="none")
        labels = t.argmax(-1) if t.is_floating_point() else t
        return loss.view(out.shape[:-1]), out.argmax(-1) == labels

    def _bce(self, out: Tensor, pre: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        if self.logits:
            z = pre if self.activation == "sigmoid" else out
            loss = self._sample_mean(F.binary_cross_entropy_with_logits(z, t, reduction="none"))
            return loss, self._sample_mean(((z > 0) == (t > 0.5)).to(z.dtype))
        p = out.clamp(_BCE_CLAMP, 1 - _BCE_CLAMP)
        loss = self._sample_mean(F.binary_cross_entropy(p, t, reduction="none"))
        return loss, self._sample_mean(((out > 0.5) == (t > 0.5)).to(out.dtype))

    def _mse(self, out: Tensor, pre: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        p = self.scores(out, pre)
        loss = self._sample_mean(F.mse_loss(p, t, reduction="none"))
        if self.sample_dims > 1:  # no class: no correctness (targets() says no accuracy)
            return loss, torch.zeros_like(loss, dtype=torch.bool)
        if p.shape[-1] == 1:  # one output: right when on the target's side of 0.5
            correct = ((p > 0.5) == (t > 0.5)).squeeze(-1)
        else:
            correct = p.argmax(-1) == t.argmax(-1)
        return loss, correct

    # --- predictions ----------------------------------------------------------------------

    def scores(self, out: Tensor, pre: Tensor) -> Tensor:
        """The outputs as the targets are written: logits for cross-entropy, probabilities
        for BCE, the compared values for MSE (softmax probabilities for a softmax head)."""
        if self.loss == "cross_entropy":
            return out
        if self.loss == "bce":
            if not self.logits:
                return out
            return torch.sigmoid(pre if self.activation == "sigmoid" else out)
        return torch.softmax(out, dim=-1) if self.activation == "softmax" else out

    def predict(self, out: Tensor, pre: Tensor, label_encoding: str, n_classes: int) -> Tensor:
        """Predicted class indices (long, shape ``out.shape[:-1]``).

        Cross-entropy: the argmax. One output: whether it is above 1/2 (for BCE with logits:
        the logit above 0, as training's accuracy). Several outputs:
        :func:`~nninfo.tasks.labels.decode_labels` of :meth:`scores` in the task's label
        encoding.
        """
        if self.loss == "cross_entropy":
            return out.argmax(-1)
        if out.shape[-1] == 1:
            if self.logits:
                z = pre if self.activation == "sigmoid" else out
                return (z.squeeze(-1) > 0).long()
            return (self.scores(out, pre).squeeze(-1) > 0.5).long()
        return decode_labels(self.scores(out, pre), label_encoding, n_classes)
