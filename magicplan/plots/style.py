"""Shared look: colours per cost class and per step, font sizes readable at README width, axis
helpers. Figures are ~8 × 5 in at 150 dpi; a README shows them ~800 px wide."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes

FIGSIZE_IN = (8.0, 5.2)
DPI = 150
TITLE_PT = 11
LABEL_PT = 11
NOTE_PT = 8

# One colour per breakdown class (same order as magicplan.cost.roofline.BREAKDOWN_CLASSES).
CLASS_COLORS = {
    "weights": "#4C72B0",
    "kv": "#DD8452",
    "activations": "#8C8C8C",
    "compute": "#8172B3",
    "communication": "#55A868",
    "overhead": "#C9C9C9",
}
CLASS_LABELS = {
    "weights": "weight reads",
    "kv": "KV-cache reads",
    "activations": "activation reads/writes",
    "compute": "compute (FLOP-bound)",
    "communication": "TP communication",
    "overhead": "fixed overhead (launch, sync)",
}
STEP_LABELS = {"autoregressive": "AR", "draft": "draft", "verify": "verify"}
AR_COLOR = "#4C72B0"
SD_COLOR = "#C44E52"

RC: dict[str, Any] = {
    "font.size": 10,
    "axes.titlesize": TITLE_PT,
    "axes.labelsize": LABEL_PT,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "savefig.bbox": "tight",
}


@contextmanager
def style() -> Iterator[None]:
    """Apply magicplan's figure style within the block (e.g. around a notebook cell).

    Only the look is scoped: matplotlib's interactive flag keeps the state the block leaves it
    in. The first figure of a notebook selects the inline backend, which turns the flag on;
    rc_context alone would restore it to off on exit, and no later figure would render.
    """
    import matplotlib as mpl

    interactive = mpl.is_interactive()
    try:
        with mpl.rc_context(RC):  # type: ignore[arg-type]
            try:
                yield
            finally:
                interactive = mpl.is_interactive()
    finally:
        mpl.interactive(interactive)


def set_title(ax: Axes, headline: str, subtitle: str) -> None:
    """A two-part title: what the figure shows, then the assumptions it rests on."""
    ax.set_title(f"{headline}\n{subtitle}", fontsize=TITLE_PT, loc="left")


def log2_batch_axis(ax: Axes, batches: tuple[int, ...] | list[int]) -> None:
    """Batch sizes on a log-2 x axis, ticks at the batch sizes themselves."""
    from matplotlib.ticker import NullFormatter, NullLocator

    ax.set_xscale("log", base=2)
    ax.set_xticks(list(batches), [str(b) for b in batches])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("batch size (sequences decoded together)")


def tokens_label(n: float) -> str:
    """1024 → '1k', 32768 → '32k', 100000 → '100k', 500 → '500' (context lengths)."""
    if n >= 1000:
        k = n / 1024 if n % 1024 == 0 else n / 1000
        return f"{k:.0f}k" if k >= 10 or float(k).is_integer() else f"{k:.1f}k"
    return f"{n:.0f}"


def log_ticks(ax: Axes, which: str, lo: float, hi: float) -> None:
    """A log axis (`which` = 'x' or 'y') over [lo, hi] with plain-number ticks (denser when the
    range is short, so at least three are labelled)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    steps = (1, 1.5, 2, 3, 4, 6) if hi / lo < 10 else (1, 2, 3, 5) if hi / lo < 30 else (1, 2, 5)
    ticks = [m * 10.0**e for e in range(-3, 8) for m in steps if lo <= m * 10.0**e <= hi]
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    (ax.set_xlim if which == "x" else ax.set_ylim)(lo, hi)
    axis.set_ticks(ticks)
    axis.set_major_formatter(FuncFormatter(lambda t, _: f"{t:g}"))
    axis.set_minor_formatter(NullFormatter())
