"""Fit calibration parameters (efficiencies, latencies) to measured step times.

One core for every source of truth (step tables of any engine via `magicplan fit`, AR-only
tables and engine benchmark JSON, the torch runner via `magicplan calibrate`, the engine presets
in engine_profiles/): scipy least squares on log step time over AR, draft and verify steps, with
a weak prior that keeps parameters the data cannot see near their starting values, and a report
of which parameters the data left unconstrained.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from magicplan.cost.roofline import make_roofline
from magicplan.cost.steps import autoregressive_time, draft_time, verify_time
from magicplan.errors import MagicplanError
from magicplan.specs.hardware import Calibration, HardwareSpec, Provenance
from magicplan.specs.model import ModelSpec
from magicplan.units import MS, US

STEP_KINDS = ("autoregressive", "draft", "verify")
# Every fittable parameter: lower bound, upper bound, scale (a typical move, for the optimizer,
# the prior and the constraint report).
BOUNDS: dict[str, tuple[float, float, float]] = {
    "memory_efficiency": (0.2, 1.0, 0.1),
    "compute_efficiency": (0.05, 1.0, 0.2),
    "ridge_overlap": (0.0, 1.0, 0.1),
    "attention_efficiency": (0.1, 1.0, 0.1),
    "attention_half_length_tokens": (0.0, 5000.0, 100.0),
    "attention_floor_us": (0.0, 500.0, 10.0),
    "int8_weight_efficiency": (0.1, 1.0, 0.1),
    "int4_weight_efficiency": (0.1, 1.0, 0.1),
    "step_overhead_us": (0.0, 20000.0, 200.0),
    "layer_overhead_us": (0.0, 2000.0, 50.0),
    "token_layer_overhead_ns": (0.0, 20000.0, 300.0),
    "sampling_us": (0.0, 20000.0, 100.0),
    "sampling_ns_per_logit": (0.0, 100.0, 1.0),
    "allreduce_latency_us": (0.0, 500.0, 20.0),
    "allreduce_latency_per_doubling_us": (0.0, 200.0, 5.0),
    "link_efficiency": (0.02, 1.0, 0.2),
    "round_overhead_us": (0.0, 20000.0, 200.0),
    "verify_token_layer_overhead_ns": (0.0, 20000.0, 300.0),
    "host_overlap": (0.0, 1.0, 0.2),
}
# What a full step table (AR, draft and verify steps) fits by default.
STEP_TABLE_PARAMETERS = (
    "memory_efficiency",
    "compute_efficiency",
    "step_overhead_us",
    "layer_overhead_us",
    "token_layer_overhead_ns",
    "allreduce_latency_us",
    "link_efficiency",
)
PRIOR_WEIGHT = 0.02  # residual weight of the prior, per parameter, in units of `scale`
# A direction of the parameters is unconstrained when one typical move along it changes the
# predicted step times by less than this (root mean square of log time over the rows).
UNCONSTRAINED_RMS = 0.01

# Where a fit starts when there is nothing better, and what the weak prior pulls towards.
START = Calibration(
    engine="unfitted",
    memory_efficiency=0.8,  # aiconfigurator systems/*.yaml mem_bw_empirical_scaling_factor
    compute_efficiency=0.75,  # measured achievable matmul ≈ 75-85 % of peak (ml-engineering MAMF)
    step_overhead_us=0.0,
    layer_overhead_us=50.0,
    token_layer_overhead_ns=0.0,
    allreduce_latency_us=10.0,  # aiconfigurator systems/*.yaml p2p latency, 10 µs
    link_efficiency=0.5,
    round_overhead_us=0.0,
    provenance=Provenance(method="default", source="magicplan.calibration.fit.START"),
)


@dataclass(frozen=True, kw_only=True)
class StepSample:
    """Measured steps of one kind sharing a model, draft, method, tensor-parallel degree and
    hardware (None: the hardware of the fit)."""

    kind: str  # autoregressive | draft | verify
    target: ModelSpec
    draft: ModelSpec | None = None
    kv_method: str = "full"
    num_gpus: int
    draft_num_gpus: int
    batch: npt.NDArray[np.float64]
    context: npt.NDArray[np.float64]
    gamma: npt.NDArray[np.float64]
    kv_budget: npt.NDArray[np.float64]
    measured_s: npt.NDArray[np.float64]
    row: npt.NDArray[np.intp]  # index of the source row, for per-row reports
    hardware: HardwareSpec | None = None

    def subset(self, keep: npt.NDArray[np.bool_]) -> StepSample:
        """The steps where `keep` is true."""
        arrays = ("batch", "context", "gamma", "kv_budget", "measured_s", "row")
        return replace(self, **{a: getattr(self, a)[keep] for a in arrays})


@dataclass(frozen=True)
class FitResult:
    """The fitted calibration and how well it reproduces each measured step."""

    calibration: Calibration
    samples: list[StepSample]
    predicted_s: list[npt.NDArray[np.float64]]
    unconstrained: list[str] = field(default_factory=list)

    def errors(self) -> npt.NDArray[np.float64]:
        """Relative error (predicted / measured - 1) of every measured step."""
        return np.concatenate(
            [p / s.measured_s - 1 for s, p in zip(self.samples, self.predicted_s, strict=True)]
        )

    def summary(self) -> dict[str, Any]:
        """Median and p90 |error| overall and per step kind."""
        out: dict[str, Any] = error_stats(self.errors())
        for kind in STEP_KINDS:
            errs = [
                p / s.measured_s - 1
                for s, p in zip(self.samples, self.predicted_s, strict=True)
                if s.kind == kind
            ]
            if errs:
                out[kind] = error_stats(np.concatenate(errs))
        return out


def error_stats(err: npt.NDArray[np.float64]) -> dict[str, Any]:
    """Number of steps, median, p90 and max |relative error|."""
    a = np.abs(err)
    return {
        "steps": int(a.size),
        "median_abs_error": float(np.median(a)),
        "p90_abs_error": float(np.percentile(a, 90)),
        "max_abs_error": float(a.max()),
    }


def calibration_from(
    values: dict[str, float], base: Calibration, provenance: Provenance
) -> Calibration:
    """`base` with the fitted `values` and a new provenance."""
    return base.model_copy(update={**values, "provenance": provenance})


def predict(hw: HardwareSpec, cal: Calibration, sample: StepSample) -> npt.NDArray[np.float64]:
    """Modelled seconds of every step in `sample` under calibration `cal`."""
    model = (sample.draft or sample.target) if sample.kind == "draft" else sample.target
    rf = make_roofline(hw, cal, model.compute_dtype, weight_format=model.quantized_weight_dtype)
    b, s, g, k = sample.batch, sample.context, sample.gamma, sample.kv_budget
    if sample.kind == "autoregressive":
        st = autoregressive_time(sample.target, rf, sample.num_gpus, b, s)
    elif sample.kind == "verify":
        st = verify_time(sample.target, rf, sample.num_gpus, b, s, g)
    else:
        st = draft_time(model, rf, sample.draft_num_gpus, b, s, sample.kv_method, k, g)
    return np.asarray(st.total_s, dtype=np.float64)


CalibrationOf = Callable[[HardwareSpec, dict[str, float]], Calibration]


@dataclass(frozen=True)
class Fitted:
    """Fitted values, the predictions they give and the directions the data left free."""

    values: dict[str, float]
    predicted_s: list[npt.NDArray[np.float64]]
    unconstrained: list[str]


def check_samples(samples: Sequence[StepSample]) -> None:
    """At least one measured step, every time positive and finite."""
    if not samples or sum(s.measured_s.size for s in samples) == 0:
        raise MagicplanError("no measured steps to fit")
    for s in samples:
        if np.any(~np.isfinite(s.measured_s)) or np.any(s.measured_s <= 0):
            raise MagicplanError(f"measured {s.kind} step times must be positive numbers")


def fit_values(
    samples: Sequence[StepSample],
    hw: HardwareSpec | None,
    calibration_of: CalibrationOf,
    start: dict[str, float],
    free: Sequence[str],
) -> Fitted:
    """Least squares on log step time over the parameters `free` (starting at, and weakly held
    to, `start`); `calibration_of(hw, values)` builds each sample's calibration."""
    from scipy.optimize import least_squares

    check_samples(samples)
    bounds = np.array([BOUNDS[p] for p in free]).reshape(-1, 3)
    x0 = np.clip([start[p] for p in free], bounds[:, 0], bounds[:, 1])
    scale = bounds[:, 2]
    y = [np.log(s.measured_s) for s in samples]

    def predictions(x: npt.NDArray[np.float64]) -> list[npt.NDArray[np.float64]]:
        values = dict(zip(free, map(float, x), strict=True))
        out = []
        for s in samples:
            on = s.hardware or hw
            assert on is not None, "a sample needs hardware"
            out.append(predict(on, calibration_of(on, values), s))
        return out

    def data_residuals(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.concatenate([np.log(p) - ys for p, ys in zip(predictions(x), y, strict=True)])

    def residuals(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.concatenate([data_residuals(x), PRIOR_WEIGHT * (x - x0) / scale])

    sol = least_squares(residuals, x0, bounds=(bounds[:, 0], bounds[:, 1]), x_scale=scale)
    free_dirs = unconstrained_parameters(data_residuals, sol.x, bounds, list(free))
    values = dict(zip(free, map(float, sol.x), strict=True))
    return Fitted(values, predictions(sol.x), free_dirs)


def unconstrained_parameters(
    residuals: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]],
    x: npt.NDArray[np.float64],
    bounds: npt.NDArray[np.float64],
    names: list[str],
) -> list[str]:
    """Parameters the data cannot pin down: those that load on a direction of the scaled
    Jacobian along which one typical move changes the fit's log times by less than
    UNCONSTRAINED_RMS (root mean square over the rows). A parameter alone on such a direction is
    invisible to the data; several together can only be told apart as a sum."""
    base = residuals(x)
    n = max(base.size, 1)
    jac = np.empty((base.size, x.size))
    for i, (_, hi, scale) in enumerate(bounds):
        step = scale * 1e-3 if x[i] + scale * 1e-3 <= hi else -scale * 1e-3  # stay in bounds
        moved = x.copy()
        moved[i] += step
        jac[:, i] = (residuals(moved) - base) / (step / scale)
    _, sv, vt = np.linalg.svd(jac, full_matrices=True)
    sv = np.concatenate([sv, np.zeros(x.size - sv.size)])
    out: list[str] = []
    for s, v in zip(sv, vt, strict=True):
        if s / np.sqrt(n) < UNCONSTRAINED_RMS:
            weights = np.abs(v) / np.abs(v).max()
            out += [names[i] for i in np.flatnonzero(weights > 0.3) if names[i] not in out]
    return out


