"""The Python API takes what the CLI takes: counts written '8k', comma lists, one value or a
numpy array where a list is taken, capacity's context mix as text, pairs or a mapping, and
specs where ids are taken; a bad value is one MagicplanError, never a traceback."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import magicplan
from magicplan import (
    MagicplanError,
    break_even,
    capacity,
    critical_length,
    estimate,
    load_hardware,
    load_model,
    plan,
    sweep,
)
from magicplan.specs.registry import load_engine

H, M = "h100-sxm", "llama-3.1-8b"
FAST = {"gammas": [3], "kv_methods": ["full"]}  # one strategy per draft: quick plans


def same_plan(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a["context"] == b["context"] and a["best"] == b["best"]
    assert a["candidates"] == b["candidates"]


@pytest.mark.parametrize(
    ("given", "plain"),
    [
        ({"context": "8k"}, {"context": 8000}),
        ({"context": "8k", "kv_budgets": ["1k"]}, {"context": 8000, "kv_budgets": [1000]}),
        ({"context": 8000, "kv_budgets": "1k,2k"}, {"context": 8000, "kv_budgets": [1000, 2000]}),
        ({"context": 8000, "batch": "1k"}, {"context": 8000, "batch": 1000}),
    ],
)
def test_plan_reads_counts_written_with_suffixes(
    given: dict[str, Any], plain: dict[str, Any]
) -> None:
    def run(kw: dict[str, Any]) -> dict[str, Any]:
        return plan(H, 1, M, **({"batch": 8, **FAST, "kv_methods": ["full", "snapkv"]} | kw))

    same_plan(run(given), run(plain))


def test_estimate_reads_counts_written_with_suffixes() -> None:
    a = estimate(H, 1, M, 8, "8k", acceptance=0.7, kv_budget="1k")
    b = estimate(H, 1, M, 8, 8000, acceptance=0.7, kv_budget=1000)
    assert a == b and a["context"] == 8000 and a["kv_budget"] == 1000
    axis = estimate(H, 1, M, 8, "4k,8k", acceptance=0.7)
    assert axis["context"] == [4000, 8000]
    assert axis["speedup"] == estimate(H, 1, M, 8, [4000, 8000], acceptance=0.7)["speedup"]
    texts = estimate(H, 1, M, 8, np.array(["4k", "8k"]), acceptance=0.7)
    assert texts["speedup"] == axis["speedup"]


def test_critical_length_and_sweep_read_counts() -> None:
    a = critical_length(H, 1, M, 16, max_context="32k", **FAST)
    assert a == critical_length(H, 1, M, 16, max_context=32000, **FAST)
    assert sweep(H, 1, M, [1], ["4k"], **FAST) == sweep(H, 1, M, [1], [4000], **FAST)
    assert sweep(H, 1, M, 1, 4000, **FAST) == sweep(H, 1, M, [1], [4000], **FAST)
    assert sweep(H, 1, M, "1,2", "4k", **FAST) == sweep(H, 1, M, [1, 2], [4000], **FAST)
    assert sweep(H, 1, M, np.array([1, 2]), 4000, **FAST) == sweep(H, 1, M, [1, 2], [4000], **FAST)


def test_break_even_reads_counts_and_comma_lists() -> None:
    a = break_even(H, 1, M, "16", "8k", drafts="llama-3.2-1b", gammas="3", kv_methods="full")
    b = break_even(H, 1, M, 16, 8000, drafts=["llama-3.2-1b"], gammas=[3], kv_methods=["full"])
    assert a == b and a["context"] == 8000 and a["batch"] == 16


@pytest.mark.parametrize(
    ("given", "plain"),
    [
        ({"gammas": np.array([2, 3])}, {"gammas": [2, 3]}),
        ({"gammas": 3}, {"gammas": [3]}),
        ({"gammas": "2,3"}, {"gammas": [2, 3]}),
        ({"kv_budgets": 512}, {"kv_budgets": [512]}),
        ({"kv_budgets": np.int64(512)}, {"kv_budgets": [512]}),
        ({"draft_num_gpus": 1}, {"draft_num_gpus": [1]}),
        ({"kv_methods": "full"}, {"kv_methods": ["full"]}),
        ({"kv_methods": "full,snapkv"}, {"kv_methods": ["full", "snapkv"]}),
        ({"drafts": "llama-3.2-1b,self"}, {"drafts": ["llama-3.2-1b", None]}),
        ({"drafts": load_model("llama-3.2-1b")}, {"drafts": ["llama-3.2-1b"]}),
        ({"acceptance": "0.7"}, {"acceptance": 0.7}),
        ({"acceptance": np.array([0.8, 0.6])}, {"acceptance": [0.8, 0.6]}),
    ],
)
def test_list_options_take_one_value_an_array_or_a_comma_string(
    given: dict[str, Any], plain: dict[str, Any]
) -> None:
    base = {"gammas": [3], "kv_budgets": [512], "kv_methods": ["full", "snapkv"]}
    same_plan(plan(H, 2, M, 8, 8000, **(base | given)), plan(H, 2, M, 8, 8000, **(base | plain)))


@pytest.mark.parametrize(
    "workload",
    [
        [("8k", 0.5), ("32k", 0.5)],
        "8k:0.5,32k:0.5",
        {8000: 0.5, 32000: 0.5},
        {"8k": 0.5, "32k": 0.5},
        ["8k:0.5", "32k:0.5"],
        np.array([[8000, 0.5], [32000, 0.5]]),
    ],
)
def test_capacity_takes_the_workload_as_the_cli_writes_it(workload: Any) -> None:
    want = capacity(H, M, 20000, 15.0, [(8000, 0.5), (32000, 0.5)])
    assert capacity(H, M, 20000, 15.0, workload) == want


def test_capacity_workload_budgets_and_list_options() -> None:
    budget = capacity(H, M, 20000, 15.0, {8000: (1.0, "1k")})
    assert budget["workload"] == [[8000.0, 1.0, 1000.0]]
    assert budget == capacity(H, M, 20000, 15.0, [(8000, 1.0, 1000)])
    want = capacity(H, M, 20000, 15.0, [(8000, 1.0)], tensor_parallel=[1, 2])
    assert capacity(H, M, 20000, 15.0, "8k:1", tensor_parallel="1,2") == want
    assert capacity(H, M, 20000, 15.0, "8k:1", tensor_parallel=np.array([1, 2])) == want
    one = capacity(H, M, 20000, 15.0, "8k:1", drafts=["llama-3.2-1b"])
    assert capacity(H, M, 20000, 15.0, "8k:1", drafts="llama-3.2-1b") == one
    assert one["speculative"]["draft_model"] == "llama-3.2-1b"


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: plan(H, 1, M, 8, "8q"), "context"),
        (lambda: plan(H, 1, M, 8, 8000, kv_budgets="1k,x"), "kv_budgets"),
        (lambda: plan(H, 1, M, 8, 8000, acceptance="high"), "acceptance"),
        (lambda: estimate(H, 1, M, 8, "8q", acceptance=0.7), "context"),
        (lambda: critical_length(H, 1, M, 16, max_context="big"), "max_context"),
        (lambda: critical_length(H, 1, M, 16, max_context=0), "max_context"),
        (lambda: sweep(H, 1, M, [], [4000]), "batches"),
        (lambda: capacity(H, M, 1000, 15.0, [("8k", "half")]), "workload"),
        (lambda: capacity(H, M, 1000, 15.0, {8000: None}), "workload"),
        (lambda: capacity(H, M, 1000, 15.0, [(8000,)]), "workload"),
        (lambda: capacity(H, M, 1000, 15.0, "8k:1", tensor_parallel="two"), "tensor_parallel"),
    ],
)
def test_a_bad_argument_is_one_magicplan_error(call: Any, needle: str) -> None:
    with pytest.raises(MagicplanError, match=needle):
        call()


def test_loaders_return_a_spec_unchanged() -> None:
    model, hw, engine = load_model(M), load_hardware(H), load_engine("vllm")
    assert load_model(model) is model and magicplan.load_model(model) is model
    assert load_hardware(hw) is hw and load_engine(engine) is engine
    with pytest.raises(MagicplanError, match=r"model must be .* ModelSpec; got HardwareSpec"):
        load_model(hw)  # type: ignore[arg-type]
