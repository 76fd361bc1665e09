"""How the shipped hardware `achieved` blocks and engine profiles were fitted, so that anyone can
re-run the fits and see the errors (`python -m magicplan.calibration.presets [ID ...]`).

Each preset names the published rows it is fitted to (ids in magicplan/data/
engine_measurements.csv, whose every row carries its source), the parameters that move, and
those held at cited kernel measurements. Fits use the library's own least squares
(`calibration.fit.fit_values`) on log time.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from magicplan.calibration.fit import (
    BOUNDS,
    PRIOR_WEIGHT,
    StepSample,
    error_stats,
    fit_values,
    predict,
)
from magicplan.calibration.measurements import (
    Measurement,
    attention_call_s,
    decode_samples,
    linear_layer_s,
    select,
)
from magicplan.cost.defaults import achieved_rates, calibration_for
from magicplan.cost.roofline import make_roofline
from magicplan.specs import load_engine, load_hardware
from magicplan.specs.calibration import Calibration, Provenance
from magicplan.specs.engine import EngineSpec
from magicplan.specs.hardware import HardwareSpec

ACHIEVED = ("memory_efficiency", "compute_efficiency", "ridge_overlap")
ATTENTION = ("attention_efficiency", "attention_floor_us", "attention_half_length_tokens")
_ZERO_LATENCIES = {
    "step_overhead_us": 0.0,
    "layer_overhead_us": 0.0,
    "allreduce_latency_us": 0.0,
    "link_efficiency": 1.0,
}


def _rates_calibration(values: dict[str, float]) -> Calibration:
    return Calibration(
        engine="kernels", **(_ZERO_LATENCIES | values),
        provenance=Provenance(method="fit", source="magicplan.calibration.presets"),
    )  # fmt: skip


def _least_squares(
    residuals: Any, names: Sequence[str], start: dict[str, float]
) -> dict[str, float]:
    from scipy.optimize import least_squares

    b = np.array([BOUNDS[n] for n in names])
    x0 = np.clip([start[n] for n in names], b[:, 0], b[:, 1])
    sol = least_squares(residuals, x0, bounds=(b[:, 0], b[:, 1]), x_scale=b[:, 2])
    return dict(zip(names, map(float, sol.x), strict=True))


def achieved_errors(rows: list[Measurement], values: dict[str, float]) -> list[float]:
    """Relative errors of one decoder layer's GEMMs (Vidur rows) under achieved rates."""
    out = []
    for m in rows:
        hw = load_hardware(m.gpu)
        rf = make_roofline(hw, _rates_calibration(values), "float16")
        out.append(linear_layer_s(m, rf) / m.measured_s - 1)
    return out


def fit_achieved(gpu: str) -> tuple[dict[str, float], list[float]]:
    """A GPU's achieved rates from its linear-layer rows (the `achieved` block)."""
    rows = [m for m in select(".*", "linear_layer") if m.gpu == gpu]
    start = {"memory_efficiency": 0.75, "compute_efficiency": 0.75, "ridge_overlap": 0.6}

    def residuals(x: np.ndarray) -> np.ndarray:
        return np.log1p(achieved_errors(rows, dict(zip(ACHIEVED, x, strict=True))))

    values = _least_squares(residuals, ACHIEVED, start)
    return values, achieved_errors(rows, values)


def attention_errors(rows: list[Measurement], values: dict[str, float]) -> list[float]:
    """Relative errors of decode-attention calls under kernel parameters `values`."""
    out = []
    for m in rows:
        hw = load_hardware(m.gpu)
        rates, _ = achieved_rates(hw)
        rf = make_roofline(hw, _rates_calibration(rates | values))
        out.append(attention_call_s(m, rf, hw) / m.measured_s - 1)
    return out


def fit_attention(kernel: str) -> tuple[dict[str, float], list[float]]:
    """A decode-attention kernel's bandwidth fraction, per-call floor and per-sequence term
    from its rows (`engine` column of the decode_attention rows)."""
    rows = [m for m in select(".*", "decode_attention") if m.engine == kernel]
    start = {"attention_efficiency": 0.7, "attention_floor_us": 10.0,
             "attention_half_length_tokens": 32.0}  # fmt: skip

    def residuals(x: np.ndarray) -> np.ndarray:
        return np.log1p(attention_errors(rows, dict(zip(ATTENTION, x, strict=True))))

    values = _least_squares(residuals, ATTENTION, start)
    return values, attention_errors(rows, values)


