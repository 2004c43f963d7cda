"""Rendering throughput measurement (used by ``navfusion bench render`` and ``benchmarks/bench_render.py``).

Views are the 8 headings of random nodes inside the scenes' rooms at eye height, rendered with all
six buffers. Every call renders a node not seen before in the measurement (``NODES_PER_SCENE``),
as when building a view store: per-position work (back faces, wall horizon) is not served from a
cache. The scenes take turns call by call, so a measurement of a few seconds renders all of them
(with one scene after the other, 512 nodes of the first scene outlasted a 3-second measurement).
"Whole machine" runs one renderer per process (``spawn`` start method: EGL contexts must be created
in the process that renders) and counts views of all processes over the slowest process's time.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import queue as queue_mod
import time
from dataclasses import dataclass

import numpy as np

from navfusion.errors import NavFusionError
from navfusion.render.camera import BUFFERS, Camera, Poses
from navfusion.scenes.scene import Scene
from navfusion.scenes.suites import load_scene, load_suite


def node_poses(scene: Scene, nodes: int, eye_height: float, rng: np.random.Generator) -> Poses:
    """``nodes`` random points inside the scene's rooms (or its bounding box), 8 views each (yaw k·45°)."""
    pts = []
    rooms = [r for r in scene.rooms if len(r.polygon) >= 3]
    while len(pts) < nodes:
        if rooms:
            poly = np.asarray(rooms[int(rng.integers(len(rooms)))].polygon, np.float64)
            lo, hi = poly.min(0) + 0.3, poly.max(0) - 0.3
        else:
            b = scene.bounds()
            lo, hi = b[0, :2] + 0.3, b[1, :2] - 0.3
        if np.any(hi <= lo):
            lo, hi = np.minimum(lo, hi), np.maximum(lo, hi) + 1e-3
        pts.append(rng.uniform(lo, hi))
    xy = np.asarray(pts)
    pos = np.c_[xy, np.full(len(xy), scene.floor_height + eye_height)]
    return Poses(np.repeat(pos, 8, axis=0), np.tile(np.arange(8) * math.pi / 4, len(pos)))


#: distinct nodes per scene: more than a renderer caches per-position work for (64), and more than
#: one process renders in a measurement (a few hundred views/s each)
NODES_PER_SCENE = 512


@dataclass
class Job:
    """One measurement: a backend at a resolution, ``batch`` views per ``render`` call."""

    backend: str
    resolution: int
    batch: int = 8
    seconds: float = 3.0
    buffers: tuple[str, ...] = BUFFERS
    lp_num_threads: int | None = None
    seed: int = 0


def _run(job: Job, scenes: list[Scene], barrier=None) -> tuple[int, float, float, float]:
    """Render for ~``job.seconds``; returns (views, wall seconds, triangles drawn per view or -1,
    CPU seconds of this process, renderer threads included)."""
    if job.lp_num_threads is not None:
        os.environ["LP_NUM_THREADS"] = str(job.lp_num_threads)
    from navfusion.render.base import create_renderer

    rng = np.random.default_rng(job.seed)
    cam = Camera(job.resolution, job.resolution)
    work = []
    for sc in scenes:
        r = create_renderer(sc, cam, job.backend)
        poses = node_poses(sc, NODES_PER_SCENE, cam.eye_height, rng)
        r.render(Poses(poses.positions[:job.batch], poses.yaws[:job.batch]), job.buffers)  # warm-up: context, JIT
        work.append((r, poses))
    if barrier is not None:
        barrier.wait(timeout=600)
    views, tri0 = 0, sum(getattr(r, "triangles_drawn", 0) for r, _ in work)
    c0 = time.process_time()
    t0 = time.perf_counter()
    deadline = t0 + job.seconds
    # the scenes take turns call by call: a measurement of a few seconds covers all of them
    calls = [(r, Poses(poses.positions[s:s + job.batch], poses.yaws[s:s + job.batch]))
             for s in range(0, len(work[0][1]), job.batch) for r, poses in work]
    k = 0
    while time.perf_counter() < deadline:
        r, p = calls[k % len(calls)]
        r.render(p, job.buffers)
        views += len(p)
        k += 1
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    tri = sum(getattr(r, "triangles_drawn", 0) for r, _ in work) - tri0
    for r, _ in work:
        r.close()
    return views, dt, (tri / views if work[0][0].backend == "gl" and views else -1.0), cpu


def _worker(job: Job, scenes: list[Scene], barrier, queue) -> None:
    try:
        queue.put(_run(job, scenes, barrier))
    except BaseException as e:  # report to the parent instead of hanging it
        barrier.abort()
        queue.put(e)


def measure(job: Job, scenes: list[Scene], processes: int = 1) -> dict:
    """Views per second of ``job`` over ``scenes`` with ``processes`` processes (1 = this process).

    Returns ``{"fps", "processes", "views", "seconds", "triangles_drawn_per_view", "cpu_ms_per_view"}``;
    ``cpu_ms_per_view`` (CPU time of all processes and their threads per view) is what the
    throughput of an otherwise idle machine is bounded by: ``cores * 1000 / cpu_ms_per_view``.
    """
    if processes <= 1:
        views, dt, tri, cpu = _run(job, scenes)
        return {"fps": views / dt, "processes": 1, "views": views, "seconds": dt, "triangles_drawn_per_view": tri,
                "cpu_ms_per_view": 1000 * cpu / max(views, 1)}
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(job, scenes, barrier, queue), daemon=True) for _ in range(processes)]
    for p in procs:
        p.start()
    results: list = []
    try:
        while len(results) < processes:
            try:
                results.append(queue.get(timeout=1.0))
            except queue_mod.Empty:
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead and len(results) < processes:
                    raise NavFusionError(f"render benchmark worker died (exit code {dead[0].exitcode})") from None
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
    for res in results:
        if isinstance(res, BaseException):
            raise res
    views = sum(r[0] for r in results)
    dt = max(r[1] for r in results)
    tri = float(np.mean([r[2] for r in results]))
    cpu = sum(r[3] for r in results)
    return {"fps": views / dt, "processes": processes, "views": views, "seconds": dt, "triangles_drawn_per_view": tri,
            "cpu_ms_per_view": 1000 * cpu / max(views, 1)}


def load_bench_scenes(n: int, suite: str = "quickstart") -> tuple[list[Scene], str]:
    """The first ``n`` scenes of ``suite`` (train split first). Returns (scenes, source description)."""
    s = load_suite(suite)
    ids = []
    for split in ("train", "test", "val", "pretrain"):
        if split in s.splits:
            ids += list(s.scene_ids(split))
    return [load_scene(i) for i in ids[:n]], f"{suite} suite ({', '.join(str(i) for i in ids[:n])})"
