"""Engine export: a ready-to-use speculative config for vLLM or SGLang, plus the
`num_speculative_tokens_per_batch_size` table [[start_bs, end_bs, K], ...] planned across batch
sizes at the given context with the exported draft (K = 0 where speculation does not pay).
See docs/engines.md for what each engine can and cannot express."""

from __future__ import annotations

from typing import Any

from magicplan.cost.memory import max_batch, memory_per_gpu, usable_bytes
from magicplan.errors import MagicplanError
from magicplan.planner.analysis import best_speculative
from magicplan.planner.optimizer import default_drafts, plan
from magicplan.setup import memory_fraction
from magicplan.specs import load_model
from magicplan.specs.hardware import HardwareSpec
from magicplan.specs.model import ModelSpec

ENGINES = ("vllm", "sglang")
MAX_EXPORT_BATCH = 1024  # largest batch size planned for the table


def gamma_table(
    hardware: HardwareSpec, num_gpus: int, target: ModelSpec, context: int, **plan_kw: Any
) -> list[list[int]]:
    """[[start_bs, end_bs, K], ...]: the best γ for each batch range (0: do not speculate),
    from planning every power of two up to the largest batch that fits (AR memory)."""
    fixed = float(memory_per_gpu(target, num_gpus, 0, context, speculative=False)["total"])
    per_seq = (
        float(memory_per_gpu(target, num_gpus, 1, context, speculative=False)["total"]) - fixed
    )
    utilization = memory_fraction(plan_kw.get("memory_utilization"))
    fit = float(max_batch(usable_bytes(hardware.memory_bytes, utilization), fixed, per_seq))
    top = int(min(fit, MAX_EXPORT_BATCH))
    if top < 1:
        raise MagicplanError(
            f"context {context}: batch 1 does not fit on {num_gpus}× {hardware.id}"
        )
    sizes = sorted({*(2**i for i in range(11) if 2**i <= top), top})
    table: list[list[int]] = []
    for i, b in enumerate(sizes):
        best = plan(hardware, num_gpus, target, b, context, top=1, **plan_kw)["best"]
        pays = best is not None and best["draft_model"] != "none" and best["speedup"] > 1
        k = int(best["gamma"]) if best is not None and pays else 0
        if table and table[-1][2] == k:
            table[-1][1] = b
        else:
            table.append([sizes[i - 1] + 1 if i else 1, b, k])
    return table


def expressible_kwargs(
    engine: str, target: ModelSpec, num_gpus: int, plan_kw: dict[str, Any]
) -> dict[str, Any]:
    """Planner options restricted to what `engine` runs: a separate draft model sharing the
    target's vocab, with its own full KV cache, on 1 or all GPUs (vLLM) or all GPUs (SGLang)."""
    drafts = plan_kw.get("drafts") or default_drafts(target)
    tp = sorted({1, num_gpus}) if engine == "vllm" else [num_gpus]
    return plan_kw | {"drafts": [d for d in drafts if d is not None], "kv_methods": ["full"],
                      "draft_num_gpus": tp}  # fmt: skip


def export(
    engine: str,
    report: dict[str, Any],
    hardware: HardwareSpec,
    num_gpus: int,
    target: ModelSpec,
    **plan_kw: Any,
) -> dict[str, Any]:
    """Engine JSON for the workload of `report` (a `plan` result): the best strategy the engine
    can express, its per-batch-size γ table, and what the planner's overall best would need."""
    if engine not in ENGINES:
        raise MagicplanError(f"export must be one of {', '.join(ENGINES)}; got '{engine}'")
    kw = expressible_kwargs(engine, target, num_gpus, plan_kw)
    limits = _limits(engine, report["best"])
    if not kw["drafts"]:
        limits.append(f"no shipped draft model shares {target.id}'s vocab: nothing to configure")
        return _result(engine, report, target, None, [], limits)
    at_batch = plan(hardware, num_gpus, target, report["batch"], report["context"], top=3, **kw)
    chosen = best_speculative(at_batch)
    if chosen is None:
        limits.append("no separate-draft strategy fits in memory: run without a draft")
        return _result(engine, report, target, None, [], limits)
    fixed = kw | {"drafts": [load_model(chosen["draft_model"])],
                  "draft_num_gpus": [chosen["draft_num_gpus"]]}  # fmt: skip
    table = gamma_table(hardware, num_gpus, target, report["context"], **fixed)
    if chosen["speedup"] <= 1:
        limits.append(f"speculation does not pay at batch {report['batch']} (K = 0 in its range)")
    config = _engine_config(engine, _hf(chosen["draft_model"]), chosen, table)
    return _result(engine, report, target, config, table, limits, chosen)


def _limits(engine: str, overall: dict[str, Any] | None) -> list[str]:
    out = []
    if overall and overall["draft_model"] == "self" and overall["kv_method"] != "full":
        out.append(
            f"{engine} cannot draft with the target over a compressed KV cache: the planner's "
            f"best ({overall['kv_method']} budget {overall['kv_budget']}, γ={overall['gamma']}, "
            f"{overall['speedup']:.2f}×) is not expressible; the config is the best "
            "separate-draft, full-KV strategy"
        )
    if engine == "sglang":
        out.append(
            "SGLang runs one speculative_num_steps per server: the per-batch-size table is for "
            "a router (send each batch-size range to a server started with its K)"
        )
    return out


def _result(
    engine: str, report: dict[str, Any], target: ModelSpec, config: Any,
    table: list[list[int]], limits: list[str], chosen: Any = None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "engine": engine,
        "target": target.hf_id or target.id,
        "batch": report["batch"],
        "context": report["context"],
        "speculative_config": config,
        "num_speculative_tokens_per_batch_size": table,
        "limitations": limits,
        "exported_strategy": chosen,
        "planner_best": report["best"],
    }


def _hf(model_id: str) -> str:
    m = load_model(model_id)
    return m.hf_id or m.id


def _engine_config(
    engine: str, draft: str, best: dict[str, Any], table: list[list[int]]
) -> dict[str, Any]:
    k = max([best["gamma"], *(row[2] for row in table)])  # the engine's K caps the table's
    if engine == "vllm":
        return {
            "method": "draft_model",
            "model": draft,
            "num_speculative_tokens": k,
            "num_speculative_tokens_per_batch_size": table,
            "draft_tensor_parallel_size": best["draft_num_gpus"],
        }
    return {
        "speculative_algorithm": "STANDALONE",
        "speculative_draft_model_path": draft,
        "speculative_num_steps": best["gamma"],
        "speculative_eagle_topk": 1,
        "speculative_num_draft_tokens": best["gamma"] + 1,
    }
