"""Memory per GPU: weights + target KV + draft weights + draft KV + activations, against capacity
minus a reserve (engines keep ~10 %: vLLM's default gpu_memory_utilization is 0.9)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

from magicplan.cost.operators import Array, Shard, add_into, shard
from magicplan.specs.drafts import DraftKindSpec
from magicplan.specs.model import DTYPE_BYTES, ModelSpec

Draft = ModelSpec | DraftKindSpec | None  # a small model, a drafting family, None: self

DEFAULT_MEMORY_UTILIZATION = 0.9  # vLLM EngineArgs.gpu_memory_utilization default
LOGITS_BYTES = 4  # engines keep sampled logits in float32


def weight_bytes_per_gpu(model: ModelSpec, sh: Shard) -> float:
    """Weights on one GPU: 1/N of everything (linear layers in their storage format), plus
    replicated K/V projections when KV heads < N."""
    replicated = (
        model.num_layers
        * 2
        * model.hidden_size
        * model.head_dim_eff
        * (sh.kv_heads - model.num_kv_heads / sh.num_gpus)
    )
    return _weight_bytes(model) / sh.num_gpus + replicated * model.linear_weight_bytes_per_parameter


@lru_cache(maxsize=256)
def _weight_bytes(model: ModelSpec) -> float:
    """`model.weight_bytes()`, once per model (specs are frozen; the planner asks often)."""
    return model.weight_bytes()


def kv_cache_bytes_per_gpu(
    model: ModelSpec, sh: Shard, batch: npt.ArrayLike, tokens: npt.ArrayLike
) -> Array:
    """KV cache of `tokens` tokens per sequence on one GPU (sliding-window layers keep a window)."""
    b, t = np.asarray(batch, dtype=np.float64), np.asarray(tokens, dtype=np.float64)
    per_layer_token = 2 * sh.kv_heads * model.head_dim_eff * DTYPE_BYTES[model.cache_dtype]
    n_local = model.num_local_layers
    kept = t * float((model.num_layers - n_local) * per_layer_token)
    if n_local:
        kept = kept + np.minimum(t, float(model.sliding_window or 0)) * float(
            n_local * per_layer_token
        )
    return kept if b.ndim == 0 and b == 1.0 else b * kept  # per sequence: no pass over 1.0


def activation_bytes_per_gpu(
    model: ModelSpec, sh: Shard, batch: npt.ArrayLike, new_tokens: npt.ArrayLike
) -> Array:
    """Live activations of one step plus the float32 logits gathered for sampling."""
    b = np.asarray(batch, dtype=np.float64)
    q = np.asarray(new_tokens, dtype=np.float64)
    tokens = q if b.ndim == 0 and b == 1.0 else b * q
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
    draft: Draft = None,
    draft_num_gpus: int | None = None,
    kv_method: str = "full",
    kv_budget: npt.ArrayLike = 0,
    speculative: bool = True,
) -> dict[str, Array]:
    """Bytes on the busiest GPU, by part (and "total"): what `memory_terms` gives, for `batch`
    sequences."""
    b = np.asarray(batch, dtype=np.float64)
    fixed, per_sequence = memory_terms(
        target, num_gpus, context, gamma, draft, draft_num_gpus, kv_method, kv_budget, speculative
    )
    shape = np.broadcast_shapes(b.shape, *(np.shape(v) for v in per_sequence.values()))
    scaled = {k: b * v for k, v in per_sequence.items()}
    parts = {k: np.broadcast_to(fixed[k] if k in fixed else scaled[k], shape) for k in MEMORY_PARTS}
    total = np.broadcast_to(total_bytes(fixed, per_sequence, b), shape)
    return parts | {"total": total}


def total_bytes(
    fixed: dict[str, float], per_sequence: dict[str, Array], batch: npt.ArrayLike
) -> Array:
    """Bytes on one GPU for `batch` sequences: Σ fixed + batch · Σ per sequence (`memory_terms`)."""
    b = np.asarray(batch, dtype=np.float64)
    return add_into(b * sum(per_sequence.values(), np.zeros(())), sum(fixed.values()))


MEMORY_PARTS = ("weights", "kv", "draft_weights", "draft_kv", "activations")


def memory_terms(
    target: ModelSpec,
    num_gpus: int,
    context: npt.ArrayLike,
    gamma: npt.ArrayLike = 0,
    draft: Draft = None,
    draft_num_gpus: int | None = None,
    kv_method: str = "full",
    kv_budget: npt.ArrayLike = 0,
    speculative: bool = True,
    verified: npt.ArrayLike | None = None,
) -> tuple[dict[str, float], dict[str, Array]]:
    """Bytes on the busiest GPU, split into what does not grow with the batch (weights,
    draft_weights) and what each sequence adds (kv, draft_kv, activations).

    `draft=None` means self-speculation (or AR when `speculative` is False). A compressed
    self-draft keeps its own budgeted cache; a full-KV self-draft shares the target's cache.
    A drafting family adds its layers' (or heads') weights and, for EAGLE and MTP, its own
    cache. `verified`: tokens verified per sequence (default γ + 1; a tree's N).
    """
    from magicplan.cost.drafts import Drafter

    sh = shard(target, num_gpus)
    s = np.asarray(context, dtype=np.float64)
    g = np.asarray(gamma, dtype=np.float64) if speculative else np.float64(0.0)
    q = g + 1 if verified is None or not speculative else np.asarray(verified, np.float64)
    fixed = {"weights": weight_bytes_per_gpu(target, sh), "draft_weights": 0.0}
    per_sequence = {
        "kv": kv_cache_bytes_per_gpu(target, sh, 1.0, s + q),
        "draft_kv": np.zeros(()),
        "activations": activation_bytes_per_gpu(target, sh, 1.0, q),
    }
    if not speculative:
        return fixed, per_sequence
    drafter = Drafter(target, draft)
    draft_tokens = s if kv_method == "full" else np.minimum(np.asarray(kv_budget, float), s)
    draft_tokens = draft_tokens + g * drafter.branch
    if draft is None:
        if kv_method != "full":
            per_sequence["draft_kv"] = kv_cache_bytes_per_gpu(target, sh, 1.0, draft_tokens)
    elif isinstance(draft, ModelSpec):
        dsh = shard(draft, draft_num_gpus or num_gpus)
        fixed["draft_weights"] = weight_bytes_per_gpu(draft, dsh)
        per_sequence["draft_kv"] = kv_cache_bytes_per_gpu(draft, dsh, 1.0, draft_tokens)
    else:
        fixed["draft_weights"] = drafter.weight_bytes_per_gpu(num_gpus)
        per_token = drafter.kv_bytes_per_token_per_gpu(num_gpus)
        if per_token:
            per_sequence["draft_kv"] = per_token * draft_tokens
    return fixed, per_sequence


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
