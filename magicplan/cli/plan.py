"""`magicplan plan`, `critical-length`, `break-even`, `sweep`: the planner on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from magicplan.cli._analysis_view import print_break_even, print_critical, print_sweep_notes
from magicplan.cli._app import app
from magicplan.cli._output import console, echo_json, emit_json, table
from magicplan.cli._plan_view import print_plan
from magicplan.errors import MagicplanError

Hw = Annotated[str, typer.Option("--hardware", help="Hardware id or profile path.")]
Gpus = Annotated[int, typer.Option("--num-gpus", help="Tensor-parallel degree of the target.")]
Model = Annotated[str, typer.Option("--model", help="Target model id, YAML or config.json.")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable JSON.")]
Out = Annotated[Path | None, typer.Option("--output", help="Write the result here (atomically).")]
Opt = Annotated[str | None, typer.Option()]


def split_list(value: str | None, name: str, cast: Any = str) -> list[Any] | None:
    """'a,b,c' → [a, b, c] (cast each); a bad item is a MagicplanError naming the flag."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise MagicplanError(f"--{name} must list at least one value")
    try:
        return [cast(v) for v in items]
    except ValueError as exc:
        raise MagicplanError(
            f"--{name}: '{value}' is not a comma-separated list of numbers"
        ) from exc


def planner_kwargs(
    drafts: str | None,
    kv_methods: str | None,
    kv_budgets: str | None,
    gammas: str | None,
    acceptance: str | None,
    acceptance_table: Path | None,
    draft_num_gpus: str | None,
) -> dict[str, Any]:
    """Shared planner options → keyword arguments of `magicplan.planner.plan`."""
    from magicplan.specs import load_model

    if acceptance is not None and acceptance_table is not None:
        raise MagicplanError("give --acceptance or --acceptance-table, not both")
    kw: dict[str, Any] = {
        "kv_methods": split_list(kv_methods, "kv-methods"),
        "kv_budgets": split_list(kv_budgets, "kv-budgets", int),
        "gammas": split_list(gammas, "gammas", int),
        "draft_num_gpus": split_list(draft_num_gpus, "draft-num-gpus", int),
        "acceptance_table": None,
    }
    if acceptance_table is not None:
        from magicplan.planner.acceptance import load_table

        kw["acceptance_table"] = load_table(acceptance_table)  # read once, for every plan

    names = split_list(drafts, "drafts")
    if names is not None:
        kw["drafts"] = [None if n == "self" else load_model(n) for n in names]
    rates = split_list(acceptance, "acceptance", float)
    if rates is not None:
        kw["acceptance"] = rates[0] if len(rates) == 1 else rates
    return kw


def _write_csv(rows: list[dict[str, Any]], output: Path) -> None:
    """Flat rows as CSV (blank for None), written atomically."""
    from magicplan.io import atomic_write_text

    head = list(rows[0])
    lines = [",".join(head)]
    lines += [",".join("" if r[k] is None else str(r[k]) for k in head) for r in rows]
    atomic_write_text(output, "\n".join(lines) + "\n")


