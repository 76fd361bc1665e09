"""Critical length, break-even acceptance, sweep, export and capacity."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest

from magicplan.cost.mixture import check_mix, mixed_forward_time
from magicplan.cost.steps import forward_time
from magicplan.errors import MagicplanError
from magicplan.planner import plan
from magicplan.planner.analysis import best_speculative, break_even, critical_length, sweep
from magicplan.planner.capacity import capacity
from magicplan.planner.export import export
from magicplan.planner.inputs import default_drafts
from magicplan.setup import Setup

KW = {"drafts": [None], "kv_methods": ["streamingllm"], "kv_budgets": [512]}


def test_critical_length_is_the_crossing(h100: object, llama8b: object) -> None:
    r = critical_length(h100, 8, llama8b, 64, gamma=3, **KW)  # type: ignore[arg-type]
    s = r["critical_context"]
    assert isinstance(s, int) and r["speedup_at_critical"] >= 1.0

    def sd(ctx: int) -> float:
        return best_speculative(plan(h100, 8, llama8b, 64, ctx, gammas=[3], **KW))["speedup"]  # type: ignore[arg-type,index]

    assert sd(s - 1) < 1.0 <= sd(s)


def test_break_even_reaches_the_target(h100: object, llama8b: object) -> None:
    r = break_even(h100, 8, llama8b, 64, 32000, 1.2, **KW)  # type: ignore[arg-type]
    a = r["break_even_acceptance"]
    assert 0 < a < 1
    above = best_speculative(plan(h100, 8, llama8b, 64, 32000, acceptance=a, **KW))  # type: ignore[arg-type]
    below = best_speculative(plan(h100, 8, llama8b, 64, 32000, acceptance=a - 0.01, **KW))  # type: ignore[arg-type]
    assert above["speedup"] >= 1.2 > below["speedup"]  # type: ignore[index]
    none = break_even(h100, 8, llama8b, 1, 512, 5.0, **KW)  # type: ignore[arg-type]
    assert none["break_even_acceptance"] is None


def test_sweep_grid(h100: object, llama8b: object) -> None:
    rows = sweep(h100, 8, llama8b, [16, 128], [4096, 32768], **KW)  # type: ignore[arg-type]
    assert [(r["batch"], r["context"]) for r in rows] == [
        (16, 4096),
        (16, 32768),
        (128, 4096),
        (128, 32768),
    ]
    # speedup rises with batch at long context (MagicDec's headline)
    assert rows[3]["best_speculative_speedup"] > rows[1]["best_speculative_speedup"]


def test_export_table_covers_batches(h100: object, llama8b: object) -> None:
    # the draft-model export (the drafting families' exports: tests/planner/test_families.py)
    kw = {"drafts": default_drafts(llama8b, families=False)}  # type: ignore[arg-type]
    r = plan(h100, 8, llama8b, 64, 32000, **kw)  # type: ignore[arg-type]
    e = export("vllm", r, h100, 8, llama8b, **kw)  # type: ignore[arg-type]
    table = e["num_speculative_tokens_per_batch_size"]
    assert table[0][0] == 1
    for (s0, e0, _), (s1, _, _) in itertools.pairwise(table):
        assert s1 == e0 + 1 and s0 <= e0
    cfg = e["speculative_config"]
    assert cfg["model"] == "meta-llama/Llama-3.2-1B" and cfg["method"] == "draft_model"
    assert cfg["num_speculative_tokens_per_batch_size"] == table
    assert cfg["num_speculative_tokens"] == max(k for _, _, k in table)  # vLLM caps K by it
    assert cfg["draft_tensor_parallel_size"] in (1, 8)
    assert e["exported_strategy"]["kv_method"] == "full"
    assert any("compressed" in lim for lim in e["limitations"])
    s = export("sglang", r, h100, 8, llama8b, **kw)  # type: ignore[arg-type]
    assert s["speculative_config"]["speculative_num_draft_tokens"] == (
        s["speculative_config"]["speculative_num_steps"] + 1
    )
    assert s["exported_strategy"]["draft_num_gpus"] == 8  # SGLang: the target's TP only
    with pytest.raises(MagicplanError, match="export"):
        export("tgi", r, h100, 8, llama8b)  # type: ignore[arg-type]


def test_mixture_of_one_equals_plain_step(h100: object, llama8b: object) -> None:
    rf = Setup(hardware=h100, num_gpus=8, target=llama8b).roofline  # type: ignore[arg-type]
    one = mixed_forward_time(llama8b, rf, 8, 64, 1.0, np.array([32000.0]), np.array([1.0]))  # type: ignore[arg-type]
    assert one == pytest.approx(float(forward_time(llama8b, rf, 8, 64, 1.0, 32000).total_s))  # type: ignore[arg-type]
    with pytest.raises(MagicplanError, match="fractions"):
        check_mix([(1000, 0.5), (2000, 0.4)])


def test_capacity_counts_replicas(h100: object, llama8b: object) -> None:
    r = capacity(h100, llama8b, 20000, 15.0, [(8000, 0.5), (32000, 0.5)])  # type: ignore[arg-type]
    for key in ("autoregressive", "speculative"):
        opt = r[key]
        assert opt["t_per_token_ms"] <= 15.0
        assert opt["replicas"] == math.ceil(20000 / opt["throughput_per_replica_tokens_per_s"])
        assert opt["gpus"] == opt["replicas"] * opt["tensor_parallel"]
    assert r["gpus_saved_by_sd"] == r["autoregressive"]["gpus"] - r["speculative"]["gpus"]


def test_capacity_per_request_budgets_and_bad_workloads(h100: object, llama8b: object) -> None:
    mix = [(8000, 0.5, 512), (32000, 0.5, 4096)]
    r = capacity(h100, llama8b, 20000, 15.0, mix, gpu_hour_usd=2.0)  # type: ignore[arg-type]
    assert r["workload"] == [[8000.0, 0.5, 512.0], [32000.0, 0.5, 4096.0]]
    sd = r["speculative"]
    assert sd["cost_per_hour_usd"] == pytest.approx(2.0 * sd["gpus"])
    for bad in ([(8000, 0.5), (1000, 0.4)], [(8000, 1.0, -5)], [(8000,)]):
        with pytest.raises(MagicplanError, match="workload"):
            capacity(h100, llama8b, 20000, 15.0, bad)  # type: ignore[arg-type]


def test_mix_step_is_not_the_mean_step(h100: object, llama8b: object) -> None:
    # A draft with budget K = 4096 over a 1k/63k mix keeps min(K, S) = 1000 and 4096 tokens:
    # on average (1000 + 4096)/2 = 2548, not min(K, mean 32000) = 4096. Decode attention is
    # memory-bound and its bytes are linear in the keys, so the mix costs the 2548-key step.
    rf = Setup(hardware=h100, num_gpus=8, target=llama8b).roofline  # type: ignore[arg-type]
    ctx, frac = np.array([1000.0, 63000.0]), np.array([0.5, 0.5])
    mix = mixed_forward_time(llama8b, rf, 8, 64, 1.0, np.minimum(4096.0, ctx), frac)  # type: ignore[arg-type]
    at_2548 = float(forward_time(llama8b, rf, 8, 64, 1.0, 2548).total_s)  # type: ignore[arg-type]
    at_mean = float(forward_time(llama8b, rf, 8, 64, 1.0, 4096).total_s)  # type: ignore[arg-type]
    assert mix == pytest.approx(at_2548, rel=1e-6) and mix < at_mean


def test_api_is_importable_from_the_package() -> None:
    import magicplan

    for name in ("plan", "critical_length", "break_even", "sweep", "capacity"):
        assert callable(getattr(magicplan, name)), name


# --- the API takes what the CLI takes (issue 15.8) ------------------------------------------


def test_planner_functions_take_ids_and_paths(h100: object, llama8b: object) -> None:
    from magicplan.specs.registry import profiles_dir

    path = profiles_dir("model_profiles") / "llama-3.1-8b.yaml"
    kw = {"drafts": ["self", "llama-3.2-1b"], "kv_methods": ["streamingllm"], "kv_budgets": [512],
          "acceptance": 0.8}  # fmt: skip
    by_spec = plan(h100, 8, llama8b, 16, 8192, **KW, acceptance=0.8)  # type: ignore[arg-type]
    assert plan("h100-sxm", 8, "llama-3.1-8b", 16, 8192, **KW, acceptance=0.8) == by_spec
    assert plan("h100-sxm", 8, path, 16, 8192, **KW, acceptance=0.8) == by_spec
    with_ids = plan("h100-sxm", 8, "meta-llama/Llama-3.1-8B", 16, 8192, top=100, **kw)
    assert {c["draft_model"] for c in with_ids["candidates"]} >= {"self", "llama-3.2-1b"}
    assert sweep("h100-sxm", 8, str(path), [16], [8192], **kw)[0]["speedup"] > 0
    assert break_even("h100-sxm", 8, "llama-3.1-8b", 16, 8192, **KW)["break_even_acceptance"]
    crit = critical_length("h100-sxm", 8, "llama-3.1-8b", 64, gamma=3, max_context=4096, **KW)
    assert crit["target"] == "llama-3.1-8b"
    cap = capacity("h100-sxm", "llama-3.1-8b", 20000, 15.0, [(8000, 1.0)])
    assert cap["target"] == "llama-3.1-8b" and cap["hardware"] == "h100-sxm"


@pytest.mark.parametrize(
    ("call", "names"),
    [
        (lambda: plan(["h100-sxm"], 8, "llama-3.1-8b", 16, 8192), "hardware must be"),  # type: ignore[arg-type]
        (lambda: sweep("h100-sxm", 8, 42, [16], [8192]), "target must be"),  # type: ignore[arg-type]
        (lambda: plan("h100-sxm", 8, "llama-3.1-8b", 16, 8192, drafts=[7]), "draft must be"),  # type: ignore[list-item]
        (lambda: capacity({}, "llama-3.1-8b", 1, 1.0, [(8000, 1.0)]), "hardware must be"),  # type: ignore[arg-type]
    ],
)
def test_anything_else_is_one_clear_error(call: Any, names: str) -> None:
    with pytest.raises(MagicplanError, match=names):
        call()


def test_memory_utilization_reaches_the_planner(h100: object, llama8b: object) -> None:
    def run(**kw: Any) -> dict:
        return plan(h100, 1, llama8b, 32, 8000, acceptance=0.8, **kw)  # type: ignore[arg-type]

    assert run() == run(memory_utilization=0.9)
    assert run()["best"] is not None and run(memory_utilization=0.5)["best"] is None


def test_memory_utilization_bounds_the_export_table(h100: object, llama8b: object) -> None:
    from magicplan.estimate import estimate
    from magicplan.planner.export import gamma_table

    for u in (0.5, 0.9):
        ar_fit = estimate(h100, 1, llama8b, 1, 8000, acceptance=0.8, memory_utilization=u)  # type: ignore[arg-type]
        table = gamma_table(h100, 1, llama8b, 8000, memory_utilization=u, **KW, acceptance=0.8)  # type: ignore[arg-type]
        assert table[-1][1] == ar_fit["max_batch"]


def test_critical_length_reports_both_meanings_and_the_strategy(
    h100: object, llama8b: object
) -> None:
    # critical_context: break-even at one batch; inflection_context: MagicDec's S_inflection,
    # where the speedup starts to rise with batch (64 against 32), checked with `estimate`.
    from magicplan.estimate import estimate_arrays

    r = critical_length(h100, 8, llama8b, 64, gamma=3, **KW)  # type: ignore[arg-type]
    assert r["strategy"] == {"draft_model": "self", "kv_method": "streamingllm",
                             "kv_budget": 512, "gamma": 3, "draft_num_gpus": 8,
                             "tree_tokens": 4}  # fmt: skip
    s, pair = r["inflection_context"], r["inflection_batches"]
    assert isinstance(s, int) and pair == [32, 64] and s != r["critical_context"]

    def speedups(ctx: int) -> np.ndarray:
        setup = Setup(hardware=h100, num_gpus=8, target=llama8b)  # type: ignore[arg-type]
        out = estimate_arrays(setup, np.array(pair), ctx, 3, 512, 0.8)
        return out["speedup"]

    lo, hi = speedups(s)
    assert hi > lo  # rises with batch at the inflection context
    lo, hi = speedups(s - 1)
    assert hi <= lo  # and not one token below it


def test_break_even_names_its_strategy(h100: object, llama8b: object) -> None:
    r = break_even(h100, 8, llama8b, 64, 32000, 1.2, **KW)  # type: ignore[arg-type]
    assert r["strategy"]["draft_model"] == "self" and r["strategy"]["kv_budget"] == 512
    assert set(r["strategy"]) == {"draft_model", "kv_method", "kv_budget", "gamma",
                                  "draft_num_gpus", "tree_tokens"}  # fmt: skip
    assert r["strategy"]["tree_tokens"] == r["strategy"]["gamma"] + 1  # a chain


def test_critical_length_says_when_it_pays_from_the_smallest_context(
    h100: object, llama8b: object
) -> None:
    # At batch 128 EAGLE-3's chain pays already at 128 tokens: that is not a break-even.
    r = critical_length(h100, 1, llama8b, 128, engine="vllm")  # type: ignore[arg-type]
    assert r["critical_context"] == 128 and r["speedup_at_critical"] > 1
    assert r["note"].startswith("speculation already pays at the smallest context searched")
    assert r["strategy"]["tree_tokens"] == r["strategy"]["gamma"] + 1  # EAGLE-3 as a chain


def test_break_even_searches_a_chain_familys_alpha(h100: object, llama8b: object) -> None:
    # n-gram lookup is a chain: its α is searched (it used to answer 0.0, its table τ standing in
    # for every α). At the answer the plan reaches 1×.
    kw: dict[str, Any] = {"drafts": ["ngram"], "engine": "vllm"}  # an engine that runs it
    r = break_even(h100, 1, llama8b, 8, 8000, **kw)
    a = r["break_even_acceptance"]
    assert 0 < a < 1 and r["strategy"]["draft_model"] == "ngram"
    at = plan(h100, 1, llama8b, 8, 8000, acceptance=a, top=3, **kw)
    assert best_speculative(at)["speedup"] == pytest.approx(1.0, abs=1e-3)
    # EAGLE-3: a chain on vLLM; on SGLang, which verifies its tree, α is its chain's (top-k 1).
    for engine in ("vllm", "sglang"):
        s = break_even(h100, 1, llama8b, 8, 8000, drafts=["eagle3"], engine=engine)["strategy"]
        assert s["draft_model"] == "eagle3" and s["tree_tokens"] == s["gamma"] + 1


def test_break_even_and_plan_say_what_an_alpha_search_leaves_out(
    h100: object, llama8b: object
) -> None:
    r = break_even(h100, 8, llama8b, 64, 32000, engine="vllm")  # type: ignore[arg-type]
    assert r["notes"] and r["notes"][0].startswith("the drafting families")
    given = break_even(h100, 8, llama8b, 64, 32000, engine="vllm", drafts=["ngram"])  # type: ignore[arg-type]
    assert given["notes"] == []
    p = plan(h100, 8, llama8b, 64, 32000, engine="vllm", acceptance=0.5)
    assert any(n.startswith("with --acceptance α the default search leaves out the drafting")
               for n in p["notes"])  # fmt: skip
