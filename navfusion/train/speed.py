"""Process settings that make CPU training faster without touching the maths.

glibc's ``malloc`` serves every block above ``M_MMAP_THRESHOLD`` (at most 32 MB) with a fresh
``mmap`` and unmaps it on ``free``. A training step of action fusion at batch 256 allocates
tensors of 25-100 MB (the gate's 2,048 view images, the experts' gathered features, their
gradients), so every iteration page-faults hundreds of MB in again: on the 2-core development
machine that was ≈ 45 % of a step's CPU time (kernel time in the page-fault handler, see
BENCHMARKS.md "Training throughput"). With mmap off for ``malloc`` and a high trim threshold,
freed blocks stay in the heap and the next iteration reuses them.

Every process that trains calls :func:`tune_allocator` itself (``navfusion train``, the benches,
``navfusion reproduce``/``quickstart`` and each of their pool processes): ``mallopt`` settings are
per process and a spawned child starts with glibc's defaults. :func:`large_blocks_mmapped` checks
a process's state.
"""

from __future__ import annotations

import ctypes
import os

#: glibc ``mallopt`` parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4

#: keep up to this much freed memory in the heap instead of returning it to the kernel
TRIM_THRESHOLD = 1 << 30  # mallopt takes a C int
#: grow the heap by at least this much at a time (fewer ``brk`` calls while it warms up)
TOP_PAD = 64 << 20

_applied: bool | None = None


def tune_allocator() -> bool:
    """Keep freed memory of this process in glibc's heap (no ``mmap`` for large blocks, no trim).

    Idempotent. Returns True when glibc took the settings; elsewhere (musl, macOS, Windows) it does
    nothing and returns False. ``NAVFUSION_MALLOC=default`` in the environment skips it (to compare,
    or where the heap must shrink between phases).
    """
    global _applied
    if _applied is not None:
        return _applied
    if os.environ.get("NAVFUSION_MALLOC", "").lower() == "default":
        _applied = False
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        _applied = bool(libc.mallopt(_M_MMAP_MAX, 0) and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
                        and libc.mallopt(_M_TOP_PAD, TOP_PAD))
    except (OSError, AttributeError):
        _applied = False
    return _applied


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]


def large_blocks_mmapped(size: int = 64 << 20) -> bool | None:
    """Whether glibc serves a ``size``-byte ``malloc`` with its own ``mmap`` in this process (the
    page-faulting behaviour :func:`tune_allocator` turns off): allocates and frees one block and
    compares ``mallinfo2().hblkhd`` (bytes in mmapped blocks). ``None`` where that cannot be asked
    (not glibc, or glibc < 2.33)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        info = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    info.restype = _Mallinfo2
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    before = info().hblkhd
    block = libc.malloc(size)
    if not block:
        return None
    try:
        return info().hblkhd >= before + size
    finally:
        libc.free(block)
