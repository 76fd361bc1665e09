"""How the shipped engine profiles were fitted, so that anyone can re-run the fits and see the
errors, in sample and held out (`python -m magicplan.calibration.presets [ID ...]`).

Each preset names the published decode rows it is fitted to (ids in magicplan/data/
engine_measurements*.csv, whose every row carries its source), the engine-level parameters that
move, and those fitted per GPU (only on a GPU with at least MIN_ROWS_PER_GPU of the rows). The
rest keep the profile's cited values (attention kernel, documented defaults). Rows that cannot
be a steady decode step of their batch are left out with their reason (`screening`). Fits use
the library's least squares (`calibration.fit.fit_values`) on log time, starting from, and
weakly held to, `fit.START`: a parameter the rows cannot see stays there.

Generalization is measured, not assumed: `held_out` refits without one GPU's (or one model's)
rows and predicts them, so a GPU's own calibration never predicts it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from magicplan.calibration import kernels
from magicplan.calibration.fit import BOUNDS, START, error_stats, fit_values, predict
from magicplan.calibration.measurements import Measurement, select
from magicplan.calibration.preset_table import PRESETS, EnginePreset
from magicplan.calibration.screening import samples, screen
from magicplan.cost.defaults import calibration_for
from magicplan.specs import load_engine, load_hardware
from magicplan.specs.calibration import Calibration, Rates, set_values
from magicplan.specs.engine import EngineSpec
from magicplan.specs.hardware import HardwareSpec
from magicplan.units import MS

__all__ = ["PRESETS", "EngineFit", "EnginePreset", "fit_engine", "held_out", "preset_rows"]

MIN_ROWS_PER_GPU = 3  # a per-GPU calibration needs at least this many of the engine's rows there
# Where a parameter that fit.START does not set starts (and what the prior holds it to): an
# integer weight-only kernel at the bandwidth of the dense one; no sampler or per-doubling cost.
_NEUTRAL = {
    "int8_weight_efficiency": 1.0,
    "int4_weight_efficiency": 1.0,
    "sampling_us": 0.0,
    "sampling_ns_per_logit": 0.0,
    "allreduce_latency_per_doubling_us": 0.0,
}


@dataclass(frozen=True)
class EngineFit:
    """Fitted values ('name' engine-level, 'name@hardware' per GPU), the rows, each row's
    relative error, and the parameters the rows left unconstrained."""

    values: dict[str, float]
    rows: list[Measurement]
    errors: list[float]
    unconstrained: list[str] = field(default_factory=list)


def preset_rows(preset: EnginePreset) -> tuple[list[Measurement], dict[str, str]]:
    """The preset's decode rows that pass screening, and why the others were left out."""
    return screen(
        select(preset.rows, "decode_step"), preset.kv_formats, preset.left_out, preset.kv_budget
    )


def bare_engine(preset: EnginePreset) -> EngineSpec:
    """The preset's engine without the per-GPU values the preset fits (so that a fit, and a
    held-out prediction, never sees the shipped fitted values)."""
    engine = load_engine(preset.engine)
    kept = []
    for cal in engine.calibrations:
        drop = set(preset.per_hardware.get(cal.hardware, ()))
        values = {k: v for k, v in set_values(cal.values).items() if k not in drop}
        if values:
            kept.append(cal.model_copy(update={"values": Rates(**values)}))
    return engine.model_copy(update={"calibrations": kept})


def engine_calibration(
    engine: EngineSpec, hw: HardwareSpec, values: dict[str, float]
) -> Calibration:
    """`engine` on `hw` with engine-level `values` ('name') and per-hardware ones
    ('name@hardware') laid over its profile."""
    levels = {k: v for k, v in values.items() if "@" not in k}
    on_hw = {k.split("@")[0]: v for k, v in values.items() if k.endswith(f"@{hw.id}")}
    params = engine.parameters.model_copy(update=levels)
    base = calibration_for(hw, engine.model_copy(update={"parameters": params}))
    return base.model_copy(update=on_hw)


