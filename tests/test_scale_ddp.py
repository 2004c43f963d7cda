"""Data-parallel imitation training: 2 gloo processes on CPU == 1 process with the same global batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from navfusion.parallel.world import World

ITERATIONS = 4
BATCH = 16
#: float32 gradients averaged over 2 ranks are summed in another order than one batch's mean, and
#: Adam divides by their running RMS: after 4 steps at lr 1e-3 the weights must agree to 1e-5
#: absolute (1% of one Adam step; observed ~4e-7).
ATOL, RTOL = 1e-5, 1e-4


def _setup():
    from navfusion.agents import load_agent_config
    from navfusion.train.data import synthetic_split
    from navfusion.train.imitation import TrainConfig

    data = synthetic_split(num_scenes=2, num_encoders=3, seed=0, rgb_resolution=16)
    agent = load_agent_config("action_fusion", encoders=list(data.spec.encoders))
    agent.gate.resolution = 16
    agent.resolution = 16 if agent.resolution else None
    # DAgger at iteration 2 exercises "rank 0 rolls out, broadcasts states + generator state"
    cfg = TrainConfig(iterations=ITERATIONS, batch_size=BATCH, lr=1e-3, seed=3, dagger_start=2, dagger_every=2,
                      dagger_episodes=4, eval_every=0, val_episodes=0, checkpoint_every=2, log_every=1)
    return agent, cfg, data


def _train(world: World, out: str, stop_after: int | None = None) -> None:
    from navfusion.train.imitation import train_imitation

    agent, cfg, data = _setup()
    res = train_imitation(agent, cfg, out, train_data=data, progress=False, world=world, stop_after=stop_after)
    if stop_after is not None:  # "killed" after 2 iterations: resume the run distributed, as a new job would
        assert res.iterations == stop_after
        res = train_imitation(agent, cfg, out, train_data=data, progress=False, world=world)
        assert res.resumed_from == stop_after and res.iterations == ITERATIONS


def _weights(out) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(out / "checkpoints" / "last.safetensors"))


def test_two_gloo_ranks_match_one_process_across_a_resume(tmp_path):
    from navfusion.parallel.launch import spawn

    torch.set_num_threads(1)
    _train(World(), str(tmp_path / "one"))
    spawn(_train, 2, args=(str(tmp_path / "two"), 2), threads=1, timeout_s=120)  # interrupted and resumed on 2 ranks

    one, two = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert one.keys() == two.keys()
    for k in one:
        torch.testing.assert_close(two[k], one[k], atol=ATOL, rtol=RTOL, msg=lambda m, k=k: f"{k}: {m}")
    # the runs really trained (weights moved from the seed's initialisation)
    from navfusion.train.imitation import build_agent

    agent, cfg, data = _setup()
    init = build_agent(agent, data, cfg.seed).state_dict()
    moved = max(float((one[k] - init[k].float()).abs().max()) for k in one if one[k].is_floating_point())
    assert moved > 1e-3
    # rank 0 alone wrote the logs; the logged loss is the global batch's mean
    rows_one = np.genfromtxt(tmp_path / "one" / "metrics.csv", delimiter=",", names=True)
    rows_two = np.genfromtxt(tmp_path / "two" / "metrics.csv", delimiter=",", names=True)
    np.testing.assert_allclose(rows_two["loss"], rows_one["loss"], rtol=1e-4)
    assert not list((tmp_path / "two").glob("**/*.tmp"))


def test_batch_must_split_evenly():
    from navfusion.errors import ConfigError

    w = World(rank=1, size=3)
    with pytest.raises(ConfigError, match="batch_size"):
        w.check_batch(16)
    batch = np.arange(12)
    assert w.shard(batch).tolist() == [4, 5, 6, 7]
    assert np.concatenate([World(rank=r, size=3).shard(batch) for r in range(3)]).tolist() == batch.tolist()


def test_torchrun_command_lines():
    from navfusion.errors import NavFusionError
    from navfusion.parallel.launch import strip_launch_args, torchrun_command

    argv = ["train", "--agent", "action_fusion", "--nproc", "4", "--out", "runs/x", "--nnodes=1"]
    rest = strip_launch_args(argv)
    assert rest == ["train", "--agent", "action_fusion", "--out", "runs/x"]
    one = torchrun_command(4, rest)
    assert "--standalone" in one and "--nproc-per-node=4" in one and one[-7:] == ["-m", "navfusion", *rest]
    multi = torchrun_command(8, rest, nnodes=2, node_rank=1, endpoint="node0:29400")
    assert {"--nnodes=2", "--node-rank=1", "--rdzv-endpoint=node0:29400", "--rdzv-backend=c10d"} <= set(multi)
    with pytest.raises(NavFusionError, match="rdzv-endpoint"):
        torchrun_command(8, rest, nnodes=2)


def test_train_cli_has_launch_options():
    from navfusion.cli import build_parser

    args = build_parser().parse_args(["train", "--agent", "random", "--out", "x", "--nproc", "2", "--device", "cpu",
                                      "--amp", "bf16"])
    assert (args.nproc, args.device, args.amp) == (2, "cpu", "bf16")


@pytest.mark.slow  # ~20-50 s: torchrun starts 2 ranks that load the tiny suite
def test_train_cli_nproc_runs_under_torchrun(tmp_path, tiny_worlds):
    import os
    import subprocess
    import sys

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "navfusion", "train", "--agent", "resnet", "--env", "NavFusion/OctoNav-tiny-v0",
           "--out", str(out), "--iterations", "2", "--batch-size", "8", "--eval-every", "0", "--nproc", "2",
           "--no-progress"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("trained resnet for 2 iterations") == 1  # rank 0 alone reports
    assert (out / "checkpoints" / "last.safetensors").is_file()
    import json

    assert json.loads((out / "config.json").read_text())["world"]["size"] == 2
