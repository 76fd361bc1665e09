"""Figures to files: a drawing function on a fresh Axes → PNG/SVG/PDF bytes → atomic write.

Uses `matplotlib.figure.Figure` directly (never pyplot), so no GUI backend is touched and nothing
global changes; PNG goes through Agg.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from magicplan.errors import MagicplanError
from magicplan.io import atomic_write_bytes
from magicplan.plots.style import DPI, FIGSIZE_IN, style

if TYPE_CHECKING:
    from matplotlib.axes import Axes

FORMATS = ("png", "svg", "pdf")
Draw = Callable[["Axes"], "Axes"]


def output_format(output: str | Path) -> str:
    """'png' | 'svg' | 'pdf' from the file suffix, else a MagicplanError naming output."""
    suffix = Path(output).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise MagicplanError(f"output must end in .png, .svg or .pdf; got '{Path(output).name}'")
    return suffix


def check_output(output: str | Path) -> str:
    """The format of `output`; a bad suffix or an unwritable folder is a MagicplanError."""
    fmt = output_format(output)
    parent = Path(output).parent
    if not parent.is_dir():
        raise MagicplanError(f"output: folder '{parent}' does not exist")
    if not os.access(parent, os.W_OK):
        raise MagicplanError(f"output: folder '{parent}' is not writable")
    if Path(output).is_dir():
        raise MagicplanError(f"output: '{output}' is a directory, expected a file name")
    return fmt


def figure_bytes(
    draw: Draw, fmt: str = "png", figsize_in: tuple[float, float] = FIGSIZE_IN
) -> bytes:
    """Draw on one Axes of a new figure and return the encoded file."""
    from matplotlib.figure import Figure

    if fmt not in FORMATS:
        raise MagicplanError(f"format must be one of {', '.join(FORMATS)}; got '{fmt}'")
    with style():
        fig = Figure(figsize=figsize_in, dpi=DPI, layout="constrained")
        draw(fig.add_subplot())
        buf = io.BytesIO()
        # Fixed metadata keeps regenerated figures byte-stable where the format allows.
        meta = {"Software": "magicplan"} if fmt == "png" else {"Creator": "magicplan"}
        if fmt == "svg":
            meta = {"Creator": "magicplan", "Date": None}  # type: ignore[dict-item]
        elif fmt == "pdf":
            meta = {"Creator": "magicplan", "CreationDate": None}  # type: ignore[dict-item]
        fig.savefig(buf, format=fmt, dpi=DPI, metadata=meta)
    return buf.getvalue()


def save_figure(
    draw: Draw, output: str | Path, figsize_in: tuple[float, float] = FIGSIZE_IN
) -> Path:
    """Render `draw` into `output` (format from its suffix), atomically."""
    fmt = output_format(output)
    return atomic_write_bytes(output, figure_bytes(draw, fmt, figsize_in))
