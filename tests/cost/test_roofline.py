"""Roofline times and the MagicDec ideal-mode breakdown."""

from __future__ import annotations

import numpy as np
import pytest

from magicplan.cost.operators import OpCost
from magicplan.cost.roofline import allreduce_time, make_roofline, ops_time, ops_total
from magicplan.cost.steps import autoregressive_time
from tests.cost.conftest import make_cal, make_hw, make_model


def _op(flops: float, weight_bytes: float) -> OpCost:
    z = np.array(0.0)
    return OpCost(
        name="x",
        count=1,
        flops=np.array(flops),
        weight_bytes=np.array(weight_bytes),
        kv_bytes=z,
        act_bytes=z,
    )


def test_max_and_sum_overlap() -> None:
    # 1e12 FLOP at 100 TFLOP/s = 10 ms; 1e9 B at 1 TB/s = 1 ms.
    hw = make_hw()
    t_max = ops_time([_op(1e12, 1e9)], make_roofline(hw, make_cal()))
    assert float(sum(t_max.values())) == pytest.approx(0.010)
    assert float(t_max["compute"]) == pytest.approx(0.010)
    t_sum = ops_time([_op(1e12, 1e9)], make_roofline(hw, make_cal(overlap="sum")))
    assert float(sum(t_sum.values())) == pytest.approx(0.011)


def test_efficiency_scales_memory_time() -> None:
    t = ops_time([_op(0.0, 1e9)], make_roofline(make_hw(), make_cal(memory_efficiency=0.5)))
    assert float(t["weights"]) == pytest.approx(0.002)  # 1e9 B at 0.5 TB/s


def test_allreduce_ring_time() -> None:
    # 1 MB over 8 GPUs: 2*7/8 MB = 1.75 MB at 0.5 x 100 GB/s = 35 µs, + 10 µs latency.
    rf = make_roofline(make_hw(), make_cal(allreduce_latency_us=10.0, link_efficiency=0.5))
    assert float(allreduce_time(1e6, 8, rf)) == pytest.approx(45e-6)
    assert float(allreduce_time(1e6, 1, rf)) == 0.0


def test_magicdec_ideal_breakdown() -> None:
    # MagicDec's theoretical AR step for Llama-2-7B, context 4000, 8×A100-80GB
    # (2039 GB/s, 312 TFLOP/s per GPU): 0.94, 1.33, 2.91, 9.20, 34.82 ms at B = 1..256.
    hw = make_hw(hbm_bandwidth_tb_s=2.039, bf16_dense_tflops=312)
    rf = make_roofline(hw, make_cal(), ideal=True)
    batch = np.array([1, 4, 16, 64, 256])
    t_ms = autoregressive_time(make_model(), rf, 8, batch, 4000).total_s * 1e3
    np.testing.assert_allclose(t_ms, [0.94, 1.33, 2.91, 9.20, 34.82], rtol=0.05)


def test_ideal_mode_ignores_overheads() -> None:
    hw = make_hw()
    slow = make_cal(layer_overhead_us=100.0, memory_efficiency=0.5)
    a = autoregressive_time(make_model(), make_roofline(hw, slow, ideal=True), 1, 1, 100)
    b = autoregressive_time(make_model(), make_roofline(hw, make_cal(), ideal=True), 1, 1, 100)
    assert float(a.total_s) == pytest.approx(float(b.total_s))


def test_snapkv_selection_hand_value() -> None:
    # Llama-2-7B shapes, 1 GPU, B=1, S=1000, ideal 1 TB/s / 100 TFLOP/s. Per layer: the 32
    # window queries read every key once, 1000·32 heads·128·2 B = 8.192 MB (8.192 µs), and do
    # 2·1000·32·128·32 = 262 MFLOP (2.6 µs): memory-bound, × 32 layers = 262.144 µs.
    from magicplan.cost.steps import snapkv_select_time

    rf = make_roofline(make_hw(), make_cal(), ideal=True)
    assert float(snapkv_select_time(make_model(), rf, 1, 1, 1000)) == pytest.approx(262.144e-6)


def test_ops_total_is_the_sum_of_the_classes() -> None:
    # Same op: max(10 ms of compute, 1 ms of memory) = 10 ms; "sum" overlap: 11 ms.
    hw = make_hw()
    assert float(ops_total([_op(1e12, 1e9)], make_roofline(hw, make_cal()))) == pytest.approx(0.010)
    rf_sum = make_roofline(hw, make_cal(overlap="sum"))
    assert float(ops_total([_op(1e12, 1e9)], rf_sum)) == pytest.approx(0.011)


def test_ridge_overlap_where_both_limits_bind() -> None:
    # 8e10 FLOP at 100 TFLOP/s = 0.8 ms against 1e9 B at 1 TB/s = 1 ms. With κ = 0.7 the op
    # takes max(1, 0.8, 0.7 · 1.8) = 1.26 ms, every class scaled by κ: 0.7 ms of weights,
    # 0.56 ms of compute. With κ = 0.5 (no band) it is the plain max, 1 ms.
    op = _op(8e10, 1e9)
    rf = make_roofline(make_hw(), make_cal(ridge_overlap=0.7))
    assert float(ops_total([op], rf)) == pytest.approx(1.26e-3)
    parts = ops_time([op], rf)
    assert float(parts["weights"]) == pytest.approx(0.7e-3)
    assert float(parts["compute"]) == pytest.approx(0.56e-3)
    assert float(ops_total([op], make_roofline(make_hw(), make_cal(ridge_overlap=0.5)))) == (
        pytest.approx(1e-3)
    )
    # Far from the ridge the band never binds: 10 ms of compute stays 10 ms.
    assert float(ops_total([_op(1e12, 1e9)], rf)) == pytest.approx(0.010)


