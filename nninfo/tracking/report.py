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
    the per-seed means). Each file is written beside its place and renamed into it
    (:func:`publish`)."""
    return report_run(parent, cfg.name, cfg, cfg.report.band, Path(settings.out_dir),
                      subset_band=cfg.report.subset_band)


def report_run(parent: str, name: str, config: ExperimentConfig | Mapping, band: str,
               out_dir: Path, title: str | None = None,
               subset_band: str = DEFAULT_SUBSET_BAND) -> Path:
    """:func:`report` for any run with seed runs (a probe's too): ``name`` names its folder
    ``<out_dir>/<name>`` and titles the page unless ``title`` does; ``config`` is shown as
    the page's settings; ``subset_band`` as the config's ``report.subset_band``. The loss
    is named as the run's tag says it was logged
    (:func:`~nninfo.tracking.performance.logged_loss`), whatever ``config`` says."""
    from nninfo.tracking import results
    from nninfo.tracking.performance import logged_loss

    check_subset_band(subset_band)
    summary = results.load_summary(train_run=parent)
    if band == "quantile" and subset_band == "values":  # the published Fig. 5B's band
        summary = subset_values(summary, results.load_subset_summary(train_run=parent))
    perf = results.load_performance(train_run=parent)
    classes = results.load_class_summary(train_run=parent)
    atoms = results.load_pid(train_run=parent)
    stats = results.load_activation_statistics(train_run=parent)
    out = out_dir / name
    (out / "figures").mkdir(parents=True, exist_ok=True)
    loss = logged_loss(parent)
    with tempfile.TemporaryDirectory(dir=out, prefix=".writing-") as tmp:
        return _write(title or name, config, band, out, Path(tmp), parent, summary, perf,
                      classes, atoms, stats, loss, subset_band)


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
    page = html.write_report(tmp / "report.html", f"nninfo: {title}", cfg, summary, perf,
                             atoms=None if atoms.empty else atoms,
                             stats=None if stats.empty else stats, figures=pngs, band=band,
                             captions=captions, classes=classes, performance_loss=loss,
                             subset_band=subset_band)
    page = publish(page, out / "report.html")
    c.log_artifact(parent, str(page))
    return page
