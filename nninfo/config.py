"""Experiment configuration: plain dataclasses loaded from YAML, validated once at the edge.

Every error names the field, the bad value and what is allowed. Overrides (``-P`` parameters
of the MLflow entry points, ``--set`` on the CLI) are applied to the raw mapping before
validation, so they are checked exactly like the file.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from nninfo.training import TrainConfig

MEASURES = ("pid", "shannon", "reing")
GROUPING_KINDS = ("neurons", "random_subsets", "groups")
TOP_LEVEL_KEYS = ("name", "seeds", "task", "network", "training", "analysis", "performance",
                  "quick")


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field."""


def _fail(field_name: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"{field_name}: {value!r} is not valid; allowed: {allowed}")


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


def load_config(path: str | Path, *, quick: bool = False,
                overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Read a YAML experiment file, apply ``quick`` and dotted overrides, validate."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config: file {str(path)!r} does not exist")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        _fail("config", type(raw).__name__, "a YAML mapping at the top level")
    return build_config(raw, quick=quick, overrides=overrides)


def build_config(raw: dict[str, Any], *, quick: bool = False,
                 overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Validate a raw mapping (as read from YAML) into an :class:`ExperimentConfig`."""
    raw = copy.deepcopy(raw)
    quick_part = raw.pop("quick", None) or {}
    if quick:
        _deep_update(raw, quick_part)
    for key, value in (overrides or {}).items():
        set_dotted(raw, key, value)
    unknown = sorted(set(raw) - set(TOP_LEVEL_KEYS))
    if unknown:
        _fail("config", unknown, f"top-level keys {', '.join(TOP_LEVEL_KEYS)}")
    for key in ("name", "task", "network", "training"):
        if key not in raw:
            raise ConfigError(f"config: missing required field {key!r}")
    if not isinstance(raw["task"], dict) or "name" not in raw["task"]:
        _fail("task", raw["task"], "a mapping with at least 'name'")
    network = raw["network"]
    if not isinstance(network, dict) or not isinstance(network.get("layers"), list):
        _fail("network", network, "a mapping with a list 'layers'")
    if not isinstance(raw["training"], dict):
        _fail("training", raw["training"], "a mapping")
    perf = raw.get("performance") or {}
    task, training = _task(raw["task"]), _training(raw["training"])
    return ExperimentConfig(
        name=str(raw["name"]),
        seeds=parse_seeds(raw.get("seeds", 1)),
        task=task,
        network=_network(network),
        training=training,
        analysis=_analysis(raw.get("analysis") or {}, len(network["layers"])),
        performance=PerformanceSpec(tuple(perf.get("datasets", ("train", "test")))),
    )


def _component(field_name: str, build):
    """``build()``, with its TypeError/ValueError turned into a ConfigError naming the field."""
    try:
        return build()
    except (TypeError, ValueError) as exc:
        message = str(exc)
        prefix = "" if message.startswith(field_name) else f"{field_name}."
        raise ConfigError(f"{prefix}{message}") from exc


def _training(raw: dict[str, Any]) -> TrainConfig:
    from nninfo.training import TrainConfig

    return _component("training", lambda: TrainConfig.from_dict(raw))


def _network(raw: dict[str, Any]) -> NetworkSpec:
    """Validate the layers by building the network once (before any work)."""
    from nninfo.nn.network import Network

    _component("network", lambda: Network.from_config(raw))
    shape = raw.get("input_shape")
    return NetworkSpec(layers=tuple(dict(layer) for layer in raw["layers"]), seed=raw.get("seed"),
                       input_shape=None if shape is None else tuple(shape))


def _task(task: dict[str, Any]) -> TaskSpec:
    from nninfo.tasks import available_tasks, task_options

    if task["name"] not in available_tasks():
        _fail("task.name", task["name"], ", ".join(available_tasks()))
    unknown_task_keys = sorted(set(task) - {"name", "seed", "options", "label_encoding"})
    if unknown_task_keys:
        _fail("task", unknown_task_keys, "keys name, seed, options, label_encoding")
    unknown = sorted(set(task.get("options") or {}) - set(task_options(task["name"])))
    if unknown:
        _fail("task.options", unknown, ", ".join(task_options(task["name"])) or "none")
    return TaskSpec(name=task["name"], seed=task.get("seed", 42),
                    options=dict(task.get("options") or {}),
                    label_encoding=task.get("label_encoding"))


def parse_seeds(value: Any) -> tuple[int, ...]:
    """``3`` -> (0, 1, 2); ``"3,5"`` or ``[3, 5]`` -> (3, 5)."""
    if isinstance(value, bool):
        _fail("seeds", value, "a positive count or a list of non-negative integers")
    if isinstance(value, int):
        if value < 1:
            _fail("seeds", value, "a positive count or a list of non-negative integers")
        return tuple(range(value))
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if len(parts) == 1 and parts[0].isdigit():
            return parse_seeds(int(parts[0]))
        value = parts
    try:
        seeds = tuple(int(s) for s in value)
    except (TypeError, ValueError):
        _fail("seeds", value, "a positive count or a list of non-negative integers")
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        _fail("seeds", value, "a non-empty list of distinct non-negative integers")
    return seeds


def _analysis(raw: dict[str, Any], n_layers: int) -> AnalysisSpec:
    allowed_layers = [f"L{i}" for i in range(1, n_layers + 1)]
    layers = tuple(raw.get("layers", ()))
    for layer in layers:
        if layer not in allowed_layers:
            _fail("analysis.layers", layer, ", ".join(allowed_layers))
    measures = tuple(raw.get("measures", ("pid",)))
    for m in measures:
        if m not in MEASURES:
            _fail("analysis.measures", m, ", ".join(MEASURES))
    groupings = tuple(_grouping(g) for g in raw.get("groupings", [{"name": "neurons"}]))
    names = [g.name for g in groupings]
    if len(set(names)) != len(names):
        _fail("analysis.groupings", names, "distinct names")
    for g in groupings:
        for layer in g.layers:
            if layer not in layers:
                _fail(f"analysis.groupings[{g.name}].layers", layer,
                      f"layers listed in analysis.layers ({', '.join(layers)})")
    n_bins = raw.get("n_bins")
    if n_bins is not None and (not isinstance(n_bins, int) or n_bins < 2):
        _fail("analysis.n_bins", n_bins, "an integer >= 2 or null")
    surrogates = raw.get("surrogates", 0)
    if not isinstance(surrogates, int) or surrogates < 0:
        _fail("analysis.surrogates", surrogates, "an integer >= 0")
    return AnalysisSpec(layers=layers, measures=measures, dataset=str(raw.get("dataset", "train")),
                        groupings=groupings, n_bins=n_bins, surrogates=surrogates)


def _grouping(raw: dict[str, Any]) -> Grouping:
    kind = raw.get("kind", "neurons")
    if kind not in GROUPING_KINDS:
        _fail("analysis.groupings.kind", kind, ", ".join(GROUPING_KINDS))
    name = str(raw.get("name", kind))
    if kind == "random_subsets":
        for key in ("size", "count"):
            if not isinstance(raw.get(key), int) or raw[key] < 1:
                _fail(f"analysis.groupings[{name}].{key}", raw.get(key), "a positive integer")
    groups: tuple[tuple[int, ...], ...] = ()
    if kind == "groups":
        try:
            groups = tuple(tuple(int(i) for i in g) for g in raw["groups"])
        except (KeyError, TypeError, ValueError):
            _fail(f"analysis.groupings[{name}].groups", raw.get("groups"),
                  "a list of lists of 0-based neuron indices")
        flat = [i for g in groups for i in g]
        if not groups or len(set(flat)) != len(flat) or min(flat) < 0:
            _fail(f"analysis.groupings[{name}].groups", raw.get("groups"),
                  "non-empty, disjoint lists of non-negative neuron indices")
    return Grouping(name=name, kind=kind, size=int(raw.get("size", 0)),
                    count=int(raw.get("count", 0)), seed=int(raw.get("seed", 0)), groups=groups,
                    layers=tuple(raw.get("layers", ())))


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set ``raw['a']['b'] = value`` for ``key == 'a.b'``, parsing strings as YAML scalars."""
    if isinstance(value, str):
        value = yaml.safe_load(value) if value != "" else value
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            _fail(key, value, f"a path through mappings ({part!r} is not a mapping)")
    node[parts[-1]] = value


def _deep_update(base: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested mappings/lists into ``a.b.0.c`` keys (MLflow params)."""
    out: dict[str, str] = {}
    items = d.items() if isinstance(d, dict) else enumerate(d)
    for key, value in items:
        name = f"{prefix}{key}"
        if isinstance(value, dict | list | tuple) and value:
            out.update(flatten(value if isinstance(value, dict) else list(value), name + "."))
        else:
            out[name] = str(value)
    return out
