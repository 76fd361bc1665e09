"""Fit a hardware profile's efficiencies and latencies to measured step times.

One core for both sources of truth (step tables from any engine via `magicplan fit`, and the torch
runner via `magicplan calibrate`): scipy least squares on log step time over AR, draft and verify
steps, with a weak prior that keeps parameters the data cannot see near their defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
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
# name, lower bound, upper bound, scale (typical size of a move, for the optimizer and the prior)
PARAMETERS = (
    ("memory_efficiency", 0.2, 1.0, 0.1),
    ("compute_efficiency", 0.05, 1.0, 0.2),
    ("step_overhead_us", 0.0, 20000.0, 200.0),
    ("layer_overhead_us", 0.0, 2000.0, 50.0),
    ("token_layer_overhead_ns", 0.0, 20000.0, 300.0),
    ("allreduce_latency_us", 0.0, 500.0, 20.0),
    ("link_efficiency", 0.02, 1.0, 0.2),
)
PRIOR_WEIGHT = 0.02  # residual weight of the prior, per parameter, in units of `scale`

# Where a fit starts, and what the weak prior pulls unconstrained parameters towards.
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


@dataclass(frozen=True)
class StepSample:
    """Measured steps of one kind sharing a model, draft, method and tensor-parallel degree."""

    kind: str  # autoregressive | draft | verify
    target: ModelSpec
    draft: ModelSpec | None
    kv_method: str
    num_gpus: int
    draft_num_gpus: int
    batch: npt.NDArray[np.float64]
    context: npt.NDArray[np.float64]
    gamma: npt.NDArray[np.float64]
    kv_budget: npt.NDArray[np.float64]
    measured_s: npt.NDArray[np.float64]
    row: npt.NDArray[np.intp]  # index of the source row, for per-row reports


@dataclass(frozen=True)
class FitResult:
    """The fitted calibration and how well it reproduces each measured step."""

    calibration: Calibration
    samples: list[StepSample]
    predicted_s: list[npt.NDArray[np.float64]]

    def errors(self) -> npt.NDArray[np.float64]:
        """Relative error (predicted / measured - 1) of every measured step."""
        return np.concatenate(
            [p / s.measured_s - 1 for s, p in zip(self.samples, self.predicted_s, strict=True)]
        )

    def summary(self) -> dict[str, Any]:
        """Median and p90 |error| overall and per step kind."""
        out: dict[str, Any] = _stats(self.errors())
        for kind in STEP_KINDS:
            errs = [
                p / s.measured_s - 1
                for s, p in zip(self.samples, self.predicted_s, strict=True)
                if s.kind == kind
            ]
            if errs:
                out[kind] = _stats(np.concatenate(errs))
        return out


def _stats(err: npt.NDArray[np.float64]) -> dict[str, Any]:
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
    rf = make_roofline(hw, cal, sample.target.dtype)
    b, s, g, k = sample.batch, sample.context, sample.gamma, sample.kv_budget
    if sample.kind == "autoregressive":
        st = autoregressive_time(sample.target, rf, sample.num_gpus, b, s)
    elif sample.kind == "verify":
        st = verify_time(sample.target, rf, sample.num_gpus, b, s, g)
    else:
        model = sample.draft or sample.target
        st = draft_time(model, rf, sample.draft_num_gpus, b, s, sample.kv_method, k, g)
    return np.asarray(st.total_s, dtype=np.float64)


def fit_calibration(
    hw: HardwareSpec,
    samples: list[StepSample],
    provenance: Provenance,
    base: Calibration | None = None,
    fixed: tuple[str, ...] = (),
) -> FitResult:
    """Least squares on log step time; parameters in `fixed` keep `base`'s values."""
    from scipy.optimize import least_squares

    if not samples or sum(s.measured_s.size for s in samples) == 0:
        raise MagicplanError("no measured steps to fit")
    for s in samples:
        if np.any(~np.isfinite(s.measured_s)) or np.any(s.measured_s <= 0):
            raise MagicplanError(f"measured {s.kind} step times must be positive numbers")
    base = base or hw.calibration or START
    free = [p for p in PARAMETERS if p[0] not in fixed]
    x0 = np.array([np.clip(getattr(base, p[0]), p[1], p[2]) for p in free])
    scale = np.array([p[3] for p in free])
    y = [np.log(s.measured_s) for s in samples]

    def cal_of(x: npt.NDArray[np.float64]) -> Calibration:
        return base.model_copy(update={p[0]: float(v) for p, v in zip(free, x, strict=True)})

    def residuals(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        cal = cal_of(x)
        r = [np.log(predict(hw, cal, s)) - ys for s, ys in zip(samples, y, strict=True)]
        return np.concatenate([*r, PRIOR_WEIGHT * (x - x0) / scale])

    sol = least_squares(
        residuals, x0, bounds=([p[1] for p in free], [p[2] for p in free]), x_scale=scale
    )
    cal = calibration_from(
        {p[0]: float(v) for p, v in zip(free, sol.x, strict=True)}, base, provenance
    )
    return FitResult(cal, samples, [predict(hw, cal, s) for s in samples])


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
