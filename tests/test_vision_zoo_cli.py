"""``navfusion encoders`` / ``navfusion features`` command-line behaviour (no training)."""

from __future__ import annotations

from navfusion.cli import main


def test_encoders_list_and_bad_config(tmp_path, capsys):
    assert main(["encoders", "list", "rand*", "--names"]) == 0
    assert capsys.readouterr().out.split() == ["random"]
    assert main(["encoders", "list", "*depth_zbuffer"]) == 0
    table = capsys.readouterr().out
    lines = [x for x in table.splitlines() if x.startswith("| ") and "---" not in x]
    rows = {x.split("|")[1].strip(): x for x in lines}
    assert "(default)" in rows["depth_zbuffer"] and "3d" in rows["depth_zbuffer"] and "mae" in rows["depth_zbuffer"]
    assert "privileged ground truth" in rows["gt/depth_zbuffer"]
    cfg = tmp_path / "zoo.yaml"
    cfg.write_text("zoo: x\nsteps: 10\nstepz: 3\n")
    assert main(["encoders", "pretrain", "--config", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert "unknown field 'stepz'" in err and "Did you mean 'steps'" in err and len(err.strip().splitlines()) == 1
    cfg.write_text("zoo: x\nsteps: 0\n")
    assert main(["encoders", "pretrain", "--config", str(cfg)]) == 1
    assert "steps=0: must be >= 1" in capsys.readouterr().err


def test_features_build_rejects_unknown_env(capsys):
    assert main(["features", "build", "--env", "NavFusion/OctoNav-nope-v0"]) == 1
    assert "unknown environment id" in capsys.readouterr().err


def test_features_build_rejects_non_positive_batch_size(capsys):
    for bad in ("0", "-4"):
        assert main(["features", "build", "--env", "NavFusion/OctoNav-tiny-v0", "--batch-size", bad]) == 1
        err = capsys.readouterr().err
        assert f"--batch-size={bad}: must be >= 1" in err and "Traceback" not in err
