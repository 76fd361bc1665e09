"""Engine export: a ready-to-use speculative config for vLLM or SGLang, plus the
`num_speculative_tokens_per_batch_size` table [[start_bs, end_bs, K], ...] planned across batch
sizes at the given context (K = 0 where speculation does not pay). See docs/engines.md for what
each engine can and cannot express."""

from __future__ import annotations

from typing import Any

from magicplan.cost.memory import max_batch, memory_per_gpu, usable_bytes
from magicplan.errors import MagicplanError
from magicplan.planner.optimizer import default_drafts, plan
from magicplan.specs import load_model
from magicplan.specs.hardware import HardwareSpec
from magicplan.specs.model import ModelSpec

ENGINES = ("vllm", "sglang")
MAX_EXPORT_BATCH = 1024  # largest batch size planned for the table


def gamma_table(
    hardware: HardwareSpec, num_gpus: int, target: ModelSpec, context: int, **plan_kw: Any
) -> list[list[int]]:
    """[[start_bs, end_bs, K], ...]: the best γ for each batch range (0: do not speculate)."""
    fixed = float(memory_per_gpu(target, num_gpus, 0, context, speculative=False)["total"])
    per_seq = (
        float(memory_per_gpu(target, num_gpus, 1, context, speculative=False)["total"]) - fixed
    )
    fit = float(max_batch(usable_bytes(hardware.memory_bytes), fixed, per_seq))
    top = int(min(fit, MAX_EXPORT_BATCH))
    if top < 1:
        raise MagicplanError(
            f"batch 1 at context {context} does not fit on {num_gpus}× {hardware.id}"
        )
    sizes = sorted({*(2**i for i in range(11) if 2**i <= top), top})
    table: list[list[int]] = []
    for i, b in enumerate(sizes):
        best = plan(hardware, num_gpus, target, b, context, top=1, **plan_kw)["best"]
        k = (
            0
            if best is None or best["draft_model"] == "none" or best["speedup"] <= 1
            else best["gamma"]
        )
        start = sizes[i - 1] + 1 if i else 1
        if table and table[-1][2] == k:
            table[-1][1] = b
        else:
            table.append([start, b, int(k)])
    return table


def expressible_kwargs(engine: str, target: ModelSpec, plan_kw: dict[str, Any]) -> dict[str, Any]:
    """Planner arguments restricted to what `engine` can run: a separate draft model that
    shares the target's vocab, with its own full KV cache (no compressed self-draft)."""
    drafts = plan_kw.get("drafts") or default_drafts(target)
    small = [d for d in drafts if d is not None]
    return plan_kw | {"drafts": small, "kv_methods": ["full"]}


def export(
    engine: str,
    report: dict[str, Any],
    hardware: HardwareSpec,
    num_gpus: int,
    target: ModelSpec,
    **plan_kw: Any,
) -> dict[str, Any]:
    """Engine JSON for the workload of `report`: the best strategy the engine can express, the
    per-batch-size γ table for it, and what the planner's overall best would need."""
    if engine not in ENGINES:
        raise MagicplanError(f"export must be one of {', '.join(ENGINES)}; got '{engine}'")
    kw = expressible_kwargs(engine, target, plan_kw)
    limits: list[str] = []
    overall = report["best"]
    if overall and overall["draft_model"] == "self" and overall["kv_method"] != "full":
        limits.append(
            f"{engine} cannot draft with the target over a compressed KV cache: the "
            f"planner's best ({overall['kv_method']} budget {overall['kv_budget']}, "
            f"γ={overall['gamma']}, {overall['speedup']:.2f}×) is not expressible; the "
            "config below is the best separate-draft, full-KV strategy"
        )
    if not kw["drafts"]:
        return _result(
            engine,
            report,
            target,
            None,
            [],
            [*limits, f"no shipped draft model shares {target.id}'s vocab: nothing to configure"],
            overall,
        )
    best = plan(hardware, num_gpus, target, report["batch"], report["context"], top=1, **kw)["best"]
    table = gamma_table(hardware, num_gpus, target, report["context"], **kw)
    config = None
    if best is None or best["draft_model"] == "none" or best["speedup"] <= 1:
        limits.append("no expressible strategy pays at the planned batch: run without a draft")
    else:
        config = _engine_config(engine, _hf(best["draft_model"]), best)
    if engine == "vllm":
        limits.append(
            "vLLM takes one num_speculative_tokens: apply the per-batch-size table from "
            "your router, or restart with the K of the expected batch range"
        )
    return _result(engine, report, target, config, table, limits, overall, best)


def _result(
    engine: str,
    report: dict[str, Any],
    target: ModelSpec,
    config: Any,
    table: list[list[int]],
    limits: list[str],
    overall: Any,
    chosen: Any = None,
) -> dict[str, Any]:
    return {
        "engine": engine,
        "target": target.hf_id or target.id,
        "batch": report["batch"],
        "context": report["context"],
        "speculative_config": config,
        "num_speculative_tokens_per_batch_size": table,
        "limitations": limits,
        "exported_strategy": chosen,
        "planner_best": overall,
    }


def _hf(model_id: str) -> str:
    m = load_model(model_id)
    return m.hf_id or m.id


def _engine_config(engine: str, draft: str, best: dict[str, Any]) -> dict[str, Any]:
    if engine == "vllm":
        return {
            "method": "draft_model",
            "model": draft,
            "num_speculative_tokens": best["gamma"],
            "draft_tensor_parallel_size": best["draft_num_gpus"],
        }
    return {
        "speculative_algorithm": "STANDALONE",
        "speculative_draft_model_path": draft,
        "speculative_num_steps": best["gamma"],
        "speculative_eagle_topk": 1,
        "speculative_num_draft_tokens": best["gamma"] + 1,
    }
