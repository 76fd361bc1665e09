"""`magicplan fit`: an engine profile calibrated to what a user measured on their own engine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from magicplan.cli._app import app
from magicplan.cli._output import console, echo_json, table


@app.command("fit")
def fit_command(
    measurements: Annotated[
        list[Path],
        typer.Option(
            help="Measured steps: a CSV in the reference schema, an AR-only CSV (batch, context, "
            "t_autoregressive_ms[, gpu, num_gpus, target, weight_dtype, kv_dtype]), or the JSON "
            "of vLLM benchmark_latency / SGLang bench_one_batch. Repeat for several files."
        ),
    ],
    hardware: Annotated[str, typer.Option(help="Hardware id or profile path the rows ran on.")],
    output: Annotated[
        Path | None, typer.Option(help="Where to write the fitted engine profile (YAML).")
    ] = None,
    profile_id: Annotated[
        str | None, typer.Option("--id", help="id of the written engine (default: BASE-fit).")
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            help="Engine id or profile path to start from (default: vllm); other text "
            "names the fitted engine."
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Model measured, for files without a 'target' column.")
    ] = None,
    num_gpus: Annotated[
        int | None, typer.Option(help="Tensor-parallel degree, for files without 'num_gpus'.")
    ] = None,
    batch: Annotated[int | None, typer.Option(help="vLLM JSON: the run's batch size.")] = None,
    input_len: Annotated[
        int | None, typer.Option(help="vLLM JSON: the run's input length.")
    ] = None,
    output_len: Annotated[
        int | None, typer.Option(help="vLLM JSON: the run's output length.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Per-row errors as JSON.")] = False,
) -> None:
    """Fit efficiencies and latencies (least squares on log step time) and write an engine
    profile with the fitted calibration for this hardware; prints in-sample and leave-one-out
    errors and what the rows cannot constrain."""
    from magicplan.calibration.fit_table import fit_measurements

    run = {"batch": batch, "input_len": input_len, "output_len": output_len}
    report = fit_measurements(
        measurements, hardware, output, profile_id, engine, model=model, num_gpus=num_gpus,
        run=run,
    )  # fmt: skip
    if json_out:
        echo_json(report)
        return
    s, loo = report["summary"], report["leave_one_out"]
    rows = [_stats_row(k, v) for k, v in s.items() if isinstance(v, dict)]
    rows.append(_stats_row("all", s))
    if loo is not None:
        rows.append(_stats_row("leave-one-out", loo))
    con = console()
    title = f"Fit of {report['base_engine']} on {report['hardware']} to " + ", ".join(
        p.name for p in measurements
    )
    con.print(table(title, ["steps", "n", "median |err|", "p90 |err|"], rows))
    con.print("fitted: " + ", ".join(f"{k} {v:g}" for k, v in report["calibration"].items()))
    for warning in report["warnings"]:
        con.print(f"warning: {warning}")
    for note in report["notes"]:
        con.print(f"note: {note}")
    if "output" in report:
        con.print(f"wrote {report['output']}: use it with --engine {report['output']}")


def _stats_row(name: str, stats: dict[str, Any]) -> list[object]:
    """One table row: steps, median and p90 |error| in %."""
    median, p90 = 100 * stats["median_abs_error"], 100 * stats["p90_abs_error"]
    return [name, stats["steps"], f"{median:.1f} %", f"{p90:.1f} %"]
