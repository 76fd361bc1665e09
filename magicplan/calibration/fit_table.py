"""The `fit` workflow: read a step table, fit, report per-row errors, write the profile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from magicplan.calibration.fit import START, fit_calibration, round_overhead_us, step_rows
from magicplan.calibration.profile_writer import (
    file_sha256,
    profile_with_calibration,
    today,
    write_profile,
)
from magicplan.calibration.tables import read_measurements, samples_from_columns
from magicplan.errors import MagicplanError, format_validation_error
from magicplan.specs import load_hardware
from magicplan.specs.hardware import HardwareSpec, Provenance


def fit_measurements(
    measurements: str | Path,
    hardware: str,
    output: str | Path | None,
    profile_id: str | None = None,
    engine: str = "measured engine",
) -> dict[str, Any]:
    """Fit `hardware` to the rows of `measurements`; write the profile to `output` if given."""
    hw = load_hardware(hardware)
    cols = read_measurements(measurements, hw)
    samples = samples_from_columns(cols)
    prov = Provenance(
        method="fit",
        source=f"magicplan fit to {Path(measurements).name}",
        date=today(),
        input_file=Path(measurements).name,
        input_sha256=file_sha256(measurements),
        rows=len(cols["batch"]),
    )
    base = (hw.calibration or START).model_copy(update={"engine": engine})
    result = fit_calibration(hw, samples, prov, base=base)
    summary = result.summary()
    extra: dict[str, Any] = {
        "median_abs_error": summary["median_abs_error"],
        "p90_abs_error": summary["p90_abs_error"],
    }
    if {"t_spec_per_token_ms", "accepted_per_step", "gamma_t_draft_ms", "t_verify_ms"} <= set(cols):
        extra_round = round_overhead_us(
            cols["t_spec_per_token_ms"],
            cols["accepted_per_step"],
            cols["gamma_t_draft_ms"],
            cols["t_verify_ms"],
        )
        cal = result.calibration.model_copy(update={"round_overhead_us": extra_round})
    else:
        cal = result.calibration
    cal = cal.model_copy(update={"provenance": prov.model_copy(update=extra)})
    report: dict[str, Any] = {
        "hardware": hw.id,
        "summary": summary,
        "calibration": cal.model_dump(mode="json"),
        "rows": step_rows(result.samples, result.predicted_s, with_row=True),
    }
    if output is not None:
        data = profile_with_calibration(hw, cal, profile_id)
        try:  # the written profile must load
            HardwareSpec(**data)
        except ValidationError as exc:
            raise MagicplanError(format_validation_error(exc, str(output))) from exc
        write_profile(output, data, f"{hw.name}, calibrated by `magicplan fit` on {today()}.")
        report["output"] = str(output)
    return report
