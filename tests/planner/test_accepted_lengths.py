"""The τ table of the drafting families: shipped entries cite their sources, lookups prefer the
target's own MT-bench row at the nearest draft shape, and borrow (named) otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from magicplan.errors import MagicplanError
from magicplan.planner.accepted_lengths import lookup_tau, read_tau_table, shipped_tau
from magicplan.specs.drafts import FAMILY_KINDS


def test_every_family_has_a_sourced_entry() -> None:
    table = shipped_tau()
    assert {e.draft for e in table} == set(FAMILY_KINDS)
    for e in table:
        assert e.source and e.tau >= 1, e
        assert (e.tree_tokens is not None) or (e.gamma is not None), e


def test_own_row_at_the_nearest_tree_size() -> None:
    table = shipped_tau()
    # Vicuna-7B EAGLE: EAGLE-2's 60-token tree (τ 4.98) and EAGLE-1's 26 (τ 3.94)
    assert lookup_tau(table, "vicuna-7b", "eagle", 60).tau == 4.98  # type: ignore[union-attr]
    hit = lookup_tau(table, "vicuna-7b", "eagle", 30)
    assert hit is not None and hit.tau == 3.94 and hit.borrowed_from is None


def test_a_target_without_rows_borrows_the_nearest_and_says_so() -> None:
    hit = lookup_tau(shipped_tau(), "llama-3.1-8b", "medusa", 64)
    assert hit is not None and hit.borrowed_from == "vicuna-7b/medusa"
    assert "borrowed from vicuna-7b/medusa" in hit.source
    assert lookup_tau([], "llama-3.1-8b", "eagle", 60) is None


def test_user_tables_in_csv(tmp_path: Path) -> None:
    p = tmp_path / "tau.csv"
    p.write_text("target,draft,tau,tree_tokens,dataset\nllama-3.1-8b,eagle,5.5,60,mine\n")
    hit = lookup_tau(read_tau_table(p), "llama-3.1-8b", "eagle", 60)
    assert hit is not None and hit.tau == 5.5
    p.write_text("target,draft,tau\nllama-3.1-8b,eagle,0.5\n")
    with pytest.raises(MagicplanError, match="'tau' must be >= 1"):
        read_tau_table(p)
