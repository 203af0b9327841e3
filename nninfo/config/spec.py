"""The validated experiment configuration: one frozen dataclass per part (task, network,
training, analysis, performance), and the names every part of the config uses."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nninfo.training import TrainConfig

MEASURES = ("pid", "shannon", "reing")
GROUPING_KINDS = ("neurons", "random_subsets", "groups")
TOP_LEVEL_KEYS = ("name", "seeds", "task", "network", "training", "analysis", "performance",
                  "quick")
TASK_KEYS = ("name", "seed", "options", "label_encoding")
ANALYSIS_KEYS = ("layers", "measures", "dataset", "groupings", "n_bins", "surrogates")
PERFORMANCE_KEYS = ("datasets",)
GROUPING_KEYS = ("name", "kind", "size", "count", "seed", "groups", "layers")
#: The keys each grouping kind uses besides name, kind and layers.
GROUPING_FIELDS = {"neurons": (), "random_subsets": ("size", "count", "seed"),
                   "groups": ("groups",)}
ALL_SPLITS = "all"  # analysis.dataset / performance.datasets: every sample of the task
NAME_MAX_BYTES = 255  # experiment names: one path component of the report folder
GROUPING_NAME_MAX = 100
GROUPING_NAME = re.compile(r"[\w.\- ]+")  # MLflow's metric key characters, less '/' and ':'


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field."""


def _fail(field_name: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"{field_name}: {value!r} is not valid; allowed: {allowed}")


def _check_keys(section: str, raw: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted((k for k in raw if k not in allowed), key=str)
    if unknown:
        keys = ", ".join(repr(k) for k in unknown)
        raise ConfigError(f"{section}: unknown key{'s' if len(unknown) > 1 else ''} {keys}; "
                          f"allowed: {', '.join(allowed)}")


@dataclass(frozen=True)
class Grouping:
    """How a layer's neurons become PID sources."""

    name: str = "neurons"
    kind: str = "neurons"
    size: int = 0
    count: int = 0
    seed: int = 0
    groups: tuple[tuple[int, ...], ...] = ()
    layers: tuple[str, ...] = ()  # empty: every analysed layer

    def applies_to(self, layer: str) -> bool:
        return not self.layers or layer in self.layers

    def source_sets(self, width: int) -> list[list[list[int]]]:
        """Lists of sources (each a list of neuron indices, 0-based) to analyse separately."""
        if self.kind == "neurons":
            return [[[i] for i in range(width)]]
        if self.kind == "groups":
            bad = [i for g in self.groups for i in g if i >= width]
            if bad:
                _fail(f"analysis.groupings[{self.name}].groups", bad, f"indices < {width}")
            return [[list(g) for g in self.groups]]
        import numpy as np

        if self.size > width:
            _fail(f"analysis.groupings[{self.name}].size", self.size, f"<= layer width {width}")
        rng = np.random.default_rng(self.seed)
        return [[[int(i)] for i in sorted(rng.choice(width, self.size, replace=False))]
                for _ in range(self.count)]


@dataclass(frozen=True)
class AnalysisSpec:
    layers: tuple[str, ...] = ()
    measures: tuple[str, ...] = ("pid",)
    dataset: str = "train"
    groupings: tuple[Grouping, ...] = (Grouping(),)
    n_bins: int | None = None
    surrogates: int = 0


@dataclass(frozen=True)
class TaskSpec:
    """Which task (dataset and split) to learn."""

    name: str
    seed: int = 42  # seed of the train/test split (42: the published Tishby split)
    options: dict[str, Any] = field(default_factory=dict)
    label_encoding: str | None = None


@dataclass(frozen=True)
class NetworkSpec:
    """The network's layers (L1..Lk) and, optionally, a fixed initialisation seed."""

    layers: tuple[dict[str, Any], ...]
    seed: int | None = None  # None: each training seed initialises its own network
    input_shape: tuple[int, ...] | None = None

    @property
    def all_linear(self) -> bool:
        return all(layer.get("type") == "linear" for layer in self.layers)


@dataclass(frozen=True)
class PerformanceSpec:
    datasets: tuple[str, ...] = ("train", "test")


@dataclass(frozen=True)
class ExperimentConfig:
    """A whole experiment, validated: task, network, training, analysis, performance."""

    name: str
    seeds: tuple[int, ...]
    task: TaskSpec
    network: NetworkSpec
    training: TrainConfig
    analysis: AnalysisSpec = field(default_factory=AnalysisSpec)
    performance: PerformanceSpec = field(default_factory=PerformanceSpec)

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON data (tuples become lists; unset optional fields are left out)."""
        d = json.loads(json.dumps(asdict(self)))
        for part in ("task", "network"):
            d[part] = {k: v for k, v in d[part].items() if v not in (None, {})}
        return d

    def training_key(self, *extra: str) -> str:
        """A digest of what a seed's training depends on (task, network, training) and of
        ``extra`` strings (e.g. the code version)."""
        d = self.to_dict()
        return _digest([d["task"], d["network"], d["training"], *extra])

    def settings_key(self, part: str) -> str:
        """A digest of the ``analysis`` (without its list of layers) or ``performance``
        settings: results logged under another key are recomputed."""
        spec = self.to_dict()[part]
        spec.pop("layers", None)
        return _digest([spec, self.to_dict()["task"]])


def _digest(spec: Any) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
