"""Data for the planner's figures (gamma-map, pareto): the planner's best speculative plan
(draft × KV method × budget × γ, memory-feasible) per batch, or per batch × context cell."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from magicplan.plots.scenario import METHOD_NAMES, Scenario
from magicplan.specs.model import ModelSpec


@dataclass(frozen=True)
class Search:
    """What the planner may choose from; None = the planner's default (everything shipped)."""

    drafts: tuple[ModelSpec | None, ...] | None = None  # None inside = self-speculation
    kv_methods: tuple[str, ...] | None = None
    kv_budgets: tuple[int, ...] | None = None
    gammas: tuple[int, ...] | None = None
    draft_num_gpus: tuple[int, ...] | None = None

    def plan_kw(self, acceptance: float | None) -> dict[str, Any]:
        """Keyword arguments for `magicplan.planner.plan`."""
        kw: dict[str, Any] = {"acceptance": acceptance}
        if self.drafts is not None:
            kw["drafts"] = list(self.drafts)
        if self.kv_methods is not None:
            kw["kv_methods"] = list(self.kv_methods)
        if self.kv_budgets is not None:
            kw["kv_budgets"] = list(self.kv_budgets)
        if self.gammas is not None:
            kw["gammas"] = list(self.gammas)
        if self.draft_num_gpus is not None:
            kw["draft_num_gpus"] = list(self.draft_num_gpus)
        return kw

    def text(self, sc: Scenario) -> str:
        """The assumptions line: what was searched, and where α comes from."""
        from magicplan.planner.optimizer import DEFAULT_BUDGETS, DEFAULT_GAMMAS, default_drafts

        drafts = self.drafts if self.drafts is not None else tuple(default_drafts(sc.setup.target))
        names = ", ".join("self" if d is None else d.id for d in drafts)
        methods = self.kv_methods or tuple(METHOD_NAMES)
        budgets = self.kv_budgets or DEFAULT_BUDGETS
        span = _span(budgets)
        gammas = _span(self.gammas or DEFAULT_GAMMAS)
        alpha = (
            "α: published measurements by draft, method, budget and context"
            if sc.acceptance is None
            else f"α = {sc.acceptance:.2f} for every draft"
        )
        methods_text = "/".join(METHOD_NAMES.get(m, m) for m in methods)
        return (
            f"planner's best of drafts: {names}\n"
            f"KV: {methods_text}, budget {span}; γ {gammas}\n{alpha}"
        )


def _span(values: tuple[int, ...]) -> str:
    return f"{values[0]}" if len(values) == 1 else f"{min(values)}-{max(values)}"


def strategy_label(entry: dict[str, Any], num_gpus: int) -> str:
    """'self, StreamingLLM 512' or 'llama-3.2-1b (TP 1), full KV' for one planner candidate."""
    draft = entry["draft_model"]
    if draft != "self" and entry.get("draft_num_gpus") not in (None, num_gpus):
        draft += f" (TP {entry['draft_num_gpus']})"
    method = METHOD_NAMES.get(entry["kv_method"], entry["kv_method"])
    budget = "" if entry["kv_method"] == "full" else f" {entry['kv_budget']}"
    return f"{draft}, {method}{budget}"


def _best_sd(sc: Scenario, batch: int, context: int, search: Search) -> tuple[Any, Any]:
    """The planner's best speculative candidate (None when none fits) and its AR baseline."""
    from magicplan.planner.analysis import best_speculative
    from magicplan.planner.optimizer import plan

    s = sc.setup
    kw = search.plan_kw(sc.acceptance) | {"engine": s.engine, "beyond": False}
    report = plan(s.hardware, s.num_gpus, s.target, batch, context, top=3, **kw)
    return best_speculative(report), report["autoregressive"]


@dataclass(frozen=True)
class PlanGrid:
    """Best speculative plan per cell (rows: contexts, columns: batches)."""

    batches: tuple[int, ...]
    contexts: tuple[int, ...]
    speedup: npt.NDArray[np.float64]
    gamma: npt.NDArray[np.int64]
    fits: npt.NDArray[np.bool_]
    strategy: npt.NDArray[np.str_]  # e.g. "self, StreamingLLM 512"; "" where nothing fits


def plan_grid(sc: Scenario, search: Search | None = None) -> PlanGrid:
    """The planner's best speculative plan at every batch × context of the scenario."""
    search = search or Search()
    shape = (len(sc.contexts), len(sc.batches))
    speedup, gamma = np.full(shape, np.nan), np.zeros(shape, dtype=np.int64)
    strategy = np.full(shape, "", dtype=object)
    for i, c in enumerate(sc.contexts):
        for j, b in enumerate(sc.batches):
            sd, _ = _best_sd(sc, b, c, search)
            if sd is not None:
                speedup[i, j], gamma[i, j] = sd["speedup"], sd["gamma"]
                strategy[i, j] = strategy_label(sd, sc.setup.num_gpus)
    fits = np.isfinite(speedup)
    return PlanGrid(sc.batches, sc.contexts, speedup, gamma, fits, strategy.astype(str))


@dataclass(frozen=True)
class Frontier:
    """AR and best-SD operating points across batch sizes at one context."""

    batches: tuple[int, ...]
    context: int
    ar_latency_ms: npt.NDArray[np.float64]  # per token, per sequence
    ar_throughput: npt.NDArray[np.float64]  # tokens/s of the whole batch
    ar_fits: npt.NDArray[np.bool_]
    sd_latency_ms: npt.NDArray[np.float64]
    sd_throughput: npt.NDArray[np.float64]
    sd_fits: npt.NDArray[np.bool_]
    sd_gamma: npt.NDArray[np.int64]
    sd_strategy: npt.NDArray[np.str_]


def frontier(sc: Scenario, context: int, search: Search | None = None) -> Frontier:
    """AR and the planner's best speculative plan at each batch of the scenario at `context`."""
    search = search or Search()
    cols: dict[str, list[Any]] = {k: [] for k in ("arl", "art", "arf", "sdl", "sdt", "g", "st")}
    for b in sc.batches:
        sd, ar = _best_sd(sc, b, context, search)
        cols["arl"].append(ar["t_spec_per_token_ms"])
        cols["art"].append(ar["throughput_tokens_per_s"])
        cols["arf"].append(ar["fits_in_memory"])
        cols["sdl"].append(sd["t_spec_per_token_ms"] if sd else np.nan)
        cols["sdt"].append(sd["throughput_tokens_per_s"] if sd else np.nan)
        cols["g"].append(sd["gamma"] if sd else 0)
        cols["st"].append(strategy_label(sd, sc.setup.num_gpus) if sd else "")
    sd_fits = np.isfinite(np.array(cols["sdl"], dtype=np.float64))
    return Frontier(
        sc.batches,
        context,
        np.array(cols["arl"], dtype=np.float64),
        np.array(cols["art"], dtype=np.float64),
        np.array(cols["arf"], dtype=bool),
        np.array(cols["sdl"], dtype=np.float64),
        np.array(cols["sdt"], dtype=np.float64),
        sd_fits,
        np.array(cols["g"], dtype=np.int64),
        np.array(cols["st"], dtype=str),
    )


def strategy_keys(labels: npt.NDArray[np.str_]) -> dict[str, str]:
    """A short key (P1, P2, ...) per distinct non-empty strategy label, in order of first use."""
    distinct = list(dict.fromkeys(x for x in labels.ravel().tolist() if x))
    return {label: f"P{i + 1}" for i, label in enumerate(distinct)}
