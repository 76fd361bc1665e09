"""`magicplan calibrate`: microbenchmarks, real AR/draft/verify steps, the fit, the profile.

1. Microbenchmarks give the roofs (copy bandwidth, peak GEMM rate: on a CPU these *are* the
   profile's figures), the runner's fixed cost per step and per layer (the same decoder with every
   width shrunk to nothing), and starting efficiencies (the model's own GEMM shapes).
2. Real steps of the runner's model over a batch x context x γ grid become StepSamples.
3. The fitting core (`magicplan.calibration.fit`) fits the efficiencies and the per-token cost
   with the measured overheads held, once per overlap mode; the mode that reproduces the steps
   better is kept (a CPU core barely overlaps memory stalls with arithmetic; a GPU does).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from magicplan.calibration.fit import START, FitResult, StepSample, fit_calibration, step_rows
from magicplan.calibration.profile_writer import profile_with_calibration, today, write_profile
from magicplan.calibration.torch_runner.grids import PLANS, microbench_shapes, run_plan
from magicplan.calibration.torch_runner.machine import (
    device_name,
    measured_hardware,
    memory_bytes,
)
from magicplan.calibration.torch_runner.microbench import (
    MicroResult,
    as_dict,
    floor_probes,
    roof_probes,
    roofs,
    shape_benches,
)
from magicplan.calibration.torch_runner.model import init_weights
from magicplan.calibration.torch_runner.progress import progress_bar
from magicplan.calibration.torch_runner.scaled import DEFAULT_MODEL, runner_spec, spec_to_notes
from magicplan.calibration.torch_runner.steps import StepBench, time_grid, to_samples
from magicplan.calibration.torch_runner.timing import (
    check_device,
    require_torch,
    sample_times,
    setup_device,
)
from magicplan.specs import load_hardware, load_model
from magicplan.specs.hardware import Calibration, HardwareSpec, Provenance
from magicplan.specs.model import ModelSpec
from magicplan.units import US

# One device: no all-reduce to see. On a CPU the fixed costs the microbenchmarks measure are paid
# in full by every step (the host runs the kernels), so they are held; on a GPU, launches overlap
# the kernels queued before them, so the measured costs only start the fit.
SINGLE_DEVICE = ("allreduce_latency_us", "link_efficiency")
MEASURED_FIXED_COSTS = ("step_overhead_us", "layer_overhead_us")
OVERLAPS = ("max", "sum")
EFFICIENCY_FLOOR = 0.05  # starting efficiencies stay inside the fit's bounds


@dataclass(frozen=True)
class Run:
    """What was run: device, mode, the runner's spec and the profile it came from."""

    device: str
    mode: str
    spec: ModelSpec
    base_model: str
    threads: int
    date: str

    def provenance(self, n_steps: int) -> Provenance:
        """Provenance of this run's calibration (errors and notes filled in after the fit)."""
        flag = " --quick" if self.mode == "quick" else ""
        return Provenance(
            method="calibrate",
            source=f"magicplan calibrate --device {self.device}{flag}: {n_steps} timed "
            f"AR/draft/verify steps of {self.spec.id} (random weights) + microbenchmarks",
            date=self.date,
            rows=n_steps,
            device=device_name(self.device),
        )

    def engine(self) -> str:
        """The (hardware, engine) pair's engine half: what drove the timed steps."""
        n = self.threads
        where = f"{n} CPU thread{'s' if n > 1 else ''}" if self.device == "cpu" else "CUDA"
        version = require_torch().__version__
        return f"magicplan torch runner: eager torch {version}, {self.spec.dtype}, {where}"

    def notes(self, micro: MicroResult) -> str:
        """The runner spec and settings validate needs, and the microbenchmark summary."""
        settings = {"base_model": self.base_model, "device": self.device, "mode": self.mode}
        extra = {"threads": self.threads, "microbenchmarks": micro.summary()}
        return spec_to_notes(self.spec, settings | extra)


def _clip(efficiency: float) -> float:
    return float(np.clip(efficiency, EFFICIENCY_FLOOR, 1.0))


def starting_point(micro: MicroResult, engine: str, overlap: str) -> Calibration:
    """START with the microbenchmarks' efficiencies and measured fixed costs."""
    return START.model_copy(
        update={
            "engine": engine,
            "overlap": overlap,
            "memory_efficiency": _clip(micro.memory_efficiency()),
            "compute_efficiency": _clip(micro.compute_efficiency()),
            "step_overhead_us": micro.step_overhead_s / US,
            "layer_overhead_us": micro.layer_overhead_s / US,
            "token_layer_overhead_ns": 0.0,
        }
    )


