"""The planner: every draft × KV method × budget × γ (× draft TP degree) for one workload,
evaluated vectorized, filtered by memory (and a latency SLO), ranked; AR is always a candidate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from magicplan.cost.speculative import expected_tokens, expected_tokens_positional
from magicplan.cost.steps import KV_METHODS, check_method
from magicplan.errors import MagicplanError
from magicplan.estimate import Setup, check_positive
from magicplan.planner import acceptance as acc
from magicplan.planner.grid import draft_grid
from magicplan.planner.report import candidate_rows, plan_report
from magicplan.specs import list_models
from magicplan.specs.hardware import HardwareSpec
from magicplan.specs.model import ModelSpec

DEFAULT_BUDGETS = (128, 256, 512, 1024, 2048, 4096, 8192)  # issue: budgets 128..8192
DEFAULT_GAMMAS = tuple(range(1, 13))  # issue: γ from 1 to 12


@dataclass
class PlanInputs:
    """Everything a plan depends on, resolved (specs loaded, defaults filled)."""

    hardware: HardwareSpec
    num_gpus: int
    target: ModelSpec
    batch: int
    context: int
    drafts: list[ModelSpec | None]  # None = self-speculation
    kv_methods: tuple[str, ...] = KV_METHODS
    kv_budgets: tuple[int, ...] = DEFAULT_BUDGETS
    gammas: tuple[int, ...] = DEFAULT_GAMMAS
    acceptance: float | Sequence[float] | None = None
    acceptance_table: list[acc.Entry] = field(default_factory=list)
    draft_num_gpus: tuple[int, ...] | None = None
    notes: list[str] = field(default_factory=list)
    acceptance_interval: tuple[float, float] | None = None  # 95 % interval of a scalar α


def default_drafts(target: ModelSpec) -> list[ModelSpec | None]:
    """Self-speculation plus every shipped model with the target's vocab and fewer parameters."""
    small = [
        m
        for m in list_models()
        if m.vocab_size == target.vocab_size
        and m.num_parameters < target.num_parameters
        and m.id != target.id
    ]
    return [None, *sorted(small, key=lambda m: m.num_parameters)]


def draft_degrees(model: ModelSpec, num_gpus: int, wanted: tuple[int, ...] | None) -> list[int]:
    """Tensor-parallel degrees (divisors of num_gpus) that can shard `model`."""
    from magicplan.cost.operators import shard

    out = []
    for d in wanted or tuple(d for d in range(1, num_gpus + 1) if num_gpus % d == 0):
        try:
            shard(model, d)
        except MagicplanError:
            continue
        if d <= num_gpus:
            out.append(d)
    return out


def _alphas(
    inp: PlanInputs, draft_id: str, methods: tuple[str, ...], budgets: np.ndarray
) -> tuple[np.ndarray, list[list[str]]]:
    """α per (method, budget), NaN where there is no evidence; sources alongside."""
    m_n, k_n = len(methods), budgets.size
    if inp.acceptance is not None and not isinstance(inp.acceptance, Sequence):
        return np.full((m_n, k_n), float(inp.acceptance)), [["user --acceptance"] * k_n] * m_n
    alpha = np.full((m_n, k_n), np.nan)
    src = [[""] * k_n for _ in range(m_n)]
    for i, m in enumerate(methods):
        for j, b in enumerate(budgets):
            hit = acc.lookup(
                inp.acceptance_table, inp.target.id, draft_id, m, float(b), inp.context
            )
            if hit is not None:
                alpha[i, j], src[i][j] = hit.alpha, hit.source
    return alpha, src


def _omega(inp: PlanInputs, alpha: np.ndarray, gammas: np.ndarray) -> np.ndarray:
    if isinstance(inp.acceptance, Sequence):  # per-position α_1..α_n: γ ≤ n only
        rates = np.asarray(inp.acceptance, dtype=float)
        om = np.array(
            [
                float(expected_tokens_positional(rates[: int(g)])) if g <= rates.size else np.nan
                for g in gammas
            ]
        )
        return np.broadcast_to(om, (*alpha.shape, gammas.size)).copy()
    safe = np.nan_to_num(alpha)[..., None]
    om = expected_tokens(gammas[None, None, :], safe)
    return np.where(np.isnan(alpha)[..., None], np.nan, om)


def evaluate(inp: PlanInputs) -> dict[str, Any]:
    """All candidates as flat arrays plus the AR baseline (see `candidate_rows`)."""
    setup = Setup(inp.hardware, inp.num_gpus, inp.target)
    rf = setup.roofline
    base = _baseline(setup, inp)
    budgets = np.array([b for b in inp.kv_budgets], dtype=float)
    gammas = np.array(inp.gammas, dtype=float)
    t_v = base["t_verify_s"]
    blocks = []
    for draft in inp.drafts:
        draft_id = draft.id if draft else "self"
        model = draft or inp.target
        alpha, src = _alphas(inp, draft_id, inp.kv_methods, budgets)  # same for every TP degree
        om = _omega(inp, alpha, gammas)
        for d in (
            [inp.num_gpus]
            if draft is None
            else draft_degrees(model, inp.num_gpus, inp.draft_num_gpus)
        ):
            grid = draft_grid(
                inp.target,
                draft,
                rf,
                inp.num_gpus,
                d,
                inp.batch,
                inp.context,
                inp.kv_methods,
                budgets,
                gammas,
            )
            t_round = gammas * grid.t_draft_s + t_v + rf.round_overhead_s
            blocks.append(
                {
                    "draft": draft_id,
                    "draft_num_gpus": d,
                    "grid": grid,
                    "alpha": alpha,
                    "alpha_source": src,
                    "omega": om,
                    "t_round_s": t_round,
                }
            )
    return {"baseline": base, "blocks": blocks}


