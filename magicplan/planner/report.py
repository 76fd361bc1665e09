"""Turn evaluated candidate grids into ranked, JSON-ready plan objects with reasons (why)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from magicplan.cost.speculative import expected_tokens
from magicplan.units import GB, MS

if TYPE_CHECKING:
    from magicplan.planner.inputs import PlanInputs

ACCEPTANCE_TAGS = ("fallback", "extrapolated", "held", "interpolated")


def candidate_rows(inp: PlanInputs, ev: dict[str, Any]) -> dict[str, Any]:
    """Every candidate with known Ω as flat arrays (one index per strategy), vectorized."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("block", "m", "k", "g", "t_tok", "mem")}
    for i, blk in enumerate(ev["blocks"]):
        grid = blk["grid"]
        t_tok = blk["t_round_s"] / blk["omega"]
        ok = np.broadcast_to(grid.valid, t_tok.shape) & np.isfinite(t_tok)
        m, k, g = np.nonzero(ok)
        for key, val in (("block", np.full(m.size, i)), ("m", m), ("k", k), ("g", g),
                         ("t_tok", t_tok[ok]), ("mem", grid.memory_bytes[ok])):  # fmt: skip
            parts[key].append(val)
    cols = {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}
    return {"baseline": ev["baseline"], "blocks": ev["blocks"], "cols": cols}


def fractions(breakdown: dict[str, Any], index: Any = ()) -> dict[str, float]:
    """Share of each class (weights, kv, activations, compute, communication, overhead)."""
    vals = {k: float(np.asarray(v)[index] if np.ndim(v) else v) for k, v in breakdown.items()}
    total = sum(vals.values()) or 1.0
    return {k: round(v / total, 4) for k, v in vals.items()}


def ar_entry(inp: PlanInputs, base: dict[str, Any]) -> dict[str, Any]:
    """The autoregressive baseline as a candidate (draft "none", γ 0, speedup 1)."""
    t = base["t_ar_s"]
    shares = fractions(base["ar_breakdown"])
    return {
        "draft_model": "none", "kv_method": "none", "kv_budget": 0, "gamma": 0,
        "draft_num_gpus": 0, "acceptance": None, "acceptance_source": "none",
        "accepted_per_step": 1.0, "speedup": 1.0, "t_spec_per_token_ms": t / MS,
        "throughput_tokens_per_s": inp.batch / t, "t_draft_ms": 0.0, "t_verify_ms": 0.0,
        "t_autoregressive_ms": t / MS, "draft_to_target_ratio": 0.0,
        "verify_to_target_ratio": 0.0, "memory_per_gpu_gb": base["ar_memory_bytes"] / GB,
        "fits_in_memory": bool(base["ar_memory_bytes"] <= base["capacity_bytes"]),
        "bottleneck_fractions": shares, "why": {"autoregressive_fractions": shares},
    }  # fmt: skip


def _acceptance_used(inp: PlanInputs, blk: dict[str, Any], m: int, k: int, gamma: int) -> Any:
    if isinstance(inp.acceptance, tuple):
        return list(inp.acceptance[:gamma])  # per-position α_1..α_γ
    return float(blk["acceptance"].alpha[m, k])


def entry(inp: PlanInputs, rows: dict[str, Any], i: int) -> dict[str, Any]:
    """One speculative candidate, JSON-ready, with its reasons."""
    c, base = rows["cols"], rows["baseline"]
    blk = rows["blocks"][int(c["block"][i])]
    grid, m, k, g = blk["grid"], int(c["m"][i]), int(c["k"][i]), int(c["g"][i])
    gamma, method = int(grid.gammas[g]), grid.methods[m]
    t_ar, t_tok, t_d = base["t_ar_s"], float(c["t_tok"][i]), float(grid.t_draft_s[m, k, g])
    t_v, mem = float(base["t_verify_s"][g]), float(c["mem"][i])
    out = {
        "draft_model": blk["draft"], "kv_method": method,
        "kv_budget": 0 if method == "full" else int(grid.budgets[k]), "gamma": gamma,
        "draft_num_gpus": blk["draft_num_gpus"],
        "acceptance": _acceptance_used(inp, blk, m, k, gamma),
        "acceptance_source": blk["acceptance"].sources[m][k],
        "accepted_per_step": float(blk["omega"][m, k, g]), "speedup": t_ar / t_tok,
        "t_spec_per_token_ms": t_tok / MS, "throughput_tokens_per_s": inp.batch / t_tok,
        "t_draft_ms": t_d / MS, "t_verify_ms": t_v / MS, "t_autoregressive_ms": t_ar / MS,
        "draft_to_target_ratio": t_d / t_ar, "verify_to_target_ratio": t_v / t_ar,
        "memory_per_gpu_gb": mem / GB, "fits_in_memory": bool(mem <= base["capacity_bytes"]),
    }  # fmt: skip
    out |= _why(base, blk, (m, k, g), gamma)
    lo, hi = float(blk["acceptance"].low[m, k]), float(blk["acceptance"].high[m, k])
    if math.isfinite(lo) and math.isfinite(hi) and not isinstance(inp.acceptance, tuple):
        t_round = t_tok * out["accepted_per_step"]
        sp = [t_ar * float(expected_tokens(gamma, a)) / t_round for a in (lo, hi)]
        out |= {"acceptance_interval": [lo, hi], "speedup_interval": sp}
    return out


