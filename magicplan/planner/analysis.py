"""The paper's central concepts as first-class answers: critical sequence length, break-even
acceptance, and the best strategy over a batch × context grid (the data behind the γ map)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from magicplan.errors import MagicplanError
from magicplan.planner.optimizer import plan
from magicplan.specs.hardware import HardwareSpec
from magicplan.specs.model import ModelSpec
from magicplan.specs.registry import HardwareLike, ModelLike, as_hardware, as_model

MIN_CONTEXT = 128  # smallest context searched (the smallest draft budget)
BISECTION_STEPS = 30  # α to 1e-9; contexts to one token


def best_speculative(report: dict[str, Any]) -> dict[str, Any] | None:
    """The fastest speculative candidate of a plan (AR excluded), or None."""
    return next((c for c in report["candidates"] if c["draft_model"] != "none"), None)


def _sd_speedup(report: dict[str, Any]) -> float:
    sd = best_speculative(report)
    return float(sd["speedup"]) if sd else 0.0


def critical_length(
    hardware: HardwareLike,
    num_gpus: int,
    target: ModelLike,
    batch: int,
    gamma: int | None = None,
    max_context: int | None = None,
    **plan_kw: Any,
) -> dict[str, Any]:
    """Smallest context at which the best (or the given γ's) speculative speedup reaches 1.

    Scans 12 log-spaced contexts from 128 to `max_context` (default: the model's maximum),
    then bisects to the token between the last context below 1 and the first at or above it.
    """
    hardware, target = as_hardware(hardware), as_model(target, "target")
    top = int(max_context or target.max_position_embeddings)
    if top < MIN_CONTEXT:
        raise MagicplanError(f"max_context must be >= {MIN_CONTEXT}; got {top}")
    kw = plan_kw | ({"gammas": [gamma]} if gamma is not None else {}) | {"top": 3}

    def speedup(s: int) -> float:
        return _sd_speedup(plan(hardware, num_gpus, target, batch, s, **kw))

    grid = sorted({*(int(c) for c in np.geomspace(MIN_CONTEXT, top, 12)), top})
    prev = None
    for s in grid:
        if speedup(s) >= 1.0:
            crit = s if prev is None else _bisect_int(speedup, prev, s)
            return _critical_report(hardware, num_gpus, target, batch, gamma, crit, speedup(crit))
        prev = s
    return _critical_report(hardware, num_gpus, target, batch, gamma, None, speedup(top))


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
        "note": None
        if crit is not None
        else "speculation does not reach 1x at any context up to the limit searched",
    }


def break_even(
    hardware: HardwareLike,
    num_gpus: int,
    target: ModelLike,
    batch: int,
    context: int,
    target_speedup: float = 1.0,
    **plan_kw: Any,
) -> dict[str, Any]:
    """Smallest acceptance rate α at which the best strategy reaches `target_speedup`."""
    hardware, target = as_hardware(hardware), as_model(target, "target")
    if not target_speedup > 0:
        raise MagicplanError(f"target_speedup must be > 0; got {target_speedup}")
    plan_kw = {k: v for k, v in plan_kw.items() if k not in ("acceptance", "acceptance_table")}

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
    }
    if speedup(1.0) < target_speedup:
        return base | {
            "break_even_acceptance": None,
            "note": "not reachable even with every drafted token accepted",
            "speedup_at_full_acceptance": round(speedup(1.0), 6),
        }
    lo, hi = 0.0, 1.0
    if speedup(0.0) >= target_speedup:
        hi = 0.0
    for _ in range(BISECTION_STEPS):
        if hi - lo < 1e-6:
            break
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if speedup(mid) >= target_speedup else (mid, hi)
    return base | {"break_even_acceptance": round(hi, 6), "note": None}


def sweep(
    hardware: HardwareLike,
    num_gpus: int,
    target: ModelLike,
    batches: Sequence[int],
    contexts: Sequence[int],
    **plan_kw: Any,
) -> list[dict[str, Any]]:
    """Best strategy and its speedup at every batch × context cell (row-major, batch outer)."""
    hardware, target = as_hardware(hardware), as_model(target, "target")
    rows = []
    for b in batches:
        for s in contexts:
            r = plan(hardware, num_gpus, target, int(b), int(s), top=3, **plan_kw)
            best, sd = r["best"], best_speculative(r)
            rows.append(
                {
                    "batch": int(b),
                    "context": int(s),
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
                }
            )
    return rows


def _ar_columns(ar: dict[str, Any], best: dict[str, Any] | None) -> dict[str, Any]:
    """Plain AR at a sweep cell (time per step, throughput) and the memory per GPU of what
    runs there (the best strategy; AR when nothing fits)."""
    return {
        "t_autoregressive_ms": ar["t_autoregressive_ms"],
        "autoregressive_throughput_tokens_per_s": ar["throughput_tokens_per_s"],
        "memory_per_gpu_gb": (best or ar)["memory_per_gpu_gb"],
    }
