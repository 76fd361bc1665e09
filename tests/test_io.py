"""Reading CSV files: a byte-order mark is dropped; a row whose cell count is not the header's is
refused, or recorded as that row's problem when the caller collects them."""

from __future__ import annotations

from pathlib import Path

import pytest

from magicplan.errors import MagicplanError
from magicplan.io import read_csv_rows


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("gpu,batch\nh100-sxm,16\n".encode("utf-8-sig"))  # Excel's "CSV UTF-8"
    assert read_csv_rows(path, ("gpu",)) == [{"gpu": "h100-sxm", "batch": "16"}]


def test_a_ragged_row_is_recorded_when_the_caller_collects_them(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("a,b,c\n1,2,3\n1,2\n1,2,3,4\n1,2,3,,\n")  # short, long, trailing blanks
    ragged: dict[int, str] = {}
    rows = read_csv_rows(path, ragged=ragged)
    assert ragged == {
        1: "2 cells but the header has 3 columns",
        2: "4 cells but the header has 3 columns",
    }
    assert rows[1] == {"a": "1", "b": "2", "c": ""} and rows[2] == {"a": "1", "b": "2", "c": "3"}
    with pytest.raises(MagicplanError, match="row 4: 4 cells"):  # not collected: refused
        read_csv_rows(path)


def test_a_yaml_key_given_twice_is_refused(tmp_path: Path) -> None:
    # The last of two keys won silently (a profile's `memory_gib: 1` below the real one).
    from magicplan.io import load_yaml

    p = tmp_path / "h.yaml"
    p.write_text("id: x\nmemory_gib: 80\nname: y\nmemory_gib: 1\n")
    with pytest.raises(MagicplanError, match="at line 4: duplicate key 'memory_gib'"):
        load_yaml(p)
    p.write_text("a: &base {x: 1}\nb:\n  <<: *base\n  y: 2\n")  # a merge key is no duplicate
    assert load_yaml(p) == {"a": {"x": 1}, "b": {"x": 1, "y": 2}}
