"""A training run's scalar log: ``metrics.csv`` + TensorBoard (``tb/``), resumable at an iteration."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Protocol

from navfusion.io import atomic_write_text


class RunLog(Protocol):
    """Where a training loop logs scalars."""

    def log(self, iteration: int, values: dict[str, float]) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class MetricsLog:
    """CSV (``metrics.csv``) + TensorBoard (``tb/``) scalars, resumable at an iteration.

    Resuming at ``resume_at`` keeps the CSV rows up to it and purges later TensorBoard steps, so a
    killed-and-resumed run logs what an uninterrupted one would.
    """

    def __init__(self, out: Path, resume_at: int | None) -> None:
        self.path = out / "metrics.csv"
        self.rows: list[dict[str, Any]] = []
        if resume_at is not None and self.path.is_file():
            with open(self.path, newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["iteration"]) <= resume_at]
        else:
            self.path.unlink(missing_ok=True)
        from torch.utils.tensorboard import SummaryWriter  # slow to import: only when a run logs

        self.tb = SummaryWriter(str(out / "tb"), purge_step=resume_at + 1 if resume_at is not None else None)

    def log(self, iteration: int, values: dict[str, float]) -> None:
        self.rows.append({"iteration": iteration, **values})
        for k, v in values.items():
            self.tb.add_scalar(k, v, iteration)

    def flush(self) -> None:
        keys: list[str] = []
        for r in self.rows:
            keys += [k for k in r if k not in keys]
        lines = [",".join(keys)]
        lines += [",".join("" if r.get(k) in (None, "") else str(r.get(k)) for k in keys) for r in self.rows]
        atomic_write_text(self.path, "\n".join(lines) + "\n")
        self.tb.flush()

    def close(self) -> None:
        self.flush()
        self.tb.close()


class NullLog:
    """What ranks other than 0 log to: nothing."""

    def log(self, iteration: int, values: dict[str, float]) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass
