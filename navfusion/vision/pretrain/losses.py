"""Decoder heads, losses and metrics of the pretraining tasks.

Metric (held-out scenes, original target units): accuracy for class targets (higher is better),
else the task's loss (``l1`` mean absolute error, ``l2`` mean squared error, ``bce`` binary
cross-entropy; lower is better). Baselines: ``mean`` predicts the training set's mean target
(per pixel for dense tasks), ``majority`` its most frequent class (per pixel for dense tasks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from navfusion.vision.encoders import NORMALIZATION, make_head
from navfusion.vision.pretrain.config import PretrainConfig
from navfusion.vision.pretrain.data import TaskData
from navfusion.vision.tasks import TaskSpec


def head_kind(spec: TaskSpec, cfg: PretrainConfig) -> str:
    if spec.dense:
        return "dense"
    if spec.name in cfg.task_heads:
        return cfg.task_heads[spec.name]
    return cfg.relational_head if spec.views > 1 else cfg.global_head


def head_for(spec: TaskSpec, cfg: PretrainConfig) -> torch.nn.Module:
    return make_head(cfg.arch, head_kind(spec, cfg), spec.channels, cfg.dense_size, n_inputs=spec.views)


@dataclass
class Standardizer:
    """Per-channel standardisation of regression targets for the loss (identity otherwise)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, spec: TaskSpec, data: TaskData) -> Standardizer:
        if spec.loss not in ("l1", "l2"):
            return cls(np.zeros(spec.channels, np.float32), np.ones(spec.channels, np.float32))
        t = data.target
        if spec.dense:
            vals = np.moveaxis(t, 1, -1)  # (N, h, w, C)
            vals = vals[data.mask] if data.mask is not None else vals.reshape(-1, spec.channels)
        else:
            vals = t
        mean = vals.mean(0).astype(np.float32)
        std = np.maximum(vals.std(0), 1e-3).astype(np.float32)
        return cls(mean, std)

    def _shape(self, spec: TaskSpec) -> tuple[int, ...]:
        return (1, -1, 1, 1) if spec.dense else (1, -1)

    def norm(self, spec: TaskSpec, t: torch.Tensor) -> torch.Tensor:
        s = self._shape(spec)
        return (t - torch.from_numpy(self.mean).view(s)) / torch.from_numpy(self.std).view(s)

    def denorm(self, spec: TaskSpec, y: torch.Tensor) -> torch.Tensor:
        s = self._shape(spec)
        return y * torch.from_numpy(self.std).view(s) + torch.from_numpy(self.mean).view(s)


def _masked_mean(err: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``err`` (N, C, h, w) or (N, h, w) over pixels where ``mask`` (N, h, w) is set."""
    if mask is None:
        return err.mean()
    m = mask.to(err.dtype)
    if err.ndim == 4:
        m = m[:, None].expand_as(err)
    return (err * m).sum() / m.sum().clamp_min(1)


def task_loss(spec: TaskSpec, out: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None,
              class_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Training loss of raw head outputs against (standardised, for l1/l2) targets.

    ``class_weight`` (K,): per-class cross-entropy weights (image-level classes; the weighted mean
    over the batch, as ``F.cross_entropy`` computes it)."""
    if spec.loss == "ce":
        if class_weight is not None and mask is None:
            return F.cross_entropy(out, target, weight=class_weight)
        return _masked_mean(F.cross_entropy(out, target, reduction="none"), mask)
    if spec.loss == "bce":
        return _masked_mean(F.binary_cross_entropy_with_logits(out, target, reduction="none"), mask)
    err = (out - target).abs() if spec.loss == "l1" else (out - target) ** 2
    return _masked_mean(err, mask)


def metric_name(spec: TaskSpec) -> tuple[str, bool]:
    """(metric name, higher is better) of a task.

    Image-level classes use balanced accuracy (mean recall over the classes present): the few
    held-out scenes have a class mix unlike the training scenes' (e.g. rooms), and plain accuracy
    would then reward the training majority class for a distribution shift, not for seeing.
    """
    if spec.classification:
        return ("accuracy" if spec.dense else "balanced_accuracy"), True
    return {"l1": "mae", "l2": "mse", "bce": "bce"}[spec.loss], False


def metric_value(spec: TaskSpec, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None,
                 metric: str | None = None) -> float:
    """The held-out metric (default :func:`metric_name`) of predictions in target space (class ids,
    probabilities or values)."""
    if spec.classification:
        if (metric or metric_name(spec)[0]) == "balanced_accuracy":
            recalls = [(pred[target == c] == c).float().mean() for c in torch.unique(target)]
            return float(torch.stack(recalls).mean())
        return float(_masked_mean((pred == target).float(), mask))
    if spec.loss == "bce":
        p = pred.clamp(1e-4, 1 - 1e-4)
        return float(_masked_mean(-(target * p.log() + (1 - target) * (1 - p).log()), mask))
    err = (pred - target).abs() if spec.loss == "l1" else (pred - target) ** 2
    return float(_masked_mean(err, mask))


def to_prediction(spec: TaskSpec, out: torch.Tensor, std: Standardizer) -> torch.Tensor:
    """Raw head outputs -> target space."""
    if spec.classification:
        return out.argmax(1)
    if spec.loss == "bce":
        return torch.sigmoid(out)
    return std.denorm(spec, out)


def balanced_class_weights(spec: TaskSpec, train: TaskData) -> torch.Tensor:
    """(K,) cross-entropy weights ``N / (K_present * count_k)`` (0 for classes absent from ``train``)."""
    counts = np.bincount(np.asarray(train.target).ravel(), minlength=spec.channels).astype(np.float64)
    w = np.where(counts > 0, counts.sum() / (max(1, int((counts > 0).sum())) * np.maximum(counts, 1)), 0.0)
    return torch.from_numpy(w.astype(np.float32))


def baseline_prediction(spec: TaskSpec, train: TaskData) -> np.ndarray:
    """The trivial predictor: mean target / majority class (per pixel for dense tasks)."""
    t = train.target
    if spec.classification:
        c = spec.channels
        if spec.dense:
            counts = np.stack([(t == k).sum(0) for k in range(c)])  # (C, h, w)
            return counts.argmax(0)
        return np.asarray(np.bincount(t, minlength=c).argmax())
    if spec.dense and train.mask is not None:
        m = train.mask[:, None].astype(np.float32)
        num, den = (t * m).sum(0), m.sum(0)
        chan = (t * m).sum((0, 2, 3)) / np.maximum(m.sum((0, 2, 3)), 1)
        return np.where(den > 0, num / np.maximum(den, 1), chan[:, None, None]).astype(np.float32)
    return t.mean(0).astype(np.float32)


def to_input(x_u8: np.ndarray) -> torch.Tensor:
    """uint8 (N, V, 3, S, S) -> normalised float (N, V, 3, S, S)."""
    x = torch.from_numpy(np.ascontiguousarray(x_u8)).float().div_(255.0)
    return (x - NORMALIZATION["mean"][0]) / NORMALIZATION["std"][0]


def head_info(spec: TaskSpec, cfg: PretrainConfig) -> dict[str, Any]:
    return {"kind": head_kind(spec, cfg), "out_dim": spec.channels,
            "out_size": cfg.dense_size if spec.dense else 0, "n_inputs": spec.views}
