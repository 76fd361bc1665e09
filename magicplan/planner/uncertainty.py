"""How far a predicted speedup can be trusted: the cost model's own measured error, and the
acceptance interval, carried into a speedup interval. A gain whose interval reaches down to 1×
is not a recommendation ("no clear gain").

`model_error` is the one place that says where the error comes from (today: the calibration's
provenance; engine profiles will bring their own).
"""

from __future__ import annotations

from dataclasses import dataclass

from magicplan.cost.defaults import calibration_for
from magicplan.setup import Setup

# Hardware with no calibration of its own uses the transferable default (cost/defaults.py).
# Its error is the leave-one-GPU-out speedup error over MagicDec's 42 rows: each GPU predicted
# with the other's calibration moved across by the default's rule (README "Accuracy";
# recomputed by tests/planner/test_uncertainty.py).
TRANSFER_MEDIAN_ABS_ERROR = 0.0605
TRANSFER_P90_ABS_ERROR = 0.1042


@dataclass(frozen=True, kw_only=True)
class ModelError:
    """Relative |error| of the cost model's predictions: median and 90th percentile."""

    median: float
    p90: float
    source: str

    def as_dict(self) -> dict[str, object]:
        return {"median_abs_error": self.median, "p90_abs_error": self.p90, "source": self.source}


def model_error(setup: Setup) -> ModelError:
    """The measured spread of the predictions `setup` makes: its calibration's fit error
    (median and p90 |error| of the step times it was fitted to), or for an uncalibrated part the
    default's leave-one-GPU-out error."""
    cal = setup.calibration or calibration_for(setup.hardware)
    prov = cal.provenance
    if prov.median_abs_error is not None and prov.p90_abs_error is not None:
        rows = f"{prov.rows} rows, " if prov.rows else ""
        return ModelError(
            median=prov.median_abs_error,
            p90=prov.p90_abs_error,
            source=f"{setup.hardware.id} calibration ({prov.method}: {rows}p90 step-time error)",
        )
    return ModelError(
        median=TRANSFER_MEDIAN_ABS_ERROR,
        p90=TRANSFER_P90_ABS_ERROR,
        source=f"{setup.hardware.id} has no calibration of its own: the default's "
        "leave-one-GPU-out p90 speedup error",
    )


def speedup_interval(
    speedup_low: float, speedup_high: float, error: ModelError
) -> tuple[float, float]:
    """The speedup interval: the acceptance interval's ends (both `speedup` when α is exact),
    widened by the model's p90 relative error."""
    return speedup_low * (1.0 - error.p90), speedup_high * (1.0 + error.p90)
