"""Acceptance measured from real weights: for each context, prompts from the text, a continuation
the target generates, then one teacher-forced pass of the target and one of the draft per method
and budget, the draft seeing exactly its compressed view.

The views are `Keep` masks over one full cache (`torch_runner.compress.keep_mask`): the prompt is
prefilled once with plain causal attention, so the keys and values a compressed draft keeps are the
full prefill's (MagicDec compresses after prefill); each continuation position then attends to the
kept prompt positions — StreamingLLM's sinks and recent window, SnapKV's per-layer, per-KV-head
selection, or top-k's best keys per query — and to every continuation position up to itself (the
draft's cache appends what it generates). Every continuation position is scored in one pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np

from magicplan.acceptance.rates import Summary, summarize
from magicplan.calibration.torch_runner.compress import SNAPKV_WINDOW, keep_mask
from magicplan.calibration.torch_runner.model import Weights, forward
from magicplan.calibration.torch_runner.speculative import Sampler, continue_from, prefill

Tensor = Any
Key = tuple[str, int]  # (method, budget); budget 0 for full


@dataclass(frozen=True, kw_only=True)
class Plan:
    """What to measure: methods × budgets × contexts, samples of `continuation` tokens each."""

    methods: tuple[str, ...]
    budgets: tuple[int, ...]
    contexts: tuple[int, ...]
    samples: int
    continuation: int
    temperature: float
    positions: int  # per-position rates α_1..α_G to report (0: none)

    @property
    def keys(self) -> list[Key]:
        """Every (method, budget) cell of one context; `full` once, with budget 0."""
        compressed = [m for m in self.methods if m != "full"]
        return [("full", 0)] * ("full" in self.methods) + list(product(compressed, self.budgets))


@dataclass(frozen=True)
class Cell:
    """One measured table row."""

    method: str
    budget: int
    context: int
    summary: Summary


def position_rates(target_logits: Tensor, draft_logits: Tensor, sampler: Sampler) -> np.ndarray:
    """β per sequence and position (B, q), float64: Σₓ min(p, q) when sampling, argmax agreement
    when greedy."""
    import torch

    if sampler.temperature == 0:
        agree = target_logits.argmax(dim=-1) == draft_logits.argmax(dim=-1)
        return agree.double().cpu().numpy()
    p, q = sampler.probs(target_logits), sampler.probs(draft_logits)
    return torch.minimum(p, q).sum(dim=-1).double().cpu().numpy()


def sample_rates(
    target: Weights, draft: Weights | None, prompt: Tensor, plan: Plan, sampler: Sampler,
    advance: Callable[..., None] = lambda n=1: None,
) -> dict[Key, np.ndarray]:  # fmt: skip
    """β at every scored position of each prompt (B, context), per (method, budget): (B, n − 1).

    The prompts of a context have one length, so they run as one batch: the continuation's
    token-by-token steps read the weights once for all of them."""
    p, n = prompt.shape[1], plan.continuation
    window = SNAPKV_WINDOW if "snapkv" in plan.methods else 0
    cache, first, queries = prefill(target, prompt, p + n, window, sampler)
    tokens = continue_from(target, cache, first, n, sampler)[:, :-1]  # inputs x_0..x_{n-2}
    cache.length = p
    target_logits, _ = forward(target, cache, tokens, p)  # teacher-forced: predicts x_1..x_{n-1}
    cache.length = p
    advance()
    d_weights, d_cache, d_queries = target, cache, queries
    if draft is not None:  # a separate draft prefills the prompt with its own weights
        d_weights = draft
        d_cache, _, d_queries = prefill(draft, prompt, p + n, window)
    out = {}
    for method, budget in plan.keys:
        keep = keep_mask(method, d_cache, budget, d_queries)
        draft_logits, _ = forward(d_weights, d_cache, tokens, p, keep=keep)
        d_cache.length = p
        out[(method, budget)] = position_rates(target_logits, draft_logits, sampler)
        advance()
    return out


def measure_context(
    target: Weights, draft: Weights | None, prompts: Tensor, plan: Plan, sampler: Sampler,
    advance: Callable[..., None] = lambda n=1: None,
) -> list[Cell]:  # fmt: skip
    """The cells of one context from its prompts (samples, context)."""
    rates = sample_rates(target, draft, prompts, plan, sampler, advance)
    context = int(prompts.shape[1])
    return [Cell(m, b, context, summarize(list(rates[(m, b)]), plan.positions))
            for m, b in plan.keys]  # fmt: skip
