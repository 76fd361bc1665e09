"""Turn evaluated candidate grids into ranked, JSON-ready plan objects with reasons (why)."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from magicplan.cost.speculative import expected_tokens, round_time
from magicplan.planner.acceptance import borrowed_from
from magicplan.planner.records import Baseline, Block, Candidates, Evaluation
from magicplan.planner.uncertainty import ModelError, model_error, speedup_interval
from magicplan.planner.wording import feasibility, notes, sentence
from magicplan.units import GB, MS

if TYPE_CHECKING:
    from magicplan.planner.inputs import PlanInputs

SECONDS_PER_HOUR = 3600.0
TOKENS_PER_MILLION = 1e6


def candidate_rows(inp: PlanInputs, ev: Evaluation) -> Candidates:
    """Every candidate with known Ω as flat arrays (one index per strategy), vectorized."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("block", "m", "k", "g", "t", "mem")}
    for i, blk in enumerate(ev.blocks):
        t_tok = blk.t_token_s
        ok = np.broadcast_to(blk.grid.valid, t_tok.shape) & np.isfinite(t_tok)
        m, k, g = np.nonzero(ok)
        for key, val in (("block", np.full(m.size, i)), ("m", m), ("k", k), ("g", g),
                         ("t", t_tok[ok]), ("mem", blk.grid.memory_bytes[ok])):  # fmt: skip
            parts[key].append(val)
    cols = {k: np.concatenate(v) if v else np.zeros(0, dtype=int) for k, v in parts.items()}
    return Candidates(baseline=ev.baseline, blocks=ev.blocks, block=cols["block"], m=cols["m"],
                      k=cols["k"], g=cols["g"], t_token_s=cols["t"].astype(float),
                      memory_bytes=cols["mem"].astype(float))  # fmt: skip


def rows_within(
    rows: Candidates, choices: set[tuple[str, int, bool]], methods: Sequence[str]
) -> Candidates:
    """The candidates whose (draft id, draft TP degree, tree or not) is among `choices` and
    whose KV method is among `methods`: a bounded plan's rows, from an evaluation of a
    superset."""
    keep = np.zeros(rows.block.shape, dtype=bool)
    for i, blk in enumerate(rows.blocks):
        d = blk.draft
        if (d.draft_id, d.draft_num_gpus, d.tree_tokens is not None) in choices:
            allowed = np.array([m in methods for m in blk.grid.methods])
            mine = rows.block == i  # each block indexes its own methods
            keep[mine] = allowed[rows.m[mine].astype(int)]
    return _kept(rows, keep)


def _kept(rows: Candidates, keep: np.ndarray) -> Candidates:
    """The candidates where `keep` is true."""
    cut = {k: getattr(rows, k)[keep] for k in ("block", "m", "k", "g", "t_token_s", "memory_bytes")}
    return replace(rows, **cut)


def run_somewhere(
    rows: Candidates, num_gpus: int, batch: int = 1, vendor: str | None = None
) -> Candidates:
    """The candidates that at least one shipped engine runs at `batch` (its draft kind, KV
    method, tree or chain, and the draft's GPUs beside the target's `num_gpus`)."""
    from magicplan.planner.engine_features import lacks, needs_of, shipped_on

    engines, known = shipped_on(vendor), {}

    def runs(needs: list[str], draft_n: int) -> bool:
        key = (tuple(needs), draft_n)
        if key not in known:
            known[key] = any(not lacks(e, needs, (draft_n, num_gpus)) for e in engines)
        return known[key]

    keep = np.zeros(rows.block.shape, dtype=bool)
    for i, blk in enumerate(rows.blocks):
        d = blk.draft
        ok = np.array([runs(needs_of({
            "draft_model": d.draft_id, "kv_method": m if d.drafter.kv_cache else "none",
            "gamma": int(d.gammas.max()), "tree_tokens": d.tree_tokens,
        }, batch), d.draft_num_gpus) for m in blk.grid.methods])  # fmt: skip
        mine = rows.block == i
        keep[mine] = ok[rows.m[mine].astype(int)]
    return _kept(rows, keep)


