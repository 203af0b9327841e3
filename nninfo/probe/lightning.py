"""nninfo's probe as a PyTorch Lightning callback: :class:`NninfoProbe` measures layers of the
trained ``LightningModule`` at optimizer steps (or epoch ends) and logs to the run of the
trainer's ``MLFlowLogger``. Needs Lightning: ``pip install "nninfo[lightning]"``."""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import mlflow

try:
    from lightning.pytorch import Callback, LightningModule, Trainer
    from lightning.pytorch.loggers import MLFlowLogger
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("nninfo.probe.lightning needs Lightning (lightning>=2.0): "
                      "pip install 'nninfo[lightning]'") from exc

from nninfo.probe.probe import Probe


class NninfoProbe(Callback):
    """Measure layers of the trained ``LightningModule`` with :class:`nninfo.probe.Probe`.

    ``data``, ``layers``, ``labels``, ``analysis``, ``batch_size``, ``experiment``,
    ``run_name``, ``seed``: as for :class:`~nninfo.probe.Probe`; layer paths are those of
    ``pl_module.named_modules()`` (or of its submodule ``module``, e.g. ``"net"``, which is
    then the model the probe calls on ``data``).

    When: ``schedule``, optimizer steps (``trainer.global_step``; e.g.
    ``nninfo.probe.checkpoint_steps("log", 12, epochs, steps_per_epoch)``), measured after
    the batch whose optimizer step reaches them (step 0: at the start of training); else
    ``every_n_epochs`` (default 1): the initial network and the end of every n-th epoch.

    Where: a probe run nested under the run of the trainer's first ``MLFlowLogger``, in that
    logger's tracking store; without one, under the active MLflow run, else a new run. Only
    global rank zero measures (the other ranks wait for it at their next collective), so
    strategies that shard parameters (FSDP, DeepSpeed stage 3) are not supported. The runs end
    FINISHED at the end of ``fit``, FAILED on an error and KILLED on an interrupt.
    """

    def __init__(self, data: Any, layers: Any, *, labels: Any = None,
                 analysis: Mapping[str, Any] | None = None,
                 schedule: Sequence[int] | None = None, every_n_epochs: int | None = None,
                 module: str | None = None, batch_size: int = 1024,
                 experiment: str | None = None, run_name: str | None = None,
                 seed: int = 0) -> None:
        super().__init__()
        if schedule is not None and every_n_epochs is not None:
            raise ValueError("give schedule (optimizer steps) or every_n_epochs, not both")
        if schedule is None:
            every_n_epochs = 1 if every_n_epochs is None else every_n_epochs
            if isinstance(every_n_epochs, bool) or not isinstance(every_n_epochs, int) \
                    or every_n_epochs < 1:
                raise ValueError(f"every_n_epochs: {every_n_epochs!r} is not an integer >= 1")
        self.data, self.layers, self.labels = data, layers, labels
        self.analysis, self.schedule, self.every_n_epochs = analysis, schedule, every_n_epochs
        self.module, self.batch_size = module, batch_size
        self.experiment, self.run_name, self.seed = experiment, run_name, seed
        self.probe: Probe | None = None       # the latest fit's probe (kept after it ends)
        self.tracking_uri: str | None = None  # the store its runs are in
        self._open = False
        self._last_step: int | None = None

    # ------------------------------------------------------------------ Lightning hooks
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Create the probe (checking the layers on one batch) and measure the network as
        training starts (step 0, if scheduled)."""
        self._open, self._last_step = False, None
        if not trainer.is_global_zero:
            return
        logger = next((lg for lg in trainer.loggers if isinstance(lg, MLFlowLogger)), None)
        if logger is not None:
            self.tracking_uri = logger._tracking_uri  # MLFlowLogger's client uses this URI
            parent = logger.run_id
        else:
            self.tracking_uri, parent = mlflow.get_tracking_uri(), None
            active = mlflow.active_run()
            print("nninfo probe: the trainer has no MLFlowLogger; logging under "
                  + (f"the active MLflow run {active.info.run_id}" if active else "a new run")
                  + f" in {self.tracking_uri}", file=sys.stderr)
        model = pl_module if self.module is None else pl_module.get_submodule(self.module)
        with self._store():
            self.probe = Probe(model, self.data, self.layers, labels=self.labels,
                               analysis=self.analysis, schedule=self.schedule,
                               batch_size=self.batch_size, experiment=self.experiment,
                               run_name=self.run_name, seed=self.seed, parent_run_id=parent)
        self._open = True
        self._measure(trainer.global_step, float(trainer.current_epoch))

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        if self.schedule is not None and self._open:
            batches = trainer.num_training_batches
            epoch = trainer.current_epoch + (batch_idx + 1) / batches \
                if isinstance(batches, int) and batches > 0 else None
            self._measure(trainer.global_step, epoch)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.schedule is None and self._open \
                and (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self._measure(trainer.global_step, float(trainer.current_epoch + 1))

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._close("FINISHED")

    def on_exception(self, trainer: Trainer, pl_module: LightningModule,
                     exception: BaseException) -> None:
        self._close("KILLED" if isinstance(exception, KeyboardInterrupt) else "FAILED")

    # ------------------------------------------------------------------ helpers
    def report(self, out_dir: str | None = None) -> Path:
        """The probe's figures and HTML report (:meth:`nninfo.probe.Probe.report`)."""
        if self.probe is None:
            raise ValueError("report: nothing is probed yet; run trainer.fit first")
        with self._store():
            return self.probe.report(out_dir)

    def _measure(self, step: int, epoch: float | None) -> None:
        """Log ``step`` once (gradient accumulation repeats a global step over batches)."""
        if step == self._last_step or self.probe is None or not self.probe.due(step):
            return
        with self._store():
            self.probe.log(step, epoch=None if epoch is None or not math.isfinite(epoch)
                           else epoch)
        self._last_step = step

    def _close(self, status: str) -> None:
        if self._open and self.probe is not None:
            self._open = False
            with self._store():
                self.probe.close(status)

    @contextlib.contextmanager
    def _store(self) -> Iterator[None]:
        """nninfo's MLflow calls go to ``self.tracking_uri`` inside; afterwards the global
        tracking URI (and ``MLFLOW_TRACKING_URI``) are as they were."""
        before = mlflow.get_tracking_uri()
        if self.tracking_uri is None or self.tracking_uri == before:
            yield
            return
        env = os.environ.get("MLFLOW_TRACKING_URI")
        mlflow.set_tracking_uri(self.tracking_uri)
        try:
            yield
        finally:
            mlflow.set_tracking_uri(before)
            if env is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = env
