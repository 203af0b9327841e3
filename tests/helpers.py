"""Small builders shared by tests."""

from __future__ import annotations

from typing import Any


def tishby_layers(*widths: int, levels: int = 8) -> list[dict[str, Any]]:
    """Layers for the 12-bit Tishby task: 12 -> ``widths`` (tanh, quantized to ``levels``
    levels, stochastic rounding) -> 1 (sigmoid)."""
    sizes = [12, *widths]
    hidden = [{"type": "linear", "in_features": a, "out_features": b, "activation": "tanh",
               "quantizer": {"levels": levels, "mode": "stochastic"}}
              for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    return [*hidden, {"type": "linear", "in_features": sizes[-1], "out_features": 1,
                      "activation": "sigmoid"}]


def local_report(out_dir, experiment: str, run_id: str):
    """The local ``report.html`` of run ``run_id`` of ``experiment`` below ``out_dir``: its
    folder as :func:`nninfo.folders.report_folder` names it from the run's name and id."""
    from nninfo.folders import report_folder
    from nninfo.tracking import runs

    name = runs.client().get_run(run_id).info.run_name
    return report_folder(out_dir, experiment, name, run_id) / "report.html"
