"""The ``report`` entry point: figures and an HTML report, logged to the training run."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

from nninfo.config import ExperimentConfig
from nninfo.presentation.bands import DEFAULT_SUBSET_BAND, check_subset_band, subset_values
from nninfo.tracking import runs
from nninfo.tracking.pipeline import Settings


def report(cfg: ExperimentConfig, settings: Settings, parent: str) -> Path:
    """Figures (PNG + PDF) and a self-contained HTML report, logged to ``parent``; the
    config's ``report.band`` chooses the spread over seeds that figures and tables show,
    ``report.subset_band`` that of random-subset groupings (every (seed, subset) value or
    the per-seed means). The page is titled after the run's experiment, and its local copy
    goes to the run's own folder (:func:`report_run`)."""
    return report_run(parent, None, cfg, cfg.report.band, Path(settings.out_dir),
                      subset_band=cfg.report.subset_band)


def report_run(parent: str, experiment: str | None, config: ExperimentConfig | Mapping,
               band: str, out_dir: Path, title: str | None = None,
               subset_band: str = DEFAULT_SUBSET_BAND) -> Path:
    """:func:`report` for any run with seed runs (a probe's too), logged to ``parent`` and
    written locally to ``<out_dir>/<experiment>/<run name>-<run id[:8]>/``
    (:func:`nninfo.folders.report_folder`: one folder per run, the same on a rerun), each
    file beside its place and renamed into it
    (:func:`~nninfo.tracking.report_files.publish`); then ``run.json`` there and the
    experiment folder's ``index.html`` (:mod:`nninfo.presentation.index`) are rewritten.
    ``experiment``: the run's own experiment when None. The page is titled ``title``, else
    after the experiment; ``config`` is shown as the page's settings; ``subset_band`` as the
    config's ``report.subset_band``. The loss is named as the run's tag says it was logged
    (:func:`~nninfo.tracking.performance.logged_loss`), whatever ``config`` says."""
    from nninfo.folders import report_folder
    from nninfo.tracking import results
    from nninfo.tracking.performance import logged_loss
    from nninfo.tracking.report_files import write_local_record, write_report_files

    check_subset_band(subset_band)
    run = runs.client().get_run(parent)
    experiment = experiment or runs.client().get_experiment(run.info.experiment_id).name
    title = title or experiment
    summary = results.load_summary(train_run=parent)
    summary = subset_values(summary, results.load_subset_summary(train_run=parent), band,
                            subset_band)  # the published Fig. 5B's band, by default
    perf = results.load_performance(train_run=parent)
    classes = results.load_class_summary(train_run=parent)
    atoms = results.load_pid(train_run=parent)
    stats = results.load_activation_statistics(train_run=parent)
    out = report_folder(out_dir, experiment, run.info.run_name, parent)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    loss = logged_loss(parent)
    with tempfile.TemporaryDirectory(dir=out, prefix=".writing-") as tmp:
        page = write_report_files(title, config, band, out, Path(tmp), parent, summary, perf,
                      classes, atoms, stats, loss, subset_band)
    seeds = {s for f in (summary, perf) if not f.empty for s in f["seed"].dropna().unique()}
    write_local_record(out_dir, out, experiment, parent, run.info.run_name, title, len(seeds))
    return page
