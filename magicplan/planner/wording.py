"""What a plan says: whether the workload fits (and what does), the notes, and the
recommendation sentence — with where α came from when it is borrowed, and "no clear gain" when
the speedup interval reaches 1×."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from magicplan.cost.memory import memory_terms
from magicplan.planner.batches import ar_max_batch, ar_max_context, largest
from magicplan.planner.records import Strategy, family_label, kv_label, verifies_tree
from magicplan.units import GB

if TYPE_CHECKING:
    from magicplan.planner.inputs import PlanInputs
    from magicplan.planner.records import Candidates
    from magicplan.planner.uncertainty import ModelError

ACCEPTANCE_TAGS = ("fallback", "extrapolated", "held", "interpolated")
SCALAR_ALPHA = (
    "one --acceptance α applies to every budget, so budgets are ranked by cost alone (the "
    "smallest wins); give per-budget α (--acceptance-table) to rank budgets"
)


def feasibility(
    inp: PlanInputs, rows: Candidates, ar: dict[str, Any], best: dict[str, Any] | None
) -> dict[str, Any]:
    """Does the workload fit, what it needs, and the largest batch (and context) that does:
    plain AR's figures (the leanest), and speculation's when no speculative strategy fits."""
    cap = rows.baseline.capacity_bytes
    fits = bool(ar["fits_in_memory"])
    sd_fits = bool(np.any(rows.memory_bytes <= cap))
    fixed, _ = memory_terms(inp.target, inp.num_gpus, inp.context, speculative=False)
    out: dict[str, Any] = {
        "fits": fits,
        "memory_needed_per_gpu_gb": ar["memory_per_gpu_gb"],
        "weights_per_gpu_gb": sum(fixed.values()) / GB,
        "memory_usable_per_gpu_gb": cap / GB,
        "largest_batch_that_fits": ar_max_batch(
            inp.hardware, inp.num_gpus, inp.target, inp.context, inp.memory_utilization
        ),
        "largest_context_that_fits": None if fits else ar_max_context(inp, inp.context),
        "speculation_fits": sd_fits,
        "speculative_candidates": int(rows.memory_bytes.size),  # with a known acceptance
        "no_speculation_because": _why_none(inp) if not rows.memory_bytes.size else None,
        "speculation_memory_needed_per_gpu_gb": (
            float(rows.memory_bytes.min()) / GB if rows.memory_bytes.size else None
        ),
        "largest_batch_with_speculation": None,
    }
    if fits and not sd_fits and rows.memory_bytes.size:
        drafts = list({id(b.draft): b.draft for b in rows.blocks}.values())
        found = largest(inp, drafts, inp.batch - 1)
        out["largest_batch_with_speculation"] = int(max(float(f.batch.max()) for f in found))
    return out


def notes(
    inp: PlanInputs, best: dict[str, Any] | None, fit: dict[str, Any], slo: float | None
) -> list[str]:
    """The plan's notes, in order and distinct: inputs, memory, SLO, acceptance."""
    out = list(dict.fromkeys(inp.notes))
    if not fit["fits"]:
        out.append(
            f"nothing fits in memory: plain AR needs {fit['memory_needed_per_gpu_gb']:.1f} GB "
            f"per GPU, {fit['memory_usable_per_gpu_gb']:.1f} GB usable; {_what_fits(inp, fit)}"
        )
    elif best is None:
        out.append(f"no strategy meets the {slo:g} ms per-token SLO")
    elif not fit["speculation_fits"] and fit["speculation_memory_needed_per_gpu_gb"]:
        most = fit["largest_batch_with_speculation"]
        out.append(
            f"no speculative strategy fits in memory at batch {inp.batch}: the leanest needs "
            f"{fit['speculation_memory_needed_per_gpu_gb']:.1f} GB per GPU, "
            f"{fit['memory_usable_per_gpu_gb']:.1f} GB usable; "
            + (f"speculation fits up to batch {most}" if most else "none fits at any batch")
        )
    if best is not None and any(t in best["acceptance_source"] for t in ACCEPTANCE_TAGS):
        out.append(f"acceptance of the best strategy: {best['acceptance_source']}")
    if _scalar_alpha_ranks_budgets(inp, best):
        out.append(SCALAR_ALPHA)
    return out


def _why_none(inp: PlanInputs) -> str:
    """Why no speculative strategy could be evaluated: the engine runs none of the drafts asked
    (what it lacks), else none has an acceptance."""
    if not inp.drafts and inp.engine_id and inp.beyond_engine:
        return f"{inp.engine_id} cannot run {' and '.join(inp.beyond_engine)}"
    if not inp.drafts:
        return "no draft to plan"
    return "no acceptance for the drafts here: see notes"


