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
