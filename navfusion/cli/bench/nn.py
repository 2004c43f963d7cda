"""Speed benchmarks of the neural core (``navfusion bench nn``, ``benchmarks/bench_nn.py``).

Every comparison is measured side by side in one process: the variants run interleaved, a
repeat at a time, and each figure is the median over repeats, so that load from other processes
hits all variants alike. Ratios are what to read; absolute times move with the machine's load.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from navfusion.nn.condconv import CondConv2d
from navfusion.nn.expert_bank import ExpertBank
from navfusion.nn.nav_expert import NavExpert


@dataclass
class BenchConfig:
    """What to measure. ``quick`` shrinks the sweep (K ∈ {1, 8}, fewer repeats) for smoke runs."""

    quick: bool = False
    repeats: int = 7
    device: str = "cpu"
    threads: int | None = None
    condconv_ks: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    condconv_channels: int = 64
    condconv_size: int = 16
    condconv_batch: int = 64
    bank_experts: int = 25
    bank_batches: tuple[int, ...] = (16, 64, 256)

    def __post_init__(self) -> None:
        if self.repeats < 1:
            raise ValueError(f"BenchConfig.repeats must be ≥ 1, got {self.repeats}")
        if self.quick:
            self.condconv_ks = (1, 8)
            self.repeats = min(self.repeats, 3)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, device: torch.device,
                min_time: float = 0.05, clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Median seconds per call of each function, measured interleaved (one repeat of each in turn).

    Each function is warmed up once; a repeat runs it enough times to last about ``min_time``.
    ``clock``: wall time by default; ``time.process_time`` (CPU time) makes single-threaded runs
    insensitive to other processes competing for the cores.
    """
    counts = {}
    for name, fn in fns.items():
        fn()
        _sync(device)
        t0 = clock()
        fn()
        _sync(device)
        counts[name] = max(1, int(min_time / max(clock() - t0, 1e-6)))
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            n = counts[name]
            _sync(device)
            t0 = clock()
            for _ in range(n):
                fn()
            _sync(device)
            times[name].append((clock() - t0) / n)
    return {k: statistics.median(v) for k, v in times.items()}


def _condconv_step(layer: CondConv2d, x: torch.Tensor, r: torch.Tensor, impl: str, train: bool
                   ) -> Callable[[], object]:
    def f() -> object:
        layer.impl = impl
        if train:
            layer.zero_grad(set_to_none=True)
            layer(x, r).sum().backward()
            return None
        with torch.no_grad():
            return layer(x, r)
    return f


