"""Capacity planning: the fewest GPUs (replicas × tensor-parallel degree) that serve a target
tokens/s at a per-token latency SLO, with and without speculative decoding.

A workload is a context-length mix [(context, fraction), ...]. The strategy for each (TP degree,
batch) is chosen by the planner at the mix's mean context; its step times are then taken from
the mix itself (`magicplan.cost.mixture`), per-request draft budgets included.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from magicplan.cost.memory import memory_per_gpu, usable_bytes
from magicplan.cost.mixture import check_mix, mixed_forward_time
from magicplan.cost.operators import shard
from magicplan.cost.speculative import expected_tokens
from magicplan.errors import MagicplanError
from magicplan.estimate import Setup, check_positive
from magicplan.planner.optimizer import plan
from magicplan.specs import load_model
from magicplan.specs.hardware import HardwareSpec
from magicplan.specs.model import ModelSpec

BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


def _ar_option(
    hw: HardwareSpec, target: ModelSpec, tp: int, b: int, ctx: np.ndarray, frac: np.ndarray
) -> dict[str, Any]:
    rf = Setup(hw, tp, target).roofline
    t = mixed_forward_time(target, rf, tp, b, 1.0, ctx, frac)
    return {
        "tensor_parallel": tp,
        "batch": b,
        "t_per_token_ms": t * 1e3,
        "throughput_per_replica_tokens_per_s": b / t,
        "strategy": "autoregressive",
    }


def _sd_option(
    hw: HardwareSpec,
    target: ModelSpec,
    tp: int,
    b: int,
    ctx: np.ndarray,
    frac: np.ndarray,
    plan_kw: dict[str, Any],
) -> dict[str, Any] | None:
    mean_ctx = round(float(np.dot(ctx, frac)))
    best = plan(hw, tp, target, b, mean_ctx, top=1, **plan_kw)["best"]
    if best is None or best["draft_model"] == "none":
        return None
    rf = Setup(hw, tp, target).roofline
    draft = None if best["draft_model"] == "self" else load_model(best["draft_model"])
    g, k, m = best["gamma"], best["kv_budget"], best["kv_method"]
    d_len = ctx if m == "full" else np.minimum(float(k), ctx)
    t_d = mixed_forward_time(
        draft or target,
        rf,
        best["draft_num_gpus"],
        b,
        1.0,
        d_len + (g - 1) / 2,
        frac,
        ctx if m == "topk" else None,
    )
    t_v = mixed_forward_time(target, rf, tp, b, g + 1.0, ctx, frac)
    omega = float(expected_tokens(g, best["acceptance"]))
    t = (g * t_d + t_v + rf.round_overhead_s) / omega
    return {
        "tensor_parallel": tp,
        "batch": b,
        "t_per_token_ms": t * 1e3,
        "throughput_per_replica_tokens_per_s": b / t,
        "strategy": "speculative",
        "draft_model": best["draft_model"],
        "kv_method": m,
        "kv_budget": k,
        "gamma": g,
        "draft_num_gpus": best["draft_num_gpus"],
        "acceptance": best["acceptance"],
    }


def _fits(
    hw: HardwareSpec, target: ModelSpec, tp: int, b: int, ctx: np.ndarray, frac: np.ndarray
) -> bool:
    mem = memory_per_gpu(
        target, tp, b, float(np.dot(ctx, frac)), 12, speculative=True, kv_method="full"
    )  # worst case: a full-KV draft with γ = 12
    return float(mem["total"]) <= usable_bytes(hw.memory_bytes)


def capacity(
    hardware: HardwareSpec,
    target: ModelSpec,
    tokens_per_s: float,
    slo_ms: float,
    workload: Sequence[tuple[float, float]],
    max_gpus: int = 64,
    tensor_parallel: Sequence[int] | None = None,
    **plan_kw: Any,
) -> dict[str, Any]:
    """Fewest GPUs for `tokens_per_s` at ≤ `slo_ms` per token, AR vs SD, and what SD saves."""
    check_positive("tokens_per_s", tokens_per_s, integer=False)
    check_positive("slo_ms", slo_ms, integer=False)
    ctx, frac = check_mix(workload)
    degrees = [d for d in (tensor_parallel or (1, 2, 4, 8)) if d <= max_gpus and _splits(target, d)]
    best: dict[str, dict[str, Any] | None] = {"autoregressive": None, "speculative": None}
    for tp in degrees:
        for b in BATCHES:
            if not _fits(hardware, target, tp, b, ctx, frac):
                break
            for opt in (
                _ar_option(hardware, target, tp, b, ctx, frac),
                _sd_option(hardware, target, tp, b, ctx, frac, plan_kw),
            ):
                if opt is None or opt["t_per_token_ms"] > slo_ms:
                    continue
                replicas = math.ceil(tokens_per_s / opt["throughput_per_replica_tokens_per_s"])
                opt |= {"replicas": replicas, "gpus": replicas * tp}
                cur = best[opt["strategy"]]
                if opt["gpus"] <= max_gpus and (
                    cur is None
                    or (opt["gpus"], opt["t_per_token_ms"]) < (cur["gpus"], cur["t_per_token_ms"])
                ):
                    best[opt["strategy"]] = opt
    ar, sd = best["autoregressive"], best["speculative"]
    chosen = min((o for o in (ar, sd) if o), key=lambda o: o["gpus"], default=None)
    return {
        "hardware": hardware.id,
        "target": target.id,
        "tokens_per_s": tokens_per_s,
        "slo_ms": slo_ms,
        "workload": [[float(c), float(f)] for c, f in zip(ctx, frac, strict=True)],
        "autoregressive": ar,
        "speculative": sd,
        "recommended": chosen["strategy"] if chosen else None,
        "gpus_saved_by_sd": (ar["gpus"] - sd["gpus"]) if ar and sd else None,
        "gpu_cost_ratio_sd_over_ar": (sd["gpus"] / ar["gpus"]) if ar and sd else None,
        "note": None if chosen else f"no configuration within {max_gpus} GPUs meets the SLO",
    }


def _splits(model: ModelSpec, tp: int) -> bool:
    try:
        shard(model, tp)
    except MagicplanError:
        return False
    return True
