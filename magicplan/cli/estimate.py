"""`magicplan estimate`: step times, speedup, throughput and memory for one strategy, or for every
row of a scenarios CSV (vectorized)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from magicplan.cli._app import app
from magicplan.cli._output import console, emit_json, fmt, table
from magicplan.errors import MagicplanError


@app.command("estimate")
def estimate_command(
    hardware: Annotated[str | None, typer.Option(help="Hardware id or profile path.")] = None,
    num_gpus: Annotated[int, typer.Option(help="Tensor-parallel degree of the target.")] = 1,
    model: Annotated[str | None, typer.Option(help="Target model id, YAML or config.json.")] = None,
    batch: Annotated[int | None, typer.Option(help="Sequences decoded together.")] = None,
    context: Annotated[int | None, typer.Option(help="Tokens already in each KV cache.")] = None,
    draft: Annotated[str, typer.Option(help="'self' or a draft model id/path.")] = "self",
    kv_method: Annotated[str, typer.Option(help="full|streamingllm|snapkv|topk")] = "streamingllm",
    kv_budget: Annotated[int, typer.Option(help="Draft KV budget in tokens.")] = 512,
    gamma: Annotated[int, typer.Option(help="Tokens drafted per round (γ).")] = 2,
    acceptance: Annotated[
        float | None, typer.Option(help="Per-token acceptance α in [0, 1].")
    ] = None,
    accepted_per_step: Annotated[
        float | None, typer.Option(help="Measured tokens per round Ω in [1, γ+1].")
    ] = None,
    draft_num_gpus: Annotated[
        int | None, typer.Option(help="Draft TP degree (<= num-gpus).")
    ] = None,
    mode: Annotated[
        str, typer.Option(help="calibrated | ideal (peaks, no overheads).")
    ] = "calibrated",
    scenarios: Annotated[
        Path | None, typer.Option(help="CSV of scenarios (reference columns).")
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(help="With --scenarios: comma-separated figures to report (default: all)."),
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Write the JSON here (atomically).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable JSON.")] = False,
) -> None:
    """Estimate AR, draft and verify step times, SD speedup, throughput and memory."""
    if mode not in ("calibrated", "ideal"):
        raise MagicplanError(f"mode must be calibrated or ideal; got '{mode}'")
    if scenarios is not None:
        wanted = None if columns is None else [c.strip() for c in columns.split(",") if c.strip()]
        if wanted == []:
            raise MagicplanError("--columns must name at least one figure, e.g. speedup")
        emit_json(_scenario_objects(scenarios, wanted), output)
        return
    if columns is not None:
        raise MagicplanError("--columns applies to --scenarios FILE.csv")
    missing = [
        n
        for n, v in (
            ("hardware", hardware),
            ("model", model),
            ("batch", batch),
            ("context", context),
        )
        if v is None
    ]
    if missing:
        raise MagicplanError(f"--{missing[0]} is required (or give --scenarios FILE.csv)")
    if acceptance is None and accepted_per_step is None:
        raise MagicplanError("give --acceptance A (α in [0, 1]) or --accepted-per-step OMEGA")
    from magicplan.estimate import estimate
    from magicplan.specs import load_hardware, load_model

    assert hardware and model and batch is not None and context is not None
    result = estimate(
        load_hardware(hardware),
        num_gpus,
        load_model(model),
        batch,
        context,
        gamma,
        None if draft == "self" else load_model(draft),
        kv_method,
        kv_budget,
        acceptance,
        accepted_per_step,
        draft_num_gpus,
        mode,  # type: ignore[arg-type]
    )
    if json_out or output:
        emit_json(result, output)
        return
    _print(result)


def _scenario_objects(path: Path, columns: list[str] | None = None) -> list[dict[str, Any]]:
    from magicplan.estimate import check_columns, nest
    from magicplan.scenarios import (
        SCENARIO_COLUMNS,
        estimate_scenarios,
        read_columns,
        read_scenarios,
    )

    wanted = None if columns is None else check_columns(columns)  # before reading the file
    cols = read_scenarios(path)
    res = estimate_scenarios(cols, wanted)
    cols |= read_columns(path, (), ("id",))
    # Each object echoes its row's inputs, then the estimate (keys as for one scenario).
    inputs = [k for k in ("id", *SCENARIO_COLUMNS, "draft_num_gpus") if k in cols]
    keys = inputs + list(res)
    values = [_plain(cols[k]) for k in inputs] + [res[k].tolist() for k in res]
    return [nest(dict(zip(keys, row, strict=True))) for row in zip(*values, strict=True)]


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
        [f"verify step (T_V, γ+1 = {r['gamma'] + 1} tokens)", r["t_verify_ms"], "ms"],
        ["tokens per round (Ω)", r["accepted_per_step"], ""],
        ["per-token time with SD", r["t_spec_per_token_ms"], "ms"],
        ["speedup", r["speedup"], "×"],
        ["throughput with SD", r["throughput_tokens_per_s"], "tokens/s"],
        ["throughput AR", r["autoregressive_throughput_tokens_per_s"], "tokens/s"],
        ["memory per GPU", r["memory_per_gpu_gb"], "GB"],
        ["fits in memory", r["fits_in_memory"], ""],
        ["max batch (AR / with SD)", f"{r['max_batch']} / {r['max_batch_with_sd']}", ""],
    ]
    title = (
        f"{r['target']} on {r['num_gpus']}× {r['hardware']}, batch {r['batch']}, "
        f"context {r['context']}"
    )
    con = console()
    con.print(table(title, ["quantity", "value", "unit"], rows))
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
