"""Capacity planning: the fewest GPUs (replicas × tensor-parallel degree) that serve a target
tokens/s at a per-token latency SLO, with and without speculative decoding, and what SD saves.

A workload is a context-length mix [(context, fraction), ...] or [(context, fraction, budget)]
with a per-request draft KV budget for that group. The strategy for each (TP degree, batch) is
chosen by the planner at the mix's mean context (KV bytes are linear in context, so the mean
gives the mix's memory); its step times then come from the mix itself (`cost.mixture`: each
group attends its own context and keeps its own min(K, S) draft cache), and Ω is the
fraction-weighted Ω of the groups, each at its own acceptance rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from magicplan.cost.memory import memory_per_gpu, usable_bytes
from magicplan.cost.mixture import check_mix, mixed_forward_time
from magicplan.cost.operators import Array, shard
from magicplan.cost.speculative import expected_tokens, expected_tokens_positional
from magicplan.errors import MagicplanError
from magicplan.planner import acceptance as acc
from magicplan.planner.optimizer import plan
from magicplan.setup import Setup, check_positive, memory_fraction
from magicplan.specs import load_model
from magicplan.specs.hardware import HardwareSpec
from magicplan.specs.model import ModelSpec
from magicplan.specs.registry import HardwareLike, ModelLike, as_hardware, as_model
from magicplan.units import MS

BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)  # batch sizes tried per replica
TENSOR_PARALLEL = (1, 2, 4, 8)  # degrees tried (one NVLink/NVSwitch node at most)


@dataclass(frozen=True)
class Workload:
    """A batch as a context mix; `budgets` NaN where the plan's draft budget applies."""

    contexts: Array
    fractions: Array
    budgets: Array

    @property
    def mean_context(self) -> int:
        return round(float(np.dot(self.contexts, self.fractions)))


def check_workload(workload: Sequence[Sequence[float]]) -> Workload:
    """[(context, fraction[, kv_budget]), ...] → Workload, or a MagicplanError naming it."""
    if any(len(w) not in (2, 3) for w in workload):
        raise MagicplanError(
            "workload items must be (context, fraction) or (context, fraction, kv_budget)"
        )
    ctx, frac = check_mix([(w[0], w[1]) for w in workload])
    budgets = np.array([float(w[2]) if len(w) == 3 else math.nan for w in workload])
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


def _option(
    hw: HardwareSpec, target: ModelSpec, tp: int, b: int, w: Workload, kw: dict[str, Any]
) -> list[dict[str, Any]]:
    """The AR and (when it pays and fits) the best SD option for one TP degree and batch."""
    rf = Setup(hardware=hw, num_gpus=tp, target=target).roofline
    out = []
    ar_mem = memory_per_gpu(target, tp, b, w.mean_context, speculative=False)["total"]
    utilization = memory_fraction(kw.get("memory_utilization"))
    if float(ar_mem) <= usable_bytes(hw.memory_bytes, utilization):
        t = mixed_forward_time(target, rf, tp, b, 1.0, w.contexts, w.fractions)
        out.append({"strategy": "autoregressive", "t_per_token_ms": t / MS})
    best = plan(hw, tp, target, b, w.mean_context, top=1, **kw)["best"]
    if best is None or best["draft_model"] == "none":
        return out
    g, m = best["gamma"], best["kv_method"]
    k = np.where(np.isnan(w.budgets), float(best["kv_budget"]), w.budgets)
    d_len = w.contexts if m == "full" else np.minimum(k, w.contexts)
    draft = target if best["draft_model"] == "self" else load_model(best["draft_model"])
    t_d = mixed_forward_time(draft, rf, best["draft_num_gpus"], b, 1.0, d_len + (g - 1) / 2,
                             w.fractions, w.contexts if m == "topk" else None)  # fmt: skip
    t_v = mixed_forward_time(target, rf, tp, b, g + 1.0, w.contexts, w.fractions)
    omega, notes = _group_omega(target, best, w, k, kw)
    t = (g * t_d + t_v + rf.round_overhead_s) / omega
    keep = ("draft_model", "kv_method", "kv_budget", "gamma", "draft_num_gpus", "acceptance")
    out.append({"strategy": "speculative", "t_per_token_ms": t / MS, "accepted_per_step": omega}
               | {key: best[key] for key in keep} | {"notes": notes})  # fmt: skip
    return out


