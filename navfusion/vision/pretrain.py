"""Pretraining the zoo: one encoder per task, supervised by rendered ground truth.

Reading order: :class:`PretrainConfig` -> :func:`split_scenes` (pretrain splits only, held-out
scenes) -> :func:`build_dataset` (render once, cache per scene) -> :func:`train_task` (one encoder
+ decoder head, held-out metric next to a trivial baseline) -> :func:`pretrain` (all tasks,
resumable, writes the zoo folder: safetensors + ``manifest.json``).

Data: ``samples_per_scene`` random camera poses per ``pretrain`` scene (see
:mod:`navfusion.vision.sampling`), rendered at ``image_size``; dense targets are pooled to
``dense_size`` (masked mean for regression, nearest for classes). Inputs are stored as uint8.
Cache: ``cache_root()/pretrain/data-<hash>/<scene slug>.npz`` (atomic, one file per scene).

Training: Adam, cosine learning rate, ``steps`` x ``batch_size`` samples; regression targets are
standardised per channel for the loss; batch ``k`` of task ``t`` is drawn from
``default_rng([seed, t, k])``, so a resumed run sees exactly the data an uninterrupted one would.
Checkpoints (safetensors, model + Adam state) every ``ckpt_every`` steps under
``cache_root()/pretrain/ckpt-<zoo>-<hash>/``.

Metric (held-out scenes, original target units): accuracy for class targets (higher is better),
else the task's loss (``l1`` mean absolute error, ``l2`` mean squared error, ``bce`` binary
cross-entropy; lower is better). Baselines: ``mean`` predicts the training set's mean target
(per pixel for dense tasks), ``majority`` its most frequent class (per pixel for dense tasks).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from navfusion.common import SceneId, cache_root
from navfusion.config import check, to_dict
from navfusion.errors import NavFusionError
from navfusion.io import atomic_path, atomic_save_npz, atomic_write_json, hash_jsonable, read_json, sha256_file
from navfusion.markdown import markdown_table
from navfusion.vision.encoders import NORMALIZATION, EncoderArch, TaskNet, ZooEncoder, count_params, make_head
from navfusion.vision.tasks import TASKS, TaskSpec, task_spec
from navfusion.vision.zoo import MANIFEST

FORMAT = 1


@dataclass
class PretrainConfig:
    """A zoo's pretraining recipe (``configs/zoo_*.yaml``).

    Attributes:
        zoo: zoo name (folder name under ``assets/encoders`` or ``cache_root()/encoders``).
        suites: suites whose ``pretrain`` split provides the scenes.
        max_scenes_per_suite: use at most this many pretrain scenes per suite (None: all).
        heldout_scenes: per suite, how many pretrain scenes (the last ones) are held out for the metric.
        samples_per_scene: rendered samples per scene and task.
        image_size: rendered (and encoder input) size in pixels.
        cache_dense_size: resolution dense targets are cached at (pooled from ``image_size``).
        dense_size: resolution of dense targets and decoder outputs (divides ``cache_dense_size``;
            pooled again when the data are loaded, so it can change without re-rendering).
        backend: renderer backend (auto, gl, raycast).
        arch: encoder architecture (``arch.input_size`` must equal ``image_size``).
        steps: optimisation steps per task.
        batch_size: samples per step.
        lr: peak Adam learning rate (cosine decay to 5%).
        weight_decay: Adam weight decay.
        ckpt_every: steps between checkpoints.
        seed: seeds data sampling, model init and batches.
        threads: torch CPU threads.
        tasks: tasks to train (None: all 25).
        task_steps: per-task overrides of ``steps`` (harder tasks, e.g. the pose tasks).
        relational_head: head of the pair/triple tasks: ``conv_global`` (strided convs, few
            weights) or ``global`` (flatten + MLP).
        global_head: head of the single-view global tasks (same choices).
        task_heads: per-task overrides of the head of global tasks (same choices, or ``pool``:
            convs + global mean/max pooling, for targets about what is in view, not where).
        balanced_loss: image-level classification tasks whose cross-entropy weights each class by
            the inverse of its training frequency (their metric is balanced accuracy: without the
            weights a net learns the majority class of the training scenes and little else).
        init_from: ``{task: source task}``: start the task's encoder from the source task's trained
            encoder in the same zoo (a Taskonomy-style transfer for tasks too hard to learn from
            scratch on few scenes); the source is trained first.
        amp: ``none`` (float32) or ``bf16``: forward and backward under bfloat16 autocast (float32
            master weights and loss); about 2x faster convolutions on CPUs with AVX-512 BF16.
        workers: processes rendering the dataset (one scene each); does not change the data.
    """

    zoo: str = "nf64"
    suites: list[str] = field(default_factory=lambda: ["quickstart"])
    max_scenes_per_suite: int | None = None
    heldout_scenes: int = 1
    samples_per_scene: int = 256
    image_size: int = 64
    cache_dense_size: int = 32
    dense_size: int = 32
    backend: str = "auto"
    arch: EncoderArch = field(default_factory=EncoderArch)
    steps: int = 250
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    ckpt_every: int = 50
    seed: int = 0
    threads: int = 2
    tasks: list[str] | None = None
    task_steps: dict[str, int] = field(default_factory=dict)
    relational_head: str = "conv_global"
    global_head: str = "conv_global"
    task_heads: dict[str, str] = field(default_factory=dict)
    init_from: dict[str, str] = field(default_factory=dict)
    balanced_loss: list[str] = field(default_factory=list)
    amp: str = "none"
    workers: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.arch, dict):
            self.arch = EncoderArch(**self.arch)
        check(bool(self.zoo) and "/" not in self.zoo, "zoo", self.zoo, "a non-empty name without '/'")
        check(isinstance(self.suites, (list, tuple)) and len(self.suites) > 0, "suites", self.suites,
              "a non-empty list of suite names")
        check(self.heldout_scenes >= 1, "heldout_scenes", self.heldout_scenes, ">= 1")
        check(self.samples_per_scene >= 1, "samples_per_scene", self.samples_per_scene, ">= 1")
        check(self.arch.input_size == self.image_size, "arch.input_size", self.arch.input_size,
              f"equal to image_size ({self.image_size})")
        check(1 <= self.cache_dense_size <= self.image_size and self.image_size % self.cache_dense_size == 0,
              "cache_dense_size", self.cache_dense_size, "a divisor of image_size")
        check(1 <= self.dense_size <= self.cache_dense_size and self.cache_dense_size % self.dense_size == 0,
              "dense_size", self.dense_size, f"a divisor of cache_dense_size ({self.cache_dense_size})")
        check(self.amp in ("none", "bf16"), "amp", self.amp, "'none' or 'bf16'")
        for f in ("steps", "batch_size", "ckpt_every", "threads", "workers"):
            check(getattr(self, f) >= 1, f, getattr(self, f), ">= 1")
        check(self.lr > 0, "lr", self.lr, "> 0")
        if self.tasks is not None:
            self.tasks = [task_spec(t).name for t in self.tasks]
        for f in ("relational_head", "global_head"):
            check(getattr(self, f) in ("conv_global", "global"), f, getattr(self, f), "'conv_global' or 'global'")
        for t, src in dict(self.init_from or {}).items():
            check(TASKS.index(task_spec(src).name) < TASKS.index(task_spec(t).name), f"init_from.{t}", src,
                  "a task that comes earlier in the task order (it is trained first)")
        for t, k in dict(self.task_heads or {}).items():
            check(not task_spec(t).dense and k in ("conv_global", "global", "pool"), f"task_heads.{t}", k,
                  "'conv_global', 'global' or 'pool' for a task with a global target")
        for t in list(self.balanced_loss or []):
            sp = task_spec(t)
            check(sp.classification and not sp.dense, "balanced_loss", t, "image-level classification tasks")
        for t, n in dict(self.task_steps or {}).items():
            task_spec(t)
            check(isinstance(n, int) and n >= 1, f"task_steps.{t}", n, "an integer >= 1")

    def steps_for(self, task: str) -> int:
        return int(self.task_steps.get(task, self.steps))

    def task_list(self) -> list[str]:
        return list(self.tasks) if self.tasks else list(TASKS)

    def data_key(self) -> dict[str, Any]:
        """What determines the rendered dataset."""
        keys = ("suites", "max_scenes_per_suite", "samples_per_scene", "image_size", "backend", "seed")
        return {k: getattr(self, k) for k in keys} | {"dense_size": self.cache_dense_size, "format": FORMAT,
                                                       "scenes": suite_fingerprints(self.suites)}

    def train_key(self, task: str) -> str:
        """Fingerprint of everything that determines one task's trained weights."""
        d = to_dict(self)
        # per-task settings enter only their own task's key (changing one leaves the others trained)
        for k in ("tasks", "threads", "ckpt_every", "zoo", "task_steps", "task_heads", "init_from", "balanced_loss",
                  "workers"):
            d.pop(k)
        # fields added later enter the key only when set, so zoos trained before them keep their keys
        if d["amp"] == "none":
            d.pop("amp")
        d["arch"] = self.arch.to_json()
        if task in self.balanced_loss:
            d["balanced_loss"] = True
        if task in self.init_from:
            d["init_from"] = self.init_from[task]
        d["steps"] = self.steps_for(task)
        spec = task_spec(task)
        if spec.views == 1:
            d.pop("relational_head")
        if spec.dense or spec.views > 1:
            d.pop("global_head")
        if task in self.task_heads:
            d["head_override"] = self.task_heads[task]
        if spec.classification and not spec.dense:
            d["metric"] = "balanced_accuracy"
        return hash_jsonable({"cfg": d, "task": task, "format": FORMAT})[:16]


