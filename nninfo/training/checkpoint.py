"""Training checkpoints: everything needed to resume a run bit for bit."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch


def _to_cpu(obj: Any) -> Any:
    """Detached CPU copies of all tensors in a nested dict/list structure."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


@dataclass
class Checkpoint:
    """State of a training run after ``step`` optimiser steps (``epoch = step / steps/epoch``).

    ``generator_state`` is the loop's shuffling generator at the start of the current epoch
    (the epoch's permutation is redrawn from it on resume); ``torch_rng_state`` and
    ``cuda_rng_states`` are the global RNGs (quantizer noise, dropout) at this step.
    ``metrics`` are those of the last completed epoch; ``epoch_sums`` the running sums of the
    current epoch (so that a resumed run reports the same epoch metrics).
    """

    step: int
    epoch: float
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any]
    generator_state: torch.Tensor
    torch_rng_state: torch.Tensor
    cuda_rng_states: list[torch.Tensor] = field(default_factory=list)
    seed: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    epoch_sums: list[float] = field(default_factory=list)

    @classmethod
    def capture(
        cls,
        *,
        step: int,
        epoch: float,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        generator_state: torch.Tensor,
        seed: int | None,
        metrics: dict[str, float] | None = None,
        epoch_sums: list[float] | None = None,
    ) -> Checkpoint:
        """Snapshot (CPU copies) of a live run."""
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []
        return cls(
            step=step,
            epoch=epoch,
            model_state=_to_cpu(model.state_dict()),
            optimizer_state=_to_cpu(optimizer.state_dict()),
            generator_state=generator_state.clone(),
            torch_rng_state=torch.get_rng_state(),
            cuda_rng_states=list(cuda),
            seed=seed,
            metrics=dict(metrics or {}),
            epoch_sums=list(epoch_sums or []),
        )

    def restore_rng(self) -> None:
        """Set the global torch RNGs to the checkpoint's states."""
        torch.set_rng_state(self.torch_rng_state)
        if self.cuda_rng_states and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(self.cuda_rng_states)

    def save(self, path: str | Path) -> None:
        """Write as a plain dict with ``torch.save`` (loadable with ``weights_only=True``).

        Written through a file object, so the archive's folder name inside the file is
        torch's fixed ``archive``, not the file name: the same checkpoint gives the same bytes
        (and SHA-256) whatever (temporary) name it is written under."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        with open(path, "wb") as fh:
            torch.save(data, fh)

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
        """Read a checkpoint written by :meth:`save` (safe load: ``weights_only=True``).

        A file that is empty, truncated, not a torch file or not a checkpoint raises
        :class:`CheckpointError` naming the file; a missing file raises
        :class:`FileNotFoundError`."""
        path = Path(path)
        size = path.stat().st_size
        if size == 0:
            raise CheckpointError(f"checkpoint file {path}: the file is empty (0 bytes)")
        try:
            data = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as err:  # torch reports damage as EOFError, RuntimeError, KeyError...
            cause = (str(err).strip().splitlines() or [""])[0][:200]
            raise CheckpointError(
                f"checkpoint file {path} ({size} bytes) cannot be read: truncated, damaged or "
                f"not written by Checkpoint.save ({type(err).__name__}: {cause})") from err
        if not isinstance(data, dict):
            raise CheckpointError(f"checkpoint file {path}: holds a {type(data).__name__}, "
                                  "not a checkpoint (a dict written by Checkpoint.save)")
        names = {f.name for f in dataclasses.fields(cls)}
        missing = names - set(data)
        if missing:
            raise CheckpointError(f"checkpoint file {path}: missing fields {sorted(missing)}")
        if isinstance(data["step"], bool) or not isinstance(data["step"], int):
            raise CheckpointError(f"checkpoint file {path}: step {data['step']!r} is not an "
                                  "integer")
        return cls(**{k: data[k] for k in names})


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: unreadable (empty, truncated, not a checkpoint),
    not the file its run logged (SHA-256 differs), of another step than its index says, or
    named by an artifact path outside the run's ``checkpoints/``. The message names the file
    (and, for a logged checkpoint, the run and the step)."""
