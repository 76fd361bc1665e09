"""`estimate --scenarios` and `plan --scenarios`: one bad row does not stop the file; --strict
stops at it (exit 2, naming file and row) (issue 13.5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from magicplan.cli import app
from tests.test_scenarios import BAD_ROWS, GOOD, HEADER, TABLE7

pytestmark = pytest.mark.usefixtures("magicdec_default")  # MagicDec's strategies

runner = CliRunner()


def test_estimate_scenarios_tolerates_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(HEADER + TABLE7 + BAD_ROWS["other tokenizer"] + GOOD)
    r = runner.invoke(app, ["estimate", "--scenarios", str(path)])
    assert r.exit_code == 0, r.output
    table7, bad, good = json.loads(r.stdout)
    assert table7["draft_num_gpus"] == 4 and "draft_num_gpus=4" in table7["notes"][0]
    assert table7["speedup"] > 0 and "error" not in table7
    assert good["draft_num_gpus"] == 8 and "notes" not in good
    assert "tokenizer" in bad["error"] and "speedup" not in bad and bad["batch"] == 16
    strict = runner.invoke(app, ["estimate", "--scenarios", str(path), "--strict"])
    assert strict.exit_code == 2 and strict.stdout == ""
    assert f"{path}: row 3" in strict.stderr and "tokenizer" in strict.stderr


def test_a_file_without_a_good_row_fails(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(HEADER + BAD_ROWS["unknown draft"] + BAD_ROWS["not a number"])
    r = runner.invoke(app, ["estimate", "--scenarios", str(path)])
    assert r.exit_code == 2 and "no row could be estimated" in r.stderr and "row 2" in r.stderr


def test_plan_scenarios_tolerates_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(
        "gpu,num_gpus,target,batch,context,draft_model\n"
        "h100-sxm,8,llama-3.1-8b,16,32k,self\n"
        "h100-sxm,8,llama-3.1-8b,-4,32000,self\n"
        "h100-sxm,8,qwen2.5-32b,16,32000,qwen2.5-7b\n"
    )
    r = runner.invoke(app, ["plan", "--scenarios", str(path), "--acceptance", "0.8"])
    assert r.exit_code == 0, r.output
    first, bad, table7 = json.loads(r.stdout)
    assert first["context"] == 32000 and first["best"] is not None
    assert "'batch'" in bad["error"] and bad["context"] == 32000
    assert table7["best"]["draft_num_gpus"] in (1, 2, 4)  # the planner searches draft TP itself
    strict = runner.invoke(app, ["plan", "--scenarios", str(path), "--strict"])
    assert strict.exit_code == 2 and "row 3" in strict.stderr


def run_json(*args: str) -> list[dict[str, object]]:
    r = runner.invoke(app, list(args))
    assert r.exit_code == 0, r.output
    rows: list[dict[str, object]] = json.loads(r.stdout)
    return rows


def test_estimate_scenarios_take_the_options_for_blank_cells(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(
        "gpu,num_gpus,target,batch,context,draft_model,kv_method,kv_budget,gamma,alpha\n"
        "h100-sxm,1,llama-3.1-8b,16,8k,llama-3.2-1b,full,512,2,\n"
        "h100-sxm,1,llama-3.1-8b,16,8k,,,512,,0.8\n"
        "h100-sxm,1,llama-3.1-8b,16,8k,eagle3,full,,3,0.8\n"  # a family: no budget needed
    )
    opts = ["--acceptance", "0.7", "--gamma", "3", "--draft", "llama-3.2-1b", "--kv-method", "full"]
    rows = run_json("estimate", "--scenarios", str(path), "--engine", "vllm", *opts)
    assert [r.get("error") for r in rows] == [None, None, None]
    assert [(r["alpha"], r["gamma"], r["draft_model"]) for r in rows] == [
        (0.7, 2, "llama-3.2-1b"), (0.8, 3, "llama-3.2-1b"), (0.8, 3, "eagle3"),
    ]  # fmt: skip
    assert rows[2]["kv_budget"] == 0


def test_estimate_scenarios_strict_names_the_first_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    later = GOOD.replace(",512,", ",x,")  # a column read before batch
    path.write_text(
        HEADER + GOOD + BAD_ROWS["unknown draft"] + GOOD.replace(",16,", ",-4,") + later
    )
    r = runner.invoke(app, ["estimate", "--scenarios", str(path), "--strict"])
    assert r.exit_code == 2 and f"{path}: row 3: " in r.stderr and "llama-9b" in r.stderr
    path.write_text(HEADER + GOOD + GOOD.replace(",16,", ",-4,") + later)
    r = runner.invoke(app, ["estimate", "--scenarios", str(path), "--strict"])
    assert r.exit_code == 2 and f"{path}: row 3 column 'batch'" in r.stderr


def test_estimate_scenarios_read_excel_csv_and_ragged_rows(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    text = HEADER + GOOD + GOOD.rstrip("\n") + ",x,y\n" + GOOD
    path.write_bytes(text.encode("utf-8-sig"))  # Excel's "CSV UTF-8" starts with a BOM
    first, long, last = run_json("estimate", "--scenarios", str(path), "--columns", "speedup")
    assert first["speedup"] == last["speedup"] and long["error"] == (
        "12 cells but the header has 10 columns"
    )
    r = runner.invoke(app, ["estimate", "--scenarios", str(path), "--strict"])
    assert r.exit_code == 2 and "row 3: 12 cells" in r.stderr


def test_estimate_scenarios_follow_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(HEADER + GOOD)
    args = ["estimate", "--scenarios", str(path), "--columns", "t_autoregressive_ms"]
    (calibrated,) = run_json(*args)
    (ideal,) = run_json(*args, "--mode", "ideal")  # peaks, no overheads: faster
    assert float(ideal["t_autoregressive_ms"]) < float(calibrated["t_autoregressive_ms"])  # type: ignore[arg-type]


def test_a_row_that_fails_names_its_engine(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(HEADER + GOOD + BAD_ROWS["unknown draft"])
    good, bad = run_json("estimate", "--scenarios", str(path), "--columns", "speedup")
    assert good["engine"] == bad["engine"] == "magicdec" and "error" in bad
    path.write_text(
        PLAN_HEADER + "h100-sxm,1,llama-3.1-8b,16,8k,self,,\nh100-sxm,3,llama-3.1-8b,16,8k,,,\n"
    )
    good, bad = run_json("plan", "--scenarios", str(path), "--acceptance", "0.8")
    assert good["engine"] == bad["engine"] == "magicdec" and "error" in bad


PLAN_HEADER = "gpu,num_gpus,target,batch,context,draft_model,gamma,alpha\n"


def test_plan_scenarios_plan_the_gamma_column(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    rows = ("6,0.8", "0,0.8", "-1,0.8", ",0.8")
    path.write_text(
        PLAN_HEADER + "".join(f"h100-sxm,1,llama-3.1-8b,16,8k,llama-3.2-1b,{r}\n" for r in rows)
    )
    six, zero, negative, searched = run_json("plan", "--scenarios", str(path), "--top", "1")
    assert six["best"]["gamma"] == 6 != searched["best"]["gamma"]  # type: ignore[index]
    assert "'gamma' must be a whole number >= 1" in str(zero["error"]) and "error" in negative
    r = runner.invoke(app, ["plan", "--scenarios", str(path), "--strict"])
    assert r.exit_code == 2 and f"{path}: row 3 column 'gamma'" in r.stderr


def test_plan_scenarios_label_where_alpha_came_from(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(PLAN_HEADER + "h100-sxm,1,llama-3.1-8b,16,8k,llama-3.2-1b,2,0.8\n"
                    "h100-sxm,1,llama-3.1-8b,16,8k,llama-3.2-1b,2,\n")  # fmt: skip
    cell, option = run_json("plan", "--scenarios", str(path), "--acceptance", "0.7", "--top", "1")
    assert cell["best"]["acceptance_source"] == "scenarios column alpha"  # type: ignore[index]
    assert option["best"]["acceptance_source"] == "user --acceptance"  # type: ignore[index]


def test_plan_scenarios_strict_names_the_first_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(
        PLAN_HEADER
        + "h100-sxm,1,llama-3.1-8b,-4,32k,self,2,0.8\nh100-sxm,1,llama-3.1-8b,16,nan,self,2,0.8\n"
    )
    r = runner.invoke(app, ["plan", "--scenarios", str(path), "--strict"])
    assert r.exit_code == 2 and f"{path}: row 2 column 'batch'" in r.stderr
    r = runner.invoke(app, ["plan", "--scenarios", str(path)])
    assert r.exit_code == 2 and "'nan' is not a number" not in r.stderr  # row 2 first
    path.write_text(PLAN_HEADER + "h100-sxm,1,llama-3.1-8b,16,nan,self,2,0.8\n")
    r = runner.invoke(app, ["plan", "--scenarios", str(path)])
    assert r.exit_code == 2 and "column 'context': 'nan' is not a number" in r.stderr


def test_plan_scenarios_refuse_single_workload_options(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(PLAN_HEADER + "h100-sxm,1,llama-3.1-8b,16,8k,llama-3.2-1b,2,0.8\n")
    r = runner.invoke(app, ["plan", "--scenarios", str(path), "--export", "vllm"])
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.strip() == "error: --export plans one workload; not with --scenarios"


def test_a_workload_flag_with_scenarios_is_refused(tmp_path: Path) -> None:
    # --hardware, --model, --batch, --context with --scenarios were silently ignored: the file's
    # columns say them.
    p = tmp_path / "s.csv"
    p.write_text("gpu,num_gpus,target,batch,context,alpha\nh100-sxm,1,llama-3.1-8b,8,4000,0.7\n")
    for command, flag, value in (
        ("plan", "--hardware", "h100-sxm"),
        ("estimate", "--batch", "4"),
        ("plan", "--context", "8k"),
        ("estimate", "--model", "x"),
    ):
        r = runner.invoke(app, [command, "--scenarios", str(p), flag, value])
        assert r.exit_code == 2 and flag in r.output and "--scenarios" in r.output, r.output
