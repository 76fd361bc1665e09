"""`magicplan calibrate` and `magicplan validate`: the torch runner (optional extra, torch is
imported inside the commands only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from magicplan.cli._app import app
from magicplan.cli._output import console, echo_json, table

DEVICE_HELP = "cpu, or cuda (needs a GPU torch can see)."
MODEL_HELP = (
    "Model profile id or path whose shapes the runner builds (default llama-3.1-8b; "
    "scaled down on CPU)."
)
THREADS_HELP = "CPU threads (default 1: robust beside other processes; validate: as calibrated)."


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _error_table(title: str, per_kind: dict[str, Any], overall: dict[str, Any]) -> Any:
    rows = [
        [k, v["steps"], _pct(v["median_abs_error"]), _pct(v["p90_abs_error"])]
        for k, v in per_kind.items()
    ]
    rows.append(
        ["all", overall["steps"], _pct(overall["median_abs_error"]), _pct(overall["p90_abs_error"])]
    )
    return table(title, ["step", "n", "median |err|", "p90 |err|"], rows)


@app.command("calibrate")
def calibrate_command(
    device: Annotated[str, typer.Option(help=DEVICE_HELP)],
    output: Annotated[Path, typer.Option(help="Where to write the calibrated profile YAML.")],
    quick: Annotated[
        bool, typer.Option("--quick", help="Smaller grid, fewer repeats (< 1 min on a CPU).")
    ] = False,
    model: Annotated[str | None, typer.Option(help=MODEL_HELP)] = None,
    hardware: Annotated[
        str | None,
        typer.Option(help="Datasheet profile to calibrate (default: measure the device)."),
    ] = None,
    profile_id: Annotated[
        str | None, typer.Option("--id", help="id of the written profile.")
    ] = None,
    threads: Annotated[int | None, typer.Option(help=THREADS_HELP)] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Full report as JSON.")] = False,
) -> None:
    """Microbenchmark the device, time real AR/draft/verify steps, fit, write a profile."""
    from magicplan.calibration.torch_runner.calibrate import calibrate

    report = calibrate(device, output, quick, model, hardware, profile_id, threads, not json_out)
    if json_out:
        echo_json(report)
        return
    con = console()
    m = report["microbenchmarks"]["summary"]
    con.print(
        f"{report['device']}: copy {m['copy_gb_s']:.1f} GB/s, read {m['read_gb_s']:.1f} GB/s, "
        f"peak {m['peak_tflops']:.3g} TFLOP/s, "
        f"overhead {m['step_overhead_us']:.0f} µs/step + {m['layer_overhead_us']:.0f} µs/layer"
    )
    s = report["summary"]
    per_kind = {k: v for k, v in s.items() if isinstance(v, dict)}
    con.print(_error_table(f"Fit of {report['model']} steps", per_kind, s))
    cal = report["calibration"]
    con.print(
        f"overlap {cal['overlap']}, memory efficiency {cal['memory_efficiency']:.3f}, "
        f"compute efficiency {cal['compute_efficiency']:.3f}"
    )
    con.print(f"wrote {report['output']} in {report['wall_s']:.0f} s")


@app.command("validate")
def validate_command(
    device: Annotated[str, typer.Option(help=DEVICE_HELP)],
    hardware: Annotated[str, typer.Option(help="Calibrated profile (path or id) to check.")],
    model: Annotated[
        str | None, typer.Option(help="Model to time (default: the one calibrated).")
    ] = None,
    threads: Annotated[int | None, typer.Option(help=THREADS_HELP)] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            help="Engine id or profile path the predictions assume (default: the profile's own "
            "calibration, the torch runner's)."
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Steps and errors as JSON.")] = False,
) -> None:
    """Time AR, draft and verify steps on unseen points; compare with the model's predictions."""
    from magicplan.calibration.torch_runner.validate import validate

    report = validate(device, hardware, model, threads, not json_out, engine=engine)
    if json_out:
        echo_json(report)
        return
    con = console()
    rows = [
        [r["kind"], r["batch"], r["context"], r["gamma"], r["measured_ms"], r["predicted_ms"],
         f"{100 * r['error']:+.1f} %"]
        for r in report["steps"]
    ]  # fmt: skip
    con.print(
        table(
            f"{report['model']} on {report['device']} vs {report['hardware']}",
            ["step", "batch", "context", "γ", "measured ms", "predicted ms", "error"],
            rows,
        )
    )
    overall = {
        "steps": len(report["steps"]),
        "median_abs_error": report["median_abs_error"],
        "p90_abs_error": report["p90_abs_error"],
    }
    con.print(_error_table("Prediction error", report["per_kind"], overall))
