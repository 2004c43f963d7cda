"""Broken or implausible mesh files are refused with a one-line error naming the file and problem."""

from __future__ import annotations

import os

import pytest

from navfusion.cli import main

BAD_OBJ = {
    "nan": ("v 0 0 0\nv 1 0 0\nv nan 1 0\nf 1 2 3\n", "1 vertices with NaN or inf"),
    "inf": ("v 0 0 0\nv 1 0 0\nv 0 inf 0\nf 1 2 3\n", "1 vertices with NaN or inf"),
    "huge": ("v 0 0 0\nv 1e30 0 0\nv 0 1 0\nf 1 2 3\n", "spans 1e+30 m"),
    "tall": ("v 0 0 0\nv 1 0 0\nv 0 1 1e9\nf 1 2 3\n", "spans 1e+09 m"),
    "points": ("v 0 0 0\nv 1 0 0\nv 0 1 0\n", "no triangle meshes"),
}
ROOM = "v 0 0 0\nv 5 0 0\nv 5 5 0\nv 0 5 0\nv 0 0 2.5\nf 1 2 3\nf 1 3 4\nf 1 2 5\n"


@pytest.mark.parametrize("name", sorted(BAD_OBJ))
def test_bad_obj_geometry_is_refused(tmp_path, capsys, name):
    text, match = BAD_OBJ[name]
    f = tmp_path / f"{name}.obj"
    f.write_text(text)
    assert main(["scenes", "import", str(f), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert match in err and f.name in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_random_bytes_are_not_an_obj(tmp_path, capsys):
    f = tmp_path / "noise.obj"
    f.write_bytes(os.urandom(4096) + b"\xff\xfe\xfd")
    assert main(["scenes", "import", str(f), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "noise.obj" in err and "Traceback" not in err and "charset_normalizer" not in err


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_floor_height_is_refused(tmp_path, capsys, value):
    f = tmp_path / "room.obj"
    f.write_text(ROOM)
    assert main(["scenes", "import", str(f), f"--floor-height={value}", "--out", str(tmp_path / "out")]) == 1
    assert "floor_height" in capsys.readouterr().err
