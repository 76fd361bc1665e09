"""`magicplan calibrate` and `magicplan validate` end to end: a shrunken run through the CLI for
the contracts, the real `--quick` run on this CPU, and the no-GPU error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")

from magicplan.calibration.torch_runner import grids, microbench, scaled  # noqa: E402
from magicplan.calibration.torch_runner.steps import Grid  # noqa: E402
from magicplan.calibration.torch_runner.timing import TimingPlan  # noqa: E402
from magicplan.cli import app  # noqa: E402
from magicplan.specs import load_hardware  # noqa: E402

runner = CliRunner()
STEP_KEYS = {"kind", "batch", "context", "gamma", "measured_ms", "predicted_ms", "error"}


@pytest.fixture
def shrunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """A runner an order of magnitude smaller in every dimension: seconds, not tens of them."""
    monkeypatch.setattr(scaled, "CPU_HIDDEN_SIZE", 64)
    monkeypatch.setattr(scaled, "CPU_VOCAB_SIZE", 128)
    monkeypatch.setattr(scaled, "CPU_WEIGHT_BUDGET_BYTES", 1e6)
    monkeypatch.setitem(
        grids.CPU_GRIDS, "quick", Grid((1, 2), (64, 128), (2,), 2, "streamingllm", 48)
    )
    monkeypatch.setitem(grids.CPU_GRIDS, "validate", Grid((3,), (96,), (3,), 3, "snapkv", 40))
    for mode in ("quick", "validate", "shapes", "floors"):
        monkeypatch.setitem(grids.PLANS, mode, TimingPlan(1, 3))
    monkeypatch.setitem(microbench.PEAK_GEMM_SIZES, "cpu", (128,))


def test_calibrate_then_validate_contracts(shrunk: None, tmp_path: Path) -> None:
    out = tmp_path / "cpu.yaml"
    r = runner.invoke(app, ["calibrate", "--device", "cpu", "--quick", "--output", str(out)])
    assert r.exit_code == 0, r.output
    hw = load_hardware(out)  # loads wherever --hardware is accepted
    cal = hw.calibration
    assert cal is not None and cal.provenance.method == "calibrate"
    assert cal.memory_efficiency <= 1 and cal.compute_efficiency <= 1
    assert hw.fp32_tflops is not None and hw.hbm_bandwidth_tb_s > 0
    assert all("measured by magicplan calibrate on" in s.citation for s in hw.sources)
    assert "runner_model" in (cal.provenance.notes or "")
    r = runner.invoke(app, ["validate", "--device", "cpu", "--hardware", str(out), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert {"steps", "median_abs_error", "p90_abs_error"} <= set(data)
    assert {s["kind"] for s in data["steps"]} == {"autoregressive", "draft", "verify"}
    assert all(set(s) == STEP_KEYS for s in data["steps"])
    for s in data["steps"]:
        assert s["error"] == pytest.approx(s["predicted_ms"] / s["measured_ms"] - 1)
    assert data["p90_abs_error"] >= data["median_abs_error"] >= 0


def test_calibrate_json_report(shrunk: None, tmp_path: Path) -> None:
    out = tmp_path / "cpu.yaml"
    r = runner.invoke(
        app, ["calibrate", "--device", "cpu", "--quick", "--output", str(out), "--json"]
    )
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["output"] == str(out) and report["threads"] == 1
    assert {"copy_gb_s", "peak_tflops", "launch_latency_us"} <= set(
        report["microbenchmarks"]["summary"]
    )
    assert report["calibration"]["overlap"] in ("max", "sum")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_gpu_exits_2_and_leaves_output_alone(tmp_path: Path) -> None:
    out = tmp_path / "profile.yaml"
    out.write_text("kept: true\n")
    r = runner.invoke(app, ["calibrate", "--device", "cuda", "--output", str(out)])
    assert r.exit_code == 2
    assert len(r.output.strip().splitlines()) == 1 and "--device cuda" in r.output
    assert out.read_text() == "kept: true\n"
    fresh = tmp_path / "absent.yaml"
    r = runner.invoke(app, ["calibrate", "--device", "cuda", "--output", str(fresh)])
    assert r.exit_code == 2 and not fresh.exists()
    r = runner.invoke(app, ["validate", "--device", "cuda", "--hardware", "h100-sxm"])
    assert r.exit_code == 2


@pytest.mark.slow
def test_quick_calibration_of_this_cpu(tmp_path: Path) -> None:
    # The real thing: `calibrate --quick` on the default model (well under a minute here). The
    # fit reproduces its own steps; efficiencies stay physical against the measured roofs.
    out = tmp_path / "cpu.yaml"
    r = runner.invoke(
        app, ["calibrate", "--device", "cpu", "--quick", "--output", str(out), "--json"]
    )
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["wall_s"] > 0  # its time is a benchmark figure (benchmarks/), not a test
    assert report["summary"]["median_abs_error"] < 0.2  # loose: CI machines are shared
    cal = load_hardware(out).calibration
    assert cal is not None and cal.memory_efficiency <= 1 and cal.compute_efficiency <= 1
