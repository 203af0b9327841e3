"""The validated experiment configuration: one frozen dataclass per part (task, network,
training, analysis, performance, report), and the names every part of the config uses."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from nninfo.checks import is_integer
from nninfo.info.catalog import PID
from nninfo.presentation.bands import BANDS, SUBSET_BANDS

if TYPE_CHECKING:
    from nninfo.training import TrainConfig

#: analysis.binning of unquantized layers: hard bins, the published Gaussian-noise estimator
#: (density at bin centres), or Gaussian mass integrated per bin (nninfo.info.binning).
BINNINGS = ("hard", "goldfeld", "smoothed")
#: analysis.surrogates.pid_checkpoints: which of a seed's checkpoints get PID surrogates.
PID_CHECKPOINTS = ("first", "middle", "last")
GROUPING_KINDS = ("neurons", "random_subsets", "groups")
TOP_LEVEL_KEYS = ("name", "seeds", "task", "network", "training", "analysis", "performance",
                  "report", "quick")
TASK_KEYS = ("name", "seed", "options", "label_encoding")
ANALYSIS_KEYS = ("layers", "measures", "dataset", "groupings", "n_bins", "surrogates",
                 "rounding", "rounding_seed", "per_class", "binning", "noise_sigma", "target")
#: analysis.target: the class label (``label``, the default) or a mapping with these keys.
TARGET_LABEL = "label"
TARGET_KEYS = ("code_columns",)
SURROGATE_KEYS = ("mi", "pid", "pid_checkpoints", "bias_fraction", "seed")
PERFORMANCE_KEYS = ("datasets", "loss")
#: performance.loss: "training" (the loss the network is trained on, as evaluated by
#: nninfo.training.losses.OutputLoss) or "published" (the published Tester's: the trainer's
#: loss of the softmax head's probabilities, so cross-entropy of a softmax twice).
PERFORMANCE_LOSSES = ("training", "published")
REPORT_KEYS = ("band", "subset_band")
#: report.band: "quantile" (2.5-97.5 % quantiles over seeds, the published figures' band) or
#: "t" (95 % Student-t interval of the seed mean); the choices live with the seed statistics.
REPORT_BANDS = BANDS
#: report.subset_band: for random-subset groupings, the quantile band over every (seed,
#: subset) value ("values", the published Fig. 5B) or over the per-seed means ("seed_means").
REPORT_SUBSET_BANDS = SUBSET_BANDS
GROUPING_KEYS = ("name", "kind", "size", "count", "seed", "groups", "layers", "measures")
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


def _check_int(field_name: str, value: Any, minimum: int, allowed: str, *,
               nullable: bool = False) -> Any:
    """``value``, unless it is not an integer >= ``minimum`` (bools refused; None passes
    when ``nullable``): then a ConfigError with ``allowed``."""
    if nullable and value is None:
        return value
    if not is_integer(value, minimum):
        _fail(field_name, value, allowed)
    return value


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
    measures: tuple[str, ...] = ()  # empty: every measure of analysis.measures

    def applies_to(self, layer: str) -> bool:
        return not self.layers or layer in self.layers

    def measures_of(self, spec_measures: tuple[str, ...]) -> tuple[str, ...]:
        """The measures this grouping's sources get: its own list, else all of them."""
        return self.measures or spec_measures

    def source_sets(self, width: int) -> list[list[list[int]]]:
        """Lists of sources (each a list of neuron indices, 0-based) to analyse separately."""
        if self.kind == "neurons":
            return [[[i] for i in range(width)]]
        if self.kind == "groups":
            bad = [i for g in self.groups for i in g if i >= width]
            if bad:
                _fail(f"analysis.groupings[{self.name}].groups", bad, f"indices < {width}")
            return [[list(g) for g in self.groups]]
        if self.size > width:
            _fail(f"analysis.groupings[{self.name}].size", self.size, f"<= layer width {width}")
        subsets = random_subsets(width, self.size, self.count, self.seed)
        return [[[i] for i in subset] for subset in subsets]


#: Up to this many combinations, random subsets follow the published rule exactly.
PUBLISHED_SUBSET_LIMIT = 10_000_000


