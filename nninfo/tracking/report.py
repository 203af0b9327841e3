"""The ``report`` entry point: figures and an HTML report, logged to the training run."""

from __future__ import annotations

import os
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
    file beside its place and renamed into it (:func:`publish`); then ``run.json`` there and
    the experiment folder's ``index.html`` (:mod:`nninfo.presentation.index`) are rewritten.
    ``experiment``: the run's own experiment when None. The page is titled ``title``, else
    after the experiment; ``config`` is shown as the page's settings; ``subset_band`` as the
    config's ``report.subset_band``. The loss is named as the run's tag says it was logged
    (:func:`~nninfo.tracking.performance.logged_loss`), whatever ``config`` says."""
    from nninfo.folders import experiment_folder, report_folder
    from nninfo.presentation.index import write_index, write_record
    from nninfo.tracking import results
    from nninfo.tracking.performance import logged_loss

    check_subset_band(subset_band)
    run = runs.client().get_run(parent)
    experiment = experiment or runs.client().get_experiment(run.info.experiment_id).name
    title = title or experiment
    summary = results.load_summary(train_run=parent)
    if band == "quantile" and subset_band == "values":  # the published Fig. 5B's band
        summary = subset_values(summary, results.load_subset_summary(train_run=parent))
    perf = results.load_performance(train_run=parent)
    classes = results.load_class_summary(train_run=parent)
    atoms = results.load_pid(train_run=parent)
    stats = results.load_activation_statistics(train_run=parent)
    out = report_folder(out_dir, experiment, run.info.run_name, parent)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    loss = logged_loss(parent)
    with tempfile.TemporaryDirectory(dir=out, prefix=".writing-") as tmp:
        page = _write(title, config, band, out, Path(tmp), parent, summary, perf,
                      classes, atoms, stats, loss, subset_band)
    seeds = {s for f in (summary, perf) if not f.empty for s in f["seed"].dropna().unique()}
    write_record(out, experiment, parent, run.info.run_name, title, len(seeds))
    write_index(experiment_folder(out_dir, experiment), experiment)
    return page


FIGURE_SECTION = "Figures"
"""The MLflow UI's section of the figures' image cards (:func:`log_figure_images`)."""
FIRST_FIGURES = ("complexity", "mutual_information", "degree_of_synergy", "performance")
"""The figures the MLflow UI shows first, in this order: C, I, Π_m, loss and accuracy."""


def image_keys(names: list[str]) -> dict[str, str]:
    """Figure name -> MLflow image key ``Figures/<rank> <name>`` (``_`` as a space): ranks
    01, 02, ... put the :data:`FIRST_FIGURES` first, the others in the order given."""
    ordered = [n for n in FIRST_FIGURES if n in names] + [n for n in names
                                                          if n not in FIRST_FIGURES]
    width = max(2, len(str(len(ordered))))
    return {name: f"{FIGURE_SECTION}/{rank:0{width}d} {name.replace('_', ' ')}"
            for rank, name in enumerate(ordered, start=1)}


def log_figure_images(run_id: str, pngs: Mapping[str, str | os.PathLike], step: int = 0
                      ) -> list[str]:
    """Log each PNG (figure name -> file) on ``run_id`` as an MLflow image at ``step`` under
    :func:`image_keys`, so that the MLflow UI shows the figures beside the run's charts;
    returns the keys. MLflow 3.17 makes an image card of every key logged with
    ``log_image(key=..., step=...)`` and groups cards and metric charts into sections by a
    key's part before its last ``/``, ordered by name (on first sight by code point, capitals
    first; after new keys or images arrive by ``localeCompare``, case-insensitive), then
    "Model metrics" (keys without ``/``) and "System metrics": ``Figures`` comes first in both
    orders before nninfo's metric sections (``L1``, ``L2/pairs``, ``spread``, ``test``,
    ``train``; a probe's layer named before "F" comes first in the second order). A rerun
    logs them again at the same step; the UI shows the newest (files are named by key,
    step and timestamp and listed in that order)."""
    import PIL.Image

    keys = image_keys(list(pngs))
    client = runs.client()
    for name, key in keys.items():
        with PIL.Image.open(pngs[name]) as image:
            image.load()
            client.log_image(run_id, image, key=key, step=step, synchronous=True)
    return list(keys.values())


def publish(written: Path, final: Path) -> Path:
    """Move the finished file ``written`` to ``final`` in one rename (``os.replace``, same
    file system): a concurrent run writing the same report, or a reader, never sees a
    half-written file; the last writer wins."""
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(written, final)
    return final


def _write(title: str, cfg, band: str, out: Path, tmp: Path, parent: str, summary, perf,
           classes, atoms, stats, loss: str = "training",
           subset_band: str = DEFAULT_SUBSET_BAND) -> Path:
    """Figures and page drawn into ``tmp`` (inside ``out``) and each moved into place
    whole (:func:`publish`)."""
    from nninfo.presentation import figures as plotting
    from nninfo.presentation import report as html

    classes = None if classes.empty else classes
    figures = plotting.standard_figures(summary, perf, stats if not stats.empty else None,
                                        band=band, classes=classes, performance_loss=loss)
    captions = {name: plotting.figure_caption(fig) for name, fig in figures.items()}
    c = runs.client()
    pngs = {}
    for name, fig in figures.items():
        for written in plotting.save_figure(fig, tmp / "figures" / name):
            path = publish(written, out / "figures" / written.name)
            c.log_artifact(parent, str(path), "figures")
            if path.suffix == ".png":
                pngs[name] = path
    log_figure_images(parent, pngs)  # beside the run's charts in the MLflow UI
    page = html.write_report(tmp / "report.html", f"nninfo: {title}", cfg, summary, perf,
                             atoms=None if atoms.empty else atoms,
                             stats=None if stats.empty else stats, figures=pngs, band=band,
                             captions=captions, classes=classes, performance_loss=loss,
                             subset_band=subset_band)
    page = publish(page, out / "report.html")
    c.log_artifact(parent, str(page))
    return page
