"""Fresh seed blocks (``--test-seeds START:COUNT``): parsing, the overlap refusal, the derived suite."""

from __future__ import annotations

import pytest

from navfusion.errors import NavFusionError
from navfusion.eval import heldout


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NAVFUSION_CACHE", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("text", ["", "12", "1:0", "a:3", "-1:2", "1:2:3"])
def test_parse_rejects(text):
    with pytest.raises(NavFusionError, match="START:COUNT"):
        heldout.parse_seed_block(text)


def test_parse():
    b = heldout.parse_seed_block(" 1900000 : 8 ")
    assert (b.start, b.count, b.stop, str(b)) == (1900000, 8, 1900008, "1900000:8")
    assert b.describe() == "seeds 1900000-1900007 (8 scenes)"


@pytest.mark.parametrize("block, suite, split", [("1300001:4", "tiny", "test"), ("2100003:2", "quickstart", "train")])
def test_overlap_is_refused_naming_the_split(cache, block, suite, split):
    with pytest.raises(NavFusionError, match=f"overlaps suite '{suite}' split '{split}'.*e.g. "):
        heldout.fresh_suite("tiny", heldout.parse_seed_block(block))


def test_fresh_suite(cache, monkeypatch):
    from navfusion.scenes import load_suite
    from navfusion.scenes.suites import clear_memo

    block = heldout.parse_seed_block("1900000:3")
    name = heldout.fresh_suite("tiny", block)
    s, base = load_suite(name), load_suite("tiny")
    assert list(s.splits) == ["test"]
    assert [str(i) for i in s.scene_ids("test")] == [f"{name}/test/{i}" for i in range(3)]
    assert [s.seed("test", i) for i in range(3)] == [1900000, 1900001, 1900002]
    assert s.generator == base.generator and s.fingerprint() == base.fingerprint()  # same scene distribution
    assert heldout.suite_file(name).is_file()
    # a process that has not seen it (a spawned worker) loads it from its file by name
    clear_memo()
    monkeypatch.delenv("NAVFUSION_SUITE_PATHS", raising=False)  # scenes.suites' own hand-over to children
    with pytest.raises(NavFusionError):
        load_suite(name)
    heldout.ensure_suite(name)
    assert load_suite(name).seed("test", 2) == 1900002
    clear_memo()


def test_unknown_base_suite(cache):
    with pytest.raises(NavFusionError, match="unknown suite"):
        heldout.fresh_suite("nope", heldout.parse_seed_block("9000000:1"))
