"""The ``analysis`` section: which layers, measures, dataset, groupings of neurons into
sources, binning and surrogates."""

from __future__ import annotations

from typing import Any

from nninfo.checks import is_integer
from nninfo.config.fit import source_limits
from nninfo.config.spec import (
    ALL_SPLITS,
    ANALYSIS_KEYS,
    BINNINGS,
    GROUPING_FIELDS,
    GROUPING_KEYS,
    GROUPING_KINDS,
    GROUPING_NAME,
    GROUPING_NAME_MAX,
    PID_CHECKPOINTS,
    SURROGATE_KEYS,
    TARGET_KEYS,
    TARGET_LABEL,
    AnalysisSpec,
    AnalysisTarget,
    Grouping,
    SurrogateSpec,
    _check_int,
    _check_keys,
    _fail,
)
from nninfo.info.binning import MAX_BINS, MIN_BINS
from nninfo.info.catalog import PID, canonical_name, entries, measure_names

MAX_SUBSETS = 10_000
"""Most random subsets of one grouping (``analysis.groupings[...].count``)."""


def _names(field_name: str, value: Any, allowed: str) -> tuple[str, ...]:
    """A list of distinct strings (a YAML list), else a ConfigError."""
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value) \
            or len(set(value)) != len(value):
        _fail(field_name, value, f"a list of distinct names from {allowed}")
    return tuple(value)


def _analysis(raw: dict[str, Any], layer_names: list[str]) -> AnalysisSpec:
    _check_keys("analysis", raw, ANALYSIS_KEYS)

    def given(key: str, default: Any) -> Any:  # a key left empty (``layers:``): the default
        return default if raw.get(key) is None else raw[key]

    layers = _names("analysis.layers", given("layers", []), ", ".join(layer_names))
    for layer in layers:
        if layer not in layer_names:
            _fail("analysis.layers", layer, ", ".join(layer_names))
    measures = _measures(given("measures", [PID.name]))
    dataset = raw.get("dataset", "train")
    if not isinstance(dataset, str):
        _fail("analysis.dataset", dataset, f"a split name of the task or {ALL_SPLITS!r}")
    raw_groupings = given("groupings", [{"name": "neurons"}])
    if not isinstance(raw_groupings, list):
        _fail("analysis.groupings", raw_groupings, "a list of groupings (mappings)")
    groupings = tuple(_grouping(g, i) for i, g in enumerate(raw_groupings))
    names = [g.name for g in groupings]
    if len(set(names)) != len(names):
        _fail("analysis.groupings", names, "distinct names")
    analysed = layers or tuple(layer_names)
    for g in groupings:
        for layer in g.layers:
            if layer not in analysed:
                _fail(f"analysis.groupings[{g.name}].layers", layer,
                      f"analysed layers ({', '.join(analysed)})")
        for name in g.measures:
            if name not in measures:
                _fail(f"analysis.groupings[{g.name}].measures", name,
                      f"measures of analysis.measures ({', '.join(measures)})")
        for measure, most in source_limits(g.measures_of(measures)).items():
            n = len(g.groups) if g.kind == "groups" else g.size
            if g.kind != "neurons" and n > most:
                what = "groups" if g.kind == "groups" else "size"
                _fail(f"analysis.groupings[{g.name}].{what}",
                      [list(group) for group in g.groups] if g.groups else g.size,
                      f"at most {most} sources for measure {measure!r} ({n} given)")
    from nninfo.capture import ROUNDINGS  # here: importing the config needs no torch

    n_bins = _check_int("analysis.n_bins", raw.get("n_bins"), MIN_BINS,
                        f"an integer >= {MIN_BINS} or null", nullable=True)
    if n_bins is not None and n_bins > MAX_BINS:
        _fail("analysis.n_bins", n_bins, f"an integer in {MIN_BINS}..{MAX_BINS} or null: finer "
              "bins leave almost every bin empty for any data set's number of samples, so the "
              "estimates would measure the sample size, not the layer")
    surrogates = _surrogates(given("surrogates", {}))
    per_class = given("per_class", False)
    with_classes = [e.name for e in entries() if e.per_class]
    if not isinstance(per_class, bool) or (per_class and not set(with_classes) & set(measures)):
        needs = " or ".join(map(repr, with_classes))
        _fail("analysis.per_class", per_class, f"true (needs {needs} in analysis.measures) "
              "or false")
    binning, noise_sigma = _binning(given("binning", "hard"), raw.get("noise_sigma"), n_bins)

    rounding = given("rounding", "nearest")
    if not isinstance(rounding, str) or rounding not in ROUNDINGS:
        _fail("analysis.rounding", rounding, "nearest (each quantized layer to its nearest "
              "level) or stochastic (unbiased random rounding, as the published "
              "Shannon-invariants analysis; seeded by analysis.rounding_seed)")
    rounding_seed = _check_int("analysis.rounding_seed", given("rounding_seed", 0), 0,
                               "an integer >= 0")
    target = _target(given("target", TARGET_LABEL))
    return AnalysisSpec(layers=layers, measures=measures, dataset=dataset,
                        groupings=groupings, n_bins=n_bins, surrogates=surrogates,
                        rounding=rounding, rounding_seed=rounding_seed, per_class=per_class,
                        binning=binning, noise_sigma=noise_sigma, target=target)


