"""`magicplan acceptance measure|check` end to end: the table round-trips through the planner's
reader, `check` reproduces the table's Ω exactly where it must (greedy, float32), and every bad
input named in the issue is one line and exit code 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("transformers")

from magicplan.cli import app
from magicplan.io import read_csv_rows
from magicplan.planner.acceptance_data import read_table
from tests.acceptance.conftest import SMOLLM, TEXT, config

runner = CliRunner()
CHECK_KEYS = {"measured_accepted_per_step", "predicted_accepted_per_step", "relative_error",
              "rounds"}  # fmt: skip


def _measure(model: Path, text: Path, out: Path, *extra: str) -> Any:
    args = ["acceptance", "measure", "--model", str(model), "--text", str(text), "--output",
            str(out), "--dtype", "float32", "--json", *extra]  # fmt: skip
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def _check(model: Path, table: Path, *extra: str) -> Any:
    args = ["acceptance", "check", "--model", str(model), "--table", str(table), "--dtype",
            "float32", "--json", *extra]  # fmt: skip
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def test_tiny_table_round_trips_and_check_is_exact(
    tiny_folder: Path, tiny_text: Path, tmp_path: Path
) -> None:
    out = tmp_path / "table.csv"
    report = _measure(tiny_folder, tiny_text, out, "--kv-methods", "streamingllm,snapkv,full",
                      "--kv-budgets", "40,64", "--contexts", "96,160", "--samples", "2",
                      "--continuation", "24", "--positions", "3")  # fmt: skip
    assert len(report["rows"]) == 2 * (1 + 2 * 2)  # full once per context, with budget 0
    entries = read_table(out)  # the planner's reader
    assert {(e.method, e.budget) for e in entries} == {("full", 0.0)} | {
        (m, b) for m in ("streamingllm", "snapkv") for b in (40.0, 64.0)}  # fmt: skip
    assert all(e.contexts == (96.0, 160.0) and e.lows is not None for e in entries)
    header = out.read_text().splitlines()[0].split(",")
    assert header[:10] == ["target", "draft", "method", "budget", "context", "alpha", "samples",
                           "alpha_low", "alpha_high", "source"]  # fmt: skip
    assert header[-3:] == ["alpha_1", "alpha_2", "alpha_3"]
    r = _check(tiny_folder, out, "--kv-method", "snapkv", "--kv-budget", "40", "--context", "96",
               "--gamma", "3")  # fmt: skip
    assert set(r) >= CHECK_KEYS and r["rounds"] > 0 and r["predicted_from"] == "alpha_1..alpha_3"
    # Greedy in float32, same passages: the loop accepts exactly where the masked pass agreed.
    assert r["relative_error"] == pytest.approx(0.0, abs=1e-5)  # rates written to 6 decimals


def test_separate_draft_with_the_same_weights_accepts_everything(
    tiny_folder: Path, tiny_text: Path, tmp_path: Path
) -> None:
    draft = tmp_path / "draft"
    shutil.copytree(tiny_folder, draft)  # its own prefill, its own cache: the same numbers
    report = _measure(tiny_folder, tiny_text, tmp_path / "d.csv", "--draft", str(draft),
                      "--kv-methods", "full,streamingllm", "--kv-budgets", "40", "--contexts",
                      "96", "--samples", "1", "--continuation", "12")  # fmt: skip
    assert report["draft"] == "draft"  # the folder name (its config.json has no _name_or_path)
    full = next(r for r in report["rows"] if r["method"] == "full")
    assert full["alpha"] == 1.0


@pytest.mark.parametrize(
    "change,args,message",
    [
        ("missing", [], "file not found"),
        ("bert", [], "not a causal language model"),
        ("no-tokenizer", [], "no tokenizer"),
        ("", ["--kv-budgets", "96"], "budget 96 >= context 96"),
        ("", ["--contexts", "500"], "exceed"),
    ],
)
def test_bad_inputs_are_one_line_exit_2(
    tiny_folder: Path, tiny_text: Path, tmp_path: Path, change: str, args: list[str], message: str
) -> None:
    model = tmp_path / "model"
    if change != "missing":
        shutil.copytree(tiny_folder, model)
    if change == "bert":
        cfg = config(model) | {"architectures": ["BertModel"]}
        (model / "config.json").write_text(json.dumps(cfg))
    if change == "no-tokenizer":
        for f in model.glob("tokenizer*"):
            f.unlink()
    base = ["acceptance", "measure", "--model", str(model), "--text", str(tiny_text), "--output",
            str(tmp_path / "t.csv"), "--kv-budgets", "40", "--contexts", "96", "--samples", "1",
            "--continuation", "16"]  # fmt: skip
    r = runner.invoke(app, base + args)
    assert r.exit_code == 2, r.output
    assert message in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "t.csv").exists()


def test_smollm2_measure_then_plan_names_the_table(smollm: Any, tmp_path: Path) -> None:
    # The real model in its default dtype (bfloat16); `check`'s exactness is the tiny model's test.
    out = tmp_path / "smollm.csv"
    args = ["acceptance", "measure", "--model", str(SMOLLM), "--text", str(TEXT), "--output",
            str(out), "--kv-methods", "streamingllm,snapkv", "--kv-budgets", "48,96",
            "--contexts", "128", "--samples", "1", "--continuation", "24", "--json"]  # fmt: skip
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert {row["target"] for row in read_csv_rows(out)} == {"smollm2-135m-instruct.q4_1"}
    plan = runner.invoke(app, ["plan", "--model", str(SMOLLM), "--acceptance-table", str(out),
                               "--hardware", "h100-sxm", "--batch", "64", "--context", "128",
                               "--kv-methods", "streamingllm,snapkv", "--engine", "magicdec",
                               "--json"])  # fmt: skip
    assert plan.exit_code == 0, plan.output
    sd = [c for c in json.loads(plan.output)["candidates"] if c["draft_model"] == "self"]
    assert sd and all(c["acceptance_source"].startswith(str(out)) for c in sd)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gamma", "8", "--continuation", "8"], "--gamma must be below --continuation (8)"),
        (["--gamma", "3", "--samples", "0"], "--samples must be >= 1; got 0"),
        (["--gamma", "3", "--continuation", "0"], "--continuation must be >= 1; got 0"),
        (["--gamma", "3", "--temperature", "inf"], "--temperature must be a finite number"),
    ],
)
def test_check_refuses_bad_counts_before_loading_the_model(
    tmp_path: Path, args: list[str], message: str
) -> None:
    # They used to divide by zero after the run (γ ≥ the continuation), or fall back to the
    # table's values (0 taken for "not given"), or sample at an infinite temperature.
    table = tmp_path / "t.csv"
    table.write_text("target,draft,method,budget,context,alpha\nm,self,streamingllm,64,256,0.5\n")
    r = runner.invoke(app, ["acceptance", "check", "--model", str(tmp_path / "absent"),
                            "--table", str(table), "--kv-method", "streamingllm", "--kv-budget",
                            "64", "--context", "256", *args])  # fmt: skip
    assert r.exit_code == 2 and message in r.output, r.output


def test_check_refuses_a_table_that_lists_a_key_twice(tmp_path: Path) -> None:
    table = tmp_path / "dup.csv"
    row = "m,self,streamingllm,64,256"
    table.write_text(f"target,draft,method,budget,context,alpha\n{row},0.5\n{row},0.9\n")
    r = runner.invoke(app, ["acceptance", "check", "--model", str(tmp_path / "absent"),
                            "--table", str(table), "--kv-method", "streamingllm", "--kv-budget",
                            "64", "--context", "256", "--gamma", "3"])  # fmt: skip
    assert r.exit_code == 2 and "lists a context twice" in r.output, r.output
