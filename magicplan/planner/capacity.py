"""Capacity planning: the fewest GPUs (replicas × tensor-parallel degree) that serve a target
tokens/s at a per-token latency SLO, with and without speculative decoding, and what SD saves.

A workload is a context-length mix [(context, fraction), ...] or [(context, fraction, budget)]
with a per-request draft KV budget for that group. Per TP degree, every batch up to the largest
that fits is searched (`planner.batches`: per-token time grows with the batch, so bisection):
the speculative strategy and batch with the most tokens/s under the SLO are chosen at the mix's
mean context (KV bytes are linear in context, so the mean gives the mix's memory); its step
times then come from the mix itself (`cost.mixture`: each group attends its own context and
keeps its own min(K, S) draft cache), and Ω is the fraction-weighted Ω of the groups, each at
its own acceptance rate. The batch is lowered where the mix misses the SLO.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from magicplan.arguments import counts_arg, plan_arguments, workload_arg
from magicplan.cost.memory import memory_terms
from magicplan.cost.mixture import check_mix, mixed_forward_time
from magicplan.cost.operators import Array, shard
from magicplan.cost.roofline import Roofline
from magicplan.cost.speculative import expected_tokens, expected_tokens_positional, round_time
from magicplan.errors import MagicplanError
from magicplan.planner import acceptance as acc
from magicplan.planner.analysis import best_speculative
from magicplan.planner.batches import ar_max_batch, most_tokens
from magicplan.planner.capacity_report import capacity_report
from magicplan.planner.engine_features import runnable
from magicplan.planner.evaluation import drafts_of, usable_capacity
from magicplan.planner.inputs import default_drafts, plan_inputs
from magicplan.planner.optimizer import plan
from magicplan.setup import Setup, check_positive
from magicplan.specs import load_model
from magicplan.specs.drafts import DraftKindSpec
from magicplan.specs.engine import EngineSpec
from magicplan.specs.hardware import HardwareSpec
from magicplan.specs.model import ModelSpec
from magicplan.specs.quantization import served
from magicplan.specs.registry import (
    HardwareLike,
    ModelLike,
    as_draft,
    as_engine,
    as_hardware,
    as_model,
)
from magicplan.units import GB, MS

MAX_BATCH = 4096  # largest batch searched per replica (memory usually binds far earlier)
TENSOR_PARALLEL = (1, 2, 4, 8)  # degrees tried (one NVLink/NVSwitch node at most)
# A context mix: 'CONTEXT:FRACTION[:KV_BUDGET],...', {context: fraction}, or items.
WorkloadLike = str | Mapping[Any, Any] | Sequence[Sequence[Any]]


@dataclass(frozen=True)
class Workload:
    """A batch as a context mix; `budgets` NaN where the plan's draft budget applies."""

    contexts: Array
    fractions: Array
    budgets: Array

    @property
    def mean_context(self) -> int:
        return round(float(np.dot(self.contexts, self.fractions)))


def check_workload(workload: WorkloadLike) -> Workload:
    """A context mix (`arguments.workload_arg`: text, a mapping or (context, fraction[,
    kv_budget]) items) → Workload, or a MagicplanError naming it."""
    mix = workload_arg(workload)
    ctx, frac = check_mix([(w[0], w[1]) for w in mix])
    budgets = np.array([w[2] if len(w) == 3 else math.nan for w in mix])
    if np.any(budgets[np.isfinite(budgets)] <= 0) or np.any(np.isinf(budgets)):
        raise MagicplanError("workload kv_budget values must be positive numbers")
    return Workload(ctx, frac, budgets)


def _group_omega(
    target: ModelSpec, best: dict[str, Any], w: Workload, k: Array, kw: dict[str, Any]
) -> tuple[float, list[str]]:
    """Fraction-weighted Ω, each group at its own acceptance (its context and budget)."""
    g, user = best["gamma"], kw.get("acceptance")
    if user is not None and not isinstance(user, (int, float)):
        return float(expected_tokens_positional(list(user)[:g])), []
    alphas = np.full(w.contexts.shape, float(user if user is not None else best["acceptance"]))
    notes = []
    if user is None:
        table = kw.get("acceptance_table") or acc.load_table()
        for i, (s, b) in enumerate(zip(w.contexts, k, strict=True)):
            hit = acc.lookup(
                table, target.id, best["draft_model"], best["kv_method"], float(b), float(s)
            )
            if hit is None:
                notes.append(f"no acceptance evidence at context {s:g}, budget {b:g}: "
                             f"used the plan's α {alphas[i]:.3f}")  # fmt: skip
            alphas[i] = hit.alpha if hit is not None else alphas[i]
    return float(np.dot(w.fractions, expected_tokens(g, alphas))), notes


