"""What the MLflow UI shows first about an nninfo experiment: the parent run's name and the
experiment's description, the same however the run was launched (``nninfo main``, ``mlflow
run .``, ``mlflow run . --experiment-name X``). Plain text from the config; the tags are set
by :mod:`nninfo.tracking.runs`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nninfo.config import ExperimentConfig

SEP = " · "
NAME_MAX = 120
"""Longest parent run name; a longer one is cut with '…' (the runs table shows ~40 characters)."""
DESCRIPTION_MAX = 2000
"""Longest experiment description taken from a README (MLflow allows 20,000 characters)."""
UNNAMED_OVERRIDES = ("name", "seeds", "training.lr")
"""Overrides the name already shows (the config name, the seed count, the learning rate)."""


@dataclass(frozen=True)
class Origin:
    """How an entry point got its config: the YAML file, ``--quick`` and the overrides
    (``--set``, ``--epochs``, ``--checkpoints``, ``--seeds``: dotted key -> value as given)."""

    config_path: str | None = None
    quick: bool = False
    overrides: Mapping[str, object] = field(default_factory=dict)


def parent_run_name(cfg: ExperimentConfig, origin: Origin | None = None) -> str:
    """``<config name> · <n> seeds · lr <lr>``, then ``quick`` for a quick run and
    ``<key> <value>`` for each override the name does not show yet (the last part of the
    dotted key: ``--set analysis.n_bins=30`` gives ``n_bins 30``), e.g.
    ``tishby_demo · 2 seeds · lr 0.01 · quick``."""
    origin = origin or Origin()
    n = len(cfg.seeds)
    parts = [cfg.name, f"{n} seed{'' if n == 1 else 's'}", f"lr {cfg.training.lr:g}"]
    if origin.quick:
        parts.append("quick")
    parts += [f"{key.rsplit('.', 1)[-1]} {value:g}" if isinstance(value, float)
              else f"{key.rsplit('.', 1)[-1]} {value}"
              for key, value in origin.overrides.items() if key not in UNNAMED_OVERRIDES]
    name = SEP.join(parts)
    return name if len(name) <= NAME_MAX else name[:NAME_MAX - 1] + "…"


def experiment_description(cfg: ExperimentConfig, config_path: str | Path | None) -> str:
    """The project README's title and first paragraph when the config file lies in an MLflow
    project folder (one with an ``MLproject`` file and a ``README.md``), else
    :func:`config_description`."""
    return (project_description(config_path) if config_path else None) \
        or config_description(cfg)


def project_description(config_path: str | Path) -> str | None:
    """``<title>: <first paragraph>`` of ``README.md`` beside ``config_path`` (lines joined,
    markdown kept), if that folder is an MLflow project; None otherwise or when the README
    has no paragraph."""
    folder = Path(config_path).resolve().parent
    readme = folder / "README.md"
    if not (folder / "MLproject").is_file() or not readme.is_file():
        return None
    try:
        text = readme.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    title, paragraph = _head(text)
    if not paragraph:
        return None
    described = f"{title}: {paragraph}" if title else paragraph
    return described if len(described) <= DESCRIPTION_MAX \
        else described[:DESCRIPTION_MAX - 1] + "…"


def _head(markdown: str) -> tuple[str | None, str]:
    """The first ``# `` heading (None without one) and the first paragraph after it."""
    title, lines, fenced = None, [], False
    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            fenced = not fenced
        if fenced or stripped.startswith(("```", "<!--")):
            if lines:
                break
        elif title is None and not lines and stripped.startswith("# "):
            title = stripped[2:].strip()
        elif stripped and not stripped.startswith("#"):
            lines.append(stripped)
        elif lines:
            break
    return title, " ".join(lines)


def config_description(cfg: ExperimentConfig) -> str:
    """One line from the config, e.g. ``tishby_demo: task tishby, network 12-12-4-4-4-1,
    measures pid, shannon of L2, L3, L4 (10 seeds).``"""
    widths = [str(w) for w in _widths(cfg.network.layers)]
    layers = ", ".join(cfg.analysis.layers) or "every layer"
    n = len(cfg.seeds)
    return (f"{cfg.name}: task {cfg.task.name}, network {'-'.join(widths) or 'custom'}, "
            f"measures {', '.join(cfg.analysis.measures)} of {layers} "
            f"({n} seed{'' if n == 1 else 's'}).")


def _widths(layers: tuple[Mapping[str, object], ...]) -> list[object]:
    """The input width of the first layer, then each layer's output width (features or
    channels; layers without one, such as pooling, are left out)."""
    widths: list[object] = []
    for layer in layers:
        if not widths:
            first = layer.get("in_features", layer.get("in_channels"))
            if first is not None:
                widths.append(first)
        out = layer.get("out_features", layer.get("out_channels"))
        if out is not None:
            widths.append(out)
    return widths
