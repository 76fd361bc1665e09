"""The planner's evaluation: every draft (self, small models, drafting families) × KV method ×
budget × γ (× draft TP degree) of one workload, vectorized. Loops run only over the categorical
choices (draft, draft TP degree); methods, budgets and γ are array axes, and the batch may be
one (see `planner.batches`). A tree family's γ axis is its depth alone, its verify its N tokens,
its Ω its τ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from magicplan.cost.drafts import Drafter
from magicplan.cost.memory import memory_per_gpu, usable_bytes
from magicplan.cost.roofline import Roofline
from magicplan.cost.speculative import (
    expected_tokens,
    expected_tokens_positional,
    implied_alpha,
    round_time,
)
from magicplan.cost.steps import autoregressive_time, verify_time, verify_tokens_time
from magicplan.errors import MagicplanError
from magicplan.planner import acceptance as acc
from magicplan.planner.accepted_lengths import lookup_tau
from magicplan.planner.grid import draft_grid
from magicplan.planner.inputs import PlanInputs, chain_depth, draft_degrees
from magicplan.planner.records import Acceptance, Baseline, Block, Draft, Evaluation
from magicplan.setup import Setup, memory_fraction
from magicplan.specs.drafts import DraftKindSpec
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


def acceptance_grid(inp: PlanInputs, draft: Any, budgets: np.ndarray) -> Acceptance:
    """The user's α when given (scalar or per-position), else the table's, per method × budget;
    a drafting family's τ (the user's --accepted-per-step, else the published table's) as an
    α grid of NaN with its source (`family_tau`); a chain family (n-gram lookup, MTP, a tree
    family drafted as a chain) takes the user's α like any chain."""
    draft_id = draft if isinstance(draft, str) else (draft.id if draft is not None else "self")
    shape = (len(inp.kv_methods), budgets.size)
    family = draft if isinstance(draft, DraftKindSpec) else None
    if inp.accepted_per_step is not None or (
        family is not None and (family.is_tree or inp.acceptance is None)
    ):
        return _tau_grid(inp, draft, shape)
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


def _tau_grid(inp: PlanInputs, draft: Any, shape: tuple[int, int]) -> Acceptance:
    """A τ-planned draft's grid: α NaN (none applies), τ's source in every cell, and the γ a
    chain's τ was measured at."""
    tau, source, gamma = family_tau(inp, draft)
    nan = np.full(shape, np.nan)
    sources = [[source] * shape[1] for _ in range(shape[0])]
    return Acceptance(nan, nan, nan, sources, tau=tau, tau_gamma=gamma)


def family_tau(inp: PlanInputs, draft: Any) -> tuple[float | None, str, int | None]:
    """τ for a draft planned by its mean accepted length, its source and the γ it was measured
    at (None: the user's, at the one γ planned or the family's depth): the user's, else the
    table's for this family (borrowed from the nearest target when the target has none)."""
    if inp.accepted_per_step is not None:
        return float(inp.accepted_per_step), "user --accepted-per-step", None
    chain = draft.drafted_as_chain
    hit = lookup_tau(inp.tau_table, inp.target, draft.kind, tree_tokens(inp, draft),
                     draft.depth, chain=chain)  # fmt: skip
    if hit is None:
        tree = " (its published τ are a tree's)" if chain else ""
        what = f"{'chain ' if chain else ''}τ for {draft.kind}{tree}"
        inp.notes.append(f"no published {what}: not planned "
                         "(give --accepted-per-step to plan it)")  # fmt: skip
        return None, "no accepted-length measurement", None
    return hit.tau, hit.source, hit.entry.gamma


def tree_tokens(inp: PlanInputs, draft: Any) -> int | None:
    """Tokens a tree family verifies per sequence (the user's --tree-tokens, else its own);
    None for chains."""
    if not isinstance(draft, DraftKindSpec) or not draft.is_tree:
        return None
    given = np.nan if inp.tree_tokens is None else float(inp.tree_tokens)
    return int(Drafter(inp.target, draft).verified(draft.depth, given))


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


def _tau_omega(inp: PlanInputs, draft: Any, acc_grid: Acceptance, gammas: np.ndarray) -> np.ndarray:
    """Ω of a τ-planned draft: a tree's τ at its depth; a chain's τ, measured at its γ₀ (the
    family's depth, or the one γ planned), carried to every γ through the α it implies."""
    shape = (*acc_grid.alpha.shape, gammas.size)
    tau = acc_grid.tau
    if tau is None:
        return np.full(shape, np.nan)
    if isinstance(draft, DraftKindSpec) and draft.is_tree:
        return np.full(shape, min(tau, float(gammas.max()) + 1.0))
    g0 = acc_grid.tau_gamma or chain_depth(inp, draft)
    if tau > g0 + 1:
        raise MagicplanError(
            f"accepted_per_step {tau:g} for a chain measured at γ = {g0}: a chain emits at most "
            f"γ + 1 = {g0 + 1} tokens per round; give the γ it was measured at (--gamma)"
        )
    alpha = implied_alpha(tau, g0)
    return np.broadcast_to(expected_tokens(gammas, alpha), shape).copy()


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
    """The categorical choices: every draft (self included) at every TP degree it can run on,
    with its γ axis (a tree family: its depth alone) and Ω (a tree: its τ)."""
    accs = accs if accs is not None else acceptance_grids(inp)
    out = []
    for model in inp.drafts:
        draft_id = model.id if model else "self"
        alpha = accs[grid_key(model)]
        family = model if isinstance(model, DraftKindSpec) else None
        gammas = np.array(_gammas(inp, family), dtype=float)
        if alpha.tau is not None or (family is not None and family.is_tree):
            om = _tau_omega(inp, model, alpha, gammas)
        else:
            om = _omega(inp, alpha.alpha, gammas)
        degrees = _degrees(inp, model)
        drafter = Drafter(inp.target, model)
        out += [Draft(draft_id=draft_id, model=model, draft_num_gpus=d, acceptance=alpha,
                      omega=om, gammas=gammas, drafter=drafter,
                      tree_tokens=tree_tokens(inp, model), tau=alpha.tau)
                for d in degrees]  # fmt: skip
    return out


