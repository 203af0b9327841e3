"""The probe: nninfo's measures on the layers of any PyTorch module, tracked in MLflow like an
nninfo training run."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nninfo.capture import Capture
from nninfo.config.analysis import TARGET_LABEL, analysis_spec
from nninfo.config.fit import check_sources
from nninfo.jobs.analyze import CheckpointAnalysis, analyze_captured
from nninfo.jobs.tables import hard_table, noisy_table
from nninfo.probe import hooks
from nninfo.probe.coding import Coder, as_layers, make_coder, quantile_edges, resolve_module

_KEY_SAFE = re.compile(r"[^A-Za-z0-9_\-. ]")


def metric_names(names: Iterable[str]) -> dict[str, str]:
    """Each layer name as it can stand in an MLflow metric key (``<layer>/...``): characters
    MLflow refuses, and ``/``, become ``_``; a name that would clash gets a suffix."""
    out: dict[str, str] = {}
    for name in names:
        key = _KEY_SAFE.sub("_", name).strip() or "layer"
        key = key if set(key) != {"."} else "layer"
        base, n = key, 2
        while key in out.values():
            key, n = f"{base}_{n}", n + 1
        out[name] = key
    return out


class Probe:
    """nninfo's measures on layers of ``model``, a ``torch.nn.Module`` used as it is.

    ``data``: ``(x, labels)`` tensors, a ``Dataset`` of ``(x, label)`` pairs, a ``DataLoader``
    of ``(x, labels)`` batches, or an nninfo task split; labels are integer classes.
    ``layers``: module paths from ``model.named_modules()`` (``["features.3", "fc1"]``) or a
    mapping ``{name: path or nninfo.probe.Layer}``; a :class:`~nninfo.probe.Layer` says how
    the outputs become symbols (levels or bins, limits, units or channels, a tuple element).
    ``analysis``: the ``analysis`` section of an nninfo config, less ``layers`` and
    ``dataset`` (measures, groupings, n_bins, binning, noise_sigma, surrogates, per_class).
    ``schedule``: the steps at which :meth:`log` measures (None: every call); PID surrogates
    go to its ``analysis.surrogates.pid_checkpoints`` positions (without a schedule: the
    first logged step, or every step with ``all``). The published log spacing:
    ``nninfo.probe.checkpoint_steps("log", n, epochs, steps_per_epoch)``.

    Where results go (at the first :meth:`log`): a new nninfo run (entry ``probe``) with one
    seed run ``seed`` that holds the metrics; the run is a child of ``parent_run_id``, else of
    the active MLflow run, in that run's experiment (or ``experiment``, else
    ``nninfo_probe``); ``model_run_id`` (default: that parent) is tagged as the model's run.

    Every problem that can be seen before measuring (a module path, a tuple output, an
    unbounded activation without limits, too many PID sources, mismatched labels) is a
    ValueError here, from one forward pass of the first batch.
    """

    def __init__(self, model: nn.Module, data: Any, layers: Any, *, labels: Any = None,
                 analysis: Mapping[str, Any] | None = None,
                 schedule: Sequence[int] | None = None, batch_size: int = 1024,
                 experiment: str | None = None, run_name: str | None = None, seed: int = 0,
                 parent_run_id: str | None = None, model_run_id: str | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(f"model: {type(model).__name__} is not a torch.nn.Module")
        self.model = model
        self.data = hooks.as_data(data, labels, batch_size)
        self.layers = as_layers(layers)
        self.keys = metric_names(self.layers)
        raw = dict(analysis or {})
        for key in ("layers", "dataset"):
            if key in raw:
                raise ValueError(f"analysis.{key}: {raw[key]!r}; a probe takes its layers from "
                                 "layers= and its samples from data=")
        if raw.get("target") not in (None, TARGET_LABEL):
            raise ValueError(f"analysis.target: {raw['target']!r}; a probe's target is the "
                             "labels of data= (or labels=) as given: pass the target you want "
                             "as the labels (e.g. labels & 1 for the lowest bit of a binary "
                             "code), with analysis.target: label")
        if raw.get("rounding", "nearest") != "nearest":
            raise ValueError(f"analysis.rounding: {raw['rounding']!r}; a probe codes each "
                             "layer's outputs as they are (nearest)")
        self.spec = analysis_spec({**raw, "layers": list(self.keys.values())},
                                  list(self.keys.values()))
        self.modules = {name: (resolve_module(model, name, layer), layer)
                        for name, layer in self.layers.items()}
        self.coders = self._coders()
        check_sources(self.spec, {self.keys[n]: c.width for n, c in self.coders.items()})
        self._check_noise()
        self.schedule = _schedule(schedule)
        self.experiment, self.run_name, self.seed = experiment, run_name, seed
        self.parent_run_id, self.model_run_id = parent_run_id, model_run_id
        self.runs = None
        self._logged = 0
        self._ended: str | None = None

    # ------------------------------------------------------------------ checks
    def _coders(self) -> dict[str, Coder]:
        """Each layer's coding, from one forward pass of the first batch."""
        with hooks.inspecting(self.model):  # a DataLoader's iterator draws from the RNG
            first = next(iter(self.data), None)
            if first is None:
                raise ValueError("data: holds no samples")
            _check_labels(first[1])
            with hooks.Outputs(self.modules) as outputs:
                self.model(hooks.to_device(first[0], hooks.device_of(self.model)))
                found = outputs.take()
        return {name: make_coder(name, layer, self.modules[name][0], found[name].shape[1],
                                 self.spec.n_bins)
                for name, layer in self.layers.items()}

    def _check_noise(self) -> None:
        if self.spec.binning == "hard":
            return
        for name, coder in self.coders.items():
            if coder.kind != "bins" or coder.limits is None:
                raise ValueError(f"layers[{name!r}]: binning {self.spec.binning!r} smooths "
                                 "values onto equal-width bins between fixed limits; give the "
                                 "layer n_bins and limits (or a bounded module), not levels or "
                                 "quantiles")
            lo, hi = coder.limits
            if self.spec.noise_sigma > hi - lo:
                raise ValueError(f"analysis.noise_sigma: {self.spec.noise_sigma!r}; at most "
                                 f"{hi - lo:g}, the width of layers[{name!r}]'s range")

    # ------------------------------------------------------------------ measuring
    def capture(self) -> tuple[Capture, dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Symbols of every layer on the whole data: the capture (keyed by metric name), the
        float values where a noise binning or quantile bins need them, and the quantile
        edges used."""
        keep_values = self.spec.binning != "hard"
        codes = {n: [] for n in self.layers}
        values = {n: [] for n in self.layers if keep_values or self.coders[n].limits is None}
        labels = []
        device = hooks.device_of(self.model)
        with hooks.inspecting(self.model), hooks.Outputs(self.modules) as outputs:
            for x, y in self.data:
                self.model(hooks.to_device(x, device))
                for name, out in outputs.take().items():
                    if name in values:
                        values[name].append(out.float().cpu())
                    if self.coders[name].limits is not None:
                        codes[name].append(self._code(name, out))
                labels.append(y.reshape(-1).cpu())
        y = _check_labels(torch.cat(labels)).numpy()
        edges = {}
        for name, parts in values.items():
            values[name] = torch.cat(parts).numpy().astype(np.float64)
            if self.coders[name].limits is None:
                edges[name] = quantile_edges(values[name], self.coders[name].count)
                codes[name] = [self._code(name, torch.cat(parts), edges[name])]
        cap = Capture({self.keys[n]: np.concatenate(c) for n, c in codes.items()}, y,
                      {self.keys[n]: c.count for n, c in self.coders.items()},
                      {self.keys[n]: c.kind for n, c in self.coders.items()})
        return cap, {self.keys[n]: v for n, v in values.items()}, \
            {self.keys[n]: e for n, e in edges.items()}

    def _code(self, name: str, out: torch.Tensor, edges: np.ndarray | None = None
              ) -> np.ndarray:
        coder = self.coders[name]
        return coder.codes(out, edges).cpu().numpy().astype(coder.dtype)

    def analyze(self, step: int = 0, *, pid_surrogates: bool = False) -> CheckpointAnalysis:
        """Every measure of ``analysis`` on every layer, now (nothing is logged)."""
        return self._measure(step, pid_surrogates)[0]

    def _measure(self, step: int, pid_surrogates: bool
                 ) -> tuple[CheckpointAnalysis, dict[str, np.ndarray]]:
        """:meth:`analyze`, and the quantile edges the capture used."""
        cap, values, edges = self.capture()
        layers = list(self.keys.values())
        if self.spec.binning == "hard":
            tables = {k: hard_table(cap.codes[k], cap.labels) for k in layers}
        else:
            limits = {self.keys[n]: c.limits for n, c in self.coders.items()}
            tables = {k: noisy_table(values[k], cap.labels, limits[k], cap.levels[k],
                                     self.spec.noise_sigma, self.spec.binning) for k in layers}
        return analyze_captured(self.spec, cap, tables, layers, seeds=(self.seed, step),
                                pid_surrogates=pid_surrogates), edges

    def due(self, step: int) -> bool:
        """Whether :meth:`log` measures at ``step``."""
        return self.schedule is None or step in self.schedule

    def log(self, step: int, epoch: float | None = None) -> CheckpointAnalysis | None:
        """Measure at ``step`` (an optimizer step, or any increasing count) and log to MLflow:
        the pipeline's metric keys and tables in a seed run under an nninfo run (created at
        the first call, nested under the active MLflow run if there is one). Between
        scheduled steps it returns None at once."""
        if isinstance(step, bool) or not isinstance(step, int | np.integer) or step < 0:
            raise ValueError(f"step: {step!r} is not an integer >= 0")
        if not self.due(step):
            return None
        from nninfo.tracking import probe_runs

        if self._ended:
            raise ValueError(f"log: this probe's runs are ended ({self._ended}); create a new "
                             "Probe to go on")
        if self.runs is None:
            self.runs = probe_runs.ProbeRuns.open(self)
        try:
            result, edges = self._measure(int(step), self._pid_surrogates(int(step)))
            self.runs.log(int(step), epoch, result, edges)
        except BaseException as exc:  # the runs end FAILED (KILLED on Ctrl-C), never RUNNING
            self.close("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
            raise
        self._logged += 1
        return result

    def _pid_surrogates(self, step: int) -> bool:
        spec = self.spec.surrogates
        if not spec.pid:
            return False
        if self.schedule is None:
            return spec.pid_checkpoints == ("all",) or (self._logged == 0
                                                       and "first" in spec.pid_checkpoints)
        return self.schedule.index(step) in spec.pid_positions(len(self.schedule))

    def report(self, out_dir: str | None = None) -> Path:
        """Figures and the HTML report of everything logged so far, written to
        ``<out_dir>/<experiment>/<run name>-<run id[:8]>/`` (default: ``outputs/`` beside a
        SQLite store) and logged to the probe's run; as ``nninfo report`` does for a training
        run."""
        if self.runs is None:
            raise ValueError("report: nothing is logged yet; call log(step) first")
        from nninfo.tracking import probe_runs

        return probe_runs.report(self.runs, self.spec, out_dir)

    def close(self, status: str = "FINISHED") -> None:
        """End the probe's runs (``FINISHED``, ``FAILED`` or ``KILLED``)."""
        if self.runs is not None and not self._ended:
            self.runs.close(status)
        self._ended = self._ended or status

    def __enter__(self) -> Probe:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close("FINISHED" if exc_type is None else
                   "KILLED" if issubclass(exc_type, KeyboardInterrupt) else "FAILED")

    def describe(self) -> dict[str, str]:
        """One line per layer: its module, units and coding (logged as params)."""
        return {name: f"{c.layer.module}"
                      f"{'' if c.layer.output is None else f'[{c.layer.output}]'} "
                      f"{c.layer.units} x{c.width}, {c.describe()}"
                for name, c in self.coders.items()}


def _schedule(schedule: Sequence[int] | None) -> list[int] | None:
    if schedule is None:
        return None
    steps = sorted({int(s) for s in schedule})
    if not steps or steps[0] < 0 or any(isinstance(s, bool) for s in schedule):
        raise ValueError(f"schedule: {schedule!r}; give integer steps >= 0")
    return steps


def _check_labels(labels: torch.Tensor) -> torch.Tensor:
    if labels.ndim != 1 or (labels.is_floating_point() or labels.is_complex()):
        raise ValueError(f"labels: {labels.dtype} of shape {tuple(labels.shape)}; need one "
                         "integer class label per sample (1-D), e.g. y.argmax(1) of one-hot "
                         "targets")
    return labels.cpu()
