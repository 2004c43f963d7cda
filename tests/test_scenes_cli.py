"""``navfusion scenes ...`` commands: outputs, and one-line errors without tracebacks."""

from __future__ import annotations

import json

import pytest

from navfusion.cli import main


def test_generate_import_show(nf_cache, tmp_path, capsys):
    out = tmp_path / "gen"
    assert main(["scenes", "generate", "--suite", "tiny", "--split", "test", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["tiny__test__0.glb", "tiny__test__0.json", "tiny__test__1.glb", "tiny__test__1.json"]
    meta = json.loads((out / "tiny__test__0.json").read_text())
    assert {"chair", "table", "bed", "door"} <= {i["category"] for i in meta["instances"]}
    assert "wrote 2 scene(s)" in capsys.readouterr().out

    imp = tmp_path / "imp"
    assert main(["scenes", "import", str(out / "tiny__test__1.glb"), "--out", str(imp)]) == 0
    assert (imp / "tiny__test__1.glb").is_file() and (imp / "tiny__test__1.json").is_file()

    png = tmp_path / "show.png"
    assert main(["scenes", "show", "tiny/test/0", "--out", str(png), "--backend", "raycast",
                 "--resolution", "32"]) == 0
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"
    png2 = tmp_path / "show2.png"
    assert main(["scenes", "show", str(out / "tiny__test__1.json"), "--out", str(png2), "--backend", "raycast",
                 "--resolution", "32"]) == 0
    assert png2.is_file()


@pytest.mark.parametrize("argv,message", [
    (["scenes", "generate", "--suite", "tinyy", "--split", "train", "--out", "{tmp}/o"], "unknown suite 'tinyy'"),
    (["scenes", "generate", "--suite", "tiny", "--split", "tets", "--out", "{tmp}/o"], "no split 'tets'"),
    (["scenes", "show", "tiny/train/77", "--out", "{tmp}/x.png"], "no index 77"),
    (["scenes", "show", "{tmp}/missing.glb", "--out", "{tmp}/x.png"], "not found"),
    (["scenes", "show", "tiny/train/0", "--out", "{tmp}/x.png", "--resolution", "0"], "--resolution=0"),
    (["scenes", "import", "{tmp}/bad.glb", "--out", "{tmp}/o"], "cannot read mesh file"),
    (["scenes", "import", "{tmp}/missing.obj", "--out", "{tmp}/o"], "not found"),
])
def test_cli_errors_are_one_line(nf_cache, tmp_path, capsys, argv, message):
    (tmp_path / "bad.glb").write_bytes(b"not a glb at all")
    rc = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err
    assert rc == 1
    assert message in err
    assert "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists() and not (tmp_path / "x.png").exists()


def test_list(capsys):
    assert main(["scenes", "list"]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "quickstart" in out and "paper" in out


def test_import_unlabelled_warns_in_one_line(tmp_path, capsys):
    import trimesh

    trimesh.creation.box((3.0, 3.0, 2.5)).export(tmp_path / "room.obj")
    assert main(["scenes", "import", str(tmp_path / "room.obj"), "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert "navfusion: warning:" in err and "unlabelled" in err and "UserWarning" not in err
    labels = tmp_path / "l.json"
    labels.write_text('{"*": "wall"}')
    assert main(["scenes", "import", str(tmp_path / "room.obj"), "--labels", str(labels), "--out",
                 str(tmp_path / "o2")]) == 0
    captured = capsys.readouterr()
    assert "categories: wall" in captured.out and "warning" not in captured.err