def fastest_entry(
    inp: PlanInputs, rows: Candidates, sources: Collection[str] | None = None
) -> dict[str, Any] | None:
    """The fastest speculative candidate that fits in memory, when it beats plain AR; with
    `sources`, the fastest whose acceptance comes from one of them (a table's), AR or not."""
    ok = rows.memory_bytes <= rows.baseline.capacity_bytes
    if sources is not None:
        ok &= _from_sources(rows, tuple(sources))
    idx = np.flatnonzero(ok)
    if not idx.size:
        return None
    i = int(idx[np.argmin(rows.t_token_s[idx])])
    if sources is None and rows.t_token_s[i] >= float(rows.baseline.t_ar_s):
        return None
    return entry(inp, rows, i, model_error(inp.base_setup), explain=False)


def _from_sources(rows: Candidates, sources: tuple[str, ...]) -> np.ndarray:
    """Rows whose acceptance source starts with one of `sources`."""
    out = np.zeros(rows.block.shape, dtype=bool)
    for i, blk in enumerate(rows.blocks):
        by_mk = np.array([[str(s).startswith(sources) for s in row]
                          for row in blk.draft.acceptance.sources], dtype=bool)  # fmt: skip
        at = rows.block == i
        out[at] = by_mk[rows.m[at].astype(int), rows.k[at].astype(int)]
    return out


def fractions(breakdown: dict[str, Any], index: Any = ()) -> dict[str, float]:
    """Share of each class (weights, kv, activations, compute, communication, overhead)."""
    vals = {k: float(np.asarray(v)[index] if np.ndim(v) else v) for k, v in breakdown.items()}
    total = sum(vals.values()) or 1.0
    return {k: round(v / total, 4) for k, v in vals.items()}


def _serving(inp: PlanInputs, tokens_per_s: float) -> dict[str, Any]:
    """Tokens/s per GPU (the draft shares the target's GPUs) and, with a GPU price, $/hour and
    $ per million generated tokens."""
    out: dict[str, Any] = {"throughput_tokens_per_s_per_gpu": tokens_per_s / inp.num_gpus,
                           "cost_per_hour_usd": None, "usd_per_million_tokens": None}  # fmt: skip
    if inp.gpu_hour_usd is not None:
        per_hour = inp.gpu_hour_usd * inp.num_gpus
        out["cost_per_hour_usd"] = per_hour
        out["usd_per_million_tokens"] = (
            per_hour / (tokens_per_s * SECONDS_PER_HOUR) * TOKENS_PER_MILLION
        )
    return out


def ar_entry(inp: PlanInputs, base: Baseline) -> dict[str, Any]:
    """The autoregressive baseline as a candidate (draft "none", γ 0, speedup 1)."""
    t = float(base.t_ar_s)
    shares = fractions(base.ar_breakdown)
    mem = float(base.ar_memory_bytes)
    return {
        "draft_model": "none", "kv_method": "none", "kv_budget": 0, "gamma": 0,
        "draft_num_gpus": 0, "acceptance": None, "acceptance_source": "none",
        "acceptance_borrowed_from": None,
        "accepted_per_step": 1.0, "speedup": 1.0, "speedup_interval": [1.0, 1.0],
        "clear_gain": False, "t_spec_per_token_ms": t / MS,
        "throughput_tokens_per_s": inp.batch / t, **_serving(inp, inp.batch / t),
        "t_draft_ms": 0.0, "t_verify_ms": 0.0,
        "t_autoregressive_ms": t / MS, "draft_to_target_ratio": 0.0,
        "verify_to_target_ratio": 0.0, "memory_per_gpu_gb": mem / GB,
        "fits_in_memory": bool(mem <= base.capacity_bytes),
        "bottleneck_fractions": shares, "why": {"autoregressive_fractions": shares},
    }  # fmt: skip


def _acceptance_used(inp: PlanInputs, blk: Block, m: int, k: int, gamma: int) -> Any:
    if blk.draft.tau is not None:
        return None  # planned by τ: no α applies
    if isinstance(inp.acceptance, tuple):
        return list(inp.acceptance[:gamma])  # per-position α_1..α_γ
    return float(blk.draft.acceptance.alpha[m, k])


