"""`families`: the best speedup of each drafting family (self-speculation, a separate draft model,
EAGLE, EAGLE-3, Medusa, MTP, n-gram lookup) against context, at two batch sizes, on one cost
model; the acceptance each assumes (published τ, or α) in the caption.

Every strategy is planned (`any_strategy`): a family's best may keep a compressed draft cache
(MagicDec's point carries over: a draft that reads a growing cache stops being cheap at long
context, a compressed one stays flat), which most engines cannot run yet; the step costs are the
engine's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from magicplan.planner.records import family_label
from magicplan.plots.scenario import Scenario
from magicplan.plots.style import NOTE_PT, set_title, tokens_label

if TYPE_CHECKING:
    from matplotlib.axes import Axes

FAMILY_BATCHES = (1, 64)  # two batch sizes: latency-bound and throughput-bound decode
FAMILY_CONTEXTS = (1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072)
ORDER = ("self", "draft_model", "eagle", "eagle3", "medusa", "mtp", "ngram")
COLORS = {
    "self": "#4C72B0", "draft_model": "#8C8C8C", "eagle": "#DD8452", "eagle3": "#C44E52",
    "medusa": "#55A868", "mtp": "#8172B3", "ngram": "#937860",
}  # fmt: skip
LINESTYLES = ("-", "--")


@dataclass(frozen=True)
class FamilyCurves:
    """Per family: the best speedup at each (batch, context) (NaN where none fits), the
    strategy behind the last point drawn, and the acceptance it assumed."""

    batches: tuple[int, ...]
    contexts: tuple[int, ...]
    speedup: dict[str, np.ndarray]  # kind → (batches, contexts)
    assumed: dict[str, str]  # kind → 'τ 6.13 (EAGLE-3 ...)' or 'α 0.79-0.84 (published)'


def family_curves(sc: Scenario, **plan_kw: Any) -> FamilyCurves:
    """Plan every (batch, context) of `sc` (every draft, method, budget, γ) and keep the best
    candidate of each family."""
    from magicplan.planner import plan

    s = sc.setup
    shape = (len(sc.batches), len(sc.contexts))
    speedup: dict[str, np.ndarray] = {}
    taus: dict[str, set[str]] = {}
    alphas: dict[str, list[float]] = {}
    for i, b in enumerate(sc.batches):
        for j, c in enumerate(sc.contexts):
            r = plan(s.hardware, s.num_gpus, s.target, int(b), int(c), top=1, beyond=False,
                     any_strategy=True, engine=s.engine, **plan_kw)  # fmt: skip
            for f in r["families"]:
                kind = f["draft_kind"]
                speedup.setdefault(kind, np.full(shape, np.nan))[i, j] = f["speedup"]
                if f["acceptance_input"] == "tau":
                    taus.setdefault(kind, set()).add(_tau_text(f))
                else:
                    alphas.setdefault(kind, []).append(_alpha(f))
    assumed = {k: "; ".join(sorted(v)) for k, v in taus.items()}
    for k, v in alphas.items():
        lo, hi = min(v), max(v)
        assumed[k] = f"α {lo:.2f}" + ("" if hi - lo < 0.005 else f"-{hi:.2f}") + " (published)"
    return FamilyCurves(tuple(sc.batches), tuple(sc.contexts), speedup, assumed)


def _tau_text(f: dict[str, Any]) -> str:
    """'τ 6.13 (EAGLE-3)': the τ planned with (published or given), its source in short, and
    whose it is when borrowed."""
    source = str(f["acceptance_source"])
    short = source.split(",")[0].split(" (")[0]
    borrowed = source.split("borrowed from ", 1)[1].rstrip(")") if "borrowed from" in source else ""
    return f"τ {f['tau']:.2f} ({short}" + (f", {borrowed}'s" if borrowed else "") + ")"


def _alpha(f: dict[str, Any]) -> float:
    """The α a chain was planned with (the first one of per-position rates)."""
    a = f["acceptance"]
    return float(a[0] if isinstance(a, list) else a)


def plot_families(ax: Axes, sc: Scenario, curves: FamilyCurves | None = None) -> Axes:
    """Best speedup of each family vs context, one colour per family, one line style per batch
    size; where memory runs out a line stops. The caption lists the acceptance each assumes."""
    fc = curves or family_curves(sc)
    x = np.asarray(fc.contexts, dtype=float)
    for kind in [k for k in ORDER if k in fc.speedup]:
        for i, (b, ls) in enumerate(zip(fc.batches, LINESTYLES, strict=False)):
            y = fc.speedup[kind][i]
            ok = np.isfinite(y)
            if ok.any():
                label = f"{family_label(kind)}, batch {b}"
                ax.plot(x[ok], y[ok], ls, marker="o", ms=4, lw=1.8, color=COLORS[kind],
                        label=label)  # fmt: skip
    ax.axhline(1.0, color="black", lw=1.0, ls=":", label="1.0 = plain AR")
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(x), [tokens_label(c) for c in x])
    ax.minorticks_off()
    ax.set_xlabel("context (tokens already in each KV cache)")
    ax.set_ylabel("best speedup over AR (×, per-token latency)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=NOTE_PT)
    caption = "acceptance assumed: " + "; ".join(
        f"{family_label(k)} {fc.assumed[k]}" for k in ORDER if k in fc.assumed
    ) + (". A family's τ is held at every context and draft cache (published at short context, "
         "full cache)")  # fmt: skip
    ax.text(0.0, -0.14, _wrap(caption, 130), transform=ax.transAxes, fontsize=NOTE_PT,
            va="top", ha="left")  # fmt: skip
    batches = " and ".join(str(b) for b in fc.batches)
    set_title(ax, f"Best speedup of each drafting family vs context, batch {batches}",
              sc.subtitle(draft=False) + " · every strategy planned (compressed draft caches "
              "included)")  # fmt: skip
    return ax


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))