def random_subsets(width: int, size: int, count: int, seed: int) -> list[list[int]]:
    """``count`` distinct ``size``-subsets of ``range(width)`` (sorted neuron indices).

    The published rule (Ehrlich et al. 2023, the 4-level MNIST notebook, seed 1234): number
    the ``C(width, size)`` subsets in :func:`itertools.combinations` order, shuffle the
    numbers with ``numpy.random.RandomState(seed).permutation`` and take the first ``count``.
    Beyond :data:`PUBLISHED_SUBSET_LIMIT` combinations (too many to shuffle) distinct subsets
    are drawn from the same generator instead.
    """
    import math

    import numpy as np

    total = math.comb(width, size)
    if count > total:
        _fail("analysis.groupings.count", count,
              f"at most C({width}, {size}) = {total} distinct subsets")
    rng = np.random.RandomState(seed)
    if total <= PUBLISHED_SUBSET_LIMIT:
        return [_nth_combination(width, size, int(i))
                for i in rng.permutation(total)[:count]]
    seen: dict[tuple[int, ...], None] = {}
    while len(seen) < count:
        seen.setdefault(tuple(sorted(int(i) for i in rng.choice(width, size, replace=False))))
    return [list(subset) for subset in seen]


def _nth_combination(n: int, k: int, index: int) -> list[int]:
    """The ``index``-th ``k``-subset of ``range(n)`` in :func:`itertools.combinations` order."""
    import math

    out, start = [], 0
    for left in range(k, 0, -1):
        for c in range(start, n):
            block = math.comb(n - c - 1, left - 1)  # subsets whose next element is c
            if index < block:
                out.append(c)
                start = c + 1
                break
            index -= block
    return out