def analysis_spec(raw: dict[str, Any], layer_names: list[str]) -> AnalysisSpec:
    """The ``analysis`` section ``raw`` checked against ``layer_names``, as for a config."""
    return _analysis(raw, layer_names)


def _measures(value: Any) -> tuple[str, ...]:
    """``analysis.measures``: distinct catalogue names (an old spelling becomes its current
    name, with a warning)."""
    allowed = ", ".join(measure_names())
    names = _names("analysis.measures", value, allowed)
    try:
        measures = tuple(canonical_name(m) for m in names)
    except KeyError as exc:
        _fail("analysis.measures", exc.args[0], allowed)
    if len(set(measures)) != len(measures):
        _fail("analysis.measures", list(names), f"a list of distinct names from {allowed}")
    return measures


TARGET_ALLOWED = (f"{TARGET_LABEL} (the class index, the default) or a mapping "
                  "{code_columns: [...]}: distinct 0-based columns of the task's label code "
                  "(task.label_encoding binary, quaternary or octal: digits, least significant "
                  "first; onehot: one column per class), T being their joint value; e.g. "
                  "{code_columns: [0]}, the lowest bit of the binary code")


def _target(raw: Any) -> AnalysisTarget:
    """``analysis.target``: ``label`` or ``{code_columns: [...]}`` (the columns' bound, the
    code's width, needs the task's encoding and classes: :func:`nninfo.config.fit.check_target`)."""
    if raw == TARGET_LABEL:
        return AnalysisTarget()
    if not isinstance(raw, dict):
        _fail("analysis.target", raw, TARGET_ALLOWED)
    _check_keys("analysis.target", raw, TARGET_KEYS)
    columns = raw.get("code_columns")
    if (not isinstance(columns, list | tuple) or not columns
            or not all(is_integer(c, 0) for c in columns) or len(set(columns)) != len(columns)):
        _fail("analysis.target.code_columns", columns, "a non-empty list of distinct 0-based "
              "column indices of the task's label code, e.g. [0]")
    return AnalysisTarget(code_columns=tuple(int(c) for c in columns))


def _surrogates(raw: Any) -> SurrogateSpec:
    """``analysis.surrogates``: a mapping; missing keys take :class:`SurrogateSpec`'s
    defaults."""
    if not isinstance(raw, dict):
        _fail("analysis.surrogates", raw, "a mapping with keys " + ", ".join(SURROGATE_KEYS)
              + " (e.g. {mi: 100, pid: 20}; {mi: 0, pid: 0} turns surrogates off)")
    _check_keys("analysis.surrogates", raw, SURROGATE_KEYS)
    default = SurrogateSpec()
    mi = _check_int("analysis.surrogates.mi", raw.get("mi", default.mi), 0,
                    "an integer >= 0 (shuffles of I at every checkpoint; 0: none)")
    pid = _check_int("analysis.surrogates.pid", raw.get("pid", default.pid), 0,
                     "an integer >= 0 (shuffles of the PID; 0: none)")
    seed = _check_int("analysis.surrogates.seed", raw.get("seed", default.seed), 0,
                      "an integer >= 0")
    where = raw.get("pid_checkpoints", list(default.pid_checkpoints))
    if where == "all":
        where = ["all"]
    if (not isinstance(where, list | tuple) or not where or len(set(where)) != len(where)
            or not (where == ["all"] or all(w in PID_CHECKPOINTS for w in where))):
        _fail("analysis.surrogates.pid_checkpoints", where,
              f"'all' or a list of distinct names from {', '.join(PID_CHECKPOINTS)}")
    fraction = raw.get("bias_fraction", default.bias_fraction)
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) \
            or not 0 < fraction <= 1:
        _fail("analysis.surrogates.bias_fraction", fraction, "a number in (0, 1]")
    return SurrogateSpec(mi=mi, pid=pid, pid_checkpoints=tuple(where),
                         bias_fraction=float(fraction), seed=seed)