def fit_calibration(
    hw: HardwareSpec,
    samples: list[StepSample],
    provenance: Provenance,
    base: Calibration | None = None,
    fixed: tuple[str, ...] = (),
    free: Sequence[str] = STEP_TABLE_PARAMETERS,
) -> FitResult:
    """Least squares on log step time of one hardware's calibration: the parameters in `free`
    but not in `fixed` move, the rest keep `base`'s values."""
    base = base or hw.calibration or START
    names = [p for p in free if p not in fixed]
    start = {p: _value(base, p) for p in names}

    def calibration_of(_: HardwareSpec, values: dict[str, float]) -> Calibration:
        return base.model_copy(update=values)

    fitted = fit_values(samples, hw, calibration_of, start, names)
    cal = calibration_from(fitted.values, base, provenance)
    return FitResult(cal, samples, fitted.predicted_s, fitted.unconstrained)


def _value(cal: Calibration, name: str) -> float:
    """A parameter's value in `cal`; an unset attention efficiency is the memory efficiency."""
    v = getattr(cal, name)
    return float(cal.memory_efficiency if v is None else v)


def round_overhead_us(
    t_spec_per_token_ms: npt.ArrayLike,
    accepted_per_step: npt.ArrayLike,
    gamma_t_draft_ms: npt.ArrayLike,
    t_verify_ms: npt.ArrayLike,
) -> float:
    """Per-round bookkeeping the step times miss: median of t_spec·Ω − (γ·T_D + T_V), in µs."""
    extra = (
        np.asarray(t_spec_per_token_ms) * np.asarray(accepted_per_step)
        - np.asarray(gamma_t_draft_ms)
        - np.asarray(t_verify_ms)
    )
    extra = extra[np.isfinite(extra)]
    return float(max(np.median(extra), 0.0) * MS / US) if extra.size else 0.0


def step_rows(
    samples: list[StepSample], predicted_s: list[npt.NDArray[np.float64]], with_row: bool = False
) -> list[dict[str, Any]]:
    """One row per measured step (kind, batch, context, γ, measured and predicted ms, error),
    in source-row order; `with_row` adds the source row index."""
    rows = []
    for s, pred in zip(samples, predicted_s, strict=True):
        for i in range(s.measured_s.size):
            row = {"row": int(s.row[i])} if with_row else {}
            rows.append(
                (
                    int(s.row[i]),
                    STEP_KINDS.index(s.kind),
                    row
                    | {
                        "kind": s.kind,
                        "batch": int(s.batch[i]),
                        "context": int(s.context[i]),
                        "gamma": int(s.gamma[i]),
                        "measured_ms": float(s.measured_s[i] / MS),
                        "predicted_ms": float(pred[i] / MS),
                        "error": float(pred[i] / s.measured_s[i] - 1),
                    },
                )
            )
    return [r for *_, r in sorted(rows, key=lambda r: (r[0], r[1]))]
