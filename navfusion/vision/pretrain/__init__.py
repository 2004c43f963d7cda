"""Pretraining the zoo: one encoder per task, supervised by rendered ground truth.

Reading order: :class:`PretrainConfig` (``config``) -> :func:`split_scenes` (``scenes``: pretrain
splits only, held-out scenes) -> :func:`build_dataset` (``data``: render once, cache per scene) ->
heads, losses and metrics (``losses``) -> :func:`train_task` (``loop``: one encoder + decoder head,
held-out metric next to a trivial baseline) -> :func:`pretrain` (``run``: all tasks, resumable,
writes the zoo folder: safetensors + ``manifest.json``); :func:`fresh_heldout_eval` (``rescore``)
re-scores a shipped task.
"""

from navfusion.vision.pretrain.config import FORMAT, PretrainConfig, suite_fingerprints
from navfusion.vision.pretrain.data import (
    HASHES,
    TaskData,
    build_dataset,
    data_dir,
    load_task_data,
    render_scene_data,
    task_arrays,
)
from navfusion.vision.pretrain.loop import TrainedTask, baseline_value, evaluate, lr_at, predict, train_task
from navfusion.vision.pretrain.losses import (
    Standardizer,
    balanced_class_weights,
    baseline_prediction,
    head_for,
    head_info,
    head_kind,
    metric_name,
    metric_value,
    task_loss,
    to_input,
    to_prediction,
)
from navfusion.vision.pretrain.rescore import config_from_manifest, fresh_heldout_eval, load_trained_task
from navfusion.vision.pretrain.run import default_out, pretrain, results_table, with_overrides, write_manifest
from navfusion.vision.pretrain.scenes import assert_pretrain_only, split_scenes

__all__ = [
    "FORMAT", "HASHES", "PretrainConfig", "Standardizer", "TaskData", "TrainedTask", "assert_pretrain_only",
    "balanced_class_weights", "baseline_prediction", "baseline_value", "build_dataset", "config_from_manifest",
    "data_dir", "default_out", "evaluate", "fresh_heldout_eval", "head_for", "head_info", "head_kind",
    "load_task_data", "load_trained_task", "lr_at", "metric_name", "metric_value", "predict", "pretrain",
    "render_scene_data", "results_table", "split_scenes", "suite_fingerprints", "task_arrays", "task_loss",
    "to_input", "to_prediction", "train_task", "with_overrides", "write_manifest",
]
