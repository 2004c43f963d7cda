"""Training speed: imitation iterations per second and the share of time spent gathering data."""

from __future__ import annotations

import time

import numpy as np
import torch

from navfusion.agents import load_agent_config
from navfusion.train.data import synthetic_split
from navfusion.train.imitation import build_agent


def bench_train(agent: str = "action_fusion", experts: int = 25, batch_size: int = 256, iterations: int = 10,
                gate_resolution: int = 64, threads: int | None = None, seed: int = 0) -> dict:
    """Time ``iterations`` imitation steps (lookup + forward + backward + Adam) on synthetic lookup
    tables shaped like the zoo's (K encoders × 8 views × 8×8×8 features, RGB at the gate's size).

    Returns iterations/s, ms/iteration and ``data_share`` (fraction of the step spent gathering
    the batch's inputs and labels).
    """
    if threads:
        torch.set_num_threads(threads)
    data = synthetic_split(num_scenes=2, num_encoders=experts, seed=seed, rgb_resolution=gate_resolution)
    cfg = load_agent_config(agent, encoders=list(data.spec.encoders))
    cfg.gate.resolution = gate_resolution
    cfg.resolution = gate_resolution if cfg.resolution else None
    model = build_agent(cfg, data, seed)
    if not model.trainable:
        raise ValueError(f"agent {agent!r} has nothing to train")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(seed)
    states = np.argwhere(data.arrays[0].distance >= 0)
    t_data = t_model = 0.0
    for i in range(iterations + 1):  # the first step warms up allocators and is not timed
        t0 = time.perf_counter()
        pick = states[rng.integers(len(states), size=batch_size)]
        s = np.zeros(batch_size, np.int64)
        inp = data.inputs(s, pick[:, 1], pick[:, 0])
        actions = torch.as_tensor(data.oracle(s, pick[:, 1], pick[:, 0]))
        free = torch.as_tensor(data.free(s, pick[:, 1]))
        t1 = time.perf_counter()
        loss, _ = model.loss(model(inp), actions, free)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        t2 = time.perf_counter()
        if i:
            t_data += t1 - t0
            t_model += t2 - t1
    total = t_data + t_model
    return {"agent": cfg.name, "experts": experts, "batch_size": batch_size, "iterations": iterations,
            "gate_resolution": gate_resolution, "threads": torch.get_num_threads(),
            "iterations_per_s": iterations / total, "ms_per_iteration": 1000 * total / iterations,
            "data_share": t_data / total, "parameters": sum(p.numel() for p in model.parameters())}
