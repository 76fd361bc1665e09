"""Counts as people write them (issue 15.9): one parser for the CLI, scenario CSVs and plots."""

from __future__ import annotations

import pytest

from magicplan.counts import parse_count, parse_counts
from magicplan.errors import MagicplanError


@pytest.mark.parametrize(
    ("text", "value"),
    [("4096", 4096), ("4k", 4000), ("32K", 32000), ("1.5k", 1500), ("1m", 1_000_000),
     (" 64 ", 64), ("1e3", 1000), (8, 8), ("0", 0)],
)  # fmt: skip
def test_counts_with_and_without_suffixes(text: str | int, value: int) -> None:
    assert parse_count("context", text) == value


@pytest.mark.parametrize("text", ["", "x", "4kk", "1.5", "1.2345k", "inf", "nan", "k", "4g"])
def test_what_is_not_a_whole_number_names_the_field(text: str) -> None:
    with pytest.raises(MagicplanError, match="--context must be a whole number"):
        parse_count("--context", text)


def test_lists_keep_their_order() -> None:
    assert parse_counts("contexts", "32k, 4k,4096") == [32000, 4000, 4096]
    with pytest.raises(MagicplanError, match="at least one"):
        parse_counts("contexts", " , ")
