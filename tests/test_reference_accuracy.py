"""The calibrated model against MagicDec's 42 measured rows (shipped as package data)."""

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
    return estimate_scenarios(cols), measured


def test_speedup_median_error_within_4_percent(predicted_vs_measured: tuple) -> None:
    pred, meas = predicted_vs_measured
    err = np.abs(pred["speedup"] / meas["speedup"] - 1)
    assert err.size == 42
    assert np.median(err) <= 0.04


def test_step_time_median_error_within_5_percent(predicted_vs_measured: tuple) -> None:
    pred, meas = predicted_vs_measured
    errs = {
        "autoregressive": pred["t_autoregressive_ms"] / meas["t_autoregressive_ms"] - 1,
        "draft": pred["t_draft_ms"] * meas["gamma"] / meas["gamma_t_draft_ms"] - 1,
        "verify": pred["t_verify_ms"] / meas["t_verify_ms"] - 1,
    }
    for kind, err in errs.items():
        assert np.median(np.abs(err)) <= 0.05, kind
    assert np.median(np.abs(np.concatenate(list(errs.values())))) <= 0.05


def test_transferred_default_on_the_other_gpu() -> None:
    """Leave-one-GPU-out: each GPU's rows predicted with the other GPU's calibration moved
    across by the default's rule (latencies scaled by memory bandwidth)."""
    from magicplan.cost.defaults import LATENCIES
    from magicplan.estimate import estimate_arrays
    from magicplan.setup import Setup
    from magicplan.specs import load_hardware, load_model

    cols = read_scenarios(REFERENCE)
    meas = read_columns(REFERENCE, ("speedup",))["speedup"]
    a100, h100 = load_hardware("a100-80gb-sxm"), load_hardware("h100-sxm")
    errors = []
    for src, dst in ((a100, h100), (h100, a100)):
        assert src.calibration is not None
        scale = src.memory_bandwidth_bytes_per_s / dst.memory_bandwidth_bytes_per_s
        cal = src.calibration.model_copy(
            update={k: getattr(src.calibration, k) * scale for k in LATENCIES}
        )
        for i in np.flatnonzero(cols["gpu"] == dst.id):
            draft = None if cols["draft_model"][i] == "self" else load_model(cols["draft_model"][i])
            setup = Setup(
                hardware=dst,
                num_gpus=8,
                target=load_model(cols["target"][i]),
                draft=draft,
                kv_method=str(cols["kv_method"][i]),
                calibration=cal,
            )
            r = estimate_arrays(
                setup,
                cols["batch"][i],
                cols["context"][i],
                cols["gamma"][i],
                cols["kv_budget"][i],
                accepted_per_step=cols["accepted_per_step"][i],
            )
            errors.append(float(r["speedup"]) / meas[i] - 1)
    assert len(errors) == 42
    assert np.median(np.abs(errors)) <= 0.08
