"""What the serving engine can run, applied to the planner's search: a plan for vLLM proposes
only what vLLM runs (so `plan` and `--export` agree), and says what an engine with more features
would give (`beyond_engine`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from magicplan.cost.drafts import Draft, draft_kind_of
from magicplan.specs.engine import EngineSpec
from magicplan.specs.hardware import HardwareSpec

SELF = "self-speculation (drafting with the target itself)"
DRAFT_MODEL = "a separate draft model"
COMPRESSED = "a compressed draft KV cache (streamingllm, snapkv, topk)"
FAMILIES = {
    "eagle": "EAGLE draft heads (eagle)",
    "eagle3": "EAGLE-3 draft heads (eagle3)",
    "medusa": "Medusa heads (medusa)",
    "mtp": "the model's multi-token-prediction module (mtp)",
    "ngram": "n-gram prompt lookup (ngram)",
}
NEEDS = {"self": SELF, "draft_model": DRAFT_MODEL, **FAMILIES}  # draft kind → the feature


def runnable(engine: EngineSpec | None, hardware: HardwareSpec) -> EngineSpec | None:
    """The engine whose features bound a plan: the one named; with none, the default engine,
    unless the hardware profile carries its own calibration (its engine's features are not
    known: nothing is left out)."""
    if engine is not None:
        return engine
    if hardware.calibration is not None:
        return None
    from magicplan.specs import load_engine

    return load_engine()


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
) -> tuple[list[Draft], tuple[str, ...], tuple[int, ...] | None, tuple[str, ...]]:
    """The drafts, KV methods and draft TP degrees `engine` runs, and what it left out."""
    if engine is None:
        return drafts, methods, draft_tp, ()
    beyond: list[str] = []
    for kind in dict.fromkeys(draft_kind_of(d) for d in drafts):
        if not engine.runs(kind):
            drafts = [d for d in drafts if draft_kind_of(d) != kind]
            beyond.append(NEEDS[kind])
    if not engine.speculative.compressed_draft_kv and any(m != "full" for m in methods):
        beyond.append(COMPRESSED)
        if "full" not in methods:
            drafts = []  # nothing speculative left to plan
        methods = ("full",)
    allowed = draft_tp_degrees(engine, num_gpus)
    if allowed is not None:
        kept = tuple(d for d in (draft_tp or allowed) if d in allowed)
        if draft_tp and len(kept) < len(draft_tp):
            beyond.append(f"a draft on {', '.join(str(d) for d in draft_tp if d not in kept)} GPUs")
        draft_tp = kept or allowed
    return drafts, methods, draft_tp, tuple(beyond)


def engines_that_run(
    needs: Sequence[str], engines: Sequence[EngineSpec] | None = None
) -> list[str]:
    """Shipped engines (or `engines`) whose features cover everything in `needs`."""
    from magicplan.specs import list_engines

    kinds = {text: kind for kind, text in NEEDS.items()}

    def covers(e: EngineSpec) -> bool:
        return all(
            e.speculative.compressed_draft_kv if n == COMPRESSED else e.runs(kinds.get(n, n))
            for n in needs
        )

    return [e.id for e in (list_engines() if engines is None else engines) if covers(e)]


def needs_of(strategy: dict[str, Any]) -> list[str]:
    """The features a plan entry needs (its draft kind; a compressed cache)."""
    name = strategy["draft_model"]
    out = [NEEDS.get(name, DRAFT_MODEL)]
    if strategy["kv_method"] not in ("full", "none"):
        out.append(COMPRESSED)
    return out


def beyond_report(
    engine: EngineSpec, best: dict[str, Any] | None, free: dict[str, Any]
) -> dict[str, Any] | None:
    """What an engine with more features would give: the unrestricted plan's best (`free`),
    when it is a faster speculative strategy than `engine`'s own best."""
    top = free.get("best")
    if top is None or top["draft_model"] == "none":
        return None
    own = best["t_spec_per_token_ms"] if best is not None else float("inf")
    if top["t_spec_per_token_ms"] >= own:
        return None
    keys = ("draft_model", "kv_method", "kv_budget", "gamma", "draft_num_gpus", "speedup",
            "t_spec_per_token_ms", "throughput_tokens_per_s")  # fmt: skip
    every = needs_of(top)
    needs = [n for n in every if not engines_that_run([n], [engine])]
    return {
        "engine": engine.id,
        "needs": needs,
        "engines_that_run_it": engines_that_run(every),
        "strategy": {k: top[k] for k in keys},
        "speedup_given_up": top["speedup"] - (best["speedup"] if best is not None else 1.0),
    }
