"""Engine export: a ready-to-use speculative config for vLLM or SGLang, plus the
`num_speculative_tokens_per_batch_size` table [[start_bs, end_bs, K], ...] planned at every
batch size that fits in memory at the given context with the exported draft (K = 0 where
speculation does not pay). Whatever the planner's best strategy needs that the engine cannot
express is said in `limitations` and `dropped`, with the speedup given up.
See docs/engines.md for what each engine can and cannot express.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from magicplan.cost.methods import KV_METHODS
from magicplan.errors import MagicplanError
from magicplan.planner.analysis import best_speculative
from magicplan.planner.batches import Curve, ar_max_batch, curves
from magicplan.planner.engine_config import engine_config, family_limits
from magicplan.planner.engine_features import FAMILIES, restrict
from magicplan.planner.evaluation import drafts_of
from magicplan.planner.inputs import chains_too, default_drafts, plan_inputs, tau_table_of
from magicplan.planner.optimizer import plan
from magicplan.planner.records import Strategy, verifies_tree
from magicplan.specs import load_engine, load_model
from magicplan.specs.drafts import DraftKindSpec
from magicplan.specs.engine import EngineSpec
from magicplan.specs.hardware import HardwareSpec
from magicplan.specs.model import ModelSpec
from magicplan.specs.registry import as_draft, as_engine

ENGINES = ("vllm", "sglang")
MAX_EXPORT_BATCH = 1024  # largest batch size planned for the table


def _top(
    hardware: HardwareSpec, num_gpus: int, target: ModelSpec, context: int, plan_kw: dict[str, Any]
) -> int:
    fits = ar_max_batch(hardware, num_gpus, target, context, plan_kw.get("memory_utilization"))
    top = min(fits, MAX_EXPORT_BATCH)
    if top < 1:
        raise MagicplanError(
            f"context {context}: batch 1 does not fit on {num_gpus}× {hardware.id}"
        )
    return top


def ranges(gamma: np.ndarray) -> list[list[int]]:
    """[[start_bs, end_bs, K], ...] from K per batch size 1..N (equal neighbours merged)."""
    table: list[list[int]] = []
    for b, k in enumerate(gamma.astype(int).tolist(), start=1):
        if table and table[-1][2] == k:
            table[-1][1] = b
        else:
            table.append([b, b, k])
    return table


def gamma_table(
    hardware: HardwareSpec, num_gpus: int, target: ModelSpec, context: int, **plan_kw: Any
) -> list[list[int]]:
    """[[start_bs, end_bs, K], ...]: the best γ at every batch size (0: do not speculate) up to
    the largest that fits with plain AR, in one array pass. `plan_kw` fixes the draft; with
    several, each batch takes the fastest."""
    top = _top(hardware, num_gpus, target, context, plan_kw)
    inp = plan_inputs(hardware, num_gpus, target, 1, context, **plan_kw)
    found = curves(inp, drafts_of(inp), top)
    speedups = np.stack([np.nan_to_num(c.speedup, nan=0.0) for c in found])
    best = np.argmax(speedups, axis=0)
    return ranges(np.stack([c.gamma for c in found])[best, np.arange(top)])


def expressible_kwargs(
    engine: str,
    target: ModelSpec,
    num_gpus: int,
    plan_kw: dict[str, Any],
    best: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Planner options restricted to what `engine`'s profile says it runs (engine_profiles/:
    vLLM and SGLang run a separate draft model sharing the target's tokenizer, with its own full
    KV cache, on 1 or all GPUs, or all GPUs, and the drafting families they ship: EAGLE,
    EAGLE-3, MTP, n-gram lookup, and Medusa on vLLM), planned on the engine named in `plan_kw`
    (else this one)."""
    spec = load_engine(engine)
    planned_on = as_engine(plan_kw.get("engine"))
    if planned_on is not None and planned_on.speculative.export == engine:
        spec = planned_on  # the plan's engine writes this config (vLLM V0 for vllm): its features
    drafts = [as_draft(d) for d in (plan_kw.get("drafts") or default_drafts(target))]
    drafts, methods, tp, _ = restrict(
        spec, drafts, tuple(plan_kw.get("kv_methods") or KV_METHODS), None, num_gpus
    )
    if spec.speculative.tree_verify and plan_kw.get("accepted_per_step") is None:
        table = tau_table_of(plan_kw.get("tau_table"))
        drafts += chains_too(drafts, target, table, plan_kw.get("acceptance") is not None)
    elif spec.speculative.tree_verify and best is not None and best["draft_model"] != "none":
        # the plan's own chain of a tree family (its τ the user's): the engine runs it too
        chain = drafted(best)
        if getattr(chain, "drafted_as_chain", False) and spec.runs(chain.kind):
            drafts.append(chain)
    # what `engine` runs, priced on the plan's engine (whose own features no longer bound it)
    return plan_kw | {"drafts": drafts, "kv_methods": list(methods), "draft_num_gpus": tp,
                      "engine": plan_kw.get("engine") or spec, "any_strategy": True}  # fmt: skip