def held(device: str) -> tuple[str, ...]:
    """Calibration fields the fit keeps at their starting values on `device`."""
    return SINGLE_DEVICE + (MEASURED_FIXED_COSTS if device == "cpu" else ())


def fit_runner(
    hw: HardwareSpec,
    samples: list[StepSample],
    micro: MicroResult,
    run: Run,
    prov: Provenance,
) -> FitResult:
    """Fit once per overlap mode; keep the one with the smaller median |error|."""
    engine, fixed = run.engine(), held(run.device)
    fits = [
        fit_calibration(hw, samples, prov, base=starting_point(micro, engine, o), fixed=fixed)
        for o in OVERLAPS
    ]
    return min(fits, key=lambda f: f.summary()["median_abs_error"])


def measure(
    device: str, spec: ModelSpec, mode: str, show_progress: bool
) -> tuple[MicroResult, list[StepSample], int]:
    """Microbenchmarks and timed steps of `spec`; returns them and the number of steps."""
    rp = run_plan(device, mode, spec, memory_bytes(device))
    points = rp.grid.points()
    probes, floors = roof_probes(spec, device), floor_probes(spec, device)
    calls = rp.timing.repeats * (len(points) + len(probes))
    with progress_bar(calls, "launch latency, fixed costs", show_progress) as advance:
        floor_s = sample_times([p.fn for p in floors], device, PLANS["floors"]).min(axis=0)
        advance(0, "AR, draft, verify steps and roofs")
        bench = StepBench(init_weights(spec, device), rp.grid, device)
        seconds, best = time_grid(bench, points, rp.timing, advance, [p.fn for p in probes])
        del bench  # frees the weights and the cache before the shape benchmarks allocate theirs
        advance(0, "model GEMM and attention shapes")
        micro = roofs([*probes, *floors], np.concatenate([best, floor_s]))
        micro = shape_benches(micro, spec, device, microbench_shapes(rp.grid), PLANS["shapes"])
    return micro, to_samples(spec, rp.grid, points, seconds), len(points)


def finished(result: FitResult, prov: Provenance, notes: str) -> Calibration:
    """The fitted calibration with its provenance: fit errors and run notes."""
    s = result.summary()
    done = prov.model_copy(
        update={
            "median_abs_error": s["median_abs_error"],
            "p90_abs_error": s["p90_abs_error"],
            "notes": notes,
        }
    )
    return result.calibration.model_copy(update={"provenance": done})


def report_of(
    run: Run, hw: HardwareSpec, cal: Calibration, micro: MicroResult, result: FitResult
) -> dict[str, Any]:
    """JSON-ready report of a calibration run."""
    return {
        "hardware": hw.id,
        "device": device_name(run.device),
        "model": run.spec.id,
        "base_model": run.base_model,
        "threads": run.threads if run.device == "cpu" else None,
        "mode": run.mode,
        "microbenchmarks": as_dict(micro),
        "summary": result.summary(),
        "calibration": cal.model_dump(mode="json"),
        "steps": step_rows(result.samples, result.predicted_s),
    }


def calibrate(
    device: str,
    output: str | Path | None,
    quick: bool = False,
    model: str | None = None,
    hardware: str | None = None,
    profile_id: str | None = None,
    threads: int | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Run the whole calibration on `device`; write the profile to `output` when given."""
    t0 = time.perf_counter()
    check_device(device)
    base_hw = load_hardware(hardware) if hardware else None
    base = load_model(model or DEFAULT_MODEL)
    n = setup_device(device, threads)
    spec = runner_spec(base, device, memory_bytes(device))
    run = Run(device, "quick" if quick else "full", spec, base.id, n, today())
    with require_torch().inference_mode():
        micro, samples, n_steps = measure(device, spec, run.mode, show_progress)
    hw = base_hw or measured_hardware(device, spec.dtype, micro, n, run.date, profile_id)
    prov = run.provenance(n_steps)
    result = fit_runner(hw, samples, micro, run, prov)
    cal = finished(result, prov, run.notes(micro))
    report = report_of(run, hw, cal, micro, result)
    if output is not None:
        data = profile_with_calibration(hw, cal, profile_id)
        report["hardware"] = HardwareSpec(**data).id  # the written profile must load
        header = f"{hw.name}, calibrated by `magicplan calibrate --device {device}` on {run.date}."
        write_profile(output, data, header)
        report["output"] = str(output)
    report["wall_s"] = time.perf_counter() - t0
    return report
