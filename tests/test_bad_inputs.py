"""Bad input through the command line and the Python API: exit code 1 (or argparse's 2), one line
naming the field, file or value, no traceback, and nothing written. More cases live next to the
code they guard (test_env_octonav, test_nav_cli, test_scenes_import_errors, test_train_checkpoint,
test_eval_run_config, test_vision_zoo_cli, test_agents_memory, test_vision_probe)."""

from __future__ import annotations

import pytest

from navfusion.cli import main

# (arguments, text the one-line error must contain); run in an empty folder
CLI_CASES: list[tuple[str, str]] = [
    ("train --agent nope --out o", "unknown agent 'nope'"),
    ("train --agent concat --out o --iterations 0", "iterations=0"),
    ("train --agent concat --out o --batch-size -1", "batch_size=-1"),
    ("train --agent concat --out o --lr -1", "lr=-1.0"),
    ("train --agent concat --out o --env nope", "unknown suite 'nope'"),
    ("train --agent concat --out o --checkpoint-every 0", "checkpoint_every=0"),
    ("evaluate no_such_run", "run folder not found"),
    ("evaluate random --split bogus", "pass --env"),
    ("evaluate random --env NavFusion/OctoNav-tiny-v0 --split bogus", "no split 'bogus'"),
    ("evaluate random --env NavFusion/OctoNav-tiny-v0 --test-seeds 1300000:2", "overlaps suite 'tiny' split 'test'"),
    ("encoders probe --split bogus", "no split 'bogus'"),
    ("encoders probe --epochs 0", "epochs=0"),
    ("encoders probe --zoo nope", "unknown encoder zoo 'nope'"),
    ("encoders probe --max-pretrain-scenes -1", "max_pretrain_scenes=-1"),
    ("encoders probe --suite nope", "unknown suite 'nope'"),
    ("encoders probe --tasks nope", "has no task 'nope'"),
    ("encoders pretrain --config missing.yaml", "zoo config not found: missing.yaml"),
    ("encoders pretrain --config bad.yaml", "bad.yaml is not valid YAML"),
    ("encoders verify --zoo nope", "unknown encoder zoo 'nope'"),
    ("encoders affinity --zoo nope", "unknown encoder zoo 'nope'"),
    ("features build --env tiny --workers 0", "--workers=0"),
    ("features build --env nope", "unknown suite 'nope'"),
    ("features build --env tiny --splits bogus", "no split 'bogus'"),
    ("scenes show nope/train/0 --out x.png", "unknown suite 'nope'"),
    ("scenes import missing.glb --out o", "scene file not found: missing.glb"),
    ("scenes import notamesh.txt --out o", "unsupported mesh format '.txt'"),
    ("reproduce missing.yaml --out o", "recipe not found: missing.yaml (shipped: paper, quickstart, standard, "
                                       "test_tiny)"),
    ("reproduce test_tiny --test-seeds abc --out o", "--test-seeds='abc'"),
    ("reproduce test_tiny --test-seeds 1000000:2 --out o", "overlaps suite 'tiny' split 'pretrain'"),
    ("quickstart --test-seeds 5:0 --out o", "--test-seeds='5:0'"),
    ("rollout --episodes 0", "--episodes=0"),
    ("rollout --split bogus", "no split 'bogus'"),
    ("bench train --agent nope", "unknown agent 'nope'"),
]


@pytest.mark.parametrize("args, match", CLI_CASES, ids=[a for a, _ in CLI_CASES])
def test_cli_bad_input_is_one_named_line(tmp_path, monkeypatch, capsys, args, match):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text("zoo: [unclosed\n")
    (tmp_path / "notamesh.txt").write_text("hello\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(args.split()) == 1
    err = capsys.readouterr().err.strip()
    assert match in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


@pytest.mark.parametrize("args", ["rollout --success-mode bogus", "scenes generate --suite tiny", "train --out o"])
def test_cli_usage_errors_exit_2_without_traceback(tmp_path, monkeypatch, capsys, args):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(args.split())
    assert e.value.code == 2 and "Traceback" not in capsys.readouterr().err
