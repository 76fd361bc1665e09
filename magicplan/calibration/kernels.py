"""Kernel fits: what a GPU's GEMMs reach (the hardware `achieved` blocks) and what a
decode-attention kernel reaches (the engine profiles' attention parameters), each from published
kernel timings in magicplan/data/engine_measurements.csv (`linear_layer` and `decode_attention`
rows). `python -m magicplan.calibration.presets HARDWARE|KERNEL` prints them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from magicplan.calibration.fit import BOUNDS
from magicplan.calibration.measurements import (
    Measurement,
    attention_call_s,
    linear_layer_s,
    select,
)
from magicplan.cost.defaults import achieved_rates
from magicplan.cost.roofline import make_roofline
from magicplan.specs import load_hardware
from magicplan.specs.calibration import Calibration, Provenance

ACHIEVED = ("memory_efficiency", "compute_efficiency", "ridge_overlap")
ATTENTION = ("attention_efficiency", "attention_floor_us", "attention_half_length_tokens")
_ZERO_LATENCIES = {
    "step_overhead_us": 0.0,
    "layer_overhead_us": 0.0,
    "allreduce_latency_us": 0.0,
    "link_efficiency": 1.0,
}


def rates_calibration(values: dict[str, float]) -> Calibration:
    """A calibration with the given rates and no fixed latencies (one kernel call)."""
    return Calibration(
        engine="kernels", **(_ZERO_LATENCIES | values),
        provenance=Provenance(method="fit", source="magicplan.calibration.kernels"),
    )  # fmt: skip


def _least_squares(
    residuals: Any, names: Sequence[str], start: dict[str, float]
) -> dict[str, float]:
    from scipy.optimize import least_squares

    b = np.array([BOUNDS[n] for n in names])
    x0 = np.clip([start[n] for n in names], b[:, 0], b[:, 1])
    sol = least_squares(residuals, x0, bounds=(b[:, 0], b[:, 1]), x_scale=b[:, 2])
    return dict(zip(names, map(float, sol.x), strict=True))


def linear_rows(gpu: str | None = None) -> list[Measurement]:
    """The linear-layer rows (Vidur), of one GPU or all."""
    return [m for m in select(".*", "linear_layer") if gpu is None or m.gpu == gpu]


def achieved_errors(rows: list[Measurement], values: dict[str, float] | None = None) -> list[float]:
    """Relative errors of one decoder layer's GEMMs (Vidur rows) under achieved rates `values`
    (None: each row's GPU's shipped rates)."""
    out = []
    for m in rows:
        hw = load_hardware(m.gpu)
        rates = values if values is not None else achieved_rates(hw)[0]
        rf = make_roofline(hw, rates_calibration(rates), "float16")
        out.append(linear_layer_s(m, rf) / m.measured_s - 1)
    return out


def fit_achieved(gpu: str) -> tuple[dict[str, float], list[float]]:
    """A GPU's achieved rates from its linear-layer rows (the `achieved` block)."""
    rows = linear_rows(gpu)
    start = {"memory_efficiency": 0.75, "compute_efficiency": 0.75, "ridge_overlap": 0.6}

    def residuals(x: np.ndarray) -> np.ndarray:
        return np.log1p(achieved_errors(rows, dict(zip(ACHIEVED, x, strict=True))))

    values = _least_squares(residuals, ACHIEVED, start)
    return values, achieved_errors(rows, values)


def attention_rows(kernel: str | None = None) -> list[Measurement]:
    """The decode-attention rows of one kernel (`engine` column) or all."""
    return [m for m in select(".*", "decode_attention") if kernel is None or m.engine == kernel]


def attention_errors(rows: list[Measurement], values: dict[str, float]) -> list[float]:
    """Relative errors of decode-attention calls under kernel parameters `values`."""
    out = []
    for m in rows:
        hw = load_hardware(m.gpu)
        rates, _ = achieved_rates(hw)
        rf = make_roofline(hw, rates_calibration(rates | values))
        out.append(attention_call_s(m, rf, hw) / m.measured_s - 1)
    return out


def fit_attention(kernel: str) -> tuple[dict[str, float], list[float]]:
    """A decode-attention kernel's bandwidth fraction, per-call floor and per-sequence term
    from its rows (`engine` column of the decode_attention rows)."""
    rows = attention_rows(kernel)
    start = {"attention_efficiency": 0.7, "attention_floor_us": 10.0,
             "attention_half_length_tokens": 32.0}  # fmt: skip

    def residuals(x: np.ndarray) -> np.ndarray:
        return np.log1p(attention_errors(rows, dict(zip(ATTENTION, x, strict=True))))

    values = _least_squares(residuals, ATTENTION, start)
    return values, attention_errors(rows, values)
