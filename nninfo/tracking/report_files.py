"""A report's files: figures and page drawn into a temporary folder and each renamed into
the run's local folder whole, logged to the run as artifacts, and the figures logged as MLflow
image cards that the UI shows first; then the run's record and the experiment's index."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from nninfo.presentation.bands import DEFAULT_SUBSET_BAND
from nninfo.tracking import runs


def write_local_record(out_dir: Path, out: Path, experiment: str, parent: str, run_name: str,
                       title: str, n_seeds: int) -> None:
    """``run.json`` in the run's folder ``out`` and the experiment folder's ``index.html``
    (:mod:`nninfo.presentation.index`), both rewritten."""
    from nninfo.folders import experiment_folder
    from nninfo.presentation.index import write_index, write_record

    write_record(out, experiment, parent, run_name, title, n_seeds)
    write_index(experiment_folder(out_dir, experiment), experiment)


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


def write_report_files(title: str, cfg, band: str, out: Path, tmp: Path, parent: str, summary, perf,
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
