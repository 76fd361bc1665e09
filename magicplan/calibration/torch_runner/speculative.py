"""Greedy decoding, plain and speculative (the gpt-fast meaning of a speculative step).

A round drafts γ tokens greedily over the draft's cache (compressed, or a small model's own),
verifies γ+1 tokens (the pending one and the γ drafts) over the target's full cache, accepts the
longest prefix the target agrees with, and emits it plus one bonus/correction token from the
target. Caches hold every emitted token but the last (the pending one); a rejected suffix is rolled
back by shortening `length`. In a batch, every sequence advances by the shortest accepted prefix,
which keeps lengths equal and the output exactly greedy for each sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from magicplan.calibration.torch_runner.compress import compress
from magicplan.calibration.torch_runner.model import KVCache, Weights, forward, greedy, new_cache
from magicplan.cost.methods import SNAPKV_WINDOW

Tensor = Any


@dataclass
class Drafter:
    """Who drafts: weights (the target's own for self-speculation) and the cache they read."""

    weights: Weights
    cache: KVCache


@dataclass
class SpecStats:
    """Accepted drafts per round (shortest over the batch)."""

    accepted: list[int] = field(default_factory=list)


def prefill(
    w: Weights, prompt: Tensor, capacity: int, window: int = 0
) -> tuple[KVCache, Tensor, list[Tensor]]:
    """Fill a new cache with `prompt` (B, P): the cache, the first token (B, 1), window queries."""
    cache = new_cache(w.spec, prompt.shape[0], capacity, str(prompt.device))
    logits, queries = forward(w, cache, prompt, 0, last_only=True, window=window)
    return cache, greedy(logits), queries


def greedy_generate(w: Weights, prompt: Tensor, new_tokens: int) -> Tensor:
    """Plain autoregressive greedy decoding: `new_tokens` tokens per sequence (B, new_tokens)."""
    import torch

    cache, token, _ = prefill(w, prompt, prompt.shape[1] + new_tokens)
    out = [token]
    for _ in range(new_tokens - 1):
        logits, _ = forward(w, cache, token, cache.length)
        token = greedy(logits)
        out.append(token)
    return torch.cat(out, dim=1)


def draft_tokens(d: Drafter, pending: Tensor, position: int, gamma: int) -> Tensor:
    """γ greedy draft tokens (B, γ) after `pending`, which sits at `position` in the sequence."""
    import torch

    token, out = pending, []
    for i in range(gamma):
        logits, _ = forward(d.weights, d.cache, token, position + i)
        token = greedy(logits)
        out.append(token)
    return torch.cat(out, dim=1)


def speculative_round(
    target: Weights, cache: KVCache, d: Drafter, pending: Tensor, gamma: int
) -> tuple[Tensor, int]:
    """One draft-and-verify round: the emitted tokens (B, n+1) and n, the drafts accepted."""
    import torch

    position, draft_base = cache.length, d.cache.length
    drafts = draft_tokens(d, pending, position, gamma)
    logits, _ = forward(target, cache, torch.cat([pending, drafts], dim=1), position)
    verdict = greedy(logits)  # verdict[:, i] is the target's token after input i
    agree = (drafts == verdict[:, :gamma]).to(torch.int64).cumprod(dim=1)
    n = int(agree.sum(dim=1).min())
    cache.length = position + 1 + n  # pending and the accepted drafts stay
    if n == gamma:  # the last draft was never fed to the drafter: fill its cache entry
        forward(d.weights, d.cache, drafts[:, -1:], position + gamma)
    d.cache.length = draft_base + 1 + n
    return torch.cat([drafts[:, :n], verdict[:, n : n + 1]], dim=1), n


def speculative_generate(
    target: Weights,
    prompt: Tensor,
    new_tokens: int,
    gamma: int,
    method: str = "streamingllm",
    budget: int = 64,
    draft: Weights | None = None,
) -> tuple[Tensor, SpecStats]:
    """Speculative greedy decoding of `new_tokens` tokens per sequence.

    Self-speculation (`draft` None) drafts with the target's weights over its cache compressed by
    `method` to `budget` tokens; a separate `draft` model (same vocabulary) drafts over its own
    prefilled cache, compressed the same way ('full' keeps it whole).
    """
    import torch

    room = new_tokens + gamma + 1
    window = SNAPKV_WINDOW if method == "snapkv" else 0
    cache, pending, queries = prefill(target, prompt, prompt.shape[1] + room, window)
    if draft is None:
        drafter = Drafter(target, compress(method, cache, budget, room, queries))
    else:
        d_cache, _, d_queries = prefill(draft, prompt, prompt.shape[1] + room, window)
        drafter = Drafter(draft, compress(method, d_cache, budget, room, d_queries))
    out, stats, emitted = [pending], SpecStats(), 1
    while emitted < new_tokens:
        tokens, n = speculative_round(target, cache, drafter, pending, gamma)
        out.append(tokens)
        stats.accepted.append(n)
        emitted += tokens.shape[1]
        pending = tokens[:, -1:]
    return torch.cat(out, dim=1)[:, :new_tokens], stats