def _gammas(inp: PlanInputs, family: DraftKindSpec | None) -> list[int]:
    """The draft depths planned: a tree's own depth (the γ given, when given); a chain's (a tree
    family drafted as one included), every γ; an MTP module's, in the default search, up to its
    modules (one module reused deeper accepts less than its measured α carries, vLLM's docs
    warn): γ ≤ mtp_layers; Medusa's, up to its heads (one token each)."""
    if family is not None and family.is_tree:
        return list(inp.gammas) if inp.gammas_given else [family.depth]  # the user's depths
    if family is not None and family.kind == "mtp" and not inp.gammas_given:
        return [g for g in inp.gammas if g <= inp.target.mtp_layers] or [1]
    if family is not None and family.heads:  # Medusa: one token per head, at most
        return [g for g in inp.gammas if g <= family.heads] or [family.heads]
    return list(inp.gammas)


def _degrees(inp: PlanInputs, model: Any) -> list[int]:
    """The draft's tensor-parallel degrees: a separate model's that shard it, else the target's."""
    if not isinstance(model, ModelSpec):
        return [inp.num_gpus]
    return draft_degrees(model, inp.num_gpus, inp.draft_num_gpus)


def draft_choices(inp: PlanInputs) -> set[tuple[str, int, bool]]:
    """(draft id, draft TP degree, verifies a tree) of every draft choice `drafts_of` makes."""
    return {
        (m.id if m else "self", d, bool(getattr(m, "is_tree", False)))
        for m in inp.drafts
        for d in _degrees(inp, m)
    }


def block(
    inp: PlanInputs,
    rf: Roofline,
    t_verify_s: npt.ArrayLike,
    draft: Draft,
    batch: npt.ArrayLike | None = None,
    verify_classes: Callable[[], dict[str, Any]] | None = None,
) -> Block:
    """Every method × budget × γ of one draft choice at `inp.batch` (or `batch`, the batch that
    `t_verify_s` was worked out at: the chain verify over `inp.gammas`; a tree family verifies
    its own N tokens, worked out here)."""
    b = inp.batch if batch is None else batch
    gammas = draft.gammas
    drf = rf if not isinstance(draft.model, ModelSpec) else inp.roofline_for(draft.model)
    verified = None
    if (
        draft.tree_tokens is not None
        or gammas.size != len(inp.gammas)
        or not np.array_equal(gammas, np.asarray(inp.gammas, dtype=float))
    ):
        q = np.full(gammas.shape, float(draft.tree_tokens)) if draft.tree_tokens else gammas + 1
        verified = q
        ver = verify_tokens_time(inp.target, rf, inp.num_gpus, b, inp.context, q)
        t_verify_s = np.broadcast_to(ver.total_s, np.broadcast_shapes(np.shape(b), q.shape))
        verify_classes = lambda: ver.breakdown  # noqa: E731 (worked out when asked)
    grid = draft_grid(inp.target, draft.drafter, drf, inp.num_gpus, draft.draft_num_gpus, b,
                      inp.context, inp.kv_methods, np.array(inp.kv_budgets, dtype=float), gammas,
                      verified)  # fmt: skip
    # MagicDec eq. 1–2: a round is its draft passes (γ; one for parallel drafters), one verify
    # (plus bookkeeping); per token, the round over Ω. The planner ranks by that (eq. 4's
    # objective: T_T is shared by all).
    passes = draft.drafter.passes(gammas)
    t_round = round_time(grid.t_draft_s, t_verify_s, passes, rf.round_overhead_s)
    return Block(draft=draft, grid=grid, t_round_s=t_round, t_verify_s=np.asarray(t_verify_s),
                 verify_classes=verify_classes or dict)  # fmt: skip


def evaluate(inp: PlanInputs, accs: dict[str, Acceptance] | None = None) -> Evaluation:
    """The AR baseline and, per (draft, draft TP degree), the whole method × budget × γ grid."""
    return with_blocks_of(Evaluation(baseline(inp), ()), inp, accs)


def with_blocks_of(
    ev: Evaluation, inp: PlanInputs, accs: dict[str, Acceptance] | None = None
) -> Evaluation:
    """`ev` and the blocks of `inp`'s drafts, evaluated over `inp`'s own methods and budgets
    (the same workload as `ev`: its baseline serves)."""
    base = ev.baseline
    more = (block(inp, base.roofline, base.t_verify_s, d,
                  verify_classes=lambda: base.verify_breakdown)
            for d in drafts_of(inp, accs))  # fmt: skip
    return Evaluation(base, (*ev.blocks, *more))


def acceptance_grids(inp: PlanInputs) -> dict[str, Acceptance]:
    """α grids for every draft (τ for families; notes about missing evidence go to
    `inp.notes`)."""
    budgets = np.array(inp.kv_budgets, dtype=float)
    return {grid_key(d): acceptance_grid(inp, d, budgets) for d in inp.drafts}


def grid_key(draft: Any) -> str:
    """A draft's key among the acceptance grids: its id ('self'), a tree family drafted as a
    chain apart from its tree."""
    key = draft.id if draft else "self"
    return f"{key} (chain)" if getattr(draft, "drafted_as_chain", False) else key
