"""Draft KV views: StreamingLLM and SnapKV compressions of a prefilled cache, top-k selection
(docs/model.md §2).

StreamingLLM and SnapKV select once, at prefill: `compress` returns a new cache holding `budget`
tokens with room for `extra` more (the draft appends the tokens it generates: budget + generated,
not slid). The same selections, as `Keep` masks over the full cache (`keep_mask`), show a draft its
compressed view without copying — how `magicplan acceptance` scores a whole continuation in one
pass. Top-k selects per step: a `Keep` mask on the full cache (`topk_keep`).
"""

from __future__ import annotations

from typing import Any

from magicplan.calibration.torch_runner.model import Keep, KVCache
from magicplan.cost.methods import SINK_TOKENS, SNAPKV_POOL, SNAPKV_WINDOW

Tensor = Any
METHODS = ("full", "streamingllm", "snapkv", "topk")
__all__ = ["SINK_TOKENS", "SNAPKV_POOL", "SNAPKV_WINDOW", "compress", "keep_mask", "topk_keep"]


def min_budget(method: str) -> int:
    """The smallest budget `method` can compress to (above its fixed part); 1 for top-k."""
    return {"streamingllm": SINK_TOKENS + 1, "snapkv": SNAPKV_WINDOW + 1}.get(method, 1)


def _empty_like(cache: KVCache, tokens: int) -> KVCache:
    import torch

    b, kvh, _, d = cache.k[0].shape
    like = cache.k[0]
    k = [torch.empty((b, kvh, tokens, d), dtype=like.dtype, device=like.device) for _ in cache.k]
    v = [torch.empty((b, kvh, tokens, d), dtype=like.dtype, device=like.device) for _ in cache.v]
    return KVCache(k, v, 0)


def copy_cache(cache: KVCache, extra: int) -> KVCache:
    """An uncompressed copy of the used part of `cache` (the `full` method), room for `extra`."""
    n = cache.length
    out = _empty_like(cache, n + extra)
    for dst, src in zip(out.k + out.v, cache.k + cache.v, strict=True):
        dst[:, :, :n] = src[:, :, :n]
    out.length = n
    return out


def streamingllm_positions(n: int, budget: int, device: Any = "cpu") -> Tensor:
    """Positions StreamingLLM keeps of an `n`-token prompt: the first SINK_TOKENS and the most
    recent budget - SINK_TOKENS, ascending (budget,)."""
    import torch

    if budget <= SINK_TOKENS:
        raise ValueError(f"StreamingLLM needs a budget above {SINK_TOKENS} sink tokens")
    recent = budget - SINK_TOKENS
    return torch.cat([torch.arange(SINK_TOKENS), torch.arange(n - recent, n)]).to(device)


def streamingllm(cache: KVCache, budget: int, extra: int) -> KVCache:
    """Keep the first SINK_TOKENS and the most recent budget - SINK_TOKENS tokens."""
    n = cache.length
    if n <= budget:
        return copy_cache(cache, extra)
    kept = streamingllm_positions(n, budget, cache.k[0].device)
    out = _empty_like(cache, budget + extra)
    for dst, src in zip(out.k + out.v, cache.k + cache.v, strict=True):
        dst[:, :, :budget] = src[:, :, kept]
    out.length = budget
    return out


def snapkv_scores(queries: Tensor, keys: Tensor) -> Tensor:
    """Pooled attention of the window queries on each prefix key, per KV head (B, kv_heads, P).

    queries (B, heads, W, d) are the last W prompt positions; keys (B, kv_heads, n, d) the whole
    prompt. The window attends causally; each query head's weights are summed over the window,
    averaged over its KV head's group, and smoothed with an average pool of kernel SNAPKV_POOL.
    """
    import torch
    import torch.nn.functional as F

    b, heads, w, d = queries.shape
    kvh, n = keys.shape[1], keys.shape[2]
    group = heads // kvh
    q = queries.reshape(b, kvh, group * w, d)
    scores = torch.matmul(q, keys.transpose(-1, -2)) * d**-0.5
    rows = torch.arange(w, device=keys.device).repeat(group) + (n - w)
    causal = torch.arange(n, device=keys.device)[None, :] > rows[:, None]
    probs = torch.softmax(scores.masked_fill(causal, float("-inf")), dim=-1)
    votes = probs[..., : n - w].reshape(b, kvh, group, w, n - w).sum(dim=3).mean(dim=2)
    pooled = F.avg_pool1d(
        votes.reshape(b * kvh, 1, n - w).float(),
        SNAPKV_POOL,
        stride=1,
        padding=SNAPKV_POOL // 2,
    )
    return pooled.reshape(b, kvh, n - w)


