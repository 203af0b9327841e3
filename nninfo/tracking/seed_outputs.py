"""What a seed run gets besides its metrics: its training data as a dataset input, and its
final network as an MLflow PyTorch model."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from nninfo.config import ExperimentConfig
from nninfo.jobs import common
from nninfo.tracking import runs
from nninfo.training import Checkpoint

if TYPE_CHECKING:
    import numpy as np
    from mlflow.entities import DatasetInput


def dataset_input(cfg: ExperimentConfig, data_dir: str | None) -> DatasetInput:
    """The training split as an MLflow dataset input (context ``training``): its name,
    MLflow's digest, and the schema and profile of the whole split (rows, input shape), not
    the data itself."""
    import mlflow.data
    from mlflow.entities import DatasetInput, InputTag

    task = common.load_experiment_task(cfg, data_dir)
    data = task["train"]
    x, labels = data.x.cpu().numpy(), data.labels.cpu().numpy()
    ds = mlflow.data.from_numpy(x, targets=labels, name=f"{task.name}-train",
                                digest=numpy_digest(x, labels))
    return DatasetInput(ds._to_mlflow_entity(), [InputTag("mlflow.data.context", "training")])


def numpy_digest(*arrays: np.ndarray) -> str:
    """MLflow's digest of numpy features and targets (``compute_numpy_digest``: the first
    10,000 elements and the shape of each), without its copy of every array (1.2 GB for the
    face autoencoder's training split)."""
    import numpy as np
    import pandas as pd
    from mlflow.data.digest_utils import MAX_ROWS, get_normalized_md5_digest

    parts = []
    for a in arrays:
        rows = -(-MAX_ROWS // max(1, int(np.prod(a.shape[1:]))))  # rows holding MAX_ROWS
        parts.append(pd.util.hash_array(np.ascontiguousarray(a[:rows]).reshape(-1)[:MAX_ROWS]))
        parts.extend(np.int64(n) for n in a.shape)
    return get_normalized_md5_digest(parts)


MODEL_NAME = "model"


def log_final_model(run_id: str, cfg: ExperimentConfig, checkpoint: str | Path,
                    data_dir: str | None = None) -> str:
    """Log the network of ``checkpoint`` as the MLflow PyTorch model ``model`` of seed run
    ``run_id`` (its Models tab; ``mlflow.pytorch.load_model(f"runs:/{run_id}/model")``,
    registrable); returns its ``models:/`` URI.

    Logged after the run's metrics, so the model carries those of its step (loss,
    accuracy) and the run's params. Pickled with cloudpickle, which refers to the class
    ``nninfo.nn.network.Network`` by name: loading needs nninfo installed (it is in the
    model's requirements). Not MLflow 3's default ``pt2``: ``torch.export`` costs about 1 s a
    model, the pickle 0.1 s; requirements are given, not inferred (inference loads the
    model in a subprocess).
    """
    import mlflow.pytorch
    import torch
    from mlflow.models import infer_signature

    import nninfo

    ck = Checkpoint.load(checkpoint)
    net = common.checkpoint_network(cfg, ck)
    x = common.load_experiment_task(cfg, data_dir)["train"].x[:2].float()
    with torch.no_grad():
        signature = infer_signature(x.numpy(), net(x).numpy())
    c = runs.client()
    run = c.get_run(run_id)
    model = c.create_logged_model(
        run.info.experiment_id, name=MODEL_NAME, source_run_id=run_id, params=run.data.params,
        tags={"seed": str(ck.seed), "nninfo.step": str(ck.step), "nninfo.epoch": f"{ck.epoch:g}"})
    requirements = [*mlflow.pytorch.get_default_pip_requirements(),
                    f"nninfo=={nninfo.__version__}"]
    pytorch_log = logging.getLogger("mlflow.pytorch")
    level = pytorch_log.level
    pytorch_log.setLevel(logging.ERROR)  # its warning that a pickle runs code when loaded
    try:
        info = mlflow.pytorch.log_model(
            net, name=MODEL_NAME, model_id=model.model_id, run_id=run_id, step=ck.step,
            serialization_format="pickle", signature=signature, pip_requirements=requirements)
    finally:
        pytorch_log.setLevel(level)
    return info.model_uri
