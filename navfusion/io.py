"""Atomic file writes, content hashes and JSON manifests used by every cache and report."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from navfusion.errors import NavFusionError

#: A temporary file of another writer younger than this is left alone (it may still be writing).
STALE_TEMP_SECONDS = 600.0


def _create_temp(path: Path) -> Path:
    """A new empty ``.<name>.<random>.tmp`` beside ``path``, created with mode ``0666`` so the kernel
    applies the process umask itself (reading the umask means setting it, which races with threads)."""
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return tmp
        except FileExistsError:
            continue


def remove_stale_temps(path: str | os.PathLike, min_age_s: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Delete the temporary files that killed atomic writes of ``path`` left behind (older than
    ``min_age_s``); returns what was removed."""
    path = Path(path)
    now = time.time()
    removed = []
    for f in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            if now - f.stat().st_mtime >= min_age_s:
                f.unlink()
                removed.append(f)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it over ``path``.

    A crash or exception leaves ``path`` untouched and removes the temporary file, so readers
    never see a half-written file; the temporary files of writes killed outright (``kill -9``) are
    removed the next time ``path`` is written. The file gets the permissions of a plain
    ``open()`` (``0666`` minus the umask), not ``mkstemp``'s private ``0600``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    tmp_path = _create_temp(path)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def folder_lock(path: str | os.PathLike, wait: bool = True, what: str = "folder") -> Iterator[None]:
    """Hold an advisory lock on ``path/.lock`` (created) for the block.

    ``wait=False``: a lock another process holds is a one-line error instead of a wait (for jobs
    that must not interleave their writes, e.g. two pretraining runs of one recipe).
    Without ``fcntl`` (Windows) nothing is locked; atomic writes still keep files whole.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise NavFusionError(f"{what} {path} is in use by another process (lock {path / '.lock'}); "
                                 "wait for it to finish or write elsewhere") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def atomic_save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Save arrays to an uncompressed ``.npz`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_json(path: str | os.PathLike, what: str = "file") -> Any:
    """Read JSON, raising a one-line error that names the file when it is missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise NavFusionError(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise NavFusionError(f"{what} {path} is not valid JSON: {e}") from None


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def hash_arrays(*arrays: np.ndarray, extra: str = "") -> str:
    """A stable sha256 over arrays' dtypes, shapes and bytes (plus an optional string)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    h.update(extra.encode())
    return h.hexdigest()


def hash_jsonable(obj: Any) -> str:
    """sha256 of the canonical JSON form of ``obj`` (for config/settings fingerprints)."""
    return sha256_bytes(json.dumps(obj, sort_keys=True, default=_json_default).encode())
