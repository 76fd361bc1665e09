"""Fit quality: the shipped profiles against MagicDec's 42 measured rows they were fitted to
(in-sample: this checks the fit, not the prediction), under the magicdec engine. The
out-of-sample check, each GPU with the other's calibration, is tests/planner/test_uncertainty.py
(the default rule's transfer error)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import magicplan
from magicplan.scenarios import estimate_scenarios, read_columns, read_scenarios

REFERENCE = Path(magicplan.__file__).parent / "data" / "magicdec_measured_steps.csv"


@pytest.fixture(scope="module")
def predicted_vs_measured() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    cols = read_scenarios(REFERENCE)
    measured = read_columns(
        REFERENCE, ("speedup", "t_autoregressive_ms", "gamma_t_draft_ms", "t_verify_ms", "gamma")
    )
    return estimate_scenarios(cols, engine="magicdec"), measured


def test_fit_speedup_median_error_within_4_percent(predicted_vs_measured: tuple) -> None:
    pred, meas = predicted_vs_measured
    err = np.abs(pred["speedup"] / meas["speedup"] - 1)
    assert err.size == 42
    assert np.median(err) <= 0.04


def test_fit_step_time_median_error_within_5_percent(predicted_vs_measured: tuple) -> None:
    pred, meas = predicted_vs_measured
    errs = {
        "autoregressive": pred["t_autoregressive_ms"] / meas["t_autoregressive_ms"] - 1,
        "draft": pred["t_draft_ms"] * meas["gamma"] / meas["gamma_t_draft_ms"] - 1,
        "verify": pred["t_verify_ms"] / meas["t_verify_ms"] - 1,
    }
    for kind, err in errs.items():
        assert np.median(np.abs(err)) <= 0.05, kind
    assert np.median(np.abs(np.concatenate(list(errs.values())))) <= 0.05
