"""The measured table: the planner's columns first, `full` rows with budget 0 (the planner's
reader takes them as a full-KV draft's own α), rows found again by key and temperature, bad
cells named."""

from __future__ import annotations

from pathlib import Path

import pytest

from magicplan.acceptance.measure import Cell
from magicplan.acceptance.rates import Summary
from magicplan.acceptance.table import Run, csv_text, find_row
from magicplan.errors import MagicplanError
from magicplan.planner.acceptance_data import read_table

RUN = Run(target="m", draft="self", dataset="kjv", source="test, with a comma", temperature=0.0,
          prompts=2, continuation=32, text="kjv.txt")  # fmt: skip
CELLS = [
    Cell("full", 0, 512, Summary(1.0, 0.99, 1.0, 62, (1.0, 1.0))),
    Cell("snapkv", 64, 512, Summary(0.8, 0.7, 0.87, 62, (0.75, 0.9))),
    Cell("snapkv", 64, 1024, Summary(0.7, 0.6, 0.78, 62, (0.7, 0.8))),
]


def test_written_table_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(csv_text(RUN, CELLS))
    full, entry = sorted(read_table(path), key=lambda e: e.method)
    assert (full.method, full.budget, full.contexts, full.alphas) == ("full", 0.0, (512.0,), (1.0,))
    assert (entry.method, entry.budget, entry.contexts, entry.alphas) == (
        "snapkv", 64.0, (512.0, 1024.0), (0.8, 0.7))  # fmt: skip
    assert entry.lows == (0.7, 0.6) and entry.source == str(path)
    row = find_row(path, {"target": "m", "draft": "self", "method": "snapkv", "budget": "64",
                          "context": "1024"}, 0.0)  # fmt: skip
    assert row.alpha == 0.7 and row.alpha_by_position == (0.7, 0.8)
    assert (row.prompts, row.continuation, row.text) == (2, 32, "kjv.txt")


def test_missing_row_and_bad_cells_are_named(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(csv_text(RUN, CELLS))
    key = {"target": "m", "draft": "self", "method": "snapkv", "budget": "64", "context": "512"}
    with pytest.raises(MagicplanError, match=r"no row for .* temperature 1"):
        find_row(path, key, 1.0)
    path.write_text(path.read_text().replace(",512,0.8000", ",5x2,0.8000"))
    with pytest.raises(MagicplanError, match=r"row 3: '5x2' is not a number"):
        find_row(path, key, 0.0)
