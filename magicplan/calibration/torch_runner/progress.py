"""A rich progress bar on stderr for long measurement runs (stdout stays clean for --json)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_bar(total: int, label: str, enabled: bool = True) -> Iterator[Callable[..., None]]:
    """Yield `advance(n=1, label=None)`; draws nothing when disabled or stderr is no terminal."""
    if not enabled:
        yield lambda n=1, label=None: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    con = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=con,
        transient=True,
        disable=not con.is_terminal,
    ) as bar:
        task = bar.add_task(label, total=total)

        def advance(n: int = 1, label: str | None = None) -> None:
            bar.update(task, advance=n, description=label or bar.tasks[0].description)

        yield advance
