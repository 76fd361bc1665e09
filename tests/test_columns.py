"""Output columns: names in contract order, and columns filled block by block."""

from __future__ import annotations

import numpy as np
import pytest

from magicplan.columns import COLUMNS, SUMMARY_COLUMNS, Column, check_columns
from magicplan.errors import MagicplanError


def test_columns_come_back_in_output_order() -> None:
    assert check_columns(None) == COLUMNS
    assert check_columns(["fits_in_memory", "speedup"]) == ("speedup", "fits_in_memory")
    assert check_columns("speedup") == ("speedup",)  # one name, not its letters
    assert set(SUMMARY_COLUMNS) <= set(COLUMNS) and len(COLUMNS) == 37


def test_unknown_column_names_the_closest() -> None:
    with pytest.raises(MagicplanError, match=r"unknown column 'speedups'.*did you mean speedup"):
        check_columns(["speedups"])
    with pytest.raises(MagicplanError, match="figure names"):
        check_columns(7)  # type: ignore[arg-type]


def test_a_constant_column_stays_one_value() -> None:
    col = Column(6)
    col.write(0, np.broadcast_to(np.float64(2.5), (3,)))
    col.write(3, np.broadcast_to(np.float64(2.5), (3,)))
    out = col.array()
    assert out.strides == (0,) and out.tolist() == [2.5] * 6


def test_a_column_that_starts_varying_keeps_the_earlier_blocks() -> None:
    col = Column(6)
    col.write(0, np.broadcast_to(np.float64(2.5), (3,)))
    col.write(3, np.array([1.0, 2.0, 3.0]))
    assert col.array().tolist() == [2.5, 2.5, 2.5, 1.0, 2.0, 3.0]
