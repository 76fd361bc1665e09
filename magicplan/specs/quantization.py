"""Weight and KV-cache formats of a deployment: how a model's bytes change when it is served
quantized. A format is a name (`--weight-dtype`, a scenarios column, a checkpoint's
`quantization_config`) for the ModelSpec fields `weight_dtype`, `weight_group_size`,
`weight_group_bytes` and `dtype`.

Layouts (bytes per weight = width + group bytes / group size):
- GPTQ (Frantar et al. 2022, arXiv 2210.17323; AutoGPTQ layout): int4 or int8 weights, per group
  of `group_size` (128 by default) input channels a float16 scale and a packed zero point of the
  weight's width;
- AWQ (Lin et al. 2023, arXiv 2306.00978): int4, group 128, float16 scale + int4 zero;
- weight-only int8 / int4 round-to-nearest: int8 per output channel, int4 per group of 128, one
  float16 scale each;
- FP8 (e4m3, W8A8): one byte per weight, GEMMs in fp8;
- GGUF (llama.cpp ggml-common.h block layouts): Q4_0 32 weights + fp16 scale in 18 bytes,
  Q4_1 + fp16 minimum in 20, Q8_0 34 bytes per 32, Q4_K 144 bytes per 256.
Embeddings and the LM head keep the model's dtype (what GPTQ, AWQ and FP8 checkpoints ship).
"""

from __future__ import annotations

from typing import Any

from magicplan.errors import MagicplanError, suggest
from magicplan.specs.model import ModelSpec

_INT4_G128 = {"weight_dtype": "int4", "weight_group_size": 128}
# name → ModelSpec fields
FORMATS: dict[str, dict[str, Any]] = {
    "bf16": {"dtype": "bfloat16"},
    "bfloat16": {"dtype": "bfloat16"},
    "fp16": {"dtype": "float16"},
    "float16": {"dtype": "float16"},
    "fp8": {"weight_dtype": "fp8"},
    "int8": {"weight_dtype": "int8"},
    "int4": {**_INT4_G128, "weight_group_bytes": 2.0},
    "gptq-int8": {"weight_dtype": "int8", "weight_group_size": 128, "weight_group_bytes": 3.0},
    "gptq-int4": {**_INT4_G128, "weight_group_bytes": 2.5},
    "awq-int4": {**_INT4_G128, "weight_group_bytes": 2.5},
    "q8_0": {"weight_dtype": "int8", "weight_group_size": 32, "weight_group_bytes": 2.0},
    "q4_0": {"weight_dtype": "int4", "weight_group_size": 32, "weight_group_bytes": 2.0},
    "q4_1": {"weight_dtype": "int4", "weight_group_size": 32, "weight_group_bytes": 4.0},
    "q4_k": {"weight_dtype": "int4", "weight_group_size": 256, "weight_group_bytes": 16.0},
    # bitsandbytes 4-bit (NF4/FP4): blocks of 64 with an absmax scale (Dettmers et al. 2023,
    # QLoRA, arXiv 2305.14314 §2: 4 bytes per 64 before double quantization).
    "nf4": {"weight_dtype": "int4", "weight_group_size": 64, "weight_group_bytes": 4.0},
}
ALIASES = {
    "int8 weight-only": "int8",
    "int4 weight-only": "int4",
    "w8a16": "int8",
    "w4a16": "int4",
    "awq": "awq-int4",
    "gptq": "gptq-int4",
    # Q4_K_M keeps a few tensors in Q6_K (~4.85 bits per weight against Q4_K's 4.5): modelled
    # as Q4_K, 7 % light on those bytes.
    "q4_k_m": "q4_k",
    "q4_k_s": "q4_k",
    "q4f16_1": "q4_0",  # MLC-LLM: 4-bit, groups of 32, float16 scale (the Q4_0 layout)
    "bnb-fp4": "nf4",
    "bnb-nf4": "nf4",
    "f16": "fp16",
    "exl2-8.0bpw": "int8",  # ExLlamaV2 at 8 bits per weight (scales included): int8's width
    "exl2-4.0bpw": "int4",
}
KV_FORMATS = ("bfloat16", "float16", "fp8", "float32")
_KV_ALIASES = {"bf16": "bfloat16", "fp16": "float16", "fp8_e4m3": "fp8", "fp8_e5m2": "fp8"}


def format_fields(name: str) -> dict[str, Any]:
    """The ModelSpec fields of weight format `name` (case-insensitive), or a MagicplanError."""
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in FORMATS:
        known = sorted(FORMATS)
        raise MagicplanError(
            f"weight_dtype must be one of {', '.join(known)}; got '{name}'{suggest(key, known)}"
        )
    return FORMATS[key]