@app.command("plan")
def plan_command(
    hardware: Annotated[str | None, typer.Option(help="Hardware id or profile path.")] = None,
    num_gpus: Annotated[int, typer.Option(help="Tensor-parallel degree of the target.")] = 1,
    model: Annotated[str | None, typer.Option(help="Target model id, YAML or config.json.")] = None,
    batch: Annotated[int | None, typer.Option(help="Sequences decoded together.")] = None,
    context: Annotated[int | None, typer.Option(help="Tokens in each KV cache.")] = None,
    drafts: Annotated[
        str | None, typer.Option(help="Comma list: self and/or draft model ids.")
    ] = None,
    kv_methods: Annotated[
        str | None, typer.Option(help="Comma list of full,streamingllm,snapkv,topk.")
    ] = None,
    kv_budgets: Annotated[str | None, typer.Option(help="Comma list of draft KV budgets.")] = None,
    gammas: Annotated[
        str | None, typer.Option(help="Comma list of γ values (default 1..12).")
    ] = None,
    acceptance: Annotated[str | None, typer.Option(help="α, or per-position α_1,...,α_n.")] = None,
    acceptance_table: Annotated[
        Path | None, typer.Option(help="YAML or CSV of measured α.")
    ] = None,
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
    draft_num_gpus: Annotated[
        str | None, typer.Option(help="Comma list of draft TP degrees.")
    ] = None,
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
            help="CSV: gpu,num_gpus,target,batch,context[,draft_model,kv_method,kv_budget,alpha]."
        ),
    ] = None,
    output: Out = None,
    json_out: Json = False,
) -> None:
    """Best speculative-decoding strategy (or plain AR) for one workload, ranked, with reasons."""
    from magicplan.planner import plan
    from magicplan.specs import load_hardware, load_model

    if top < 1:
        raise MagicplanError(f"--top must be >= 1; got {top}")
    kw = planner_kwargs(
        drafts, kv_methods, kv_budgets, gammas, acceptance, acceptance_table, draft_num_gpus
    )
    if scenarios is not None:
        from magicplan.planner.scenarios import plan_scenarios

        given = {k: v for k, v in kw.items() if v is not None}  # row columns override these
        emit_json(
            plan_scenarios(scenarios, top, slo_ms=slo_ms, gpu_hour_usd=gpu_hour_usd, **given),
            output,
        )
        return
    for name, val in (
        ("hardware", hardware),
        ("model", model),
        ("batch", 1 if export is not None else batch),  # an export without one: every batch
        ("context", context),
    ):
        if val is None:
            raise MagicplanError(f"--{name} is required (or give --scenarios FILE.csv)")
    assert hardware and model and context is not None
    hw, target = load_hardware(hardware), load_model(model)
    if batch is None:
        from magicplan.planner.export import export_batches

        emit_json(export_batches(str(export), hw, num_gpus, target, context, **kw), output)
        return
    report = plan(
        hw,
        num_gpus,
        target,
        batch,
        context,
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
def critical_length_command(
    hardware: Hw,
    model: Model,
    batch: Annotated[int, typer.Option(help="Batch size.")],
    num_gpus: Gpus = 1,
    gamma: Annotated[int | None, typer.Option(help="Fix γ.")] = None,
    max_context: Annotated[int | None, typer.Option(help="Largest context searched.")] = None,
    drafts: Opt = None,
    kv_methods: Opt = None,
    kv_budgets: Opt = None,
    acceptance: Opt = None,
    acceptance_table: Annotated[Path | None, typer.Option()] = None,
    json_out: Json = False,
) -> None:
    """Smallest context at which speculative decoding reaches 1× at this batch size."""
    from magicplan.planner.analysis import critical_length
    from magicplan.specs import load_hardware, load_model

    kw = planner_kwargs(drafts, kv_methods, kv_budgets, None, acceptance, acceptance_table, None)
    r = critical_length(
        load_hardware(hardware), num_gpus, load_model(model), batch, gamma, max_context, **kw
    )
    if json_out:
        echo_json(r)
        return
    print_critical(r)


@app.command("break-even")
def break_even_command(
    hardware: Hw,
    model: Model,
    batch: Annotated[int, typer.Option(help="Batch size.")],
    context: Annotated[int, typer.Option(help="Context length.")],
    num_gpus: Gpus = 1,
    target_speedup: Annotated[float, typer.Option(help="Speedup to reach.")] = 1.0,
    drafts: Opt = None,
    kv_methods: Opt = None,
    kv_budgets: Opt = None,
    gammas: Opt = None,
    json_out: Json = False,
) -> None:
    """Smallest acceptance rate at which the best strategy reaches the target speedup."""
    from magicplan.planner.analysis import break_even
    from magicplan.specs import load_hardware, load_model

    kw = planner_kwargs(drafts, kv_methods, kv_budgets, gammas, None, None, None)
    kw.pop("acceptance_table")
    r = break_even(
        load_hardware(hardware), num_gpus, load_model(model), batch, context, target_speedup, **kw
    )
    if json_out:
        echo_json(r)
        return
    print_break_even(r)


@app.command("sweep")
def sweep_command(
    hardware: Hw,
    model: Model,
    batches: Annotated[str, typer.Option(help="Comma list of batch sizes.")] = "1,4,16,64,256",
    contexts: Annotated[
        str, typer.Option(help="Comma list of contexts.")
    ] = "1024,4096,16384,32768",
    num_gpus: Gpus = 1,
    drafts: Opt = None,
    kv_methods: Opt = None,
    kv_budgets: Opt = None,
    gammas: Opt = None,
    acceptance: Opt = None,
    acceptance_table: Annotated[Path | None, typer.Option()] = None,
    output: Out = None,
    json_out: Json = False,
) -> None:
    """Best strategy and speedup over a batch × context grid (CSV with --output x.csv)."""
    from magicplan.planner.analysis import sweep
    from magicplan.specs import load_hardware, load_model

    kw = planner_kwargs(drafts, kv_methods, kv_budgets, gammas, acceptance, acceptance_table, None)
    rows = sweep(
        load_hardware(hardware),
        num_gpus,
        load_model(model),
        split_list(batches, "batches", int) or [],
        split_list(contexts, "contexts", int) or [],
        **kw,
    )
    if output is not None and output.suffix.lower() == ".csv":
        _write_csv(rows, output)
        return
    if json_out or output:
        emit_json(rows, output)
        return
    cols = ["batch", "context", "draft_model", "kv_method", "kv_budget", "gamma", "speedup"]
    console().print(
        table(
            f"Best strategy: {model} on {num_gpus}× {hardware}",
            cols,
            [[r[c] for c in cols] for r in rows],
        )
    )
    print_sweep_notes(rows, hardware, num_gpus, model)
