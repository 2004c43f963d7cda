"""Re-scoring a shipped zoo task (its encoder + decoder head) on freshly rendered held-out views."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from navfusion.errors import NavFusionError
from navfusion.vision.encoders import TaskNet, ZooEncoder
from navfusion.vision.pretrain.config import PretrainConfig
from navfusion.vision.pretrain.data import TaskData, task_arrays
from navfusion.vision.pretrain.loop import TrainedTask, predict
from navfusion.vision.pretrain.losses import Standardizer, head_for, metric_name, metric_value
from navfusion.vision.pretrain.scenes import split_scenes
from navfusion.vision.tasks import task_spec


def load_trained_task(zoo: str | os.PathLike, task: str) -> tuple[TrainedTask, PretrainConfig]:
    """Encoder + decoder head of a zoo task (to recompute its held-out metric)."""
    from navfusion.vision.zoo import find_zoo, load_into, load_manifest, load_state

    d = find_zoo(zoo)
    m = load_manifest(d)
    if task not in m["tasks"]:
        raise NavFusionError(f"zoo {d.name!r} has no task {task!r}")
    cfg = config_from_manifest(m)
    spec = task_spec(task)
    e = m["tasks"][task]
    state = load_state(d / e["file"], e["sha256"])
    net = TaskNet(ZooEncoder(cfg.arch), head_for(spec, cfg), n_inputs=spec.views)
    body = {k: v.float() for k, v in state.items() if k.startswith(("encoder.", "head."))}
    load_into(net, body, where=str(d / e["file"]))
    net.eval()
    std = Standardizer(state["target_mean"].numpy(), state["target_std"].numpy())
    return TrainedTask(net, std, state["baseline"].numpy()), cfg


def config_from_manifest(m: dict[str, Any]) -> PretrainConfig:
    """The :class:`PretrainConfig` a zoo was trained with."""
    tr = {k: v for k, v in m["training"].items() if k in PretrainConfig.__dataclass_fields__}
    return PretrainConfig(**tr)


def fresh_heldout_eval(zoo: str | os.PathLike, task: str, n: int = 64, seed: int = 12345,
                       scenes: Sequence[str] | None = None, bootstrap: int = 1000) -> dict[str, Any]:
    """Re-score a shipped task on ``n`` freshly rendered views of the held-out pretrain scenes
    (or of ``scenes``), with the sample's size and uncertainty.

    Returns a dict: ``metric``, ``baseline``, ``higher_is_better``, ``n``, ``scenes``, ``counts``
    (views per class, image-level classification only) and, when ``bootstrap`` > 0,
    ``diff_ci95``: the 2.5/97.5 percentiles of (metric - baseline) over ``bootstrap`` resamples
    of the views (paired: both scored on the same resample). Views of one scene are correlated,
    so this interval is about sampling views, not scenes.
    """
    from navfusion.render import create_renderer
    from navfusion.render.camera import Camera
    from navfusion.scenes.suites import load_scene
    from navfusion.vision.sampling import render_task_batch

    tt, cfg = load_trained_task(zoo, task)
    spec = task_spec(task)
    held = list(scenes) if scenes else split_scenes(cfg)[1]
    rng = np.random.default_rng(seed)
    parts = []
    for i, sid in enumerate(held):
        k = n // len(held) + (i < n % len(held))
        scene = load_scene(sid)
        r = create_renderer(scene, Camera(width=cfg.image_size, height=cfg.image_size), backend=cfg.backend)
        try:
            parts.append(task_arrays(spec, render_task_batch(r, scene, task, k, rng), cfg, cfg.dense_size))
        finally:
            r.close()
    x = np.concatenate([p[0] for p in parts])
    t = np.concatenate([p[1] for p in parts])
    m = None if parts[0][2] is None else np.concatenate([p[2] for p in parts])
    data = TaskData(x, t.astype(np.int64) if spec.classification else t.astype(np.float32), m)
    pred = predict(spec, tt.net, data, tt.std)
    target = torch.from_numpy(data.target)
    mask = None if data.mask is None else torch.from_numpy(data.mask)
    base = torch.from_numpy(np.asarray(tt.baseline))
    base_pred = base.unsqueeze(0).expand(len(data), *base.shape)
    out: dict[str, Any] = {"task": task, "metric": metric_value(spec, pred, target, mask),
                           "baseline": metric_value(spec, base_pred, target, mask),
                           "higher_is_better": metric_name(spec)[1], "metric_name": metric_name(spec)[0],
                           "n": len(data), "scenes": held}
    if spec.classification and not spec.dense:
        out["counts"] = np.bincount(data.target, minlength=spec.channels).tolist()
    if bootstrap > 0:
        brng = np.random.default_rng([seed, 1])
        diffs = []
        for _ in range(bootstrap):
            idx = torch.from_numpy(brng.integers(0, len(data), len(data)))
            mk = None if mask is None else mask[idx]
            diffs.append(metric_value(spec, pred[idx], target[idx], mk)
                         - metric_value(spec, base_pred[idx], target[idx], mk))
        out["diff_ci95"] = [float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))]
    return out