@dataclass(frozen=True)
class SurrogateSpec:
    """Shuffled-label surrogates: the estimation bias and a permutation test.

    ``mi`` shuffles of I(T; layer) at every analysed checkpoint (entropies only: cheap; 100
    gives p-values down to 1/101 < 0.01); ``pid`` shuffles of the whole PID (C, Pi_m) at the
    ``pid_checkpoints`` of each seed (``first``, ``middle``, ``last``, or ``all``); a
    (layer, checkpoint) is ``bias_dominated`` when the surrogate mean of I exceeds
    ``bias_fraction`` of I. ``seed`` seeds the permutations."""

    mi: int = 100
    pid: int = 20
    pid_checkpoints: tuple[str, ...] = PID_CHECKPOINTS
    bias_fraction: float = 0.1
    seed: int = 0

    def pid_positions(self, n_checkpoints: int) -> set[int]:
        """Positions (0-based, in step order) of the checkpoints that get PID surrogates."""
        if not self.pid or n_checkpoints == 0:
            return set()
        if self.pid_checkpoints == ("all",):
            return set(range(n_checkpoints))
        where = {"first": 0, "middle": (n_checkpoints - 1) // 2, "last": n_checkpoints - 1}
        return {where[name] for name in self.pid_checkpoints}


@dataclass(frozen=True)
class AnalysisTarget:
    """The analysis target T: the class label (no ``code_columns``, the default), or the
    joint value of ``code_columns`` (0-based) of the task's label code (binary, quaternary,
    octal digits least significant first, or one-hot columns; see
    :func:`nninfo.tasks.labels.code_symbols`), e.g. ``(0,)``: the lowest bit of the binary
    code, the target of the published binary-output MNIST notebook."""

    code_columns: tuple[int, ...] = ()

    @property
    def is_label(self) -> bool:
        return not self.code_columns

    def to_config(self) -> str | dict[str, list[int]]:
        """As written in a config: ``label`` or ``{code_columns: [...]}``."""
        return TARGET_LABEL if self.is_label else {"code_columns": list(self.code_columns)}


@dataclass(frozen=True)
class AnalysisSpec:
    layers: tuple[str, ...] = ()
    measures: tuple[str, ...] = (PID.name,)  # names from the catalogue, nninfo.info.catalog
    dataset: str = "train"
    groupings: tuple[Grouping, ...] = (Grouping(),)
    n_bins: int | None = None
    surrogates: SurrogateSpec = field(default_factory=SurrogateSpec)
    # analysis.per_class: the target-pointwise I^sx PID (atoms and C per label value)
    per_class: bool = False
    # analysis.binning of unquantized layers (BINNINGS) and the noise width of goldfeld and
    # smoothed, in activation units
    binning: str = "hard"
    noise_sigma: float | None = None
    # analysis.rounding: quantized layers rounded to the nearest level (as the quantizer in
    # eval mode), or stochastically (unbiased; the published Shannon-invariants analysis),
    # seeded by rounding_seed with the checkpoint's seed and step (nninfo.capture)
    rounding: str = "nearest"
    rounding_seed: int = 0
    # analysis.target: T is the class label, or columns of the task's label code (left out
    # of ExperimentConfig.to_dict when the label: configs without the key keep their params
    # and settings key)
    target: AnalysisTarget = field(default_factory=AnalysisTarget)


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
    # network.init: "published" (Ehrlich et al.'s scheme) or "per_activation" (gain by
    # activation, zero biases); see nninfo.nn.network.INIT_SCHEMES
    init: str = "published"

    @property
    def all_linear(self) -> bool:
        return all(layer.get("type") == "linear" for layer in self.layers)


@dataclass(frozen=True)
class PerformanceSpec:
    """Which splits the ``performance`` entry point evaluates, and which loss it logs
    (:data:`PERFORMANCE_LOSSES`; the default ``training`` is left out of
    :meth:`ExperimentConfig.to_dict`, so configs without the key keep their params and
    settings key)."""

    datasets: tuple[str, ...] = ("train", "test")
    loss: str = "training"


@dataclass(frozen=True)
class ReportSpec:
    """How figures and report tables show the spread over seeds: ``band="quantile"`` (the
    published figures: 2.5-97.5 % quantiles of the per-seed values) or ``"t"`` (the 95 %
    Student-t interval of the seed mean). ``subset_band``: for groupings of random subsets,
    ``"values"`` (the published Fig. 5B: line and quantile band over every (seed, subset)
    value) or ``"seed_means"`` (over the per-seed means over subsets). Changes only the
    ``report`` entry point and the training run's aggregates."""

    band: str = "quantile"
    subset_band: str = "values"


@dataclass(frozen=True)
class ExperimentConfig:
    """A whole experiment, validated: task, network, training, analysis, performance,
    report."""

    name: str
    seeds: tuple[int, ...]
    task: TaskSpec
    network: NetworkSpec
    training: TrainConfig
    analysis: AnalysisSpec = field(default_factory=AnalysisSpec)
    performance: PerformanceSpec = field(default_factory=PerformanceSpec)
    report: ReportSpec = field(default_factory=ReportSpec)

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON data (tuples become lists; unset optional fields are left out)."""
        d = json.loads(json.dumps(asdict(self)))
        for part in ("task", "network"):
            d[part] = {k: v for k, v in d[part].items() if v not in (None, {})}
        for grouping in d["analysis"]["groupings"]:  # every measure: as before the key existed
            if not grouping["measures"]:
                del grouping["measures"]
        if self.analysis.target.is_label:  # as before the key existed
            del d["analysis"]["target"]
        else:
            d["analysis"]["target"] = self.analysis.target.to_config()
        if d["performance"]["loss"] == PerformanceSpec.loss:  # as before the key existed
            del d["performance"]["loss"]
        return d

    def training_key(self, *extra: str) -> str:
        """A digest of what a seed's training depends on (task, network, training) and of
        ``extra`` strings (e.g. the code version)."""
        d = self.to_dict()
        return _digest([d["task"], d["network"], d["training"], *extra])

    def training_differences(self, other: ExperimentConfig) -> list[tuple[str, Any, Any]]:
        """What ``self`` and ``other`` disagree on among the parts that define the trained
        networks and their data (:data:`TRAINED_PARTS`): ``(flattened key, value here, value
        in other)`` per differing leaf, sorted by key (a value missing on one side is
        :data:`ABSENT`; lists of plain values, such as ``seeds``, are one leaf)."""
        here, there = (_leaves({p: c.to_dict()[p] for p in TRAINED_PARTS})
                       for c in (self, other))
        return [(k, here.get(k, ABSENT), there.get(k, ABSENT))
                for k in sorted(here.keys() | there.keys())
                if here.get(k, ABSENT) != there.get(k, ABSENT)]

    def settings_key(self, part: str) -> str:
        """A digest of the ``analysis`` (without its list of layers) or ``performance``
        settings: results logged under another key are recomputed."""
        spec = self.to_dict()[part]
        spec.pop("layers", None)
        return _digest([spec, self.to_dict()["task"]])


#: The parts of a config a training run's networks and data depend on (what
#: :meth:`ExperimentConfig.training_key` digests, and the seeds): an analysis, evaluation or
#: report of a training run must agree with its config on these.
TRAINED_PARTS = ("task", "network", "training", "seeds")


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


#: :meth:`ExperimentConfig.training_differences`: the value of a key one side lacks.
ABSENT: Any = _Absent()


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """``a.b.0.c`` keys -> plain values; a list of plain values (or an empty container) is
    one leaf."""
    if isinstance(value, dict) and value:
        items = value.items()
    elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        items = enumerate(value)
    else:
        return {prefix.rstrip("."): value}
    out: dict[str, Any] = {}
    for key, item in items:
        out.update(_leaves(item, f"{prefix}{key}."))
    return out


def _digest(spec: Any) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
