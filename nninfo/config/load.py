"""Experiment configuration from YAML: overrides applied to the raw mapping, then every field
validated once, before any work. Every error names the field, the bad value and what is
allowed. Overrides (``-P`` parameters of the MLflow entry points, ``--set`` on the CLI) are
checked exactly like the file.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from nninfo.checks import is_integer
from nninfo.config.analysis import _analysis
from nninfo.config.fit import _check_task_fit
from nninfo.config.spec import (
    ALL_SPLITS,
    NAME_MAX_BYTES,
    PERFORMANCE_KEYS,
    PERFORMANCE_LOSSES,
    REPORT_BANDS,
    REPORT_KEYS,
    REPORT_SUBSET_BANDS,
    TASK_KEYS,
    TOP_LEVEL_KEYS,
    ConfigError,
    ExperimentConfig,
    NetworkSpec,
    PerformanceSpec,
    ReportSpec,
    TaskSpec,
    _check_int,
    _check_keys,
    _fail,
)

if TYPE_CHECKING:
    from nninfo.training import TrainConfig

MAX_SEEDS = 10_000
"""Most seeds of an experiment: each is an MLflow run of its own, with its params, checkpoints
and metrics, and its own training job."""
MAX_CHECKPOINTS = 10_000
"""Most checkpoints per seed (``training.checkpoint_count``): each is a saved model logged as
an artifact, evaluated and analysed for every layer, and a step of every metric."""


def load_config(path: str | Path, *, quick: bool = False,
                overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Read a YAML experiment file, apply ``quick`` and dotted overrides, validate."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config: file {str(path)!r} does not exist")
    try:
        raw = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"config: {str(path)!r}{where}: YAML syntax error: {problem}") from None
    if raw is None:
        raise ConfigError(f"config: {str(path)!r} is empty; allowed: a YAML mapping with at "
                          "least name, task, network and training")
    if not isinstance(raw, dict):
        _fail("config", type(raw).__name__, "a YAML mapping at the top level")
    return build_config(raw, quick=quick, overrides=overrides)


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml's SafeLoader, refusing a key given twice in one mapping (YAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue  # merge keys (<<) may repeat keys; complex keys: yaml's own checks
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def build_config(raw: dict[str, Any], *, quick: bool = False,
                 overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Validate a raw mapping (as read from YAML) into an :class:`ExperimentConfig`.

    Everything the config can get wrong is checked here, before any work: unknown keys in
    every section, values, the network's layer chain (with the task's input shape when the
    task declares it), analysis datasets, layers, groupings and the number of sources each
    measure allows, the experiment and grouping names. What depends on a task that declares
    neither its splits nor its input shape is checked by :func:`check_against_task`.
    """
    raw = copy.deepcopy(raw)
    quick_part = raw.pop("quick", None) or {}
    if not isinstance(quick_part, dict):
        _fail("quick", quick_part, "a mapping of config sections to override")
    if quick:
        _deep_update(raw, quick_part)
    for key, value in (overrides or {}).items():
        set_dotted(raw, key, value)
    _check_keys("config", raw, TOP_LEVEL_KEYS)
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
    for part in ("analysis", "performance", "report"):
        if not isinstance(raw.get(part) or {}, dict):
            _fail(part, raw[part], "a mapping")
    name = check_experiment_name("name", raw["name"])
    seeds = parse_seeds(raw.get("seeds", 1))
    task, training = _task(raw["task"]), _training(raw["training"])
    net_spec, layer_names = _network(network, training)
    cfg = ExperimentConfig(
        name=name,
        seeds=seeds,
        task=task,
        network=net_spec,
        training=training,
        analysis=_analysis(raw.get("analysis") or {}, layer_names),
        performance=_performance(raw.get("performance") or {}),
        report=_report(raw.get("report") or {}),
    )
    from nninfo.tasks import task_input_shape, task_splits

    _check_task_fit(cfg, task_splits(task.name, task.options),
                    task_input_shape(task.name, task.options), "the task's")
    return cfg


