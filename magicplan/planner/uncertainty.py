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
from magicplan.specs.calibration import Provenance

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
    |error| of step times) of the calibration measured on this hardware (a profile's own, or the
    engine's with step-time rows there), else of the engine's own fit over its published rows,
    else the transfer error of the default rule."""
    cal = setup.resolved_calibration
    where = f"{cal.engine} on {setup.hardware.id}"
    for prov, what in _evidence(setup):
        if prov.median_abs_error is not None and prov.p90_abs_error is not None:
            rows = f"{prov.rows} rows, " if prov.rows else ""
            return ModelError(
                median=prov.median_abs_error,
                p90=prov.p90_abs_error,
                source=f"{where}: {what} ({prov.method}: {rows}p90 step-time error)",
            )
    return ModelError(
        median=TRANSFER_MEDIAN_ABS_ERROR,
        p90=TRANSFER_P90_ABS_ERROR,
        source=f"{where}: not measured; the default rule's leave-one-GPU-out p90 speedup error",
    )


STEP_ROWS = 6  # the fewest measured steps a calibration needs to speak for step times


def _evidence(setup: Setup) -> list[tuple[Provenance, str]]:
    """Where the error can come from, most specific first."""
    out: list[tuple[Provenance, str]] = []
    if setup.calibration is not None:
        out.append((setup.calibration.provenance, "the given calibration"))
    engine, hw = setup.engine, setup.hardware
    if engine is None and hw.calibration is not None:
        out.append((hw.calibration.provenance, "the profile's own calibration"))
    if engine is None and hw.calibration is None:
        from magicplan.specs import load_engine

        engine = load_engine()
    if engine is not None:
        measured = engine.calibration_on(hw.id)
        if measured is not None and (measured.provenance.rows or 0) >= STEP_ROWS:
            out.append((measured.provenance, "calibration measured here"))
        if engine.provenance is not None:
            out.append((engine.provenance, "the engine's fit to its published steps"))
    return out


def speedup_interval(
    speedup_low: float, speedup_high: float, error: ModelError
) -> tuple[float, float]:
    """The speedup interval: the acceptance interval's ends (both `speedup` when α is exact),
    widened by the model's p90 relative error."""
    return speedup_low * (1.0 - error.p90), speedup_high * (1.0 + error.p90)
