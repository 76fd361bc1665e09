"""What a step costs, per GPU: FLOPs and bytes of each operator of a decoder step.

Knows models, not hardware. For `new_tokens` (q) tokens per sequence, a batch of `batch` (B)
sequences attending to `kv_len` (L) cached tokens, split over `num_gpus` (N) GPUs Megatron-style:
heads and MLP columns split, KV heads split (replicated when fewer than N), LM head vocab-parallel.
All workload arguments are numpy arrays (or scalars) that broadcast together.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import numpy.typing as npt

from magicplan.errors import MagicplanError
from magicplan.specs.model import DTYPE_BYTES, ModelSpec

Array = npt.NDArray[np.float64]
Part = Array | float  # an operator's FLOPs or bytes: an array, or 0.0 where it has none


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


OpKind = Literal["gemm", "attention", "other"]


@dataclass(frozen=True, kw_only=True)
class OpCost:
    """One operator, repeated `count` times per step (e.g. once per layer). Per GPU, per use;
    a part the operator never has (an attention's weights) is the scalar 0.0.

    `kind` says which achieved rates apply: attention reads its KV through the engine's
    decode-attention kernel (`kv_bytes_per_key`: KV bytes per cached key, summed over the batch,
    carries the kernel's per-sequence term); `quantized` weights are read by a weight-only
    integer kernel."""

    name: str
    count: float
    flops: Part
    weight_bytes: Part = 0.0
    kv_bytes: Part = 0.0
    act_bytes: Part = 0.0
    kind: OpKind = "other"
    quantized: bool = False
    kv_bytes_per_key: Part = 0.0


def _arr(x: npt.ArrayLike) -> Array:
    return np.asarray(x, dtype=np.float64)


def add_into(fresh: Array, other: Array | float) -> Array:
    """fresh + other, written into `fresh` (a temporary the caller owns) when it already has the
    shape of the sum: one array fewer to allocate, which on large sweeps is most of the cost."""
    owned = isinstance(fresh, np.ndarray) and fresh.flags.writeable and fresh.ndim > 0
    if owned and fresh.shape == np.broadcast_shapes(fresh.shape, np.shape(other)):
        fresh += other
        return fresh
    return np.asarray(fresh + other, dtype=np.float64)


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
    name: str = "attention",
) -> OpCost:
    """Scores and weighted sum of q new tokens over L cached keys (+ the causal new ones).

    FLOPs from query heads (4·B·q·(L + (q+1)/2)·heads·head_dim); KV bytes from KV heads
    (read B·L·2·kv_heads·head_dim, write B·q·2·kv_heads·head_dim) in the cache's dtype.
    """
    b, q, L = _arr(batch), _arr(new_tokens), _arr(kv_len)
    hd, a = model.head_dim_eff, DTYPE_BYTES[model.dtype]
    per_token_kv = 2 * sh.kv_heads * hd * DTYPE_BYTES[model.cache_dtype]
    tokens = b * q  # constants are grouped first: fewer passes over the arrays
    flops = (4.0 * sh.heads * hd) * tokens * (L + (q + 1) / 2)
    kv = (L + q) * b * per_token_kv
    act = (2.0 * sh.heads * hd * a) * tokens
    return OpCost(
        name=name, count=count, flops=flops, kv_bytes=kv, act_bytes=act, kind="attention",
        kv_bytes_per_key=b * per_token_kv,
    )  # fmt: skip


def select_op(model: ModelSpec, sh: Shard, batch: npt.ArrayLike, kv_len: npt.ArrayLike) -> OpCost:
    """Per-step top-k selection: one query scored against all L cached keys (keys only)."""
    b, L = _arr(batch), _arr(kv_len)
    hd = model.head_dim_eff
    keys = b * L
    flops = (2.0 * sh.heads * hd) * keys
    kv = (sh.kv_heads * hd * DTYPE_BYTES[model.cache_dtype]) * keys
    return OpCost(name="topk_select", count=model.num_layers, flops=flops, kv_bytes=kv)


def _linear(
    name: str,
    count: float,
    tokens: Array,
    d_in: float,
    d_out: float,
    model: ModelSpec,
    bias: bool = False,
    quantizable: bool = True,
) -> OpCost:
    """A GEMM of `tokens` rows through a (d_in x d_out) weight (per GPU). Decoder projections
    store their weights in `weight_dtype` (`quantizable`); the LM head keeps `dtype`."""
    a = DTYPE_BYTES[model.dtype]
    quantized = quantizable and model.quantized_weight_dtype is not None
    w = model.linear_weight_bytes_per_parameter if quantizable else a
    per_token = 2.0 * d_in * d_out + (d_out if bias else 0.0)
    return OpCost(
        name=name, count=count, flops=per_token * tokens,
        weight_bytes=float(d_in * d_out * w + (d_out * a if bias else 0)),
        act_bytes=tokens * (d_in + d_out) * a, kind="gemm", quantized=quantized,
    )  # fmt: skip


def layer_ops(
    model: ModelSpec,
    sh: Shard,
    batch: npt.ArrayLike,
    new_tokens: npt.ArrayLike,
    kv_len: npt.ArrayLike,
) -> list[OpCost]:
    """Every operator of one step: per-layer projections, attention, MLP/MoE, norms; LM head."""
    b, q = _arr(batch), _arr(new_tokens)
    return token_ops(model, sh, b * q) + attention_ops(model, sh, b, q, kv_len)


def attention_ops(
    model: ModelSpec,
    sh: Shard,
    batch: npt.ArrayLike,
    new_tokens: npt.ArrayLike,
    kv_len: npt.ArrayLike,
) -> list[OpCost]:
    """The step's attention: sliding-window layers over min(L, window), the rest over L."""
    L = _arr(kv_len)
    ops = []
    n_local = model.num_local_layers
    if n_local:
        window = float(model.sliding_window or 0)
        local_len = np.minimum(L, window)
        name = "attention_local"
        ops.append(attention_op(model, sh, batch, new_tokens, local_len, n_local, name))
    if model.num_layers - n_local:
        ops.append(attention_op(model, sh, batch, new_tokens, L, model.num_layers - n_local))
    return ops


def token_ops(model: ModelSpec, sh: Shard, tokens: npt.ArrayLike) -> list[OpCost]:
    """The operators whose cost depends only on the step's tokens (B·q): projections, MLP/MoE,
    norms, LM head, embedding. All but the MoE experts are affine in the tokens."""
    a = DTYPE_BYTES[model.dtype]
    t = _arr(tokens)
    n_layers, hd, hsz = model.num_layers, model.head_dim_eff, model.hidden_size
    q_pg, kv_pg = sh.heads * hd, sh.kv_heads * hd
    return [
        _linear("qkv_proj", n_layers, t, hsz, q_pg + 2 * kv_pg, model, model.qkv_bias),
        _linear("o_proj", n_layers, t, q_pg, hsz, model),
        *_mlp_ops(model, sh, t),
        OpCost(name="norms", count=n_layers * model.norms_per_layer + 1, flops=4.0 * t * hsz,
               weight_bytes=float(hsz * a), act_bytes=2.0 * t * hsz * a),
        _linear("lm_head", 1, t, hsz, sh.vocab, model, quantizable=False),
        OpCost(name="embedding", count=1, flops=0.0 * t, weight_bytes=t * hsz * a,
               act_bytes=t * hsz * a),
    ]  # fmt: skip


def _mlp_ops(model: ModelSpec, sh: Shard, tokens: Array) -> list[OpCost]:
    """Gated MLP (gate, up, down), or the MoE experts this many tokens actually touch."""
    hsz, n_layers, a = model.hidden_size, model.num_layers, DTYPE_BYTES[model.dtype]
    if model.moe is None:
        op = _linear("mlp", n_layers, tokens, hsz, 3 * sh.intermediate, model)
        # The intermediate activation is written by gate/up and read by down: 6·I per token.
        return [replace(op, act_bytes=tokens * (2 * hsz + 6 * sh.intermediate) * a)]
    m = model.moe
    touched = expected_experts_touched(m.num_experts, m.experts_per_token, tokens)
    expert_w = 3 * hsz * sh.intermediate * model.linear_weight_bytes_per_parameter
    per_token = 2.0 * m.experts_per_token * 3 * hsz * sh.intermediate
    ops = [
        OpCost(name="moe_experts", count=n_layers, flops=per_token * tokens,
               weight_bytes=touched * expert_w,
               act_bytes=tokens * m.experts_per_token * (2 * hsz + 6 * sh.intermediate) * a,
               kind="gemm", quantized=model.quantized_weight_dtype is not None),
        _linear("router", n_layers, tokens, hsz, m.num_experts, model, quantizable=False),
    ]  # fmt: skip
    if m.shared_experts:
        width = (m.shared_expert_intermediate_size or m.expert_intermediate_size) / sh.num_gpus
        ops.append(
            _linear("shared_experts", n_layers, tokens, hsz, 3 * width * m.shared_experts, model)
        )
    return ops


def fusion_ops(
    model: ModelSpec, sh: Shard, tokens: npt.ArrayLike, *, inputs: int, attention_inputs: int,
    layers: int,
) -> list[OpCost]:  # fmt: skip
    """What a feature-fed draft head (EAGLE, EAGLE-3, MTP) adds to its decoder layers: the FC
    that fuses `inputs` vectors of width h into one (replicated on every GPU, as engines run
    it), and, when its Q/K/V read `attention_inputs` > 1 vectors (EAGLE-3: the embedding beside
    the fused feature), the extra input columns of each layer's QKV projection."""
    t, h, hd = _arr(tokens), model.hidden_size, model.head_dim_eff
    ops = [_linear("fusion_fc", 1, t, inputs * h, h, model)] if inputs else []
    if attention_inputs > 1:
        width = (sh.heads + 2 * sh.kv_heads) * hd
        ops.append(_linear("qkv_extra_input", layers, t, (attention_inputs - 1) * h, width, model))
    return ops


def medusa_ops(
    model: ModelSpec, sh: Shard, tokens: npt.ArrayLike, heads: int, head_layers: int
) -> list[OpCost]:
    """Medusa's heads on the target's last hidden state: per head `head_layers` ResBlocks
    (h × h linear with bias, SiLU, residual; replicated) and an LM head of its own (h × V,
    vocab-parallel like the target's)."""
    t, h = _arr(tokens), model.hidden_size
    return [
        _linear("medusa_resblock", heads * head_layers, t, h, h, model, bias=True),
        _linear("medusa_lm_head", heads, t, h, sh.vocab, model, quantizable=False),
    ]


def allreduce_bytes(model: ModelSpec, batch: npt.ArrayLike, new_tokens: npt.ArrayLike) -> Array:
    """Bytes of one all-reduce of the step's activations (B·q·hidden values)."""
    return _arr(batch) * _arr(new_tokens) * model.hidden_size * DTYPE_BYTES[model.dtype]


def kv_bytes_per_token_per_gpu(model: ModelSpec, sh: Shard) -> float:
    """KV-cache bytes one token adds on one GPU, over all layers, in the cache's dtype."""
    return 2 * model.num_layers * sh.kv_heads * model.head_dim_eff * DTYPE_BYTES[model.cache_dtype]
