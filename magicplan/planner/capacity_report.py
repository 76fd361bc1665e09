"""The capacity answer as JSON: each strategy's fewest GPUs (or why it has none, with the
numbers), what speculation saves, and the recommendation."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from magicplan.physics import workload_warnings
from magicplan.planner.report import SECONDS_PER_HOUR, TOKENS_PER_MILLION

if TYPE_CHECKING:
    from magicplan.planner.capacity import Workload
    from magicplan.specs.hardware import HardwareSpec
    from magicplan.specs.model import ModelSpec

NAMES = {"autoregressive": "plain AR", "speculative": "speculative decoding"}


def _unavailable(
    name: str, opt: dict[str, Any] | None, fastest: dict[str, Any] | None, max_gpus: int,
    slo_ms: float, memory: dict[str, Any],
) -> dict[str, Any] | None:  # fmt: skip
    """Why a strategy has no answer: the SLO is out of reach (its fastest per-token time), it
    needs more than max_gpus (how many), or nothing fits in memory (`memory`: one plain-AR
    sequence's GB per GPU against the GB usable, at the widest TP tried)."""
    if opt is not None and opt["gpus"] <= max_gpus:
        return None
    if opt is not None:
        return {"reason": "exceeds_max_gpus", "gpus_needed": opt["gpus"], "max_gpus": max_gpus,
                "text": f"{NAMES[name]} needs {opt['gpus']} GPUs, more than max_gpus="
                        f"{max_gpus}"}  # fmt: skip
    if fastest is None:
        need, usable = memory["memory_needed_per_gpu_gb"], memory["memory_usable_per_gpu_gb"]
        what = "not even one sequence fits" if need > usable else "nothing it plans fits at batch 1"
        return {"reason": "does_not_fit", **memory,
                "text": f"{NAMES[name]}: {what} in memory (plain AR needs {need:.1f} GB per GPU "
                        f"at context {memory['context']:,}, {usable:.1f} GB usable at TP "
                        f"{memory['tensor_parallel']}, the widest tried)"}  # fmt: skip
    t, tp = fastest["t_per_token_ms"], fastest["tensor_parallel"]
    return {"reason": "slo_unreachable", "fastest_t_per_token_ms": t, "tensor_parallel": tp,
            "text": f"{NAMES[name]} cannot meet {slo_ms:g} ms per token at any batch: its "
                    f"fastest is {t:.2f} ms (batch 1, TP {tp})"}  # fmt: skip


def _priced(opt: dict[str, Any] | None, usd: float | None) -> None:
    if opt is None:
        return
    per_hour = None if usd is None else opt["gpus"] * usd
    rate = opt["replicas"] * opt["throughput_per_replica_tokens_per_s"]
    opt["cost_per_hour_usd"] = per_hour
    opt["usd_per_million_tokens"] = (
        None if per_hour is None else per_hour / (rate * SECONDS_PER_HOUR) * TOKENS_PER_MILLION
    )


def capacity_report(
    *, hardware: HardwareSpec, target: ModelSpec, tokens_per_s: float, slo_ms: float,
    workload: Workload, found: dict[str, dict[str, Any] | None],
    fastest: dict[str, dict[str, Any] | None], max_gpus: int, usd: float | None,
    memory: dict[str, Any], engine_blocks: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The JSON object of `capacity`; `engine_blocks`: why the engine runs no speculative
    strategy capacity plans (None: it runs some)."""
    why = {n: _unavailable(n, found[n], fastest[n], max_gpus, slo_ms, memory) for n in NAMES}
    if engine_blocks is not None and found["speculative"] is None:
        why["speculative"] = {"reason": "engine_cannot_run",
                              "text": f"{NAMES['speculative']}: {engine_blocks}"}  # fmt: skip
    for opt in found.values():
        _priced(opt, usd)
    ok = {n: (found[n] if why[n] is None else None) for n in NAMES}
    ar, sd = ok["autoregressive"], ok["speculative"]
    ar_any = found["autoregressive"]  # its GPU count even beyond max_gpus
    chosen = min(
        (o for o in (ar, sd) if o), key=lambda o: (o["gpus"], o["t_per_token_ms"]), default=None
    )  # fmt: skip  (fewer GPUs, then a shorter per-token time)
    saved = ratio = None
    if sd is not None and ar_any is not None:
        saved, ratio = ar_any["gpus"] - sd["gpus"], sd["gpus"] / ar_any["gpus"]
    return {
        "hardware": hardware.id, "target": target.id, "tokens_per_s": tokens_per_s,
        "slo_ms": slo_ms,
        "workload": [[float(c), float(f), None if math.isnan(k) else float(k)]
                     for c, f, k in zip(workload.contexts, workload.fractions, workload.budgets,
                                        strict=True)],
        "autoregressive": ar, "speculative": sd,
        "autoregressive_unavailable": why["autoregressive"],
        "speculative_unavailable": why["speculative"],
        "recommended": chosen["strategy"] if chosen else None,
        "gpus_saved_by_sd": saved, "gpu_cost_ratio_sd_over_ar": ratio,
        "note": _note(why, ar, sd, saved),
        "warnings": _warnings(hardware, target, workload, [o for o in (ar, sd) if o]),
    }  # fmt: skip


def _warnings(
    hw: HardwareSpec, target: ModelSpec, w: Workload, options: list[dict[str, Any]]
) -> list[str]:
    """Physics warnings for the longest context of the mix and the widest TP degree chosen."""
    tp = max((o["tensor_parallel"] for o in options), default=1)
    return workload_warnings(hw, tp, target, float(w.contexts.max()))


def _note(why: dict[str, dict[str, Any] | None], ar: Any, sd: Any, saved: int | None) -> str | None:
    reasons = [w["text"] for w in why.values() if w is not None]
    if ar is None and sd is None:
        return "; ".join(reasons) + ": no configuration meets the SLO"
    if sd is not None and ar is None:
        tail = f" (SD saves {saved} GPUs)" if saved is not None else " (only SD meets the SLO)"
        return "; ".join(reasons) + tail
    return "; ".join(reasons) or None
