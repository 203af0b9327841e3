"""Compare experiments: the MLflow side of ``report --compare``. The overlay figures (a
colour per experiment, :func:`nninfo.presentation.figures.standard_figures`) and the
self-contained HTML page (:func:`nninfo.presentation.compare.write_comparison_report`) come
from the presentation wing; here they are logged to the run of the comparison experiment
``compare/<exp1>+<exp2>+...``: one run per set of compared experiments, reused on every rerun.

Each experiment contributes its newest complete training run (its seeds). The run is tagged
with the compared experiments and their training runs (:data:`EXPERIMENTS_TAG`,
:data:`TRAIN_RUNS_TAG`, JSON lists in the order given) and gets the figures (PNG + PDF),
``report.html``, whose first section lists the settings that differ, and
``config_differences.csv`` (the same table); the figures are also logged as MLflow images
(:func:`nninfo.tracking.report_files.log_figure_images`). Files go to
``<out_dir>/compare/<exp1>+<exp2>/``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from nninfo.presentation.bands import DEFAULT_BAND, DEFAULT_SUBSET_BAND, check_band, subset_values
from nninfo.presentation.compare import write_comparison
from nninfo.presentation.style import natural_key
from nninfo.tracking import results, runs
from nninfo.tracking.results_frames import parents

if TYPE_CHECKING:
    from nninfo.tracking.pipeline import Settings

__all__ = ["COMPARE_PREFIX", "EXPERIMENTS_TAG", "TRAIN_RUNS_TAG", "CompareError", "compare",
           "comparison_dir", "comparison_name", "config_differences"]

COMPARE_PREFIX = "compare/"
EXPERIMENTS_TAG = "nninfo.compare.experiments"
TRAIN_RUNS_TAG = "nninfo.compare.train_runs"
_MAX_NAME = 500  # MLflow's limit on experiment names


class CompareError(ValueError):
    """Fewer than two experiments to compare. The message is in the Python API's words
    (``experiments=``); :meth:`worded` says it in another's (the CLI's ``--compare``)."""

    API = {"compare": "experiments="}

    def __init__(self, given: object, names: Sequence[str]) -> None:
        self.given, self.names = given, list(names)
        super().__init__(f"experiments: {given!r}; compare needs at least two different "
                         "experiment names, e.g. experiments=['a', 'b']")

    def worded(self, words: dict[str, str]) -> str:
        """The message for the option ``words['compare']`` (``--compare ``, ``-P compare=``);
        as :meth:`nninfo.tracking.runs.RunNotFound.worded`."""
        option = words.get("compare", self.API["compare"])
        if option == self.API["compare"]:
            return str(self)
        return (f"{option}{','.join(self.names)}: name at least two different experiments, "
                f"e.g. {option}a,b")


def comparison_name(experiments: Sequence[str]) -> str:
    """``compare/<exp1>+<exp2>...`` (MLflow's 500-character limit: cut, with a count)."""
    name = COMPARE_PREFIX + "+".join(experiments)
    if len(name) <= _MAX_NAME:
        return name
    return name[:_MAX_NAME - 20] + f"...({len(experiments)} experiments)"


def comparison_dir(experiments: Sequence[str], out_dir: str | os.PathLike) -> Path:
    """The local folder of the comparison of ``experiments`` (distinct names, in order):
    ``<out_dir>/compare/<exp1>+<exp2>...``, unsafe characters as ``_``."""
    return Path(out_dir) / "compare" / re.sub(
        r"[^\w.+=-]", "_", comparison_name(experiments).removeprefix(COMPARE_PREFIX))[:200]


def compare(experiments: Sequence[str], settings: Settings | None = None, *,
            band: str | None = None) -> Path:
    """Overlay figures and an HTML report of ``experiments`` (at least two names), logged to
    the run of experiment :func:`comparison_name` (one per set of compared experiments,
    reused: :func:`_compare_run`); returns the report's path. ``band``
    (``"quantile"`` or ``"t"``): by default the experiments' ``report.band`` when they
    agree, else ``"quantile"``. Random-subset groupings are drawn over all (seed, subset)
    values unless every experiment says ``report.subset_band: seed_means``."""
    from nninfo.tracking.pipeline import Settings
    from nninfo.tracking.report_files import log_figure_images

    names = list(dict.fromkeys([experiments] if isinstance(experiments, str) else experiments))
    if len(names) < 2:
        raise CompareError(experiments, names)
    settings = settings or Settings()
    pairs = parents(names, None)  # raises for an unknown experiment or incomplete training
    train_runs = [p for _, p in pairs]
    params = {name: _params(parent) for name, parent in pairs}
    band = check_band(band or _band(params))
    summary = results.load_summary(train_run=train_runs)
    subset_bands = {p.get("report.subset_band", DEFAULT_SUBSET_BAND) for p in params.values()}
    summary = subset_values(summary, results.load_subset_summary(train_run=train_runs), band,
                            subset_bands.pop() if len(subset_bands) == 1 else DEFAULT_SUBSET_BAND)
    perf = results.load_performance(train_run=train_runs)
    title = comparison_name(names)
    out = comparison_dir(names, settings.out_dir)
    c = runs.client()
    tags = {**runs.base_tags(), runs.ROLE: "entry", runs.ENTRY: "compare",
            EXPERIMENTS_TAG: json.dumps(names), TRAIN_RUNS_TAG: json.dumps(train_runs),
            runs.NOTE: "Comparison of " + ", ".join(f"{n} (training run {p})" for n, p in pairs)}
    run_id = _compare_run(title, names, tags)
    out.mkdir(parents=True, exist_ok=True)
    with runs.status_guard(run_id), tempfile.TemporaryDirectory(dir=out, prefix=".writing-") as tmp:
        # written beside their places and renamed into them: a concurrent comparison of the
        # same experiments, or a reader, never sees a half-written file
        differences = config_differences(params)
        page, figures = write_comparison(tmp, title, summary, perf, band, differences)
        pngs = {}
        for path in figures:
            published = _publish(path, Path(tmp), out)
            c.log_artifact(run_id, str(published), "figures")
            if published.suffix == ".png":
                pngs[published.stem] = published
        log_figure_images(run_id, pngs)  # beside the run's charts in the MLflow UI
        differences.to_csv(Path(tmp) / "config_differences.csv", index=False)
        c.log_artifact(run_id, str(_publish(Path(tmp) / "config_differences.csv", Path(tmp), out)))
        page = _publish(page, Path(tmp), out)
        c.log_artifact(run_id, str(page))
    return page


def _compare_run(title: str, names: list[str], tags: dict[str, str]) -> str:
    """The run of experiment ``title`` that holds the comparison of ``names``: one per set of
    compared experiments (in their order), reused (:func:`~nninfo.tracking.runs.reopen`,
    its tags renewed: the training runs compared now) on every rerun, so that the experiment
    holds one run, as the local folder holds one report."""
    exp_id = runs.experiment_id(title)
    for run in runs.search(title, f"tags.`{runs.ENTRY}` = 'compare'"):
        if run.data.tags.get(EXPERIMENTS_TAG) == json.dumps(names):
            return runs.reopen(run.info.run_id, tags)
    return runs.client().create_run(exp_id, run_name="compare", tags=tags).info.run_id


def _publish(written: Path, tmp: Path, out: Path) -> Path:
    """``written`` (under ``tmp``) moved to the same place under ``out`` in one rename."""
    final = out / Path(written).relative_to(tmp)
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(written, final)
    return final


def _params(parent: str) -> dict[str, str]:
    """The config params of the first seed run of ``parent`` (without seed and name)."""
    seeds = runs.seed_runs(parent)
    return {k: v for k, v in (seeds[0].data.params if seeds else {}).items()
            if k not in ("seed", "name")}


def _band(params: dict[str, dict[str, str]]) -> str:
    bands = {p.get("report.band", DEFAULT_BAND) for p in params.values()}
    return bands.pop() if len(bands) == 1 else DEFAULT_BAND


def config_differences(params: dict[str, dict[str, str]]) -> pd.DataFrame:
    """The parameters whose values differ between experiments (experiment -> params): a
    ``parameter`` column, then one per experiment (``""`` where it has none)."""
    keys = sorted({k for p in params.values() for k in p}, key=natural_key)
    rows = [{"parameter": k, **{n: p.get(k, "") for n, p in params.items()}} for k in keys
            if len({p.get(k) for p in params.values()}) > 1]
    return pd.DataFrame(rows, columns=["parameter", *params])
