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