def test_weight_only_kernel_reads_quantized_weights_slower() -> None:
    # 1e9 B of int4 weights read at 0.5 of the memory rate (1 TB/s × η_q 0.5): 2 ms; the same
    # bytes unquantized take 1 ms.
    rf = make_roofline(make_hw(), make_cal(int4_weight_efficiency=0.5), weight_format="int4")
    quantized = OpCost(name="x", count=1, flops=0.0, weight_bytes=1e9, quantized=True)
    plain = OpCost(name="y", count=1, flops=0.0, weight_bytes=1e9)
    assert float(ops_total([quantized], rf)) == pytest.approx(2e-3)
    assert float(ops_total([plain], rf)) == pytest.approx(1e-3)


def test_decode_attention_kernel_terms() -> None:
    # GQA 32/8 heads, head_dim 128, bf16, one GPU: 8 · 128 · 2 · 2 = 4096 B of KV per token.
    # B = 2, L = 100, q = 1: reads (100 + 1) · 2 · 4096 = 827,392 B; the kernel's per-sequence
    # term adds 28 keys per sequence, 2 · 28 · 4096 = 229,376 B, all at η_kv 0.5 × 1 TB/s:
    # 2.113536 µs; activations 2 sequences × 2 · 32 · 128 · 2 B = 32,768 B at 1 TB/s (32.768 ns).
    from magicplan.cost.operators import attention_op, shard

    m = make_model(num_kv_heads=8)
    op = attention_op(m, shard(m, 1), 2, 1, 100, 1)
    cal = make_cal(attention_efficiency=0.5, attention_half_length_tokens=28.0)
    parts = ops_time([op], make_roofline(make_hw(), cal))
    assert float(parts["kv"]) == pytest.approx(2.113536e-6)
    assert float(parts["activations"]) == pytest.approx(32.768e-9)


def test_fixed_latencies_of_a_step() -> None:
    # 32 layers; per layer 10 µs + a 5 µs attention floor; per step 100 µs + 50 µs sampling +
    # 2 tokens × 32,000 logits × 1 ns = 64 µs: 100 + 50 + 64 + 32 · 15 = 694 µs.
    from magicplan.cost.steps import step_fixed_costs

    cal = make_cal(
        step_overhead_us=100.0, layer_overhead_us=10.0, attention_floor_us=5.0,
        sampling_us=50.0, sampling_ns_per_logit=1.0,
    )  # fmt: skip
    fixed = step_fixed_costs(make_model(), make_roofline(make_hw(), cal), 1, 2, 1.0)
    assert float(fixed["overhead"]) == pytest.approx(694e-6)
    assert float(fixed["communication"]) == 0.0


def test_allreduce_latency_grows_per_doubling() -> None:
    # λ = 10 µs at 2 GPUs + 3 µs per doubling beyond: 16 µs at 8 GPUs (log2(8/2) = 2), plus
    # 2·7/8 MB at 0.5 × 100 GB/s = 35 µs: 51 µs.
    cal = make_cal(
        allreduce_latency_us=10.0, allreduce_latency_per_doubling_us=3.0, link_efficiency=0.5
    )
    rf = make_roofline(make_hw(), cal)
    assert float(allreduce_time(1e6, 8, rf)) == pytest.approx(51e-6)
    assert float(allreduce_time(1e6, 2, rf)) == pytest.approx(10e-6 + 1e6 / 0.5 / 100e9)


def test_an_asynchronous_engine_hides_host_time_behind_the_device() -> None:
    # Llama-2-7B shapes, 1 TB/s: one AR step reads ~13.5 GB of weights (device ≈ 13.5 ms); 32
    # layers × 500 µs of host latency = 16 ms. Added: ≈ 29.5 ms; fully overlapped
    # (host_overlap 1): the longer of the two, 16 ms; half: 29.5 − 0.5 · 13.5 ms.
    from magicplan.cost.steps import step_time

    m = make_model()
    plain = make_roofline(make_hw(), make_cal(layer_overhead_us=500.0))
    device = float(step_time(m, make_roofline(make_hw(), make_cal()), 1, 1, 1.0, 0).total_s)
    added = float(step_time(m, plain, 1, 1, 1.0, 0).total_s)
    assert added == pytest.approx(device + 32 * 500e-6)
    for h, expected in ((1.0, max(device, 16e-3)), (0.5, added - 0.5 * min(device, 16e-3))):
        rf = make_roofline(make_hw(), make_cal(layer_overhead_us=500.0, host_overlap=h))
        st = step_time(m, rf, 1, 1, 1.0, 0)
        assert float(st.total_s) == pytest.approx(expected)
        assert float(sum(st.parts.values())) == pytest.approx(expected)  # classes add up
