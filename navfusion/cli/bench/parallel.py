"""Scaling benchmarks: vectorised env steps/s vs workers, and training iterations/s on a device.

Numbers measured on a loaded development machine are noisy: compare ratios measured side by side
in one run, never across runs.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch


def bench_vecenv(env_id: str = "NavFusion/OctoNav-tiny-v0", workers: tuple[int, ...] = (1, 2, 4),
                 steps: int = 200, resolution: int = 64, modes: tuple[str, ...] = ("sync", "async"),
                 seed: int = 0, **env_kwargs: Any) -> dict[str, Any]:
    """Environment steps per second (summed over copies) for each vectorisation and worker count.

    Each measurement: every scene's world loaded in every copy, 20 warm-up steps, then ``steps``
    timed vector steps of random actions. ``env_kwargs`` go to ``gymnasium.make`` (``views="live"``
    renders the 8 views at every step instead of looking them up: an expensive step).
    """
    from navfusion.parallel.vecenv import make_vec_env

    rows = []
    for mode in modes:
        for n in workers:
            t0 = time.perf_counter()
            vec = make_vec_env(env_id, n, mode, resolution=resolution, **env_kwargs)
            rng = np.random.default_rng(seed)
            # load every scene's world in every copy first (worlds load lazily on first use)
            for sid in vec.get_attr("scene_ids")[0]:
                vec.reset(seed=seed, options={"scene_id": sid})
            vec.reset(seed=seed)
            for _ in range(20):
                vec.step(rng.integers(0, 9, size=n))
            t_start = time.perf_counter() - t0
            t1 = time.perf_counter()
            for _ in range(steps):
                vec.step(rng.integers(0, 9, size=n))
            dt = time.perf_counter() - t1
            vec.close()
            rows.append({"vectorization": mode, "num_envs": n, "steps_per_s": n * steps / dt,
                         "vector_steps_per_s": steps / dt, "startup_s": t_start})
    import os

    return {"env": env_id, "resolution": resolution, "steps": steps, "cpu_count": os.cpu_count(),
            "env_kwargs": env_kwargs, "rows": rows}


def bench_train_device(device: str = "auto", experts: int = 25, batch_size: int = 256, iterations: int = 20,
                       gate_resolution: int = 64, agent: str = "action_fusion", amps: tuple[str, ...] = ("off", "bf16"),
                       seed: int = 0) -> dict[str, Any]:
    """Imitation steps/s on ``device`` for each autocast mode, with device-resident lookup tables
    (and, on CUDA, with host-resident pinned tables for comparison)."""
    from navfusion.agents import load_agent_config
    from navfusion.device import autocast, prepare_model, resolve_device
    from navfusion.parallel.device_data import on_device
    from navfusion.train.data import synthetic_split
    from navfusion.train.imitation import build_agent

    dev = resolve_device(device)
    data = synthetic_split(num_scenes=2, num_encoders=experts, seed=seed, rgb_resolution=gate_resolution)
    cfg = load_agent_config(agent, encoders=list(data.spec.encoders))
    cfg.gate.resolution = gate_resolution
    cfg.resolution = gate_resolution if cfg.resolution else None
    states = np.argwhere(data.arrays[0].distance >= 0)
    placements = [True, False] if dev.type == "cuda" else [False]
    rows = []
    for resident in placements:
        feed = on_device(data, dev, resident=resident)
        for amp in amps:
            if amp == "bf16" and dev.type == "cpu":
                continue  # CPU bf16 autocast is slower than float32 on most CPUs; not a path we offer
            model = prepare_model(build_agent(cfg, data, seed), dev)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            rng = np.random.default_rng(seed)
            t_total = 0.0
            for i in range(iterations + 3):  # 3 warm-up steps (allocator, cuDNN autotune)
                if dev.type == "cuda":
                    torch.cuda.synchronize(dev)
                t0 = time.perf_counter()
                pick = states[rng.integers(len(states), size=batch_size)]
                s = np.zeros(batch_size, np.int64)
                inp = feed.inputs(s, pick[:, 1], pick[:, 0])
                actions = torch.as_tensor(data.oracle(s, pick[:, 1], pick[:, 0])).to(dev)
                with autocast(dev, amp):
                    loss, _ = model.loss(model(inp), actions)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if dev.type == "cuda":
                    torch.cuda.synchronize(dev)
                if i >= 3:
                    t_total += time.perf_counter() - t0
            rows.append({"amp": amp, "tables": "device" if getattr(feed, "resident", False) else "host",
                         "iterations_per_s": iterations / t_total, "ms_per_iteration": 1000 * t_total / iterations,
                         "loss": float(loss.detach())})
    return {"device": str(dev), "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
            "torch": torch.__version__, "agent": cfg.name, "experts": experts, "batch_size": batch_size,
            "gate_resolution": gate_resolution, "iterations": iterations, "threads": torch.get_num_threads(),
            "rows": rows}