def _what_fits(inp: PlanInputs, fit: dict[str, Any]) -> str:
    b, s = fit["largest_batch_that_fits"], fit["largest_context_that_fits"]
    if not b and not s:
        return (
            f"the weights alone need {fit['weights_per_gpu_gb']:.1f} GB per GPU: not even one "
            "sequence fits at any context; use more GPUs"
        )
    trained = inp.target.max_position_embeddings
    beyond = f" (beyond {inp.target.id}'s {trained:,} trained positions)" if s > trained else ""
    at_batch = (
        f"at batch {inp.batch} the largest context that fits is {s:,}{beyond}"
        if s
        else f"batch {inp.batch} does not fit at any context"
    )
    at_context = (
        f"at context {inp.context:,} the largest batch that fits is {b}"
        if b
        else f"no batch fits at context {inp.context:,}"
    )
    return f"{at_context}; {at_batch}"


def _scalar_alpha_ranks_budgets(inp: PlanInputs, best: dict[str, Any] | None) -> bool:
    """A scalar α with several budgets of a compressed method: budgets differ in cost only."""
    return (
        best is not None
        and best["kv_method"] not in ("none", "full")
        and inp.acceptance is not None
        and len(inp.kv_budgets) > 1
    )


def sentence(
    inp: PlanInputs, best: dict[str, Any] | None, fit: dict[str, Any], error: ModelError
) -> str:
    """The recommendation in one sentence (two when α is borrowed or budgets rank by cost)."""
    where = (f"{inp.target.id} on {inp.num_gpus}× {inp.hardware.id} at batch {inp.batch}, "
             f"context {inp.context}")  # fmt: skip
    if best is None and not fit["fits"]:
        return (
            f"No strategy is feasible for {where}: it does not fit in memory (plain AR needs "
            f"{fit['memory_needed_per_gpu_gb']:.1f} GB per GPU, "
            f"{fit['memory_usable_per_gpu_gb']:.1f} GB usable); {_what_fits(inp, fit)}."
        )
    if best is None:
        return f"No strategy is feasible for {where} (see notes)."
    if best["draft_model"] == "none" and not fit["speculative_candidates"]:
        return (
            f"Do not speculate for {where}: no speculative strategy could be planned "
            f"({fit['no_speculation_because']}); plain autoregressive decoding."
        )
    if best["draft_model"] == "none" and not fit["speculation_fits"]:
        most = fit["largest_batch_with_speculation"]
        up_to = f" (speculation fits up to batch {most})" if most else ""
        return (
            f"Do not speculate for {where}: no speculative strategy fits in memory{up_to}; "
            "plain autoregressive decoding does."
        )
    if best["draft_model"] == "none":
        return f"Do not speculate for {where}: plain autoregressive decoding is fastest."
    label = Strategy.of(best).label()
    lo, hi = best["speedup_interval"]
    if not best["clear_gain"]:
        text = (
            f"Speculation gives no clear gain for {where}: the best strategy ({label}) predicts "
            f"{best['speedup']:.2f}×, but its interval {lo:.2f}–{hi:.2f}× (the model's "
            f"±{error.p90:.1%} p90 error{_and_alpha(best)}) reaches 1×; plain autoregressive "
            "decoding is as good within the model's error."
        )
    else:
        text = (
            f"Use {_what(best)} for {where}: {best['speedup']:.2f}× per-token speedup "
            f"({lo:.2f}–{hi:.2f}×; {best['t_spec_per_token_ms']:.2f} ms/token, "
            f"{best['throughput_tokens_per_s']:,.0f} tokens/s)."
        )
    return text + _alpha_caveat(inp, best)


def _what(best: dict[str, Any]) -> str:
    """The strategy in words: 'draft llama-3.2-1b with full KV and γ=3', 'the EAGLE-3 draft
    head (a 60-token tree, depth 7, τ 6.13) with full KV'."""
    kind, kv = best.get("draft_kind"), kv_label(best["kv_method"], best["kv_budget"])
    if kind in (None, "self", "draft_model"):
        draft = "self-speculation" if kind == "self" or best["draft_model"] == "self" else (
            f"draft {best['draft_model']}"
        )  # fmt: skip
        return f"{draft} with {kv} and γ={best['gamma']}"
    tau = f", τ {best['accepted_per_step']:.2f}" if best.get("acceptance_input") == "tau" else ""
    chain = not verifies_tree(best)  # a chain family, or a tree drafted as one
    shape = (f"γ={best['gamma']}" if chain
             else f"a {best['tree_tokens']}-token tree, depth {best['gamma']}")  # fmt: skip
    cache = "" if best["kv_method"] == "none" else f" with {kv}"
    return f"the {family_label(kind)} ({shape}{tau}){cache}"


def _and_alpha(best: dict[str, Any]) -> str:
    return " and the acceptance interval" if "acceptance_interval" in best else ""


def _alpha_caveat(inp: PlanInputs, best: dict[str, Any]) -> str:
    parts = []
    if best["acceptance_borrowed_from"]:
        what = (f"τ = {best['accepted_per_step']:.2f}" if best.get("acceptance_input") == "tau"
                else f"α = {best['acceptance']:.3f}")  # fmt: skip
        parts.append(
            f" {what} is borrowed: measured for {best['acceptance_borrowed_from']}, not for "
            "this pair."
        )
    if _scalar_alpha_ranks_budgets(inp, best):
        parts.append(f" Note: {SCALAR_ALPHA}.")
    return "".join(parts)
