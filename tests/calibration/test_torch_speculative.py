"""The speculative loop emits exactly the greedy autoregressive output, token for token, whatever
the draft: the target over a StreamingLLM or SnapKV cache, or a separate model sharing its vocab."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from magicplan.calibration.torch_runner.model import Weights, init_weights  # noqa: E402
from magicplan.calibration.torch_runner.speculative import (  # noqa: E402
    greedy_generate,
    speculative_generate,
)
from magicplan.specs.model import ModelSpec  # noqa: E402

VOCAB = 97
PROMPT, NEW = 150, 40  # a prompt longer than the budgets, so the drafts' caches are compressed


def tiny_spec(**kw: object) -> ModelSpec:
    base: dict[str, object] = dict(
        id="tiny", name="tiny", architecture="llama", hidden_size=64, intermediate_size=128,
        num_layers=2, num_attention_heads=4, num_kv_heads=2, vocab_size=VOCAB,
        max_position_embeddings=4096, dtype="float32", source="test shapes",
    )  # fmt: skip
    base.update(kw)
    return ModelSpec(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def target() -> Weights:
    return init_weights(tiny_spec(), seed=1)


@pytest.fixture(scope="module")
def prompt() -> object:
    return torch.randint(0, VOCAB, (2, PROMPT), generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def reference(target: Weights, prompt: object) -> object:
    with torch.inference_mode():
        return greedy_generate(target, prompt, NEW)


def _near_copy(w: Weights, noise: float) -> Weights:
    """A different model with the target's shapes and vocabulary: weights + relative noise."""
    gen = torch.Generator().manual_seed(7)
    out = init_weights(w.spec.model_copy(update={"id": "draft"}), seed=2)
    for src, dst in zip(w.layers, out.layers, strict=True):
        for name in ("wqkv", "wo", "w_gate_up", "w_down"):
            a = getattr(src, name).weight
            getattr(dst, name).weight = a + noise * a.std() * torch.randn(a.shape, generator=gen)
    out.embed, out.lm_head.weight = w.embed, w.lm_head.weight
    return out


@pytest.mark.parametrize("method,budget", [("streamingllm", 64), ("snapkv", 64)])
@pytest.mark.parametrize("gamma", [1, 3, 5])
def test_self_speculation_is_exactly_greedy(
    target: Weights, prompt: object, reference: object, method: str, budget: int, gamma: int
) -> None:
    with torch.inference_mode():
        out, stats = speculative_generate(target, prompt, NEW, gamma, method, budget)
    assert torch.equal(out, reference)
    assert sum(n + 1 for n in stats.accepted) + 1 >= NEW  # every round emits accepted + 1


@pytest.mark.parametrize("method,budget", [("full", 0), ("streamingllm", 48), ("snapkv", 48)])
def test_separate_draft_is_exactly_greedy(
    target: Weights, prompt: object, reference: object, method: str, budget: int
) -> None:
    small = init_weights(tiny_spec(id="small", num_layers=1, hidden_size=32,
                                   intermediate_size=64, num_attention_heads=2, num_kv_heads=1),
                         seed=5)  # fmt: skip
    with torch.inference_mode():
        out, _ = speculative_generate(target, prompt, NEW, 3, method, budget, draft=small)
    assert torch.equal(out, reference)


def test_rollback_and_full_acceptance_paths_are_both_taken(
    target: Weights, prompt: object, reference: object
) -> None:
    # A close draft accepts every token in some rounds (its cache is then filled with the last
    # draft) and rejects in others (both caches roll back); the output stays exactly greedy.
    gamma = 4
    with torch.inference_mode():
        out, stats = speculative_generate(
            target, prompt, NEW, gamma, "full", 0, draft=_near_copy(target, 0.1)
        )
    assert torch.equal(out, reference)
    assert gamma in stats.accepted and min(stats.accepted) < gamma