def check_experiment_name(field_name: str, value: Any) -> str:
    """``value`` as an experiment name, if it is a safe single path component that MLflow
    takes as an experiment name (reports are written to ``<out-dir>/<name>``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    allowed = (f"a non-empty name of at most {NAME_MAX_BYTES} bytes of printable characters, "
               "without '/', '\\', '..', a leading '.' or leading/trailing spaces")
    if (not isinstance(value, str) or not value or not value.isprintable()
            or any(c in value for c in "/\\") or ".." in value or value.startswith(".")
            or value != value.strip() or len(value.encode()) > NAME_MAX_BYTES):
        _fail(field_name, value, allowed)
    return value


def _performance(raw: dict[str, Any]) -> PerformanceSpec:
    _check_keys("performance", raw, PERFORMANCE_KEYS)
    datasets = raw.get("datasets", ["train", "test"])
    if (not isinstance(datasets, list | tuple) or not datasets
            or not all(isinstance(d, str) for d in datasets)
            or len(set(datasets)) != len(datasets)):
        _fail("performance.datasets", datasets,
              f"a non-empty list of distinct split names of the task or {ALL_SPLITS!r}")
    loss = raw.get("loss", PerformanceSpec.loss)
    if not isinstance(loss, str) or loss not in PERFORMANCE_LOSSES:
        _fail("performance.loss", loss, f"{' or '.join(PERFORMANCE_LOSSES)} (training: the "
              "loss the network is trained on; published: the published tester's, "
              "cross-entropy of a softmax head's probabilities, a double softmax)")
    return PerformanceSpec(tuple(datasets), loss)


def _report(raw: dict[str, Any]) -> ReportSpec:
    _check_keys("report", raw, REPORT_KEYS)
    band = raw.get("band", ReportSpec.band)
    if not isinstance(band, str) or band not in REPORT_BANDS:
        _fail("report.band", band, f"{' or '.join(REPORT_BANDS)} (quantile: the 2.5-97.5 % "
              "quantiles over seeds of the published figures; t: the 95 % t-interval of "
              "the seed mean)")
    subset_band = raw.get("subset_band", ReportSpec.subset_band)
    if not isinstance(subset_band, str) or subset_band not in REPORT_SUBSET_BANDS:
        _fail("report.subset_band", subset_band, f"{' or '.join(REPORT_SUBSET_BANDS)} "
              "(values: the quantile band of a random-subset grouping over every (seed, "
              "subset) value, as the published Fig. 5B; seed_means: over the per-seed means "
              "over subsets)")
    return ReportSpec(band=band, subset_band=subset_band)


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

    count = raw.get("checkpoint_count")
    if is_integer(count) and count > MAX_CHECKPOINTS:  # else: TrainConfig's own checks
        _fail("training.checkpoint_count", count, f"an integer in 2..{MAX_CHECKPOINTS}: every "
              "checkpoint is a saved model logged to MLflow, evaluated and analysed for every "
              "layer, and a step of every metric")
    return _component("training", lambda: TrainConfig.from_dict(raw))


def _network(raw: dict[str, Any], training: TrainConfig) -> tuple[NetworkSpec, list[str]]:
    """Validate the layers by building the network once (before any work), and the loss
    against its output layer."""
    from nninfo.nn.network import DEFAULT_INIT, INIT_SCHEMES, Network
    from nninfo.training.losses import OutputLoss

    seed = raw.get("seed")
    _check_int("network.seed", seed, 0,
               "null (each training seed initialises) or an integer >= 0", nullable=True)
    shape = raw.get("input_shape")
    if shape is not None and (
            not isinstance(shape, list | tuple) or not shape
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1
                       for n in shape)):
        _fail("network.input_shape", shape, "null or a list of positive integers, e.g. [3, 32, 32]")
    init = raw.get("init")
    init = DEFAULT_INIT if init is None else init
    if init not in INIT_SCHEMES:
        _fail("network.init", init, "published (Ehrlich et al. 2023: xavier gain 5/3 on linear "
              "layers, sqrt(2) on conv, PyTorch's default biases) or per_activation (xavier "
              "with each activation's gain, kaiming for relu, zero biases)")
    # seed 0: checking the layers does not draw from the global random number generator
    net = _component("network", lambda: Network.from_config({**raw, "seed": 0}))
    _component("training", lambda: OutputLoss(training.loss, net.output_activation,
                                              net.output_quantized))
    spec = NetworkSpec(layers=tuple(dict(layer) for layer in raw["layers"]), seed=seed,
                       input_shape=None if shape is None else tuple(shape), init=init)
    return spec, list(net.layer_names)


def _task(task: dict[str, Any]) -> TaskSpec:
    from nninfo.tasks import ENCODINGS, available_tasks, task_options

    if not isinstance(task["name"], str) or task["name"] not in available_tasks():
        _fail("task.name", task["name"], ", ".join(available_tasks()))
    _check_keys("task", task, TASK_KEYS)
    options = task.get("options") or {}
    if not isinstance(options, dict):
        _fail("task.options", options, "a mapping of option names to values")
    known = task_options(task["name"])
    unknown = sorted(set(options) - set(known), key=str)
    if unknown:
        _fail("task.options", unknown, ", ".join(known) or "none")
    seed = task.get("seed", 42)
    _check_int("task.seed", seed, 0, "an integer >= 0")
    encoding = task.get("label_encoding")
    if encoding is not None and encoding not in ENCODINGS:
        _fail("task.label_encoding", encoding, f"null (the task's default) or "
              f"{', '.join(ENCODINGS)}")
    return TaskSpec(name=task["name"], seed=seed, options=dict(options), label_encoding=encoding)


def parse_seeds(value: Any) -> tuple[int, ...]:
    """``3`` -> (0, 1, 2); ``"3,5"`` or ``[3, 5]`` -> (3, 5). At most :data:`MAX_SEEDS`
    seeds, checked before any list of them is made."""
    too_many = (f"at most {MAX_SEEDS} seeds (each seed is an MLflow run of its own, with its "
                "params, checkpoints and metrics, and a training job): a count 1.."
                f"{MAX_SEEDS} or a list of at most {MAX_SEEDS} distinct non-negative integers")
    if isinstance(value, bool):
        _fail("seeds", value, "a positive count or a list of non-negative integers")
    if isinstance(value, int):
        if value < 1:
            _fail("seeds", value, "a positive count or a list of non-negative integers")
        if value > MAX_SEEDS:
            _fail("seeds", value, too_many)
        return tuple(range(value))
    if isinstance(value, str):
        if value.count(",") >= MAX_SEEDS:
            _fail("seeds", f"{value[:40]}... ({value.count(',') + 1} items)", too_many)
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if len(parts) == 1 and parts[0].isdigit():
            return parse_seeds(int(parts[0]))
        value = parts
    if isinstance(value, list | tuple) and len(value) > MAX_SEEDS:
        _fail("seeds", f"a list of {len(value)} seeds", too_many)
    try:
        seeds = tuple(int(s) for s in value)
    except (TypeError, ValueError):
        _fail("seeds", value, "a positive count or a list of non-negative integers")
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        _fail("seeds", value, "a non-empty list of distinct non-negative integers")
    return seeds


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set ``raw['a']['b'] = value`` for ``key == 'a.b'``, parsing strings as YAML scalars."""
    if isinstance(value, str) and value != "":
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"{key}: {value!r} is not a YAML value ({problem}); quote "
                              "strings with special characters") from None
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


