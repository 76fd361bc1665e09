"""Shared output helpers: JSON to stdout, rich tables, atomic file output."""

from __future__ import annotations

import json
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


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Any:
    """A rich table with `columns` and string-formatted `rows`."""
    from rich.table import Table

    t = Table(title=title)
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*[fmt(v) for v in r])
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
