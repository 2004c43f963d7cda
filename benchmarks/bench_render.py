"""Rendering throughput: views/s with all six buffers, per backend, resolution, batch and process count.

    python benchmarks/bench_render.py [--resolutions 64 128 256] [--backends gl raycast] [--scenes 2]
                                      [--processes N] [--seconds 3] [--out benchmarks/results/render.json]

Views are the 8 headings of random nodes in quickstart scenes (``navfusion.render.bench``). "single" =
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
    args = ap.parse_args(argv)

    from navfusion.render.base import egl_available
    from navfusion.render.bench import Job, load_bench_scenes, measure

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
    rows = []
    for res in args.resolutions:
        for backend in backends:
            for batch in args.batches:
                figs = {}
                for procs in sorted({1, args.processes}):
                    lp = args.lp_threads if (backend == "gl" and procs > 1) else None
                    m = measure(Job(backend, res, batch, args.seconds, lp_num_threads=lp), scenes, procs)
                    m.update(backend=backend, resolution=res, batch=batch, lp_num_threads=lp)
                    result["runs"].append(m)
                    figs[procs] = m["fps"]
                    print(f"{backend:8s} {res:4d}px batch {batch}: {m['fps']:8.1f} views/s with {procs} process(es)",
                          file=sys.stderr, flush=True)
                best = max(figs.values())
                rows.append((res, backend, batch, figs[1], best))
    # gl / raycast ratios from the same run
    ratios = {}
    for res, backend, batch, _single, best in rows:
        if backend == "gl":
            other = [r for r in rows if r[0] == res and r[1] == "raycast" and r[2] == batch]
            if other and other[0][4] > 0:
                ratios[f"{res}px_batch{batch}"] = round(best / other[0][4], 2)
    result["gl_over_raycast_machine"] = ratios
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(out)
    print(f"\nscenes: {source}; triangles per scene: {tri}\n")
    print("| resolution | backend | views per call | 1 process (views/s) | whole machine (views/s) |")
    print("|---:|---|---:|---:|---:|")
    for res, backend, batch, single, best in rows:
        print(f"| {res}² | {backend} | {batch} | {single:,.0f} | {best:,.0f} |")
    if ratios:
        print("\ngl / raycast (whole machine): " + ", ".join(f"{k}: {v}×" for k, v in ratios.items()))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
