"""Training speed: imitation iterations per second, and the same measured on an earlier commit.

:func:`bench_train` times imitation steps of one agent in this process. :func:`compare_train`
measures "before" and "after" in one run: the ``baseline`` commit's own ``bench_train`` (its
``navfusion`` and ``agents`` folders exported with ``git archive`` into a temporary folder) and the
current tree's, each in a fresh subprocess, alternating baseline/current agent by agent and round
by round, so that load from other processes hits both alike. Ratios of the two are the figures to
read on a shared machine; absolute rates move with its load.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from navfusion.agents import load_agent_config
from navfusion.device import autocast
from navfusion.errors import NavFusionError
from navfusion.nn import ExpertBank
from navfusion.train.data import synthetic_split
from navfusion.train.imitation import build_agent
from navfusion.train.speed import tune_allocator

#: the last commit before the training-throughput work (issue 14, item 1): the default "before"
BASELINE_REV = "6be6f048811cae737e32c5610ddf061faa0384ae"
#: the agents ``navfusion bench train --compare`` measures by default (25 experts, batch 256)
COMPARE_AGENTS = ("action_fusion", "feature_fusion", "concat", "resnet")


def bench_train(agent: str = "action_fusion", experts: int = 25, batch_size: int = 256, iterations: int = 10,
                gate_resolution: int = 64, threads: int | None = None, seed: int = 0, amp: str = "off",
                reference: bool = False) -> dict:
    """Time ``iterations`` imitation steps (lookup + forward + backward + Adam) on synthetic lookup
    tables shaped like the zoo's (K encoders × 8 views × 8×8×8 features, RGB at the gate's size).

    ``amp``: ``"bf16"`` runs forward and loss under CPU bf16 autocast (weights and Adam stay
    float32). ``reference``: the in-tree reference paths (allocator untouched, gate input not
    folded into the stem, experts in a loop) -- only what this tree can switch back; the baseline
    commit itself is measured by :func:`compare_train`.

    Returns iterations/s, ms/iteration, ``cpu_ms_per_iteration`` (process CPU time: with one
    thread, the figure other processes on the machine disturb least) and ``data_share`` (fraction of
    the step spent gathering the batch's inputs and labels).
    """
    tuned = False if reference else tune_allocator()
    if threads:
        torch.set_num_threads(threads)
    data = synthetic_split(num_scenes=2, num_encoders=experts, seed=seed, rgb_resolution=gate_resolution)
    cfg = load_agent_config(agent, encoders=list(data.spec.encoders))
    cfg.gate.resolution = gate_resolution
    cfg.resolution = gate_resolution if cfg.resolution else None
    model = build_agent(cfg, data, seed)
    if not model.trainable:
        raise ValueError(f"agent {agent!r} has nothing to train")
    if reference:
        _reference_paths(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(seed)
    states = np.argwhere(data.arrays[0].distance >= 0)
    cpu = torch.device("cpu")
    t_data = t_model = cpu_s = 0.0
    for i in range(iterations + 1):  # the first step warms up allocators and is not timed
        c0 = time.process_time()
        t0 = time.perf_counter()
        pick = states[rng.integers(len(states), size=batch_size)]
        s = np.zeros(batch_size, np.int64)
        inp = data.inputs(s, pick[:, 1], pick[:, 0])
        actions = torch.as_tensor(data.oracle(s, pick[:, 1], pick[:, 0]))
        free = torch.as_tensor(data.free(s, pick[:, 1]))
        t1 = time.perf_counter()
        with autocast(cpu, amp):
            loss, _ = model.loss(model(inp), actions, free)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        t2 = time.perf_counter()
        if i:
            t_data += t1 - t0
            t_model += t2 - t1
            cpu_s += time.process_time() - c0
    total = t_data + t_model
    return {"agent": cfg.name, "experts": experts, "batch_size": batch_size, "iterations": iterations,
            "gate_resolution": gate_resolution, "threads": torch.get_num_threads(), "amp": amp,
            "reference": reference, "allocator_tuned": tuned,
            "iterations_per_s": iterations / total, "ms_per_iteration": 1000 * total / iterations,
            "data_share": t_data / total, "cpu_ms_per_iteration": 1000 * cpu_s / iterations,
            "parameters": sum(p.numel() for p in model.parameters())}


def _reference_paths(model: torch.nn.Module) -> None:
    """Switch a model's fast paths that have an in-tree reference back to it (same maths)."""
    for m in model.modules():
        if hasattr(m, "fused_input"):
            m.fused_input = False
        if isinstance(m, ExpertBank) and m.mode == "stacked":
            m.mode = "loop"


# ----------------------------------------------------------------------------- before / after

#: a subprocess's script: argv = (JSON arguments, the tree's bench module, see :func:`_bench_module`)
_RUNNER = """
import importlib, json, sys
bench_train = importlib.import_module(sys.argv[2]).bench_train
a = json.loads(sys.argv[1])
kw = {k: a[k] for k in ("amp",) if a.get(k, "off") != "off"}  # older trees know no amp argument
r = bench_train(a["agent"], a["experts"], a["batch_size"], a["iterations"], a["gate_resolution"], a["threads"], **kw)
print("RESULT " + json.dumps(r))
"""


def export_tree(rev: str, dest: Path, repo: Path) -> Path:
    """``rev``'s ``navfusion/`` and ``agents/`` exported into ``dest`` (``git archive``; the
    repository and its worktree list are left untouched); ``assets/`` is linked from ``repo``."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        arch = subprocess.run(["git", "-C", str(repo), "archive", rev, "navfusion", "agents"],
                              check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        msg = getattr(e, "stderr", b"") or str(e).encode()
        raise NavFusionError(f"cannot export baseline {rev!r} from {repo}: "
                             f"{msg.decode(errors='replace').strip()}") from None
    subprocess.run(["tar", "-x", "-C", str(dest)], input=arch, check=True)
    if (repo / "assets").is_dir():
        (dest / "assets").symlink_to(repo / "assets", target_is_directory=True)
    return dest


def _bench_module(tree: Path) -> str:
    """The module holding ``tree``'s ``bench_train``: the command layer's, or ``navfusion.train.bench``
    in trees from before the command layer (such as :data:`BASELINE_REV`)."""
    return "navfusion.cli.bench.train" if (tree / "navfusion/cli/bench/train.py").is_file() else "navfusion.train.bench"


def _run_one(tree: Path, args: dict, timeout: float) -> dict:
    """One ``bench_train`` call in a fresh interpreter importing ``navfusion`` from ``tree``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}  # same allocator for both
    env["PYTHONPATH"] = str(tree)
    env.pop("NAVFUSION_MALLOC", None)
    p = subprocess.run([sys.executable, "-c", _RUNNER, json.dumps(args), _bench_module(tree)], cwd=str(tree), env=env,
                       capture_output=True, text=True, timeout=timeout)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise NavFusionError(f"benchmark subprocess ({tree}, {args['agent']}) failed:\n{p.stderr[-2000:]}")