# ----------------------------------------------------------------------------- scenes

def suite_fingerprints(suites: Sequence[str]) -> dict[str, str]:
    """What defines each suite's scenes (generator version + settings): a changed scene generator
    makes cached pretraining data stale."""
    from navfusion.scenes.suites import load_suite

    return {str(n): load_suite(n).fingerprint() for n in suites}


def split_scenes(cfg: PretrainConfig) -> tuple[list[str], list[str]]:
    """(training scene ids, held-out scene ids), all from ``pretrain`` splits.

    Raises if a pretrain scene is also a train/val/test scene of any suite (see
    :func:`assert_pretrain_only`).
    """
    from navfusion.scenes.suites import load_suite

    train: list[str] = []
    held: list[str] = []
    for name in cfg.suites:
        suite = load_suite(name)
        if "pretrain" not in suite.splits:
            raise NavFusionError(f"suite {name!r} has no 'pretrain' split (splits: {', '.join(suite.splits)})")
        sids = [str(s) for s in suite.scene_ids("pretrain")]
        if cfg.max_scenes_per_suite is not None:
            sids = sids[: cfg.max_scenes_per_suite]
        if len(sids) <= cfg.heldout_scenes:
            raise NavFusionError(f"suite {name!r}: pretraining needs more than heldout_scenes={cfg.heldout_scenes} "
                                 f"pretrain scenes, the split has {len(sids)}")
        train += sids[: -cfg.heldout_scenes]
        held += sids[-cfg.heldout_scenes:]
    assert_pretrain_only(train + held, cfg.suites)
    return train, held


