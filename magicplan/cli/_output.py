"""Shared output helpers: JSON to stdout, rich tables, atomic file output."""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

import typer


def echo_json(data: Any) -> None:
    """Print `data` as indented JSON on stdout."""
    typer.echo(json.dumps(data, indent=2, allow_nan=False))


def emit_json(data: Any, output: Path | None = None) -> None:
    """JSON on stdout, or written to `output` atomically (a temporary file and a rename)."""
    if output is None:
        echo_json(data)
        return
    from magicplan.io import atomic_write_text

    atomic_write_text(output, json.dumps(data, indent=2, allow_nan=False))


def console() -> Any:
    """A rich console on stdout (imported lazily: rich is not needed for --json)."""
    from rich.console import Console

    return Console()


def table(
    title: str,
    columns: list[str],
    rows: list[list[Any]],
    whole: Collection[str] = (),
    answer: Collection[str] = (),
) -> Any:
    """A rich table with `columns` and string-formatted `rows`, as wide as the console allows.

    Nothing is cut off with an ellipsis: a narrow console wraps (or folds) the other columns.
    A column named in `whole` (ids a user must copy) is never narrower than its longest word,
    so an id prints in one piece; when the console cannot give every other column at least
    FOLD_MIN_CELLS (or its longest word, if shorter), the rightmost other columns are left out
    (those named in `answer`, the command's answer, last: the first named is kept longest) and
    the caption names them.
    """
    cells = [[fmt(v) for v in r] for r in rows]
    keep = list(range(len(columns)))
    width = console().width
    while True:
        widths = _widths([columns[i] for i in keep], [[r[i] for i in keep] for r in cells],
                         whole, width)  # fmt: skip
        others = [i for i in keep if columns[i] not in whole]
        order = list(answer)  # the most important first: dropped last
        dropped = [i for i in others if columns[i] not in answer] or sorted(
            others, key=lambda i: order.index(columns[i])
        )
        if widths is not None or not dropped:
            break
        keep.remove(dropped[-1])
    t = _table(title, columns, cells, whole, keep, widths)
    if len(keep) < len(columns):
        hidden = ", ".join(c for i, c in enumerate(columns) if i not in keep)
        t.caption = f"left out at this width: {hidden} (--json has every field)"
    return t


# A wrapped column narrower than this folds its words mid-word too often to read.
FOLD_MIN_CELLS = 12
# rich's default box: a border before each column and one after the last, one cell of padding
# on each side of every column.
_BORDER_CELLS, _PADDING_CELLS = 1, 2


def _widths(
    columns: list[str], cells: list[list[str]], whole: Collection[str], console_cells: int
) -> list[int] | None:
    """Each column's width in cells (without padding) within `console_cells`: as wide as its
    longest line when all fit; else `whole` columns at their longest word, the others from
    their least (longest word up to FOLD_MIN_CELLS) up toward their longest line in proportion
    to what they lack; None when even the least widths do not fit."""
    available = console_cells - len(columns) * (_BORDER_CELLS + _PADDING_CELLS) - _BORDER_CELLS
    texts = [[name, *(r[j] for r in cells)] for j, name in enumerate(columns)]
    natural = [max(len(ln) for t in col for ln in t.splitlines() or [""]) for col in texts]
    words = [max((len(w) for t in col for w in t.split()), default=1) for col in texts]
    least = [
        w if name in whole else min(w, FOLD_MIN_CELLS, n)
        for name, w, n in zip(columns, words, natural, strict=True)
    ]
    if sum(natural) <= available:
        return natural
    if sum(least) > available:
        return None
    spare, lack = available - sum(least), [n - m for n, m in zip(natural, least, strict=True)]
    grown = [m + spare * d // max(sum(lack), 1) for m, d in zip(least, lack, strict=True)]
    grown[lack.index(max(lack))] += available - sum(grown)  # what rounding left over
    return grown


def _table(
    title: str,
    columns: list[str],
    cells: list[list[str]],
    whole: Collection[str],
    keep: list[int],
    widths: list[int] | None,
) -> Any:
    from rich.table import Table

    t = Table(title=title)
    for j, i in enumerate(keep):
        column = [r[i] for r in cells]
        t.add_column(
            columns[i],
            overflow="fold",
            width=None if widths is None else widths[j],
            no_wrap=columns[i] in whole and all(len(c.split()) == 1 for c in column),  # an id
        )
    for r in cells:
        t.add_row(*(r[i] for i in keep))
    return t


def fmt(value: Any) -> str:
    """Numbers with sensible precision; everything else as str."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)
