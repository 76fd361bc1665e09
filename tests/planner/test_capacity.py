"""Capacity planning says why a strategy has no answer, with the numbers (issue 13 item 8), and
what each costs (issue 15 item 9)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from magicplan.cost.mixture import mixed_forward_time
from magicplan.planner import capacity, plan
from magicplan.setup import Setup
from magicplan.specs import load_model

LONG = [(32000, 1.0)]


def test_slo_out_of_reach_gives_the_fastest_time(h100: Any) -> None:
    target = load_model("llama-3.1-70b")
    r = capacity(h100, target, 50000, 12.0, LONG, max_gpus=16)
    why = r["autoregressive_unavailable"]
    assert r["autoregressive"] is None and why["reason"] == "slo_unreachable"
    # fastest: one sequence on the widest TP degree
    rf = Setup(hardware=h100, num_gpus=8, target=target).roofline
    t1 = mixed_forward_time(target, rf, 8, 1, 1.0, np.array([32000.0]), np.array([1.0])) * 1e3
    assert why["fastest_t_per_token_ms"] == pytest.approx(t1) and t1 > 12.0
    assert why["tensor_parallel"] == 8 and f"{t1:.2f} ms" in r["note"]
    sd = r["speculative_unavailable"]  # speculation meets 12 ms, but not within 16 GPUs
    assert r["speculative"] is None and sd["reason"] == "exceeds_max_gpus"
    assert sd["gpus_needed"] > 16 and f"needs {sd['gpus_needed']} GPUs" in r["note"]
    assert r["gpus_saved_by_sd"] is None and r["recommended"] is None


def test_nothing_fits_gives_the_memory_numbers() -> None:
    # 70B on 24 GB cards at 128k: usable 0.9 x 24 GB = 21.6 GB per GPU at TP 8
    r = capacity("rtx-4090", "llama-3.1-70b", 2000, 50.0, [(128000, 1.0)])
    fit = plan("rtx-4090", 8, "llama-3.1-70b", 1, 128000, gammas=[2])["feasibility"]
    assert fit["fits"] is False
    for name in ("autoregressive", "speculative"):
        why = r[f"{name}_unavailable"]
        assert why["reason"] == "does_not_fit" and why["tensor_parallel"] == 8
        assert why["memory_usable_per_gpu_gb"] == pytest.approx(21.6)
        assert why["memory_needed_per_gpu_gb"] == pytest.approx(fit["memory_needed_per_gpu_gb"])
        need = f"{fit['memory_needed_per_gpu_gb']:.1f} GB per GPU at context 128,000"
        assert f"not even one sequence fits in memory (plain AR needs {need}" in why["text"]
        assert "21.6 GB usable at TP 8" in why["text"] and why["text"] in r["note"]


def test_more_than_max_gpus_still_counts_what_sd_saves(h100: Any) -> None:
    r = capacity(h100, load_model("llama-3.1-8b"), 50000, 25.0, LONG, gpu_hour_usd=3.0)
    why, sd = r["autoregressive_unavailable"], r["speculative"]
    assert r["autoregressive"] is None and why["reason"] == "exceeds_max_gpus"
    assert why["gpus_needed"] > 64 and why["max_gpus"] == 64
    assert r["gpus_saved_by_sd"] == why["gpus_needed"] - sd["gpus"]
    assert r["recommended"] == "speculative" and f"SD saves {r['gpus_saved_by_sd']}" in r["note"]
    # $ per hour and per million tokens of the provisioned fleet, by hand
    assert sd["cost_per_hour_usd"] == pytest.approx(3.0 * sd["gpus"])
    served = sd["replicas"] * sd["throughput_per_replica_tokens_per_s"]
    assert sd["usd_per_million_tokens"] == pytest.approx(
        sd["cost_per_hour_usd"] / served / 3600 * 1e6
    )
    assert sd["throughput_tokens_per_s_per_gpu"] == pytest.approx(
        sd["throughput_per_replica_tokens_per_s"] / sd["tensor_parallel"]
    )


def test_both_available_has_no_reason(h100: Any) -> None:
    r = capacity(h100, load_model("llama-3.1-8b"), 20000, 15.0, [(8000, 0.5), (32000, 0.5)])
    assert r["autoregressive_unavailable"] is None and r["speculative_unavailable"] is None
    assert r["gpus_saved_by_sd"] == r["autoregressive"]["gpus"] - r["speculative"]["gpus"]


def test_capacity_warns_like_plan(h100: Any) -> None:
    r = capacity(h100, load_model("gemma-2-27b"), 5000, 50.0, [(32000, 1.0)])
    assert any("max_position_embeddings" in w for w in r["warnings"])


def test_capacity_says_when_the_engine_runs_no_speculation_it_plans() -> None:
    # LMDeploy runs no draft model nor self-draft; Transformers speculates at batch 1 only: the
    # reason is the engine's (it read "slo_unreachable" under the SLO, or "does_not_fit").
    for engine, why in (
        ("lmdeploy", "lmdeploy cannot run self-speculation"),
        ("hf-transformers", "cannot run speculation at a batch above 1"),
    ):
        r = capacity("h100-sxm", "llama-3.1-8b", 5000, 30, "8k:0.5,32k:0.5", engine=engine)
        un = r["speculative_unavailable"]
        assert un["reason"] == "engine_cannot_run" and why in un["text"], un
