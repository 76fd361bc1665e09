"""Draft KV caches: StreamingLLM and SnapKV compressions of a prefilled cache (docs/model.md §2).

Both select once, at prefill, and return a new cache holding `budget` tokens with room for
`extra` more: the draft appends the tokens it generates (budget + generated, not slid).
"""

from __future__ import annotations

from typing import Any

from magicplan.calibration.torch_runner.model import KVCache
from magicplan.cost.methods import SINK_TOKENS, SNAPKV_POOL, SNAPKV_WINDOW

Tensor = Any


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


def streamingllm(cache: KVCache, budget: int, extra: int) -> KVCache:
    """Keep the first SINK_TOKENS and the most recent budget - SINK_TOKENS tokens."""
    n = cache.length
    if n <= budget:
        return copy_cache(cache, extra)
    if budget <= SINK_TOKENS:
        raise ValueError(f"StreamingLLM needs a budget above {SINK_TOKENS} sink tokens")
    recent = budget - SINK_TOKENS
    out = _empty_like(cache, budget + extra)
    for dst, src in zip(out.k + out.v, cache.k + cache.v, strict=True):
        dst[:, :, :SINK_TOKENS] = src[:, :, :SINK_TOKENS]
        dst[:, :, SINK_TOKENS:budget] = src[:, :, n - recent : n]
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


def snapkv(cache: KVCache, queries: list[Tensor], budget: int, extra: int) -> KVCache:
    """Per KV head, keep the budget - SNAPKV_WINDOW prefix tokens the window votes for, then the
    window itself; `queries` are each layer's last SNAPKV_WINDOW rotated prompt queries."""
    import torch

    n = cache.length
    if n <= budget:
        return copy_cache(cache, extra)
    if budget <= SNAPKV_WINDOW or queries[0].shape[2] != SNAPKV_WINDOW:
        raise ValueError(f"SnapKV needs a budget above {SNAPKV_WINDOW} and that many queries")
    keep = budget - SNAPKV_WINDOW
    out = _empty_like(cache, budget + extra)
    for i, q in enumerate(queries):
        k, v = cache.k[i][:, :, :n], cache.v[i][:, :, :n]
        top = snapkv_scores(q, k).topk(keep, dim=-1).indices.sort(dim=-1).values
        idx = top[..., None].expand(-1, -1, -1, k.shape[-1])
        out.k[i][:, :, :keep] = torch.gather(k, 2, idx)
        out.v[i][:, :, :keep] = torch.gather(v, 2, idx)
        out.k[i][:, :, keep:budget] = k[:, :, n - SNAPKV_WINDOW :]
        out.v[i][:, :, keep:budget] = v[:, :, n - SNAPKV_WINDOW :]
    out.length = budget
    return out


def compress(
    method: str, cache: KVCache, budget: int, extra: int, queries: list[Tensor] | None = None
) -> KVCache:
    """The draft cache for `method` ('full', 'streamingllm' or 'snapkv')."""
    if method == "full":
        return copy_cache(cache, extra)
    if method == "streamingllm":
        return streamingllm(cache, budget, extra)
    if method == "snapkv":
        if queries is None:
            raise ValueError("SnapKV needs the prefill's window queries")
        return snapkv(cache, queries, budget, extra)
    raise ValueError(f"the torch runner compresses with full, streamingllm or snapkv, not {method}")
