"""The paper's central concepts as first-class answers: critical sequence length, break-even
acceptance, and the best strategy over a batch × context grid (the data behind the γ map).

"Critical sequence length" has two meanings, reported apart:
- `critical_context`: the break-even context — the smallest context at which speculation
  reaches 1× at the given batch (magicplan's `critical-length`, docs/model.md §8);
- `inflection_context`: MagicDec's S_inflection (Sadhukhan, Chen, Chen, Tiwari et al., ICLR
  2025, §3) — the context beyond which the speedup *rises with batch size*: the smallest
  context at which the strategy's speedup at batch B exceeds its speedup at B/2.
Every answer names the strategy (draft, method, budget, γ, draft TP) it belongs to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from magicplan.arguments import count_arg, counts_arg, plan_arguments
from magicplan.errors import MagicplanError
from magicplan.physics import workload_warnings
from magicplan.planner.evaluation import baseline, block, drafts_of
from magicplan.planner.inputs import default_drafts, plan_inputs
from magicplan.planner.optimizer import plan
from magicplan.planner.records import Strategy
from magicplan.setup import as_drafted, check_positive
from magicplan.specs.drafts import DraftKindSpec
from magicplan.specs.hardware import HardwareSpec
from magicplan.specs.model import ModelSpec
from magicplan.specs.registry import (
    HardwareLike,
    ModelLike,
    as_draft,
    as_engine,
    as_hardware,
    as_model,
)

FAMILIES_LEFT_OUT = (
    "the drafting families (EAGLE, MTP, n-gram lookup) are left out of the default α search: "
    "give --drafts (eagle3, ngram, ...) to search theirs"
)
MIN_CONTEXT = 128  # smallest context searched (the smallest draft budget)
BISECTION_STEPS = 30  # α to 1e-9; contexts to one token


def best_speculative(report: dict[str, Any]) -> dict[str, Any] | None:
    """The fastest speculative candidate of a plan (AR excluded), or None."""
    return next((c for c in report["candidates"] if c["draft_model"] != "none"), None)


def _sd_speedup(report: dict[str, Any]) -> float:
    sd = best_speculative(report)
    return float(sd["speedup"]) if sd else 0.0


def _strategy(report: dict[str, Any]) -> dict[str, Any] | None:
    sd = best_speculative(report)
    return Strategy.of(sd).as_dict() if sd else None


def critical_length(
    hardware: HardwareLike,
    num_gpus: int,
    target: ModelLike,
    batch: int | str,
    gamma: int | None = None,
    max_context: int | str | None = None,
    **plan_kw: Any,
) -> dict[str, Any]:
    """Smallest context at which the best (or the given γ's) speculative speedup reaches 1
    (`critical_context`), the strategy that does, and that strategy's `inflection_context`.

    Scans 12 log-spaced contexts from 128 to `max_context` (default: the model's maximum),
    then bisects to the token between the last context below 1 and the first at or above it.
    `batch` and `max_context` are counts ('32k' too).
    """
    hardware, target = as_hardware(hardware), as_model(target, "target")
    batch = int(check_positive("batch", count_arg("batch", batch)))
    given = count_arg("max_context", max_context)
    top = target.max_position_embeddings if given is None else given
    top = int(check_positive("max_context", top))
    if top < MIN_CONTEXT:
        raise MagicplanError(f"max_context must be >= {MIN_CONTEXT}; got {top}")
    kw = plan_kw | ({"gammas": [gamma]} if gamma is not None else {}) | {"top": 3, "beyond": False}

    def report(s: int) -> dict[str, Any]:
        return plan(hardware, num_gpus, target, batch, s, **kw)

    def speedup(s: int) -> float:
        return _sd_speedup(report(s))

    crit = _first_at_least(speedup, _contexts(MIN_CONTEXT, top))
    at = report(crit if crit is not None else top)
    strategy = _strategy(at)
    inflection = None
    if strategy is not None:
        kept = {k: v for k, v in plan_kw.items() if k in KEPT}
        inflection = inflection_context(
            hardware, num_gpus, target, batch, Strategy(**strategy), top, **kept
        )
    out = _critical_report(hardware, num_gpus, target, batch, gamma, crit, _sd_speedup(at))
    if crit is None and (why := _memory_note(at)):
        out["note"] += f" ({why}: the search stops being meaningful there)"
    return out | {
        "engine": at["engine"],
        "strategy": strategy,
        "inflection_context": inflection,
        "inflection_batches": list(_batch_pair(batch)),
        "warnings": workload_warnings(hardware, num_gpus, target, top),
    }


# Plan options an inflection search keeps (it fixes the strategy; the rest must carry over).
KEPT = ("acceptance", "acceptance_table", "engine", "memory_utilization", "any_strategy",
        "accepted_per_step", "tree_tokens", "tau_table")  # fmt: skip


def _contexts(low: int, top: int) -> list[int]:
    return sorted({*(int(c) for c in np.geomspace(low, top, 12)), top})


def _first_at_least(f: Any, grid: list[int]) -> int | None:
    """Smallest integer context with f >= 1: the first grid point that reaches it, bisected
    to the token against the grid point before (None when none does)."""
    prev = None
    for s in grid:
        if f(s) >= 1.0:
            return s if prev is None else _bisect_int(f, prev, s)
        prev = s
    return None


def _batch_pair(batch: int) -> tuple[int, int]:
    """The two batch sizes whose speedups say whether it rises with batch: B/2 and B (1, 2)."""
    return (max(batch // 2, 1), batch) if batch > 1 else (1, 2)


def inflection_context(
    hardware: HardwareSpec,
    num_gpus: int,
    target: ModelSpec,
    batch: int,
    strategy: Strategy,
    max_context: int,
    **plan_kw: Any,
) -> int | None:
    """MagicDec's S_inflection for one strategy: the smallest context (up to `max_context`) at
    which its speedup at `batch` exceeds its speedup at `batch`/2 (it rises with batch there).
    A property of the cost curves: memory is not applied (the larger batch may not fit)."""
    low = max(MIN_CONTEXT, strategy.kv_budget)
    if low > max_context:
        return None
    draft = as_draft(strategy.draft_model)
    method = "full" if strategy.kv_method == "none" else strategy.kv_method
    only = {"drafts": [draft], "kv_methods": [method],
            "kv_budgets": [strategy.kv_budget or MIN_CONTEXT], "gammas": [strategy.gamma],
            "draft_num_gpus": [strategy.draft_num_gpus] if isinstance(draft, ModelSpec)
            else None}  # fmt: skip
    pair = np.array(_batch_pair(batch), dtype=float)[:, None, None, None]

    def rises(s: int) -> float:
        inp = plan_inputs(hardware, num_gpus, target, batch, s, **(plan_kw | only))
        base = baseline(inp, pair)
        t = block(inp, base.roofline, base.t_verify_s, drafts_of(inp)[0], pair).t_token_s
        sp = base.t_ar_s.reshape(-1) / t.reshape(2, -1)[:, 0]
        return 1.0 if sp[1] > sp[0] else 0.0

    return _first_at_least(rises, _contexts(low, max_context))


def _memory_note(report: dict[str, Any]) -> str | None:
    """When no speculative strategy fits in memory, why (else None: the answer is speed)."""
    fit = report["feasibility"]
    if fit["speculation_fits"]:
        return None
    where = f"batch {report['batch']}, context {report['context']:,}"
    if fit.get("no_speculation_because"):  # nothing speculative to plan, at any context
        return (
            f"no speculative strategy could be planned at {where} ({fit['no_speculation_because']})"
        )
    if not fit["fits"]:
        return (
            f"nothing fits in memory at {where}: plain AR needs "
            f"{fit['memory_needed_per_gpu_gb']:.1f} GB per GPU, "
            f"{fit['memory_usable_per_gpu_gb']:.1f} GB usable"
        )
    return f"no speculative strategy fits in memory at {where}"


def _bisect_int(f: Any, lo: int, hi: int) -> int:
    """Smallest integer in (lo, hi] with f >= 1, given f(lo) < 1 <= f(hi)."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if f(mid) >= 1.0 else (mid, hi)
    return hi


def _critical_report(
    hardware: HardwareSpec,
    num_gpus: int,
    target: ModelSpec,
    batch: int,
    gamma: int | None,
    crit: int | None,
    sp: float,
) -> dict[str, Any]:
    return {
        "hardware": hardware.id,
        "num_gpus": num_gpus,
        "target": target.id,
        "batch": batch,
        "gamma": gamma,
        "critical_context": crit,
        "speedup_at_critical": round(sp, 6),
        "note": (
            "speculation does not reach 1x at any context up to the limit searched"
            if crit is None
            else f"speculation already pays at the smallest context searched ({MIN_CONTEXT} "
            f"tokens: {sp:.2f}×): no break-even above it"
            if crit == MIN_CONTEXT
            else None
        ),
    }


def break_even(
    hardware: HardwareLike,
    num_gpus: int,
    target: ModelLike,
    batch: int | str,
    context: int | str,
    target_speedup: float = 1.0,
    **plan_kw: Any,
) -> dict[str, Any]:
    """Smallest acceptance rate α at which the best strategy reaches `target_speedup`
    (`batch`, `context`: counts, '32k' too)."""
    hardware, target = as_hardware(hardware), as_model(target, "target")
    batch = int(check_positive("batch", count_arg("batch", batch)))
    context = int(check_positive("context", count_arg("context", context)))
    plan_kw = plan_arguments(plan_kw)
    if not target_speedup > 0:
        raise MagicplanError(f"target_speedup must be > 0; got {target_speedup}")
    plan_kw = {k: v for k, v in plan_kw.items()
               if k not in ("acceptance", "acceptance_table", "accepted_per_step")}  # fmt: skip
    plan_kw["beyond"] = False
    # the search is over α: drafts planned by a tree's τ (eagle, eagle3, medusa where the
    # engine verifies their tree) have no α; a chain family's α is searched like a model's
    runs = as_engine(plan_kw.get("engine"))
    asked = plan_kw.get("drafts")
    drafts = [as_drafted(as_draft(d), runs, hardware)[0]
              for d in asked or default_drafts(target, families=False)]  # fmt: skip
    # a tree has no α; its chain (top-k 1, which every engine that runs the family runs) has
    plan_kw["drafts"] = [d.as_chain() if isinstance(d, DraftKindSpec) else d for d in drafts]
    if not plan_kw["drafts"]:
        raise MagicplanError(
            "break-even searches the acceptance rate α: tree drafters (eagle, eagle3, medusa) "
            "are planned by their mean accepted length τ on an engine that verifies their tree; "
            "give a chain draft"
        )

    def speedup(a: float) -> float:
        return _sd_speedup(
            plan(hardware, num_gpus, target, batch, context, acceptance=a, top=3, **plan_kw)
        )

    base = {
        "hardware": hardware.id,
        "num_gpus": num_gpus,
        "target": target.id,
        "batch": batch,
        "context": context,
        "target_speedup": target_speedup,
        "warnings": workload_warnings(hardware, num_gpus, target, context),
        "notes": [] if asked else [FAMILIES_LEFT_OUT],
    }
    full = plan(hardware, num_gpus, target, batch, context, acceptance=1.0, top=3, **plan_kw)
    base["engine"] = full["engine"]
    if _sd_speedup(full) < target_speedup:
        return base | {
            "break_even_acceptance": None,
            "note": _memory_note(full) or "not reachable even with every drafted token accepted",
            "speedup_at_full_acceptance": round(_sd_speedup(full), 6),
            "strategy": _strategy(full),
        }
    lo, hi = 0.0, 1.0
    if speedup(0.0) >= target_speedup:
        hi = 0.0
    for _ in range(BISECTION_STEPS):
        if hi - lo < 1e-6:
            break
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if speedup(mid) >= target_speedup else (mid, hi)
    return base | {
        "break_even_acceptance": round(hi, 6),
        "note": None,
        "strategy": _strategy(
            plan(hardware, num_gpus, target, batch, context, acceptance=hi, top=3, **plan_kw)
        ),
    }


def sweep(
    hardware: HardwareLike,
    num_gpus: int,
    target: ModelLike,
    batches: Sequence[int | str] | int | str,
    contexts: Sequence[int | str] | int | str,
    **plan_kw: Any,
) -> list[dict[str, Any]]:
    """Best strategy and its speedup at every batch × context cell (row-major, batch outer).
    `batches`, `contexts`: counts as a list, an array, one number or a comma string ('1k,4k')."""
    hardware, target = as_hardware(hardware), as_model(target, "target")
    rows = []
    for b in _axis("batches", batches):
        for s in _axis("contexts", contexts):
            r = plan(hardware, num_gpus, target, b, s, top=3, beyond=False, **plan_kw)
            best, sd = r["best"], best_speculative(r)
            rows.append(
                {
                    "batch": b,
                    "context": s,
                    "draft_model": best["draft_model"] if best else None,
                    "kv_method": best["kv_method"] if best else None,
                    "kv_budget": best["kv_budget"] if best else None,
                    "gamma": best["gamma"] if best else None,
                    "speedup": best["speedup"] if best else None,
                    "best_speculative_speedup": sd["speedup"] if sd else None,
                    "best_speculative_gamma": sd["gamma"] if sd else None,
                    "t_spec_per_token_ms": best["t_spec_per_token_ms"] if best else None,
                    "throughput_tokens_per_s": best["throughput_tokens_per_s"] if best else None,
                    "fits_in_memory": best is not None,
                    **_ar_columns(r["autoregressive"], best),
                    "engine": r["engine"],
                    # a family's shape: tokens verified (a tree's, or γ + 1 for a chain)
                    "draft_kind": best.get("draft_kind") if best else None,
                    "tree_tokens": best.get("tree_tokens") if best else None,
                }
            )
    return rows


def _axis(name: str, value: Any) -> list[int]:
    """A sweep axis as positive whole numbers ('1k,4k', one count, a list or an array)."""
    given = counts_arg(name, value)
    if not given:
        raise MagicplanError(f"{name} must list at least one value; got {value!r}")
    return [int(v) for v in check_positive(name, given)]


def _ar_columns(ar: dict[str, Any], best: dict[str, Any] | None) -> dict[str, Any]:
    """Plain AR at a sweep cell (time per step, throughput) and the memory per GPU of what
    runs there (the best strategy; AR when nothing fits)."""
    return {
        "t_autoregressive_ms": ar["t_autoregressive_ms"],
        "autoregressive_throughput_tokens_per_s": ar["throughput_tokens_per_s"],
        "memory_per_gpu_gb": (best or ar)["memory_per_gpu_gb"],
    }