def _identity(suite, sid: SceneId) -> tuple:
    """What makes a scene: generator fingerprint + seed (procedural) or the mesh file (folder suites)."""
    if suite.kind == "procedural":
        return ("generated", suite.fingerprint(), suite.seed(sid.split, sid.index))
    return ("file", str(Path(suite.scene_file(sid.split, sid.index)).resolve()))


def assert_pretrain_only(scene_ids: Sequence[str], suites: Sequence[str]) -> None:
    """Fail unless every scene is a ``pretrain`` scene and none is (by id, or by generator seed and
    settings / mesh file) a train/val/test scene of any known suite."""
    for s in scene_ids:
        sid = SceneId.parse(s)
        if sid.split != "pretrain":
            raise NavFusionError(f"pretraining may only use 'pretrain' scenes; got {s}")
    from navfusion.scenes.suites import list_suites, load_suite

    held: dict[tuple, str] = {}
    for name in sorted({*list_suites(), *suites}):
        suite = load_suite(name)
        for split in suite.splits:
            if split == "pretrain":
                continue
            for other in suite.scene_ids(split):
                held[_identity(suite, other)] = str(other)
    for s in scene_ids:
        sid = SceneId.parse(s)
        ident = _identity(load_suite(sid.suite), sid)
        if ident in held:
            raise NavFusionError(f"pretrain scene {s} is the same scene as {held[ident]}, which is used for "
                                 "training/evaluating agents; it must not be used for pretraining")


