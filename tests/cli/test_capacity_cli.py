"""`magicplan capacity` (issue 15 item 9) and tokens/s per GPU and $ in `plan`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from magicplan.cli import app
from magicplan.planner import capacity, plan
from magicplan.specs import load_hardware, load_model

runner = CliRunner()
CAP = ["capacity", "--hardware", "h100-sxm", "--model", "llama-3.1-8b", "--tokens-per-s",
       "20000", "--slo-ms", "15"]  # fmt: skip


def test_capacity_command_is_the_python_capacity() -> None:
    out = runner.invoke(app, [*CAP, "--workload", "8k:0.5,32000:0.5", "--gpu-hour-usd", "2",
                              "--json"])  # fmt: skip
    assert out.exit_code == 0, out.output
    got = json.loads(out.output)
    want = capacity(load_hardware("h100-sxm"), load_model("llama-3.1-8b"), 20000, 15.0,
                    [(8000, 0.5), (32000, 0.5)], gpu_hour_usd=2.0)  # fmt: skip
    assert got == json.loads(json.dumps(want))
    table = runner.invoke(app, [*CAP, "--workload", "8k:0.5,32k:0.5"])
    text = " ".join(table.output.split())
    assert table.exit_code == 0 and f"speculation saves {want['gpus_saved_by_sd']} GPUs" in text


@pytest.mark.parametrize(
    ("workload", "needle"),
    [
        ("8k", "--workload"),
        ("8k:0.5,32k:0.4", "fractions"),
        ("x:1", "--workload"),
        ("", "--workload"),
    ],
)
def test_capacity_bad_workload_is_one_line(workload: str, needle: str) -> None:
    out = runner.invoke(app, [*CAP, "--workload", workload])
    text = out.output.strip()
    assert out.exit_code == 2 and text.startswith("error:") and needle in text and "\n" not in text


def test_plan_reports_tokens_per_gpu_and_cost() -> None:
    r = plan(load_hardware("h100-sxm"), 8, load_model("llama-3.1-8b"), 64, 32000, gpu_hour_usd=2.5)
    for e in (r["best"], r["autoregressive"]):
        tps = e["throughput_tokens_per_s"]
        assert e["throughput_tokens_per_s_per_gpu"] == pytest.approx(tps / 8)
        assert e["cost_per_hour_usd"] == pytest.approx(8 * 2.5)
        assert e["usd_per_million_tokens"] == pytest.approx(20.0 / (tps * 3600) * 1e6)
    args = ["plan", "--hardware", "h100-sxm", "--num-gpus", "8", "--model", "llama-3.1-8b",
            "--batch", "64", "--context", "32000"]  # fmt: skip
    data = json.loads(runner.invoke(app, [*args, "--gpu-hour-usd", "2.5", "--json"]).output)
    assert data["best"]["cost_per_hour_usd"] == 20.0
    assert (
        json.loads(runner.invoke(app, [*args, "--json"]).output)["best"]["cost_per_hour_usd"]
        is None
    )
    bad = runner.invoke(app, [*args, "--gpu-hour-usd", "-1"])
    assert bad.exit_code == 2 and "gpu_hour_usd" in bad.output
