"""`breakdown`: where one step's time goes — weights, KV, activations, compute, communication,
fixed overhead — for AR, draft and verify side by side, vs batch size. It shows why SD wins where
it wins: at large batch × context the AR and verify steps are KV reads, the draft's are not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from magicplan.cost.roofline import BREAKDOWN_CLASSES
from magicplan.estimate import estimate_arrays
from magicplan.plots.scenario import Scenario
from magicplan.plots.speedup import GAMMAS, best_gamma
from magicplan.plots.style import CLASS_COLORS, CLASS_LABELS, NOTE_PT, set_title, tokens_label

if TYPE_CHECKING:
    from matplotlib.axes import Axes

STEPS = ("autoregressive", "draft", "verify")
STEP_TAGS = {"autoregressive": "AR", "draft": "D", "verify": "V"}
BAR_WIDTH = 0.27


Parts = dict[str, dict[str, npt.NDArray[np.float64]]]


@dataclass(frozen=True)
class StepBreakdown:
    """{step: {class: ms per batch}} at one context, the γ used per batch, and memory fit."""

    gamma: npt.NDArray[np.int64]
    parts: Parts
    fits: npt.NDArray[np.bool_]

    @property
    def ar_ms(self) -> npt.NDArray[np.float64]:
        """The AR step's total time per batch."""
        return np.asarray(sum(self.parts["autoregressive"].values()), dtype=np.float64)

    def top(self, i: int) -> float:
        """Height of the tallest bar of group `i`, in AR-step units."""
        return max(float(sum(v[i] for v in self.parts[s].values())) for s in STEPS) / float(
            self.ar_ms[i]
        )


def step_breakdown(sc: Scenario, context: int, gamma: int | None = None) -> StepBreakdown:
    """Every step's time by class at `context`, with γ given or else the best per batch."""
    batches = np.asarray(sc.batches, dtype=np.float64)
    if gamma is None:
        g = best_gamma(sc, batches, float(context), GAMMAS).gamma
    else:
        g = np.full(batches.shape, gamma, dtype=np.int64)
    r = estimate_arrays(
        sc.setup, batches, float(context), g, sc.kv_budget, acceptance=sc.alpha(context)
    )
    parts = {
        step: {cls: r[f"breakdown.{step}.{cls}_ms"] for cls in BREAKDOWN_CLASSES} for step in STEPS
    }
    return StepBreakdown(g, parts, r["fits_in_memory"].astype(bool))


def plot_breakdown(ax: Axes, sc: Scenario, context: int, gamma: int | None = None) -> Axes:
    """Stacked bars of one AR, one draft and one verify step at each batch size.

    Heights are relative to the AR step at the same batch (so small and large batches share one
    axis); the AR step's absolute time is written above each group, in red where the batch does
    not fit in GPU memory. γ sets the verify width (γ+1 tokens): the given one, else the best
    per batch (written under the batch size).
    """
    bd = step_breakdown(sc, context, gamma)
    x = np.arange(len(sc.batches), dtype=np.float64)
    for j, step in enumerate(STEPS):
        _stacked_bar(ax, x + (j - 1) * BAR_WIDTH, bd.parts[step], bd.ar_ms, step, j == 0)
    for i, (xi, ms) in enumerate(zip(x, bd.ar_ms, strict=True)):
        note = "" if bd.fits[i] else "\nexceeds memory"
        color = "#333333" if bd.fits[i] else "#C44E52"
        ax.text(
            xi,
            bd.top(i) + 0.07,
            f"AR step\n{ms:.3g} ms{note}",
            ha="center",
            va="bottom",
            fontsize=NOTE_PT,
            color=color,
        )
    ax.set_xticks(x, [f"{b}\nγ={gi}" for b, gi in zip(sc.batches, bd.gamma, strict=True)])
    ax.set_xlabel("batch size (γ = drafted tokens per round; verify scores γ+1)")
    ax.set_ylabel("step time / AR step time at that batch")
    ax.set_ylim(0, ax.get_ylim()[1] * (1.12 if bd.fits.all() else 1.2))
    ax.grid(axis="x", visible=False)
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.2),
        ncols=3,
        frameon=False,
        title="bars: AR = one autoregressive step, D = one draft step, V = one verify step",
        title_fontsize=9,
    )
    head = f"One decode step's time by class at context {tokens_label(context)}"
    set_title(ax, head, sc.subtitle(contexts=(context,)))
    return ax


def _stacked_bar(
    ax: Axes,
    xs: npt.NDArray[np.float64],
    parts: dict[str, npt.NDArray[np.float64]],
    ar_ms: npt.NDArray[np.float64],
    step: str,
    label: bool,
) -> None:
    """One step's bars, stacked by class in AR-step units, tagged AR / D / V on top."""
    bottom = np.zeros_like(xs)
    for cls in BREAKDOWN_CLASSES:
        h = parts[cls] / ar_ms
        ax.bar(
            xs,
            h,
            BAR_WIDTH * 0.92,
            bottom=bottom,
            color=CLASS_COLORS[cls],
            label=CLASS_LABELS[cls] if label else None,
            edgecolor="white",
            lw=0.4,
        )
        bottom = bottom + h
    for xi, top in zip(xs, bottom, strict=True):
        ax.text(xi, top + 0.01, STEP_TAGS[step], ha="center", va="bottom", fontsize=7)
