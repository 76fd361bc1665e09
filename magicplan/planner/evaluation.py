"""The planner's evaluation: every draft × KV method × budget × γ (× draft TP degree) of one
workload, vectorized. Loops run only over the categorical choices (draft, draft TP degree);
methods, budgets and γ are array axes, and the batch may be one (see `planner.batches`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from magicplan.cost.memory import memory_per_gpu, usable_bytes
from magicplan.cost.roofline import Roofline
from magicplan.cost.speculative import expected_tokens, expected_tokens_positional, round_time
from magicplan.cost.steps import autoregressive_time, verify_time
from magicplan.planner import acceptance as acc
from magicplan.planner.grid import draft_grid
from magicplan.planner.inputs import PlanInputs, draft_degrees
from magicplan.planner.records import Acceptance, Baseline, Block, Draft, Evaluation
from magicplan.setup import Setup, memory_fraction
from magicplan.specs.hardware import HardwareSpec
from magicplan.specs.model import ModelSpec


def capacity_bytes(inp: PlanInputs) -> float:
    """Bytes an engine may fill on one GPU (device memory × utilization)."""
    return usable_capacity(inp.hardware, inp.num_gpus, inp.target, inp.memory_utilization)


def usable_capacity(
    hardware: HardwareSpec, num_gpus: int, target: ModelSpec, memory_utilization: float | None
) -> float:
    """Bytes an engine may fill on one GPU of `hardware` serving `target` on `num_gpus`
    (`memory_utilization` of it; None: the default)."""
    setup = Setup(hardware=hardware, num_gpus=num_gpus, target=target,
                  memory_utilization=memory_fraction(memory_utilization))  # fmt: skip
    return usable_bytes(hardware.memory_bytes, setup.memory_utilization)


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


def baseline(inp: PlanInputs, batch: npt.ArrayLike | None = None) -> Baseline:
    """T_T, T_V for every γ, AR memory and the usable capacity, at `inp.batch` or at `batch`
    (an array: a leading axis of batch sizes, or one batch per strategy)."""
    rf = inp.base_setup.roofline
    b = inp.batch if batch is None else np.asarray(batch, dtype=np.float64)
    ar = autoregressive_time(inp.target, rf, inp.num_gpus, b, inp.context)
    gam = np.array(inp.gammas, float)
    ver = verify_time(inp.target, rf, inp.num_gpus, b, inp.context, gam)
    mem = memory_per_gpu(inp.target, inp.num_gpus, b, inp.context, speculative=False)
    return Baseline(
        roofline=rf,
        t_ar_s=ar.total_s,
        ar_breakdown=ar.breakdown,
        t_verify_s=np.broadcast_to(ver.total_s, np.broadcast_shapes(np.shape(b), gam.shape)),
        verify_breakdown=ver.breakdown,
        ar_memory_bytes=mem["total"],
        capacity_bytes=capacity_bytes(inp),
    )


def drafts_of(inp: PlanInputs, accs: dict[str, Acceptance] | None = None) -> list[Draft]:
    """The categorical choices: every draft (self included) at every TP degree it can run on."""
    accs = accs if accs is not None else acceptance_grids(inp)
    gammas = np.array(inp.gammas, dtype=float)
    out = []
    for model in inp.drafts:
        draft_id = model.id if model else "self"
        alpha = accs[draft_id]
        om = _omega(inp, alpha.alpha, gammas)
        degrees = (
            [inp.num_gpus]
            if model is None
            else draft_degrees(model, inp.num_gpus, inp.draft_num_gpus)
        )
        out += [Draft(draft_id=draft_id, model=model, draft_num_gpus=d, acceptance=alpha,
                      omega=om) for d in degrees]  # fmt: skip
    return out


def block(
    inp: PlanInputs,
    rf: Roofline,
    t_verify_s: npt.ArrayLike,
    draft: Draft,
    batch: npt.ArrayLike | None = None,
) -> Block:
    """Every method × budget × γ of one draft choice at `inp.batch` (or `batch`, the batch that
    `t_verify_s` was worked out at)."""
    gammas = np.array(inp.gammas, dtype=float)
    drf = rf if draft.model is None else inp.roofline_for(draft.model)
    grid = draft_grid(inp.target, draft.model, drf, inp.num_gpus, draft.draft_num_gpus,
                      inp.batch if batch is None else batch, inp.context, inp.kv_methods,
                      np.array(inp.kv_budgets, dtype=float), gammas)  # fmt: skip
    # MagicDec eq. 1–2: a round is γ draft steps and one verify (plus bookkeeping); per token,
    # the round over Ω. The planner ranks by that (eq. 4's objective: T_T is shared by all).
    t_round = round_time(grid.t_draft_s, t_verify_s, gammas, rf.round_overhead_s)
    return Block(draft=draft, grid=grid, t_round_s=t_round)


def evaluate(inp: PlanInputs, accs: dict[str, Acceptance] | None = None) -> Evaluation:
    """The AR baseline and, per (draft, draft TP degree), the whole method × budget × γ grid."""
    base = baseline(inp)
    blocks = (block(inp, base.roofline, base.t_verify_s, d) for d in drafts_of(inp, accs))
    return Evaluation(base, tuple(blocks))


def acceptance_grids(inp: PlanInputs) -> dict[str, Acceptance]:
    """α grids for every draft (notes about missing evidence go to `inp.notes`)."""
    budgets = np.array(inp.kv_budgets, dtype=float)
    return {(d.id if d else "self"): acceptance_grid(inp, d.id if d else "self", budgets)
            for d in inp.drafts}  # fmt: skip