def entry(
    inp: PlanInputs, rows: Candidates, i: int, error: ModelError, explain: bool = True
) -> dict[str, Any]:
    """One speculative candidate, JSON-ready, with its reasons (`explain`) and its speedup
    interval."""
    base = rows.baseline
    blk = rows.blocks[int(rows.block[i])]
    grid, m, k, g = blk.grid, int(rows.m[i]), int(rows.k[i]), int(rows.g[i])
    gamma, method = int(grid.gammas[g]), grid.methods[m]
    t_ar, t_tok, t_d = float(base.t_ar_s), float(rows.t_token_s[i]), float(grid.t_draft_s[m, k, g])
    t_v, mem = float(np.asarray(blk.t_verify_s)[g]), float(rows.memory_bytes[i])
    source = blk.draft.acceptance.sources[m][k]
    drafter = blk.draft.drafter
    method = method if drafter.kv_cache else "none"
    out = {
        "draft_model": blk.draft.draft_id, "kv_method": method,
        "kv_budget": 0 if method in ("full", "none") else int(grid.budgets[k]), "gamma": gamma,
        "draft_num_gpus": blk.draft.draft_num_gpus, "draft_kind": blk.draft.kind,
        "tree_tokens": blk.draft.tree_tokens or gamma + 1,
        "draft_passes": int(drafter.passes(gamma)),
        "acceptance_input": "tau" if blk.draft.tau is not None else "alpha",
        "tau": blk.draft.tau,
        "acceptance": _acceptance_used(inp, blk, m, k, gamma),
        "acceptance_source": source, "acceptance_borrowed_from": borrowed_from(source),
        "accepted_per_step": float(blk.draft.omega[m, k, g]), "speedup": t_ar / t_tok,
        "t_spec_per_token_ms": t_tok / MS, "throughput_tokens_per_s": inp.batch / t_tok,
        **_serving(inp, inp.batch / t_tok),
        "t_draft_ms": t_d / MS, "t_verify_ms": t_v / MS, "t_autoregressive_ms": t_ar / MS,
        "draft_to_target_ratio": t_d / t_ar, "verify_to_target_ratio": t_v / t_ar,
        "memory_per_gpu_gb": mem / GB, "fits_in_memory": bool(mem <= base.capacity_bytes),
    }  # fmt: skip
    if explain:
        out |= _why(base, blk, (m, k, g), gamma)
    low = high = out["speedup"]
    lo, hi = float(blk.draft.acceptance.low[m, k]), float(blk.draft.acceptance.high[m, k])
    if math.isfinite(lo) and math.isfinite(hi) and not isinstance(inp.acceptance, tuple):
        t_round = t_tok * out["accepted_per_step"]
        low, high = (t_ar * float(expected_tokens(gamma, a)) / t_round for a in (lo, hi))
        out["acceptance_interval"] = [lo, hi]
    interval = speedup_interval(low, high, error)
    return out | {"speedup_interval": list(interval), "clear_gain": interval[0] > 1.0}


def _why(base: Baseline, blk: Block, mkg: tuple[int, int, int], gamma: int) -> dict[str, Any]:
    """Bottleneck fractions of the whole round by class, and of each step; the cost ratios."""
    grid, g = blk.grid, mkg[2]
    t_d, t_v = float(grid.t_draft_s[mkg]), float(np.asarray(blk.t_verify_s)[g])
    overhead = base.roofline.round_overhead_s
    passes = float(blk.draft.drafter.passes(gamma))
    t_round = float(round_time(t_d, t_v, passes, overhead))
    by_class: dict[str, float] = {}
    for cls in {*grid.breakdown, *blk.verify_breakdown}:
        d = float(grid.breakdown[cls][mkg]) if cls in grid.breakdown else 0.0
        v = blk.verify_breakdown.get(cls, 0.0)
        by_class[cls] = passes * d + float(np.asarray(v)[g] if np.ndim(v) else v)
    by_class["overhead"] = by_class.get("overhead", 0.0) + overhead
    round_shares = {"draft": passes * t_d / t_round, "verify": t_v / t_round,
                    "round_overhead": overhead / t_round}  # fmt: skip
    t_ar = float(base.t_ar_s)
    return {
        "bottleneck_fractions": fractions(by_class),
        "why": {
            "round_fractions": {k: round(v, 4) for k, v in round_shares.items()},
            "draft_fractions": fractions(grid.breakdown, mkg),
            "verify_fractions": fractions(blk.verify_breakdown, g),
            "autoregressive_fractions": fractions(base.ar_breakdown),
            "draft_to_target_ratio": t_d / t_ar,
            "verify_to_target_ratio": t_v / t_ar,
        },
    }


