"""What a step costs, per GPU: FLOPs and bytes of each operator of a decoder step.

Knows models, not hardware. For `new_tokens` (q) tokens per sequence, a batch of `batch` (B)
sequences attending to `kv_len` (L) cached tokens, split over `num_gpus` (N) GPUs Megatron-style:
heads and MLP columns split, KV heads split (replicated when fewer than N), LM head vocab-parallel.
All workload arguments are numpy arrays (or scalars) that broadcast together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from magicplan.errors import MagicplanError
from magicplan.specs.model import DTYPE_BYTES, ModelSpec

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Shard:
    """One GPU's slice of a model under tensor parallelism of degree `num_gpus`."""

    num_gpus: int
    heads: int  # query heads per GPU
    kv_heads: int  # KV heads per GPU (1 when the model has fewer KV heads than GPUs)
    intermediate: float  # MLP (or expert) columns per GPU
    vocab: float  # LM-head rows per GPU


def shard(model: ModelSpec, num_gpus: int) -> Shard:
    """Split `model` over `num_gpus`; an impossible split is a MagicplanError naming num_gpus."""
    n = int(num_gpus)
    if n < 1:
        raise MagicplanError(f"num_gpus must be a positive integer; got {num_gpus}")
    h, kv = model.num_attention_heads, model.num_kv_heads
    if h % n:
        raise MagicplanError(
            f"num_gpus={n} cannot split {model.id}: it must divide num_attention_heads={h}"
        )
    if kv % n and n % kv:
        raise MagicplanError(
            f"num_gpus={n} cannot split {model.id}: it must divide num_kv_heads={kv} or be a "
            "multiple of it"
        )
    width = model.moe.expert_intermediate_size if model.moe else model.intermediate_size
    return Shard(n, h // n, max(kv // n, 1), width / n, model.vocab_size / n)


@dataclass(frozen=True)
class OpCost:
    """One operator, repeated `count` times per step (e.g. once per layer). Per GPU, per use."""

    name: str
    count: float
    flops: Array
    weight_bytes: Array
    kv_bytes: Array
    act_bytes: Array


def _arr(x: npt.ArrayLike) -> Array:
    return np.asarray(x, dtype=np.float64)


def expected_experts_touched(num_experts: int, experts_per_token: int, tokens: Array) -> Array:
    """Expected distinct experts hit by `tokens` tokens routing to `experts_per_token` each.

    Uniform routing: E * (1 - (1 - k/E)^T). One token touches k; many tokens touch all E.
    """
    miss = 1.0 - experts_per_token / num_experts
    return num_experts * (1.0 - np.power(miss, tokens))


def attention_op(
    model: ModelSpec,
    sh: Shard,
    batch: npt.ArrayLike,
    new_tokens: npt.ArrayLike,
    kv_len: npt.ArrayLike,
    count: float,
    kv_dtype: str,
    name: str = "attention",
) -> OpCost:
    """Scores and weighted sum of q new tokens over L cached keys (+ the causal new ones).

    FLOPs from query heads (4·B·q·(L + (q+1)/2)·heads·head_dim); KV bytes from KV heads
    (read B·L·2·kv_heads·head_dim, write B·q·2·kv_heads·head_dim).
    """
    b, q, L = _arr(batch), _arr(new_tokens), _arr(kv_len)
    hd, a = model.head_dim_eff, DTYPE_BYTES[model.dtype]
    kvb = DTYPE_BYTES[kv_dtype]
    per_token_kv = 2 * sh.kv_heads * hd * kvb
    flops = 4.0 * b * q * (L + (q + 1) / 2) * sh.heads * hd
    kv = b * (L + q) * per_token_kv
    act = 2.0 * b * q * sh.heads * hd * a
    return OpCost(name, count, flops, np.zeros_like(flops), kv, act)


def select_op(
    model: ModelSpec, sh: Shard, batch: npt.ArrayLike, kv_len: npt.ArrayLike, kv_dtype: str
) -> OpCost:
    """Per-step top-k selection: one query scored against all L cached keys (keys only)."""
    b, L = _arr(batch), _arr(kv_len)
    hd = model.head_dim_eff
    flops = 2.0 * b * L * sh.heads * hd
    kv = b * L * sh.kv_heads * hd * DTYPE_BYTES[kv_dtype]
    return OpCost("topk_select", model.num_layers, flops, np.zeros_like(flops), kv, 0.0 * kv)


def _linear(
    name: str, count: float, tokens: Array, d_in: float, d_out: float, a: int, bias: bool = False
) -> OpCost:
    """A GEMM of `tokens` rows through a (d_in x d_out) weight (per GPU)."""
    flops = 2.0 * tokens * d_in * d_out + (tokens * d_out if bias else 0.0)
    weights = (d_in * d_out + (d_out if bias else 0)) * a + 0.0 * tokens
    act = tokens * (d_in + d_out) * a
    return OpCost(name, count, flops, weights, 0.0 * tokens, act)


def layer_ops(
    model: ModelSpec,
    sh: Shard,
    batch: npt.ArrayLike,
    new_tokens: npt.ArrayLike,
    kv_len: npt.ArrayLike,
    kv_dtype: str | None = None,
) -> list[OpCost]:
    """Every operator of one step: per-layer projections, attention, MLP/MoE, norms; LM head."""
    a = DTYPE_BYTES[model.dtype]
    kv_dtype = kv_dtype or model.dtype
    b, q, L = _arr(batch), _arr(new_tokens), _arr(kv_len)
    tokens = b * q
    n_layers, hd, hsz = model.num_layers, model.head_dim_eff, model.hidden_size
    q_pg, kv_pg = sh.heads * hd, sh.kv_heads * hd
    ops = [
        _linear("qkv_proj", n_layers, tokens, hsz, q_pg + 2 * kv_pg, a, model.qkv_bias),
        _linear("o_proj", n_layers, tokens, q_pg, hsz, a),
    ]
    n_local = model.num_local_layers
    if n_local:
        window = float(model.sliding_window or 0)
        ops.append(
            attention_op(
                model, sh, b, q, np.minimum(L, window), n_local, kv_dtype, "attention_local"
            )
        )
    if n_layers - n_local:
        ops.append(attention_op(model, sh, b, q, L, n_layers - n_local, kv_dtype))
    ops += _mlp_ops(model, sh, tokens, a)
    norm_bytes = 2.0 * tokens * hsz * a
    ops.append(
        OpCost(
            "norms",
            n_layers * model.norms_per_layer + 1,
            4.0 * tokens * hsz,
            0.0 * tokens + hsz * a,
            0.0 * tokens,
            norm_bytes,
        )
    )
    ops.append(_linear("lm_head", 1, b * q, hsz, sh.vocab, a))
    ops.append(
        OpCost("embedding", 1, 0.0 * tokens, tokens * hsz * a, 0.0 * tokens, tokens * hsz * a)
    )
    return ops


def _mlp_ops(model: ModelSpec, sh: Shard, tokens: Array, a: int) -> list[OpCost]:
    """Gated MLP (gate, up, down), or the MoE experts this many tokens actually touch."""
    hsz, n_layers = model.hidden_size, model.num_layers
    if model.moe is None:
        op = _linear("mlp", n_layers, tokens, hsz, 3 * sh.intermediate, a)
        # The intermediate activation is written by gate/up and read by down: 6·I per token.
        act = tokens * (2 * hsz + 6 * sh.intermediate) * a
        return [OpCost("mlp", n_layers, op.flops, op.weight_bytes, op.kv_bytes, act)]
    m = model.moe
    touched = expected_experts_touched(m.num_experts, m.experts_per_token, tokens)
    expert_w = 3 * hsz * sh.intermediate * a
    flops = 2.0 * tokens * m.experts_per_token * 3 * hsz * sh.intermediate
    act = tokens * m.experts_per_token * (2 * hsz + 6 * sh.intermediate) * a
    ops = [
        OpCost("moe_experts", n_layers, flops, touched * expert_w, 0.0 * tokens, act),
        _linear("router", n_layers, tokens, hsz, m.num_experts, a),
    ]
    if m.shared_experts:
        width = (m.shared_expert_intermediate_size or m.expert_intermediate_size) / sh.num_gpus
        ops.append(
            _linear("shared_experts", n_layers, tokens, hsz, 3 * width * m.shared_experts, a)
        )
    return ops


def allreduce_bytes(model: ModelSpec, batch: npt.ArrayLike, new_tokens: npt.ArrayLike) -> Array:
    """Bytes of one all-reduce of the step's activations (B·q·hidden values)."""
    return _arr(batch) * _arr(new_tokens) * model.hidden_size * DTYPE_BYTES[model.dtype]


def kv_bytes_per_token_per_gpu(model: ModelSpec, sh: Shard, kv_dtype: str | None = None) -> int:
    """KV-cache bytes one token adds on one GPU, over all layers."""
    return (
        2
        * model.num_layers
        * sh.kv_heads
        * model.head_dim_eff
        * DTYPE_BYTES[kv_dtype or model.dtype]
    )
