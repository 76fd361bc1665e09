"""`gamma-map`: heat map over batch × context of the best SD speedup, the chosen γ written in each
cell, and the break-even contour (speedup = 1) drawn: where SD pays, and with how many drafts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from magicplan.plots.planning import PlanGrid, Search, plan_grid, strategy_keys
from magicplan.plots.scenario import Scenario
from magicplan.plots.style import NOTE_PT, set_title, tokens_label

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes

OOM_COLOR = "#DDDDDD"


def plot_gamma_map(ax: Axes, sc: Scenario, search: Search | None = None) -> Axes:
    """The planner's best speculative plan on the scenario's batch × context grid, as a heat map.

    `search` limits the drafts, KV methods and budgets (default: everything the planner knows).
    """
    search = search or Search()
    grid = plan_grid(sc, search)
    return draw_gamma_map(ax, grid, f"{sc.subtitle(draft=False)}\n{search.text(sc)}")


def draw_gamma_map(ax: Axes, grid: PlanGrid, subtitle: str) -> Axes:
    """Draw `grid`: colour = best speedup (diverging at 1.0), text = γ (and which plan),
    thick line = break-even."""
    from matplotlib.colors import TwoSlopeNorm

    sp = np.ma.masked_invalid(np.where(grid.fits, grid.speedup, np.nan))
    lo, hi = float(np.nanmin(sp.filled(np.nan))), float(np.nanmax(sp.filled(np.nan)))
    # Symmetric in ratio: a 5 % loss is as pale as a 5 % gain, not the darkest blue.
    top = max(hi, 1.0 / lo, 1.05)
    norm = TwoSlopeNorm(vcenter=1.0, vmin=1.0 / top, vmax=top)
    ax.set_facecolor(OOM_COLOR)
    mesh = ax.pcolormesh(sp, cmap="RdBu_r", norm=norm, edgecolors="white", linewidth=0.5)
    cbar = ax.figure.colorbar(mesh, ax=ax, pad=0.02)
    cbar.set_label("best speedup over AR (×)")
    cbar.ax.axhline(1.0, color="black", lw=1.5)
    keys = strategy_keys(np.where(grid.fits & (grid.speedup >= 1.0), grid.strategy, ""))
    _cell_text(ax, grid, norm, keys if len(keys) > 1 else {})
    _break_even_edges(ax, grid)
    ax.set_xticks(np.arange(len(grid.batches)) + 0.5, [str(b) for b in grid.batches])
    ax.set_yticks(np.arange(len(grid.contexts)) + 0.5, [tokens_label(c) for c in grid.contexts])
    ax.set_xlabel("batch size (sequences decoded together)")
    ax.set_ylabel("context length (tokens in the KV cache)")
    ax.grid(False)
    _legend(ax, grid)
    set_title(ax, "Best speculative-decoding speedup over batch × context", subtitle)
    return ax


def _legend(ax: Axes, grid: PlanGrid) -> None:
    """Break-even line, what the cell text means, the strategy key, the out-of-memory colour."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    keys = strategy_keys(np.where(grid.fits & (grid.speedup >= 1.0), grid.strategy, ""))

    def blank(label: str) -> Patch:
        return Patch(facecolor="none", edgecolor="none", label=label)

    handles: list[Artist] = [
        Line2D([], [], color="black", lw=2.5, label="break-even (speedup = 1)"),
        blank("cell: best γ, speedup; AR = SD does not pay there"),
    ]
    if not grid.fits.all():
        handles.append(Patch(facecolor=OOM_COLOR, label="no SD plan fits in GPU memory"))
    if len(keys) == 1:
        handles.append(blank(f"plan where SD pays: {next(iter(keys))}"))
    handles += [blank(f"{k} = SD plan: {label}") for label, k in keys.items()]
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        ncols=2,
        frameon=False,
        fontsize=8,
    )


def _break_even_edges(ax: Axes, grid: PlanGrid) -> None:
    """The break-even contour as cell edges between cells where SD pays and where it does not."""
    from matplotlib.collections import LineCollection

    pays = grid.fits & (grid.speedup >= 1.0)
    both = grid.fits[:, 1:] & grid.fits[:, :-1]
    ii, jj = np.nonzero((pays[:, 1:] != pays[:, :-1]) & both)  # vertical edges at x = j + 1
    segs = [[(j + 1, i), (j + 1, i + 1)] for i, j in zip(ii, jj, strict=True)]
    both = grid.fits[1:, :] & grid.fits[:-1, :]
    ii, jj = np.nonzero((pays[1:, :] != pays[:-1, :]) & both)  # horizontal edges at y = i + 1
    segs += [[(j, i + 1), (j + 1, i + 1)] for i, j in zip(ii, jj, strict=True)]
    if segs:
        ax.add_collection(LineCollection(segs, colors="black", linewidths=2.5, capstyle="round"))


def _cell_text(ax: Axes, grid: PlanGrid, norm: object, keys: dict[str, str]) -> None:
    """γ and the strategy key (or 'AR' where no plan beats AR) in each cell that fits, in black
    or white for contrast."""
    for i in range(len(grid.contexts)):
        for j in range(len(grid.batches)):
            if not grid.fits[i, j]:
                continue
            s = float(grid.speedup[i, j])
            key = f" {keys[grid.strategy[i, j]]}" if keys else ""
            text = f"γ={grid.gamma[i, j]}{key}\n{s:.2f}×" if s >= 1.0 else f"AR\n{s:.2f}×"
            shade = abs(float(norm(s)) - 0.5)  # type: ignore[operator]
            ax.text(
                j + 0.5,
                i + 0.5,
                text,
                ha="center",
                va="center",
                fontsize=NOTE_PT - 0.5,
                color="white" if shade > 0.3 else "black",
            )
