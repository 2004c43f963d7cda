"""``navfusion rollout`` and ``navfusion bench env``."""

from __future__ import annotations

import json

import pytest

from navfusion.cli import main


def test_rollout_oracle_and_random(tiny_worlds, capsys, tmp_path):
    gif = tmp_path / "ep.gif"
    assert main(["rollout", "--env", "NavFusion/OctoNav-tiny-v0", "--agent", "oracle", "--episodes", "5",
                 "--gif", str(gif), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["success"] == 1.0 and out["spl"] == 1.0 and gif.stat().st_size > 1000
    assert main(["rollout", "--env", "NavFusion/OctoNav-tiny-v0", "--agent", "random", "--episodes", "10"]) == 0
    assert "random on NavFusion/OctoNav-tiny-v0: 10 episodes, success" in capsys.readouterr().out
    runs = []
    for extra in ([], ["--reactive"]):
        assert main(["rollout", "--env", "NavFusion/OctoNav-tiny-v0", "--agent", "random", "--episodes", "10",
                     "--json", *extra]) == 0
        runs.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    assert runs[0] != runs[1]  # the action memory changes the walk (its effect: test_agents_memory.py)
    assert all(0 <= r["success"] <= 1 and r["episodes"] == 10 for r in runs)


def test_rollout_unknown_env_suggests(capsys):
    assert main(["rollout", "--env", "NavFusion/OctoNav-tini-v0"]) == 1
    assert "Did you mean 'NavFusion/OctoNav-tiny-v0'" in capsys.readouterr().err


def test_bench_env_json(nf_cache, capsys):
    assert main(["bench", "env", "--toy", "--resolution", "16", "--steps", "300", "--live-steps", "3", "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["steps_per_s_cached"] > res["steps_per_s_uncached"] > 0
    assert {"copy_only_per_s", "resolution", "nodes"} <= set(res)


@pytest.mark.parametrize("flag, value", [("--steps", "0"), ("--steps", "-10"), ("--live-steps", "0")])
def test_bench_env_refuses_non_positive_counts(capsys, flag, value):
    assert main(["bench", "env", "--toy", "--resolution", "16", flag, value]) == 1
    err = capsys.readouterr().err
    assert flag.lstrip("-").replace("-", "_") in err and "positive integer" in err and "Traceback" not in err


@pytest.mark.parametrize("args, match", [
    (["--resolution", "0"], "resolution=0"),
    (["--seed", "-1"], "--seed=-1"),
    (["--env", "CartPole-v1"], "unknown suite 'CartPole-v1'"),
    (["--gif", "."], "--gif=.: must be a file path"),
])
def test_rollout_bad_arguments_are_named(capsys, args, match):
    assert main(["rollout", "--episodes", "1", *args]) == 1
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err
