"""Hugging Face `config.json` → ModelSpec, for the architectures whose shapes we model."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from magicplan.errors import MagicplanError, format_validation_error, shown
from magicplan.specs.model import ModelSpec
from magicplan.specs.quantization import from_quantization_config

# Per-architecture defaults where config.json may omit a key (transformers' class defaults).
_TIED_DEFAULT = {"gemma": True, "gemma2": True, "gemma3_text": True}
_QKV_BIAS = {"qwen2", "qwen2_moe", "mimo"}
_QK_NORM = {"qwen3", "qwen3_moe", "gemma3_text"}
_FOUR_NORMS = {"gemma2", "gemma3_text"}
SUPPORTED = (
    "llama", "mistral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "mixtral",
    "gemma", "gemma2", "gemma3_text", "phi3", "mimo",  # MiMo: a Qwen2 decoder + MTP module(s)
)  # fmt: skip
_DTYPES = {"bfloat16": "bfloat16", "float16": "float16", "float32": "float32"}
# transformers' model classes (config.json `architectures`) → model_type, for configs without one.
_ARCH_CLASSES = {
    "LlamaForCausalLM": "llama", "MistralForCausalLM": "mistral", "Qwen2ForCausalLM": "qwen2",
    "Qwen2MoeForCausalLM": "qwen2_moe", "Qwen3ForCausalLM": "qwen3",
    "Qwen3MoeForCausalLM": "qwen3_moe", "MixtralForCausalLM": "mixtral",
    "GemmaForCausalLM": "gemma", "Gemma2ForCausalLM": "gemma2", "Gemma3ForCausalLM": "gemma3_text",
    "Phi3ForCausalLM": "phi3", "MiMoForCausalLM": "mimo",
}  # fmt: skip
# Keys only a Hugging Face config.json has (a native profile names these num_layers, ...).
HF_KEYS = (
    "model_type", "architectures", "num_hidden_layers", "num_key_value_heads",
    "transformers_version", "torch_dtype", "_name_or_path", "rms_norm_eps", "hidden_act",
)  # fmt: skip

_REQUIRED = (
    "hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size",
    "max_position_embeddings",
)  # fmt: skip


def looks_like_hf_config(data: dict[str, Any]) -> bool:
    """A Hugging Face config.json (by its keys), not a native profile (which has an `id`)."""
    return "id" not in data and any(key in data for key in HF_KEYS)


def _model_type(cfg: dict[str, Any], source: str) -> str:
    """`model_type`, or the one its `architectures` class implies; else a one-line error."""
    arch = cfg.get("model_type")
    if arch is None:
        classes = cfg.get("architectures")
        names = classes if isinstance(classes, list) else [classes]
        arch = next(
            (_ARCH_CLASSES[c] for c in names if isinstance(c, str) and c in _ARCH_CLASSES), None
        )
        if arch is None:
            also = [k for k in _REQUIRED if cfg.get(k) is None]
            tail = f"; also missing: {', '.join(also)}" if also else ""
            raise MagicplanError(
                f"{source}: config.json field 'model_type' is missing (supported: "
                f"{', '.join(SUPPORTED)}){tail}"
            )
    if arch not in SUPPORTED:
        raise MagicplanError(
            f"{source}: config.json field 'model_type' is '{arch}'; "
            f"supported: {', '.join(SUPPORTED)}"
        )
    return str(arch)


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", text.lower().split("/")[-1]).strip("-._")
    return slug or "model"


def _require(cfg: dict[str, Any], key: str, source: str) -> Any:
    if key not in cfg or cfg[key] is None:
        raise MagicplanError(f"{source}: config.json field '{key}' is missing")
    return cfg[key]


def _require_int(cfg: dict[str, Any], key: str, source: str) -> int:
    return _as_int(_require(cfg, key, source), key, source)


def _as_int(value: Any, key: str, source: str) -> int:
    """`value` as an int; a bool, text, NaN, infinity or fraction names the field."""
    whole = isinstance(value, int) or (
        isinstance(value, float) and math.isfinite(value) and value.is_integer()
    )
    if isinstance(value, bool) or not whole:
        raise MagicplanError(
            f"{source}: config.json field '{key}' must be an integer, got {shown(value)}"
        )
    return int(value)


def _moe_fields(cfg: dict[str, Any], arch: str) -> dict[str, Any] | None:
    if arch == "mixtral":
        return {
            "num_experts": cfg.get("num_local_experts", 8),
            "experts_per_token": cfg.get("num_experts_per_tok", 2),
            "expert_intermediate_size": cfg["intermediate_size"],
        }
    if arch in ("qwen2_moe", "qwen3_moe"):
        shared = cfg.get("shared_expert_intermediate_size") or 0
        return {
            "num_experts": cfg["num_experts"],
            "experts_per_token": cfg["num_experts_per_tok"],
            "expert_intermediate_size": cfg["moe_intermediate_size"],
            "shared_experts": 1 if shared else 0,
            "shared_expert_intermediate_size": shared or None,
        }
    return None


def _window_fields(
    cfg: dict[str, Any], arch: str, layers: int, max_positions: int, source: str
) -> dict[str, Any]:
    window = cfg.get("sliding_window")
    if arch.startswith("qwen") and not cfg.get("use_sliding_window", False):
        window = None
    if window is None or window is False or window == 0:
        return {}
    size = _as_int(window, "sliding_window", source)
    if size >= max_positions:  # a window as long as the context is full attention
        return {}
    if arch == "gemma2":  # local and global layers alternate
        return {"sliding_window": size, "local_layers": layers // 2}
    return {"sliding_window": size}


def model_from_hf_config(
    cfg: dict[str, Any], source: str, model_id: str | None = None
) -> ModelSpec:
    """Build a ModelSpec from a parsed `config.json`; `source` names the file for messages."""
    arch = _model_type(cfg, source)
    layers = _require_int(cfg, "num_hidden_layers", source)
    heads = _require_int(cfg, "num_attention_heads", source)
    max_positions = _require_int(cfg, "max_position_embeddings", source)
    name = cfg.get("_name_or_path") or Path(source).parent.name or arch
    try:  # _moe_fields indexes the config directly: a missing key must not escape as KeyError
        moe = _moe_fields(cfg, arch)
    except KeyError as exc:
        raise MagicplanError(f"{source}: config.json field {exc} is missing") from exc
    fields: dict[str, Any] = {
        "id": model_id or _slug(str(name)),
        "name": str(name),
        "architecture": arch,
        "hidden_size": _require_int(cfg, "hidden_size", source),
        "intermediate_size": cfg.get("intermediate_size")
        or cfg.get("moe_intermediate_size")
        or _require_int(cfg, "intermediate_size", source),
        "num_layers": layers,
        "num_attention_heads": heads,
        "num_kv_heads": cfg.get("num_key_value_heads") or heads,
        "head_dim": cfg.get("head_dim"),
        "vocab_size": _require_int(cfg, "vocab_size", source),
        "tie_word_embeddings": bool(cfg.get("tie_word_embeddings", _TIED_DEFAULT.get(arch, False))),
        "qkv_bias": arch in _QKV_BIAS or bool(cfg.get("attention_bias", False)),
        "qk_norm": arch in _QK_NORM,
        "norms_per_layer": 4 if arch in _FOUR_NORMS else 2,
        "moe": moe,
        "max_position_embeddings": max_positions,
        "mtp_layers": int(
            cfg.get("num_nextn_predict_layers") or cfg.get("mtp_num_hidden_layers") or 0
        ),
        "dtype": _dtype(cfg, source),
        "source": f"config.json: {source}",
        **_window_fields(cfg, arch, layers, max_positions, source),
    }
    if cfg.get("quantization_config") is not None:  # GPTQ, AWQ, FP8 ... checkpoints
        fields |= from_quantization_config(cfg["quantization_config"], source)
    try:
        return ModelSpec(**fields)
    except (ValidationError, ValueError) as exc:
        text = format_validation_error(exc, source) if isinstance(exc, ValidationError) else (
            f"{source}: {exc}")  # fmt: skip
        raise MagicplanError(in_hf_terms(text)) from exc


# The profile's field names that config.json spells otherwise, for its error messages.
HF_NAMES = {"num_layers": "num_hidden_layers", "num_kv_heads": "num_key_value_heads"}


def in_hf_terms(message: str) -> str:
    """A validation message about a config.json, in that file's key names."""
    for native, hf in HF_NAMES.items():
        message = re.sub(rf"\b{native}\b", hf, message)
    return message.replace(": field '", ": config.json field '", 1)


def _dtype(cfg: dict[str, Any], source: str) -> str:
    """The weights' dtype (`torch_dtype`, newer `dtype`; absent: bfloat16), or a
    MagicplanError naming the key and what is modelled."""
    key = "torch_dtype" if cfg.get("torch_dtype") is not None else "dtype"
    given = cfg.get(key)
    if given is None:
        return "bfloat16"
    if str(given) not in _DTYPES:
        raise MagicplanError(
            f"{source}: config.json field '{key}' is '{given}'; modelled: {', '.join(_DTYPES)} "
            "(a quantized checkpoint says so in quantization_config)"
        )
    return _DTYPES[str(given)]
