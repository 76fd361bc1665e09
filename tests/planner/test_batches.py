"""Every batch size is searched, not only the powers of two (issue 15 item 1): the SLO search,
the engine export's γ table and capacity planning find the exact largest batch, and a plan says
when its batch differs from the one asked."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from magicplan.cost.mixture import mixed_forward_time
from magicplan.planner import capacity, plan
from magicplan.planner.analysis import best_speculative
from magicplan.planner.export import export
from magicplan.setup import Setup
from magicplan.specs import load_hardware, load_model

SELF_SL = {"drafts": [None], "kv_methods": ["streamingllm"], "kv_budgets": [512]}


@pytest.mark.parametrize(
    ("num_gpus", "context", "batch", "slo_ms"),
    [(8, 32000, 150, 15.0), (1, 32000, 48, 30.0)],  # the SLO binds; memory binds
)
def test_slo_search_equals_a_search_over_every_batch(
    h100: Any, llama8b: Any, num_gpus: int, context: int, batch: int, slo_ms: float
) -> None:
    r = plan(h100, num_gpus, llama8b, batch, context, slo_ms=slo_ms, **SELF_SL)
    brute = 0.0
    for b in range(1, batch + 1):  # at one batch the most tokens/s is the least latency
        best = plan(h100, num_gpus, llama8b, b, context, **SELF_SL)["best"]
        if best is not None and best["t_spec_per_token_ms"] <= slo_ms:
            brute = max(brute, b / best["t_spec_per_token_ms"])
    assert r["best"]["throughput_tokens_per_s"] == pytest.approx(brute * 1e3, rel=1e-12)
    assert r["batch"] not in (1, 2, 4, 8, 16, 32, 64, 128)  # neither answer is a power of two


def test_slo_plan_says_the_batch_changed(h100: Any) -> None:
    # The case: 8×H100, Llama-3.1-70B, batch 128 asked, 16k context, SLO 25 ms. Powers of
    # two gave batch 64 at 3,850 tokens/s; every batch gives 89 (4,388 tokens/s), where memory
    # binds: batch 90 of the same strategy does not fit.
    r = plan(h100, 8, load_model("llama-3.1-70b"), 128, 16000, slo_ms=25.0)
    best = r["best"]
    assert (r["batch"], r["requested_batch"], r["batch_changed"]) == (89, 128, True)
    assert best["throughput_tokens_per_s"] > 4300 and best["t_spec_per_token_ms"] <= 25.0
    assert any("batch 89 instead of the 128 asked" in n for n in r["notes"])
    assert "Batch 89, not the 128 asked" in r["recommendation"]
    only = {"drafts": [load_model(best["draft_model"])], "kv_methods": [best["kv_method"]],
            "kv_budgets": [best["kv_budget"]], "gammas": [best["gamma"]],
            "draft_num_gpus": [best["draft_num_gpus"]]}  # fmt: skip
    nxt = best_speculative(plan(h100, 8, load_model("llama-3.1-70b"), 90, 16000, **only))
    assert nxt is None  # does not fit at 90
    same = plan(h100, 8, load_model("llama-3.1-70b"), 64, 16000)
    assert (same["requested_batch"], same["batch_changed"]) == (64, False)


def test_export_table_plans_every_batch() -> None:
    # The case: 8×H200, Llama-3.1-70B, 64k context. Powers of two set K = 0 for batches
    # 33–45 (45 does not fit a full-KV draft); each batch planned alone says where it does.
    # Separate draft models only (EAGLE-3, drafted as a chain on vLLM, would win at every batch).
    hw, target = load_hardware("h200-sxm"), load_model("llama-3.1-70b")
    drafts = [load_model("llama-3.2-1b"), load_model("llama-3.2-3b"), load_model("llama-3.1-8b")]
    e = export("vllm", plan(hw, 8, target, 32, 64000, drafts=drafts), hw, 8, target, drafts=drafts)
    table = e["num_speculative_tokens_per_batch_size"]
    k_at = {b: k for lo, hi, k in table for b in range(lo, hi + 1)}
    chosen = e["exported_strategy"]
    only = {"drafts": [load_model(chosen["draft_model"])], "kv_methods": ["full"],
            "draft_num_gpus": [chosen["draft_num_gpus"]]}  # fmt: skip
    assert max(k_at) == 45  # the largest batch plain AR fits (test_feasibility.py)
    for b in (1, 33, 40, 41, 42, 45):
        sd = best_speculative(plan(hw, 8, target, b, 64000, **only))
        assert k_at[b] == (sd["gamma"] if sd and sd["speedup"] > 1 else 0), b
    assert k_at[40] == 3 and k_at[42] == 0


def test_capacity_batch_is_the_largest_that_meets_the_slo(h100: Any, llama8b: Any) -> None:
    w = [(8000, 0.5), (32000, 0.5)]
    r = capacity(h100, llama8b, 20000, 15.0, w, tensor_parallel=[8])
    ar = r["autoregressive"]
    rf = Setup(hardware=h100, num_gpus=8, target=llama8b).roofline
    ctx, frac = np.array([8000.0, 32000.0]), np.array([0.5, 0.5])

    def t_ms(b: int) -> float:
        return mixed_forward_time(llama8b, rf, 8, b, 1.0, ctx, frac) * 1e3

    b = ar["batch"]
    assert t_ms(b) <= 15.0 < t_ms(b + 1)  # the exact largest batch, not a power of two
    assert ar["t_per_token_ms"] == pytest.approx(t_ms(b))


def test_an_slo_out_of_reach_says_the_fastest_time(h100: Any, llama8b: Any) -> None:
    r = plan(h100, 8, llama8b, 64, 32000, slo_ms=1.0)
    fastest = plan(h100, 8, llama8b, 1, 32000)["best"]["t_spec_per_token_ms"]
    assert r["best"] is None and fastest > 1.0
    assert any(f"the fastest per-token time is {fastest:.2f} ms" in n for n in r["notes"])


def test_a_largest_context_beyond_the_trained_positions_is_said() -> None:
    r = plan("h100-sxm", 1, "llama-3.1-8b", 1, 1_000_000)
    assert "(beyond llama-3.1-8b's 131,072 trained positions)" in r["recommendation"]


def test_an_slo_plan_says_when_the_asked_batch_does_not_fit() -> None:
    # Batch 200 at 32k on 8×H100 does not fit (the SLO does not bind): the plan says so, not
    # only that its batch gives the most tokens/s within the SLO.
    r = plan("h100-sxm", 8, "llama-3.1-8b", 200, 32000, slo_ms=100.0)
    assert r["batch_changed"] and r["batch"] < 200
    assert "200 does not fit in memory (plain AR fits up to 143)" in r["recommendation"]
