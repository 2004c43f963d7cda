"""The batched evaluator agrees with the Gymnasium env stepped one action at a time, on real worlds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from navfusion.nav.engine import PolicyStep, run_batched
from navfusion.nav.policies import oracle_policy
from navfusion.train.data import world_arrays, world_episodes


def _action(e: int, t: int, node: int) -> int:
    """A deterministic pseudo-random action of (episode, step, node), including stops and blocked moves."""
    h = (e * 1_000_003 + t * 7919 + node * 104_729) % 97
    return 8 if h < 4 else h % 8


@pytest.mark.parametrize("mode", ["reach", "stop"])
def test_batched_matches_env(tiny_world, mode):
    import gymnasium as gym

    from navfusion.nav.episodes import evaluation_episodes

    arrays = world_arrays(tiny_world)
    eps_list = evaluation_episodes(tiny_world, count=24, seed=0)
    eps = world_episodes(tiny_world, 24, 0)
    orc = oracle_policy(arrays)

    def pol(nodes, targets, t, idx):
        a = np.array([_action(int(e), t, int(n)) for e, n in zip(idx, nodes)])
        # half the episodes follow the oracle, so both successes and failures are compared
        o = orc(nodes, targets, t, idx).actions
        return PolicyStep(np.where(idx % 2 == 0, o, a))

    res = run_batched(arrays, eps, pol)
    env = gym.make("NavFusion/OctoNav-tiny-v0", worlds=[tiny_world], success_mode=mode).unwrapped
    for i, ep in enumerate(eps_list):
        _, info = env.reset(seed=0, options={"episode": ep})
        node, t, coll, done, moves = ep.start, 0, 0, False, 0
        while not done and t < 39:
            a = int(arrays.oracle[ep.target_index, node]) if i % 2 == 0 else _action(i, t, node)
            _, _, done, _, info = env.step(a)
            coll += int(info["collided"])
            moves += int(a != 8 and not info["collided"])
            node = info["node"]
            t += 1
        col = "reach" if mode == "reach" else "stop"
        assert bool(getattr(res, f"success_{col}")[i]) == bool(info["success"]), i
        assert getattr(res, f"spl_{col}")[i] == pytest.approx(info["spl"]), i
        assert getattr(res, f"steps_{col}")[i] == t, i
        assert getattr(res, f"collisions_{col}")[i] == coll, i
        assert getattr(res, f"path_{col}")[i] == moves, i


def test_evaluate_cli_oracle_and_random(nf_cache, tiny_world, tmp_path, capsys):
    from navfusion.cli import main

    assert main(["evaluate", "oracle", "--env", "NavFusion/OctoNav-tiny-v0", "--split", "train", "--max-scenes", "1",
                 "--episodes-per-scene", "64", "--json", "--out", str(tmp_path / "o")]) == 0
    o = json.loads(capsys.readouterr().out)
    assert o["success"] == 1.0 and o["spl"] == 1.0 and o["success_ci"] == [1.0, 1.0] and o["episodes"] == 64
    assert main(["evaluate", "random", "--env", "NavFusion/OctoNav-tiny-v0", "--split", "train", "--max-scenes", "1",
                 "--episodes-per-scene", "128", "--json", "--out", str(tmp_path / "r")]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["success"] < 0.5 and r["spl"] <= r["success"]
    assert (tmp_path / "r" / "episodes.csv").is_file() and (tmp_path / "r" / "summary.md").is_file()
    # --reactive: the walk without the action memory (its benefit is measured in test_agents_memory.py)
    assert main(["evaluate", "random", "--env", "NavFusion/OctoNav-tiny-v0", "--split", "train", "--max-scenes", "1",
                 "--episodes-per-scene", "128", "--json", "--reactive", "--out", str(tmp_path / "rr")]) == 0
    rr = json.loads(capsys.readouterr().out)
    assert rr["success"] < 0.3 and (rr["success"], rr["collisions"]) != (r["success"], r["collisions"]), (r, rr)


def test_evaluate_cli_bad_run_folder(nf_cache, tmp_path, capsys):
    from navfusion.cli import main

    assert main(["evaluate", str(tmp_path), "--json"]) == 1
    err = capsys.readouterr().err.strip()
    assert "no checkpoint" in err and len(err.splitlines()) == 1
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["evaluate", str(f)]) == 1
    assert "is a file" in capsys.readouterr().err
