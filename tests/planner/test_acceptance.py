"""The acceptance model: published table, interpolation rules, user tables, intervals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from magicplan.errors import MagicplanError
from magicplan.planner.acceptance import (
    borrowed_from,
    load_table,
    lookup,
    lookup_budgets,
    wilson_interval,
)

HEAD = "target,draft,method,budget,context,alpha"


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
        f"{HEAD}\nm,self,streamingllm,256,1000,0.6\nm,self,streamingllm,1024,1000,0.8\n"
        "m,self,streamingllm,4096,1000,0.7\n"
    )
    t = load_table(p)
    # log-midpoint of 256 and 1024 is 512: (0.6 + 0.8) / 2 = 0.7
    assert lookup(t, "m", "self", "streamingllm", 512, 1000).alpha == pytest.approx(0.7)  # type: ignore[union-attr]
    # the 4096 entry (0.7) is lifted to 0.8: more budget never lowers acceptance
    assert lookup(t, "m", "self", "streamingllm", 4096, 1000).alpha == pytest.approx(0.8)  # type: ignore[union-attr]


def test_vector_lookup_matches_scalar() -> None:
    t = load_table()
    budgets = [128.0, 512.0, 700.0, 2048.0, 8192.0]
    ev = lookup_budgets(t, "llama-3.1-8b", "self", "streamingllm", budgets, 20000)
    assert np.isnan(ev.alpha[0]) and ev.smallest_budget == 512
    for b, a in zip(budgets[1:], ev.alpha[1:], strict=True):
        assert lookup(t, "llama-3.1-8b", "self", "streamingllm", b, 20000).alpha == a  # type: ignore[union-attr]


def test_fallback_is_named() -> None:
    hit = lookup(load_table(), "qwen2.5-7b", "self", "streamingllm", 512, 8000)
    assert hit is not None and "fallback to" in hit.source


def test_fallback_to_another_method_of_the_same_draft() -> None:
    # No separate-draft SnapKV measurement anywhere: the same pair's StreamingLLM row is nearest.
    hit = lookup(load_table(), "llama-3.1-8b", "llama-3.2-1b", "snapkv", 512, 32000)
    assert hit is not None and hit.alpha == pytest.approx(0.673)
    assert "fallback to llama-3.1-8b/llama-3.2-1b/streamingllm" in hit.source


def test_self_full_kv_is_the_target() -> None:
    hit = lookup(load_table(), "qwen2.5-7b", "self", "full", 0, 8000)
    assert hit is not None and hit.alpha == 1.0


def test_wilson_interval_hand_value() -> None:
    # α = 0.8 on 100 tokens, z = 1.96: centre (0.8 + 0.019207)/1.038415 = 0.78891,
    # half-width 1.96·sqrt(0.0016 + 0.000096)/1.038415 = 0.07773 → [0.7112, 0.8666]
    lo, hi = wilson_interval(0.8, 100)
    assert lo == pytest.approx(0.7112, abs=2e-4) and hi == pytest.approx(0.8666, abs=2e-4)


@pytest.mark.parametrize(
    "text",
    [
        f"{HEAD}\nm,self,streamingllm,512,1000,1.5\n",
        f"{HEAD}\nm,self,streamingllm,512,1000,abc\n",
        "target,draft,method,budget,context\nm,self,streamingllm,512,1000\n",
        f"{HEAD},alpha_low,alpha_high\nm,self,streamingllm,512,1000,0.8,0.85,0.9\n",
    ],
)
def test_bad_user_tables(tmp_path: Path, text: str) -> None:
    p = tmp_path / "t.csv"
    p.write_text(text)
    with pytest.raises(MagicplanError, match="alpha"):
        load_table(p)


def test_csv_rows_of_one_key_merge_across_contexts(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text(
        f"{HEAD},alpha_low,alpha_high\n"
        "m,self,snapkv,1024,1000,0.9,0.88,0.92\nm,self,snapkv,1024,3000,0.7,0.66,0.74\n"
    )
    hit = lookup(load_table(p), "m", "self", "snapkv", 1024, 2000)
    # halfway in context: α (0.9 + 0.7)/2 = 0.8, interval (0.77, 0.83)
    assert hit is not None and hit.alpha == pytest.approx(0.8)
    assert (hit.low, hit.high) == (pytest.approx(0.77), pytest.approx(0.83))


def test_user_table_overrides_only_its_keys(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text(f"{HEAD}\nllama-3.1-8b,self,snapkv,256,32000,0.5\n")
    t = load_table(p)
    assert lookup(t, "llama-3.1-8b", "self", "snapkv", 256, 32000).alpha == 0.5  # type: ignore[union-attr]
    shipped = lookup(t, "llama-3.1-8b", "self", "streamingllm", 512, 32000)
    assert shipped is not None and shipped.alpha == pytest.approx(0.81)


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
    p.write_text("- {target: m, method: snapkv, budget: -3, alpha_by_context: {1000: 0.9}}\n")
    with pytest.raises(MagicplanError, match="budget"):
        load_table(p)


# --- full-KV rows and where α comes from (issue 15 item 6) ----------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"{HEAD}\nllama-3.1-8b,llama-3.2-1b,full,0,8000,0.7\nllama-3.1-8b,llama-3.2-1b,full,0,32000,0.6\n",
        "- {target: llama-3.1-8b, draft: llama-3.2-1b, method: full, budget: 0,\n"
        "   alpha_by_context: {8000: 0.7, 32000: 0.6}}\n",
    ],
)
def test_full_kv_rows_are_writable_and_used(tmp_path: Path, text: str) -> None:
    p = tmp_path / ("t.csv" if text.startswith("target") else "t.yaml")
    p.write_text(text)
    hit = lookup(load_table(p), "llama-3.1-8b", "llama-3.2-1b", "full", 0, 20000)
    assert hit is not None and hit.alpha == pytest.approx(0.65)  # halfway in context
    assert hit.source.startswith(str(p)) and borrowed_from(hit.source) is None


def test_a_compressed_cache_never_borrows_a_full_kv_alpha(tmp_path: Path) -> None:
    # A table with only full-KV rows for a pair: a SnapKV-128 draft of that pair must not be
    # given the full cache's α (it used to be, "held at largest": an optimistic α).
    p = tmp_path / "t.csv"
    p.write_text(f"{HEAD}\nmy-target,my-draft,full,0,8000,0.9\n")
    table = load_table(p)
    assert lookup(table, "my-target", "my-draft", "full", 0, 8000).alpha == pytest.approx(0.9)
    hit = lookup(table, "my-target", "my-draft", "snapkv", 128, 8000)
    assert hit is None or "/full" not in hit.source


def test_budget_zero_is_only_for_full_kv(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text(f"{HEAD}\nm,self,streamingllm,0,1000,0.8\n")
    with pytest.raises(MagicplanError, match="budget"):
        load_table(p)


def test_a_full_kv_draft_names_the_compressed_alpha_it_borrows() -> None:
    hit = lookup(load_table(), "llama-3.1-8b", "llama-3.2-1b", "full", 0, 32000)
    assert hit is not None
    assert borrowed_from(hit.source) == "llama-3.1-8b/llama-3.2-1b/streamingllm (a compressed-KV α)"
    exact = lookup(load_table(), "llama-3.1-8b", "llama-3.2-1b", "streamingllm", 512, 32000)
    assert exact is not None and borrowed_from(exact.source) is None


@pytest.mark.parametrize(
    ("hardware", "num_gpus", "target", "drafts", "methods", "borrowed"),
    [
        # Qwen drafts have no measurement: a Llama-2/TinyLlama α is used.
        ("h100-sxm", 4, "qwen2.5-32b", None, None, "llama-2-7b-32k/tinyllama-1.1b/streamingllm"),
        # A full-KV draft given its StreamingLLM-512 α.
        ("h100-sxm", 8, "llama-3.1-8b", ["llama-3.2-1b"], ["full"], "(a compressed-KV α)"),
    ],
)
def test_a_borrowed_alpha_is_in_the_headline(
    hardware: str, num_gpus: int, target: str, drafts: list[str] | None,
    methods: list[str] | None, borrowed: str,
) -> None:  # fmt: skip
    from magicplan.planner import plan
    from magicplan.specs import load_hardware, load_model

    kw = {} if drafts is None else {"drafts": [load_model(d) for d in drafts]}
    r = plan(load_hardware(hardware), num_gpus, load_model(target), 16, 32000,
             kv_methods=methods, **kw)  # fmt: skip
    best = r["best"]
    assert best["draft_model"] != "none" and borrowed in best["acceptance_borrowed_from"]
    assert "is borrowed" in r["recommendation"] and borrowed in r["recommendation"]


def test_one_scalar_alpha_for_every_budget_is_said() -> None:
    from magicplan.planner import plan
    from magicplan.specs import load_hardware, load_model

    hw, target = load_hardware("h100-sxm"), load_model("llama-3.1-8b")
    kw = {"drafts": [None], "kv_methods": ["streamingllm"]}
    r = plan(hw, 8, target, 64, 32000, acceptance=0.8, **kw)
    assert r["best"]["kv_budget"] == 128  # the smallest budget wins on cost alone
    assert "ranked by cost alone" in r["recommendation"]
    assert any("per-budget" in n for n in r["notes"])
    one = plan(hw, 8, target, 64, 32000, acceptance=0.8, kv_budgets=[512], **kw)
    assert "cost alone" not in one["recommendation"]
    table = plan(hw, 8, target, 64, 32000, **kw)  # per-budget α from the table: nothing to say
    assert "cost alone" not in table["recommendation"]
