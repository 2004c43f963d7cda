"""The GPU path's helpers, checked on CPU: device-fed batches equal the host batches, host outputs,
device resolution, and a single-process World that never communicates."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from navfusion.device import HostOutputs, autocast, resolve_device
from navfusion.errors import ConfigError, NavFusionError
from navfusion.parallel.device_data import DeviceData, on_device
from navfusion.parallel.world import World, init_world


@pytest.fixture(scope="module")
def data():
    from navfusion.train.data import synthetic_split

    return synthetic_split(num_scenes=2, num_encoders=2, seed=1, rgb_resolution=16)


@pytest.mark.parametrize("resident", [True, False])
def test_device_data_gathers_the_same_batch(data, resident):
    cpu = torch.device("cpu")
    assert on_device(data, cpu) is data  # the default path is untouched
    feed = DeviceData(data, cpu, resident=resident)
    rng = np.random.default_rng(0)
    s = rng.integers(0, 2, 32)
    n = np.array([rng.integers(0, data.arrays[i].num_nodes) for i in s])
    t = rng.integers(0, 4, 32)
    a, b = data.inputs(s, n, t), feed.inputs(s, n, t)
    assert torch.equal(a.target, b.target) and torch.equal(a.features, b.features) and torch.equal(a.rgb, b.rgb)
    assert feed.num_scenes == data.num_scenes  # everything else is the wrapped data's


def test_host_outputs_and_autocast(data):
    from navfusion.agents import load_agent_config
    from navfusion.train.imitation import build_agent

    cfg = load_agent_config("action_fusion", encoders=list(data.spec.encoders))
    cfg.gate.resolution = 16
    cfg.resolution = 16 if cfg.resolution else None
    agent = build_agent(cfg, data, 0)
    inp = data.inputs(np.zeros(4, np.int64), np.arange(4), np.zeros(4, np.int64))
    wrapped = HostOutputs(agent, torch.device("cpu"))
    wrapped.eval()
    assert not agent.training  # train()/eval() reach the wrapped model
    with torch.no_grad():
        out, ref = wrapped(inp), agent(inp)
    torch.testing.assert_close(out.log_probs, ref.log_probs)
    assert out.log_probs.dtype == torch.float32
    with pytest.raises(ConfigError, match="amp"), autocast(torch.device("cpu"), "fp8"):
        pass


def test_single_process_world_and_devices(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    w = init_world("cpu")
    assert (w.rank, w.size, w.is_main, w.distributed) == (0, 1, True, False)
    rng = np.random.default_rng(0)
    assert w.main_only(lambda: 7, rng) == 7 and w.broadcast("x") == "x" and w.mean(2.5) == 2.5
    m = torch.nn.Linear(2, 2)
    assert w.wrap(m) is m  # no DDP in one process
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match="device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(NavFusionError, match="no CUDA"):
            resolve_device("cuda")
        assert resolve_device("auto") == torch.device("cpu")
    assert World(rank=1, size=2).shard(np.arange(4)).tolist() == [2, 3]


def test_channels_last_touches_only_4d_tensors():
    from navfusion.device import prepare_model

    m = torch.nn.Module()
    m.conv = torch.nn.Conv2d(3, 4, 3)
    m.stacked = torch.nn.Parameter(torch.randn(2, 4, 3, 3, 3))  # an ExpertBank-style 5-D weight
    x = torch.randn(1, 3, 8, 8)
    ref = m.conv(x)
    prepare_model(m, torch.device("cpu"), channels_last=True)
    assert m.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert m.stacked.is_contiguous()
    torch.testing.assert_close(m.conv(x), ref)