def bench_condconv(cfg: BenchConfig, ks: tuple[int, ...] | None = None, clock: Callable[[], float] = time.perf_counter,
                   modes: tuple[str, ...] = ("inference", "training"), extras: bool = True) -> dict:
    """CondConv2d (grouped trick) vs the fused MoE form vs a per-example loop.

    Inputs are channels_last, the faster memory format for both CondConv2d and the MoE form here;
    with ``extras`` the K=8 row adds the NCHW pair and the unfold+bmm variant.
    """
    dev = torch.device(cfg.device)
    c, s, b = cfg.condconv_channels, cfg.condconv_size, cfg.condconv_batch
    g = torch.Generator().manual_seed(0)
    x_nchw = torch.randn(b, c, s, s, generator=g).to(dev)
    x = x_nchw.contiguous(memory_format=torch.channels_last)
    rows = []
    for k in ks or cfg.condconv_ks:
        layer = CondConv2d(c, c, 3, num_experts=k, padding=1).to(dev)
        r = layer.route(x).detach()
        row: dict = {"K": k}
        for mode in modes:
            train = mode == "training"
            fns = {impl: _condconv_step(layer, x, r, impl, train) for impl in ("grouped", "moe")}
            if extras and k in (1, 8):
                fns["loop"] = _condconv_step(layer, x, r, "loop", train)
            if extras and k == 8:
                fns["grouped_nchw"] = _condconv_step(layer, x_nchw, r, "grouped", train)
                fns["moe_nchw"] = _condconv_step(layer, x_nchw, r, "moe", train)
                fns["bmm"] = _condconv_step(layer, x, r, "bmm", train)
            reps = cfg.repeats if k in (1, 8) else max(3, cfg.repeats // 2)
            t = interleaved(fns, reps, dev, clock=clock)
            row[mode] = {name: round(v * 1e3, 3) for name, v in t.items()}
            row[mode + "_speedup_vs_moe"] = round(t["moe"] / t["grouped"], 3)
            row[mode + "_speedup_vs_loop"] = round(t["loop"] / t["grouped"], 3) if "loop" in t else None
            if "moe_nchw" in t:
                row[mode + "_speedup_vs_moe_nchw"] = round(t["moe_nchw"] / t["grouped_nchw"], 3)
        rows.append(row)
    return {"layer": f"{c}->{c} ch, 3x3, pad 1, {s}x{s}, batch {b}, channels_last", "times_ms": "median ms per call",
            "rows": rows}


def nav_expert_flops(expert: NavExpert, batch: int, view_dim: int, hidden: int) -> dict[str, float]:
    """Matmul FLOPs of one NavExpert: forward, and forward+backward (weight grads everywhere,
    input grads except for the first layer, whose input is data)."""
    v, t, a = expert.views, expert.num_targets, expert.num_actions
    conv = 2 * batch * v * expert.channels * expert.height * expert.width * view_dim
    fuse = 2 * batch * (v * view_dim + t) * hidden
    head = 2 * batch * hidden * a
    fwd = conv + fuse + head
    return {"forward": fwd, "train": fwd + conv + 2 * (fuse + head)}


def bench_expert_bank(cfg: BenchConfig, batches: tuple[int, ...] | None = None,
                      clock: Callable[[], float] = time.perf_counter) -> dict:
    """ExpertBank (K NavExperts) vs a Python loop over a ModuleList, forward + backward; plus the
    bank's GFLOP/s against an fp32 2048³ ``torch.mm`` in the same process and threads (measured
    interleaved with the largest batch)."""
    batches = batches or cfg.bank_batches
    dev = torch.device(cfg.device)
    k = cfg.bank_experts
    bank = ExpertBank(NavExpert, k, seed=0).to(dev)
    mods = bank.to_modules().to(dev)
    proto = mods[0]
    view_dim, hidden = proto.conv.out_channels, proto.fuse.out_features
    a_mm = torch.randn(2048, 2048, device=dev)
    b_mm = torch.randn(2048, 2048, device=dev)
    rows = []
    for batch in batches:
        g = torch.Generator().manual_seed(batch)
        x = torch.randn(batch, k, *proto.in_shape, generator=g).to(dev)
        tgt = torch.randint(0, proto.num_targets, (batch,), generator=g).to(dev)

        def bank_step(x: torch.Tensor = x, tgt: torch.Tensor = tgt) -> None:
            bank.zero_grad(set_to_none=True)
            bank(x, tgt).sum().backward()

        def loop_step(x: torch.Tensor = x, tgt: torch.Tensor = tgt) -> None:
            mods.zero_grad(set_to_none=True)
            torch.stack([m(x[:, i], tgt) for i, m in enumerate(mods)], 1).sum().backward()

        fns: dict[str, Callable[[], object]] = {"bank": bank_step, "loop": loop_step}
        if batch == max(batches):
            fns["mm2048"] = lambda: torch.mm(a_mm, b_mm)
        t = interleaved(fns, cfg.repeats, dev, clock=clock)
        flops = nav_expert_flops(proto, batch, view_dim, hidden)["train"] * k
        row = {"batch": batch, "bank_ms": round(t["bank"] * 1e3, 3), "loop_ms": round(t["loop"] * 1e3, 3),
               "speedup_vs_loop": round(t["loop"] / t["bank"], 3),
               "bank_gflops": round(flops / t["bank"] / 1e9, 2), "loop_gflops": round(flops / t["loop"] / 1e9, 2)}
        if "mm2048" in t:
            mm = 2 * 2048**3 / t["mm2048"] / 1e9
            row["mm2048_gflops"] = round(mm, 2)
            row["bank_fraction_of_mm"] = round(row["bank_gflops"] / mm, 3)
            row["loop_fraction_of_mm"] = round(row["loop_gflops"] / mm, 3)
        rows.append(row)
    return {"experts": k, "expert": repr(proto).replace("\n", " "), "mode": bank.resolved_mode(),
            "in_shape": list(proto.in_shape), "rows": rows}


def robust_headline(cfg: BenchConfig) -> dict:
    """The headline ratios again with ONE thread and CPU time (``time.process_time``).

    On a machine shared with other processes, wall-clock ratios with several threads are biased
    against whichever variant runs more, shorter parallel regions (each waits for all its threads
    to be scheduled); single-threaded CPU time is insensitive to that. Reported next to, never
    instead of, the wall-clock figures.
    """
    if cfg.device != "cpu":
        return {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cc = bench_condconv(cfg, ks=(8,), clock=time.process_time, modes=("inference",), extras=False)
        eb = bench_expert_bank(cfg, batches=(16, 256), clock=time.process_time)
    finally:
        torch.set_num_threads(threads)
    by_b = {r["batch"]: r for r in eb["rows"]}
    return {
        "condconv_speedup_vs_moe_k8": cc["rows"][0]["inference_speedup_vs_moe"],
        "condconv_ms": cc["rows"][0]["inference"],
        "expertbank_speedup_vs_loop_k25_b16": by_b[16]["speedup_vs_loop"],
        "expertbank_speedup_vs_loop_k25_b256": by_b[256]["speedup_vs_loop"],
        "expertbank_fraction_of_matmul_peak": by_b[256]["bank_fraction_of_mm"],
        "expertbank_rows": eb["rows"],
    }


def run_all(cfg: BenchConfig) -> dict:
    """Both benchmarks (wall clock, default threads), the headline figures, the single-thread
    CPU-time cross-check and the machine's state."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    load0 = os.getloadavg() if hasattr(os, "getloadavg") else None
    t0 = time.time()
    cc = bench_condconv(cfg)
    eb = bench_expert_bank(cfg)
    robust = robust_headline(cfg)
    by_k = {r["K"]: r for r in cc["rows"]}
    by_b = {r["batch"]: r for r in eb["rows"]}
    big = max(by_b)
    out = {
        "condconv_speedup_vs_moe_k8": by_k[8]["inference_speedup_vs_moe"] if 8 in by_k else None,
        "condconv_train_speedup_vs_moe_k8": by_k[8]["training_speedup_vs_moe"] if 8 in by_k else None,
        "expertbank_speedup_vs_loop_k25_b16": by_b.get(16, {}).get("speedup_vs_loop"),
        "expertbank_speedup_vs_loop_k25_b256": by_b.get(256, {}).get("speedup_vs_loop"),
        "expertbank_min_speedup_vs_loop": min(r["speedup_vs_loop"] for r in eb["rows"]),
        "expertbank_fraction_of_matmul_peak": by_b[big].get("bank_fraction_of_mm"),
        "single_thread_cpu_time": robust,
        "condconv": cc,
        "expertbank": eb,
        "env": {
            "torch": torch.__version__, "device": cfg.device, "threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "machine": platform.machine(), "processor": platform.processor(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "loadavg_start": load0, "loadavg_end": os.getloadavg() if load0 is not None else None,
            "seconds": round(time.time() - t0, 1), "quick": cfg.quick, "repeats": cfg.repeats,
        },
    }
    return out


def format_summary(res: dict) -> str:
    """A short human-readable table of :func:`run_all`'s result."""
    lines = [f"CondConv2d ({res['condconv']['layer']}), median ms per call:"]
    lines.append(f"{'K':>3} | {'mode':9} | {'condconv':>9} {'moe':>9} {'loop':>9} | vs moe | vs loop")
    for r in res["condconv"]["rows"]:
        for mode in ("inference", "training"):
            t = r[mode]
            loop = f"{t['loop']:9.2f}" if "loop" in t else f"{'-':>9}"
            vs_loop = r[mode + "_speedup_vs_loop"]
            lines.append(f"{r['K']:>3} | {mode:9} | {t['grouped']:9.2f} {t['moe']:9.2f} {loop} | "
                         f"{r[mode + '_speedup_vs_moe']:6.2f} | {'-' if vs_loop is None else f'{vs_loop:.2f}'}")
            if "moe_nchw" in t:
                lines.append(f"    NCHW: condconv {t['grouped_nchw']:.2f}, moe {t['moe_nchw']:.2f} "
                             f"(x{r[mode + '_speedup_vs_moe_nchw']:.2f}); unfold+bmm {t['bmm']:.2f}")
    eb = res["expertbank"]
    lines.append(f"ExpertBank ({eb['experts']} x NavExpert, mode {eb['mode']}), forward+backward:")
    for r in eb["rows"]:
        extra = f", mm2048 {r['mm2048_gflops']} GFLOP/s, bank fraction {r['bank_fraction_of_mm']}" \
            if "mm2048_gflops" in r else ""
        lines.append(f"  batch {r['batch']:>4}: bank {r['bank_ms']:.2f} ms ({r['bank_gflops']} GFLOP/s), "
                     f"loop {r['loop_ms']:.2f} ms ({r['loop_gflops']} GFLOP/s), speedup {r['speedup_vs_loop']}{extra}")
    rb = res.get("single_thread_cpu_time") or {}
    if rb:
        lines.append(f"1 thread, CPU time: CondConv vs MoE K=8 x{rb['condconv_speedup_vs_moe_k8']}; bank vs loop "
                     f"b16 x{rb['expertbank_speedup_vs_loop_k25_b16']}, "
                     f"b256 x{rb['expertbank_speedup_vs_loop_k25_b256']}"
                     f"; bank fraction of mm {rb['expertbank_fraction_of_matmul_peak']}")
    e = res["env"]
    lines.append(f"torch {e['torch']}, {e['device']}, {e['threads']} threads, load average {e['loadavg_start']} → "
                 f"{e['loadavg_end']}, {e['seconds']} s")
    return "\n".join(lines)
