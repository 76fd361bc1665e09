"""Memory per GPU: weights + target KV + draft weights + draft KV + activations, against capacity
minus a reserve (engines keep ~10 %: vLLM's default gpu_memory_utilization is 0.9)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from magicplan.cost.operators import Array, Shard, shard
from magicplan.specs.model import DTYPE_BYTES, ModelSpec

DEFAULT_MEMORY_UTILIZATION = 0.9  # vLLM EngineArgs.gpu_memory_utilization default
LOGITS_BYTES = 4  # engines keep sampled logits in float32


def weight_bytes_per_gpu(model: ModelSpec, sh: Shard) -> float:
    """Weights on one GPU: 1/N of everything, plus replicated K/V projections when KV heads < N."""
    a = DTYPE_BYTES[model.dtype]
    replicated = (
        model.num_layers
        * 2
        * model.hidden_size
        * model.head_dim_eff
        * (sh.kv_heads - model.num_kv_heads / sh.num_gpus)
    )
    return (model.num_parameters / sh.num_gpus + replicated) * a


def kv_cache_bytes_per_gpu(
    model: ModelSpec, sh: Shard, batch: npt.ArrayLike, tokens: npt.ArrayLike
) -> Array:
    """KV cache of `tokens` tokens per sequence on one GPU (sliding-window layers keep a window)."""
    b, t = np.asarray(batch, dtype=np.float64), np.asarray(tokens, dtype=np.float64)
    per_layer_token = 2 * sh.kv_heads * model.head_dim_eff * DTYPE_BYTES[model.dtype]
    n_local = model.num_local_layers
    kept = (model.num_layers - n_local) * t
    if n_local:
        kept = kept + n_local * np.minimum(t, float(model.sliding_window or 0))
    return b * kept * per_layer_token


def activation_bytes_per_gpu(
    model: ModelSpec, sh: Shard, batch: npt.ArrayLike, new_tokens: npt.ArrayLike
) -> Array:
    """Live activations of one step plus the float32 logits gathered for sampling."""
    tokens = np.asarray(batch, dtype=np.float64) * np.asarray(new_tokens, dtype=np.float64)
    a = DTYPE_BYTES[model.dtype]
    hd = model.head_dim_eff
    width = 4 * model.hidden_size + 2 * sh.intermediate + (sh.heads + 2 * sh.kv_heads) * hd
    return tokens * (width * a + model.vocab_size * LOGITS_BYTES)


def memory_per_gpu(
    target: ModelSpec,
    num_gpus: int,
    batch: npt.ArrayLike,
    context: npt.ArrayLike,
    gamma: npt.ArrayLike = 0,
    draft: ModelSpec | None = None,
    draft_num_gpus: int | None = None,
    kv_method: str = "full",
    kv_budget: npt.ArrayLike = 0,
    speculative: bool = True,
) -> dict[str, Array]:
    """Bytes on the busiest GPU, by part. `draft=None` means self-speculation (or AR when
    `speculative` is False). A compressed self-draft keeps its own budgeted cache; a full-KV
    self-draft shares the target's cache."""
    sh = shard(target, num_gpus)
    b = np.asarray(batch, dtype=np.float64)
    s = np.asarray(context, dtype=np.float64)
    g = np.asarray(gamma, dtype=np.float64) if speculative else 0.0 * s
    zero = 0.0 * b * s * g
    parts = {
        "weights": weight_bytes_per_gpu(target, sh) + zero,
        "kv": kv_cache_bytes_per_gpu(target, sh, b, s + g + 1) + zero,
        "draft_weights": zero,
        "draft_kv": zero,
        "activations": activation_bytes_per_gpu(target, sh, b, g + 1) + zero,
    }
    if speculative:
        draft_tokens = s if kv_method == "full" else np.minimum(np.asarray(kv_budget, float), s)
        draft_tokens = draft_tokens + g
        if draft is None:
            if kv_method != "full":
                parts["draft_kv"] = kv_cache_bytes_per_gpu(target, sh, b, draft_tokens) + zero
        else:
            dsh = shard(draft, draft_num_gpus or num_gpus)
            parts["draft_weights"] = weight_bytes_per_gpu(draft, dsh) + zero
            parts["draft_kv"] = kv_cache_bytes_per_gpu(draft, dsh, b, draft_tokens) + zero
    parts["total"] = sum(parts.values(), zero)
    return parts


def usable_bytes(
    memory_bytes: float, memory_utilization: float = DEFAULT_MEMORY_UTILIZATION
) -> float:
    """Capacity an engine may fill: device memory x utilization."""
    return memory_bytes * memory_utilization


def max_batch(
    capacity_bytes: float, fixed_bytes: npt.ArrayLike, per_sequence_bytes: npt.ArrayLike
) -> Array:
    """Largest whole batch with fixed + B x per_sequence <= capacity (0 when nothing fits)."""
    room = capacity_bytes - np.asarray(fixed_bytes, dtype=np.float64)
    per = np.asarray(per_sequence_bytes, dtype=np.float64)
    return np.maximum(np.floor(room / np.maximum(per, 1e-30)), 0.0)
