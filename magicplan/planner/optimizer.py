"""The planner: every draft × KV method × budget × γ (× draft TP degree) for one workload,
evaluated vectorized (`planner.evaluation`), filtered by memory (and a latency SLO), ranked; AR
is always a candidate.

The objective follows MagicDec (Sadhukhan, Chen, Chen, Tiwari et al., ICLR 2025, arXiv
2408.11049), eq. 4: minimise (1/Ω)·(γ·(T_D + T_select)/T_T + T_V/T_T) over method, budget,
draft and γ, subject to memory; per-token time and speedup are its eq. 1–2 (§3.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from magicplan.planner.batches import ar_max_batch, largest_ar, most_tokens
from magicplan.planner.engine_features import (
    beyond_report,
    engines_that_run,
    needs_of,
    outside,
    runnable,
)
from magicplan.planner.evaluation import (
    acceptance_grid,
    acceptance_grids,
    baseline,
    draft_choices,
    drafts_of,
    evaluate,
    grid_key,
    with_blocks_of,
)
from magicplan.planner.inputs import (
    DEFAULT_BUDGETS,
    DEFAULT_GAMMAS,
    PlanInputs,
    default_drafts,
    plan_inputs,
)
from magicplan.planner.records import Acceptance, Strategy
from magicplan.planner.report import (
    candidate_rows,
    fastest_entry,
    plan_report,
    rows_within,
    run_somewhere,
)
from magicplan.setup import check_positive
from magicplan.specs.engine import EngineSpec
from magicplan.specs.registry import DraftLike, EngineLike, HardwareLike, ModelLike
from magicplan.units import MS

__all__ = [
    "DEFAULT_BUDGETS", "DEFAULT_GAMMAS", "Acceptance", "PlanInputs", "acceptance_grid",
    "baseline", "default_drafts", "evaluate", "plan",
]  # fmt: skip


def plan(
    hardware: HardwareLike,
    num_gpus: int,
    target: ModelLike,
    batch: int,
    context: int,
    drafts: Sequence[DraftLike] | None = None,
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
    gpu_hour_usd: float | None = None,
    memory_utilization: float | None = None,
    engine: EngineLike | None = None,
    any_strategy: bool = False,
    beyond: bool = True,
    accepted_per_step: float | None = None,
    tree_tokens: int | None = None,
    tau_table: Any = None,
    weight_dtype: str | None = None,
    kv_dtype: str | None = None,
) -> dict[str, Any]:
    """Best strategy for one workload (JSON-ready): best, ranked top `top`, AR baseline, why.

    Objective: minimum per-token latency; with `slo_ms`, maximum throughput among strategies
    and batch sizes up to `batch` whose per-token latency meets the SLO. Memory always binds.
    `hardware`, `target`, `drafts`: specs, ids or paths; None (or 'self') in `drafts` means
    self-speculation, a kind keyword (eagle, eagle3, medusa, mtp, ngram) a drafting family
    (default: self, every shipped model with the target's tokenizer and fewer parameters, and
    every family; MTP where the target ships the module). `acceptance`: α, or per-position
    α_1..α_n (chains). `accepted_per_step`: τ, the mean accepted length per round, for any draft
    (a family's default: the published `tau_table`). `tree_tokens`: tokens a tree family
    verifies per sequence (default: its own).
    The answer's `batch` may be smaller than the one asked under an SLO (`batch_changed`,
    `requested_batch`, and a note say so). `gpu_hour_usd`: a GPU's hourly price, for $/hour and
    $ per million tokens. `memory_utilization`: the fraction of device memory an engine may
    fill (default 0.9). `engine` (a spec, an id or a path; default: the default engine, or the
    hardware profile's own calibration): the serving engine, whose step costs the plan uses and
    whose speculative features bound it — what it cannot run is left out (`beyond_engine`
    says what it would give, unless not `beyond`), unless `any_strategy`. `weight_dtype` and
    `kv_dtype`: the target's weight and KV formats (`specs.quantization`).
    """
    kw: dict[str, Any] = dict(
        drafts=drafts, kv_methods=kv_methods, kv_budgets=kv_budgets, gammas=gammas,
        acceptance=acceptance, acceptance_table=acceptance_table, draft_num_gpus=draft_num_gpus,
        acceptance_samples=acceptance_samples, acceptance_interval=acceptance_interval,
        gpu_hour_usd=gpu_hour_usd, memory_utilization=memory_utilization, engine=engine,
        accepted_per_step=accepted_per_step, tree_tokens=tree_tokens, tau_table=tau_table,
        weight_dtype=weight_dtype, kv_dtype=kv_dtype,
    )  # fmt: skip
    inp = plan_inputs(hardware, num_gpus, target, batch, context, any_strategy=any_strategy, **kw)
    check_positive("top", top)
    accs = acceptance_grids(inp)
    engine_spec = runnable(inp.engine, inp.hardware) if beyond and inp.beyond_engine else None
    if slo_ms is not None:
        check_positive("slo_ms", slo_ms, integer=False)
        report = _plan_under_slo(inp, accs, float(slo_ms), top)
        frees = None
    elif engine_spec is None:
        rows = candidate_rows(inp, evaluate(inp, accs))
        report = plan_report(inp, rows, "min_latency", top)
        frees = None
    else:  # one evaluation of every strategy: the engine's rows ranked, the rest beyond it
        free_inp = plan_inputs(hardware, num_gpus, target, batch, context, any_strategy=True,
                               **kw)  # fmt: skip
        # a tree family the engine drafts as a chain: evaluated beside the tree over the
        # engine's methods, for the engine's rows only (--any-strategy plans the tree)
        planned = {grid_key(d) for d in free_inp.drafts}
        chains = [d for d in inp.drafts if getattr(d, "drafted_as_chain", False)]
        chains = [d for d in chains if grid_key(d) not in planned]
        free_ev = evaluate(free_inp)
        every_ev = with_blocks_of(free_ev, replace(inp, drafts=chains), accs) if chains else free_ev
        every = candidate_rows(free_inp, every_ev)
        rows = rows_within(every, draft_choices(inp), inp.kv_methods)
        report = plan_report(inp, rows, "min_latency", top)
        anything = candidate_rows(free_inp, free_ev) if chains else every
        # what an engine the user can deploy runs first; else what none ships yet
        fastest = fastest_entry(free_inp, anything)
        vendor = inp.hardware.vendor
        shipped = _shipped_first([fastest], inp.num_gpus, inp.batch, vendor) if fastest else None
        if fastest is not None and shipped is None:  # look further only when it is not shipped
            runs_somewhere = run_somewhere(anything, inp.num_gpus, inp.batch, vendor)
            shipped = fastest_entry(free_inp, runs_somewhere)
        frees = [{"best": shipped}, {"best": fastest}]
        if acceptance_table is not None:
            sources = {e.source for e in inp.acceptance_table}
            table_top = fastest_entry(free_inp, anything, sources)
            report = _with_table_beyond(engine_spec, inp.num_gpus, report, table_top,
                                        inp.hardware.vendor)  # fmt: skip
    if slo_ms is None:
        report |= {"requested_batch": inp.batch, "batch_changed": False}
    report = {"acceptance_table_beyond_engine": None} | report
    report |= {"engine": inp.engine_id, "beyond_engine": None}
    if engine_spec is None:
        return report
    if frees is None:  # under an SLO the batch may have changed: plan every strategy there
        kw.update(acceptance_table=inp.acceptance_table, tau_table=inp.tau_table)
        free = plan(inp.hardware, inp.num_gpus, inp.target, report["batch"], inp.context,
                    top=BEYOND_TOP, any_strategy=True, beyond=False, **kw)  # fmt: skip
        first = _shipped_first(free["candidates"], inp.num_gpus, report["batch"],
                               inp.hardware.vendor)  # fmt: skip
        frees = [{"best": first}, free]
    return _with_beyond(engine_spec, inp.num_gpus, report, frees, inp.hardware.vendor)


BEYOND_TOP = 50  # candidates of an SLO plan searched for one a shipped engine runs


def _shipped_first(
    candidates: list[dict[str, Any]], num_gpus: int, batch: int, vendor: str | None = None
) -> dict[str, Any] | None:
    """The fastest speculative candidate that some shipped engine runs on `vendor`'s hardware
    (None: none does)."""
    return next((c for c in candidates if c["draft_model"] != "none" and engines_that_run(
        needs_of(c, batch), (int(c["draft_num_gpus"]), num_gpus), vendor)), None)  # fmt: skip


def _with_beyond(
    engine: EngineSpec, num_gpus: int, report: dict[str, Any], frees: list[dict[str, Any]],
    vendor: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """When the engine left out a faster strategy, what it would give (`beyond_engine`, a
    note): the first of `frees` (plans' bests: the fastest strategy a shipped engine runs, then
    the unbounded plan's) that is faster than the engine's own best."""
    beyond = next((b for f in frees
                   if (b := beyond_report(engine, report["best"], f, num_gpus, report["batch"],
                                          vendor)) is not None),
                  None)  # fmt: skip
    if beyond is None:
        return report
    s = beyond["strategy"]
    what = Strategy.of(s).label()
    others = ", ".join(beyond["engines_that_run_it"]) or "no shipped engine"
    lacking = " and ".join(beyond["engine_lacks"])
    report["notes"] = [*report["notes"], (
        f"{engine.id} cannot run {lacking}: the best strategy beyond it "
        f"({what}) would give {s['speedup']:.2f}× on this engine's step costs "
        f"(engines that run it: {others}; --any-strategy plans it)"
    )]  # fmt: skip
    return report | {"beyond_engine": beyond}


def _with_table_beyond(
    engine: EngineSpec, num_gpus: int, report: dict[str, Any], table_top: dict[str, Any] | None,
    vendor: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """When the fastest strategy the user's acceptance table measured is one the engine cannot
    run, what it would give (`acceptance_table_beyond_engine`, a note naming the table)."""
    out = (None if table_top is None
           else outside(engine, table_top, num_gpus, report["batch"], vendor))  # fmt: skip
    if out is None or table_top is None:
        return report
    s, lacking = out["strategy"], " and ".join(out["engine_lacks"])
    others = ", ".join(out["engines_that_run_it"]) or "no shipped engine"
    report["notes"] = [*report["notes"], (
        f"the acceptance table's fastest strategy ({Strategy.of(s).label()}, α "
        f"{table_top['acceptance']:.3g} from {table_top['acceptance_source']}) needs what "
        f"{engine.id} lacks ({lacking}): it would give {s['speedup']:.2f}× on this engine's "
        f"step costs (engines that run it: {others})"
    )]  # fmt: skip
    return report | {"acceptance_table_beyond_engine": out}


def _plan_under_slo(
    inp: PlanInputs, accs: dict[str, Acceptance], slo_ms: float, top: int
) -> dict[str, Any]:
    """The most tokens/s over every batch up to the one asked and every strategy whose
    per-token time meets the SLO: each strategy's largest such batch (`planner.batches`)."""
    b_ar, t_ar = largest_ar(inp, inp.batch, slo_ms * MS)
    chosen, rate = b_ar, (b_ar / t_ar if b_ar else 0.0)
    pick = most_tokens(inp, drafts_of(inp, accs), inp.batch, slo_ms * MS)
    if pick is not None and pick.tokens_per_s > rate:
        chosen, rate = pick.batch, pick.tokens_per_s
    sub = replace(inp, batch=chosen or inp.batch, notes=list(inp.notes))
    ar_most = ar_max_batch(inp.hardware, inp.num_gpus, inp.target, inp.context,
                           inp.memory_utilization)  # fmt: skip
    # the asked batch may not fit at all: memory, not the SLO, then bounds the answer
    unfit = (f"{inp.batch} does not fit in memory (plain AR fits up to {ar_most}); "
             if ar_most < inp.batch else "")  # fmt: skip
    if chosen and chosen != inp.batch:
        sub.notes.append(
            f"batch {chosen} instead of the {inp.batch} asked: {unfit}the batch at which the "
            f"most tokens/s ({rate:,.0f}) meet the {slo_ms:g} ms per-token SLO"
        )
    if not chosen:
        sub.notes.append(_fastest(inp, accs, slo_ms))
    rows = candidate_rows(sub, evaluate(sub, accs))
    report = plan_report(sub, rows, "max_throughput_under_slo", top, slo_ms)
    if sub.batch != inp.batch:
        report["recommendation"] += (
            f" Batch {sub.batch}, not the {inp.batch} asked: {unfit}the most tokens/s within "
            f"the {slo_ms:g} ms SLO."
        )
    return report | {"requested_batch": inp.batch, "batch_changed": sub.batch != inp.batch}


def _fastest(inp: PlanInputs, accs: dict[str, Acceptance], slo_ms: float) -> str:
    """Why no batch meets the SLO: the fastest per-token time any strategy reaches (batch 1)."""
    one = replace(inp, batch=1, notes=[])
    best = plan_report(one, candidate_rows(one, evaluate(one, accs)), "min_latency", 1)["best"]
    if best is None:
        return f"no strategy meets the {slo_ms:g} ms SLO: not even batch 1 fits in memory"
    what = "plain AR" if best["draft_model"] == "none" else Strategy.of(best).label()
    return (
        f"no batch meets the {slo_ms:g} ms per-token SLO: the fastest per-token time is "
        f"{best['t_spec_per_token_ms']:.2f} ms ({what}, batch 1)"
    )