def compare_train(agents: tuple[str, ...] = COMPARE_AGENTS, baseline: str = BASELINE_REV, rounds: int = 2,
                  experts: int = 25, batch_size: int = 256, iterations: int = 5, gate_resolution: int = 64,
                  threads: int | None = None, amp_variant: bool = False, timeout: float = 900.0) -> dict:
    """Iterations/s of ``agents`` on the ``baseline`` commit and on this tree, measured in one run.

    For every round and agent: the baseline, then the current tree (then, with ``amp_variant``, the
    current tree with bf16 autocast), each a fresh subprocess timing ``iterations`` steps after one
    warm-up step. Reports per agent the median it/s of each variant and the current/baseline
    ratio, with the load average before and after.
    """
    if rounds < 1 or iterations < 1:
        raise NavFusionError("rounds and iterations must be >= 1")
    repo = Path(__file__).resolve().parents[3]  # navfusion/cli/bench/train.py -> the repository
    rev = subprocess.run(["git", "-C", str(repo), "rev-parse", baseline], capture_output=True, text=True)
    if rev.returncode:
        raise NavFusionError(f"unknown baseline revision {baseline!r}: {rev.stderr.strip()}")
    base_sha = rev.stdout.strip()
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    variants = {"baseline": None, "current": "off"}
    if amp_variant:
        variants["current_bf16"] = "bf16"
    load0 = os.getloadavg()
    t0 = time.time()
    runs: dict[str, dict[str, list[float]]] = {a: {v: [] for v in variants} for a in agents}
    tmp = Path(tempfile.mkdtemp(prefix="navfusion-baseline-"))
    try:
        base_tree = export_tree(base_sha, tmp / "tree", repo)
        for _ in range(rounds):
            for agent in agents:
                for name, amp in variants.items():
                    args = {"agent": agent, "experts": experts, "batch_size": batch_size, "iterations": iterations,
                            "gate_resolution": gate_resolution, "threads": threads, "amp": amp or "off"}
                    tree = base_tree if amp is None else repo
                    runs[agent][name].append(_run_one(tree, args, timeout)["iterations_per_s"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = []
    for agent in agents:
        med = {v: statistics.median(x) for v, x in runs[agent].items()}
        row = {"agent": agent, **{f"{v}_it_per_s": round(m, 3) for v, m in med.items()},
               "speedup": round(med["current"] / med["baseline"], 2),
               "runs_it_per_s": {v: [round(x, 3) for x in xs] for v, xs in runs[agent].items()}}
        if amp_variant:
            row["speedup_bf16"] = round(med["current_bf16"] / med["baseline"], 2)
        rows.append(row)
    return {"baseline": base_sha, "current": head, "dirty": _dirty(repo), "experts": experts,
            "batch_size": batch_size, "iterations": iterations, "rounds": rounds,
            "gate_resolution": gate_resolution, "threads": threads or torch.get_num_threads(), "rows": rows,
            "loadavg_start": load0, "loadavg_end": os.getloadavg(), "seconds": round(time.time() - t0, 1)}


def _dirty(repo: Path) -> bool:
    """Whether the current tree's ``navfusion/`` or ``agents/`` differ from HEAD (what was measured
    is then not exactly a commit)."""
    p = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--", "navfusion", "agents"],
                       capture_output=True, text=True)
    return bool(p.stdout.strip())


def format_compare(res: dict) -> str:
    """A Markdown table of :func:`compare_train`'s result."""
    amp = any("current_bf16_it_per_s" in r for r in res["rows"])
    head = "| agent | baseline it/s | current it/s | speed-up |" + (" current + bf16 it/s | speed-up |" if amp else "")
    lines = [head, "|---|---:|---:|---:|" + ("---:|---:|" if amp else "")]
    for r in res["rows"]:
        line = f"| {r['agent']} | {r['baseline_it_per_s']:.3f} | {r['current_it_per_s']:.3f} | {r['speedup']:.2f}× |"
        if amp:
            line += f" {r['current_bf16_it_per_s']:.3f} | {r['speedup_bf16']:.2f}× |"
        lines.append(line)
    dirty = " + uncommitted changes" if res["dirty"] else ""
    lines.append(f"\nbaseline {res['baseline'][:9]}, current {res['current'][:9]}{dirty}; K={res['experts']}, "
                 f"batch {res['batch_size']}, gate {res['gate_resolution']}², {res['threads']} threads, "
                 f"{res['iterations']} timed iterations × {res['rounds']} rounds (median); load average "
                 f"{res['loadavg_start'][0]:.2f} → {res['loadavg_end'][0]:.2f}; {res['seconds']} s")
    return "\n".join(lines)