def drafted(chosen: dict[str, Any]) -> Any:
    """The draft of a plan entry as it was planned: a tree family verifying γ + 1 tokens is
    the family drafted as a chain."""
    draft = as_draft(chosen["draft_model"])
    if isinstance(draft, DraftKindSpec) and draft.is_tree and not verifies_tree(chosen):
        return draft.as_chain()
    return draft


def _check(engine: str) -> None:
    if engine not in ENGINES:
        raise MagicplanError(f"export must be one of {', '.join(ENGINES)}; got '{engine}'")


def export(
    fmt: str,
    report: dict[str, Any],
    hardware: HardwareSpec,
    num_gpus: int,
    target: ModelSpec,
    **plan_kw: Any,
) -> dict[str, Any]:
    """Engine JSON (`fmt`: vllm or sglang) for the workload of `report` (a `plan` result): the
    best strategy the engine can express, its per-batch-size γ table, and what the planner's
    overall best would need."""
    _check(fmt)
    kw = expressible_kwargs(fmt, target, num_gpus, plan_kw, report["best"])
    limits = _sglang(fmt)
    if not kw["drafts"]:
        limits.append(_no_draft(fmt, target, plan_kw))
        return _result(fmt, report, target, None, [], limits)
    at_batch = plan(
        hardware, num_gpus, target, report["batch"], report["context"], top=3, beyond=False, **kw
    )
    chosen = best_speculative(at_batch)
    if chosen is None:
        limits.append(_nothing_fits(report, at_batch))
        return _result(fmt, report, target, None, [], limits)
    draft = drafted(chosen)
    fixed = kw | {"drafts": [draft], "draft_num_gpus": [chosen["draft_num_gpus"]]
                  if isinstance(draft, ModelSpec) else None}  # fmt: skip
    table = gamma_table(hardware, num_gpus, target, report["context"], **fixed)
    dropped = _dropped(fmt, report["best"], chosen, report.get("engine", ""))
    if dropped is not None:
        limits.insert(0, dropped["text"])
    if chosen["speedup"] <= 1:
        limits.append(f"speculation does not pay at batch {report['batch']} (K = 0 in its range)")
    config = one_k(fmt, kw, engine_config(fmt, _hf(chosen["draft_model"]), chosen, table),
                   chosen, limits)  # fmt: skip
    limits += family_limits(fmt, chosen)
    return _result(fmt, report, target, config, table, limits, chosen, dropped)


def _no_draft(fmt: str, target: ModelSpec, plan_kw: dict[str, Any]) -> str:
    """Why no draft is configured when none the engine runs is left: the drafts asked, or the
    shipped ones."""
    asked = plan_kw.get("drafts")
    if asked:
        names = ", ".join(str(getattr(d, "id", None) or d or "self") for d in asked)
        return f"{fmt} runs none of the drafts asked ({names}): nothing to configure"
    return f"no shipped draft model shares {target.id}'s vocab: nothing to configure"


def _nothing_fits(report: dict[str, Any], at_batch: dict[str, Any]) -> str:
    """Why no draft is configured: the drafts do not fit (AR does), or nothing fits at all."""
    fit = at_batch["feasibility"]
    if fit["fits"]:
        return (
            f"no strategy the engine runs fits in memory at batch {report['batch']}: run without a "
            f"draft (plain AR fits: {fit['memory_needed_per_gpu_gb']:.1f} of "
            f"{fit['memory_usable_per_gpu_gb']:.1f} GB per GPU)"
        )
    return f"nothing fits: {at_batch['recommendation']}"


