"""Action-level fusion trained by imitation on the real ``tiny`` suite (scenes, graphs, rendered views,
FeatureStore features), evaluated against the random walk; PPO with the fusion policy (slow).

Encoders: four tasks of the pretrained default zoo (``nf64``) when it is installed; otherwise
randomly initialised frozen zoo-architecture networks registered for these tests (``tiny_rand0..3``,
different seeds; features still differ per node and view).

Unseen-scene margins (reach-mode success on the 2 test scenes, 200 fixed episodes; the random walk
gets 0.24): the default budget (180 iterations, batch 96, seed 0) must beat it by the issue's 15
points (0.49 vs 0.24 measured). Two ``slow`` tests fail with their numbers until the agent
generalises better: other training seeds (1-3 measured +0.215 / +0.135 / +0.02) and the longer run's
+30 points (600 iterations measured +0.085: longer imitation on 3 training scenes memorises them).
Numbers and what was tried: docs/agents.md.
"""

from __future__ import annotations

import pytest
import torch

from navfusion.agents import load_agent_config
from navfusion.train import checkpoint as ckpt
from navfusion.train.imitation import TrainConfig, build_agent, train_imitation
from navfusion.train.rollout import evaluate

ZOO_TASKS = ["depth_zbuffer", "normal", "segment_semantic", "class_object"]
STAND_INS = [f"tiny_rand{k}" for k in range(4)]


def _encoders() -> tuple[list[str], bool]:
    from navfusion.vision.registry import list_encoders

    have = set(list_encoders())
    return (ZOO_TASKS, True) if all(t in have for t in ZOO_TASKS) else (STAND_INS, False)


def _agent(encoders):
    return {"kind": "action_fusion", "encoders": encoders, "gate": {"resolution": 16, "channels": [8, 16]}}


@pytest.fixture(scope="module")
def tiny_splits(nf_cache):
    from navfusion.train.data import load_split
    from navfusion.vision.registry import _random_encoder, register_encoder

    torch.set_num_threads(1)
    for k, name in enumerate(STAND_INS):
        register_encoder(name, lambda k=k: _random_encoder(seed=100 + k), overwrite=True)
    encoders, zoo = _encoders()
    train = load_split("tiny", "train", encoders, 16, episodes_per_scene=100)
    test = load_split("tiny", "test", encoders, 16, episodes_per_scene=100)
    return train, test, zoo


#: the issue's margins over the random walk on the unseen test scenes
ISSUE_MARGIN, ISSUE_MARGIN_LONG = 0.15, 0.30


def _report(name: str, train_ok: float, fused: float, rnd: float, zoo: bool) -> str:
    return (f"tiny action_fusion ({name}, {'zoo' if zoo else 'stand-in'} encoders): train {train_ok:.3f}; "
            f"unseen test {fused:.3f} vs random {rnd:.3f} (margin {fused - rnd:+.3f})")


def _train(train, out, iterations: int, batch_size: int, seed: int = 0):
    acfg = load_agent_config(_agent(list(train.spec.encoders)))
    cfg = TrainConfig(iterations=iterations, batch_size=batch_size, lr=3e-3, seed=seed, eval_every=0,
                      dagger_start=iterations // 2, dagger_every=max(1, iterations // 4), dagger_episodes=64,
                      checkpoint_every=iterations)
    train_imitation(acfg, cfg, out, train, None, progress=False)
    agent = build_agent(acfg, train, 0)
    ckpt.load_weights(out / "checkpoints" / "last.safetensors", agent)
    return agent


def _random_success(data) -> float:
    return evaluate(build_agent(load_agent_config("random"), data, 0), data, seed=0).success


@pytest.fixture(scope="module")
def default_run(tiny_splits, tmp_path_factory):
    """The default-budget agent's success: (train scenes, unseen test scenes, random on test)."""
    train, test, _ = tiny_splits
    agent = _train(train, tmp_path_factory.mktemp("af"), iterations=180, batch_size=96)
    return evaluate(agent, train, seed=0).success, evaluate(agent, test, seed=0).success, _random_success(test)


def test_action_fusion_imitation_learns_train_scenes_and_beats_random_on_unseen(tiny_splits, default_run):
    ok_train, fused, rnd = default_run
    print(_report("180 it", ok_train, fused, rnd, tiny_splits[2]))
    assert ok_train >= 0.9
    assert fused >= rnd + ISSUE_MARGIN, _report("180 it", ok_train, fused, rnd, tiny_splits[2])


@pytest.mark.slow
def test_default_budget_margin_holds_for_other_training_seeds(tiny_splits, default_run, tmp_path):
    """Not the fixed seed's luck: other training seeds each beat the random walk by 10 points and
    by the issue's 15 on average (seed 0 included)."""
    train, test, zoo = tiny_splits
    rnd = default_run[2]
    margins = [default_run[1] - rnd]
    for seed in (1, 2, 3):
        agent = _train(train, tmp_path / f"af{seed}", iterations=180, batch_size=96, seed=seed)
        margins.append(evaluate(agent, test, seed=0).success - rnd)
    print(f"tiny action_fusion (180 it, seeds 0-3): unseen-test margins {[round(m, 3) for m in margins]}")
    assert min(margins) >= 0.10 and sum(margins) / len(margins) >= ISSUE_MARGIN, margins


@pytest.mark.slow
def test_longer_imitation_beats_random_by_30_points(tiny_splits, tmp_path):
    train, test, zoo = tiny_splits
    agent = _train(train, tmp_path / "af_long", iterations=600, batch_size=256)
    ok_train = evaluate(agent, train, seed=0).success
    fused, rnd = evaluate(agent, test, seed=0).success, _random_success(test)
    print(_report("600 it", ok_train, fused, rnd, zoo))
    assert ok_train >= 0.9
    assert fused >= rnd + ISSUE_MARGIN_LONG, _report("600 it", ok_train, fused, rnd, zoo)


@pytest.mark.slow
def test_ppo_with_the_fusion_policy_improves_success(tiny_splits, tmp_path):
    from navfusion.train.ppo import PPOConfig, train_ppo

    train, _, _ = tiny_splits
    acfg = load_agent_config(_agent(list(train.spec.encoders)))
    res = train_ppo(acfg, PPOConfig(timesteps=2048, n_envs=4, n_steps=128, batch_size=128, lr=1e-3, seed=0,
                                    eval_split="train"), tmp_path / "ppo", eval_data=train)
    print(f"tiny PPO: success {res['success_before']:.3f} -> {res['success_after']:.3f}")
    assert res["success_after"] > res["success_before"] + 0.1
    agent = build_agent(acfg, train, 0)
    ckpt.load_weights(tmp_path / "ppo" / "checkpoints" / "last.safetensors", agent)  # usable like imitation's
