"""Decoding, plain and speculative (the gpt-fast meaning of a speculative step).

A round drafts γ tokens over the draft's cache (compressed, or a small model's own), verifies γ+1
tokens (the pending one and the γ drafts) over the target's full cache, accepts the longest prefix
the target agrees with, and emits it plus one bonus/correction token from the target. Caches hold
every emitted token but the last (the pending one); a rejected suffix is rolled back by shortening
`length`. In a batch, every sequence advances by the shortest accepted prefix, which keeps lengths
equal and each sequence's output exactly what its own decoding would give.

Greedy (temperature 0): a draft is accepted when it is the target's argmax, and the output is the
target's greedy output token for token. Sampling (temperature T > 0): speculative sampling
(Leviathan, Kalman & Matias, ICML 2023, algorithm 1; Chen et al., arXiv 2302.01318): draft x ~ q
is accepted with probability min(1, p(x)/q(x)), a rejection is replaced by a sample of
norm(max(0, p − q)), so every emitted token is distributed as the target's p; p and q are
softmax(logits / T).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from magicplan.calibration.torch_runner.compress import compress, topk_keep
from magicplan.calibration.torch_runner.model import (
    Keep,
    KVCache,
    Weights,
    forward,
    greedy,
    new_cache,
)
from magicplan.cost.methods import SNAPKV_WINDOW

Tensor = Any


@dataclass(frozen=True)
class Sampler:
    """How tokens are picked: argmax at temperature 0, else drawn from softmax(logits / T)."""

    temperature: float = 0.0
    generator: Any = None  # torch.Generator, for reproducible draws

    def probs(self, logits: Tensor) -> Tensor:
        """softmax(logits / T) in float32 over the vocabulary (T > 0)."""
        import torch

        return torch.softmax(logits.float() / self.temperature, dim=-1)

    def pick(self, logits: Tensor) -> Tensor:
        """Next tokens (B, q) from logits (B, q, vocab)."""
        if self.temperature == 0:
            return greedy(logits)
        return self.draw(self.probs(logits))

    def draw(self, probs: Tensor) -> Tensor:
        """One token per row of probs (..., vocab)."""
        import torch

        flat = probs.reshape(-1, probs.shape[-1])
        return torch.multinomial(flat, 1, generator=self.generator).reshape(probs.shape[:-1])


GREEDY = Sampler()


@dataclass
class Drafter:
    """Who drafts: weights (the target's own for self-speculation) and the cache they read."""

    weights: Weights
    cache: KVCache
    keep: Keep | None = None  # per-step selection over `cache` (top-k); None: all of it


@dataclass
class SpecStats:
    """Accepted drafts per round (shortest over the batch)."""

    accepted: list[int] = field(default_factory=list)


def prefill(
    w: Weights, prompt: Tensor, capacity: int, window: int = 0, sampler: Sampler = GREEDY
) -> tuple[KVCache, Tensor, list[Tensor]]:
    """Fill a new cache with `prompt` (B, P): the cache, the first token (B, 1), window queries."""
    cache = new_cache(w.spec, prompt.shape[0], capacity, str(prompt.device))
    logits, queries = forward(w, cache, prompt, 0, last_only=True, window=window)
    return cache, sampler.pick(logits), queries


def continue_from(
    w: Weights, cache: KVCache, token: Tensor, new_tokens: int, sampler: Sampler = GREEDY
) -> Tensor:
    """`token` (B, 1) and `new_tokens` - 1 more, each fed back through `cache`: (B, new_tokens)."""
    import torch

    out = [token]
    for _ in range(new_tokens - 1):
        logits, _ = forward(w, cache, token, cache.length)
        token = sampler.pick(logits)
        out.append(token)
    return torch.cat(out, dim=1)


def generate(w: Weights, prompt: Tensor, new_tokens: int, sampler: Sampler = GREEDY) -> Tensor:
    """Plain autoregressive decoding: `new_tokens` tokens per sequence (B, new_tokens)."""
    cache, token, _ = prefill(w, prompt, prompt.shape[1] + new_tokens, sampler=sampler)
    return continue_from(w, cache, token, new_tokens, sampler)


def greedy_generate(w: Weights, prompt: Tensor, new_tokens: int) -> Tensor:
    """Plain autoregressive greedy decoding: `new_tokens` tokens per sequence (B, new_tokens)."""
    return generate(w, prompt, new_tokens)


def _draft(
    d: Drafter, pending: Tensor, position: int, gamma: int, sampler: Sampler
) -> tuple[Tensor, Tensor]:
    """γ draft tokens (B, γ) after `pending` (at `position`), and the draft's logits (B, γ, V)."""
    import torch

    token, out, logits = pending, [], []
    for i in range(gamma):
        step, _ = forward(d.weights, d.cache, token, position + i, keep=d.keep)
        token = sampler.pick(step)
        out.append(token)
        logits.append(step)
    return torch.cat(out, dim=1), torch.cat(logits, dim=1)


def draft_tokens(d: Drafter, pending: Tensor, position: int, gamma: int) -> Tensor:
    """γ greedy draft tokens (B, γ) after `pending`, which sits at `position` in the sequence."""
    return _draft(d, pending, position, gamma, GREEDY)[0]


def verify(
    drafts: Tensor, draft_logits: Tensor, target_logits: Tensor, sampler: Sampler
) -> tuple[Tensor, Tensor]:
    """Per draft, whether the target accepts it (B, γ); per position, the target's token when the
    draft there is rejected, or the bonus token after the last (B, γ+1)."""
    import torch

    if sampler.temperature == 0:
        verdict = greedy(target_logits)  # verdict[:, i] is the target's token after input i
        return drafts == verdict[:, : drafts.shape[1]], verdict
    p, q = sampler.probs(target_logits), sampler.probs(draft_logits)
    gamma = drafts.shape[1]
    p_x = p[:, :gamma].gather(-1, drafts[..., None])[..., 0]
    q_x = q.gather(-1, drafts[..., None])[..., 0]
    u = torch.rand(p_x.shape, generator=sampler.generator, device=p_x.device)
    residual = (p[:, :gamma] - q).clamp_(min=0)
    residual = torch.where(residual.sum(-1, keepdim=True) > 0, residual, p[:, :gamma])
    correction = sampler.draw(torch.cat([residual, p[:, gamma:]], dim=1))
    return u * q_x < p_x, correction  # accepted with probability min(1, p(x) / q(x))


def speculative_round(
    target: Weights,
    cache: KVCache,
    d: Drafter,
    pending: Tensor,
    gamma: int,
    sampler: Sampler = GREEDY,
) -> tuple[Tensor, int]:
    """One draft-and-verify round: the emitted tokens (B, n+1) and n, the drafts accepted."""
    import torch

    position, draft_base = cache.length, d.cache.length
    drafts, draft_logits = _draft(d, pending, position, gamma, sampler)
    logits, _ = forward(target, cache, torch.cat([pending, drafts], dim=1), position)
    ok, correction = verify(drafts, draft_logits, logits, sampler)
    accepted = ok.to(torch.int64).cumprod(dim=1).sum(dim=1)  # per sequence
    n = int(accepted.min())
    cache.length = position + 1 + n  # pending and the accepted drafts stay
    if n == gamma:  # the last draft was never fed to the drafter: fill its cache entry
        forward(d.weights, d.cache, drafts[:, -1:], position + gamma, keep=d.keep)
        last = correction[:, n : n + 1]
    else:  # a sequence that accepted draft n too emits it; the others their correction
        last = torch.where(accepted[:, None] > n, drafts[:, n : n + 1], correction[:, n : n + 1])
    d.cache.length = draft_base + 1 + n
    return torch.cat([drafts[:, :n], last], dim=1), n


def make_drafter(method: str, budget: int, w: Weights, prefilled: KVCache, queries: list[Tensor],
             room: int) -> Drafter:  # fmt: skip
    """The draft of `w` over its prefilled cache, by `method` to `budget` tokens."""
    keep = topk_keep(prefilled.length, budget) if method == "topk" else None
    return Drafter(w, compress(method, prefilled, budget, room, queries), keep)


def speculative_generate(
    target: Weights,
    prompt: Tensor,
    new_tokens: int,
    gamma: int,
    method: str = "streamingllm",
    budget: int = 64,
    draft: Weights | None = None,
    sampler: Sampler = GREEDY,
) -> tuple[Tensor, SpecStats]:
    """Speculative decoding of `new_tokens` tokens per sequence.

    Self-speculation (`draft` None) drafts with the target's weights over its cache compressed by
    `method` to `budget` tokens (top-k: the whole cache, `budget` keys chosen per step); a separate
    `draft` model (same vocabulary) drafts over its own prefilled cache, compressed the same way
    ('full' keeps it whole).
    """
    import torch

    room, capacity = new_tokens + gamma + 1, prompt.shape[1] + new_tokens + gamma + 1
    window = SNAPKV_WINDOW if method == "snapkv" else 0
    cache, pending, queries = prefill(target, prompt, capacity, window, sampler)
    if draft is None:
        drafter = make_drafter(method, budget, target, cache, queries, room)
    else:
        d_cache, _, d_queries = prefill(draft, prompt, capacity, window)
        drafter = make_drafter(method, budget, draft, d_cache, d_queries, room)
    out, stats, emitted = [pending], SpecStats(), 1
    while emitted < new_tokens:
        tokens, n = speculative_round(target, cache, drafter, pending, gamma, sampler)
        out.append(tokens)
        stats.accepted.append(n)
        emitted += tokens.shape[1]
        pending = tokens[:, -1:]
    return torch.cat(out, dim=1)[:, :new_tokens], stats
