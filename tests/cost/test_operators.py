"""Operator FLOPs and bytes against hand-derived numbers."""

from __future__ import annotations

import numpy as np
import pytest

from magicplan.cost.operators import (
    _linear,
    add_into,
    attention_op,
    expected_experts_touched,
    kv_bytes_per_token_per_gpu,
    layer_ops,
    shard,
)
from magicplan.errors import MagicplanError
from tests.cost.conftest import make_model


def test_linear_flops_and_bytes() -> None:
    # 4 tokens through an 8x16 bf16 weight: 2*4*8*16 FLOP, 8*16*2 B weights, 4*(8+16)*2 B acts.
    op = _linear("x", 1, np.array(4.0), 8, 16, make_model())
    assert op.flops == 1024
    assert op.weight_bytes == 256
    assert op.act_bytes == 192
    assert op.kind == "gemm" and not op.quantized


def test_int4_weights_carry_their_group_scales_and_zero_points() -> None:
    # AWQ-style int4, group 128, fp16 scale + int4 zero per group: 0.5 + (2 + 0.5) / 128 bytes
    # per weight = 0.51953125; an 8x16 weight is 128 of them = 66.5 B. Activations stay bf16.
    m = make_model(weight_dtype="int4", weight_group_size=128, weight_group_bytes=2.5)
    op = _linear("x", 1, np.array(4.0), 8, 16, m)
    assert op.weight_bytes == 66.5
    assert op.act_bytes == 192
    assert op.quantized
    # The LM head keeps the model's dtype.
    head = _linear("lm_head", 1, np.array(4.0), 8, 16, m, quantizable=False)
    assert head.weight_bytes == 256 and not head.quantized


def test_attention_uses_query_heads_for_flops_and_kv_heads_for_bytes() -> None:
    # GQA 32 q / 8 kv heads over 8 GPUs: 4 q heads and 1 kv head per GPU, head_dim 128.
    m = make_model(num_kv_heads=8)
    sh = shard(m, 8)
    assert (sh.heads, sh.kv_heads) == (4, 1)
    op = attention_op(m, sh, 2, 1, 100, m.num_layers)
    # FLOPs 4*B*q*(L+(q+1)/2)*heads*hd = 4*2*1*101*4*128 ; KV 2*(100+1)*(2*1*128*2) bytes.
    assert float(op.flops) == 4 * 2 * 101 * 4 * 128 == 413_696
    assert float(op.kv_bytes) == 2 * 101 * 512 == 103_424


def test_kv_heads_replicated_when_fewer_than_gpus() -> None:
    m = make_model(num_kv_heads=4, num_attention_heads=32)
    assert shard(m, 8).kv_heads == 1
    # Llama-3.1-8B shapes: 2 * 32 layers * 1 kv head * 128 * 2 B = 16,384 B per token per GPU.
    m8 = make_model(num_kv_heads=8, intermediate_size=14336, vocab_size=128256)
    assert kv_bytes_per_token_per_gpu(m8, shard(m8, 8)) == 16_384


def test_impossible_split_names_num_gpus() -> None:
    with pytest.raises(MagicplanError, match="num_gpus=3"):
        shard(make_model(), 3)


def test_expected_experts() -> None:
    # E=8, k=2: one token touches 2; two tokens 8*(1-(6/8)^2) = 3.5; many tokens all 8.
    t = expected_experts_touched(8, 2, np.array([1.0, 2.0, 1e4]))
    np.testing.assert_allclose(t, [2.0, 3.5, 8.0])


def test_layer_weights_sum_to_model_weights() -> None:
    # One GPU, bf16: per-step weight bytes (layers x per-layer + LM head) plus the embedding
    # table (only B rows are read) equal 2 bytes per parameter, up to the norm vectors.
    m = make_model()
    ops = layer_ops(m, shard(m, 1), 1, 1, 0)
    weights = sum(op.count * float(op.weight_bytes) for op in ops if op.name != "embedding")
    expected = 2 * (m.num_parameters - m.vocab_size * m.hidden_size)
    assert weights == pytest.approx(expected, rel=1e-3)


def test_add_into_writes_into_its_own_temporary_only() -> None:
    fresh = np.array([1.0, 2.0])
    assert add_into(fresh, 10.0) is fresh and fresh.tolist() == [11.0, 12.0]
    small = np.array([1.0])
    wider = add_into(small, np.array([1.0, 2.0]))  # the sum is wider: a new array
    assert wider is not small and small.tolist() == [1.0] and wider.tolist() == [2.0, 3.0]
    view = np.broadcast_to(np.array([5.0]), (2,))  # read-only: left alone
    assert add_into(view, 1.0).tolist() == [6.0, 6.0] and view.tolist() == [5.0, 5.0]
