"""`magicplan validate`: time AR, draft and verify steps on a grid the calibration never saw and
compare them with what the cost model predicts from a hardware profile.

The model timed is the one the profile was calibrated with (its spec travels in the calibration's
provenance notes); a profile without one (a shipped datasheet profile) runs `--model`'s runner
spec for the device under the profile's calibration or the transferable default.
"""

from __future__ import annotations

from typing import Any

from magicplan.calibration.fit import predict, step_rows
from magicplan.calibration.torch_runner.grids import run_plan
from magicplan.calibration.torch_runner.machine import device_name, memory_bytes
from magicplan.calibration.torch_runner.model import init_weights
from magicplan.calibration.torch_runner.progress import progress_bar
from magicplan.calibration.torch_runner.scaled import DEFAULT_MODEL, notes_to_spec, runner_spec
from magicplan.calibration.torch_runner.steps import (
    StepBench,
    error_stats,
    time_grid,
    to_samples,
)
from magicplan.calibration.torch_runner.timing import check_device, require_torch, setup_device
from magicplan.cost.defaults import calibration_for
from magicplan.errors import MagicplanError
from magicplan.specs import load_engine, load_hardware, load_model
from magicplan.specs.model import ModelSpec


def validation_spec(
    notes: str | None, device: str, model: str | None
) -> tuple[ModelSpec, dict[str, Any]]:
    """The runner spec to time, and the calibration run's settings (threads, device)."""
    spec, settings = notes_to_spec(notes)
    calibrated_on = settings.get("device")
    if calibrated_on not in (None, device):
        raise MagicplanError(
            f"--hardware was calibrated with --device {calibrated_on}; validate it with "
            f"--device {calibrated_on} (or calibrate again with --device {device})"
        )
    if model is not None or spec is None:
        spec = runner_spec(load_model(model or DEFAULT_MODEL), device, memory_bytes(device))
    return spec, settings


def validate(
    device: str,
    hardware: str,
    model: str | None = None,
    threads: int | None = None,
    show_progress: bool = True,
    engine: str | None = None,
) -> dict[str, Any]:
    """Measured vs predicted step times over the validation grid, with error statistics;
    `engine` (id or path) replaces the profile's own calibration in the predictions."""
    check_device(device)
    hw = load_hardware(hardware)
    own = calibration_for(hw)
    cal = own if engine is None else calibration_for(hw, load_engine(engine))
    spec, settings = validation_spec(own.provenance.notes, device, model)
    n_threads = setup_device(device, threads or settings.get("threads"))
    rp = run_plan(device, "validate", spec, memory_bytes(device))
    points = rp.grid.points()
    with (
        require_torch().inference_mode(),
        progress_bar(rp.timing.repeats * len(points), "validating", show_progress) as advance,
    ):
        bench = StepBench(init_weights(spec, device, seed=1), rp.grid, device, seed=1)
        seconds, _ = time_grid(bench, points, rp.timing, advance)
    samples = to_samples(spec, rp.grid, points, seconds)
    rows = step_rows(samples, [predict(hw, cal, s) for s in samples])
    stats = error_stats(rows)
    return {
        "hardware": hw.id,
        "engine": cal.engine,
        "device": device_name(device),
        "model": spec.id,
        "threads": n_threads if device == "cpu" else None,
        "draft": {"kv_method": rp.grid.kv_method, "kv_budget": rp.grid.kv_budget},
        "steps": rows,
        "median_abs_error": stats["median_abs_error"],
        "p90_abs_error": stats["p90_abs_error"],
        "per_kind": stats["per_kind"],
    }