@dataclass(frozen=True, kw_only=True)
class EnginePreset:
    """Which rows an engine profile is fitted to, and what moves."""

    engine: str
    rows: str  # regular expression over row ids (decode_step rows)
    free: tuple[str, ...]  # engine-level parameters
    per_hardware: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _key(hw: str, name: str) -> str:
    return f"{name}@{hw}"


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


def fit_engine(preset: EnginePreset) -> tuple[dict[str, float], list[StepSample], list[float]]:
    """Fit an engine profile's parameters to its decode rows; returns the values, the samples
    and each row's relative error."""
    engine = load_engine(preset.engine)
    samples = decode_samples(select(preset.rows, "decode_step"))
    names = list(preset.free) + [_key(h, p) for h, ps in preset.per_hardware.items() for p in ps]
    start_cal = {s.hardware.id: calibration_for(s.hardware, engine) for s in samples if s.hardware}
    start = {n: float(getattr(next(iter(start_cal.values())), n) or 0.0) for n in preset.free}
    for h, ps in preset.per_hardware.items():
        cal = start_cal.get(h) or calibration_for(load_hardware(h), engine)
        start |= {_key(h, p): float(getattr(cal, p) or cal.memory_efficiency) for p in ps}
    _bounds_for(names)
    fitted = fit_values(
        samples, None, lambda hw, v: engine_calibration(engine, hw, v), start, names
    )
    errors = [float(p[0] / s.measured_s[0] - 1) for s, p in zip(samples, fitted.predicted_s,
                                                                  strict=True)]  # fmt: skip
    return fitted.values, samples, errors


def _bounds_for(names: list[str]) -> None:
    """Per-hardware names ('p@hw') share their parameter's bounds."""
    for n in names:
        if "@" in n:
            BOUNDS.setdefault(n, BOUNDS[n.split("@")[0]])


def shipped_errors(engine_id: str, rows: str) -> list[tuple[Measurement, float]]:
    """Each decode row's relative error under the shipped engine profile."""
    engine = load_engine(engine_id)
    ms = select(rows, "decode_step")
    out = []
    for m, s in zip(ms, decode_samples(ms), strict=True):
        assert s.hardware is not None
        pred = predict(s.hardware, calibration_for(s.hardware, engine), s)
        out.append((m, float(pred[0] / s.measured_s[0] - 1)))
    return out


# Decode rows whose derivation the reference marks LOW-CONFIDENCE (the prefill estimate is over
# 30 % of the whole run) are left out of every fit.
PRESETS: dict[str, EnginePreset] = {
    "gpt-fast": EnginePreset(
        engine="gpt-fast",
        rows="gf0[1-7]",
        free=("layer_overhead_us", "allreduce_latency_us", "allreduce_latency_per_doubling_us"),
        per_hardware={"a100-80gb-sxm": ("memory_efficiency",)},
    ),
    "vllm": EnginePreset(
        engine="vllm",
        rows="vp0[1-3]|vp0[5-7]|vo01",
        free=("step_overhead_us", "layer_overhead_us", "allreduce_latency_us"),
    ),
}


def _show(title: str, values: dict[str, float], errors: Sequence[float]) -> None:
    s = error_stats(np.asarray(errors))
    print(f"{title}: " + ", ".join(f"{k}={v:.4g}" for k, v in values.items()))
    print(f"  median |err| {100 * s['median_abs_error']:.1f} %, max {100 * s['max_abs_error']:.1f}"
          f" % over {s['steps']} rows; prior weight {PRIOR_WEIGHT}")  # fmt: skip


def main(argv: Sequence[str]) -> None:
    """Print the fits named in `argv` (hardware ids, attention kernels, engine ids)."""
    for name in argv:
        if name in PRESETS:
            values, _, errors = fit_engine(PRESETS[name])
            _show(f"engine {name}", values, errors)
        elif any(m.engine == name for m in select(".*", "decode_attention")):
            _show(f"attention kernel {name}", *fit_attention(name))
        else:
            _show(f"hardware {name}", *fit_achieved(name))


if __name__ == "__main__":
    main(sys.argv[1:])
