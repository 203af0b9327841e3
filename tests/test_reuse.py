"""`main` reuses finished work (the MLflow multistep-workflow pattern): a finished training run
with the same training settings, seeds and code is not trained again, and results logged
with other analysis or performance settings are recomputed, not skipped."""

from __future__ import annotations

import dataclasses

from nninfo import results
from nninfo.config import build_config
from nninfo.tracking import runs
from nninfo.tracking.entry import run_entry
from nninfo.tracking.pipeline import Settings
from nninfo.tracking.runs import seed_runs
from tests.helpers import tishby_layers

RAW = {
    "name": "reuse",
    "seeds": 2,
    "task": {"name": "tishby"},
    "network": {"layers": tishby_layers(3, levels=4)},
    "training": {"lr": 0.1, "loss": "bce", "epochs": 1, "checkpoint_count": 3},
    "analysis": {"dataset": "all", "layers": ["L1"], "measures": ["shannon"]},
    "performance": {"datasets": ["test"]},
}
MAIN = ("train", "analyze", "performance", "report")
#: main without its report: the report only reads what the steps before it logged (a few
#: seconds of figures per call), so one test keeps it and the others leave it out
STEPS = MAIN[:-1]
SETTINGS = Settings(workers=1, progress=False)


def _main(overrides: dict | None = None, settings: Settings = SETTINGS,
          steps: tuple[str, ...] = STEPS) -> str:
    cfg = build_config(RAW, overrides=overrides)
    return run_entry("main", steps, cfg, settings, RAW["name"])


def _training_runs() -> list[str]:
    table = results.list_runs(RAW["name"])
    return sorted(table[table.role == "seed"].parent_run_id.unique())


def _trained_by(main_run: str) -> str:
    return runs.client().get_run(main_run).data.tags.get("nninfo.train_run", main_run)


def test_main_with_changed_analysis_settings_reanalyses_without_retraining(mlflow_store):
    first = _main(steps=MAIN)
    assert _training_runs() == [first]
    steps = {m.step for m in runs.client().get_metric_history(
        seed_runs(first)[0].info.run_id, "L1/mutual_information")}

    second = _main({"training.lr": 0.05})
    assert _trained_by(second) == second, "other training settings: trained again"

    third = _main({"analysis.surrogates.mi": 7}, steps=MAIN)  # analysis settings only
    assert _trained_by(third) == first and _training_runs() == sorted({first, second})
    assert runs.client().get_run(third).info.status == "FINISHED"
    history = runs.client().get_metric_history(seed_runs(first)[0].info.run_id,
                                               "L1/mutual_information")
    assert sorted(m.step for m in history) == sorted(list(steps) * 2), "all re-analysed"


def test_main_with_the_same_settings_does_nothing_twice(mlflow_store):
    first = _main()
    again = _main()
    assert _trained_by(again) == first
    assert _training_runs() == [first]
    for run in seed_runs(first):
        history = runs.client().get_metric_history(run.info.run_id, "L1/mutual_information")
        assert len(history) == len({m.step for m in history}), "nothing analysed twice"


def test_force_and_other_seeds_retrain(mlflow_store):
    first = _main()
    forced = _main(settings=dataclasses.replace(SETTINGS, force=True))
    other_seeds = _main({"seeds": "0,5"})
    assert _trained_by(forced) == forced and _trained_by(other_seeds) == other_seeds
    assert _training_runs() == sorted({first, forced, other_seeds})


def test_an_incomplete_training_run_is_not_reused(mlflow_store):
    first = _main()
    runs.client().set_terminated(seed_runs(first)[1].info.run_id, "FAILED")
    again = _main()
    assert _trained_by(again) == again