def with_weight_format(model: ModelSpec, name: str | None) -> ModelSpec:
    """`model` served with weights in format `name` (None: as it is)."""
    if name is None or not name.strip():
        return model
    reset = {"weight_dtype": None, "weight_group_size": None, "weight_group_bytes": None}
    return model.model_copy(update=reset | format_fields(name))


def with_kv_format(model: ModelSpec, name: str | None) -> ModelSpec:
    """`model` with its KV cache stored in `name` (None: the model's dtype)."""
    if name is None or not name.strip():
        return model
    key = _KV_ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in KV_FORMATS:
        raise MagicplanError(f"kv_dtype must be one of {', '.join(KV_FORMATS)}; got '{name}'")
    return model.model_copy(update={"kv_dtype": key})


def served(model: ModelSpec, weight_dtype: str | None, kv_dtype: str | None) -> ModelSpec:
    """`model` with its weights in `weight_dtype` and its KV cache in `kv_dtype` (None or blank:
    as it is)."""
    return with_kv_format(with_weight_format(model, weight_dtype), kv_dtype)


def from_quantization_config(qc: Any, source: str) -> dict[str, Any]:
    """ModelSpec fields from a Hugging Face config.json `quantization_config` (GPTQ, AWQ, FP8,
    compressed-tensors, bitsandbytes), or a MagicplanError naming the key."""
    if not isinstance(qc, dict):
        raise MagicplanError(f"{source}: config.json field 'quantization_config' must be a mapping")
    method = str(qc.get("quant_method", "")).lower()
    bits = qc.get("bits", qc.get("w_bit"))
    group = qc.get("group_size", qc.get("q_group_size", 128))
    if method in ("gptq", "awq", "marlin", "gptq_marlin", "awq_marlin"):
        if bits not in (4, 8):
            raise MagicplanError(
                f"{source}: quantization_config.bits must be 4 or 8 for {method}; got {bits!r}"
            )
        zero = (
            bits / 8
            if qc.get("zero_point", method.startswith("awq")) or method.startswith("gptq")
            else 0.0
        )
        size = int(group) if isinstance(group, int) and group > 0 else None
        return {
            "weight_dtype": f"int{bits}",
            "weight_group_size": size,
            "weight_group_bytes": 2.0 + zero,
        }
    if method in ("fp8", "fbgemm_fp8"):
        return {"weight_dtype": "fp8"} | _kv_cache_scheme(qc, source)
    if method == "bitsandbytes":
        if qc.get("load_in_4bit"):
            return {"weight_dtype": "int4", "weight_group_size": 64, "weight_group_bytes": 4.0}
        return {"weight_dtype": "int8"}
    if method == "compressed-tensors":
        return _compressed_tensors(qc, source) | _kv_cache_scheme(qc, source)
    raise MagicplanError(
        f"{source}: quantization_config.quant_method '{method}' is not modelled; supported: "
        "gptq, awq, fp8, bitsandbytes, compressed-tensors"
    )


def _compressed_tensors(qc: dict[str, Any], source: str) -> dict[str, Any]:
    """The first config group of a compressed-tensors checkpoint (LLM Compressor's format)."""
    groups = qc.get("config_groups") or {}
    first: Any = next(iter(groups.values()), {}) if isinstance(groups, dict) else {}
    weights: Any = (first.get("weights") or {}) if isinstance(first, dict) else {}
    bits, kind = weights.get("num_bits"), str(weights.get("type", "int"))
    if kind == "float" and bits == 8:
        return {"weight_dtype": "fp8"}
    if kind == "int" and bits in (4, 8):
        size = weights.get("group_size")
        return {
            "weight_dtype": f"int{bits}",
            "weight_group_size": size if isinstance(size, int) and size > 0 else None,
            "weight_group_bytes": 2.0,
        }
    raise MagicplanError(
        f"{source}: quantization_config config_groups weights ({kind}, {bits} bits) not modelled"
    )


def _kv_cache_scheme(qc: dict[str, Any], source: str) -> dict[str, Any]:
    """An FP8 KV cache the checkpoint asks for (`kv_cache_scheme`: LLM Compressor writes
    {num_bits: 8, type: float}; vLLM then stores the cache in fp8)."""
    scheme = qc.get("kv_cache_scheme")
    if scheme is None:
        return {}
    if isinstance(scheme, dict) and scheme.get("num_bits") == 8 and scheme.get("type") == "float":
        return {"kv_dtype": "fp8"}
    raise MagicplanError(
        f"{source}: quantization_config.kv_cache_scheme {scheme!r} not modelled; supported: "
        "8-bit float (fp8)"
    )