def _roofline(hw: HardwareSpec, target: ModelSpec, tp: int, kw: dict[str, Any]) -> Roofline:
    """The target's rates and latencies on `tp` GPUs of `hw` under the plan's engine."""
    engine = as_engine(kw.get("engine"))
    return Setup(hardware=hw, num_gpus=tp, target=target, engine=engine).roofline


def _mixed_ar_ms(
    hw: HardwareSpec, target: ModelSpec, tp: int, b: float, w: Workload, kw: dict[str, Any]
) -> float:
    """One AR step over the mix, in ms (the per-token time of plain AR)."""
    rf = _roofline(hw, target, tp, kw)
    return mixed_forward_time(target, rf, tp, b, 1.0, w.contexts, w.fractions) / MS


def _bisect(ok: Callable[[int], bool], high: int) -> int:
    """Largest b in [1, high] with ok(b), for ok true up to some batch and false beyond (0:
    none)."""
    lo, hi = 0, high + 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


def _ar_option(
    hw: HardwareSpec, target: ModelSpec, tp: int, w: Workload, slo_ms: float, high: int,
    kw: dict[str, Any],
) -> dict[str, Any] | None:  # fmt: skip
    """AR on one TP-`tp` replica at the largest batch that fits and meets the SLO on the mix."""
    b = _bisect(lambda b: _mixed_ar_ms(hw, target, tp, b, w, kw) <= slo_ms, high)
    if not b:
        return None
    return {"strategy": "autoregressive", "batch": b,
            "t_per_token_ms": _mixed_ar_ms(hw, target, tp, b, w, kw)}  # fmt: skip


def _sd_option(
    hw: HardwareSpec, target: ModelSpec, tp: int, w: Workload, slo_ms: float, high: int,
    kw: dict[str, Any],
) -> dict[str, Any] | None:  # fmt: skip
    """SD on one TP-`tp` replica: the most tokens/s under the SLO at the mix's mean context
    (every strategy, every batch up to `high`), then its step times on the mix itself."""
    inp = plan_inputs(hw, tp, target, high, w.mean_context, **kw)
    pick = most_tokens(inp, drafts_of(inp), high, slo_ms * MS)
    if pick is None:
        return None
    best = best_speculative(
        plan(
            hw,
            tp,
            target,
            pick.batch,
            w.mean_context,
            top=2,
            beyond=False,
            **(kw | pick.restrict(inp)),
        )
    )
    assert best is not None  # the pick fits and has an α at this batch
    t_ms, omega, notes = _mixed_sd_ms(hw, target, tp, w, best, kw)
    b = _bisect(lambda b: t_ms(b) <= slo_ms, pick.batch)
    if not b:
        return None
    keep = ("draft_model", "kv_method", "kv_budget", "gamma", "draft_num_gpus", "acceptance")
    return ({"strategy": "speculative", "batch": b, "t_per_token_ms": t_ms(b),
             "accepted_per_step": omega} | {key: best[key] for key in keep}
            | {"notes": notes})  # fmt: skip


def _mixed_sd_ms(
    hw: HardwareSpec, target: ModelSpec, tp: int, w: Workload, best: dict[str, Any],
    kw: dict[str, Any],
) -> tuple[Callable[[int], float], float, list[str]]:  # fmt: skip
    """Per-token ms of `best` on the mix as a function of the batch, its Ω and notes."""
    g, m = best["gamma"], best["kv_method"]
    k = np.where(np.isnan(w.budgets), float(best["kv_budget"]), w.budgets)
    omega, notes = _group_omega(target, best, w, k, kw)
    draft = target if best["draft_model"] == "self" else load_model(best["draft_model"])
    rf = _roofline(hw, target, tp, kw)
    d_len = w.contexts if m == "full" else np.minimum(k, w.contexts)

    def t_ms(b: int) -> float:
        t_d = mixed_forward_time(draft, rf, best["draft_num_gpus"], b, 1.0, d_len + (g - 1) / 2,
                                 w.fractions, w.contexts if m == "topk" else None)  # fmt: skip
        t_v = mixed_forward_time(target, rf, tp, b, g + 1.0, w.contexts, w.fractions)
        return float(round_time(t_d, t_v, g, rf.round_overhead_s)) / omega / MS

    return t_ms, omega, notes


