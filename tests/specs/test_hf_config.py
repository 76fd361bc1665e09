"""Hugging Face config.json files load to the same shapes as the shipped YAML profiles."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from magicplan.errors import MagicplanError
from magicplan.specs import load_model
from magicplan.specs.hf_config import model_from_hf_config

# Trimmed config.json contents (values as in the reference's Part 2 and the cited configs).
CONFIGS: dict[str, dict[str, Any]] = {
    "llama-3.1-8b": {
        "_name_or_path": "meta-llama/Meta-Llama-3.1-8B",
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
        "max_position_embeddings": 131072,
        "rope_theta": 500000.0,
        "rope_scaling": {
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192,
            "rope_type": "llama3",
        },
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
    },
    "qwen2.5-7b": {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "vocab_size": 152064,
        "max_position_embeddings": 32768,
        "sliding_window": 131072,
        "use_sliding_window": False,
        "max_window_layers": 28,
        "rope_theta": 1000000.0,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
    },
    "qwen2.5-0.5b": {
        "model_type": "qwen2",
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
        "max_position_embeddings": 32768,
        "sliding_window": 32768,
        "use_sliding_window": False,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
    },
    "qwen3-32b": {
        "architectures": ["Qwen3ForCausalLM"],
        "model_type": "qwen3",
        "hidden_size": 5120,
        "intermediate_size": 25600,
        "num_hidden_layers": 64,
        "num_attention_heads": 64,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "vocab_size": 151936,
        "max_position_embeddings": 40960,
        "attention_bias": False,
        "sliding_window": None,
        "use_sliding_window": False,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
    },
    "mistral-7b-v0.3": {
        "architectures": ["MistralForCausalLM"],
        "model_type": "mistral",
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "vocab_size": 32768,
        "max_position_embeddings": 32768,
        "sliding_window": None,
        "rope_theta": 1000000.0,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
    },
    "mixtral-8x7b": {
        "architectures": ["MixtralForCausalLM"],
        "model_type": "mixtral",
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "num_local_experts": 8,
        "num_experts_per_tok": 2,
        "vocab_size": 32000,
        "max_position_embeddings": 32768,
        "sliding_window": None,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
    },
    "gemma-2-9b": {
        # No tie_word_embeddings key: Gemma 2 ties by default.
        "architectures": ["Gemma2ForCausalLM"],
        "model_type": "gemma2",
        "hidden_size": 3584,
        "intermediate_size": 14336,
        "num_hidden_layers": 42,
        "num_attention_heads": 16,
        "num_key_value_heads": 8,
        "head_dim": 256,
        "vocab_size": 256000,
        "max_position_embeddings": 8192,
        "sliding_window": 4096,
        "attn_logit_softcapping": 50.0,
        "final_logit_softcapping": 30.0,
        "query_pre_attn_scalar": 256,
        "hidden_activation": "gelu_pytorch_tanh",
        "cache_implementation": "hybrid",
        "torch_dtype": "float32",
    },
    "phi-3-mini": {
        "architectures": ["Phi3ForCausalLM"],
        "model_type": "phi3",
        "hidden_size": 3072,
        "intermediate_size": 8192,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "vocab_size": 32064,
        "max_position_embeddings": 4096,
        "original_max_position_embeddings": 4096,
        "sliding_window": 2047,
        "rope_scaling": None,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
    },
    "tinyllama-1.1b": {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 2048,
        "intermediate_size": 5632,
        "num_hidden_layers": 22,
        "num_attention_heads": 32,
        "num_key_value_heads": 4,
        "vocab_size": 32000,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
    },
}


def write_config(tmp_path: Path, name: str, cfg: dict[str, Any]) -> Path:
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.json"
    path.write_text(json.dumps(cfg), encoding="utf-8")
    return path


@pytest.mark.parametrize("model_id", sorted(CONFIGS))
def test_config_json_matches_shipped_profile(tmp_path: Path, model_id: str) -> None:
    from_json = load_model(write_config(tmp_path, model_id, CONFIGS[model_id]))
    shipped = load_model(model_id)
    assert from_json.architecture == shipped.architecture
    assert from_json.num_parameters == shipped.num_parameters
    assert from_json.num_active_parameters == shipped.num_active_parameters
    for dtype in ("bfloat16", "fp8"):
        assert from_json.kv_bytes_per_token(dtype) == shipped.kv_bytes_per_token(dtype)
    assert from_json.sliding_window == shipped.sliding_window
    assert from_json.num_local_layers == shipped.num_local_layers
    assert from_json.tie_word_embeddings == shipped.tie_word_embeddings
    assert from_json.qkv_bias == shipped.qkv_bias
    assert from_json.qk_norm == shipped.qk_norm
    assert from_json.moe == shipped.moe


def test_config_json_ids_and_dtype(tmp_path: Path) -> None:
    m = load_model(write_config(tmp_path, "llama", CONFIGS["llama-3.1-8b"]))
    assert m.id == "meta-llama-3.1-8b"  # from _name_or_path
    assert m.dtype == "bfloat16"
    assert m.source.startswith("config.json: ")
    # Without _name_or_path the folder name is used.
    g = load_model(write_config(tmp_path, "my-gemma", CONFIGS["gemma-2-9b"]))
    assert g.id == "my-gemma"
    assert g.dtype == "float32"


def test_config_json_without_kv_heads_is_mha(tmp_path: Path) -> None:
    cfg = dict(CONFIGS["tinyllama-1.1b"])
    del cfg["num_key_value_heads"]
    m = load_model(write_config(tmp_path, "mha", cfg))
    assert m.num_kv_heads == m.num_attention_heads == 32


def test_qwen_sliding_window_used_only_when_enabled() -> None:
    cfg = dict(CONFIGS["qwen2.5-7b"], sliding_window=4096, use_sliding_window=True)
    assert model_from_hf_config(cfg, "inline").sliding_window == 4096
    cfg["use_sliding_window"] = False
    assert model_from_hf_config(cfg, "inline").sliding_window is None


def test_unknown_model_type_is_rejected(tmp_path: Path) -> None:
    cfg = dict(CONFIGS["llama-3.1-8b"], model_type="gpt_bigcode")
    path = write_config(tmp_path, "unknown", cfg)
    with pytest.raises(MagicplanError, match="model_type") as info:
        load_model(path)
    assert "gpt_bigcode" in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("model_id", "field"),
    [
        ("llama-3.1-8b", "hidden_size"),
        ("llama-3.1-8b", "num_hidden_layers"),
        ("llama-3.1-8b", "num_attention_heads"),
        ("llama-3.1-8b", "vocab_size"),
        ("llama-3.1-8b", "max_position_embeddings"),
        ("llama-3.1-8b", "intermediate_size"),
        ("mixtral-8x7b", "intermediate_size"),
    ],
)
def test_missing_field_is_named(tmp_path: Path, model_id: str, field: str) -> None:
    cfg = dict(CONFIGS[model_id])
    del cfg[field]
    path = write_config(tmp_path, "missing", cfg)
    with pytest.raises(MagicplanError, match=field) as info:
        load_model(path)
    assert str(path) in str(info.value)


def test_non_integer_layer_count_is_named(tmp_path: Path) -> None:
    cfg = dict(CONFIGS["llama-3.1-8b"], num_hidden_layers="thirty-two")
    with pytest.raises(MagicplanError, match="num_hidden_layers"):
        load_model(write_config(tmp_path, "bad", cfg))


def test_malformed_config_json(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"model_type": "llama", "hidden_size": ', encoding="utf-8")
    with pytest.raises(MagicplanError, match="malformed JSON"):
        load_model(path)


# --- recognised by its keys (issue 13.9) ----------------------------------------------------


def test_config_without_model_type_uses_its_architectures_class(tmp_path: Path) -> None:
    cfg = {k: v for k, v in CONFIGS["llama-3.1-8b"].items() if k != "model_type"}
    m = load_model(write_config(tmp_path, "no-type", cfg))
    assert m.architecture == "llama"
    assert m.num_parameters == load_model("llama-3.1-8b").num_parameters


@pytest.mark.parametrize("dropped", [("model_type",), ("model_type", "architectures")])
def test_malformed_hf_config_is_reported_in_hf_terms(tmp_path: Path, dropped: tuple[str]) -> None:
    """Without `architectures` (or `model_type`) and without hidden_size, the config is still
    recognised as a Hugging Face one: the message names its keys, never the native format's."""
    cfg = {k: v for k, v in CONFIGS["llama-3.1-8b"].items() if k not in dropped}
    del cfg["hidden_size"]
    with pytest.raises(MagicplanError) as info:
        load_model(write_config(tmp_path, "bad", cfg))
    message = str(info.value)
    assert "num_layers" not in message and "unknown key" not in message
    assert "hidden_size" in message and "\n" not in message
    if "architectures" in dropped:
        assert "'model_type' is missing" in message


def test_config_json_gets_the_tokenizer_of_its_shipped_family(tmp_path: Path) -> None:
    m = load_model(write_config(tmp_path, "q", CONFIGS["qwen2.5-7b"]))
    assert (m.tokenizer, m.tokenizer_vocab_size) == ("qwen2.5", 151665)
    odd = dict(CONFIGS["qwen2.5-7b"], vocab_size=160000)  # no shipped family has this size
    assert load_model(write_config(tmp_path, "odd", odd)).tokenizer is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"num_hidden_layers": 0}, "config.json field 'num_hidden_layers'"),
        ({"num_key_value_heads": 6}, "num_key_value_heads must divide num_attention_heads"),
        ({"intermediate_size": None}, "config.json field 'intermediate_size' is missing"),
        ({"torch_dtype": "float8"}, "config.json field 'torch_dtype' is 'float8'; modelled"),
    ],
)
def test_a_bad_config_is_reported_in_its_own_key_names(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    cfg = {k: v for k, v in (CONFIGS["llama-3.1-8b"] | change).items() if v is not None}
    with pytest.raises(MagicplanError, match=re.escape(message)):
        load_model(write_config(tmp_path, "bad", cfg))
