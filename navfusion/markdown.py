"""Markdown tables, the one text format that reports, docs and the CLIs' benchmark summaries share."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]], right_from: int | None = None) -> str:
    """A GitHub-flavoured Markdown table (no trailing newline); cells go through ``str``, an empty
    cell is written ``| |``.

    ``right_from``: index of the first right-aligned column (numbers), ``None`` for none.
    """
    align = ["---" if right_from is None or i < right_from else "---:" for i in range(len(header))]
    lines = [_line(header), "|" + "|".join(align) + "|"]
    lines += [_line(r) for r in rows]
    return "\n".join(lines)


def _line(cells: Sequence[Any]) -> str:
    return "|" + "|".join(f" {c} " if str(c) else " " for c in cells) + "|"