def snapkv_positions(queries: Tensor, keys: Tensor, budget: int) -> Tensor:
    """Positions SnapKV keeps per KV head (B, kv_heads, budget), ascending: the budget -
    SNAPKV_WINDOW prefix tokens the window votes for, then the window itself.

    queries (B, heads, SNAPKV_WINDOW, d) are one layer's last rotated prompt queries, keys
    (B, kv_heads, n, d) that layer's prompt keys.
    """
    import torch

    n = keys.shape[2]
    if budget <= SNAPKV_WINDOW or queries.shape[2] != SNAPKV_WINDOW:
        raise ValueError(f"SnapKV needs a budget above {SNAPKV_WINDOW} and that many queries")
    top = snapkv_scores(queries, keys).topk(budget - SNAPKV_WINDOW, dim=-1).indices
    window = torch.arange(n - SNAPKV_WINDOW, n, device=keys.device).expand(*top.shape[:2], -1)
    return torch.cat([top.sort(dim=-1).values, window], dim=-1)


def snapkv(cache: KVCache, queries: list[Tensor], budget: int, extra: int) -> KVCache:
    """Per KV head, keep the budget - SNAPKV_WINDOW prefix tokens the window votes for, then the
    window itself; `queries` are each layer's last SNAPKV_WINDOW rotated prompt queries."""
    import torch

    n = cache.length
    if n <= budget:
        return copy_cache(cache, extra)
    out = _empty_like(cache, budget + extra)
    for i, q in enumerate(queries):
        k, v = cache.k[i][:, :, :n], cache.v[i][:, :, :n]
        idx = snapkv_positions(q, k, budget)[..., None].expand(-1, -1, -1, k.shape[-1])
        out.k[i][:, :, :budget] = torch.gather(k, 2, idx)
        out.v[i][:, :, :budget] = torch.gather(v, 2, idx)
    out.length = budget
    return out


def compress(
    method: str, cache: KVCache, budget: int, extra: int, queries: list[Tensor] | None = None
) -> KVCache:
    """The draft cache for `method` ('full', 'streamingllm' or 'snapkv'; 'topk' keeps the full
    cache and selects per step with `topk_keep`)."""
    if method in ("full", "topk"):
        return copy_cache(cache, extra)
    if method == "streamingllm":
        return streamingllm(cache, budget, extra)
    if method == "snapkv":
        if queries is None:
            raise ValueError("SnapKV needs the prefill's window queries")
        return snapkv(cache, queries, budget, extra)
    raise ValueError(f"the torch runner compresses with {', '.join(METHODS)}, not {method}")


def topk_keep(prompt: int, budget: int) -> Keep:
    """Top-k per step: each query head of each new token attends to its `budget` highest-scoring
    prompt keys (of the first `prompt` cached) and to every key cached after the prompt."""
    import torch

    def keep(layer: int, scores: Tensor) -> Tensor:
        mask = torch.ones(scores.shape, dtype=torch.bool, device=scores.device)
        if prompt > budget:
            top = scores[..., :prompt].topk(budget, dim=-1).indices
            mask[..., :prompt] = False
            mask[..., :prompt].scatter_(-1, top, True)
        return mask

    return keep


def keep_mask(
    method: str, cache: KVCache, budget: int, queries: list[Tensor] | None = None
) -> Keep:
    """`method`'s view of the `cache.length`-token prompt in `cache`, as a `Keep` mask: the
    positions `compress` would keep (per layer and KV head for SnapKV) plus every key cached after
    the prompt; top-k selects per step. Over the full cache this equals the compressed cache."""
    import torch

    n = cache.length
    if method == "topk":
        return topk_keep(n, budget)
    if method == "full" or n <= budget:
        return lambda layer, scores: torch.ones((1, 1, 1, 1), dtype=torch.bool)
    b, kvh = cache.k[0].shape[:2]
    masks = []
    for i in range(len(cache.k)):
        if method == "streamingllm":
            kept = streamingllm_positions(n, budget, cache.k[0].device).expand(b, kvh, -1)
        elif method == "snapkv" and queries is not None:
            kept = snapkv_positions(queries[i], cache.k[i][:, :, :n], budget)
        else:
            raise ValueError(f"no {method} mask (SnapKV needs the prefill's window queries)")
        mask = torch.zeros((b, kvh, 1, n), dtype=torch.bool, device=kept.device)
        masks.append(mask.scatter_(-1, kept[:, :, None, :], True))

    def keep(layer: int, scores: Tensor) -> Tensor:
        extra = scores.shape[-1] - n  # keys cached after the prompt: always seen
        tail = masks[layer].new_ones((*masks[layer].shape[:3], extra))
        return torch.cat([masks[layer], tail], dim=-1)

    return keep