def capacity(
    hardware: HardwareLike,
    target: ModelLike,
    tokens_per_s: float,
    slo_ms: float,
    workload: WorkloadLike,
    max_gpus: int = 64,
    tensor_parallel: Sequence[int] | int | str | None = None,
    gpu_hour_usd: float | None = None,
    **plan_kw: Any,
) -> dict[str, Any]:
    """Fewest GPUs for `tokens_per_s` at ≤ `slo_ms` per token, AR vs SD, and what SD saves.

    `workload`: [(context, fraction[, kv_budget]), ...], {context: fraction} or the CLI's
    '8k:0.5,32k:0.5' (contexts and budgets as counts, '8k' too); `tensor_parallel`: the TP
    degrees tried (a list, one degree or '1,2'); `plan_kw`: the planner's options (drafts,
    kv_methods, acceptance, ...; a list option as a list, one value or a comma string). With
    `gpu_hour_usd`, the hourly cost of each.
    A strategy that cannot meet the SLO, or needs more than `max_gpus`, is None, and
    `autoregressive_unavailable` / `speculative_unavailable` say why, with the numbers.
    `hardware`, `target`: specs, ids or paths.
    """
    hardware = as_hardware(hardware)
    target = served(
        as_model(target, "target"), plan_kw.get("weight_dtype"), plan_kw.get("kv_dtype")
    )
    check_positive("tokens_per_s", tokens_per_s, integer=False)
    check_positive("slo_ms", slo_ms, integer=False)
    check_positive("max_gpus", max_gpus)
    if gpu_hour_usd is not None:
        check_positive("gpu_hour_usd", gpu_hour_usd, integer=False)
    w = check_workload(workload)
    plan_kw = plan_arguments(plan_kw)
    plan_kw = plan_kw | {"drafts": _chain_drafts(target, plan_kw.get("drafts"))}
    table = plan_kw.get("acceptance_table")
    if table is not None and not isinstance(table, list):
        plan_kw = plan_kw | {"acceptance_table": acc.load_table(table)}  # read the file once
    degrees = _degrees(target, tensor_parallel, max_gpus)
    found = _fewest_gpus(hardware, target, tokens_per_s, slo_ms, w, degrees, plan_kw)
    fastest = _fastest(hardware, target, w, degrees, found, plan_kw)
    engine = as_engine(plan_kw.get("engine"))
    engine_id = Setup(
        hardware=hardware, num_gpus=degrees[0], target=target, engine=engine
    ).engine_id  # fmt: skip
    memory = _one_sequence(hardware, target, max(degrees), w, plan_kw.get("memory_utilization"))
    # at a batch of 2 (a replica batches), what the engine runs of the drafts capacity plans
    probe = plan_inputs(hardware, degrees[0], target, 2, w.mean_context, **plan_kw)
    blocked = None if probe.drafts else " and ".join(probe.beyond_engine) or None
    report = capacity_report(
        hardware=hardware, target=target, tokens_per_s=tokens_per_s, slo_ms=slo_ms,
        workload=w, found=found, fastest=fastest, max_gpus=max_gpus, usd=gpu_hour_usd,
        memory=memory, engine_blocks=None if blocked is None else f"{engine_id} cannot run "
        f"{blocked}",
    )  # fmt: skip
    note = _families_note(hardware, target, engine, plan_kw.get("any_strategy", False))
    return {"engine": engine_id} | report | {"notes": [note] if note else []}


def _one_sequence(
    hw: HardwareSpec, target: ModelSpec, tp: int, w: Workload, utilization: float | None
) -> dict[str, Any]:
    """Plain AR's memory per GPU for one sequence at the mix's mean context on `tp` GPUs, and
    what an engine may fill there (GB): why nothing fits, with the numbers."""
    fixed, per_seq = memory_terms(target, tp, w.mean_context, speculative=False)
    need = sum(fixed.values()) + float(sum(per_seq.values(), 0.0))
    usable = usable_capacity(hw, tp, target, utilization)
    return {
        "tensor_parallel": tp,
        "context": w.mean_context,
        "memory_needed_per_gpu_gb": need / GB,
        "memory_usable_per_gpu_gb": usable / GB,
    }


def _families_note(
    hw: HardwareSpec, target: ModelSpec, engine: EngineSpec | None, any_strategy: bool
) -> str | None:
    """What capacity leaves out that `plan` would propose on this engine: the drafting
    families (EAGLE, EAGLE-3, Medusa, n-gram, MTP) the engine runs (None: it runs none)."""
    runs = None if any_strategy else runnable(engine, hw)
    kinds = [d.kind for d in default_drafts(target) if isinstance(d, DraftKindSpec)]
    kinds = [k for k in kinds if runs is None or runs.runs(k)]
    if not kinds:
        return None
    on = f"{runs.id} runs" if runs is not None else "are"
    return (
        f"capacity plans self-speculation and separate draft models over the context mix; the "
        f"drafting families {on} ({', '.join(kinds)}) are not planned here: "
        "`magicplan plan` plans them, one context at a time"
    )