# ----------------------------------------------------------------------------- dataset

def data_dir(cfg: PretrainConfig) -> Path:
    return cache_root() / "pretrain" / f"data-{hash_jsonable(cfg.data_key())[:16]}"


def _pool_dense(t: np.ndarray, mask: np.ndarray | None, size: int, classes: bool):
    """Pool dense targets (N, C, H, W) / (N, H, W) and masks (N, H, W) to ``size``."""
    h = t.shape[-1]
    if h == size:
        return t, mask
    f = h // size
    if classes:
        return t[..., f // 2::f, f // 2::f], None if mask is None else mask[..., f // 2::f, f // 2::f]
    n, c = t.shape[:2]
    blocks = t.reshape(n, c, size, f, size, f)
    if mask is None:
        return blocks.mean((3, 5)), None
    m = mask.reshape(n, 1, size, f, size, f).astype(np.float32)
    cnt = m.sum((3, 5))
    val = (blocks * m).sum((3, 5)) / np.maximum(cnt, 1)
    return val, cnt[:, 0] >= (f * f) / 2


def _quantize(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def render_scene_data(scene_id: str, cfg: PretrainConfig) -> dict[str, np.ndarray]:
    """Render ``samples_per_scene`` samples of all 25 tasks in one scene (arrays for the npz cache)."""
    from navfusion.render import create_renderer
    from navfusion.render.camera import Camera
    from navfusion.scenes.suites import load_scene
    from navfusion.vision.sampling import render_task_batches

    scene = load_scene(scene_id)
    camera = Camera(width=cfg.image_size, height=cfg.image_size)
    renderer = create_renderer(scene, camera, backend=cfg.backend)
    try:
        rng = np.random.default_rng([cfg.seed, int(hash_jsonable(scene_id)[:8], 16)])
        batches = render_task_batches(renderer, scene, TASKS, cfg.samples_per_scene, rng)
    finally:
        renderer.close()
    out: dict[str, np.ndarray] = {}
    for task, b in batches.items():
        spec = task_spec(task)
        x, t, m = task_arrays(spec, b, cfg)
        if spec.views == 1 and spec.input == "rgb":
            out.setdefault("rgb", x)  # every plain single-view task sees the same base views
        else:
            out[f"{task}.inputs"] = x
        out[f"{task}.target"] = t.astype(np.int16 if spec.classification else np.float16) if spec.dense else t
        if m is not None:
            out[f"{task}.mask"] = m.astype(bool)
    return out


def task_arrays(spec: TaskSpec, b, cfg: PretrainConfig,
                size: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """A ``TaskBatch`` -> (uint8 inputs (N, V, 3, S, S), target (dense pooled to ``size``, default
    ``cache_dense_size``), mask)."""
    x = _quantize(b.inputs)
    if spec.views == 1:
        x = x[:, None]
    t, m = b.target, b.mask
    if spec.dense:
        t, m = _pool_dense(t, m, size or cfg.cache_dense_size, spec.classification)
    return x, t, m


def build_dataset(cfg: PretrainConfig, scene_ids: Sequence[str], progress: bool = True) -> Path:
    """Render and cache the samples of ``scene_ids`` (skips scenes already cached)."""
    from tqdm import tqdm

    d = data_dir(cfg)
    d.mkdir(parents=True, exist_ok=True)
    atomic_write_json(d / "config.json", cfg.data_key())
    hashes = _verified_hashes(d, scene_ids)
    todo = [s for s in scene_ids if SceneId.parse(s).slug not in hashes]
    bar = tqdm(total=len(todo), desc="render pretrain data", unit="scene", disable=not progress or not todo)
    if cfg.workers > 1 and len(todo) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # spawn: a forked child would inherit a GL context (EGL hangs after fork)
        with ProcessPoolExecutor(min(cfg.workers, len(todo)), mp_context=mp.get_context("spawn")) as ex:
            for f in as_completed([ex.submit(_render_to_file, s, cfg, d) for s in todo]):
                f.result()
                bar.update()
    else:
        for s in todo:
            _render_to_file(s, cfg, d)
            bar.update()
    bar.close()
    for s in todo:
        slug = SceneId.parse(s).slug
        hashes[slug] = sha256_file(d / f"{slug}.npz")
    atomic_write_json(d / HASHES, dict(sorted(hashes.items())))
    return d


#: Per data folder: ``{scene slug: sha256 of its npz}``, checked before each pretraining run.
HASHES = "hashes.json"


def _verified_hashes(d: Path, scene_ids: Sequence[str]) -> dict[str, str]:
    """The recorded hashes of the cached scene files that are present and intact. A file whose
    content no longer matches (corrupt, truncated, modified) is deleted so it is rendered again; a
    file cached before hashes were recorded is adopted (its hash recorded now)."""
    import warnings

    f = d / HASHES
    known = read_json(f, "pretraining data hashes") if f.is_file() else {}
    out: dict[str, str] = {}
    for s in scene_ids:
        slug = SceneId.parse(s).slug
        p = d / f"{slug}.npz"
        if not p.is_file():
            continue
        h = sha256_file(p)
        if slug in known and known[slug] != h:
            warnings.warn(f"pretraining data {p} does not match its recorded sha256; rendering it again",
                          stacklevel=3)
            p.unlink()
            continue
        out[slug] = h
    return out


def _render_to_file(scene_id: str, cfg: PretrainConfig, d: Path) -> None:
    atomic_save_npz(d / f"{SceneId.parse(scene_id).slug}.npz", **render_scene_data(scene_id, cfg))


@dataclass
class TaskData:
    """One task's samples: ``inputs`` uint8 (N, V, 3, S, S), ``target`` (as TaskBatch, dense pooled),
    ``mask`` bool (N, h, w) or None."""

    inputs: np.ndarray
    target: np.ndarray
    mask: np.ndarray | None

    def __len__(self) -> int:
        return len(self.inputs)


def load_task_data(d: Path, scene_ids: Sequence[str], task: str, dense_size: int | None = None) -> TaskData:
    """Concatenate one task's cached samples over scenes (dense targets pooled to ``dense_size``)."""
    xs, ts, ms = [], [], []
    spec = task_spec(task)
    for s in scene_ids:
        f = d / f"{SceneId.parse(s).slug}.npz"
        try:
            with np.load(f, allow_pickle=False) as z:
                xs.append(z[f"{task}.inputs"] if f"{task}.inputs" in z.files else z["rgb"])
                ts.append(z[f"{task}.target"])
                ms.append(z[f"{task}.mask"] if f"{task}.mask" in z.files else None)
        except (OSError, KeyError, ValueError) as e:
            raise NavFusionError(f"pretraining data {f} is unreadable ({e}); delete it to re-render") from None
    mask = None if ms[0] is None else np.concatenate(ms)
    target = np.concatenate(ts)
    target = target.astype(np.int64) if spec.classification else target.astype(np.float32)
    if spec.dense and dense_size is not None and target.shape[-1] != dense_size:
        target, mask = _pool_dense(target, mask, dense_size, spec.classification)
    return TaskData(np.concatenate(xs), target, mask)


# ----------------------------------------------------------------------------- losses and metrics

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


# ----------------------------------------------------------------------------- one task

@dataclass
class TrainedTask:
    """A pretrained task: ``net`` (encoder + head), target statistics and the baseline predictor."""

    net: TaskNet
    std: Standardizer
    baseline: np.ndarray

    def tensors(self) -> dict[str, torch.Tensor]:
        """What a zoo file holds: ``encoder.*`` and ``head.*`` (float16), ``target_mean``,
        ``target_std`` and ``baseline`` (the trivial predictor, float32)."""
        t = {f"encoder.{k}": v.detach().half().contiguous() for k, v in self.net.encoder.state_dict().items()}
        t |= {f"head.{k}": v.detach().half().contiguous() for k, v in self.net.head.state_dict().items()}
        t["target_mean"] = torch.from_numpy(self.std.mean.astype(np.float32))
        t["target_std"] = torch.from_numpy(self.std.std.astype(np.float32))
        t["baseline"] = torch.from_numpy(np.ascontiguousarray(self.baseline))
        return t


def head_info(spec: TaskSpec, cfg: PretrainConfig) -> dict[str, Any]:
    return {"kind": head_kind(spec, cfg), "out_dim": spec.channels,
            "out_size": cfg.dense_size if spec.dense else 0, "n_inputs": spec.views}


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


def _ckpt_save(path: Path, net: torch.nn.Module, opt: torch.optim.Optimizer, step: int, key: str) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    for i, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            tensors[f"opt.{i}.{k}"] = torch.as_tensor(v).detach().cpu().contiguous().clone()
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"step": str(step), "key": key})


def _ckpt_load(path: Path, net: torch.nn.Module, opt: torch.optim.Optimizer, key: str) -> int:
    """Restore a checkpoint; returns the step to continue from (0 if none / not for this config)."""
    if not path.is_file():
        return 0
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        if meta.get("key") != key:
            return 0
        tensors = load_file(str(path))
    except Exception:  # a checkpoint that cannot be read is simply not resumed from
        return 0
    net.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    sd = opt.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, i, name = k.split(".", 2)
            state.setdefault(int(i), {})[name] = v
    sd["state"] = state
    opt.load_state_dict(sd)
    return int(meta["step"])


def lr_at(cfg: PretrainConfig, step: int, steps: int | None = None) -> float:
    """Linear warm-up over 5% of the steps, then cosine decay to 5% of ``lr``."""
    steps = steps or cfg.steps
    warm = max(1, steps // 20)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    p = (step - warm) / max(1, steps - warm)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))


@torch.no_grad()
def evaluate(spec: TaskSpec, net: TaskNet, data: TaskData, std: Standardizer, batch: int = 128,
             metric: str | None = None) -> float:
    """Held-out metric of a trained net (see :func:`metric_name`)."""
    mask = None if data.mask is None else torch.from_numpy(data.mask)
    return metric_value(spec, predict(spec, net, data, std, batch), torch.from_numpy(data.target), mask, metric)


@torch.no_grad()
def predict(spec: TaskSpec, net: TaskNet, data: TaskData, std: Standardizer, batch: int = 128) -> torch.Tensor:
    """Predictions in target space (see :func:`to_prediction`) for every sample of ``data``."""
    was_training = net.training
    net.eval()
    preds = []
    dev = next(net.parameters()).device
    for i in range(0, len(data), batch):
        preds.append(to_prediction(spec, net(to_input(data.inputs[i:i + batch]).to(dev)).float().cpu(), std))
    net.train(was_training)
    return torch.cat(preds)


def baseline_value(spec: TaskSpec, base_pred: np.ndarray, held: TaskData, metric: str | None = None) -> float:
    """Held-out metric of the trivial predictor (see :func:`baseline_prediction`)."""
    base = torch.from_numpy(np.asarray(base_pred))
    pred = base.unsqueeze(0).expand(len(held), *base.shape)
    mask = None if held.mask is None else torch.from_numpy(held.mask)
    return metric_value(spec, pred, torch.from_numpy(held.target), mask, metric)


def train_task(task: str, train: TaskData, held: TaskData, cfg: PretrainConfig, ckpt: Path,
               progress: bool = True, on_step: Callable[[int], None] | None = None,
               init_encoder: ZooEncoder | None = None,
               device: str | torch.device = "cpu") -> tuple[TrainedTask, dict]:
    """Train one task's encoder + head; returns them (with target statistics) and the result record.

    ``device``: where the net trains (batches are drawn on the host and copied there; the returned
    net is on the CPU). A GPU run draws the same batches but its float arithmetic differs, so its
    weights are not bit-identical to a CPU run's.

    Resumes from ``ckpt`` when it holds a checkpoint of the same configuration. ``on_step(step)``
    is called after every step (tests use it to simulate a kill).
    """
    from tqdm import tqdm

    spec = task_spec(task)
    t_idx = TASKS.index(task)
    with torch.random.fork_rng():  # module init draws from torch's RNG; keep it local and seeded
        torch.manual_seed(cfg.seed * 1000 + t_idx)
        net = TaskNet(ZooEncoder(cfg.arch), head_for(spec, cfg), n_inputs=spec.views)
    if init_encoder is not None:
        net.encoder.load_state_dict(init_encoder.state_dict())
    device = torch.device(device)
    net.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    key = cfg.train_key(task)
    start = _ckpt_load(ckpt, net, opt, key)
    std = Standardizer.fit(spec, train)
    class_weight = balanced_class_weights(spec, train).to(device) if task in cfg.balanced_loss else None
    t0 = time.perf_counter()
    steps = cfg.steps_for(task)
    bar = tqdm(range(start, steps), desc=f"{task:>17}", unit="step", leave=False, disable=not progress,
               initial=start, total=steps)
    ema = None
    for step in bar:
        idx = np.sort(np.random.default_rng([cfg.seed, t_idx, step]).integers(0, len(train), cfg.batch_size))
        x = to_input(train.inputs[idx]).to(device)
        tgt = torch.from_numpy(train.target[idx])
        if not spec.classification:
            tgt = std.norm(spec, tgt)
        tgt = tgt.to(device)
        mask = None if train.mask is None else torch.from_numpy(train.mask[idx]).to(device)
        for g in opt.param_groups:
            g["lr"] = lr_at(cfg, step, steps)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp == "bf16"):
            out = net(x)
        loss = task_loss(spec, out.float(), tgt, mask, class_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        lv = loss.item()
        ema = lv if ema is None else 0.9 * ema + 0.1 * lv
        bar.set_postfix(loss=f"{ema:.3f}")
        if (step + 1) % cfg.ckpt_every == 0 and step + 1 < steps:
            _ckpt_save(ckpt, net, opt, step + 1, key)
        if on_step is not None:
            on_step(step)
    bar.close()
    with torch.no_grad():  # the zoo ships float16 weights: score exactly what is shipped
        for prm in net.parameters():
            prm.copy_(prm.half().float())
    name, higher = metric_name(spec)
    value = evaluate(spec, net, held, std)
    base_pred = np.asarray(baseline_prediction(spec, train))
    base = baseline_value(spec, base_pred, held)
    beats = value > base if higher else value < base
    extra = {}
    if name == "balanced_accuracy":  # the plain accuracy too, for the record
        extra = {"accuracy": evaluate(spec, net, held, std, metric="accuracy"),
                 "baseline_accuracy": baseline_value(spec, base_pred, held, metric="accuracy")}
    result = {"task": task, "group": spec.group, "metric": name, "higher_is_better": higher,
              "heldout": value, "baseline": base, "beats_baseline": bool(beats),
              "baseline_kind": spec.baseline, "train_samples": len(train), "heldout_samples": len(held),
              "steps": steps, "train_seconds": round(time.perf_counter() - t0, 1), "resumed_from_step": start,
              "key": key, **extra}
    if device.type != "cpu":
        result["device"] = str(device)
    net.cpu().eval()
    return TrainedTask(net, std, base_pred), result


# ----------------------------------------------------------------------------- the zoo

def default_out(cfg: PretrainConfig) -> Path:
    return cache_root() / "encoders" / cfg.zoo


def write_manifest(out: Path, cfg: PretrainConfig, results: dict[str, dict], data_info: dict | None = None) -> dict:
    """Write ``manifest.json`` for the tasks in ``results`` (in canonical task order)."""
    tasks = {}
    for t in TASKS:
        if t not in results:
            continue
        r = dict(results[t])
        f = out / f"{t}.safetensors"
        tasks[t] = {"file": f.name, "sha256": sha256_file(f), "bytes": f.stat().st_size, **r}
    m = {"zoo": cfg.zoo, "format": FORMAT, "architecture": {"family": "nfresnet", **cfg.arch.to_json()},
         "input_size": cfg.arch.input_size, "normalization": NORMALIZATION,
         "output_shape": list(cfg.arch.output_shape), "params_per_encoder": count_params(ZooEncoder(cfg.arch)),
         "weights_dtype": "float16", "file_layout": "encoder.* (the encoder), head.* (its pretraining decoder), "
         "target_mean/target_std (regression target standardisation), baseline (the trivial predictor)",
         "training": to_dict(cfg) | {"tasks": list(tasks)}, "data": data_info or {},
         "reproduce": f"navfusion encoders pretrain --config configs/zoo_{cfg.zoo}.yaml --out <dir>",
         "tasks": tasks}
    atomic_write_json(out / MANIFEST, m)
    return m


def pretrain(cfg: PretrainConfig, out: str | os.PathLike | None = None, progress: bool = True,
             data: tuple[Path, list[str], list[str]] | None = None,
             on_step: Callable[[str, int], None] | None = None, device: str | torch.device = "cpu") -> dict:
    """Train every task of ``cfg`` (skipping those already done), write the zoo, return the manifest.

    Args:
        device: ``"cpu"`` (default), ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA when available);
            CUDA where there is none is a one-line error before any work.
        out: zoo folder (default ``cache_root()/encoders/<zoo>``).
        data: ``(data dir, training scene ids, held-out scene ids)`` of an already built dataset
            (default: :func:`split_scenes` + :func:`build_dataset`).
        on_step: ``on_step(task, step)`` after every step.
    """
    from tqdm import tqdm

    from navfusion.device import resolve_device

    dev = resolve_device(device)
    torch.set_num_threads(cfg.threads)
    out = Path(out) if out is not None else default_out(cfg)
    out.mkdir(parents=True, exist_ok=True)
    if data is None:
        train_ids, held_ids = split_scenes(cfg)
        d = build_dataset(cfg, train_ids + held_ids, progress=progress)
        info = {"train_scenes": train_ids, "heldout_scenes": held_ids, "suite_fingerprints": cfg.data_key()["scenes"]}
    else:
        d, train_ids, held_ids = data
        info = {"train_scenes": list(train_ids), "heldout_scenes": list(held_ids)}
    ckdir = cache_root() / "pretrain" / f"ckpt-{cfg.zoo}"
    ckdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    old = out / MANIFEST
    if old.is_file():  # keep tasks trained earlier with the same recipe
        for t, e in read_json(old, "zoo manifest").get("tasks", {}).items():
            f = out / e.get("file", "")
            if t in TASKS and e.get("key") == cfg.train_key(t) and f.is_file() and sha256_file(f) == e.get("sha256"):
                results[t] = {k: v for k, v in e.items() if k not in ("file", "sha256", "bytes")}
    todo = [t for t in cfg.task_list() if t not in results]
    bar = tqdm(todo, desc=f"pretrain {cfg.zoo}", unit="task", disable=not progress or not todo)
    for task in bar:
        bar.set_postfix(task=task)
        train = load_task_data(d, train_ids, task, cfg.dense_size)
        held = load_task_data(d, held_ids, task, cfg.dense_size)
        cb = (lambda s, _t=task: on_step(_t, s)) if on_step else None
        init = None
        if task in cfg.init_from:
            from navfusion.vision.zoo import load_zoo_encoder

            init = load_zoo_encoder(out, cfg.init_from[task])
        trained, res = train_task(task, train, held, cfg, ckdir / f"{task}.ckpt.safetensors", progress, cb, init,
                                  device=dev)
        if init is not None:
            res["init_from"] = cfg.init_from[task]
        if task in cfg.balanced_loss:
            res["loss"] = "class-balanced cross-entropy"
        res["head"] = head_info(task_spec(task), cfg)
        with atomic_path(out / f"{task}.safetensors") as tmp:
            save_file(trained.tensors(), str(tmp), metadata={"task": task, "zoo": cfg.zoo})
        results[task] = res
        write_manifest(out, cfg, results, info)
        (ckdir / f"{task}.ckpt.safetensors").unlink(missing_ok=True)
        tag = "beats" if res["beats_baseline"] else "DOES NOT beat"
        bar.write(f"{task:>17}: {res['metric']} {res['heldout']:.4f} vs baseline {res['baseline']:.4f} ({tag})")
    return write_manifest(out, cfg, results, info)


def results_table(manifest: dict) -> str:
    """A Markdown table of held-out metric vs baseline per task."""
    rank = {t: i for i, t in enumerate(TASKS)}
    rows = []
    for t in sorted(manifest["tasks"], key=lambda t: (rank.get(t, len(rank)), t)):
        e = manifest["tasks"][t]
        arrow = "↑" if e["higher_is_better"] else "↓"
        rows.append([t, e["group"], f"{e['metric']} {arrow}", f"{e['heldout']:.4f}", f"{e['baseline']:.4f}",
                     "yes" if e["beats_baseline"] else "NO"])
    return markdown_table(["task", "group", "metric", "held-out", "baseline", "beats"], rows)


def with_overrides(cfg: PretrainConfig, **kw: Any) -> PretrainConfig:
    """A copy of ``cfg`` with fields replaced (validated again)."""
    return replace(cfg, **{k: v for k, v in kw.items() if v is not None})
