"""Starting data-parallel runs: the ``torchrun`` command line, and local spawning for notebooks/tests.

``navfusion train ... --nproc N`` re-executes itself under ``torchrun`` (one process per CPU
slice or GPU); ``torchrun`` sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` and each process joins
the group in :func:`navfusion.parallel.world.init_world`. The same line runs multi-node with
``--nnodes``/``--node-rank``/``--rdzv-endpoint`` (see ``docs/scaling.md``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

from navfusion.errors import NavFusionError


def free_port() -> int:
    """A free TCP port on the loopback interface (for a local rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def torchrun_command(nproc: int, argv: Sequence[str], nnodes: int = 1, node_rank: int = 0,
                     endpoint: str | None = None, run_id: str = "navfusion") -> list[str]:
    """The ``torchrun`` command that runs ``navfusion <argv>`` on ``nproc`` processes per node.

    Single node: a standalone rendezvous on a free local port. Several nodes: every node runs the
    same command with its ``node_rank`` and the same ``endpoint`` (``host:port`` of node 0).
    """
    if nproc < 1 or nnodes < 1:
        raise NavFusionError(f"--nproc={nproc}, --nnodes={nnodes}: both must be >= 1")
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}"]
    if nnodes == 1 and endpoint is None:
        cmd += ["--standalone"]
    else:
        if not endpoint:
            raise NavFusionError("several nodes need --rdzv-endpoint HOST:PORT (node 0's address)")
        cmd += [f"--nnodes={nnodes}", f"--node-rank={node_rank}", "--rdzv-backend=c10d",
                f"--rdzv-endpoint={endpoint}", f"--rdzv-id={run_id}"]
    return [*cmd, "-m", "navfusion", *argv]


def strip_launch_args(argv: Sequence[str], names: Sequence[str] = ("--nproc", "--nnodes", "--node-rank",
                                                                   "--rdzv-endpoint")) -> list[str]:
    """``argv`` without the launcher's own options (``--nproc 4`` / ``--nproc=4`` ...)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in names:
            skip = True
            continue
        if any(a.startswith(n + "=") for n in names):
            continue
        out.append(a)
    return out


def launch_torchrun(nproc: int, argv: Sequence[str], **kw: Any) -> int:
    """Run ``navfusion <argv>`` under torchrun with ``nproc`` processes; returns its exit code.

    Called by ``navfusion train --nproc N`` (``argv`` = the command line without ``--nproc``).
    With ``OMP_NUM_THREADS`` unset, each process gets an equal share of the cores.
    """
    env = dict(os.environ)
    if "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    return subprocess.call(torchrun_command(nproc, list(argv), **kw), env=env)


def _spawned(index: int, fn: Callable[..., Any], nproc: int, port: int, device: str, threads: int,
             args: tuple, timeout_s: float) -> None:
    os.environ.update(RANK=str(index), LOCAL_RANK=str(index), WORLD_SIZE=str(nproc), LOCAL_WORLD_SIZE=str(nproc),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    import torch

    from navfusion.parallel.world import close_world, init_world

    if threads:
        torch.set_num_threads(threads)
    world = init_world(device, timeout_s=timeout_s)
    try:
        fn(world, *args)
    finally:
        close_world(world)


def spawn(fn: Callable[..., Any], nproc: int, args: tuple = (), device: str = "cpu", threads: int = 1,
          timeout_s: float = 1800.0) -> None:
    """Run ``fn(world, *args)`` on ``nproc`` local processes (spawned) joined in one group.

    For notebooks and tests; ``fn`` must be importable (a module-level function). Raises if any
    process fails; a collective that waits longer than ``timeout_s`` (ranks out of step) fails
    instead of hanging.
    """
    import torch.multiprocessing as tmp

    tmp.spawn(_spawned, args=(fn, nproc, free_port(), device, threads, tuple(args), float(timeout_s)),
              nprocs=nproc, join=True)


def add_launch_args(p: Any) -> None:
    """``--device``, ``--amp``, ``--nproc``, ``--nnodes``, ``--node-rank``, ``--rdzv-endpoint`` on a training parser."""
    p.add_argument("--device", default=None, help="cpu (default), cuda (one GPU per process) or auto")
    p.add_argument("--amp", default=None, choices=["off", "bf16"], help="bf16 autocast (GPU; default off)")
    p.add_argument("--nproc", type=int, default=1,
                   help="data-parallel processes on this machine (re-runs itself under torchrun; DDP)")
    p.add_argument("--nnodes", type=int, default=1, help="machines in the run (each runs the same command)")
    p.add_argument("--node-rank", type=int, default=0, help="this machine's index (0 = the rendezvous host)")
    p.add_argument("--rdzv-endpoint", default=None, help="HOST:PORT of node 0 (several machines)")


def maybe_launch(args: Any, argv: Sequence[str] | None = None) -> int | None:
    """Re-run the command under torchrun when ``--nproc``/``--nnodes`` ask for more than one process
    and this process is not already a torchrun rank; returns the exit code, or ``None`` to go on."""
    nproc, nnodes = int(args.nproc or 1), int(args.nnodes or 1)
    if (nproc <= 1 and nnodes <= 1) or "WORLD_SIZE" in os.environ:
        return None
    argv = list(sys.argv[1:] if argv is None else argv)
    return launch_torchrun(nproc, strip_launch_args(argv), nnodes=nnodes, node_rank=int(args.node_rank or 0),
                           endpoint=args.rdzv_endpoint)
