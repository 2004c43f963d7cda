"""Which scenes pretraining may use: the ``pretrain`` splits, never a scene agents are trained or evaluated on."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from navfusion.common import SceneId
from navfusion.errors import NavFusionError
from navfusion.vision.pretrain.config import PretrainConfig


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


def extra_scenes(cfg: PretrainConfig, task: str) -> list[str]:
    """The extra training scenes of ``task`` (``cfg.task_extra_suites``): every ``pretrain`` scene
    of those suites, checked like :func:`split_scenes`'s."""
    from navfusion.scenes.suites import load_suite

    out: list[str] = []
    for name in cfg.task_extra_suites.get(task, []):
        suite = load_suite(name)
        if "pretrain" not in suite.splits:
            raise NavFusionError(f"task_extra_suites.{task}: suite {name!r} has no 'pretrain' split "
                                 f"(splits: {', '.join(suite.splits)})")
        out += [str(s) for s in suite.scene_ids("pretrain")]
    assert_pretrain_only(out, cfg.task_extra_suites.get(task, []))
    return out


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
