"""The `fit` workflow: read what a user measured on their engine (a step table, an AR-only
table, or the JSON an engine's latency benchmark writes), fit, report in-sample and
leave-one-out errors and what the rows cannot pin down, and write an engine profile that
carries the fitted calibration for this hardware (`plan --engine PATH` uses it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from magicplan.calibration.engine_json import read_benchmark_json
from magicplan.calibration.fit import (
    STEP_TABLE_PARAMETERS,
    StepSample,
    error_stats,
    fit_calibration,
    predict,
    round_overhead_us,
    step_rows,
)
from magicplan.calibration.profile_writer import file_sha256, today, write_profile
from magicplan.calibration.tables import TIME_COLUMNS, read_measurements, samples_from_columns
from magicplan.cost.defaults import calibration_for
from magicplan.cost.roofline import make_roofline
from magicplan.cost.steps import prefill_time
from magicplan.errors import MagicplanError
from magicplan.io import read_csv_rows
from magicplan.scenarios import Columns
from magicplan.setup import check_positive
from magicplan.specs import load_engine, load_hardware, load_model
from magicplan.specs.calibration import Calibration, Provenance
from magicplan.specs.engine import EngineSpec
from magicplan.specs.hardware import HardwareSpec
from magicplan.specs.registry import DEFAULT_ENGINE

# What AR-only rows (decode steps of the whole batch) can see: bandwidth (weights, KV), the
# fixed latencies and, with several GPUs or big batches, the all-reduce and the GEMM FLOP/s.
AR_PARAMETERS = (
    "memory_efficiency",
    "attention_efficiency",
    "step_overhead_us",
    "layer_overhead_us",
    "allreduce_latency_us",
    "compute_efficiency",
)
LOO_MAX_FOLDS = 20  # beyond this many rows, leave-one-out runs over this many folds
ENOUGH_ROWS = 6  # the fewest measured steps the "usable profile" asks for


def base_engine(engine: str | None) -> tuple[EngineSpec, str | None]:
    """The engine to start from: an id or profile path; other text is the fitted engine's name
    on the default engine (what `--engine` meant before engine profiles)."""
    if engine is None:
        return load_engine(), None
    try:
        return load_engine(engine), None
    except MagicplanError:
        if "/" in engine or engine.endswith((".yaml", ".yml", ".json")):
            raise
        return load_engine(DEFAULT_ENGINE), engine


def fit_measurements(
    measurements: str | Path | Sequence[str | Path],
    hardware: str,
    output: str | Path | None,
    profile_id: str | None = None,
    engine: str | None = None,
    *,
    model: str | None = None,
    num_gpus: int | None = None,
    run: dict[str, int | None] | None = None,
) -> dict[str, Any]:
    """Fit `engine` (default: the default engine) on `hardware` to the rows of `measurements`;
    write the engine profile to `output` if given. `model` and `num_gpus` fill tables without
    those columns; `run` (batch, input_len, output_len) completes a vLLM benchmark JSON."""
    hw = load_hardware(hardware)
    base, name = base_engine(engine)
    paths = [measurements] if isinstance(measurements, (str, Path)) else list(measurements)
    if not paths:
        raise MagicplanError("measurements: give at least one file")
    if num_gpus is not None:
        check_positive("num_gpus", num_gpus)
    start = calibration_for(hw, base)
    cols, notes = _read_all(paths, hw, start, model, num_gpus, run or {})
    for column in ("t_autoregressive_ms", "gamma_t_draft_ms", "t_verify_ms"):
        infinite = np.flatnonzero(np.isinf(cols.get(column, np.zeros(0))))
        if infinite.size:  # a blank cell is NaN (not measured); an infinite time is no time
            row = int(infinite[0]) + 1
            raise MagicplanError(f"measurements: column '{column}' must hold finite times in "
                                 f"ms; row {row} of those read is infinite")  # fmt: skip
    samples = samples_from_columns(cols)
    full_table = any(s.kind != "autoregressive" for s in samples)
    free = STEP_TABLE_PARAMETERS if full_table else _ar_parameters(samples)
    prov = _provenance(paths, len(cols["batch"]))
    result = fit_calibration(hw, samples, prov, base=start, free=free)
    summary, loo = result.summary(), _leave_one_out(hw, samples, start, free)
    values = {p: getattr(result.calibration, p) for p in free}
    if {"t_spec_per_token_ms", "accepted_per_step", "gamma_t_draft_ms", "t_verify_ms"} <= set(cols):
        values["round_overhead_us"] = round_overhead_us(
            cols["t_spec_per_token_ms"], cols["accepted_per_step"], cols["gamma_t_draft_ms"],
            cols["t_verify_ms"],
        )  # fmt: skip
    warnings = _warnings(summary["steps"], result.unconstrained)
    prov = prov.model_copy(
        update={
            "median_abs_error": summary["median_abs_error"],
            "p90_abs_error": summary["p90_abs_error"],
            "max_abs_error": summary["max_abs_error"],
            "leave_one_out_median_abs_error": loo["median_abs_error"] if loo else None,
            "notes": "; ".join([*warnings, *notes]) or None,
        }
    )
    new_id = profile_id or f"{base.id}-fit"
    report: dict[str, Any] = {
        "hardware": hw.id, "engine": new_id, "base_engine": base.id, "fitted": list(free),
        "summary": summary, "leave_one_out": loo, "unconstrained": result.unconstrained,
        "warnings": warnings, "calibration": {k: _round(v) for k, v in values.items()},
        "rows": step_rows(result.samples, result.predicted_s, with_row=True), "notes": notes,
    }  # fmt: skip
    if output is not None:
        data = engine_with_calibration(base, hw, values, prov, new_id, name)
        write_profile(output, data, f"{data['name']}: fitted by `magicplan fit` on {today()}.")
        report["output"] = str(output)
    return report


def _read_all(
    paths: list[str | Path],
    hw: HardwareSpec,
    start: Calibration,
    model: str | None,
    num_gpus: int | None,
    run: dict[str, int | None],
) -> tuple[Columns, list[str]]:
    """Every file's rows for `hw`, concatenated, with the `target` and `num_gpus` the flags
    give where a file has no such column."""
    parts: list[Columns] = []
    notes: list[str] = []
    for path in paths:
        if str(path).lower().endswith((".json", ".jsonl")):
            target = _flag_model(path, model)
            n = num_gpus or 1
            cols, more = read_benchmark_json(path, run, _prefill(hw, start, target, n))
            notes += more
        else:
            cols = read_measurements(path, hw, model, num_gpus or 1)
            if num_gpus is None and "num_gpus" not in (read_csv_rows(path) or [{}])[0]:
                notes.append(f"{path}: no num_gpus column or --num-gpus: measured on 1 GPU")
        n_rows = len(cols["batch"])
        if "target" not in cols:
            cols["target"] = np.array([_flag_model(path, model)] * n_rows)
        if "num_gpus" not in cols:
            cols["num_gpus"] = np.full(n_rows, float(num_gpus or 1))
        parts.append(cols)
    keys = sorted(set.intersection(*(set(p) for p in parts)))
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}, notes


def _flag_model(path: str | Path, model: str | None) -> str:
    if model is None:
        raise MagicplanError(f"{path}: no 'target' column: give --model (the model measured)")
    load_model(model)  # one clear error for an unknown id now
    return model


def _prefill(hw: HardwareSpec, cal: Calibration, model_id: str, n: int) -> Any:
    model = load_model(model_id)
    rf = make_roofline(hw, cal, model.compute_dtype, weight_format=model.quantized_weight_dtype)

    def prefill_s(batch: int, input_len: int) -> float:
        return float(prefill_time(model, rf, n, batch, input_len).total_s)

    return prefill_s


def _ar_parameters(samples: list[StepSample]) -> tuple[str, ...]:
    """AR_PARAMETERS, less the all-reduce when every row ran on one GPU."""
    multi = any(s.num_gpus > 1 for s in samples)
    return tuple(p for p in AR_PARAMETERS if multi or p != "allreduce_latency_us")


def _provenance(paths: list[str | Path], rows: int) -> Provenance:
    names = ", ".join(Path(p).name for p in paths)
    return Provenance(
        method="fit",
        source=f"magicplan fit to {names}",
        date=today(),
        input_file=names,
        input_sha256=file_sha256(paths[0]) if len(paths) == 1 else None,
        rows=rows,
    )


def _leave_one_out(
    hw: HardwareSpec, samples: list[StepSample], start: Calibration, free: Sequence[str]
) -> dict[str, Any] | None:
    """Each source row predicted by a fit to the others (folds of rows beyond LOO_MAX_FOLDS)."""
    rows = np.unique(np.concatenate([s.row for s in samples]))
    if rows.size < 3:
        return None
    folds = np.array_split(rows, min(rows.size, LOO_MAX_FOLDS))
    errors = []
    prov = Provenance(method="fit", source="leave-one-out")
    for fold in folds:
        train = [t for s in samples if (t := s.subset(~np.isin(s.row, fold))).row.size]
        test = [t for s in samples if (t := s.subset(np.isin(s.row, fold))).row.size]
        cal = fit_calibration(hw, train, prov, base=start, free=free).calibration
        errors += [predict(hw, cal, t) / t.measured_s - 1 for t in test]
    return error_stats(np.concatenate(errors))


def _warnings(steps: int, unconstrained: list[str]) -> list[str]:
    out = []
    if steps < ENOUGH_ROWS:
        out.append(f"only {steps} measured steps: {ENOUGH_ROWS} or more make a usable profile")
    if unconstrained:
        out.append(
            f"not constrained by these rows: {', '.join(unconstrained)} (kept near the base "
            "engine's values; add rows that vary batch, context, model size or GPU count)"
        )
    return out


def engine_with_calibration(
    base: EngineSpec,
    hw: HardwareSpec,
    values: dict[str, float],
    provenance: Provenance,
    new_id: str,
    name: str | None = None,
) -> dict[str, Any]:
    """`base` as a YAML-ready mapping under `new_id`, with `values` as its calibration on
    `hw` (replacing any it had there); the written profile must load."""
    data = base.model_dump(mode="json", exclude_none=True)
    data["id"] = new_id
    data["name"] = name or f"{base.name}, fitted on {hw.id}"
    calibrations = [c for c in data.get("calibrations", []) if c["hardware"] != hw.id]
    calibrations.append(
        {
            "hardware": hw.id,
            "values": {k: _round(v) for k, v in values.items()},
            "provenance": {
                k: _round(v)
                for k, v in provenance.model_dump(mode="json", exclude_none=True).items()
            },
        }
    )
    data["calibrations"] = calibrations
    EngineSpec(**data)  # the written profile must load (raises a ValidationError if not)
    return data


def _round(x: Any) -> Any:
    if isinstance(x, float):
        return 0.0 if abs(x) < 1e-9 else float(f"{x:.6g}")
    return x


__all__ = ["TIME_COLUMNS", "base_engine", "engine_with_calibration", "fit_measurements"]