def _fewest_gpus(
    hw: HardwareSpec, target: ModelSpec, tokens_per_s: float, slo_ms: float, w: Workload,
    degrees: list[int], kw: dict[str, Any],
) -> dict[str, dict[str, Any] | None]:  # fmt: skip
    """Per strategy, the (TP degree, batch) that meets the SLO with the fewest GPUs (however
    many: the report holds them against max_gpus)."""
    best: dict[str, dict[str, Any] | None] = {"autoregressive": None, "speculative": None}
    for tp in degrees:
        fits = ar_max_batch(hw, tp, target, w.mean_context, kw.get("memory_utilization"))
        high = min(MAX_BATCH, fits)
        if high < 1:
            continue  # not even one sequence fits on this many GPUs
        for opt in (_ar_option(hw, target, tp, w, slo_ms, high, kw),
                    _sd_option(hw, target, tp, w, slo_ms, high, kw)):  # fmt: skip
            if opt is None:
                continue
            per_replica = opt["batch"] / (opt["t_per_token_ms"] * MS)
            replicas = math.ceil(tokens_per_s / per_replica)
            opt |= {"tensor_parallel": tp, "replicas": replicas, "gpus": replicas * tp,
                    "throughput_per_replica_tokens_per_s": per_replica,
                    "throughput_tokens_per_s_per_gpu": per_replica / tp}  # fmt: skip
            cur = best[opt["strategy"]]
            if cur is None or _fewer(opt) < _fewer(cur):
                best[opt["strategy"]] = opt
    return best


def _fewer(opt: dict[str, Any]) -> tuple[int, float]:
    """Order of preference: fewer GPUs, then a shorter per-token time."""
    return opt["gpus"], opt["t_per_token_ms"]


def _fastest(
    hw: HardwareSpec, target: ModelSpec, w: Workload, degrees: list[int],
    found: dict[str, dict[str, Any] | None], kw: dict[str, Any],
) -> dict[str, dict[str, Any] | None]:  # fmt: skip
    """For a strategy that meets the SLO nowhere: the fastest per-token time it reaches (batch
    1, the widest TP that fits) — None where it fits nowhere at all."""
    out: dict[str, dict[str, Any] | None] = {"autoregressive": None, "speculative": None}
    utilization = kw.get("memory_utilization")
    for tp in (d for d in degrees if ar_max_batch(hw, d, target, w.mean_context, utilization)):
        t_ar = _mixed_ar_ms(hw, target, tp, 1, w, kw)
        if found["autoregressive"] is None and (
            out["autoregressive"] is None or t_ar < out["autoregressive"]["t_per_token_ms"]
        ):
            out["autoregressive"] = {"t_per_token_ms": t_ar, "tensor_parallel": tp}
        if found["speculative"] is None:
            sd = best_speculative(
                plan(hw, tp, target, 1, w.mean_context, top=3, beyond=False, **kw)
            )
            cur = out["speculative"]
            t_sd = None if sd is None else sd["t_spec_per_token_ms"]
            if t_sd is not None and (cur is None or t_sd < cur["t_per_token_ms"]):
                out["speculative"] = {"t_per_token_ms": t_sd, "tensor_parallel": tp}
    return out


def _chain_drafts(target: ModelSpec, drafts: Any) -> list[Any]:
    """The drafts capacity plans over a context mix: self-speculation and draft models (each
    group's Ω from its own α); a drafting family is planned by `plan`, one context at a time."""
    if drafts is None:
        return default_drafts(target, families=False)
    named = [as_draft(d) for d in drafts]
    family = next((d for d in named if isinstance(d, DraftKindSpec)), None)
    if family is not None:
        raise MagicplanError(
            f"drafts: capacity plans self-speculation and draft models over a context mix; "
            f"'{family.kind}' is a drafting family: plan it with `magicplan plan` per context"
        )
    return named


def _degrees(target: ModelSpec, wanted: Any, max_gpus: int) -> list[int]:
    """The TP degrees tried: those of `wanted` (default TENSOR_PARALLEL) within max_gpus that
    split `target`; none is a MagicplanError saying why for each."""
    asked = counts_arg("tensor_parallel", wanted) or list(TENSOR_PARALLEL)
    asked = [int(d) for d in check_positive("tensor_parallel", asked)]
    why = {d: _split_error(target, d) if d <= max_gpus else f"more than max_gpus={max_gpus}"
           for d in asked}  # fmt: skip
    degrees = [d for d in asked if why[d] is None]
    if not degrees:
        reasons = "; ".join(f"{d}: {r}" for d, r in why.items())
        raise MagicplanError(f"tensor_parallel: no degree can serve {target.id} ({reasons})")
    return degrees


def _split_error(model: ModelSpec, tp: int) -> str | None:
    """Why `tp` GPUs cannot split `model` (None: they can)."""
    try:
        shard(model, tp)
    except MagicplanError as exc:
        return str(exc)
    return None
