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
        ("8k:nan", "fraction of context 8000 must be a finite number > 0; got nan"),
        ("8k:1.5,4k:-0.5", "fraction of context 4000 must be a finite number > 0; got -0.5"),
        ("8k:1:0", "kv_budget"),
        ("8k:1:2:3", "--workload"),
    ],
)
def test_capacity_bad_workload_is_one_line(workload: str, needle: str) -> None:
    out = runner.invoke(app, [*CAP, "--workload", workload])
    text = out.output.strip()
    assert out.exit_code == 2 and text.startswith("error:") and needle in text and "\n" not in text


def test_capacity_workload_budget_takes_suffixes() -> None:
    short = runner.invoke(app, [*CAP, "--workload", "8k:1:1k", "--json"])
    plain = runner.invoke(app, [*CAP, "--workload", "8000:1:1000", "--json"])
    assert short.exit_code == 0, short.output
    assert json.loads(short.output) == json.loads(plain.output)
    assert json.loads(short.output)["workload"] == [[8000.0, 1.0, 1000.0]]


@pytest.mark.parametrize(
    ("degrees", "needles"),
    [
        ("3", ["3: num_gpus=3 cannot split llama-3.1-8b", "num_attention_heads=32"]),
        ("3,128", ["3: num_gpus=3", "128: more than max_gpus=64"]),
    ],
)
def test_capacity_tensor_parallel_says_why_no_degree_serves(
    degrees: str, needles: list[str]
) -> None:
    out = runner.invoke(app, [*CAP, "--workload", "8k:1", "--tensor-parallel", degrees])
    text = out.output.strip()
    assert out.exit_code == 2 and "\n" not in text and all(n in text for n in needles), text


def test_capacity_drafts_help_says_what_capacity_plans() -> None:
    text = " ".join(runner.invoke(app, ["capacity", "--help"]).output.split())
    line = text[text.index("--drafts") : text.index("--kv-methods")]
    assert "'self' (self-speculation) and/or draft models" in line
    assert "(eagle, eagle3, medusa, mtp, ngram) are not planned by capacity" in line
    assert "drafting kinds (" not in line  # the planning commands' wording: kinds accepted


def test_capacity_notes_the_drafting_families_it_leaves_out() -> None:
    out = runner.invoke(app, [*CAP, "--workload", "8k:1", "--json"])
    notes = json.loads(out.output)["notes"]
    assert len(notes) == 1 and "vllm runs (eagle, eagle3, medusa, mtp, ngram)" not in notes[0]
    assert "vllm runs (eagle, eagle3, medusa, ngram)" in notes[0]  # no MTP module in 8B
    assert "`magicplan plan` plans them" in notes[0]
    table = " ".join(runner.invoke(app, [*CAP, "--workload", "8k:1"]).output.split())
    assert f"note: {notes[0]}" in table
    none = runner.invoke(app, [*CAP, "--workload", "8k:1", "--engine", "gpt-fast", "--json"])
    assert json.loads(none.output)["notes"] == []  # gpt-fast runs no drafting family


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
