"""Suites: shipped YAMLs, disjoint splits across all suites, lookups and errors, the scene cache."""

from __future__ import annotations

import numpy as np
import pytest

from navfusion.common import SPLITS
from navfusion.errors import NavFusionError
from navfusion.scenes import list_suites, load_scene, load_suite
from navfusion.scenes import suites as S


def test_shipped_suites():
    assert {"tiny", "quickstart", "paper"} <= set(list_suites())
    tiny, quick, paper = load_suite("tiny"), load_suite("quickstart"), load_suite("paper")
    for suite in (tiny, quick, paper):
        assert set(suite.splits) == set(SPLITS)
    # the quickstart job uses its train and test scenes and one val scene (its recipe's
    # train.max_val_scenes); the val split holds 8 for the encoder probe's interval
    assert sum(len(quick.scene_ids(s)) for s in ("train", "test")) + 1 <= 8
    assert len(quick.scene_ids("val")) == 8
    assert len(paper.scene_ids("train")) >= 28 and len(paper.scene_ids("test")) == 14
    assert 55 <= sum(len(paper.scene_ids(s)) for s in paper.splits) <= 70
    assert tiny.generator.rooms[1] <= 3
    assert [str(s) for s in tiny.scene_ids("test")] == ["tiny/test/0", "tiny/test/1"]


def test_no_scene_in_two_splits_of_any_shipped_suite():
    seen: dict[int, str] = {}
    for name in list_suites():
        suite = load_suite(name)
        if suite.kind != "procedural":
            continue
        for split in suite.splits:
            for sid in suite.scene_ids(split):
                seed = suite.seed(split, sid.index)
                assert seed not in seen, f"{sid} shares seed {seed} with {seen[seed]}"
                seen[seed] = str(sid)


def test_unknown_suite_split_index():
    with pytest.raises(NavFusionError, match="unknown suite 'tinny'.*known suites.*Did you mean 'tiny'"):
        load_suite("tinny")
    with pytest.raises(NavFusionError, match="no split 'trian'.*Did you mean 'train'"):
        load_suite("tiny").scene_ids("trian")
    with pytest.raises(NavFusionError, match="no index 99"):
        load_scene("tiny/train/99")
    with pytest.raises(NavFusionError, match="bad scene id"):
        load_scene("tiny-train-0")


def _write(tmp_path, text, name="s.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_malformed_suite_files(tmp_path):
    with pytest.raises(NavFusionError, match="not valid YAML"):
        load_suite(_write(tmp_path, "name: x\nsplits: [1, 2\n"))
    with pytest.raises(NavFusionError, match=r"s\.yaml.*unknown field 'splitz'.*Did you mean 'splits'"):
        load_suite(_write(tmp_path, "name: x\nsplitz: {}\n"))
    with pytest.raises(NavFusionError, match=r"s\.yaml.*generator.*unknown field 'romos'"):
        load_suite(_write(tmp_path, "name: x\ngenerator: {romos: [2, 3]}\nsplits: {train: {start: 5, count: 1}}\n"))
    with pytest.raises(NavFusionError, match=r"s\.yaml.*rooms"):
        load_suite(_write(tmp_path, "name: x\ngenerator: {rooms: [1, 3]}\nsplits: {train: {start: 5, count: 1}}\n"))
    with pytest.raises(NavFusionError, match="overlap"):
        load_suite(_write(tmp_path, "name: x\nsplits: {train: {start: 5, count: 3}, test: {start: 6, count: 1}}\n"))
    with pytest.raises(NavFusionError, match="unknown split 'tset'"):
        load_suite(_write(tmp_path, "name: x\nsplits: {tset: {start: 5, count: 1}}\n"))
    with pytest.raises(NavFusionError, match="not found"):
        load_suite(tmp_path / "missing.yaml")


def test_load_scene_memo_and_disk_cache(nf_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("NAVFUSION_CACHE", str(tmp_path))
    p = _write(tmp_path, "name: mini\ngenerator: {rooms: [2, 2], room_size: [2.6, 3.2]}\n"
               "splits: {train: {start: 9000000, count: 1}}\n")
    suite = load_suite(p)
    a = load_scene("mini/train/0")
    assert load_scene("mini/train/0") is a  # memoised
    files = list((tmp_path / "scenes").glob("mini__train__0-*.npz"))
    assert len(files) == 1
    S._MEMO.clear()
    b = load_scene("mini/train/0")  # from the disk cache
    assert b is not a and b.content_hash() == a.content_hash()
    files[0].write_bytes(b"garbage")  # a corrupt cache file is regenerated
    S._MEMO.clear()
    c = load_scene("mini/train/0")
    assert c.content_hash() == a.content_hash()
    with np.load(files[0]) as z:
        assert "meta" in z.files
    assert suite.seed("train", 0) == a.metadata["seed"] == 9000000


def test_folder_suite(tmp_path):
    from navfusion.scenes import generate_scene, save_scene
    from navfusion.scenes.generator import SceneConfig

    folder = tmp_path / "scans"
    cfg = SceneConfig(rooms=(2, 2), room_size=(2.6, 3.0))
    for k in range(3):
        save_scene(generate_scene(cfg, k, scene_id=f"scan{k}"), folder)
    p = _write(tmp_path, "name: scans\nkind: folder\npath: scans\n"
               "splits: {train: {files: [scan0.glb, scan1.glb]}, test: {files: [scan2.glb]}}\n", "scans.yaml")
    suite = load_suite(p)
    assert len(suite.scene_ids("train")) == 2
    s = load_scene("scans/test/0")
    assert s.scene_id == "scans/test/0"
    assert s.content_hash() != "" and "chair" in s.categories()
    p2 = _write(tmp_path, "name: scans2\nkind: folder\npath: scans\nsplit_rule: {train: 0.5, test: 0.5}\n", "r.yaml")
    s2 = load_suite(p2)
    assert sum(len(s2.scene_ids(k)) for k in s2.splits) == 3