def _start(name: str, engine: EngineSpec) -> float:
    """Where a fitted parameter starts: a per-GPU one at the engine's value on that GPU, an
    engine-level one at fit.START (or _NEUTRAL), a kernel parameter at the profile's value."""
    if "@" in name:
        param, gpu = name.split("@")
        return float(getattr(calibration_for(load_hardware(gpu), engine), param))
    value = _NEUTRAL.get(name, getattr(START, name, None))
    if value is None:  # a kernel parameter: its cited value in the profile
        value = getattr(engine.parameters, name)
    if value is None:
        raise ValueError(f"no starting value for '{name}'")
    return float(value)


def fitted_names(preset: EnginePreset, rows: list[Measurement]) -> list[str]:
    """The preset's engine-level parameters, and its per-GPU ones on GPUs with enough rows."""
    count = {g: sum(m.gpu == g for m in rows) for g in preset.per_hardware}
    per_gpu = [
        f"{p}@{g}"
        for g, ps in preset.per_hardware.items()
        if count[g] >= MIN_ROWS_PER_GPU
        for p in ps
    ]
    return [*preset.free, *per_gpu]


def fit_engine(preset: EnginePreset, rows: list[Measurement] | None = None) -> EngineFit:
    """Fit the preset's parameters to its rows (or to `rows`, a subset)."""
    rows = preset_rows(preset)[0] if rows is None else rows
    engine = bare_engine(preset)
    names = fitted_names(preset, rows)
    for n in names:  # per-hardware names share their parameter's bounds
        BOUNDS.setdefault(n, BOUNDS[n.split("@")[0]])
    start = {n: _start(n, engine) for n in names}
    fitted = fit_values(
        samples(rows, preset.kv_formats), None,
        lambda hw, v: engine_calibration(engine, hw, v), start, names,
    )  # fmt: skip
    errors = [float(p[0] / m.measured_s - 1) for m, p in zip(rows, fitted.predicted_s, strict=True)]
    return EngineFit(fitted.values, rows, errors, fitted.unconstrained)


def row_errors(
    engine: EngineSpec,
    rows: Sequence[Measurement],
    kv_formats: dict[str, str] | None = None,
    values: dict[str, float] | None = None,
) -> list[float]:
    """Each row's relative error under `engine` (with fitted `values` laid over it)."""
    out = []
    for m, s in zip(rows, samples(list(rows), kv_formats or {}), strict=True):
        assert s.hardware is not None
        cal = engine_calibration(engine, s.hardware, values or {})
        out.append(float(predict(s.hardware, cal, s)[0] / m.measured_s - 1))
    return out


def held_out(preset: EnginePreset, by: Literal["gpu", "model"]) -> list[tuple[Measurement, float]]:
    """Leave-one-GPU-out (or -model-out): for each GPU (model) of the preset's rows, refit
    without its rows and predict them; a GPU left out is predicted without any calibration of
    its own. Groups whose removal leaves fewer rows than parameters to fit are skipped."""
    rows = preset_rows(preset)[0]
    out: list[tuple[Measurement, float]] = []
    for key in sorted({getattr(m, by) for m in rows}):
        train = [m for m in rows if getattr(m, by) != key]
        test = [m for m in rows if getattr(m, by) == key]
        if len(train) < max(len(fitted_names(preset, train)), 1):
            continue
        fit = fit_engine(preset, train)
        errors = row_errors(bare_engine(preset), test, preset.kv_formats, fit.values)
        out += list(zip(test, errors, strict=True))
    return out


def shipped_errors(preset: EnginePreset) -> list[tuple[Measurement, float]]:
    """Each of the preset's rows' relative error under the shipped engine profile."""
    rows = preset_rows(preset)[0]
    errors = row_errors(load_engine(preset.engine), rows, preset.kv_formats)
    return list(zip(rows, errors, strict=True))


