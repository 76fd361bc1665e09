"""Acceptance statistics on hand-derived sequences: the loop's tokens per round, conditional
per-position rates, and the summary row."""

from __future__ import annotations

import numpy as np
import pytest

from magicplan.acceptance.rates import (
    loop_tokens_per_round,
    non_increasing,
    positional_rates,
    summarize,
)
from magicplan.cost.speculative import expected_tokens, expected_tokens_positional

CLUSTERED = [np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=float)]


def test_greedy_loop_follows_round_starts() -> None:
    # γ=2 over 1 1 1 1 0 0 0 0: rounds at 0 (accept 2, 3 tokens), 3 (accept 1: 2 tokens),
    # 5 (1 token), 6 (1 token); a round at 7 would need positions 7-8: 7 tokens / 4 rounds.
    assert loop_tokens_per_round(CLUSTERED, 2) == pytest.approx(7 / 4)
    # γ=1: rounds at 0, 2 (2 tokens each), then 4, 5, 6, 7 (1 each): 8 / 6.
    assert loop_tokens_per_round(CLUSTERED, 1) == pytest.approx(8 / 6)
    # A uniform average over start positions would say 1 + (4 + 3) / 7 = 2.0 for γ=2: the
    # loop starts fewer rounds inside the accepted stretch.


def test_constant_rate_gives_the_iid_formula() -> None:
    for gamma in (1, 3, 5):
        assert loop_tokens_per_round([np.full(40, 0.7)], gamma) == pytest.approx(
            float(expected_tokens(gamma, 0.7))
        )


def test_positional_rates_reproduce_the_loop() -> None:
    # Ω(1) = 4/3, Ω(2) = 7/4: products 1/3 then 5/12 rise, so both pool to 3/8:
    # α_1 = 3/8, α_2 = 1; Ω(2) stays exact.
    rates = positional_rates(CLUSTERED, 2)
    assert rates == pytest.approx((0.375, 1.0))
    assert float(expected_tokens_positional(rates)) == pytest.approx(7 / 4)
    rng = np.random.default_rng(0)
    betas = [rng.uniform(0.5, 1.0, 200) for _ in range(3)]
    rates = positional_rates(betas, 4)
    for g in range(1, 5):  # falling products: every Ω(γ) exact
        assert float(expected_tokens_positional(rates[:g])) == pytest.approx(
            loop_tokens_per_round(betas, g)
        )


def test_non_increasing_pools_violators() -> None:
    assert non_increasing([0.5, 0.3, 0.4, 0.1]) == pytest.approx([0.5, 0.35, 0.35, 0.1])
    assert non_increasing([0.1, 0.2, 0.3]) == pytest.approx([0.2, 0.2, 0.2])


def test_summary_mean_interval_and_count() -> None:
    s = summarize([np.array([1.0, 0.0, 1.0, 1.0]), np.array([1.0, 1.0, 0.0, 1.0])], positions=1)
    assert s.alpha == pytest.approx(0.75) and s.positions == 8
    assert s.low < 0.75 < s.high
    # Wilson 95 % at 6/8 (z² = 3.8415): centre (0.75 + z²/16) / (1 + z²/8) = 0.6689,
    # half-width z·sqrt(0.1875/8 + z²/256) / (1 + z²/8) = 0.2596
    assert s.low == pytest.approx(0.4093, abs=1e-3) and s.high == pytest.approx(0.9285, abs=1e-3)
    assert len(s.alpha_by_position) == 1
