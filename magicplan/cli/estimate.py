"""`magicplan estimate`: step times, speedup, throughput and memory for one strategy, or for every
row of a scenarios CSV (vectorized)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from magicplan.choices import Mode
from magicplan.cli._app import app
from magicplan.cli._options import (
    KIND_CHOICES,
    KV_METHOD_CHOICES,
    MODE_CHOICES,
    MODEL_HELP,
    AcceptedPerStep,
    BatchOpt,
    ContextOpt,
    Engine,
    HardwareOpt,
    KvDtype,
    MemoryUtilization,
    ModelOpt,
    NumGpus,
    Strict,
    TreeTokens,
    WeightDtype,
    check_mode,
    count,
    one,
    require_workload,
)
from magicplan.cli._output import console, emit_json, fmt, table
from magicplan.cost.methods import KvMethod
from magicplan.errors import MagicplanError

if TYPE_CHECKING:
    from magicplan.scenario_options import Options


@app.command("estimate")
def estimate_command(
    hardware: HardwareOpt = None,
    num_gpus: NumGpus = 1,
    model: ModelOpt = None,
    batch: BatchOpt = None,
    context: ContextOpt = None,
    draft: Annotated[
        str | None,
        typer.Option(
            "--draft",
            "--drafts",
            help=f"'self' (default), a kind ({KIND_CHOICES}) or one draft model: {MODEL_HELP}.",
        ),
    ] = None,
    kv_method: Annotated[
        str | None,
        typer.Option(
            "--kv-method",
            "--kv-methods",
            help=f"One of {KV_METHOD_CHOICES} (default streamingllm; full for a kind).",
        ),
    ] = None,
    kv_budget: Annotated[
        str | None,
        typer.Option(
            "--kv-budget", "--kv-budgets", help="Draft KV budget in tokens (default 512)."
        ),
    ] = None,
    gamma: Annotated[
        str | None,
        typer.Option(
            "--gamma",
            "--gammas",
            help="Draft depth γ: tokens drafted per round along a path (default 2; a kind's own).",
        ),
    ] = None,
    tree_tokens: TreeTokens = None,
    acceptance: Annotated[
        float | None, typer.Option(help="Per-token acceptance α in [0, 1].")
    ] = None,
    accepted_per_step: AcceptedPerStep = None,
    draft_num_gpus: Annotated[
        int | None,
        typer.Option(help="Draft TP degree (default: the largest that divides num-gpus)."),
    ] = None,
    mode: Annotated[
        str, typer.Option(help=f"One of {MODE_CHOICES} (ideal: peaks, no overheads).")
    ] = "calibrated",
    memory_utilization: MemoryUtilization = None,
    engine: Engine = None,
    weight_dtype: WeightDtype = None,
    kv_dtype: KvDtype = None,
    scenarios: Annotated[
        Path | None,
        typer.Option(
            help="CSV of scenarios (reference columns; a blank cell or a missing strategy "
            "column takes the option of that name)."
        ),
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(help="With --scenarios: comma-separated figures to report (default: all)."),
    ] = None,
    strict: Strict = False,
    output: Annotated[Path | None, typer.Option(help="Write the JSON here (atomically).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable JSON.")] = False,
) -> None:
    """Estimate AR, draft and verify step times, SD speedup, throughput and memory."""
    check_mode(mode)
    for name, value in (("draft", draft), ("kv-method", kv_method), ("kv-budget", kv_budget),
                        ("gamma", gamma)):  # fmt: skip
        one(value, name, "estimate")
    if scenarios is not None:
        workload = {"--hardware": hardware, "--model": model, "--batch": batch,
                    "--context": context}  # fmt: skip
        for flag, value in workload.items():
            if value is not None:  # the file's gpu, target, batch, context columns say these
                raise MagicplanError(f"{flag} is a scenarios column; not with --scenarios")
        wanted = None if columns is None else [c.strip() for c in columns.split(",") if c.strip()]
        if wanted == []:
            raise MagicplanError("--columns must name at least one figure, e.g. speedup")
        options = {
            "draft_model": draft, "kv_method": kv_method,
            "kv_budget": count(kv_budget, "kv-budget"), "gamma": count(gamma, "gamma"),
            "alpha": acceptance,
            "accepted_per_step": accepted_per_step, "tree_tokens": tree_tokens,
            "draft_num_gpus": draft_num_gpus,
        }  # fmt: skip
        objects = _scenario_objects(
            scenarios, wanted, strict, memory_utilization, engine, weight_dtype, kv_dtype,
            options=options, mode=check_mode(mode),
        )  # fmt: skip
        emit_json(objects, output)
        return
    if columns is not None:
        raise MagicplanError("--columns applies to --scenarios FILE.csv")
    require_workload(hardware=hardware, model=model, batch=batch, context=context)
    if acceptance is None and accepted_per_step is None:
        raise MagicplanError("give --acceptance A (α in [0, 1]) or --accepted-per-step OMEGA")
    from magicplan.estimate import estimate
    from magicplan.scenario_options import DEFAULT_KV_BUDGET

    assert hardware and model and batch is not None and context is not None
    result = estimate(
        hardware,
        num_gpus,
        model,
        count(batch, "batch"),
        count(context, "context"),
        count(gamma, "gamma"),
        draft=draft,
        kv_method=cast(KvMethod | None, kv_method),  # Setup names it when it is not one
        tree_tokens=tree_tokens,
        acceptance=acceptance,
        accepted_per_step=accepted_per_step,
        draft_num_gpus=draft_num_gpus,
        mode=check_mode(mode),
        memory_utilization=memory_utilization,
        engine=engine,
        weight_dtype=weight_dtype,
        kv_dtype=kv_dtype,
        kv_budget=DEFAULT_KV_BUDGET if kv_budget is None else count(kv_budget, "kv-budget"),
    )
    if json_out or output:
        emit_json(result, output)
        return
    _print(result)


def _scenario_objects(
    path: Path,
    columns: list[str] | None = None,
    strict: bool = False,
    memory_utilization: float | None = None,
    engine: str | None = None,
    weight_dtype: str | None = None,
    kv_dtype: str | None = None,
    *,
    options: Options | None = None,
    mode: Mode = "calibrated",
) -> list[dict[str, Any]]:
    """One JSON object per row: its inputs (blank cells filled: `read_scenarios`), then its
    figures, `draft_num_gpus` and any notes; blank engine, weight_dtype and kv_dtype cells take
    `engine`, `weight_dtype`, `kv_dtype`, blank strategy cells `options`; a row that cannot be
    estimated has `error` (one line) instead of figures (strict: the first such row in file
    order is a MagicplanError naming file and row). A file with no good row fails."""
    from magicplan.estimate import check_columns, nest
    from magicplan.scenarios import SCENARIO_COLUMNS, at_row, estimate_scenarios, read_scenarios

    wanted = None if columns is None else check_columns(columns)  # before reading the file
    cols = read_scenarios(path, strict=False, options=options)  # strict: after every row
    res = estimate_scenarios(
        cols, wanted, strict=False, source=path, memory_utilization=memory_utilization,
        engine=engine, weight_dtype=weight_dtype, kv_dtype=kv_dtype, mode=mode,
    )  # fmt: skip
    errors = list(res.pop("error"))
    notes, draft_n, engines = res.pop("note"), res.pop("draft_num_gpus"), res.pop("engine")
    first = next((i for i, e in enumerate(errors) if e is not None), None)
    if first is not None and (strict or all(e is not None for e in errors)):
        lead = "" if strict else "no row could be estimated; "
        raise MagicplanError(f"{lead}{at_row(path, first, errors[first])}")
    # Each object echoes its row's inputs, then the estimate (keys as for one scenario).
    echoed = ("id", *SCENARIO_COLUMNS, "alpha", "tree_tokens", "draft_num_gpus")
    inputs = [k for k in echoed if k in cols]
    echo = list(zip(*[_plain(cols[k]) for k in inputs], strict=True))
    figures = list(zip(*[res[k].tolist() for k in res], strict=True)) or [()] * len(echo)
    out = []
    for i, (row, values) in enumerate(zip(echo, figures, strict=True)):
        obj = dict(zip(inputs, row, strict=True))
        obj["engine"] = engines[i] or obj.get("engine") or engine
        if errors[i] is not None:
            out.append(obj | {"error": errors[i]})
            continue
        obj |= nest(dict(zip(res, values, strict=True)))
        obj["draft_num_gpus"] = int(draft_n[i])
        out.append(obj | ({"notes": [notes[i]]} if notes[i] else {}))
    return out


def _plain(col: Any) -> list[Any]:
    """A CSV column as JSON values: whole numbers as int, other numbers as float, text as str."""
    if col.dtype.kind == "f":
        return [
            int(v) if v == v and float(v).is_integer() else (None if v != v else float(v))
            for v in col.tolist()
        ]
    return [str(v) for v in col.tolist()]


def _print(r: dict[str, Any]) -> None:
    from magicplan.planner.records import kv_label

    draft_kv = kv_label(r["kv_method"], r["kv_budget"])
    rows = [
        ["AR step (T_T)", r["t_autoregressive_ms"], "ms"],
        [f"draft step (T_D, {r['draft_model']}, {draft_kv})", r["t_draft_ms"], "ms"],
        [f"verify step (T_V, {r['tree_tokens']} tokens)", r["t_verify_ms"], "ms"],
        [f"draft passes per round (γ = {r['gamma']})", r["draft_passes"], ""],
        ["tokens per round (Ω, τ)", r["accepted_per_step"], ""],
        ["per-token time with SD", r["t_spec_per_token_ms"], "ms"],
        ["speedup", r["speedup"], "×"],
        ["throughput with SD", r["throughput_tokens_per_s"], "tokens/s"],
        ["throughput AR", r["autoregressive_throughput_tokens_per_s"], "tokens/s"],
        ["memory per GPU", r["memory_per_gpu_gb"], "GB"],
        ["fits in memory", r["fits_in_memory"], ""],
        ["max batch (AR / with SD)", f"{r['max_batch']} / {r['max_batch_with_sd']}", ""],
    ]
    title = (
        f"{r['target']} on {r['num_gpus']}× {r['hardware']} ({r['engine']}), batch "
        f"{r['batch']}, context {r['context']}"
    )
    con = console()
    con.print(table(title, ["quantity", "value", "unit"], rows, whole=("quantity",)))
    bd = r["breakdown"]["autoregressive"]
    total = sum(bd.values()) or 1.0
    shares = ", ".join(
        f"{k.removesuffix('_ms')} {100 * v / total:.0f} %" for k, v in bd.items() if v
    )
    con.print(f"AR step bottleneck: [bold]{r['bottleneck']}[/bold] ({shares})")
    verdict = "pays" if r["speedup"] > 1 else "does not pay"
    con.print(f"Speculative decoding {verdict} here: {fmt(r['speedup'])}× per-token speedup.")
    for note in r["notes"]:
        con.print(f"note: {note}")
