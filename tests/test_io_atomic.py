"""Atomic writes: permissions follow the umask, orphans of killed writes are cleaned up."""

from __future__ import annotations

import os
import stat
import time

import pytest

from navfusion.io import atomic_path, atomic_write_text, remove_stale_temps


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_write_uses_umask_not_private_mode(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        # the write leaves the process umask as it found it (it is never set, only applied)
        assert os.umask(mask) == mask
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == mode
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_stale_temp_of_killed_write_removed_on_next_write(tmp_path):
    target = tmp_path / "m.json"
    old = tmp_path / ".m.json.abc123.tmp"
    fresh = tmp_path / ".m.json.def456.tmp"  # a writer that may still be running
    other = tmp_path / ".n.json.zzz.tmp"     # another file's temporary: not ours to touch
    for f in (old, fresh, other):
        f.write_text("partial")
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    os.utime(other, (hour_ago, hour_ago))
    atomic_write_text(target, "{}")
    assert target.read_text() == "{}"
    assert not old.exists() and fresh.exists() and other.exists()
    assert remove_stale_temps(target, min_age_s=0) == [fresh]


def test_failed_write_leaves_target_and_no_temp(tmp_path):
    target = tmp_path / "c.txt"
    target.write_text("before")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "before"
    assert list(tmp_path.glob(".c.txt.*.tmp")) == []
