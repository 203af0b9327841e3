"""The ``report`` entry point: figures and an HTML report, logged to the training run."""

from __future__ import annotations

from pathlib import Path

from nninfo.config import ExperimentConfig
from nninfo.tracking import runs
from nninfo.tracking.pipeline import Settings


def report(cfg: ExperimentConfig, settings: Settings, parent: str) -> Path:
    """Figures (PNG + PDF) and a self-contained HTML report, logged to ``parent``; the
    config's ``report.band`` chooses the spread over seeds that figures and tables show."""
    from nninfo.presentation import figures as plotting
    from nninfo.presentation import report as html
    from nninfo.tracking import results

    summary = results.load_summary(train_run=parent)
    perf = results.load_performance(train_run=parent)
    classes = results.load_class_summary(train_run=parent)
    atoms = results.load_pid(train_run=parent)
    stats = results.load_activation_statistics(train_run=parent)
    out = Path(settings.out_dir) / cfg.name
    (out / "figures").mkdir(parents=True, exist_ok=True)
    band = cfg.report.band
    classes = None if classes.empty else classes
    figures = plotting.standard_figures(summary, perf, stats if not stats.empty else None,
                                        band=band, classes=classes)
    captions = {name: plotting.figure_caption(fig) for name, fig in figures.items()}
    c = runs.client()
    pngs = {}
    for name, fig in figures.items():
        for path in plotting.save_figure(fig, out / "figures" / name):
            c.log_artifact(parent, str(path), "figures")
            if path.suffix == ".png":
                pngs[name] = path
    page = out / "report.html"
    html.write_report(page, f"nninfo: {cfg.name}", cfg, summary, perf,
                      atoms=None if atoms.empty else atoms,
                      stats=None if stats.empty else stats, figures=pngs, band=band,
                      captions=captions, classes=classes)
    c.log_artifact(parent, str(page))
    return page
