"""What the serving engine can run, applied to the planner's search: a plan for vLLM proposes
only what vLLM runs (so `plan` and `--export` agree), and says what an engine with more features
would give (`beyond_engine`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from magicplan.cost.drafts import Draft, draft_kind_of
from magicplan.planner.records import verifies_tree
from magicplan.specs.drafts import DraftKindSpec
from magicplan.specs.engine import EngineSpec
from magicplan.specs.hardware import HardwareSpec
from magicplan.specs.registry import runnable as runnable  # re-exported: the planner's word

SELF = "self-speculation (drafting with the target itself)"
DRAFT_MODEL = "a separate draft model"
COMPRESSED = "a compressed draft KV cache (streamingllm, snapkv, topk)"
TREE = "tree verification (a draft token tree)"
BATCHED = "speculation at a batch above 1"
FAMILIES = {
    "eagle": "EAGLE draft heads (eagle)",
    "eagle3": "EAGLE-3 draft heads (eagle3)",
    "medusa": "Medusa heads (medusa)",
    "mtp": "the model's multi-token-prediction module (mtp)",
    "ngram": "n-gram prompt lookup (ngram)",
}
NEEDS = {"self": SELF, "draft_model": DRAFT_MODEL, **FAMILIES}  # draft kind → the feature


def vendor_note(engine: EngineSpec | None, hardware: HardwareSpec) -> str | None:
    """A warning when `engine` does not run on `hardware`'s vendor (None: it does, or the
    engine's vendors are not restricted)."""
    if engine is None or engine.vendors is None or hardware.vendor in engine.vendors:
        return None
    runs_on = ", ".join(engine.vendors)
    return (f"warning: {engine.id} runs on {runs_on} hardware, not {hardware.vendor} "
            f"({hardware.id}): its step costs there are hypothetical")  # fmt: skip


def draft_tp_degrees(engine: EngineSpec, num_gpus: int) -> tuple[int, ...] | None:
    """Draft tensor-parallel degrees the engine runs (None: any divisor of num_gpus)."""
    rule = engine.speculative.draft_tensor_parallel
    if rule == "target":
        return (num_gpus,)
    if rule == "one_or_target":
        return tuple(sorted({1, num_gpus}))
    return None


def restrict(
    engine: EngineSpec | None,
    drafts: list[Draft],
    methods: tuple[str, ...],
    draft_tp: tuple[int, ...] | None,
    num_gpus: int,
    batch: int = 1,
) -> tuple[list[Draft], tuple[str, ...], tuple[int, ...] | None, tuple[str, ...]]:
    """The drafts, KV methods and draft TP degrees `engine` runs at `batch`, and what it left
    out."""
    if engine is None:
        return drafts, methods, draft_tp, ()
    beyond: list[str] = []
    if batch > 1 and not engine.speculative.batched and drafts:
        return [], methods, draft_tp, (BATCHED,)  # it speculates one sequence at a time
    for kind in dict.fromkeys(draft_kind_of(d) for d in drafts):  # self, a model, a family
        if not engine.runs(kind):
            drafts = [d for d in drafts if draft_kind_of(d) != kind]
            beyond.append(NEEDS[kind])
    if not engine.speculative.tree_verify and any(getattr(d, "is_tree", False) for d in drafts):
        drafts = [d.as_chain() if isinstance(d, DraftKindSpec) else d for d in drafts]
        beyond.append(TREE)
    if not engine.speculative.compressed_draft_kv and any(m != "full" for m in methods):
        beyond.append(COMPRESSED)
        if "full" not in methods:
            drafts = []  # nothing speculative left to plan
        methods = ("full",)
    allowed = draft_tp_degrees(engine, num_gpus)
    if allowed is not None:
        # Degrees asked for, else every divisor of num_gpus (a draft that cannot split over the
        # target's GPUs runs on fewer where the engine lets it).
        wanted = draft_tp or tuple(d for d in range(1, num_gpus + 1) if num_gpus % d == 0)
        left_out = [str(d) for d in wanted if d not in allowed]
        if left_out and any(draft_kind_of(d) == "draft_model" for d in drafts):
            beyond.append(f"a draft on {', '.join(left_out)} GPUs")
        draft_tp = tuple(d for d in wanted if d in allowed) or allowed
    return drafts, methods, draft_tp, tuple(beyond)


