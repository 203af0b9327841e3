"""The local index of an experiment's reports: ``<out_dir>/<experiment>/index.html`` lists
every run's report folder (:func:`nninfo.folders.report_folder`), newest first, from the
``run.json`` each report leaves in its folder. It is rebuilt whole from those files after
each report and written atomically, so it is the stable place to open: its first row is the
latest report."""

from __future__ import annotations

import html
import json
import time
from collections.abc import Mapping
from pathlib import Path

from nninfo.folders import write_atomically
from nninfo.presentation.page import html_page

__all__ = ["INDEX_FILE", "RUN_FILE", "read_records", "write_index", "write_record"]

RUN_FILE = "run.json"
"""In each report folder: what the report is of (experiment, run, seeds, when written)."""
INDEX_FILE = "index.html"
"""In each experiment folder: the list of its reports, newest first."""


def write_record(folder: Path, experiment: str, run_id: str, run_name: str | None,
                 title: str, seeds: int, extra: Mapping[str, str] | None = None) -> Path:
    """``folder/run.json``: the report's experiment, run, title, number of seeds and the
    time it was written (UTC, ISO 8601), with ``extra`` fields."""
    record = {"experiment": experiment, "run_id": run_id, "run_name": run_name or "",
              "title": title, "seeds": int(seeds), "report": "report.html",
              "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **(extra or {})}
    return write_atomically(folder / RUN_FILE, json.dumps(record, indent=1) + "\n")


def read_records(experiment_folder: Path, experiment: str) -> list[dict]:
    """The ``run.json`` records of ``experiment`` one level below ``experiment_folder``,
    newest first (with ``folder``: the report folder's name); unreadable ones are left out."""
    records = []
    for path in experiment_folder.glob(f"*/{RUN_FILE}"):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("experiment") == experiment \
                and (path.parent / str(record.get("report", ""))).is_file():
            records.append({**record, "folder": path.parent.name})
    return sorted(records, key=lambda r: (str(r.get("written", "")), r["folder"]), reverse=True)


def write_index(experiment_folder: Path, experiment: str) -> Path:
    """Rebuild ``experiment_folder/index.html`` from the reports' records (atomically)."""
    records = read_records(experiment_folder, experiment)
    head = ["written (UTC)", "run", "run id", "seeds", "report"]
    rows = []
    for i, r in enumerate(records):
        link = f"{r['folder']}/{r['report']}"
        cells = [str(r.get("written", "")).replace("T", " ").rstrip("Z"),
                 str(r.get("run_name", "")), str(r.get("run_id", "")), str(r.get("seeds", "")),
                 f'<a href="{html.escape(link, quote=True)}">'
                 f'{html.escape(link)}</a>{" (latest)" if i == 0 else ""}']
        rows.append("<tr>" + "".join(
            f'<td class="text">{c if j == 4 else html.escape(c)}</td>'
            for j, c in enumerate(cells)) + "</tr>")
    table = ("<table><thead><tr>" + "".join(f'<th class="text">{h}</th>' for h in head)
             + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
    meta = (f'<p class="meta">{len(records)} report(s) of experiment '
            f"{html.escape(experiment)}, newest first: one folder per run</p>")
    page = html_page(f"nninfo: {experiment} (reports)", meta, {"reports": ("Reports", table)})
    return write_atomically(experiment_folder / INDEX_FILE, page)