def all_decode_errors(fitted_only: bool = False) -> list[tuple[Measurement, float]]:
    """Every usable decode row (screened for flags, shipped profiles and physics, with its
    engine's KV formats and budget), predicted by the shipped profile named in its `engine`
    column, or by the default engine where no profile has that id: what a user of each engine
    would get. `fitted_only`: only the rows each preset was fitted to."""
    if fitted_only:
        return [pair for p in PRESETS.values() for pair in shipped_errors(p)]
    out = []
    rows = select(".*", "decode_step")
    presets = {p.engine: p for p in PRESETS.values()}
    for name in sorted({m.engine for m in rows}):
        p = presets.get(name, EnginePreset(engine=name, rows="", free=()))
        kept, _ = screen([m for m in rows if m.engine == name], p.kv_formats, None, p.kv_budget)
        engine = load_engine(name if name in presets else None)
        out += list(zip(kept, row_errors(engine, kept, p.kv_formats), strict=True))
    return out


def _stats(errors: Sequence[float]) -> str:
    if not len(errors):
        return "no rows"
    s = error_stats(np.asarray(errors))
    return (f"median {100 * s['median_abs_error']:.1f} %, p90 {100 * s['p90_abs_error']:.1f} %, "
            f"max {100 * s['max_abs_error']:.1f} % over {s['steps']} rows")  # fmt: skip


def show_engine(name: str, verbose: bool = False) -> None:
    """Print an engine preset's fit, its held-out errors and the rows it left out."""
    preset = PRESETS[name]
    fit = fit_engine(preset)
    print(f"engine {name}: " + ", ".join(f"{k}={v:.4g}" for k, v in fit.values.items()))
    print(f"  in sample: {_stats(fit.errors)}; unconstrained: {fit.unconstrained or 'none'}")
    for by in ("gpu", "model"):
        errs = held_out(preset, by)
        print(f"  leave-one-{by}-out: {_stats([e for _, e in errs])}")
    shipped = shipped_errors(preset)
    print(f"  shipped profile: {_stats([e for _, e in shipped])}")
    if verbose:
        for m, e in shipped:
            print(
                f"    {m.id:7} {m.gpu:14} tp{m.num_gpus} {m.model:16} {m.dtype:16} B={m.batch:<4} "
                f"L={m.context:<6} {m.measured_s / MS:8.2f} ms {100 * e:+6.1f} %"
            )
        for row, why in preset_rows(preset)[1].items():
            print(f"    left out {row}: {why}")


def main(argv: Sequence[str]) -> None:
    """Print the fits named in `argv`: engine presets (`-v` lists rows), attention kernels,
    hardware ids, or `all` (every usable decode row under the shipped profiles)."""
    verbose = "-v" in argv
    for name in (a for a in argv if a != "-v"):
        if name in PRESETS:
            show_engine(name, verbose)
        elif name == "all":
            fitted = all_decode_errors(fitted_only=True)
            print(f"all presets' rows, shipped profiles: {_stats([e for _, e in fitted])}")
            errs = all_decode_errors()
            print(f"every usable decode row by its engine column: {_stats([e for _, e in errs])}")
            if verbose:
                for m, e in sorted(errs, key=lambda p: -abs(p[1])):
                    print(f"    {m.id:7} {m.engine:15} {m.gpu:14} {100 * e:+6.1f} %")
        elif kernels.attention_rows(name):
            values, errors = kernels.fit_attention(name)
            print(
                f"attention kernel {name}: " + ", ".join(f"{k}={v:.4g}" for k, v in values.items())
            )
            print(f"  {_stats(errors)}")
        else:
            values, errors = kernels.fit_achieved(name)
            print(f"hardware {name}: " + ", ".join(f"{k}={v:.4g}" for k, v in values.items()))
            print(f"  {_stats(errors)}")


if __name__ == "__main__":
    main(sys.argv[1:])
