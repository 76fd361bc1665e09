"""Issue 11's done-means, end to end on the command line: `magicplan fit` on an AR-only CSV of
six rows writes an engine profile that `plan --engine PATH` uses.

The six step times are the model's own on TensorRT-LLM's profile, so the fit (which starts from
vLLM's) is checkable: the fitted engine must give back TensorRT-LLM's times, not vLLM's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from magicplan.cli import app
from magicplan.estimate import estimate

runner = CliRunner()
GPU, MODEL = ["--hardware", "h100-sxm"], ["--model", "llama-3.1-8b"]
POINTS = [(1, 512), (1, 8192), (8, 2048), (16, 8192), (32, 8192), (64, 4096)]  # batch, context


def ar_ms(engine: str, batch: int, context: int) -> float:
    r = estimate("h100-sxm", 1, "llama-3.1-8b", batch, context, acceptance=0.8, engine=engine)
    return float(r["t_autoregressive_ms"])


def test_fit_six_ar_rows_then_plan_with_the_written_profile(tmp_path: Path) -> None:
    table = tmp_path / "my-engine-steps.csv"
    table.write_text(
        "batch,context,t_autoregressive_ms\n"
        + "".join(f"{b},{c},{ar_ms('trtllm', b, c):.4f}\n" for b, c in POINTS)
    )
    profile = tmp_path / "myengine.yaml"
    fit_args = ["--measurements", str(table), "--num-gpus", "1", "--id", "myengine"]
    fit = runner.invoke(app, ["fit", *fit_args, *GPU, *MODEL, "--output", str(profile)])
    assert fit.exit_code == 0, fit.output
    said = " ".join(fit.stdout.split())  # rich wraps at the terminal's width
    assert "│ all │ 6 │" in said and "│ leave-one-out │ 6 │" in said  # in-sample and LOO errors
    assert f"wrote {profile}: use it with --engine {profile}" in said
    workload = ["--batch", "16", "--context", "8192", "--acceptance", "0.8"]
    out = runner.invoke(app, ["plan", *GPU, *MODEL, *workload, "--engine", str(profile), "--json"])
    assert out.exit_code == 0, out.output
    planned = json.loads(out.stdout)
    assert planned["engine"] == "myengine"
    step = planned["autoregressive"]["t_autoregressive_ms"]
    # The fitted engine gives back the measured step (TensorRT-LLM's 13.1 ms), not vLLM's 16.5.
    assert step == pytest.approx(ar_ms("trtllm", 16, 8192), rel=0.03)
    assert abs(step / ar_ms("vllm", 16, 8192) - 1) > 0.15