def capacity(
    hardware: HardwareLike,
    target: ModelLike,
    tokens_per_s: float,
    slo_ms: float,
    workload: Sequence[Sequence[float]],
    max_gpus: int = 64,
    tensor_parallel: Sequence[int] | None = None,
    gpu_hour_usd: float | None = None,
    **plan_kw: Any,
) -> dict[str, Any]:
    """Fewest GPUs for `tokens_per_s` at ≤ `slo_ms` per token, AR vs SD, and what SD saves.

    `workload`: [(context, fraction[, kv_budget]), ...]; `plan_kw`: the planner's options
    (drafts, kv_methods, acceptance, ...). With `gpu_hour_usd`, the hourly cost of each.
    `hardware`, `target`: specs, ids or paths.
    """
    hardware, target = as_hardware(hardware), as_model(target, "target")
    check_positive("tokens_per_s", tokens_per_s, integer=False)
    check_positive("slo_ms", slo_ms, integer=False)
    check_positive("max_gpus", max_gpus)
    if gpu_hour_usd is not None:
        check_positive("gpu_hour_usd", gpu_hour_usd, integer=False)
    w = check_workload(workload)
    table = plan_kw.get("acceptance_table")
    if table is not None and not isinstance(table, list):
        plan_kw = plan_kw | {"acceptance_table": acc.load_table(table)}  # read the file once
    degrees = [
        d for d in (tensor_parallel or TENSOR_PARALLEL) if d <= max_gpus and _splits(target, d)
    ]
    if not degrees:
        raise MagicplanError(
            f"tensor_parallel: no degree <= max_gpus={max_gpus} can split {target.id}"
        )
    best = _fewest_gpus(hardware, target, tokens_per_s, slo_ms, w, degrees, max_gpus, plan_kw)
    return _capacity_report(hardware, target, tokens_per_s, slo_ms, w, best, max_gpus, gpu_hour_usd)


def _fewest_gpus(
    hw: HardwareSpec, target: ModelSpec, tokens_per_s: float, slo_ms: float, w: Workload,
    degrees: list[int], max_gpus: int, kw: dict[str, Any],
) -> dict[str, dict[str, Any] | None]:  # fmt: skip
    """Per strategy, the (TP degree, batch) that meets the SLO with the fewest GPUs."""
    best: dict[str, dict[str, Any] | None] = {"autoregressive": None, "speculative": None}
    for tp in degrees:
        for b in BATCHES:
            opts = _option(hw, target, tp, b, w, kw)
            if not opts:
                break  # AR no longer fits: no larger batch will
            for opt in (o for o in opts if o["t_per_token_ms"] <= slo_ms):
                per_replica = b / (opt["t_per_token_ms"] * MS)
                replicas = math.ceil(tokens_per_s / per_replica)
                opt |= {"tensor_parallel": tp, "batch": b, "replicas": replicas,
                        "gpus": replicas * tp,
                        "throughput_per_replica_tokens_per_s": per_replica}  # fmt: skip
                cur = best[opt["strategy"]]
                key = (opt["gpus"], opt["t_per_token_ms"])
                if opt["gpus"] <= max_gpus and (
                    cur is None or key < (cur["gpus"], cur["t_per_token_ms"])
                ):
                    best[opt["strategy"]] = opt
    return best


def _capacity_report(
    hw: HardwareSpec, target: ModelSpec, tokens_per_s: float, slo_ms: float, w: Workload,
    best: dict[str, dict[str, Any] | None], max_gpus: int, usd: float | None,
) -> dict[str, Any]:  # fmt: skip
    ar, sd = best["autoregressive"], best["speculative"]
    for opt in (o for o in (ar, sd) if o):
        if usd is not None:
            opt["cost_per_hour_usd"] = opt["gpus"] * usd
    chosen = min(
        (o for o in (ar, sd) if o), key=lambda o: (o["gpus"], o["t_per_token_ms"]), default=None
    )
    both = ar is not None and sd is not None
    return {
        "hardware": hw.id, "target": target.id, "tokens_per_s": tokens_per_s, "slo_ms": slo_ms,
        "workload": [[float(c), float(f), None if math.isnan(k) else float(k)]
                     for c, f, k in zip(w.contexts, w.fractions, w.budgets, strict=True)],
        "autoregressive": ar, "speculative": sd,
        "recommended": chosen["strategy"] if chosen else None,
        "gpus_saved_by_sd": (ar["gpus"] - sd["gpus"]) if both else None,  # type: ignore[index]
        "gpu_cost_ratio_sd_over_ar": (sd["gpus"] / ar["gpus"]) if both else None,  # type: ignore[index]
        "note": None if chosen else f"no configuration within {max_gpus} GPUs meets the SLO",
    }  # fmt: skip


def _splits(model: ModelSpec, tp: int) -> bool:
    try:
        shard(model, tp)
    except MagicplanError:
        return False
    return True
