"""Rendering throughput: views/s with all six buffers, per backend, resolution, batch and process count.

    python benchmarks/bench_render.py [--resolutions 64 128 256] [--backends gl raycast] [--scenes 2]
                                      [--processes N] [--seconds 3] [--out benchmarks/results/render.json]

Views are the 8 headings of random nodes in quickstart scenes (``navfusion.cli.bench.render``). "single" =
one view per ``render`` call, "batch8" = the 8 views of a node per call. "1 proc" runs in this
process; "machine" runs N processes (default: CPU count, spawn start method) and counts all their
views over the slowest one's time. Prints a Markdown table and writes all numbers as JSON.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--resolutions", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--backends", nargs="+", default=None, help="default: gl (if EGL works) and raycast")
    ap.add_argument("--scenes", type=int, default=2)
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--lp-threads", type=int, default=0, help="LP_NUM_THREADS for gl worker processes")
    ap.add_argument("--out", default="benchmarks/results/render.json")
    ap.add_argument("--table", metavar="JSON", help="only print the table of an earlier run's JSON")
    args = ap.parse_args(argv)
    if args.table:
        print(table(json.loads(Path(args.table).read_text())))
        return 0

    from navfusion.cli.bench.render import Job, load_bench_scenes, measure
    from navfusion.render.base import egl_available

    backends = args.backends or ((["gl"] if egl_available() else []) + ["raycast"])
    scenes, source = load_bench_scenes(args.scenes)
    tri = [s.num_triangles for s in scenes]
    result = {
        "command": "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor()},
        "scenes": source, "triangles_per_scene": tri, "triangles_mean": sum(tri) / len(tri),
        "buffers": ["rgb", "depth_z", "depth_euclidean", "normal", "semantic", "instance"],
        "processes_machine": args.processes, "runs": [],
    }
    for res in args.resolutions:
        for backend in backends:
            for batch in args.batches:
                for procs in sorted({1, args.processes}):
                    lp = args.lp_threads if (backend == "gl" and procs > 1) else None
                    m = measure(Job(backend, res, batch, args.seconds, lp_num_threads=lp), scenes, procs)
                    m.update(backend=backend, resolution=res, batch=batch, lp_num_threads=lp)
                    result["runs"].append(m)
                    print(f"{backend:8s} {res:4d}px batch {batch}: {m['fps']:8.1f} views/s with {procs} process(es), "
                          f"{m['cpu_ms_per_view']:.2f} CPU ms/view", file=sys.stderr, flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(out)
    print(table(result))
    print(f"\nwrote {out}")
    return 0


def table(result: dict) -> str:
    """The Markdown table of a result: measured views/s (1 process, whole machine), CPU time per view
    and the capacity it implies for the whole machine when nothing else runs (cores / CPU time)."""
    cores = result["machine"]["cpus"] or 1
    runs = result["runs"]
    keys = sorted({(r["resolution"], r["backend"], r["batch"]) for r in runs},
                  key=lambda k: (k[0], k[1] != "gl", k[2]))
    lines = [f"scenes: {result['scenes']}; triangles per scene: {result['triangles_per_scene']}", "",
             "| resolution | backend | views per call | 1 process (views/s) | whole machine (views/s) "
             f"| CPU ms per view | capacity of {cores} idle cores (views/s) |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    best = {}
    for k in keys:
        rs = [r for r in runs if (r["resolution"], r["backend"], r["batch"]) == k]
        one = max((r["fps"] for r in rs if r["processes"] == 1), default=0.0)
        machine = max(r["fps"] for r in rs)
        cpu = min(r["cpu_ms_per_view"] for r in rs)
        cap = cores * 1000.0 / cpu if cpu > 0 else 0.0
        best[k] = (machine, cap)
        lines.append(f"| {k[0]}² | {k[1]} | {k[2]} | {one:,.0f} | {machine:,.0f} | {cpu:.2f} | {cap:,.0f} |")
    ratios = []
    for (res, backend, batch), (machine, cap) in best.items():
        other = best.get((res, "raycast", batch))
        if backend == "gl" and other and other[0] > 0 and other[1] > 0:
            ratios.append(f"{res}² batch {batch}: {machine / other[0]:.1f}x measured, {cap / other[1]:.1f}x capacity")
    if ratios:
        lines += ["", "gl / raycast: " + "; ".join(ratios)]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
