"""Custom suites by path in every command: the one ``--env`` resolver, ``gym.make`` with a suite path,
``navfusion rollout`` / ``evaluate`` on a folder suite of textured meshes (the project's own example)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

from navfusion.cli import main
from navfusion.errors import NavFusionError
from navfusion.nav.registration import GENERIC_ID, resolve_env
from navfusion.scenes.example import write_textured_example


@pytest.fixture(scope="module")
def example(tmp_path_factory, nf_cache):
    return write_textured_example(tmp_path_factory.mktemp("example"))


def test_resolve_env_forms(example, tmp_path):
    assert resolve_env("NavFusion/OctoNav-tiny-v0").suite == "tiny"
    assert resolve_env("tiny").env_id == "NavFusion/OctoNav-tiny-v0"
    spec = resolve_env(str(example))
    assert (spec.env_id, spec.suite, spec.kwargs) == (GENERIC_ID, "textured", {"suite": str(example)})
    assert resolve_env("textured").kwargs == {"suite": str(example)}  # remembered by name once loaded
    with pytest.raises(NavFusionError, match="unknown environment id 'NavFusion/OctoNav-nope-v0'"):
        resolve_env("NavFusion/OctoNav-nope-v0")
    with pytest.raises(NavFusionError, match="suite file not found"):
        resolve_env(str(tmp_path / "missing.yaml"))
    with pytest.raises(NavFusionError, match="unknown suite 'tinny'.*Did you mean 'tiny'"):
        resolve_env("tinny")


def test_child_processes_resolve_a_suite_loaded_by_path(example):
    resolve_env(str(example))
    code = "from navfusion.scenes.suites import load_suite; print(load_suite('textured').path)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ),
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(example)


def test_gym_make_with_a_suite_path(example):
    import navfusion  # noqa: F401  (registers the ids)

    env = gym.make(GENERIC_ID, suite=str(example), resolution=16)
    obs, info = env.reset(seed=0)
    assert obs["rgb"].shape == (8, 16, 16, 3) and info["scene_id"] == "textured/train/0"
    assert len(np.unique(obs["rgb"].reshape(-1, 3), axis=0)) > 20  # textured views, not flat colours
    steps = 0
    while True:
        obs, r, term, trunc, info = env.step(info["oracle_action"])
        steps += 1
        if term or trunc:
            break
    assert info["success"] and steps <= 39
    env.close()


def test_rollout_and_evaluate_cli_with_a_suite_path(example, capsys, tmp_path):
    assert main(["rollout", "--env", str(example), "--agent", "oracle", "--episodes", "3", "--resolution", "16",
                 "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["success"] == 1.0 and res["episodes"] == 3
    assert main(["evaluate", "oracle", "--env", str(example), "--split", "test", "--episodes-per-scene", "8",
                 "--out", str(tmp_path / "ev"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["suite"] == "textured" and res["success"] == 1.0 and res["scenes"] == 1


def test_evaluate_a_trained_run_on_a_suite_path(example, capsys, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--agent", "random", "--env", "NavFusion/OctoNav-tiny-v0", "--iterations", "1",
                 "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--env", str(example), "--split", "test", "--episodes-per-scene", "8",
                 "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["suite"] == "textured" and res["episodes"] == 8
