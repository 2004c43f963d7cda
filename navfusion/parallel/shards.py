"""A scene-shard task runner: one task per scene, run in this process, in local processes, or on Ray.

Builders (views, features) already make each scene's work idempotent: files are written
atomically, a manifest records their content hashes, and a rerun recomputes only what is missing,
stale or corrupt. So a shard whose worker dies -- before, during or after its work, even after the
files landed but before the reply reached the driver -- is simply run again: the retry reuses what
is on disk and no result is duplicated. This module only schedules and retries; it never writes
into the stores itself.

Backends:

- ``serial``: in this process (debugging, one core).
- ``process``: ``workers`` spawned processes on this machine (``concurrent.futures``); a worker
  that dies breaks the pool, which is rebuilt and the unfinished shards resubmitted.
- ``ray``: one Ray task per shard on a Ray cluster (``pip install navfusion[distributed]``):
  ``ray.init(address=...)`` joins an existing cluster (``ray start --head`` / ``--address``), else a
  local one with ``workers`` CPUs is started. Ray retries a task whose worker process died
  (``max_retries``); exceptions raised by the task itself are not retried (they are bugs or user
  errors and would fail again).
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from navfusion.errors import NavFusionError

BACKENDS = ("serial", "process", "ray")


class ShardError(NavFusionError):
    """A shard failed after its retries."""


@dataclass(frozen=True)
class Shard:
    """One unit of work: ``key`` (a scene id) and the picklable argument ``fn`` receives."""

    key: str
    payload: Any


def run_shards(fn: Callable[[Any], Any], shards: Sequence[Shard], backend: str = "serial", workers: int = 1,
               max_retries: int = 3, on_result: Callable[[str, Any], None] | None = None,
               ray_address: str | None = None) -> dict[str, Any]:
    """Run ``fn(shard.payload)`` for every shard; returns ``{shard.key: result}``.

    Args:
        fn: a module-level (importable) function; it must be idempotent per shard.
        backend: ``serial``, ``process`` or ``ray``.
        workers: processes (``process``), CPUs of a local Ray cluster started here (``ray``).
        max_retries: re-runs of a shard whose worker died.
        on_result: called in the driver as each shard finishes (progress bars).
        ray_address: Ray cluster to join (``"auto"``, ``"ray://host:10001"``); default: the one this
            process already joined, else a new local one.
    """
    if backend not in BACKENDS:
        from navfusion.common import suggest

        raise NavFusionError(f"unknown shard backend {backend!r}; known: {', '.join(BACKENDS)}."
                             f"{suggest(backend, BACKENDS)}")
    keys = [s.key for s in shards]
    if len(set(keys)) != len(keys):
        raise NavFusionError("shard keys must be unique (one task per scene)")
    if backend == "serial" or (backend == "process" and (workers <= 1 or len(shards) <= 1)):
        out = {}
        for s in shards:
            out[s.key] = fn(s.payload)
            if on_result:
                on_result(s.key, out[s.key])
        return out
    if backend == "process":
        return _run_processes(fn, shards, workers, max_retries, on_result)
    return _run_ray(fn, shards, workers, max_retries, on_result, ray_address)


def _run_processes(fn, shards, workers, max_retries, on_result) -> dict[str, Any]:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    todo = {s.key: s for s in shards}
    attempts = dict.fromkeys(todo, 0)
    out: dict[str, Any] = {}
    while todo:
        with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=mp.get_context("spawn")) as ex:
            futs = {}
            for k, s in todo.items():
                attempts[k] += 1
                futs[ex.submit(fn, s.payload)] = k
            pending = set(futs)
            broken = False
            while pending and not broken:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    k = futs[f]
                    try:
                        res = f.result()
                    except BrokenProcessPool:
                        broken = True  # a worker died: every unfinished shard is resubmitted
                        continue
                    out[k] = res
                    del todo[k]
                    if on_result:
                        on_result(k, res)
            if broken:
                ex.shutdown(wait=True, cancel_futures=True)
        failed = [k for k in todo if attempts[k] > max_retries]
        if failed:
            raise ShardError(f"shards {failed} failed: their worker process died {max_retries + 1} times")
    return out


def _ray():
    try:
        import ray
    except ImportError:  # Ray is an optional extra (navfusion[distributed])
        raise NavFusionError("the Ray backend needs Ray: pip install 'navfusion[distributed]' (ray==2.60.0)") from None
    return ray


def ensure_ray(workers: int = 1, address: str | None = None) -> Any:
    """Join (or start) a Ray cluster; returns the ``ray`` module."""
    ray = _ray()
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=max(1, workers), include_dashboard=False, log_to_driver=False)
    return ray


def _call(fn: Callable[[Any], Any], payload: Any) -> Any:
    return fn(payload)


def _run_ray(fn, shards, workers, max_retries, on_result, address) -> dict[str, Any]:
    ray = ensure_ray(workers, address)
    # the workers need the driver's cache root and threads setting; fn sets them from its payload
    task = ray.remote(num_cpus=1, max_retries=max_retries, retry_exceptions=False)(_call)
    fn_ref = ray.put(fn)  # shipped once (callable objects too, e.g. KillOnce)
    refs = {task.remote(fn_ref, s.payload): s.key for s in shards}
    out: dict[str, Any] = {}
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        for r in done:
            k = refs[r]
            try:
                out[k] = ray.get(r)
            except ray.exceptions.RayError as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise ShardError(f"shard {k} failed on Ray: {first}") from e
            if on_result:
                on_result(k, out[k])
    return out


# ----------------------------------------------------------------------------- fault injection (tests, drills)

class KillOnce:
    """Wraps a shard function: the first attempt of shard ``key`` SIGKILLs its own worker process.

    ``when="before"`` dies before doing the work; ``"after"`` dies after the work landed on disk but
    before the result is returned (the driver never hears of it) -- the case where a careless
    retry would duplicate results. A marker file in ``marker_dir`` makes it fire once across
    processes. For failure drills of a real cluster and for tests.
    """

    def __init__(self, fn: Callable[[Any], Any], key_of: Callable[[Any], str], key: str,
                 marker_dir: str | os.PathLike, when: str = "after") -> None:
        if when not in ("before", "after"):
            raise NavFusionError(f"KillOnce when={when!r}: expected 'before' or 'after'")
        self.fn, self.key_of, self.key, self.marker_dir, self.when = fn, key_of, key, str(marker_dir), when

    def __call__(self, payload: Any) -> Any:
        fire = False
        if self.key_of(payload) == self.key:
            tag = hashlib.sha1(self.key.encode()).hexdigest()[:12]  # str hash() differs per process
            marker = Path(self.marker_dir) / f"killed-{tag}"
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                fire = True
            except FileExistsError:
                pass
        if fire and self.when == "before":
            _die()
        res = self.fn(payload)
        if fire:
            _die()
        return res


def _die() -> None:
    time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGKILL)
