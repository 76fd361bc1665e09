"""The planner: every draft × KV method × budget × γ (× draft TP degree) for one workload,
evaluated vectorized, filtered by memory (and a latency SLO), ranked; AR is always a candidate.

Paper eq. 4: minimise (γ·T_D + T_V) / (Ω·T_T) over method, budget, draft and γ, subject to
memory. Loops run only over the categorical choices (draft, draft TP degree); methods, budgets
and γ are array axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from magicplan.cost.memory import memory_per_gpu, usable_bytes
from magicplan.cost.speculative import expected_tokens, expected_tokens_positional
from magicplan.cost.steps import autoregressive_time, verify_time
from magicplan.planner import acceptance as acc
from magicplan.planner.grid import draft_grid
from magicplan.planner.inputs import (
    DEFAULT_BUDGETS,
    DEFAULT_GAMMAS,
    PlanInputs,
    default_drafts,
    draft_degrees,
    plan_inputs,
)
from magicplan.planner.report import candidate_rows, plan_report
from magicplan.setup import Setup, check_positive
from magicplan.specs.registry import HardwareLike, ModelLike

__all__ = ["DEFAULT_BUDGETS", "DEFAULT_GAMMAS", "PlanInputs", "default_drafts", "evaluate", "plan"]

SLO_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)  # batches tried under an SLO


@dataclass(frozen=True)
class Acceptance:
    """α per (method, budget) of one draft (NaN: no evidence), its interval and sources."""

    alpha: np.ndarray  # (M, K)
    low: np.ndarray  # (M, K), NaN where unknown
    high: np.ndarray
    sources: list[list[str]]  # [M][K]


def acceptance_grid(inp: PlanInputs, draft_id: str, budgets: np.ndarray) -> Acceptance:
    """The user's α when given (scalar or per-position), else the table's, per method × budget."""
    shape = (len(inp.kv_methods), budgets.size)
    if inp.acceptance is not None:
        positional = isinstance(inp.acceptance, tuple)
        a = 1.0 if positional else float(inp.acceptance)  # type: ignore[arg-type]
        lo, hi = inp.acceptance_interval or (np.nan, np.nan)
        src = "user per-position α_1..α_n" if positional else "user --acceptance"
        fill = [[src] * shape[1] for _ in range(shape[0])]
        return Acceptance(np.full(shape, a), np.full(shape, lo), np.full(shape, hi), fill)
    evs = [
        acc.lookup_budgets(inp.acceptance_table, inp.target.id, draft_id, m, budgets, inp.context)
        for m in inp.kv_methods
    ]
    gaps = [_gap(m, budgets, ev) for m, ev in zip(inp.kv_methods, evs, strict=True)]
    if any(gaps):
        inp.notes.append(
            f"no acceptance evidence for {draft_id} at "
            + ", ".join(g for g in gaps if g)
            + ": not planned (give --acceptance or --acceptance-table to plan them)"
        )
    alpha, low, high = (np.stack([getattr(ev, f) for ev in evs]) for f in ("alpha", "low", "high"))
    return Acceptance(alpha, low, high, [ev.sources for ev in evs])


def _gap(method: str, budgets: np.ndarray, ev: acc.Evidence) -> str:
    """'snapkv budgets < 2048' when requested budgets lie below the smallest measured one."""
    if ev.smallest_budget is None:
        return f"{method} (no measurement)"
    if method != "full" and np.any(budgets < ev.smallest_budget):
        return f"{method} budgets < {ev.smallest_budget:g}"
    return ""


def _omega(inp: PlanInputs, alpha: np.ndarray, gammas: np.ndarray) -> np.ndarray:
    """Ω per (method, budget, γ); NaN where α is unknown (or γ exceeds per-position rates)."""
    if isinstance(inp.acceptance, tuple):
        rates = np.asarray(inp.acceptance, dtype=float)
        om = np.array(
            [float(expected_tokens_positional(rates[: int(g)])) if g <= rates.size else np.nan
             for g in gammas]
        )  # fmt: skip
        return np.broadcast_to(om, (*alpha.shape, gammas.size)).copy()
    om = expected_tokens(gammas[None, None, :], np.nan_to_num(alpha)[..., None])
    return np.where(np.isnan(alpha)[..., None], np.nan, om)


def baseline(inp: PlanInputs) -> dict[str, Any]:
    """T_T, T_V for every γ, AR memory and the usable capacity."""
    setup = Setup(hardware=inp.hardware, num_gpus=inp.num_gpus, target=inp.target,
                  memory_utilization=inp.memory_utilization)  # fmt: skip
    rf = setup.roofline
    ar = autoregressive_time(inp.target, rf, inp.num_gpus, inp.batch, inp.context)
    gam = np.array(inp.gammas, float)
    ver = verify_time(inp.target, rf, inp.num_gpus, inp.batch, inp.context, gam)
    mem = memory_per_gpu(inp.target, inp.num_gpus, inp.batch, inp.context, speculative=False)
    return {
        "roofline": rf,
        "t_ar_s": float(ar.total_s),
        "ar_breakdown": ar.breakdown,
        "t_verify_s": np.broadcast_to(ver.total_s, gam.shape),
        "verify_breakdown": ver.breakdown,
        "ar_memory_bytes": float(mem["total"]),
        "capacity_bytes": usable_bytes(inp.hardware.memory_bytes, setup.memory_utilization),
    }


def evaluate(inp: PlanInputs, accs: dict[str, Acceptance] | None = None) -> dict[str, Any]:
    """The AR baseline and, per (draft, draft TP degree), the whole method × budget × γ grid."""
    base = baseline(inp)
    rf = base["roofline"]
    budgets = np.array(inp.kv_budgets, dtype=float)
    gammas = np.array(inp.gammas, dtype=float)
    accs = accs if accs is not None else acceptance_grids(inp)
    blocks = []
    for draft in inp.drafts:
        draft_id = draft.id if draft else "self"
        alpha = accs[draft_id]
        om = _omega(inp, alpha.alpha, gammas)
        degrees = (
            [inp.num_gpus]
            if draft is None
            else draft_degrees(draft, inp.num_gpus, inp.draft_num_gpus)
        )
        for d in degrees:
            grid = draft_grid(inp.target, draft, rf, inp.num_gpus, d, inp.batch, inp.context,
                              inp.kv_methods, budgets, gammas)  # fmt: skip
            t_round = gammas * grid.t_draft_s + base["t_verify_s"] + rf.round_overhead_s
            blocks.append({"draft": draft_id, "draft_num_gpus": d, "grid": grid,
                           "acceptance": alpha, "omega": om, "t_round_s": t_round})  # fmt: skip
    return {"baseline": base, "blocks": blocks}


def acceptance_grids(inp: PlanInputs) -> dict[str, Acceptance]:
    """α grids for every draft (notes about missing evidence go to `inp.notes`)."""
    budgets = np.array(inp.kv_budgets, dtype=float)
    return {(d.id if d else "self"): acceptance_grid(inp, d.id if d else "self", budgets)
            for d in inp.drafts}  # fmt: skip


def plan(
    hardware: HardwareLike,
    num_gpus: int,
    target: ModelLike,
    batch: int,
    context: int,
    drafts: Sequence[ModelLike | None] | None = None,
    kv_methods: Sequence[str] | None = None,
    kv_budgets: Sequence[int] | None = None,
    gammas: Sequence[int] | None = None,
    acceptance: float | Sequence[float] | None = None,
    acceptance_table: Any = None,
    slo_ms: float | None = None,
    top: int = 5,
    draft_num_gpus: Sequence[int] | None = None,
    acceptance_samples: int | None = None,
    acceptance_interval: Sequence[float] | None = None,
    memory_utilization: float | None = None,
) -> dict[str, Any]:
    """Best strategy for one workload (JSON-ready): best, ranked top `top`, AR baseline, why.

    Objective: minimum per-token latency; with `slo_ms`, maximum throughput among strategies
    and batch sizes up to `batch` whose per-token latency meets the SLO. Memory always binds.
    `hardware`, `target`, `drafts`: specs, ids or paths; None (or 'self') in `drafts` means
    self-speculation (default: self plus every shipped model with the target's tokenizer and
    fewer parameters). `acceptance`: α, or per-position α_1..α_n. `memory_utilization`: the
    fraction of device memory an engine may fill (default 0.9).
    """
    inp = plan_inputs(
        hardware, num_gpus, target, batch, context, drafts=drafts, kv_methods=kv_methods,
        kv_budgets=kv_budgets, gammas=gammas, acceptance=acceptance,
        acceptance_table=acceptance_table, draft_num_gpus=draft_num_gpus,
        acceptance_samples=acceptance_samples, acceptance_interval=acceptance_interval,
        memory_utilization=memory_utilization,
    )  # fmt: skip
    check_positive("top", top)
    accs = acceptance_grids(inp)
    if slo_ms is None:
        return plan_report(inp, candidate_rows(inp, evaluate(inp, accs)), "min_latency", top)
    check_positive("slo_ms", slo_ms, integer=False)
    best: dict[str, Any] | None = None
    for b in [*(b for b in SLO_BATCHES if b < inp.batch), inp.batch]:
        sub = replace(inp, batch=b, notes=list(inp.notes))
        report = plan_report(sub, candidate_rows(sub, evaluate(sub, accs)),
                             "max_throughput_under_slo", top, slo_ms)  # fmt: skip
        if report["best"] is not None and (
            best is None
            or report["best"]["throughput_tokens_per_s"] > best["best"]["throughput_tokens_per_s"]
        ):
            best = report
    if best is None:
        rows = candidate_rows(inp, evaluate(inp, accs))
        return plan_report(inp, rows, "max_throughput_under_slo", top, slo_ms)
    return best