def plan_report(
    inp: PlanInputs, rows: Candidates, objective: str, top: int, slo_ms: float | None = None
) -> dict[str, Any]:
    """Rank candidates (AR included), filter by memory and SLO, and explain the winner."""
    base = rows.baseline
    ok = rows.memory_bytes <= base.capacity_bytes
    if slo_ms is not None:
        ok &= rows.t_token_s / MS <= slo_ms
    # MagicDec eq. 4's objective: T_T is the same for every candidate, so the least per-token
    # time is the least (γ·T_D + T_V)/(Ω·T_T).
    order = np.flatnonzero(ok)[np.argsort(rows.t_token_s[ok], kind="stable")]
    ar = ar_entry(inp, base)
    ar_ok = ar["fits_in_memory"] and (slo_ms is None or ar["t_spec_per_token_ms"] <= slo_ms)
    error = model_error(inp.base_setup)
    ranked = [entry(inp, rows, int(i), error) for i in order[:top]] + ([ar] if ar_ok else [])
    ranked = sorted(ranked, key=lambda e: e["t_spec_per_token_ms"])[:top]
    best = ranked[0] if ranked else None
    families = _families(inp, rows, ok, error)
    if best is not None and best["draft_model"] != "none":
        best["why"]["best_of_each_family"] = {
            f["draft_kind"]: round(f["speedup"], 4) for f in families
        }
    fit = feasibility(inp, rows, ar, best)
    return {
        "hardware": inp.hardware.id, "num_gpus": inp.num_gpus, "target": inp.target.id,
        "batch": inp.batch, "context": inp.context, "objective": objective, "slo_ms": slo_ms,
        "best": best, "candidates": ranked, "autoregressive": ar,
        "candidates_evaluated": int(rows.t_token_s.size) + 1,
        "model_error": error.as_dict(), "feasibility": fit,
        "recommendation": sentence(inp, best, fit, error),
        "notes": notes(inp, best, fit, slo_ms), "families": families,
    }  # fmt: skip


FAMILY_KEYS = (
    "draft_kind", "draft_model", "kv_method", "kv_budget", "gamma", "tree_tokens",
    "draft_num_gpus", "accepted_per_step", "acceptance", "acceptance_input", "tau",
    "acceptance_source", "speedup",
    "t_spec_per_token_ms", "throughput_tokens_per_s", "memory_per_gpu_gb",
)  # fmt: skip


def _families(
    inp: PlanInputs, rows: Candidates, ok: np.ndarray, error: ModelError
) -> list[dict[str, Any]]:
    """The best feasible candidate of each draft kind (self, draft_model, eagle, eagle3,
    medusa, mtp, ngram), fastest first: what the plan's "why" compares."""
    by_block = np.array([blk.draft.kind for blk in rows.blocks] or [""], dtype=object)
    kinds = by_block[rows.block.astype(int)] if rows.block.size else np.zeros(0, dtype=object)
    out = []
    for kind in dict.fromkeys(kinds[ok].tolist()):
        idx = np.flatnonzero(ok & (kinds == kind))
        i = int(idx[np.argmin(rows.t_token_s[idx])])
        e = entry(inp, rows, i, error, explain=False)
        out.append({k: e[k] for k in FAMILY_KEYS})
    return sorted(out, key=lambda f: f["t_spec_per_token_ms"])
