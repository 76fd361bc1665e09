"""`magicplan plan`, `critical-length`, `break-even`, `sweep`: the planner on the command line."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from magicplan.cli._analysis_view import print_break_even, print_critical, print_sweep_notes
from magicplan.cli._app import app
from magicplan.cli._options import (
    Acceptance,
    AcceptanceTable,
    AcceptedPerStep,
    AnyStrategy,
    Batch,
    BatchOpt,
    Context,
    ContextOpt,
    DraftGpus,
    Drafts,
    Engine,
    Gammas,
    Hardware,
    HardwareOpt,
    Json,
    KvBudgets,
    KvDtype,
    KvMethods,
    MemoryUtilization,
    Model,
    ModelOpt,
    NumGpus,
    Out,
    Strict,
    TreeTokens,
    WeightDtype,
    count,
    counts,
    require_workload,
    split_list,
)
from magicplan.cli._output import console, emit_json, table
from magicplan.cli._plan_view import print_plan
from magicplan.errors import MagicplanError


def planner_kwargs(
    *,
    drafts: str | None = None,
    kv_methods: str | None = None,
    kv_budgets: str | None = None,
    gammas: str | None = None,
    acceptance: str | None = None,
    acceptance_table: Path | None = None,
    draft_num_gpus: str | None = None,
    memory_utilization: float | None = None,
    engine: str | None = None,
    any_strategy: bool = False,
    tree_tokens: int | None = None,
    accepted_per_step: float | None = None,
    weight_dtype: str | None = None,
    kv_dtype: str | None = None,
) -> dict[str, Any]:
    """Shared planner options → keyword arguments of `magicplan.planner.plan`."""
    from magicplan.specs import as_draft

    if acceptance is not None and acceptance_table is not None:
        raise MagicplanError("give --acceptance or --acceptance-table, not both")
    kw: dict[str, Any] = {
        "kv_methods": split_list(kv_methods, "kv-methods"),
        "kv_budgets": counts(kv_budgets, "kv-budgets"),
        "gammas": split_list(gammas, "gammas", int),
        "draft_num_gpus": split_list(draft_num_gpus, "draft-num-gpus", int),
        "acceptance_table": None,
        "memory_utilization": memory_utilization,
        "engine": engine,
        "any_strategy": any_strategy,
        "tree_tokens": tree_tokens,
        "accepted_per_step": accepted_per_step,
        "weight_dtype": weight_dtype,
        "kv_dtype": kv_dtype,
    }
    if acceptance_table is not None:
        from magicplan.planner.acceptance import load_table

        kw["acceptance_table"] = load_table(acceptance_table)  # read once, for every plan

    names = split_list(drafts, "drafts")
    if names is not None:
        kw["drafts"] = [as_draft(n) for n in names]
    rates = split_list(acceptance, "acceptance", float)
    if rates is not None:
        kw["acceptance"] = rates[0] if len(rates) == 1 else rates
    return kw


# The strategy options the planning commands share: name → (annotated type, default).
STRATEGY_OPTIONS: dict[str, tuple[Any, Any]] = {
    "drafts": (Drafts, None), "kv_methods": (KvMethods, None), "kv_budgets": (KvBudgets, None),
    "gammas": (Gammas, None), "acceptance": (Acceptance, None),
    "acceptance_table": (AcceptanceTable, None), "accepted_per_step": (AcceptedPerStep, None),
    "tree_tokens": (TreeTokens, None), "draft_num_gpus": (DraftGpus, None),
    "memory_utilization": (MemoryUtilization, None), "engine": (Engine, None),
    "any_strategy": (AnyStrategy, False), "weight_dtype": (WeightDtype, None),
    "kv_dtype": (KvDtype, None),
}  # fmt: skip
# Without the acceptance inputs (break-even searches α) and the tree options (chains only).
CHAIN_OPTIONS = tuple(n for n in STRATEGY_OPTIONS if n not in ("accepted_per_step", "tree_tokens"))
SEARCH_OPTIONS = tuple(n for n in CHAIN_OPTIONS if n not in ("acceptance", "acceptance_table"))
Command = Callable[..., None]


def strategy_options(*names: str) -> Callable[[Command], Command]:
    """Give a command the shared strategy options `names` (none named: all STRATEGY_OPTIONS),
    listed before its --output and --json; it receives them read, as one keyword argument
    `strategy` (`planner_kwargs`)."""
    chosen = names or tuple(STRATEGY_OPTIONS)

    def decorate(command: Command) -> Command:
        sig = inspect.signature(command, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name != "strategy"]
        tail = [p for p in own if p.name in ("output", "json_out")]
        added = [
            inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                              annotation=STRATEGY_OPTIONS[n][0], default=STRATEGY_OPTIONS[n][1])
            for n in chosen
        ]  # fmt: skip

        @functools.wraps(command)
        def run(**kwargs: Any) -> None:
            given = {n: kwargs.pop(n) for n in chosen}
            command(**kwargs, strategy=planner_kwargs(**given))

        head = [p for p in own if p not in tail]
        run.__signature__ = sig.replace(parameters=[*head, *added, *tail])  # type: ignore[attr-defined]
        return run

    return decorate


def _write_csv(rows: list[dict[str, Any]], output: Path) -> None:
    """Flat rows as CSV (blank for None), written atomically."""
    from magicplan.io import atomic_write_text

    head = list(rows[0])
    lines = [",".join(head)]
    lines += [",".join("" if r[k] is None else str(r[k]) for k in head) for r in rows]
    atomic_write_text(output, "\n".join(lines) + "\n")


@app.command("plan")
@strategy_options()
def plan_command(
    hardware: HardwareOpt = None,
    num_gpus: NumGpus = 1,
    model: ModelOpt = None,
    batch: BatchOpt = None,
    context: ContextOpt = None,
    acceptance_samples: Annotated[
        int | None, typer.Option(help="Drafted tokens behind --acceptance (95 % interval).")
    ] = None,
    acceptance_interval: Annotated[
        str | None, typer.Option(help="LOW,HIGH: a 95 % interval of --acceptance.")
    ] = None,
    slo_ms: Annotated[
        float | None, typer.Option(help="Per-token latency SLO: maximise throughput.")
    ] = None,
    top: Annotated[int, typer.Option(help="Ranked candidates to report.")] = 5,
    export: Annotated[
        str | None,
        typer.Option(help="vllm | sglang: engine config JSON (no --batch: every batch that fits)."),
    ] = None,
    gpu_hour_usd: Annotated[
        float | None, typer.Option(help="One GPU's price per hour: adds $/hour and $/M tokens.")
    ] = None,
    scenarios: Annotated[
        Path | None,
        typer.Option(
            help="CSV: gpu,num_gpus,target,batch,context[,draft_model,kv_method,kv_budget,gamma,"
            "alpha,engine,weight_dtype,kv_dtype] (a blank cell takes the option of that name)."
        ),
    ] = None,
    strict: Strict = False,
    strategy: dict[str, Any] | None = None,
    output: Out = None,
    json_out: Json = False,
) -> None:
    """Best speculative-decoding strategy (or plain AR) for one workload, ranked, with reasons."""
    from magicplan.planner import plan
    from magicplan.specs import load_hardware, load_model

    if top < 1:
        raise MagicplanError(f"--top must be >= 1; got {top}")
    kw = dict(strategy or {})
    if scenarios is not None:
        from magicplan.planner.scenarios import plan_scenarios

        one_workload = {"--export": export, "--acceptance-samples": acceptance_samples,
                        "--acceptance-interval": acceptance_interval}  # fmt: skip
        for flag, value in one_workload.items():
            if value is not None:
                raise MagicplanError(f"{flag} plans one workload; not with --scenarios")
        columns = {"--hardware": hardware, "--model": model, "--batch": batch,
                   "--context": context}  # fmt: skip
        for flag, value in columns.items():
            if value is not None:  # the file's gpu, target, batch, context columns say these
                raise MagicplanError(f"{flag} is a scenarios column; not with --scenarios")

        given = {k: v for k, v in kw.items() if v is not None}  # row columns override these
        rows = plan_scenarios(scenarios, top, slo_ms=slo_ms, gpu_hour_usd=gpu_hour_usd,
                              strict=strict, **given)  # fmt: skip
        emit_json(rows, output)
        return
    # an export without --batch covers every batch that fits
    require_workload(hardware=hardware, model=model, batch=1 if export else batch, context=context)
    assert hardware and model and context is not None
    hw, target = load_hardware(hardware), load_model(model)
    if batch is None:
        from magicplan.planner.export import export_batches

        exported = export_batches(
            str(export), hw, num_gpus, target, count(context, "context"), **kw
        )
        emit_json(exported, output)
        return
    report = plan(
        hw,
        num_gpus,
        target,
        count(batch, "batch"),
        count(context, "context"),
        slo_ms=slo_ms,
        top=top,
        acceptance_samples=acceptance_samples,
        acceptance_interval=split_list(acceptance_interval, "acceptance-interval", float),
        gpu_hour_usd=gpu_hour_usd,
        **kw,
    )
    if export is not None:
        from magicplan.planner.export import export as export_engine

        emit_json(export_engine(export, report, hw, num_gpus, target, **kw), output)
        return
    if json_out or output:
        emit_json(report, output)
        return
    print_plan(report)


@app.command("critical-length")
@strategy_options()
def critical_length_command(
    hardware: Hardware,
    model: Model,
    batch: Batch,
    num_gpus: NumGpus = 1,
    max_context: Annotated[
        str | None, typer.Option(help="Largest context searched (default: the model's maximum).")
    ] = None,
    strategy: dict[str, Any] | None = None,
    output: Out = None,
    json_out: Json = False,
) -> None:
    """Smallest context at which speculative decoding reaches 1× at this batch size."""
    from magicplan.planner.analysis import critical_length
    from magicplan.specs import load_hardware, load_model

    kw = dict(strategy or {})
    fixed = kw.pop("gammas")
    gamma = fixed[0] if fixed is not None and len(fixed) == 1 else None
    if fixed is not None and gamma is None:
        kw["gammas"] = fixed
    n = count(batch, "batch")
    r = critical_length(
        load_hardware(hardware), num_gpus, load_model(model), n, gamma,
        count(max_context, "max-context"), **kw,
    )  # fmt: skip
    if json_out or output:
        emit_json(r, output)
        return
    print_critical(r)


@app.command("break-even")
@strategy_options(*SEARCH_OPTIONS)
def break_even_command(
    hardware: Hardware,
    model: Model,
    batch: Batch,
    context: Context,
    num_gpus: NumGpus = 1,
    target_speedup: Annotated[float, typer.Option(help="Speedup to reach.")] = 1.0,
    strategy: dict[str, Any] | None = None,
    output: Out = None,
    json_out: Json = False,
) -> None:
    """Smallest acceptance rate at which the best strategy reaches the target speedup."""
    from magicplan.planner.analysis import break_even
    from magicplan.specs import load_hardware, load_model

    kw = dict(strategy or {})
    kw.pop("acceptance_table")
    r = break_even(
        load_hardware(hardware), num_gpus, load_model(model), count(batch, "batch"),
        count(context, "context"), target_speedup, **kw,
    )  # fmt: skip
    if json_out or output:
        emit_json(r, output)
        return
    print_break_even(r)


@app.command("sweep")
@strategy_options()
def sweep_command(
    hardware: Hardware,
    model: Model,
    batches: Annotated[
        str, typer.Option("--batches", "--batch", help="Comma list of batch sizes.")
    ] = "1,4,16,64,256",
    contexts: Annotated[
        str, typer.Option("--contexts", "--context", help="Comma list of contexts (e.g. 4k,32k).")
    ] = "1024,4096,16384,32768",
    num_gpus: NumGpus = 1,
    strategy: dict[str, Any] | None = None,
    output: Out = None,
    json_out: Json = False,
) -> None:
    """Best strategy and speedup over a batch × context grid (CSV with --output x.csv)."""
    from magicplan.planner.analysis import sweep
    from magicplan.specs import load_hardware, load_model

    kw = dict(strategy or {})
    rows = sweep(
        load_hardware(hardware),
        num_gpus,
        load_model(model),
        counts(batches, "batches") or [],
        counts(contexts, "contexts") or [],
        **kw,
    )
    if output is not None and output.suffix.lower() == ".csv":
        _write_csv(rows, output)
        return
    if json_out or output:
        emit_json(rows, output)
        return
    cols = ["batch", "context", "draft_model", "kv_method", "kv_budget", "gamma", "speedup"]
    name = rows[0]["target"] if rows and "target" in rows[0] else model
    console().print(
        table(
            f"Best strategy: {name} on {num_gpus}× {hardware}",
            cols,
            [[r[c] for c in cols] for r in rows],
            whole=("batch", "context", "draft_model"),  # the row's coordinates and its draft
            answer=("speedup", "gamma", "kv_method"),
        )
    )
    print_sweep_notes(rows, hardware, num_gpus, model)
