"""Folded operators: hand-derived kinks, and equal to costing every operator one by one."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from magicplan.cost.folding import fold, fold_per_sequence
from magicplan.cost.operators import OpCost, attention_ops, shard
from magicplan.cost.roofline import make_roofline
from magicplan.cost.steps import folded_token_ops, forward_time, step_time
from magicplan.specs.model import ModelSpec
from tests.cost.conftest import make_cal, make_hw, make_model

# 1 kB/s of memory, 10 kFLOP/s: a toy roofline whose ridge point is 10 FLOP per byte.
TOY = replace(
    make_roofline(make_hw(), make_cal(memory_efficiency=1.0, compute_efficiency=1.0)),
    peak_flops_per_s=1e4,
    bandwidth_bytes_per_s=1e3,
)


def one_op(t: np.ndarray) -> list[OpCost]:
    # 1000 B of weights, 10 B of activations and 200 FLOP per token.
    return [OpCost(name="x", count=1, flops=200.0 * t, weight_bytes=1000.0, act_bytes=10.0 * t)]


def no_fixed(t: np.ndarray) -> dict[str, np.ndarray]:
    return {"communication": 0.0 * t, "overhead": 0.0 * t}


def test_kink_by_hand() -> None:
    # Memory (1000 + 10 t) / 1000 s against compute 200 t / 1e4 s: equal at t = 100.
    folded = fold(one_op, no_fixed, TOY)
    assert folded.kinks.tolist() == [pytest.approx(100.0)]
    t = np.array([50.0, 200.0])
    j = folded.segment(t)
    times = folded.times(t, j)
    # t = 50: memory-bound, 1 s of weights + 0.5 s of activations; t = 200: 4 s of compute.
    np.testing.assert_allclose(times["weights"], [1.0, 0.0])
    np.testing.assert_allclose(times["activations"], [0.5, 0.0])
    np.testing.assert_allclose(times["compute"], [0.0, 4.0])
    np.testing.assert_allclose(folded.total(t, j), [1.5, 4.0])


def test_one_segment_gives_a_scalar_index() -> None:
    folded = fold(one_op, no_fixed, TOY)
    assert folded.segment(np.array([1.0, 99.0])) == 0
    assert folded.segment(np.array([101.0, 1e6])) == 1
    assert folded.segment(np.array([1.0, 101.0])).tolist() == [0, 1]


def test_sum_overlap_adds_compute_to_memory() -> None:
    folded = fold(one_op, no_fixed, replace(TOY, overlap="sum"))
    t = np.array([50.0])
    # (1000 + 500) / 1000 s of memory plus 200 * 50 / 1e4 = 1 s of compute.
    np.testing.assert_allclose(folded.total(t, folded.segment(t)), [2.5])


def test_moe_experts_stay_unfolded() -> None:
    moe = make_model(
        id="moe",
        intermediate_size=2048,
        moe={"num_experts": 8, "experts_per_token": 2, "expert_intermediate_size": 2048},
    )
    assert folded_token_ops(moe, 1, TOY).unfolded == {"moe_experts"}
    assert not folded_token_ops(make_model(), 1, TOY).unfolded


def test_attention_per_sequence_by_hand() -> None:
    # q = 1, GQA 32/8 heads on one GPU, head_dim 128, bf16: each sequence reads (L + 1) keys of
    # 2 * 8 * 128 * 2 = 4096 B and moves 2 * 32 * 128 * 2 = 16384 B of activations, per layer.
    m = make_model(num_kv_heads=8)
    rf = make_roofline(make_hw(), make_cal(memory_efficiency=1.0, compute_efficiency=1.0))
    form = fold_per_sequence(lambda b, L: attention_ops(m, shard(m, 1), b, 1.0, L), rf)
    assert form is not None
    bw = 1e12  # the toy GPU's 1 TB/s
    assert form.total == pytest.approx((32 * (4096 + 16384) / bw, 32 * 4096 / bw))
    # Memory-bound at every B and L: the time splits into KV and activations, no compute.
    assert form.classes["kv"] == pytest.approx((32 * 4096 / bw, 32 * 4096 / bw))
    assert form.classes["activations"] == pytest.approx((32 * 16384 / bw, 0.0))
    assert form.classes["compute"] == (0.0, 0.0)


def test_sliding_windows_do_not_fold_per_sequence() -> None:
    m = make_model(id="window", num_kv_heads=8, sliding_window=4096, local_layers=16)
    form = fold_per_sequence(lambda b, L: attention_ops(m, shard(m, 1), b, 1.0, L), TOY)
    assert form is None


MODELS: dict[str, ModelSpec] = {
    "dense": make_model(),
    "gqa-bias": make_model(id="gqa-bias", num_kv_heads=8, qkv_bias=True),
    "moe": make_model(
        id="moe",
        intermediate_size=2048,
        moe={"num_experts": 8, "experts_per_token": 2, "expert_intermediate_size": 2048},
    ),
    "window": make_model(id="window", num_kv_heads=8, sliding_window=4096, local_layers=16),
    "int4-fp8kv": make_model(
        id="int4", num_kv_heads=8, weight_dtype="int4", weight_group_size=128, kv_dtype="fp8"
    ),
}


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(sorted(MODELS)),
    n=st.sampled_from((1, 2, 4, 8)),
    overlap=st.sampled_from(("max", "sum")),
    ideal=st.booleans(),
    scalar_q=st.booleans(),
    topk=st.booleans(),
    kappa=st.sampled_from((0.0, 0.62, 0.9)),
    engine_terms=st.booleans(),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_folded_step_equals_every_operator_costed(
    name: str,
    n: int,
    overlap: str,
    ideal: bool,
    scalar_q: bool,
    topk: bool,
    kappa: float,
    engine_terms: bool,
    seed: int,
) -> None:
    """Totals and every class of the folded evaluation agree with the definition (`step_time`,
    operator by operator), for batches and q that cross the ridge points (decode, verify and
    prefill-sized steps), with and without the ridge band and the engine's kernel terms."""
    model = MODELS[name]
    terms = dict(
        attention_efficiency=0.6, attention_half_length_tokens=40.0, attention_floor_us=12.0,
        int4_weight_efficiency=0.7, sampling_us=30.0, sampling_ns_per_logit=0.5,
        allreduce_latency_per_doubling_us=2.0, host_overlap=0.7,
    )  # fmt: skip
    cal = make_cal(
        overlap=overlap, allreduce_latency_us=5.0, token_layer_overhead_ns=3.0,
        ridge_overlap=kappa, **(terms if engine_terms else {}),
    )  # fmt: skip
    rf = make_roofline(
        make_hw(), cal, model.compute_dtype, ideal=ideal,
        weight_format=model.quantized_weight_dtype,
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    b = rng.integers(1, 2048, 64).astype(float)
    q = 1.0 if scalar_q else rng.integers(1, 18, 64).astype(float)
    L = rng.integers(0, 200_000, 64).astype(float)
    select = L + 7 if topk else None
    st_ = forward_time(model, rf, n, b, q, L, select_len=select)
    ref = step_time(model, rf, n, b, q, L, select_len=select)
    np.testing.assert_allclose(st_.total_s, ref.total_s, rtol=1e-12)
    np.testing.assert_allclose(sum(ref.breakdown.values()), ref.total_s, rtol=1e-12)
    for cls, val in st_.breakdown.items():
        np.testing.assert_allclose(val, ref.breakdown[cls], rtol=1e-12, atol=0)
