"""How far a predicted speedup can be trusted: the cost model's own measured error, and the
acceptance interval, carried into a speedup interval. A gain whose interval reaches down to 1×
is not a recommendation ("no clear gain").

`model_error` is the one place that says where the error comes from: the calibration measured
for this engine on this hardware, else the engine's own leave-one-GPU-out error, else the
transfer error of the default rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from magicplan.setup import Setup

# An engine on hardware it was not measured on: its latencies as they are, the part's own achieved
# rates (cost/defaults.py). The error of that rule is the leave-one-GPU-out speedup error over
# MagicDec's 42 rows: each GPU predicted by the magicdec engine calibrated on the other GPU only
# (README "Accuracy"; recomputed by tests/planner/test_uncertainty.py).
TRANSFER_MEDIAN_ABS_ERROR = 0.1662
TRANSFER_P90_ABS_ERROR = 0.2351


@dataclass(frozen=True, kw_only=True)
class ModelError:
    """Relative |error| of the cost model's predictions: median and 90th percentile."""

    median: float
    p90: float
    source: str

    def as_dict(self) -> dict[str, object]:
        return {"median_abs_error": self.median, "p90_abs_error": self.p90, "source": self.source}


def model_error(setup: Setup) -> ModelError:
    """The measured spread of the predictions `setup` makes: the fit error (median and p90
    |error| of the step times) of the calibration measured for its engine on its hardware; on
    other hardware the engine's leave-one-GPU-out error when its profile gives one, else the
    transfer error of the default rule."""
    cal = setup.resolved_calibration
    prov = cal.provenance
    where = f"{cal.engine} on {setup.hardware.id}"
    if _measured_here(setup) and prov.median_abs_error is not None and prov.p90_abs_error:
        rows = f"{prov.rows} rows, " if prov.rows else ""
        return ModelError(
            median=prov.median_abs_error,
            p90=prov.p90_abs_error,
            source=f"{where}: calibration ({prov.method}: {rows}p90 step-time error)",
        )
    engine = setup.engine
    spread = engine.provenance if engine is not None else None
    if spread is not None and spread.leave_one_out_median_abs_error and spread.p90_abs_error:
        return ModelError(
            median=spread.leave_one_out_median_abs_error,
            p90=max(spread.p90_abs_error, spread.leave_one_out_median_abs_error),
            source=f"{where}: not measured there; the engine's leave-one-GPU-out error",
        )
    return ModelError(
        median=TRANSFER_MEDIAN_ABS_ERROR,
        p90=TRANSFER_P90_ABS_ERROR,
        source=f"{where}: not measured there; the default rule's leave-one-GPU-out p90 "
        "speedup error",
    )


def _measured_here(setup: Setup) -> bool:
    """True when the calibration in use was measured on this hardware (for this engine)."""
    if setup.calibration is not None:
        return True
    engine, hw = setup.engine, setup.hardware
    if engine is None:
        return hw.calibration is not None or _default_measured(hw.id)
    return engine.calibration_on(hw.id) is not None or (
        hw.calibration is not None and hw.calibration.engine == engine.id
    )


def _default_measured(hardware_id: str) -> bool:
    from magicplan.specs import load_engine

    return load_engine().calibration_on(hardware_id) is not None


def speedup_interval(
    speedup_low: float, speedup_high: float, error: ModelError
) -> tuple[float, float]:
    """The speedup interval: the acceptance interval's ends (both `speedup` when α is exact),
    widened by the model's p90 relative error."""
    return speedup_low * (1.0 - error.p90), speedup_high * (1.0 + error.p90)