def _why(
    base: dict[str, Any], blk: dict[str, Any], mkg: tuple[int, int, int], gamma: int
) -> dict[str, Any]:
    """Bottleneck fractions of the whole round by class, and of each step; the cost ratios."""
    grid, g = blk["grid"], mkg[2]
    t_d, t_v = float(grid.t_draft_s[mkg]), float(base["t_verify_s"][g])
    overhead = base["roofline"].round_overhead_s
    t_round = gamma * t_d + t_v + overhead
    by_class: dict[str, float] = {}
    for cls in {*grid.breakdown, *base["verify_breakdown"]}:
        d = float(grid.breakdown[cls][mkg]) if cls in grid.breakdown else 0.0
        v = base["verify_breakdown"].get(cls, 0.0)
        by_class[cls] = gamma * d + float(np.asarray(v)[g] if np.ndim(v) else v)
    by_class["overhead"] = by_class.get("overhead", 0.0) + overhead
    round_shares = {"draft": gamma * t_d / t_round, "verify": t_v / t_round,
                    "round_overhead": overhead / t_round}  # fmt: skip
    return {
        "bottleneck_fractions": fractions(by_class),
        "why": {
            "round_fractions": {k: round(v, 4) for k, v in round_shares.items()},
            "draft_fractions": fractions(grid.breakdown, mkg),
            "verify_fractions": fractions(base["verify_breakdown"], g),
            "autoregressive_fractions": fractions(base["ar_breakdown"]),
            "draft_to_target_ratio": t_d / base["t_ar_s"],
            "verify_to_target_ratio": t_v / base["t_ar_s"],
        },
    }


def plan_report(
    inp: PlanInputs, rows: dict[str, Any], objective: str, top: int, slo_ms: float | None = None
) -> dict[str, Any]:
    """Rank candidates (AR included), filter by memory and SLO, and explain the winner."""
    c, base = rows["cols"], rows["baseline"]
    ok = c["mem"] <= base["capacity_bytes"]
    if slo_ms is not None:
        ok &= c["t_tok"] / MS <= slo_ms
    order = np.flatnonzero(ok)[np.argsort(c["t_tok"][ok], kind="stable")]
    ar = ar_entry(inp, base)
    ar_ok = ar["fits_in_memory"] and (slo_ms is None or ar["t_spec_per_token_ms"] <= slo_ms)
    ranked = [entry(inp, rows, int(i)) for i in order[:top]] + ([ar] if ar_ok else [])
    ranked = sorted(ranked, key=lambda e: e["t_spec_per_token_ms"])[:top]
    best = ranked[0] if ranked else None
    return {
        "hardware": inp.hardware.id, "num_gpus": inp.num_gpus, "target": inp.target.id,
        "batch": inp.batch, "context": inp.context, "objective": objective, "slo_ms": slo_ms,
        "best": best, "candidates": ranked, "autoregressive": ar,
        "candidates_evaluated": int(c["t_tok"].size) + 1,
        "recommendation": sentence(inp, best), "notes": _notes(inp, best, ar, base, slo_ms),
    }  # fmt: skip


def _notes(
    inp: PlanInputs, best: Any, ar: dict[str, Any], base: dict[str, Any], slo: Any
) -> list[str]:
    notes = list(dict.fromkeys(inp.notes))  # distinct, in order
    if best is None and not ar["fits_in_memory"]:
        notes.append(
            f"nothing fits in memory: plain AR needs {ar['memory_per_gpu_gb']:.1f} GB per GPU, "
            f"{base['capacity_bytes'] / GB:.1f} GB usable"
        )
    elif best is None:
        notes.append(f"no strategy meets the {slo} ms per-token SLO")
    elif any(t in best["acceptance_source"] for t in ACCEPTANCE_TAGS):
        notes.append(f"acceptance of the best strategy: {best['acceptance_source']}")
    return notes


def sentence(inp: PlanInputs, best: dict[str, Any] | None) -> str:
    """The recommendation in one sentence."""
    where = (f"{inp.target.id} on {inp.num_gpus}× {inp.hardware.id} at batch {inp.batch}, "
             f"context {inp.context}")  # fmt: skip
    if best is None:
        return f"No strategy is feasible for {where} (see notes)."
    if best["draft_model"] == "none":
        return f"Do not speculate for {where}: plain autoregressive decoding is fastest."
    draft = "self-speculation" if best["draft_model"] == "self" else f"draft {best['draft_model']}"
    kv = "full KV" if best["kv_method"] == "full" else (
        f"{best['kv_method']} KV budget {best['kv_budget']}")  # fmt: skip
    return (
        f"Use {draft} with {kv} and γ={best['gamma']} for {where}: "
        f"{best['speedup']:.2f}× per-token speedup ({best['t_spec_per_token_ms']:.2f} ms/token, "
        f"{best['throughput_tokens_per_s']:,.0f} tokens/s)."
    )
