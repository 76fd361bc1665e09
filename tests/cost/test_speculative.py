"""Ω, per-token time and speedup against hand examples."""

from __future__ import annotations

import numpy as np
import pytest

from magicplan.cost.speculative import (
    expected_tokens,
    expected_tokens_positional,
    round_time,
    spec_time_per_token,
    speedup,
)
from magicplan.errors import MagicplanError


def test_omega_closed_form() -> None:
    # γ=3, α=0.8: (1 - 0.8^4) / 0.2 = 0.5904 / 0.2 = 2.952
    assert float(expected_tokens(3, 0.8)) == pytest.approx(2.952)


def test_omega_limits() -> None:
    assert float(expected_tokens(4, 1.0)) == 5.0  # α → 1: γ + 1 (bonus token included)
    assert float(expected_tokens(4, 0.0)) == 1.0  # nothing accepted: the correction token
    assert float(expected_tokens(4, 1 - 1e-7)) == pytest.approx(5.0, rel=1e-5)


def test_omega_sum_agrees_with_closed_form() -> None:
    """Whole γ up to 16 sum 1 + α + … + α^γ; beyond, the closed form: the two agree."""
    alpha = np.linspace(0.0, 0.99, 100)
    for gamma in (1, 2, 5, 16, 17, 40):
        closed = (1 - alpha ** (gamma + 1)) / (1 - alpha)
        np.testing.assert_allclose(expected_tokens(gamma, alpha), closed, rtol=1e-12)
        assert float(expected_tokens(gamma, 1.0)) == gamma + 1
    mixed = np.array([1, 3, 16, 17, 64])  # per-row γ, on either side of the switch
    np.testing.assert_allclose(
        expected_tokens(mixed, 0.5), (1 - 0.5 ** (mixed + 1)) / 0.5, rtol=1e-12
    )


def test_omega_positional() -> None:
    # 1 + 0.9 + 0.9*0.5 = 2.35
    assert float(expected_tokens_positional([0.9, 0.5])) == pytest.approx(2.35)
    assert float(expected_tokens_positional([0.8] * 3)) == pytest.approx(
        float(expected_tokens(3, 0.8))
    )


def test_speedup_hand_example() -> None:
    # T_T 10 ms, T_D 2 ms, T_V 12 ms, γ 3, α 0.8: round 18 ms, 18/2.952 = 6.098 ms, 1.640×
    t_round = round_time(2e-3, 12e-3, 3)
    per_tok = spec_time_per_token(t_round, expected_tokens(3, 0.8))
    assert float(per_tok) == pytest.approx(18e-3 / 2.952)
    assert float(speedup(10e-3, per_tok)) == pytest.approx(1.64, abs=1e-3)


@pytest.mark.parametrize("bad", [-0.1, 1.5, np.nan])
def test_acceptance_out_of_range(bad: float) -> None:
    with pytest.raises(MagicplanError, match="acceptance"):
        expected_tokens(2, bad)