def _baseline(setup: Setup, inp: PlanInputs) -> dict[str, Any]:
    from magicplan.cost.memory import memory_per_gpu, usable_bytes
    from magicplan.cost.steps import autoregressive_time, verify_time

    rf = setup.roofline
    ar = autoregressive_time(inp.target, rf, inp.num_gpus, inp.batch, inp.context)
    ver = verify_time(
        inp.target, rf, inp.num_gpus, inp.batch, inp.context, np.array(inp.gammas, float)
    )
    mem = memory_per_gpu(inp.target, inp.num_gpus, inp.batch, inp.context, speculative=False)
    return {
        "t_ar_s": float(ar.total_s),
        "ar_breakdown": ar.breakdown,
        "t_verify_s": ver.total_s,
        "verify_breakdown": ver.breakdown,
        "ar_memory_bytes": float(mem["total"]),
        "capacity_bytes": usable_bytes(inp.hardware.memory_bytes, setup.memory_utilization),
    }


def plan_inputs(
    hardware: HardwareSpec,
    num_gpus: int,
    target: ModelSpec,
    batch: int,
    context: int,
    drafts: Sequence[ModelSpec | None] | None = None,
    kv_methods: Sequence[str] | None = None,
    kv_budgets: Sequence[int] | None = None,
    gammas: Sequence[int] | None = None,
    acceptance: float | Sequence[float] | None = None,
    acceptance_table: Any = None,
    draft_num_gpus: Sequence[int] | None = None,
    acceptance_samples: int | None = None,
) -> PlanInputs:
    """Validate and resolve the planner's inputs (one clear MagicplanError per bad field)."""
    check_positive("batch", batch)
    check_positive("context", context)
    check_positive("num_gpus", num_gpus)
    methods = tuple(check_method(m) for m in (kv_methods or KV_METHODS))
    budgets = tuple(int(check_positive("kv_budgets", b)) for b in (kv_budgets or DEFAULT_BUDGETS))
    gam = tuple(int(check_positive("gammas", g)) for g in (gammas or DEFAULT_GAMMAS))
    notes: list[str] = []
    if acceptance is not None:
        from magicplan.cost.speculative import check_acceptance

        check_acceptance(acceptance)
    table = (
        acceptance_table if isinstance(acceptance_table, list) else acc.load_table(acceptance_table)
    )
    ds = list(drafts) if drafts is not None else default_drafts(target)
    for d in ds:
        if d is not None:
            from magicplan.estimate import check_draft_vocab

            check_draft_vocab(target, d)
    Setup(hardware, num_gpus, target)  # validates the split (names num_gpus)
    fit = [b for b in budgets if b <= context]
    if len(fit) < len(budgets) and any(m != "full" for m in methods):
        notes.append(f"budgets above the context ({context}) dropped: the draft would keep it all")
    budgets = tuple(fit) or (int(context),)
    interval = None
    if acceptance_samples is not None:
        if not isinstance(acceptance, (int, float)):
            raise MagicplanError("acceptance_samples needs a scalar --acceptance")
        interval = acc.wilson_interval(
            float(acceptance), int(check_positive("acceptance_samples", acceptance_samples))
        )
    return PlanInputs(
        hardware,
        int(num_gpus),
        target,
        int(batch),
        int(context),
        ds,
        methods,
        budgets,
        gam,
        acceptance,
        table,
        tuple(draft_num_gpus) if draft_num_gpus else None,
        notes,
        interval,
    )


def plan(
    hardware: HardwareSpec,
    num_gpus: int,
    target: ModelSpec,
    batch: int,
    context: int,
    drafts: Sequence[ModelSpec | None] | None = None,
    kv_methods: Sequence[str] | None = None,
    kv_budgets: Sequence[int] | None = None,
    gammas: Sequence[int] | None = None,
    acceptance: float | Sequence[float] | None = None,
    acceptance_table: Any = None,
    slo_ms: float | None = None,
    top: int = 5,
    draft_num_gpus: Sequence[int] | None = None,
    acceptance_samples: int | None = None,
) -> dict[str, Any]:
    """Best strategy for one workload (JSON-ready): best, ranked candidates, AR baseline, why.

    Objective: minimum per-token latency; with `slo_ms`, maximum throughput among strategies
    (and batch sizes up to `batch`) whose per-token latency meets the SLO. Memory always binds.
    """
    inp = plan_inputs(
        hardware,
        num_gpus,
        target,
        batch,
        context,
        drafts,
        kv_methods,
        kv_budgets,
        gammas,
        acceptance,
        acceptance_table,
        draft_num_gpus,
        acceptance_samples,
    )
    if slo_ms is None:
        rows = candidate_rows(inp, evaluate(inp))
        return plan_report(inp, rows, "min_latency", top)
    check_positive("slo_ms", slo_ms, integer=False)
    best: dict[str, Any] | None = None
    for b in _batches_up_to(inp.batch):
        sub = PlanInputs(**{**inp.__dict__, "batch": b, "notes": list(inp.notes)})
        rows = candidate_rows(sub, evaluate(sub))
        report = plan_report(sub, rows, "max_throughput_under_slo", top, slo_ms)
        if report["best"] is not None and (
            best is None
            or report["best"]["throughput_tokens_per_s"] > best["best"]["throughput_tokens_per_s"]
        ):
            best = report
    if best is None:
        rows = candidate_rows(inp, evaluate(inp))
        return plan_report(inp, rows, "max_throughput_under_slo", top, slo_ms)
    return best


def _batches_up_to(batch: int) -> list[int]:
    out = [b for b in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024) if b < batch]
    return [*out, int(batch)]
