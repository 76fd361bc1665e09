"""Shared output helpers: JSON to stdout, rich tables, atomic file output."""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

import typer

UNBOUNDED = 10**6  # a width no table reaches: measures a table's true minimum width


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
    title: str, columns: list[str], rows: list[list[Any]], whole: Collection[str] = ()
) -> Any:
    """A rich table with `columns` and string-formatted `rows`, as wide as the console allows.

    Nothing is cut off with an ellipsis: a narrow console wraps (or folds) the other columns.
    A column named in `whole` (ids a user must copy) is never narrower than its longest word,
    so an id prints in one piece; when even that does not fit, the rightmost other columns are
    left out and the caption names them.
    """
    from rich.measure import Measurement

    cells = [[fmt(v) for v in r] for r in rows]
    keep = list(range(len(columns)))
    con = console()
    t = _table(title, columns, cells, whole, keep)
    while Measurement.get(con, con.options.update_width(UNBOUNDED), t).minimum > con.width:
        dropped = [i for i in keep if columns[i] not in whole]
        if not dropped:
            break
        keep.remove(dropped[-1])
        t = _table(title, columns, cells, whole, keep)
    if len(keep) < len(columns):
        hidden = ", ".join(c for i, c in enumerate(columns) if i not in keep)
        t.caption = f"left out at this width: {hidden} (--json has every field)"
    return t


def _table(
    title: str, columns: list[str], cells: list[list[str]], whole: Collection[str], keep: list[int]
) -> Any:
    from rich.table import Table

    t = Table(title=title)
    for i in keep:
        column = [r[i] for r in cells]
        words = [w for c in column for w in c.split()] if columns[i] in whole else []
        t.add_column(
            columns[i],
            overflow="fold",
            min_width=max(map(len, words), default=None),
            no_wrap=bool(words) and all(len(c.split()) == 1 for c in column),  # a bare id
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
