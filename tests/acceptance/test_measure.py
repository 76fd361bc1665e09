"""The draft's masked one-pass view equals its real compressed cache (the loop's), for every
method; speculative sampling's accept/correct rule on hand-built distributions."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from magicplan.acceptance.measure import Plan, position_rates, sample_rates  # noqa: E402
from magicplan.calibration.torch_runner.compress import SNAPKV_WINDOW, keep_mask  # noqa: E402
from magicplan.calibration.torch_runner.model import forward, init_weights  # noqa: E402
from magicplan.calibration.torch_runner.speculative import (  # noqa: E402
    Sampler,
    make_drafter,
    prefill,
    verify,
)
from magicplan.specs.model import ModelSpec  # noqa: E402

PROMPT, NEW = 120, 12


@pytest.fixture(scope="module")
def weights() -> object:
    spec = ModelSpec(id="tiny", name="tiny", architecture="llama", hidden_size=64,
                     intermediate_size=96, num_layers=2, num_attention_heads=4, num_kv_heads=2,
                     vocab_size=101, max_position_embeddings=4096, dtype="float32",
                     source="test shapes")  # fmt: skip
    return init_weights(spec, seed=3)


@pytest.mark.parametrize("method,budget", [("streamingllm", 48), ("snapkv", 48), ("topk", 40),
                                           ("full", 0)])  # fmt: skip
def test_masked_pass_equals_the_compressed_cache_token_by_token(
    weights: object, method: str, budget: int
) -> None:
    g = torch.Generator().manual_seed(0)
    prompt = torch.randint(0, 101, (2, PROMPT), generator=g)
    tokens = torch.randint(0, 101, (2, NEW), generator=g)
    with torch.inference_mode():
        cache, _, queries = prefill(weights, prompt, PROMPT + NEW, SNAPKV_WINDOW)
        keep = keep_mask(method, cache, budget, queries)
        masked, _ = forward(weights, cache, tokens, PROMPT, keep=keep)  # one pass
        cache.length = PROMPT
        d = make_drafter(method, budget, weights, cache, queries, NEW)  # what the loop drafts over
        stepped = [forward(weights, d.cache, tokens[:, i : i + 1], PROMPT + i, keep=d.keep)[0]
                   for i in range(NEW)]  # fmt: skip
    if method in ("streamingllm", "snapkv"):
        assert d.cache.length == budget + NEW  # really compressed, then appended
    torch.testing.assert_close(masked, torch.cat(stepped, dim=1), rtol=1e-4, atol=1e-4)


def test_full_self_draft_accepts_everything_and_budgets_bite(weights: object) -> None:
    plan = Plan(methods=("full", "streamingllm"), budgets=(24, 96), contexts=(PROMPT,),
                samples=2, continuation=16, temperature=1.0, positions=0)  # fmt: skip
    prompt = torch.randint(0, 101, (2, PROMPT), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        rates = sample_rates(weights, None, prompt, plan, Sampler(1.0, torch.Generator()))
    assert set(rates) == {("full", 0), ("streamingllm", 24), ("streamingllm", 96)}
    assert rates[("full", 0)].shape == (2, 15)
    np.testing.assert_allclose(rates[("full", 0)], 1.0, atol=1e-5)  # Σ min(p, p) = 1
    assert np.all(rates[("streamingllm", 24)] <= 1 + 1e-6)
    assert rates[("streamingllm", 24)].mean() < rates[("streamingllm", 96)].mean() + 1e-9


def test_position_rates_greedy_and_sampled() -> None:
    p = torch.log(torch.tensor([[[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]]]))
    q = torch.log(torch.tensor([[[0.2, 0.6, 0.2], [0.1, 0.1, 0.8]]]))
    greedy = position_rates(p, q, Sampler())
    np.testing.assert_array_equal(greedy, [[0.0, 1.0]])  # argmax 0 vs 1, then 2 vs 2
    sampled = position_rates(p, q, Sampler(1.0))
    np.testing.assert_allclose(sampled, [[0.2 + 0.3 + 0.2, 0.1 + 0.1 + 0.7]], rtol=1e-6)


def test_verify_accepts_by_ratio_and_corrects_from_the_residual() -> None:
    # p = (0.5, 0.5, 0), q = (0.25, 0.25, 0.5): a draft of token 0 has p/q = 2 (always kept),
    # token 2 has p = 0 (always rejected, replaced by a draw of max(0, p − q) ∝ (1, 1, 0)).
    p = torch.log(torch.tensor([0.5, 0.5, 1e-30]))
    q = torch.log(torch.tensor([0.25, 0.25, 0.5]))
    target = torch.stack([p, p])[None].expand(200, -1, -1)  # 200 sequences, γ = 1 (+ bonus)
    draft = q[None, None].expand(200, 1, -1)
    sampler = Sampler(1.0, torch.Generator().manual_seed(0))
    ok, correction = verify(torch.zeros(200, 1, dtype=torch.long), draft, target, sampler)
    assert bool(ok.all())
    ok, correction = verify(torch.full((200, 1), 2, dtype=torch.long), draft, target, sampler)
    assert not bool(ok.any()) and set(correction[:, 0].tolist()) == {0, 1}
    share = correction[:, 0].float().mean().item()
    assert math.isclose(share, 0.5, abs_tol=0.12)  # ~Binomial(200, 1/2) / 200
