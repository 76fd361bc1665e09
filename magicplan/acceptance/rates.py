"""Acceptance statistics from per-position rates (pure numpy; no torch).

Input: for each scored sample, β_t at every continuation position t — the probability that the
draft's token there is accepted given everything before it: Σₓ min(p_t(x), q_t(x)) when sampling
(Leviathan et al., ICML 2023, §3.1), 1 or 0 (argmax agreement) when greedy.

- α: the mean of β over every scored position (the table's `alpha`), with a 95 % Wilson interval
  on the number of positions.
- Ω(γ): the expected tokens per round of a real speculative loop over those positions. Rounds do
  not start at every position: one that starts at s and accepts k drafts is followed by one at
  s + k + 1, so rounds start less often inside well-predicted stretches than a uniform average over
  start positions assumes. `loop_tokens_per_round` follows the loop: the chance π_s that a round
  starts at s, propagated from the first position, and Ω(γ) = Σ π_s·E[1 + K_s] / Σ π_s, with
  P(K_s ≥ i) = Π_{j<i} β_{s+j} — the run products over start positions, weighted as the loop
  visits them. Independent β would give Ω = (1 − α^(γ+1)) / (1 − α); correlated ones do not.
- α_1..α_G: conditional rates with Ω(γ) = 1 + Σ_{i≤γ} Π_{j≤i} α_j, i.e. Π_{j≤i} α_j =
  Ω(i) − Ω(i − 1) (`positional_rates`). Rates are at most 1 only while these products fall with
  i; where sampling noise makes one rise, adjacent products are pooled to their mean (isotonic
  regression, pool-adjacent-violators), which keeps Ω(G) exact and moves the Ω(γ < G) least.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from magicplan.planner.acceptance_data import wilson_interval


@dataclass(frozen=True)
class Summary:
    """One table row's statistics: mean rate, its interval, positions, per-position rates."""

    alpha: float
    low: float
    high: float
    positions: int
    alpha_by_position: tuple[float, ...]  # α_1..α_G (empty when G = 0)


def _round_starts(beta: np.ndarray, gamma: int) -> tuple[np.ndarray, np.ndarray]:
    """π_s (chance a round starts at s) and E[1 + K_s], for the starts of complete rounds."""
    m = beta.size
    starts = max(m - gamma + 1, 0)
    if starts == 0:
        return np.zeros(0), np.zeros(0)
    window = np.lib.stride_tricks.sliding_window_view(beta, gamma)[:starts]
    survive = np.cumprod(window, axis=1)  # P(K ≥ i) for i = 1..γ
    at_least = np.concatenate([np.ones((starts, 1)), survive], axis=1)  # i = 0..γ
    exactly = at_least - np.concatenate([survive, np.zeros((starts, 1))], axis=1)  # P(K = k)
    pi = np.zeros(m + gamma + 1)
    pi[0] = 1.0
    for s in range(starts):  # a round at s moves the next start to s + k + 1
        pi[s + 1 : s + gamma + 2] += pi[s] * exactly[s]
    return pi[:starts], at_least.sum(axis=1)


def loop_tokens_per_round(betas: Sequence[np.ndarray], gamma: int) -> float:
    """Ω(γ): expected tokens per round of a speculative loop over each sample's positions
    (complete rounds only), pooled over samples; NaN when no sample holds a whole round."""
    if gamma == 0:
        return 1.0
    rounds = tokens = 0.0
    for beta in betas:
        pi, per_round = _round_starts(np.asarray(beta, dtype=np.float64), gamma)
        rounds += float(pi.sum())
        tokens += float(pi @ per_round)
    return tokens / rounds if rounds > 0 else float("nan")


def non_increasing(values: Sequence[float]) -> list[float]:
    """The closest non-increasing sequence in least squares (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, size]
    for v in values:
        blocks.append([float(v), 1.0])
        while len(blocks) > 1 and blocks[-2][0] < blocks[-1][0]:
            (m2, n2), (m1, n1) = blocks.pop(), blocks.pop()
            blocks.append([(m1 * n1 + m2 * n2) / (n1 + n2), n1 + n2])
    return [m for m, n in blocks for _ in range(int(n))]


def positional_rates(betas: Sequence[np.ndarray], positions: int) -> tuple[float, ...]:
    """α_1..α_G such that 1 + Σ_{i≤γ} Π_{j≤i} α_j = Ω(γ) (see module)."""
    omega = np.nan_to_num([loop_tokens_per_round(betas, g) for g in range(positions + 1)], nan=1.0)
    products = non_increasing(np.clip(np.diff(omega), 0.0, 1.0).tolist())  # Π_{j≤i} α_j, i = 1..G
    rates, previous = [], 1.0
    for prod in products:
        rates.append(float(min(prod / previous, 1.0)) if previous > 0 else 0.0)
        previous = prod
    return tuple(rates)


def summarize(betas: Sequence[np.ndarray], positions: int = 0) -> Summary:
    """α (mean over all positions), its 95 % Wilson interval, the count, and α_1..α_G."""
    flat = np.concatenate([np.asarray(b, dtype=np.float64).ravel() for b in betas])
    if flat.size == 0:
        raise ValueError("no scored positions")
    alpha = float(flat.mean())
    low, high = wilson_interval(alpha, flat.size)
    return Summary(alpha, low, high, int(flat.size), positional_rates(betas, positions))
