"""Checks of a config against its task and its own network: the layers chain from the task's
input shape, datasets are the task's splits, groupings and measures fit each layer's width."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from nninfo.config.spec import (
    ALL_SPLITS,
    AnalysisSpec,
    ConfigError,
    ExperimentConfig,
    NetworkSpec,
    _fail,
)
from nninfo.info.catalog import MeasureEntry, measure

if TYPE_CHECKING:
    from nninfo.tasks import Task


def needs_task_check(cfg: ExperimentConfig) -> bool:
    """Whether :func:`build_config` left checks for the loaded task: the task does not
    declare its split names or its input shape (see :func:`nninfo.tasks.register_task`)."""
    from nninfo.tasks import task_input_shape, task_splits

    options = cfg.task.options
    return (task_splits(cfg.task.name, options) is None
            or task_input_shape(cfg.task.name, options) is None)


def check_against_task(cfg: ExperimentConfig, task: Task) -> None:
    """Raise :class:`ConfigError` if ``cfg`` does not fit the loaded ``task``: analysis and
    performance datasets that are not its splits, layers that do not chain from its input
    shape, group indices beyond a layer's width, more sources than a measure allows.

    :func:`build_config` runs the same checks when the task declares its splits and input
    shape (every built-in task does); for other tasks (:func:`needs_task_check`) call this
    right after loading the task, before any run is created.
    """
    _check_task_fit(cfg, tuple(task.splits), tuple(task.input_shape), "the task's")
    check_target(cfg, task)


def check_target(cfg: ExperimentConfig, task: Task) -> None:
    """Raise :class:`ConfigError` if ``analysis.target`` selects code columns that the
    loaded ``task``'s label code does not have (its encoding and number of classes are known
    only once it is loaded; the pipeline checks this before any run is created)."""
    _check_target_encoding(cfg, task.label_encoding)
    columns = cfg.analysis.target.code_columns
    if columns:
        from nninfo.tasks.labels import code_columns_problem

        problem = code_columns_problem(columns, task.label_encoding, task.n_classes)
        if problem:
            _fail("analysis.target.code_columns", list(columns), f"{problem} (task "
                  f"{task.name!r}, label_encoding {task.label_encoding})")


def _check_target_encoding(cfg: ExperimentConfig, encoding: str | None) -> None:
    """Code columns need a label code: one-hot or positional, not ``index`` (the class
    itself: ``analysis.target: label``) nor ``reconstruction`` (no code). ``None`` (the
    task's default, unknown before it is loaded) passes."""
    from nninfo.tasks.labels import CODED

    target = cfg.analysis.target
    if target.is_label or encoding is None or encoding in CODED:
        return
    _fail("analysis.target", target.to_config(),
          f"label with task.label_encoding {encoding!r} (only {', '.join(CODED)} have code "
          "columns: index is the class itself, reconstruction has no label code)")


def _layer_widths(spec: NetworkSpec, task_shape: tuple[int, ...] | None,
                  whose: str) -> dict[str, int] | None:
    """Width of every layer's output, from a dry forward pass on the input shape (the
    network's ``input_shape``, else the task's, else a linear first layer's ``in_features``);
    raises a ConfigError naming the first layer that does not take its input. None when no
    input shape is known (then only consecutive linear layers are checked)."""
    import math

    import torch

    from nninfo.nn.network import Network

    net = Network(list(spec.layers), seed=0)
    specs = net.layer_specs
    if spec.input_shape is not None and task_shape is not None \
            and tuple(spec.input_shape) != tuple(task_shape):
        _fail("network.input_shape", list(spec.input_shape),
              f"{whose} input shape {list(task_shape)} (or leave it out)")
    if spec.input_shape is not None:
        shape, source = tuple(spec.input_shape), "network.input_shape"
    elif task_shape is not None:
        shape, source = tuple(task_shape), whose
    elif specs[0]["type"] == "linear":
        shape, source = (specs[0]["in_features"],), "the network's"
    else:
        for i in range(1, len(specs)):
            before, layer = specs[i - 1], specs[i]
            if before["type"] == layer["type"] == "linear" \
                    and layer["in_features"] != before["out_features"]:
                raise ConfigError(f"network.layers[{i}] (L{i + 1}).in_features: "
                                  f"{layer['in_features']} does not match L{i}'s "
                                  f"{before['out_features']} outputs")
        return None
    widths: dict[str, int] = {}
    h = torch.zeros((2, *shape))
    net.eval()
    with torch.no_grad():
        for i, (name, layer) in enumerate(zip(net.layer_names, net.layers.values(),
                                              strict=True)):
            s = layer.spec
            where = f"network.layers[{i}] (L{i + 1})"
            got = _describe(h, f"L{i}'s" if i else source, i == 0)
            if s["type"] == "linear" and (h.dim() != 2 or h.shape[1] != s["in_features"]):
                hint = "" if h.dim() == 2 else "; a linear layer takes flat inputs: add a flatten"
                raise ConfigError(f"{where}.in_features: {s['in_features']} does not match "
                                  f"{got}{hint}")
            key = _CHANNELS.get(s["type"])
            if key and (h.dim() < 2 or h.shape[1] != s[key]):
                hint = "" if h.dim() > 2 else (
                    f"; {s['type']} takes inputs of shape [channels, height, width]: add a reshape "
                    "layer or keep the task's images unflattened (task option flatten: false)")
                raise ConfigError(f"{where}.{key}: {s[key]} does not match {got}{hint}")
            try:
                h = layer.apply_op(h)
            except (RuntimeError, ValueError, IndexError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                raise ConfigError(f"{where}: {s['type']} does not take {got}: {first}") from None
            widths[name] = math.prod(h.shape[1:])
    return widths


_CHANNELS = {"conv2d": "in_channels", "conv_transpose2d": "in_channels",
             "batchnorm1d": "num_features", "batchnorm2d": "num_features"}


def _describe(h, whose: str, first: bool) -> str:
    """What a layer gets: ``L1's 12 outputs``, ``the task's 784 inputs``, ``L6's outputs of
    shape [64, 4, 4]``."""
    if whose == "network.input_shape":
        return f"network.input_shape {list(h.shape[1:])}"
    noun = "inputs" if first else "outputs"
    if h.dim() == 2:
        return f"{whose} {h.shape[1]} {noun}"
    return f"{whose} {noun} of shape {list(h.shape[1:])}"


def _check_task_fit(cfg: ExperimentConfig, splits: tuple[str, ...] | None,
                    input_shape: tuple[int, ...] | None, whose: str) -> None:
    """The checks that need the task's split names or input shape (None: unknown, skipped)."""
    if splits is not None:
        allowed = f"{', '.join(splits)} (the splits of task {cfg.task.name!r}) or {ALL_SPLITS!r}"
        if cfg.analysis.dataset not in (*splits, ALL_SPLITS):
            _fail("analysis.dataset", cfg.analysis.dataset, allowed)
        for name in cfg.performance.datasets:
            if name not in (*splits, ALL_SPLITS):
                _fail("performance.datasets", name, allowed)
    widths = _layer_widths(cfg.network, input_shape, whose)
    if widths is not None:
        check_sources(cfg.analysis, widths)
    _check_binning(cfg, widths)
    _check_codable(cfg)
    _check_target_encoding(cfg, cfg.task.label_encoding)


def _check_codable(cfg: ExperimentConfig) -> None:
    """Every analysed layer can become symbols: quantized, or binned into ``analysis.n_bins``
    bins between the limits of a bounded activation (checked here, not after training)."""
    from nninfo.info.binning import MIN_BINS
    from nninfo.nn.network import Network

    net = Network(list(cfg.network.layers), seed=0)
    for layer in cfg.analysis.layers:
        if net.layer_quantizer(layer) is not None:
            continue
        if net.layer_limits(layer) is None:
            _fail("analysis.layers", layer, f"quantized layers or layers with a bounded "
                  f"activation: {layer} is not quantized and its activation is unbounded, so "
                  "its values cannot be binned")
        if cfg.analysis.n_bins is None:
            _fail("analysis.n_bins", None, f"an integer >= {MIN_BINS}: {layer} is not "
                  "quantized, so its values are binned into n_bins bins between its "
                  "activation's limits")


def _check_binning(cfg: ExperimentConfig, widths: dict[str, int] | None = None) -> None:
    """goldfeld and smoothed binning smooth a layer's noiseless activations onto the bin grid
    between its limits: every analysed layer must be unquantized with a bounded activation,
    ``noise_sigma`` at most the width of that activation's range, and the grid within
    :data:`nninfo.info.binning.GRID_MAX` cells (:func:`nninfo.info.binning.grid_cells`, with
    one label: the task's labels are not known here; the binning checks them again)."""
    from nninfo.info.binning import GRID_MAX, grid_cells
    from nninfo.nn.network import ACTIVATION_LIMITS

    spec = cfg.analysis
    if spec.binning == "hard":
        return
    for layer in spec.layers:
        s = cfg.network.layers[int(layer[1:]) - 1]
        if s.get("quantizer") is not None or s.get("activation") not in ACTIVATION_LIMITS:
            _fail("analysis.binning", spec.binning,
                  f"hard for {layer} ({s.get('activation')!r} activation"
                  f"{', quantized' if s.get('quantizer') is not None else ''}); "
                  f"{spec.binning} needs unquantized layers with a bounded activation "
                  f"({', '.join(ACTIVATION_LIMITS)})")
        lo, hi = ACTIVATION_LIMITS[s["activation"]]
        if spec.noise_sigma > hi - lo:
            _fail("analysis.noise_sigma", spec.noise_sigma,
                  f"a number in (0, {hi - lo:g}] for {layer}: at most the width of its "
                  f"{s['activation']} activation's range [{lo:g}, {hi:g}]; wider noise smooths "
                  "every activation over the whole grid, so nothing of the layer is left to "
                  "measure (and the grid grows with sigma)")
        width = (widths or {}).get(layer) or s.get("out_features")
        if not isinstance(width, int):
            continue  # unknown without the task's input shape: the binning checks it
        cells, how = grid_cells(spec.binning, width, spec.n_bins, spec.noise_sigma,
                                (hi - lo) / spec.n_bins)
        if cells > GRID_MAX:
            _fail("analysis.binning", spec.binning,
                  f"a grid of at most GRID_MAX={GRID_MAX} cells: {spec.binning} binning of "
                  f"{layer}: {how} = {cells} cells would not finish (or fit in memory); use "
                  "fewer bins (analysis.n_bins), a smaller analysis.noise_sigma, a narrower "
                  "layer, or binning: hard")


def check_sources(spec: AnalysisSpec, widths: dict[str, int]) -> None:
    """Group indices within each layer's width, subsets no larger than the layer, and no
    more sources than each measure allows."""
    layers = spec.layers  # none listed: nothing is analysed (analyze asks for layers)
    for g in spec.groupings:
        limits = source_limits(g.measures_of(spec.measures))
        field_name = f"analysis.groupings[{g.name}]"
        for layer in (name for name in layers if g.applies_to(name)):
            width = widths[layer]
            if g.kind == "groups":
                bad = sorted({i for group in g.groups for i in group if i >= width})
                if bad:
                    _fail(f"{field_name}.groups", bad,
                          f"neuron indices 0..{width - 1} of {layer} ({width} neurons)")
            if g.kind == "random_subsets" and g.size > width:
                _fail(f"{field_name}.size", g.size, f"at most {layer}'s {width} neurons")
            elif g.kind == "random_subsets" and g.count > math.comb(width, g.size):
                _fail(f"{field_name}.count", g.count, f"at most C({width}, {g.size}) = "
                      f"{math.comb(width, g.size)} distinct subsets of {layer}")
            for entry in (measure(m) for m in g.measures_of(spec.measures)
                          if measure(m).exact_sources):
                _check_exact_sources(entry, g, layer, width)
            if g.kind == "neurons":
                for name, most in limits.items():
                    if width > most:
                        _fail("analysis.layers", layer,
                              f"layers of at most {most} neurons for measure {name!r}, which "
                              f"takes each neuron as a source (grouping {g.name!r}); {layer} has "
                              f"{width}: use a grouping of kind groups or random_subsets "
                              f"for {layer}, drop {name!r} from analysis.measures, or give "
                              f"grouping {g.name!r} measures without {name!r}")


def _check_exact_sources(entry: MeasureEntry, g, layer: str, width: int) -> None:
    """A measure that takes one number of sources only (the BROJA PID: 2)."""
    n = {"neurons": width, "groups": len(g.groups), "random_subsets": g.size}[g.kind]
    if n != entry.exact_sources:
        _fail("analysis.measures", entry.name, f"groupings with exactly {entry.exact_sources} "
              f"sources: grouping {g.name!r} of {layer} has {n} (use e.g. kind: random_subsets "
              f"with size: {entry.exact_sources}, or kind: groups with "
              f"{entry.exact_sources} groups)")


def source_limits(measures: tuple[str, ...]) -> dict[str, int]:
    """The most sources (neurons or groups of neurons) each of ``measures`` can take."""
    limits = {m: measure(m).max_sources or measure(m).exact_sources for m in measures}
    return {m: most for m, most in limits.items() if most is not None}
