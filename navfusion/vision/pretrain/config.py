"""A zoo's pretraining recipe (:class:`PretrainConfig`) and the fingerprints that key its caches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from navfusion.config import check, to_dict
from navfusion.io import hash_jsonable
from navfusion.vision.encoders import HEAD_KINDS, EncoderArch
from navfusion.vision.tasks import TASKS, task_spec

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
            convs + global mean/max pooling, for targets about what is in view, not where; or
            ``cell_pool``: per-cell logits and a soft maximum over the cells, so an image-level
            label teaches each cell what it shows).
        balanced_loss: image-level classification tasks whose cross-entropy weights each class by
            the inverse of its training frequency (their metric is balanced accuracy: without the
            weights a net learns the majority class of the training scenes and little else).
        init_from: ``{task: source task}``: start the task's encoder from the source task's trained
            encoder in the same zoo (a Taskonomy-style transfer for tasks too hard to learn from
            scratch on few scenes); the source comes earlier in ``tasks`` (it is trained first).
        init_lr_scale: ``{task: factor}`` for tasks in ``init_from``: their encoder learns at this
            fraction of the learning rate while the head learns at the full rate (discriminative
            fine-tuning), so a weak label (the room type) adapts the source's features instead of
            overwriting them.
        cell_targets: ``{task: weight}``: dense tasks that also regress their label's statistics per
            cell of the encoder's output grid (see :mod:`navfusion.vision.pretrain.cells`) from the
            encoder output through a 1x1 convolution, with this loss weight. It keeps per-cell
            quantities a policy reads (the nearest surface in a cell, the share of floor) linearly
            readable from the frozen features instead of only through the decoder.
        task_extra_suites: ``{task: [suite, ...]}``: more training scenes for a task: every
            ``pretrain`` scene of these suites joins its training data (none is held out, so its
            held-out metric stays comparable with the other tasks'). For the representations a
            policy leans on most, whose encoders generalise to unseen scenes with a gap that more
            scenes close (see docs/encoders.md).
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
    init_lr_scale: dict[str, float] = field(default_factory=dict)
    balanced_loss: list[str] = field(default_factory=list)
    cell_targets: dict[str, float] = field(default_factory=dict)
    task_extra_suites: dict[str, list[str]] = field(default_factory=dict)
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
        order = self.task_list()
        for t, src in dict(self.init_from or {}).items():
            t, src = task_spec(t).name, task_spec(src).name
            # tasks train in list order: the source must be trained (or listed) before its target
            check(src != t and (src not in order or t not in order or order.index(src) < order.index(t)),
                  f"init_from.{t}", src, "another task that comes earlier in 'tasks' (it is trained first)")
        for t, f in dict(self.init_lr_scale or {}).items():
            check(task_spec(t).name in self.init_from, "init_lr_scale", t, "a task listed in init_from")
            check(isinstance(f, (int, float)) and 0 < f <= 1, f"init_lr_scale.{t}", f, "a factor in (0, 1]")
        for t, k in dict(self.task_heads or {}).items():
            check(not task_spec(t).dense and k in HEAD_KINDS and k != "dense", f"task_heads.{t}", k,
                  "'conv_global', 'global', 'pool' or 'cell_pool' for a task with a global target")
        for t in list(self.balanced_loss or []):
            sp = task_spec(t)
            check(sp.classification and not sp.dense, "balanced_loss", t, "image-level classification tasks")
        for t, w in dict(self.cell_targets or {}).items():
            sp = task_spec(t)
            check(sp.dense and (not sp.classification or sp.name == "segment_semantic"), "cell_targets", t,
                  "dense regression tasks or segment_semantic (their label is a per-pixel map)")
            check(isinstance(w, (int, float)) and w > 0, f"cell_targets.{t}", w, "a loss weight > 0")
        for t, extra in dict(self.task_extra_suites or {}).items():
            task_spec(t)
            check(isinstance(extra, (list, tuple)) and len(extra) > 0
                  and all(isinstance(n, str) and n and n not in self.suites for n in extra),
                  f"task_extra_suites.{t}", extra, "a non-empty list of suite names not already in 'suites'")
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
        for k in ("tasks", "threads", "ckpt_every", "zoo", "task_steps", "task_heads", "init_from", "init_lr_scale",
                  "balanced_loss", "workers", "cell_targets", "task_extra_suites"):
            d.pop(k)
        # fields added later enter the key only when set, so zoos trained before them keep their keys
        if d["amp"] == "none":
            d.pop("amp")
        d["arch"] = self.arch.to_json()
        if task in self.balanced_loss:
            d["balanced_loss"] = True
        if task in self.cell_targets:
            d["cell_targets"] = float(self.cell_targets[task])
        if task in self.init_from:
            d["init_from"] = self.init_from[task]
        if task in self.init_lr_scale:
            d["init_lr_scale"] = float(self.init_lr_scale[task])
        if task in self.task_extra_suites:  # their scene counts too: a bigger split is other data
            d["extra_suites"] = extra_suite_key(self.task_extra_suites[task])
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


def suite_fingerprints(suites: Sequence[str]) -> dict[str, str]:
    """What defines each suite's scenes (generator version + settings): a changed scene generator
    makes cached pretraining data stale."""
    from navfusion.scenes.suites import load_suite

    return {str(n): load_suite(n).fingerprint() for n in suites}


def extra_suite_key(suites: Sequence[str]) -> dict[str, Any]:
    """What defines the extra pretraining scenes of ``suites``: fingerprint and pretrain split."""
    from navfusion.scenes.suites import load_suite

    out = {}
    for n in suites:
        suite = load_suite(n)
        sp = suite.splits.get("pretrain")
        out[str(n)] = {"fingerprint": suite.fingerprint(),
                       "pretrain": None if sp is None else [sp.start, sp.count, list(sp.files)]}
    return out
