"""Slow checks over every shipped procedural scene (run with ``-m slow``)."""

from __future__ import annotations

import pytest

from navfusion.common import DISTRACTORS, TARGETS
from navfusion.scenes import load_scene, load_suite


@pytest.mark.slow
@pytest.mark.parametrize("name", ["quickstart", "paper"])
def test_every_shipped_scene(nf_cache, name):
    suite = load_suite(name)
    hashes = set()
    for split in suite.splits:
        for sid in suite.scene_ids(split):
            s = load_scene(sid)
            cats = s.categories()
            assert set(TARGETS) <= cats and len(cats & set(DISTRACTORS)) >= 6, sid
            assert s.num_triangles >= 5000, (sid, s.num_triangles)
            assert suite.generator.rooms[0] <= len(s.rooms) <= suite.generator.rooms[1]
            hashes.add(s.content_hash())
    assert len(hashes) == sum(len(suite.scene_ids(k)) for k in suite.splits)
