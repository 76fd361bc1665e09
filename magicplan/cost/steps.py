"""Step times: autoregressive, verify (γ+1 tokens), draft (self or small model, full or compressed
KV), prefill, and SnapKV's one-time selection. One `forward_time` serves them all."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from magicplan.cost.operators import (
    Array,
    allreduce_bytes,
    layer_ops,
    select_op,
    shard,
)
from magicplan.cost.roofline import Roofline, allreduce_time, gather_time, ops_time
from magicplan.errors import MagicplanError
from magicplan.specs.model import DTYPE_BYTES, ModelSpec

KV_METHODS = ("full", "streamingllm", "snapkv", "topk")
SNAPKV_WINDOW = 32  # observation-window queries that score the prompt (SnapKV, design.md §2)


@dataclass(frozen=True)
class StepTime:
    """Seconds of one step and its split by class (weights, kv, activations, compute, ...)."""

    total_s: Array
    breakdown: dict[str, Array]


def forward_time(
    model: ModelSpec,
    rf: Roofline,
    num_gpus: int,
    batch: npt.ArrayLike,
    new_tokens: npt.ArrayLike,
    kv_len: npt.ArrayLike,
    select_len: npt.ArrayLike | None = None,
    kv_dtype: str | None = None,
) -> StepTime:
    """One forward of `new_tokens` per sequence over `kv_len` cached tokens, on `num_gpus` GPUs.

    Adds, per layer, two all-reduces of the activations; once, the logits gather of the
    vocab-parallel LM head; and the fixed latencies (per step, per layer, per token and layer).
    """
    sh = shard(model, num_gpus)
    ops = layer_ops(model, sh, batch, new_tokens, kv_len, kv_dtype)
    if select_len is not None:
        ops.append(select_op(model, sh, batch, select_len, kv_dtype or model.dtype))
    parts = ops_time(ops, rf) | step_fixed_costs(model, rf, sh.num_gpus, batch, new_tokens)
    tokens = np.asarray(batch, dtype=np.float64) * np.asarray(new_tokens, dtype=np.float64)
    total = sum(parts.values(), np.zeros_like(tokens))
    return StepTime(np.asarray(total, dtype=np.float64), parts)


def step_fixed_costs(
    model: ModelSpec, rf: Roofline, num_gpus: int, batch: npt.ArrayLike, new_tokens: npt.ArrayLike
) -> dict[str, Array]:
    """What a step pays besides its operators: per layer two all-reduces of the activations and
    once the logits gather of the vocab-parallel LM head ("communication"); the fixed latencies
    per step, per layer and per token and layer ("overhead")."""
    tokens = np.asarray(batch, dtype=np.float64) * np.asarray(new_tokens, dtype=np.float64)
    logits_bytes = tokens * model.vocab_size * DTYPE_BYTES[model.dtype]
    comm = 2 * model.num_layers * allreduce_time(
        allreduce_bytes(model, batch, new_tokens), num_gpus, rf
    ) + gather_time(logits_bytes, num_gpus, rf)
    overhead = (
        rf.step_overhead_s
        + model.num_layers * (rf.layer_overhead_s + tokens * rf.token_layer_overhead_s)
        + 0.0 * tokens
    )
    return {"communication": comm, "overhead": overhead}


def autoregressive_time(
    model: ModelSpec, rf: Roofline, num_gpus: int, batch: npt.ArrayLike, context: npt.ArrayLike
) -> StepTime:
    """T_T: one decode step, one new token per sequence over `context` cached tokens."""
    return forward_time(model, rf, num_gpus, batch, 1.0, context)


def verify_time(
    model: ModelSpec,
    rf: Roofline,
    num_gpus: int,
    batch: npt.ArrayLike,
    context: npt.ArrayLike,
    gamma: npt.ArrayLike,
) -> StepTime:
    """T_V: the target scores γ drafted tokens plus one (γ+1 new tokens) over the full cache."""
    return forward_time(
        model, rf, num_gpus, batch, np.asarray(gamma, dtype=np.float64) + 1, context
    )


def check_method(kv_method: str) -> str:
    """Return `kv_method` if known, else a MagicplanError naming kv_method."""
    if kv_method not in KV_METHODS:
        raise MagicplanError(f"kv_method must be one of {', '.join(KV_METHODS)}; got '{kv_method}'")
    return kv_method


def draft_kv_len(
    kv_method: str, context: npt.ArrayLike, kv_budget: npt.ArrayLike, gamma: npt.ArrayLike
) -> tuple[Array, Array | None]:
    """Keys one draft step attends to, and the keys a per-step selection scans (top-k only).

    `full` attends the whole context; the compressed methods keep min(K, S) tokens; in every
    case the tokens drafted earlier in the round are appended (on average (γ-1)/2 of them).
    """
    check_method(kv_method)
    s = np.asarray(context, dtype=np.float64)
    k = np.asarray(kv_budget, dtype=np.float64)
    drafted = (np.asarray(gamma, dtype=np.float64) - 1.0) / 2.0
    base = s if kv_method == "full" else np.minimum(k, s)
    return base + drafted, (s if kv_method == "topk" else None)


def draft_time(
    draft_model: ModelSpec,
    rf: Roofline,
    num_gpus: int,
    batch: npt.ArrayLike,
    context: npt.ArrayLike,
    kv_method: str,
    kv_budget: npt.ArrayLike,
    gamma: npt.ArrayLike,
) -> StepTime:
    """T_D: one draft step of `draft_model` (the target itself for self-speculation).

    Static methods (StreamingLLM, SnapKV) select once at prefill, so their decode cost is flat in
    the context; top-k pays a selection pass over all keys every step.
    """
    kv_len, select = draft_kv_len(kv_method, context, kv_budget, gamma)
    return forward_time(draft_model, rf, num_gpus, batch, 1.0, kv_len, select_len=select)


def prefill_time(
    model: ModelSpec, rf: Roofline, num_gpus: int, batch: npt.ArrayLike, context: npt.ArrayLike
) -> StepTime:
    """Prefill of `context` prompt tokens per sequence (causal attention over the prompt)."""
    return forward_time(model, rf, num_gpus, batch, context, 0.0)


def snapkv_select_time(
    model: ModelSpec, rf: Roofline, num_gpus: int, batch: npt.ArrayLike, context: npt.ArrayLike
) -> Array:
    """SnapKV's one-time selection at prefill: 32 window queries score every prompt key, per layer.

    Returned separately: it is paid once per request, not per decode step.
    """
    sh = shard(model, num_gpus)
    op = select_op(model, sh, batch, context, model.dtype)
    scaled = type(op)(
        op.name, op.count, op.flops * SNAPKV_WINDOW, op.weight_bytes, op.kv_bytes, op.act_bytes
    )
    return np.asarray(sum(ops_time([scaled], rf).values()), dtype=np.float64)
