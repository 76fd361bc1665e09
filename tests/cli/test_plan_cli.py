"""`magicplan plan` and friends through typer's runner: the JSON contract and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from magicplan.cli import app

pytestmark = pytest.mark.usefixtures("magicdec_default")  # MagicDec's strategies

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
        (["--batch", "8", "--context", "1000", "--acceptance", "0.9,-0.1"], "acceptance"),
        (["--batch", "8", "--context", "1000", "--top", "0"], "top"),
        (["--batch", "8", "--context", "1000", "--draft-num-gpus", "3"], "draft_num_gpus"),
        (["--batch", "8", "--context", "1000", "--acceptance-samples", "100"], "acceptance"),
        (["--batch", "8", "--context", "1000", "--acceptance-table", "missing.csv"], "missing"),
        (["--context", "1000"], "batch"),
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


def test_plan_with_user_table_and_interval(tmp_path: Path) -> None:
    table = tmp_path / "acc.csv"
    table.write_text(
        "target,draft,method,budget,context,alpha,samples\n"
        "llama-3.1-8b,self,snapkv,256,32000,0.7,500\n"
    )
    r = run("plan", *BASE, "--batch", "64", "--context", "32000", "--drafts", "self",
            "--kv-methods", "snapkv", "--kv-budgets", "256", "--acceptance-table", str(table),
            "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    best = json.loads(r.output)["best"]
    assert best["acceptance"] == 0.7 and str(table) in best["acceptance_source"]
    lo, hi = best["speedup_interval"]
    assert lo < best["speedup"] < hi
    r = run("plan", *BASE, "--batch", "64", "--context", "32000", "--acceptance", "0.8",
            "--acceptance-interval", "0.75,0.85")  # fmt: skip
    assert r.exit_code == 0 and "[" in r.output  # the speedup column shows the interval


def test_nothing_fits_exits_zero_and_says_so() -> None:
    r = run("plan", "--hardware", "h100-sxm", "--num-gpus", "1", "--model", "llama-3.1-70b",
            "--batch", "64", "--context", "100000")  # fmt: skip
    assert r.exit_code == 0 and "No strategy is feasible" in r.output
    assert "nothing fits in memory" in r.output


def test_sweep_json() -> None:
    r = run("sweep", *BASE, "--batches", "8", "--contexts", "8192", "--json")
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.output)
    assert (row["batch"], row["context"]) == (8, 8192) and row["speedup"] >= 1.0


def test_scenario_row_errors_name_the_row(tmp_path: Path) -> None:
    csv = tmp_path / "s.csv"
    csv.write_text(
        "gpu,num_gpus,target,batch,context,draft_model\n"
        "h100-sxm,8,llama-3.1-8b,16,32000,self\n"
        "h100-sxm,8,llama-3.1-8b,16,32000,tinyllama-1.1b\n"
    )
    r = run("plan", "--scenarios", str(csv), "--json")  # one bad row does not stop the file
    assert r.exit_code == 0, r.output
    good, bad = json.loads(r.stdout)
    assert good["best"] is not None and "vocab" in bad["error"] and bad["batch"] == 16
    r = run("plan", "--scenarios", str(csv), "--json", "--strict")
    assert r.exit_code == 2 and "row 3" in r.output and "vocab" in r.output


def test_critical_length_and_break_even_text_name_their_strategy() -> None:
    only = ["--drafts", "self", "--kv-methods", "streamingllm", "--kv-budgets", "512"]
    r = run("critical-length", *BASE, "--batch", "64", "--gamma", "3", *only)
    text = " ".join(r.output.split())
    assert r.exit_code == 0 and "critical (break-even) context at batch 64" in text
    assert "strategy: self-speculation, streamingllm KV budget 512, γ=3" in text
    assert "inflection context (speedup rises with batch, 32 → 64)" in text
    r = run("break-even", *BASE, "--batch", "64", "--context", "32000", *only)
    assert r.exit_code == 0 and "strategy: self-speculation" in " ".join(r.output.split())