def _binning(binning: Any, sigma: Any, n_bins: int | None) -> tuple[str, float | None]:
    """``analysis.binning`` and ``analysis.noise_sigma``: sigma > 0 with goldfeld and
    smoothed (which also need n_bins), absent with hard."""
    if not isinstance(binning, str) or binning not in BINNINGS:
        _fail("analysis.binning", binning, "hard (equal-width bins), goldfeld (the published "
              "noise estimator: Gaussian density at bin centres) or smoothed (Gaussian mass "
              "per bin)")
    if binning == "hard":
        if sigma is not None:
            _fail("analysis.noise_sigma", sigma, "null with binning: hard (set analysis."
                  "binning to goldfeld or smoothed to smooth with Gaussian noise)")
        return binning, None
    if isinstance(sigma, bool) or not isinstance(sigma, int | float) or not 0 < sigma < 1e6:
        _fail("analysis.noise_sigma", sigma, f"a number > 0 (the noise's standard deviation "
              f"in activation units) with binning: {binning}")
    if n_bins is None:
        _fail("analysis.n_bins", n_bins, f"an integer >= {MIN_BINS} with binning: {binning} "
              "(the bin grid between the layer limits)")
    return binning, float(sigma)


def check_grouping_name(field_name: str, name: Any) -> str:
    """``name`` if it can be part of a metric key ``<layer>/<grouping>/<measure>.<quantity>``:
    letters, digits, ``_ - .`` and spaces (what MLflow takes in a metric key, less ``/``, which
    separates the key's parts, and ``:``, which Windows refuses), not only dots, not a measure
    name, at most :data:`GROUPING_NAME_MAX` characters."""
    if isinstance(name, int) and not isinstance(name, bool):
        name = str(name)
    if (not isinstance(name, str) or not GROUPING_NAME.fullmatch(name) or set(name) == {"."}
            or name in measure_names() or name != name.strip() or len(name) > GROUPING_NAME_MAX
            or name.startswith("class_")):
        _fail(field_name, name,
              f"a name of letters, digits, '_', '-', '.' and inner spaces (no '/'), at most "
              f"{GROUPING_NAME_MAX} characters, not only dots, not starting with 'class_' "
              f"(per-class results), not a measure name ({', '.join(measure_names())})")
    return name


def _grouping(raw: Any, index: int) -> Grouping:
    where = f"analysis.groupings[{index}]"
    if not isinstance(raw, dict):
        _fail(where, raw, "a mapping with name, kind and the kind's fields")
    kind = raw.get("kind", "neurons")
    if kind not in GROUPING_KINDS:
        _fail(f"{where}.kind", kind, ", ".join(GROUPING_KINDS))
    name = check_grouping_name(f"{where}.name", raw.get("name", kind))
    if kind != "neurons" and name == "neurons":
        _fail(f"{where}.name", name, "a name other than 'neurons' (the results' name of the "
              "groupings of kind neurons) for a grouping of kind " + repr(kind))
    where = f"analysis.groupings[{name}]"
    _check_keys(where, raw, GROUPING_KEYS)
    defaults = {"size": 0, "count": 0, "seed": 0, "groups": []}
    for key in defaults:
        if key not in GROUPING_FIELDS[kind] and raw.get(key, defaults[key]) not in (
                defaults[key], None, ()):
            _fail(f"{where}.{key}", raw[key], f"keys of kind {kind!r}: "
                  f"{', '.join(('name', 'kind', *GROUPING_FIELDS[kind], 'layers'))}")
    if kind == "random_subsets":
        for key in ("size", "count"):
            _check_int(f"{where}.{key}", raw.get(key), 1, "a positive integer")
        if raw["count"] > MAX_SUBSETS:
            _fail(f"{where}.count", raw["count"], f"an integer in 1..{MAX_SUBSETS}: every subset "
                  "is analysed on its own at every checkpoint of every seed")
        _check_int(f"{where}.seed", raw.get("seed", 0), 0, "an integer >= 0")
    groups: tuple[tuple[int, ...], ...] = ()
    if kind == "groups":
        try:
            groups = tuple(tuple(_index(i) for i in g) for g in raw["groups"])
        except (KeyError, TypeError, ValueError):
            _fail(f"{where}.groups", raw.get("groups"),
                  "a list of lists of 0-based neuron indices")
        flat = [i for g in groups for i in g]
        if not groups or not all(groups) or len(set(flat)) != len(flat) or min(flat) < 0:
            _fail(f"{where}.groups", raw.get("groups"),
                  "non-empty, disjoint lists of non-negative neuron indices")
    layers = raw.get("layers", [])
    if not isinstance(layers, list | tuple) or not all(isinstance(v, str) for v in layers):
        _fail(f"{where}.layers", layers, "a list of analysed layer names")
    chosen = _measures(raw["measures"]) if raw.get("measures") else ()
    return Grouping(name=name, kind=kind, size=int(raw.get("size") or 0),
                    count=int(raw.get("count") or 0), seed=int(raw.get("seed") or 0),
                    groups=groups, layers=tuple(layers), measures=chosen)


def _index(value: Any) -> int:
    if not is_integer(value):
        raise TypeError(value)
    return value