def _dropped(
    engine: str, best: dict[str, Any] | None, chosen: dict[str, Any], plan_engine: str = ""
) -> dict[str, Any] | None:
    """What the planner's best needs that `engine` cannot express, and the speedup given up (or
    why the config is faster: the plan's engine cannot run it)."""
    if best is None:
        return None
    label, speed = Strategy.of(chosen).label(), f"{chosen['speedup']:.2f}×"
    if best["draft_model"] == "none":  # the plan's engine speculates at no gain here
        return {"planner_best": {"draft_model": "none"}, "reasons": [],
                "planner_best_speedup": 1.0, "exported_speedup": chosen["speedup"],
                "speedup_given_up": 0.0,
                "text": f"the planner's best on {plan_engine} is plain AR; {engine} runs "
                        f"{label} ({speed}), which {plan_engine} cannot run"}  # fmt: skip
    if Strategy.of(best) == Strategy.of(chosen) and verifies_tree(best) == verifies_tree(chosen):
        return None
    reasons = []
    spec = load_engine(engine)
    if verifies_tree(best) and not verifies_tree(chosen) and not spec.speculative.tree_verify:
        reasons.append(f"{engine} verifies no token trees: it drafts {best['draft_model']} as a "
                       "chain, accepting fewer tokens per round")  # fmt: skip
    if best["draft_model"] == "self":
        reasons.append(f"{engine} cannot draft with the target itself (self-speculation)")
    elif best["draft_model"] in FAMILIES and not spec.runs(best["draft_model"]):
        reasons.append(f"{engine} cannot run {FAMILIES[best['draft_model']]}")
    if best["kv_method"] not in ("full", "none"):
        reasons.append(
            f"{engine} keeps a draft's full KV cache: it cannot run a compressed draft cache "
            f"({best['kv_method']} budget {best['kv_budget']})"
        )
    allowed = "1 or all" if engine == "vllm" else "all"
    separate = best["draft_model"] not in ("self", *FAMILIES)
    if separate and best["draft_num_gpus"] != chosen["draft_num_gpus"]:
        reasons.append(f"{engine} runs a draft on {allowed} of the target's GPUs")
    given_up = max(best["speedup"] - chosen["speedup"], 0.0)
    planned = f"the planner's best ({Strategy.of(best).label()}, {best['speedup']:.2f}×)"
    if given_up > 0:
        text = (f"{planned} is not expressible: {'; '.join(reasons) or 'not in the engine'}; "
                f"the config is the best strategy it can run ({label}, {speed}), giving up "
                f"{given_up:.2f}× ({1 - chosen['speedup'] / best['speedup']:.0%} of the "
                "per-token speed)")  # fmt: skip
    else:  # the export engine runs something faster that the plan's engine cannot
        not_here = f"; {'; '.join(reasons)}" if reasons else ""
        text = (f"the config ({label}, {speed}) is faster than {planned}: the plan's engine "
                f"({plan_engine}) cannot run it{not_here}")  # fmt: skip
    return {"planner_best": Strategy.of(best).as_dict(), "reasons": reasons,
            "planner_best_speedup": best["speedup"], "exported_speedup": chosen["speedup"],
            "speedup_given_up": given_up, "text": text}  # fmt: skip


def one_k(
    fmt: str, kw: dict[str, Any], config: dict[str, Any], chosen: dict[str, Any],
    limits: list[str],
) -> dict[str, Any]:  # fmt: skip
    """vLLM's config for a release without γ per batch size (the plan's engine says
    `dynamic_gamma: false`: vLLM V0): one num_speculative_tokens, the chosen γ, and a limitation
    saying so; else `config` as it is."""
    engine = kw.get("engine")
    spec = engine if isinstance(engine, EngineSpec) else load_engine(engine)
    if fmt != "vllm" or spec.speculative.export != fmt or spec.speculative.dynamic_gamma:
        return config  # planned elsewhere, or on a vLLM with γ per batch size
    limits.append(
        f"{spec.id} runs one num_speculative_tokens per server "
        "(num_speculative_tokens_per_batch_size is vLLM V1's): the per-batch-size table is for a "
        "router, or disable speculation above a batch size (speculative_disable_by_batch_size); "
        "releases before speculative_config take these as engine arguments (docs.vllm.ai v0.6 "
        "spec_decode: --speculative-model [ngram] or the draft, --num-speculative-tokens, "
        "--ngram-prompt-lookup-max)"
    )
    out = {k: v for k, v in config.items() if k != "num_speculative_tokens_per_batch_size"}
    return out | {"num_speculative_tokens": int(chosen["gamma"])}