def lacks(
    engine: EngineSpec, needs: Sequence[str], draft_tp: tuple[int, int] | None = None
) -> list[str]:
    """What of `needs` (and, as (draft GPUs, target GPUs), of a separate draft's placement)
    `engine` cannot run."""
    has = {text: engine.runs(kind) for kind, text in NEEDS.items()}
    has[COMPRESSED] = engine.speculative.compressed_draft_kv
    has[TREE] = engine.speculative.tree_verify
    has[BATCHED] = engine.speculative.batched
    out = [n for n in needs if not has.get(n, True)]
    if draft_tp is not None and DRAFT_MODEL in needs:
        draft_n, num_gpus = draft_tp
        if draft_n not in (draft_tp_degrees(engine, num_gpus) or (draft_n,)):
            out.append(f"a draft on {draft_n} of the target's {num_gpus} GPUs")
    return out


def engines_that_run(
    needs: Sequence[str], draft_tp: tuple[int, int] | None = None, vendor: str | None = None
) -> list[str]:
    """Shipped engines whose features cover everything in `needs` (and place a separate draft
    on draft_tp = (draft GPUs, target GPUs) when given) on `vendor`'s hardware (None: any)."""
    return [e.id for e in shipped_on(vendor) if not lacks(e, needs, draft_tp)]


def shipped_on(vendor: str | None) -> list[EngineSpec]:
    """The shipped engines that run on `vendor`'s hardware (None: every one)."""
    from magicplan.specs import list_engines

    return [e for e in list_engines() if vendor is None or e.vendors in (None, []) or
            vendor in (e.vendors or [])]  # fmt: skip


def needs_of(strategy: dict[str, Any], batch: int = 1) -> list[str]:
    """The features a plan entry needs (its draft kind: self-speculation, a separate draft, a
    drafting family; a compressed cache)."""
    out = [NEEDS.get(strategy["draft_model"], DRAFT_MODEL)]
    if strategy["kv_method"] not in ("full", "none"):
        out.append(COMPRESSED)
    if verifies_tree(strategy):
        out.append(TREE)
    if batch > 1:
        out.append(BATCHED)
    return out


def beyond_report(
    engine: EngineSpec,
    best: dict[str, Any] | None,
    free: dict[str, Any],
    num_gpus: int,
    batch: int = 1,
    vendor: str | None = None,
) -> dict[str, Any] | None:
    """What an engine with more features would give: the unrestricted plan's best (`free`),
    when it is a faster speculative strategy than `engine`'s own best on `num_gpus`."""
    top = free.get("best")
    if top is None or top["draft_model"] == "none":
        return None
    own = best["t_spec_per_token_ms"] if best is not None else float("inf")
    if top["t_spec_per_token_ms"] >= own:
        return None
    out = outside(engine, top, num_gpus, batch, vendor)
    if out is None:  # faster for a choice the user ruled out, not for the engine's features
        return None
    return out | {
        "speedup_given_up": top["speedup"] - (best["speedup"] if best is not None else 1.0)
    }


STRATEGY_KEYS = ("draft_model", "kv_method", "kv_budget", "gamma", "draft_num_gpus", "speedup",
                 "t_spec_per_token_ms", "throughput_tokens_per_s", "acceptance",
                 "acceptance_source", "draft_kind", "tree_tokens", "accepted_per_step",
                 "acceptance_input")  # fmt: skip


def outside(
    engine: EngineSpec, top: dict[str, Any], num_gpus: int, batch: int = 1,
    vendor: str | None = None,
) -> dict[str, Any] | None:  # fmt: skip
    """What `engine` lacks to run the plan entry `top` on `num_gpus` GPUs at `batch` and which
    shipped engines run it (None: `engine` runs it)."""
    needs, draft_tp = needs_of(top), (int(top["draft_num_gpus"]), num_gpus)
    at_batch = needs_of(top, batch)
    lacking = lacks(engine, at_batch, draft_tp)
    if not lacking:
        return None
    return {
        "engine": engine.id,
        "needs": needs,
        "engine_lacks": lacking,
        "engines_that_run_it": engines_that_run(at_batch, draft_tp, vendor),
        "strategy": {k: top[k] for k in STRATEGY_KEYS if k in top},
    }
