"""`magicplan plan` and friends through typer's runner: the JSON contract and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from magicplan.cli import app

runner = CliRunner()
BASE = ["--hardware", "h100-sxm", "--num-gpus", "8", "--model", "llama-3.1-8b"]


def run(*args: str) -> object:
    return runner.invoke(app, list(args))


def test_plan_json_contract() -> None:
    r = run("plan", *BASE, "--batch", "64", "--context", "32000", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    for key in (
        "draft_model",
        "kv_method",
        "kv_budget",
        "gamma",
        "draft_num_gpus",
        "speedup",
        "t_spec_per_token_ms",
        "throughput_tokens_per_s",
    ):
        assert key in data["best"], key
    assert data["candidates"] and data["autoregressive"]["draft_model"] == "none"


def test_plan_table_has_a_recommendation() -> None:
    r = run("plan", *BASE, "--batch", "64", "--context", "32000")
    assert r.exit_code == 0 and "Use self-speculation" in r.output


def test_plan_scenarios_in_row_order(tmp_path: Path) -> None:
    csv = tmp_path / "s.csv"
    csv.write_text(
        "gpu,num_gpus,target,batch,context,draft_model,kv_method,kv_budget,alpha\n"
        "h100-sxm,8,llama-3.1-8b,16,32000,self,snapkv,2048,\n"
        "h100-sxm,8,llama-3.1-8b,128,8000,,,,0.8\n"
    )
    r = run("plan", "--scenarios", str(csv), "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert [d["batch"] for d in data] == [16, 128]
    assert data[0]["best"]["kv_method"] in ("snapkv", "none")


def test_export_vllm() -> None:
    r = run("plan", *BASE, "--batch", "32", "--context", "32000", "--export", "vllm")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert "speculative_config" in data and "num_speculative_tokens_per_batch_size" in data


def test_critical_length_and_break_even_json() -> None:
    r = run(
        "critical-length",
        *BASE,
        "--batch",
        "64",
        "--json",
        "--drafts",
        "self",
        "--kv-methods",
        "streamingllm",
        "--kv-budgets",
        "512",
    )
    assert r.exit_code == 0 and isinstance(json.loads(r.output)["critical_context"], int)
    r = run("break-even", *BASE, "--batch", "64", "--context", "32000", "--json")
    assert r.exit_code == 0 and 0 < json.loads(r.output)["break_even_acceptance"] < 1


def test_sweep_csv(tmp_path: Path) -> None:
    out = tmp_path / "grid.csv"
    r = run("sweep", *BASE, "--batches", "16,64", "--contexts", "4096,32768", "--output", str(out))
    assert r.exit_code == 0, r.output
    lines = out.read_text().splitlines()
    assert lines[0].startswith("batch,context,draft_model") and len(lines) == 5


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--batch", "0", "--context", "1000"], "batch"),
        (["--batch", "8", "--context", "1000", "--acceptance", "1.5"], "acceptance"),
        (["--batch", "8", "--context", "1000", "--kv-methods", "lru"], "kv_method"),
        (["--batch", "8", "--context", "1000", "--drafts", "tinyllama-1.1b"], "vocab"),
        (["--batch", "8", "--context", "1000", "--gammas", "2,x"], "gammas"),
        (["--batch", "8", "--context", "1000", "--export", "tgi"], "export"),
    ],
)
def test_plan_bad_input_is_one_line(args: list[str], needle: str) -> None:
    r = run("plan", *BASE, *args)
    assert r.exit_code == 2
    text = r.output.strip()
    assert text.startswith("error:") and needle in text and "\n" not in text
    assert "Traceback" not in text


def test_plan_bad_tp_degree() -> None:
    r = run(
        "plan",
        "--hardware",
        "h100-sxm",
        "--num-gpus",
        "3",
        "--model",
        "llama-3.1-8b",
        "--batch",
        "8",
        "--context",
        "1000",
    )
    assert r.exit_code == 2 and "num_gpus" in r.output
