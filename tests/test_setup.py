"""Draft/target compatibility compares tokenizers, not padded embedding sizes (issue 13.4)."""

from __future__ import annotations

import pytest

from magicplan.errors import MagicplanError
from magicplan.planner.inputs import default_drafts
from magicplan.setup import Setup, check_draft_vocab, draft_mismatch
from magicplan.specs import load_hardware, load_model

QWEN_SMALL = ("qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-3b")  # 151,936 embedding rows
QWEN_LARGE = ("qwen2.5-7b", "qwen2.5-14b", "qwen2.5-32b", "qwen2.5-72b")  # 152,064


@pytest.mark.parametrize("target", QWEN_LARGE)
@pytest.mark.parametrize("draft", QWEN_SMALL)
def test_small_qwen_drafts_serve_larger_qwen_targets(draft: str, target: str) -> None:
    t, d = load_model(target), load_model(draft)
    assert d.vocab_size != t.vocab_size  # padded differently ...
    assert draft_mismatch(t, d) is None  # ... one tokenizer
    Setup(hardware=load_hardware("h100-sxm"), num_gpus=2, target=t, draft=d)


def test_default_drafts_follow_the_tokenizer() -> None:
    drafts = {d.id for d in default_drafts(load_model("qwen2.5-32b"), families=False) if d}
    assert set(QWEN_SMALL) | {"qwen2.5-7b", "qwen2.5-14b"} == drafts
    # Mixtral's tokenizer is Mistral's v1, not Llama 2's, though both have 32,000 tokens.
    mixtral = {d.id for d in default_drafts(load_model("mixtral-8x7b"), families=False) if d}
    assert mixtral == {"mistral-7b-v0.1"}
    assert "tinyllama-1.1b" in {d.id for d in default_drafts(load_model("llama-2-7b")) if d}


@pytest.mark.parametrize(
    ("target", "draft", "words"),
    [
        ("mixtral-8x7b", "tinyllama-1.1b", ("llama-2", "mistral-v1")),
        ("qwen3-32b", "qwen2.5-0.5b", ("qwen2.5", "qwen3")),
        ("llama-3.1-8b", "llama-2-7b", ("llama-2", "llama-3", "vocab")),
    ],
)
def test_other_tokenizers_are_refused_with_the_reason(
    target: str, draft: str, words: tuple[str, ...]
) -> None:
    with pytest.raises(MagicplanError) as info:
        check_draft_vocab(load_model(target), load_model(draft))
    message = str(info.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_unknown_family_falls_back_to_equal_vocab_sizes() -> None:
    target = load_model("qwen2.5-7b").model_copy(update={"tokenizer": None})
    small, large = load_model("qwen2.5-0.5b"), load_model("qwen2.5-14b")
    assert draft_mismatch(target, large) is None  # 152,064 == 152,064
    reason = draft_mismatch(target, small)
    assert reason is not None and "151936" in reason and "unknown" in reason


def test_a_self_draft_runs_on_the_targets_gpus() -> None:
    # draft_num_gpus=8 for a self-draft on 1 GPU used to price the draft on 8 GPUs (1.75×
    # instead of 1.23×); it is refused, naming the field.
    hw, target = load_hardware("h100-sxm"), load_model("llama-3.1-8b")
    with pytest.raises(MagicplanError, match="draft_num_gpus=8: self-speculation runs on"):
        Setup(hardware=hw, num_gpus=1, target=target, draft=None, draft_num_gpus=8)
    assert Setup(hardware=hw, num_gpus=2, target=target, draft_num_gpus=2).draft_n == 2


def test_llama_1_and_llama_2_share_token_ids() -> None:
    # Llama 2 uses LLaMA-1's tokenizer (arXiv 2307.09288 §2.1): TinyLlama drafts for Vicuna.
    assert draft_mismatch(load_model("vicuna-7b"), load_model("tinyllama-1.1b")) is None
    assert draft_mismatch(load_model("llama-2-7b"), load_model("llama-3.2-1b")) is not None


def test_the_memory_fraction_is_the_one_given_else_the_engines() -> None:
    # One rule for plan, estimate, scenarios and plot: the fraction given, else the serving
    # engine's own (SGLang 0.88, LMDeploy 0.8), else the default engine's (vLLM 0.9).
    from magicplan.setup import served_fraction
    from magicplan.specs import load_engine

    h100 = load_hardware("h100-sxm")
    assert served_fraction(None, load_engine("sglang"), h100) == 0.88
    assert served_fraction(None, load_engine("lmdeploy"), h100) == 0.8
    assert served_fraction(0.5, load_engine("sglang"), h100) == 0.5
    assert served_fraction(None, None, h100) == 0.9
    with pytest.raises(MagicplanError, match="memory_utilization must be in"):
        served_fraction(1.5, None, h100)


def test_an_estimate_names_every_engine_limit() -> None:
    # TensorRT-LLM on an MI300X with a compressed self-draft: the vendor and the features
    # (the vendor note used to hide the other).
    from magicplan.estimate import estimate

    notes = estimate("mi300x", 1, "llama-3.1-8b", 16, 8000, engine="trtllm", acceptance=0.8)
    assert notes["notes"][0].startswith("warning: trtllm runs on nvidia hardware")
    assert notes["notes"][1].startswith("trtllm cannot run self-speculation")
