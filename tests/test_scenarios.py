"""Scenario files: one bad row does not stop the others; a draft that cannot split over the
target's GPUs runs on fewer, and says so (issue 13.5); counts may be written 32k (issue 15.9)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from magicplan.errors import MagicplanError
from magicplan.scenarios import estimate_scenarios, read_scenarios

HEADER = "gpu,num_gpus,target,draft_model,kv_method,kv_budget,context,batch,gamma,alpha\n"
TABLE7 = "h100-sxm,8,qwen2.5-32b,qwen2.5-7b,streamingllm,512,32000,16,3,0.8\n"  # MagicDec tab. 7
GOOD = "h100-sxm,8,llama-3.1-8b,self,streamingllm,512,8192,16,3,0.8\n"
BAD_ROWS = {
    "unknown draft": "h100-sxm,8,llama-3.1-8b,llama-9b,streamingllm,512,8192,16,3,0.8\n",
    "other tokenizer": "h100-sxm,8,llama-3.1-8b,qwen2.5-0.5b,streamingllm,512,8192,16,3,0.8\n",
    "not a number": "h100-sxm,8,llama-3.1-8b,self,streamingllm,512,8192,sixteen,3,0.8\n",
    "alpha out of range": "h100-sxm,8,llama-3.1-8b,self,streamingllm,512,8192,16,3,1.5\n",
    "budget 0 for streamingllm": "h100-sxm,8,llama-3.1-8b,self,streamingllm,0,8192,16,3,0.8\n",
    "cannot split the target": "h100-sxm,3,llama-3.1-8b,self,streamingllm,512,8192,16,3,0.8\n",
}


def write(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / f"s{len(list(tmp_path.iterdir()))}.csv"
    path.write_text(HEADER + "".join(rows))
    return path


def test_table7_draft_runs_on_the_largest_group_that_splits_it(tmp_path: Path) -> None:
    cols = read_scenarios(write(tmp_path, TABLE7, GOOD))
    res = estimate_scenarios(cols)  # strict: nothing to refuse
    assert res["draft_num_gpus"].tolist() == [4, 8]  # 28 heads and 4 KV heads: 4 of the 8 GPUs
    assert "draft_num_gpus=4" in res["note"][0] and res["note"][1] is None
    assert np.all(res["speedup"] > 0)


@pytest.mark.parametrize("kind", sorted(BAD_ROWS))
def test_a_bad_row_gets_its_reason_and_the_others_are_computed(tmp_path: Path, kind: str) -> None:
    path = write(tmp_path, GOOD, BAD_ROWS[kind], TABLE7)
    cols = read_scenarios(path, strict=False)
    res = estimate_scenarios(cols, strict=False, source=path)
    errors = res["error"].tolist()
    assert errors[0] is None and errors[2] is None
    assert isinstance(errors[1], str) and "\n" not in errors[1]
    whole = estimate_scenarios(read_scenarios(write(tmp_path, GOOD, TABLE7)))
    assert res["speedup"][[0, 2]].tolist() == whole["speedup"].tolist()  # unchanged by the bad row
    with pytest.raises(MagicplanError, match="row 3"):  # strict: fail fast, naming the row
        estimate_scenarios(read_scenarios(path), source=path)


def test_counts_may_be_written_with_suffixes(tmp_path: Path) -> None:
    plain = read_scenarios(write(tmp_path, GOOD.replace("512,8192", "1000,32000")))
    short = read_scenarios(write(tmp_path, GOOD.replace("512,8192", "1k,32k")))
    assert short["context"].tolist() == plain["context"].tolist() == [32000.0]
    assert short["kv_budget"].tolist() == [1000.0]
    with pytest.raises(MagicplanError, match="'gamma'"):  # γ is not a count of tokens
        read_scenarios(write(tmp_path, GOOD.replace(",3,0.8", ",3k,0.8")))


OPTIONS = {"draft_model": "llama-3.2-1b", "kv_method": "full", "gamma": 3, "alpha": 0.7}
BLANKS = (  # (issue: the command's options were ignored for blank cells)
    "h100-sxm,1,llama-3.1-8b,,,,8k,16,,\n"  # every strategy cell blank
    "h100-sxm,1,llama-3.1-8b,self,streamingllm,,8k,16,2,0.8\n"  # a budget needed, none given
    "h100-sxm,1,llama-3.1-8b,eagle3,,,8k,16,,0.8\n"  # a family: no budget, its own depth
)


def test_blank_cells_take_the_options(tmp_path: Path) -> None:
    cols = read_scenarios(write(tmp_path, BLANKS), strict=False, options=OPTIONS)
    assert cols["error"].tolist() == [None, None, None]
    assert cols["draft_model"].tolist() == ["llama-3.2-1b", "self", "eagle3"]
    assert cols["kv_method"].tolist() == ["full", "streamingllm", "full"]
    assert cols["gamma"].tolist() == [3, 2, 3]  # a cell wins over the option
    assert cols["alpha"].tolist() == [0.7, 0.8, 0.8]
    assert cols["kv_budget"].tolist() == [0, 512, 0]  # full keeps the whole cache: no budget
    res = estimate_scenarios(cols, ["speedup"], strict=False, engine="vllm")
    assert res["error"].tolist() == [None, None, None] and np.all(res["speedup"] > 0)


def test_blank_cells_without_options_take_the_defaults(tmp_path: Path) -> None:
    cols = read_scenarios(write(tmp_path, BLANKS), strict=False)
    assert cols["draft_model"].tolist() == ["self", "self", "eagle3"]
    assert cols["kv_method"].tolist() == ["streamingllm", "streamingllm", "full"]
    assert cols["gamma"].tolist() == [2, 2, 7]  # EAGLE-3 reference code: depth=7 (ea_model.py)
    assert cols["kv_budget"].tolist() == [512, 512, 0]
    assert cols["error"][0] == "column 'alpha' or 'accepted_per_step' is empty"  # no default


def test_a_missing_strategy_column_takes_the_option_else_fails(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("gpu,num_gpus,target,batch,context\nh100-sxm,1,llama-3.1-8b,16,8k\n")
    cols = read_scenarios(path, options=OPTIONS | {"kv_budget": 256})
    assert cols["gamma"].tolist() == [3] and cols["kv_budget"].tolist() == [256]
    with pytest.raises(MagicplanError, match="missing column 'kv_budget'"):
        read_scenarios(path, options=OPTIONS)
    with pytest.raises(MagicplanError, match="--gamma must be a whole number >= 1; got 0"):
        read_scenarios(path, options=OPTIONS | {"gamma": 0})


def test_strict_stops_at_the_first_bad_row_in_file_order(tmp_path: Path) -> None:
    late_column = GOOD.replace(",512,", ",x,")  # kv_budget is read before batch
    path = write(tmp_path, GOOD, GOOD.replace(",16,", ",-4,"), late_column)
    with pytest.raises(MagicplanError, match="row 3 column 'batch'"):
        read_scenarios(path)
    # row 4 shares row 2's group, which is estimated before row 3's
    path = write(tmp_path, GOOD, BAD_ROWS["unknown draft"], BAD_ROWS["budget 0 for streamingllm"])
    with pytest.raises(MagicplanError, match=r"row 3: .*llama-9b"):
        estimate_scenarios(read_scenarios(path), source=path)


def test_a_row_with_the_wrong_number_of_cells_is_a_bad_row(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, GOOD.rstrip("\n") + ",x\n", "h100-sxm,8,llama-3.1-8b\n", GOOD)
    cols = read_scenarios(path, strict=False)
    assert cols["error"].tolist() == [
        None, "11 cells but the header has 10 columns", "3 cells but the header has 10 columns",
        None,
    ]  # fmt: skip
    res = estimate_scenarios(cols, ["speedup"], strict=False)
    assert res["speedup"][0] == res["speedup"][3] > 0
    with pytest.raises(MagicplanError, match="row 3: 11 cells"):
        read_scenarios(path)


def test_a_cell_written_nan_is_not_a_number(tmp_path: Path) -> None:
    cols = read_scenarios(write(tmp_path, GOOD.replace("8192", "nan")), strict=False)
    assert cols["error"].tolist() == ["column 'context': 'nan' is not a number"]


def test_a_row_that_fails_names_its_engine(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, BAD_ROWS["unknown draft"], BAD_ROWS["cannot split the target"])
    res = estimate_scenarios(read_scenarios(path), ["speedup"], strict=False, engine="sglang")
    assert res["engine"].tolist() == ["sglang", "sglang", "sglang"]
    assert res["error"][0] is None and res["error"][1] and res["error"][2]
