"""Turn evaluated candidate grids into ranked, JSON-ready plan objects with reasons."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from magicplan.cost.speculative import expected_tokens
from magicplan.estimate import to_python
from magicplan.planner import acceptance as acc

if TYPE_CHECKING:
    from magicplan.planner.optimizer import PlanInputs

MS = 1e3
GB = 1e9


def candidate_rows(inp: PlanInputs, ev: dict[str, Any]) -> dict[str, Any]:
    """Flatten every valid candidate into parallel arrays (index i = one strategy)."""
    base = ev["baseline"]
    cols: dict[str, list[Any]] = {
        k: []
        for k in (
            "draft_model",
            "draft_num_gpus",
            "kv_method",
            "kv_budget",
            "gamma",
            "acceptance",
            "acceptance_source",
            "accepted_per_step",
            "t_draft_s",
            "t_verify_s",
            "t_tok_s",
            "memory",
        )
    }
    for blk in ev["blocks"]:
        grid = blk["grid"]
        t_tok = blk["t_round_s"] / blk["omega"]
        ok = np.broadcast_to(grid.valid, t_tok.shape) & np.isfinite(t_tok)
        for m, k, g in zip(*np.nonzero(ok), strict=True):
            method = grid.methods[m]
            cols["draft_model"].append(blk["draft"])
            cols["draft_num_gpus"].append(blk["draft_num_gpus"])
            cols["kv_method"].append(method)
            cols["kv_budget"].append(0 if method == "full" else int(grid.budgets[k]))
            cols["gamma"].append(int(grid.gammas[g]))
            cols["acceptance"].append(float(blk["alpha"][m, k]))
            cols["acceptance_source"].append(blk["alpha_source"][m][k])
            cols["accepted_per_step"].append(float(blk["omega"][m, k, g]))
            cols["t_draft_s"].append(float(grid.t_draft_s[m, k, g]))
            cols["t_verify_s"].append(float(base["t_verify_s"][g]))
            cols["t_tok_s"].append(float(t_tok[m, k, g]))
            cols["memory"].append(float(grid.memory_bytes[m, k, g]))
    return {"baseline": base, "cols": cols, "n": len(cols["gamma"])}


def _ar_entry(inp: PlanInputs, base: dict[str, Any]) -> dict[str, Any]:
    t = base["t_ar_s"]
    return {
        "draft_model": "none",
        "kv_method": "none",
        "kv_budget": 0,
        "gamma": 0,
        "draft_num_gpus": 0,
        "acceptance": None,
        "accepted_per_step": 1.0,
        "speedup": 1.0,
        "t_spec_per_token_ms": t * MS,
        "t_autoregressive_ms": t * MS,
        "throughput_tokens_per_s": inp.batch / t,
        "memory_per_gpu_gb": base["ar_memory_bytes"] / GB,
        "fits_in_memory": base["ar_memory_bytes"] <= base["capacity_bytes"],
        "bottleneck_fractions": _fractions(base["ar_breakdown"]),
    }


def _fractions(breakdown: dict[str, Any], index: int | None = None) -> dict[str, float]:
    vals = {k: float(np.asarray(v).ravel()[index or 0]) for k, v in breakdown.items()}
    total = sum(vals.values()) or 1.0
    return {k: round(v / total, 4) for k, v in vals.items()}


def _entry(inp: PlanInputs, rows: dict[str, Any], i: int) -> dict[str, Any]:
    c, base = rows["cols"], rows["baseline"]
    t_ar, t_tok = base["t_ar_s"], c["t_tok_s"][i]
    out = {
        k: c[k][i]
        for k in (
            "draft_model",
            "kv_method",
            "kv_budget",
            "gamma",
            "draft_num_gpus",
            "acceptance",
            "acceptance_source",
            "accepted_per_step",
        )
    }
    out |= {
        "speedup": t_ar / t_tok,
        "t_spec_per_token_ms": t_tok * MS,
        "throughput_tokens_per_s": inp.batch / t_tok,
        "t_draft_ms": c["t_draft_s"][i] * MS,
        "t_verify_ms": c["t_verify_s"][i] * MS,
        "t_autoregressive_ms": t_ar * MS,
        "draft_to_target_ratio": c["t_draft_s"][i] / t_ar,
        "verify_to_target_ratio": c["t_verify_s"][i] / t_ar,
        "memory_per_gpu_gb": c["memory"][i] / GB,
        "fits_in_memory": c["memory"][i] <= base["capacity_bytes"],
    }
    out |= _interval(inp, out, c["t_draft_s"][i], c["t_verify_s"][i], base)
    return {k: (to_python(v) if isinstance(v, (float, np.floating)) else v) for k, v in out.items()}


def _interval(
    inp: PlanInputs, e: dict[str, Any], t_d: float, t_v: float, base: dict[str, Any]
) -> dict[str, Any]:
    """95 % speedup interval when the acceptance rate comes with a sample size or interval."""
    lo = hi = None
    if inp.acceptance_interval is not None:
        lo, hi = inp.acceptance_interval
    elif isinstance(e["acceptance"], float) and e["acceptance_source"] != "user --acceptance":
        hit = acc.lookup(
            inp.acceptance_table,
            inp.target.id,
            e["draft_model"],
            e["kv_method"],
            float(e["kv_budget"]),
            inp.context,
        )
        if hit is not None:
            lo, hi = hit.low, hit.high
    if lo is None or hi is None:
        return {}
    g = e["gamma"]
    rf_round = e["t_spec_per_token_ms"] / MS * e["accepted_per_step"]
    sp = [base["t_ar_s"] / (rf_round / float(expected_tokens(g, a))) for a in (lo, hi)]
    return {"acceptance_interval": [lo, hi], "speedup_interval": [min(sp), max(sp)]}


def plan_report(
    inp: PlanInputs, rows: dict[str, Any], objective: str, top: int, slo_ms: float | None = None
) -> dict[str, Any]:
    """Rank candidates (AR included) and explain the winner."""
    c, base = rows["cols"], rows["baseline"]
    t_tok = np.asarray(c["t_tok_s"], dtype=float)
    ok = np.asarray(c["memory"], dtype=float) <= base["capacity_bytes"]
    if slo_ms is not None:
        ok &= t_tok * MS <= slo_ms
    order = np.flatnonzero(ok)[np.argsort(t_tok[ok], kind="stable")]
    ar = _ar_entry(inp, base)
    ar_ok = ar["fits_in_memory"] and (slo_ms is None or ar["t_spec_per_token_ms"] <= slo_ms)
    ranked = [_entry(inp, rows, int(i)) for i in order[: max(top, 1)]]
    if ar_ok:
        ranked = sorted([*ranked, ar], key=lambda e: e["t_spec_per_token_ms"])[: max(top, 1)]
    best = ranked[0] if ranked else None
    notes = list(inp.notes)
    if best is None:
        notes.append(_nothing_fits(ar, base, slo_ms))
    elif best["draft_model"] != "none":
        best = best | {"why": _why(inp, best, base)}
    return {
        "hardware": inp.hardware.id,
        "num_gpus": inp.num_gpus,
        "target": inp.target.id,
        "batch": inp.batch,
        "context": inp.context,
        "objective": objective,
        "slo_ms": slo_ms,
        "best": best,
        "candidates": ranked,
        "autoregressive": ar,
        "candidates_evaluated": int(rows["n"]) + 1,
        "recommendation": _sentence(inp, best, slo_ms),
        "notes": notes,
    }


def _why(inp: PlanInputs, best: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    g = inp.gammas.index(best["gamma"])
    return {
        "autoregressive_fractions": _fractions(base["ar_breakdown"]),
        "verify_fractions": _fractions(base["verify_breakdown"], g),
        "draft_to_target_ratio": best["draft_to_target_ratio"],
        "verify_to_target_ratio": best["verify_to_target_ratio"],
    }


def _nothing_fits(ar: dict[str, Any], base: dict[str, Any], slo_ms: float | None) -> str:
    if not ar["fits_in_memory"]:
        return (
            f"nothing fits in memory: plain AR needs {ar['memory_per_gpu_gb']:.1f} GB per GPU, "
            f"{base['capacity_bytes'] / GB:.1f} GB usable"
        )
    return f"no strategy meets the {slo_ms} ms per-token SLO"


def _sentence(inp: PlanInputs, best: dict[str, Any] | None, slo_ms: float | None) -> str:
    where = (f"{inp.target.id} on {inp.num_gpus}× {inp.hardware.id} at batch {inp.batch}, "
             f"context {inp.context}")
    if best is None:
        return f"No strategy is feasible for {where}."
    if best["draft_model"] == "none":
        return f"Do not speculate for {where}: plain autoregressive decoding is fastest."
    draft = "self-speculation" if best["draft_model"] == "self" else f"draft {best['draft_model']}"
    kv = (
        "full KV"
        if best["kv_method"] == "full"
        else f"{best['kv_method']} KV budget {best['kv_budget']}"
    )
    return (
        f"Use {draft} with {kv} and γ={best['gamma']} for {where}: "
        f"{best['speedup']:.2f}× per-token speedup ({best['t_spec_per_token_ms']:.2f} ms/token, "
        f"{best['throughput_tokens_per_s']:,.0f} tokens/s)."
    )