def _sglang(engine: str) -> list[str]:
    if engine != "sglang":
        return []
    return [
        "SGLang runs one speculative_num_steps per server: the per-batch-size table is for "
        "a router (send each batch-size range to a server started with its K)"
    ]


def export_batches(
    fmt: str,
    hardware: HardwareSpec,
    num_gpus: int,
    target: ModelSpec,
    context: int,
    **plan_kw: Any,
) -> dict[str, Any]:
    """Engine JSON without a batch size: the γ table over every batch size that fits in
    memory, with the expressible draft (and TP degree) that gains most on average over them
    (the mean of max(speedup, 1): 1 where K = 0)."""
    _check(fmt)
    kw = expressible_kwargs(fmt, target, num_gpus, plan_kw)
    limits = [
        *_sglang(fmt),
        f"{fmt} cannot draft with the target itself or over a compressed draft KV cache: "
        "`magicplan plan --batch B` says what that gives up at a batch size",
    ]
    report = {"batch": None, "context": context, "best": None}
    if not kw["drafts"]:
        limits.append(_no_draft(fmt, target, plan_kw))
        return _result(fmt, report, target, None, [], limits)
    top = _top(hardware, num_gpus, target, context, kw)
    inp = plan_inputs(hardware, num_gpus, target, 1, context, **kw)
    found = [c for c in curves(inp, drafts_of(inp), top) if not np.all(np.isnan(c.speedup))]
    if not found:  # no draft with a known acceptance (the notes say which)
        limits += [
            f"no acceptance for the drafts {fmt} runs here: nothing to configure",
            *inp.notes,
        ]
        return _result(fmt, report, target, None, [], limits)
    best = max(found, key=lambda c: float(np.mean(np.where(c.gamma > 0, c.speedup, 1.0))))
    table = ranges(best.gamma)
    chosen = _batch_strategy(best)
    if not np.any(best.gamma > 0):
        limits.append(f"speculation pays at no batch size up to {top}: K = 0 everywhere")
    config = one_k(fmt, kw, engine_config(fmt, _hf(chosen["draft_model"]), chosen, table),
                   chosen, limits)  # fmt: skip
    limits += family_limits(fmt, chosen)
    return _result(fmt, report, target, config, table, limits, chosen)


def _batch_strategy(c: Curve) -> dict[str, Any]:
    """The exported draft over a batch range: its K where most batch sizes speculate."""
    pays = c.gamma[c.gamma > 0]
    gamma = Counter(pays.tolist()).most_common(1)[0][0] if pays.size else 0
    gain = np.where(c.gamma > 0, c.speedup, 1.0)
    return {"draft_model": c.draft.draft_id, "draft_kind": c.draft.kind,
            "kv_method": "full" if c.draft.drafter.kv_cache else "none", "kv_budget": 0,
            "gamma": int(gamma), "draft_num_gpus": c.draft.draft_num_gpus,
            "tree_tokens": c.draft.tree_tokens or int(gamma) + 1,
            "batches": [1, int(c.batches[-1])], "mean_speedup_over_batches": float(gain.mean()),
            "max_speedup": float(np.nanmax(c.speedup)) if np.any(c.fits) else None}  # fmt: skip


def _result(
    engine: str, report: dict[str, Any], target: ModelSpec, config: Any,
    table: list[list[int]], limits: list[str], chosen: Any = None, dropped: Any = None,
) -> dict[str, Any]:  # fmt: skip
    if config is None:  # no config: the router advice about its table has nothing to route
        limits = [x for x in limits if x not in _sglang(engine)]
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
        "dropped": dropped,
    }


def _hf(model_id: str) -> str | None:
    """The draft's Hugging Face repo id (None for a family: its head checkpoint is the user's)."""
    if model_id in FAMILIES:
        return None
    m = load_model(model_id)
    return m.hf_id or m.id
