"""Models for the acceptance tests: a tiny random Llama checkpoint folder written here (needs
transformers), and the real SmolLM2-135M GGUF with a public-domain text when `.ci/run` fetched them
(its conversion is cached under .cache/magicplan, once per machine)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMOLLM = ROOT / ".cache" / "SmolLM2-135M-Instruct.Q4_1.gguf"
TEXT = ROOT / ".cache" / "kjv.txt"  # King James Version (1611), from Debian's bible-kjv
TINY = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=101, max_position_embeddings=512,
            rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=False)  # fmt: skip


def write_tokenizer(folder: Path, vocab: int) -> None:
    """A word-level tokenizer over `vocab` words (w0, w1, ...), split on whitespace."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = {f"w{i}": i for i in range(vocab)}
    tok = Tokenizer(models.WordLevel(words, unk_token="w0"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="w0").save_pretrained(str(folder))


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random Llama checkpoint folder (safetensors, config.json, tokenizer)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("tiny-llama")
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**TINY))
    model.save_pretrained(str(folder))
    write_tokenizer(folder, TINY["vocab_size"])
    return folder


@pytest.fixture(scope="session")
def tiny_text(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Words of the tiny tokenizer's vocabulary, in a repeating, learnable-looking order."""
    path = tmp_path_factory.mktemp("text") / "words.txt"
    path.write_text(" ".join(f"w{(i * 7 + i // 13) % 101}" for i in range(4000)))
    return path


@pytest.fixture(scope="session")
def smollm() -> Any:
    """The real SmolLM2-135M checkpoint (GGUF converted into .cache/magicplan), or a skip."""
    if not (SMOLLM.is_file() and TEXT.is_file()):
        pytest.skip("SmolLM2-135M GGUF or the KJV text not fetched (.ci/run fetches them)")
    pytest.importorskip("transformers")
    pytest.importorskip("gguf")
    mp = pytest.MonkeyPatch()
    mp.setenv("MAGICPLAN_CACHE", str(ROOT / ".cache" / "magicplan"))
    from magicplan.acceptance.checkpoint import resolve

    yield resolve(SMOLLM)
    mp.undo()


def config(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "config.json").read_text())
