"""`pareto`: throughput vs per-token latency across batch sizes for AR and the best SD plan
(MagicDec's "breaking the latency-throughput trade-off": at long context, SD moves large-batch
points up *and* left)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from magicplan.plots.planning import Frontier, Search, frontier, strategy_keys
from magicplan.plots.scenario import Scenario
from magicplan.plots.style import (
    AR_COLOR,
    NOTE_PT,
    SD_COLOR,
    log_ticks,
    set_title,
    tokens_label,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def plot_pareto(ax: Axes, sc: Scenario, context: int, search: Search | None = None) -> Axes:
    """AR vs the planner's best SD plan at `context`, one point per batch size of the scenario.

    `search` limits the drafts, KV methods and budgets (default: everything the planner knows).
    """
    search = search or Search()
    fr = frontier(sc, context, search)
    return draw_pareto(ax, fr, f"{sc.subtitle(draft=False)}\n{search.text(sc)}")


def draw_pareto(ax: Axes, fr: Frontier, subtitle: str) -> Axes:
    """AR and SD curves (one point per batch size, labelled), arrows from AR to SD per batch."""
    ar, sd = fr.ar_fits, fr.sd_fits
    ax.plot(
        fr.ar_latency_ms[ar],
        fr.ar_throughput[ar],
        "o-",
        color=AR_COLOR,
        lw=2,
        ms=6,
        label="autoregressive (AR)",
    )
    ax.plot(
        fr.sd_latency_ms[sd],
        fr.sd_throughput[sd],
        "D-",
        color=SD_COLOR,
        lw=2,
        ms=6,
        label="best speculative plan (SD) per batch",
    )
    _annotate(ax, fr)
    lat = np.concatenate([fr.ar_latency_ms[ar], fr.sd_latency_ms[sd]])
    thr = np.concatenate([fr.ar_throughput[ar], fr.sd_throughput[sd]])
    log_ticks(ax, "x", 0.85 * float(lat.min()), 1.15 * float(lat.max()))
    log_ticks(ax, "y", 0.75 * float(thr.min()), 1.35 * float(thr.max()))
    ax.set_xlabel("per-token latency (ms per generated token, per sequence)  ← better")
    ax.set_ylabel("throughput (tokens/s, whole batch)  better →")
    _legend(ax, fr)
    head = f"Throughput vs per-token latency across batch sizes, context {tokens_label(fr.context)}"
    set_title(ax, head, subtitle)
    return ax


def _legend(ax: Axes, fr: Frontier) -> None:
    """The two curves, what arrows and labels mean, and the key of the SD plans."""
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    keys = strategy_keys(fr.sd_strategy)
    notes = [f"{k} = SD plan: {label}" for label, k in keys.items()] if len(keys) > 1 else []
    if len(keys) == 1:
        notes.append(f"SD plan: {next(iter(keys))}")
    if not (fr.ar_fits.all() and fr.sd_fits.all()):
        notes.append("batches that do not fit in GPU memory are left out")
    handles += [Line2D([], [], ls="none")] * len(notes)
    title = "arrows: same batch size, AR → SD; γ = drafted tokens per round"
    ax.legend(
        handles,
        labels + notes,
        loc="lower right",
        frameon=False,
        title=title,
        title_fontsize=8,
        fontsize=8,
    )


def _annotate(ax: Axes, fr: Frontier) -> None:
    """Batch size under each AR point, γ (and plan key) over each SD point, an arrow between."""
    b = np.asarray(fr.batches)
    keys = strategy_keys(fr.sd_strategy)
    for i in np.flatnonzero(fr.ar_fits & fr.sd_fits):
        ax.annotate(
            "",
            (fr.sd_latency_ms[i], fr.sd_throughput[i]),
            (fr.ar_latency_ms[i], fr.ar_throughput[i]),
            arrowprops={"arrowstyle": "->", "color": "#888888", "lw": 1},
        )
    for i in np.flatnonzero(fr.ar_fits):
        ax.annotate(
            f"B={b[i]}",
            (fr.ar_latency_ms[i], fr.ar_throughput[i]),
            xytext=(5, -4),
            textcoords="offset points",
            ha="left",
            va="top",
            fontsize=NOTE_PT,
            color=AR_COLOR,
        )
    for i in np.flatnonzero(fr.sd_fits):
        key = f" {keys[fr.sd_strategy[i]]}" if len(keys) > 1 else ""
        ax.annotate(
            f"γ={fr.sd_gamma[i]}{key}",
            (fr.sd_latency_ms[i], fr.sd_throughput[i]),
            xytext=(-4, 6),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=NOTE_PT,
            color=SD_COLOR,
        )
