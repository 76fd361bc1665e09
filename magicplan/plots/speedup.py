"""`speedup`: SD speedup vs batch size, one line per context length, γ_opt written at each point
(MagicDec's headline figure: past the critical length the speedup *rises* with batch)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from magicplan.estimate import estimate_arrays
from magicplan.plots.scenario import Scenario
from magicplan.plots.style import NOTE_PT, log2_batch_axis, set_title, tokens_label

if TYPE_CHECKING:
    from matplotlib.axes import Axes

GAMMAS = np.arange(1, 13)  # γ searched per point when none is fixed
Float = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BestGamma:
    """Every `estimate_arrays` figure at the best γ, on a batch × context grid."""

    at_best: dict[str, npt.NDArray[np.float64]]
    gamma: npt.NDArray[np.int64]

    @property
    def speedup(self) -> Float:
        """Best speedup over AR."""
        return self.at_best["speedup"]

    @property
    def fits(self) -> npt.NDArray[np.bool_]:
        """Whether the best plan fits in GPU memory."""
        return self.at_best["fits_in_memory"].astype(bool)


def best_gamma(
    sc: Scenario, batch: npt.ArrayLike, context: npt.ArrayLike, gammas: npt.ArrayLike = GAMMAS
) -> BestGamma:
    """Figures at the γ (among `gammas`) that maximises the speedup, per (context, batch) pair.

    `batch` and `context` broadcast (pass `context[:, None]` for a grid); γ is the last axis.
    """
    b = np.asarray(batch, dtype=np.float64)[..., None]
    c = np.asarray(context, dtype=np.float64)[..., None]
    g = np.asarray(gammas, dtype=np.float64)
    r = estimate_arrays(sc.setup, b, c, g, sc.kv_budget, acceptance=sc.alpha(c))
    i = np.argmax(r["speedup"], axis=-1)[..., None]
    at_best = {k: np.take_along_axis(v, i, axis=-1)[..., 0] for k, v in r.items()}
    gamma = np.take_along_axis(np.broadcast_to(g, r["speedup"].shape), i, -1)[..., 0]
    return BestGamma(at_best, gamma.astype(np.int64))


def plot_speedup(ax: Axes, sc: Scenario, gammas: npt.ArrayLike = GAMMAS) -> Axes:
    """Best speedup (over `gammas`) vs batch, one line per context; γ_opt above each point.

    Points whose KV cache does not fit in GPU memory are left out (the line stops there).
    """
    import matplotlib as mpl

    batches = np.asarray(sc.batches, dtype=np.float64)
    contexts = np.asarray(sc.contexts, dtype=np.float64)
    best = best_gamma(sc, batches[None, :], contexts[:, None], gammas)
    colors = mpl.colormaps["viridis"](np.linspace(0.0, 0.85, len(contexts)))
    start = int(np.bincount(best.gamma[:, 0]).argmax())  # γ most lines start with
    for row, (ctx, color) in enumerate(zip(contexts, colors, strict=True)):
        ok = best.fits[row]
        if not ok.any():
            continue
        x, y, g = batches[ok], best.speedup[row, ok], best.gamma[row, ok]
        ax.plot(x, y, "o-", color=color, lw=2, ms=5, label=f"context {tokens_label(ctx)}")
        _annotate_gamma_changes(ax, x, y, g, start, color)
    ax.axhline(1.0, color="black", lw=1.2, ls="--", label="1.0 = break-even with plain AR")
    ax.axhspan(0.0, 1.0, color="#C44E52", alpha=0.06, lw=0)
    log2_batch_axis(ax, list(sc.batches))
    lo = min(0.9, float(np.nanmin(np.where(best.fits, best.speedup, np.inf))) - 0.05)
    ax.set_ylim(bottom=lo)
    ax.set_ylabel("speedup over AR (×, per-token latency)")
    fixed = np.unique(np.asarray(gammas)).size == 1
    _legend_with_notes(ax, best, start, fixed)
    head = "Speculative-decoding speedup vs batch size"
    set_title(ax, head + (f", γ = {start}" if fixed else ", best γ per point"), sc.subtitle())
    return ax


def _annotate_gamma_changes(
    ax: Axes, x: Float, y: Float, g: npt.NDArray[np.int64], start: int, color: object
) -> None:
    """Write γ only where it changes along a line: readable where lines bunch up."""
    changed = np.flatnonzero(g != np.concatenate([[start], g[:-1]]))
    for i in changed:
        ax.annotate(
            f"γ={g[i]}",
            (x[i], y[i]),
            xytext=(-3, 6),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=NOTE_PT,
            color=color,
            fontweight="bold",
        )


def _legend_with_notes(ax: Axes, best: BestGamma, start: int, fixed: bool) -> None:
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], ls="none"))
    if fixed:
        labels.append(f"γ = {start} drafted tokens per round (fixed)")
    else:
        labels.append(f"γ=k: best drafted tokens per round\nfrom that batch on (γ={start} before)")
    if not best.fits.all():
        handles.append(Line2D([], [], ls="none"))
        labels.append("lines stop where the KV cache\nno longer fits in GPU memory")
    ax.legend(handles, labels, loc="upper left", frameon=False)
