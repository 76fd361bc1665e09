"""`magicplan fit`: calibrate a hardware profile to measured step tables from any engine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from magicplan.cli._app import app
from magicplan.cli._output import console, echo_json, table


@app.command("fit")
def fit_command(
    measurements: Annotated[Path, typer.Option(help="CSV in the reference schema (ms).")],
    hardware: Annotated[str, typer.Option(help="Hardware id or profile path to calibrate.")],
    output: Annotated[Path, typer.Option(help="Where to write the calibrated profile YAML.")],
    profile_id: Annotated[
        str | None, typer.Option("--id", help="id of the written profile (default: hardware's).")
    ] = None,
    engine: Annotated[str, typer.Option(help="Name of the engine that produced the timings.")] = (
        "measured engine"
    ),
    json_out: Annotated[bool, typer.Option("--json", help="Per-row errors as JSON.")] = False,
) -> None:
    """Fit efficiencies and latencies (least squares on log step time) and write a profile."""
    from magicplan.calibration.fit_table import fit_measurements

    report = fit_measurements(measurements, hardware, output, profile_id, engine)
    if json_out:
        echo_json(report)
        return
    s = report["summary"]
    rows = [
        [k, v["steps"], f"{100 * v['median_abs_error']:.1f} %", f"{100 * v['p90_abs_error']:.1f} %"]
        for k, v in s.items()
        if isinstance(v, dict)
    ]
    rows.append(
        [
            "all",
            s["steps"],
            f"{100 * s['median_abs_error']:.1f} %",
            f"{100 * s['p90_abs_error']:.1f} %",
        ]
    )
    con = console()
    con.print(
        table(
            f"Fit of {report['hardware']} to {measurements}",
            ["step", "n", "median |err|", "p90 |err|"],
            rows,
        )
    )
    con.print(f"wrote {report['output']}")
