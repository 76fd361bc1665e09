"""The acceptance model: published table, interpolation rules, user tables, intervals."""

from __future__ import annotations

from pathlib import Path

import pytest

from magicplan.errors import MagicplanError
from magicplan.planner.acceptance import load_table, lookup, wilson_interval


def test_exact_measurement() -> None:
    hit = lookup(load_table(), "llama-3.1-8b", "self", "streamingllm", 512, 32000)
    assert hit is not None and hit.alpha == pytest.approx(0.81)  # MagicDec project page
    assert "fallback" not in hit.source


def test_context_interpolation_and_clamping() -> None:
    t = load_table()
    mid = lookup(t, "llama-3.1-8b", "self", "streamingllm", 512, 24000)
    assert mid is not None and mid.alpha == pytest.approx(0.815)  # halfway 0.82 → 0.81
    far = lookup(t, "llama-3.1-8b", "self", "streamingllm", 512, 500_000)
    assert far is not None and far.alpha == pytest.approx(0.79) and "extrapolated" in far.source


def test_budget_rules() -> None:
    t = load_table()
    # Below the smallest measured budget there is no evidence; above it, held (conservative).
    assert lookup(t, "llama-3.1-8b", "self", "snapkv", 512, 32000) is None
    high = lookup(t, "llama-3.1-8b", "self", "snapkv", 8192, 32000)
    assert high is not None and high.alpha == pytest.approx(0.89) and "held" in high.source


def test_log_budget_interpolation_is_monotone(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text(
        "target,draft,method,budget,context,alpha\n"
        "m,self,streamingllm,256,1000,0.6\nm,self,streamingllm,1024,1000,0.8\n"
        "m,self,streamingllm,4096,1000,0.7\n"
    )
    t = load_table(p)
    # log-midpoint of 256 and 1024 is 512: (0.6 + 0.8) / 2 = 0.7
    assert lookup(t, "m", "self", "streamingllm", 512, 1000).alpha == pytest.approx(0.7)  # type: ignore[union-attr]
    # the 4096 entry (0.7) is lifted to 0.8: more budget never lowers acceptance
    assert lookup(t, "m", "self", "streamingllm", 4096, 1000).alpha == pytest.approx(0.8)  # type: ignore[union-attr]


def test_fallback_is_named() -> None:
    hit = lookup(load_table(), "qwen2.5-7b", "self", "streamingllm", 512, 8000)
    assert hit is not None and "fallback to" in hit.source


def test_self_full_kv_is_the_target() -> None:
    hit = lookup(load_table(), "qwen2.5-7b", "self", "full", 0, 8000)
    assert hit is not None and hit.alpha == 1.0


def test_wilson_interval_hand_value() -> None:
    # α = 0.8 on 100 tokens: centre (0.8 + 1.92/100)/(1.0384) = 0.78893, half-width 0.0770
    lo, hi = wilson_interval(0.8, 100)
    assert lo == pytest.approx(0.7112, abs=1e-3) and hi == pytest.approx(0.8667, abs=1e-3)


@pytest.mark.parametrize(
    "text",
    [
        "target,draft,method,budget,context,alpha\nm,self,streamingllm,512,1000,1.5\n",
        "target,draft,method,budget,context,alpha\nm,self,streamingllm,512,1000,abc\n",
        "target,draft,method,budget,context\nm,self,streamingllm,512,1000\n",
    ],
)
def test_bad_user_tables(tmp_path: Path, text: str) -> None:
    p = tmp_path / "t.csv"
    p.write_text(text)
    with pytest.raises(MagicplanError, match="alpha"):
        load_table(p)


def test_yaml_user_table(tmp_path: Path) -> None:
    p = tmp_path / "t.yaml"
    p.write_text(
        "- {target: m, draft: self, method: snapkv, budget: 1024, samples: 400,\n"
        "   alpha_by_context: {1000: 0.9}}\n"
    )
    hit = lookup(load_table(p), "m", "self", "snapkv", 1024, 1000)
    assert hit is not None and hit.low is not None and hit.low < 0.9 < (hit.high or 0)
    p.write_text("{not: a list}\n")
    with pytest.raises(MagicplanError, match="list"):
        load_table(p)
