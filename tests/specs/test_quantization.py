"""Weight and KV formats of a deployment (issue 13 item 10): bytes per weight by hand, format
names and aliases, and Hugging Face `quantization_config` blocks as checkpoints ship them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from magicplan.errors import MagicplanError
from magicplan.specs import load_model
from magicplan.specs.quantization import (
    FORMATS,
    format_fields,
    from_quantization_config,
    served,
    with_weight_format,
)
from tests.cost.conftest import make_model
from tests.specs.test_hf_config import CONFIGS

HIDDEN = 4096  # make_model's hidden size: the input width of a per-output-channel scale

# Bytes one linear-layer weight takes, scales and zero points included, from each layout:
# width + metadata bytes per group / group size.
BYTES_PER_WEIGHT = {
    "bf16": 2.0,
    "fp16": 2.0,
    "fp8": 1.0,  # e4m3, per-tensor scale: nothing per weight
    "int8": 1 + 2 / HIDDEN,  # one fp16 scale per output channel
    "int4": 0.5 + 2 / 128,  # RTN: fp16 scale per group of 128
    "gptq-int8": 1 + (2 + 1) / 128,  # fp16 scale + packed int8 zero per group of 128
    "gptq-int4": 0.5 + 2.5 / 128,  # fp16 scale + packed int4 zero
    "awq-int4": 0.5 + 2.5 / 128,  # AWQ: the same layout
    "q8_0": 34 / 32,  # ggml block_q8_0: fp16 scale + 32 int8 in 34 bytes
    "q4_0": 18 / 32,  # block_q4_0: fp16 scale + 32 nibbles in 18 bytes
    "q4_1": 20 / 32,  # block_q4_1: + fp16 minimum
    "q4_k": 144 / 256,  # block_q4_K: 144 bytes per super-block of 256
    "nf4": 0.5 + 4 / 64,  # QLoRA: fp32 absmax per block of 64 (before double quantization)
}


@pytest.mark.parametrize(("name", "expected"), sorted(BYTES_PER_WEIGHT.items()))
def test_bytes_per_weight_of_each_format(name: str, expected: float) -> None:
    model = with_weight_format(make_model(), name)
    assert model.linear_weight_bytes_per_parameter == pytest.approx(expected, rel=1e-12)


def test_every_format_has_a_hand_derived_width() -> None:
    # A format added without its layout above is a format without a test.
    assert set(FORMATS) - {"bfloat16", "float16"} == set(BYTES_PER_WEIGHT)


def test_int4_is_not_rounded_to_int8() -> None:
    base = make_model()
    int8 = with_weight_format(base, "int8")
    awq = with_weight_format(base, "awq-int4")
    linear = base.linear_parameters
    rest = base.num_parameters - linear
    # Linear weights at 0.5 + 2.5/128 bytes, embeddings and LM head kept in bf16.
    assert awq.weight_bytes() == pytest.approx(linear * (0.5 + 2.5 / 128) + rest * 2)
    linear_awq = awq.weight_bytes() - rest * 2
    linear_int8 = int8.weight_bytes() - rest * 2
    # About half of int8's bytes: half the width, plus the group scales and zeros.
    assert linear_awq / linear_int8 == pytest.approx((0.5 + 2.5 / 128) / (1 + 2 / HIDDEN))
    assert 0.5 < linear_awq / linear_int8 < 0.53


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [("q4_k_m", "q4_k"), ("Q4_K_M", "q4_k"), ("q4_k_s", "q4_k"), ("awq", "awq-int4"),
     ("gptq", "gptq-int4"), ("w4a16", "int4"), ("w8a16", "int8"), ("bnb-nf4", "nf4"),
     ("bnb-fp4", "nf4"), ("q4f16_1", "q4_0"), ("f16", "fp16"), (" AWQ-INT4 ", "awq-int4")],
)  # fmt: skip
def test_aliases_name_a_format(alias: str, canonical: str) -> None:
    assert format_fields(alias) == FORMATS[canonical]


def test_unknown_weight_format_names_the_field_and_the_choices() -> None:
    with pytest.raises(MagicplanError) as info:
        format_fields("int3")
    msg = str(info.value)
    assert msg.startswith("weight_dtype must be one of ") and "got 'int3'" in msg
    assert all(f in msg for f in ("awq-int4", "gptq-int4", "q4_k", "fp8", "nf4"))
    assert "\n" not in msg
    with pytest.raises(MagicplanError, match=r"did you mean .*awq-int4"):
        format_fields("awq-int5")


def test_served_sets_weights_and_kv_cache() -> None:
    base = make_model()
    m = served(base, "awq-int4", "fp8")
    assert (m.weight_dtype, m.weight_group_size, m.weight_group_bytes) == ("int4", 128, 2.5)
    assert m.cache_dtype == "fp8" and m.compute_dtype == "bfloat16"  # int4 dequantizes to bf16
    # 2 (K and V) × 32 layers × 32 KV heads × 128 head dim × 1 byte
    assert m.kv_bytes_per_token(m.cache_dtype) == 2 * 32 * 32 * 128 * 1
    assert served(base, None, None) is base and served(base, " ", "") is base
    assert served(base, "fp8", None).compute_dtype == "fp8"  # W8A8: GEMMs in fp8
    assert served(base, None, "bf16").cache_dtype == "bfloat16"
    assert served(base, None, "FP8_E5M2").cache_dtype == "fp8"
    # A quantized checkpoint served in bf16 loses its group layout.
    back = served(m, "bf16", None)
    assert back.weight_dtype is None and back.weight_group_size is None
    assert back.linear_weight_bytes_per_parameter == 2


def test_unknown_kv_format_names_the_field_and_the_choices() -> None:
    with pytest.raises(MagicplanError) as info:
        served(make_model(), None, "int4")
    msg = str(info.value)
    assert msg == "kv_dtype must be one of bfloat16, float16, fp8, float32; got 'int4'"


# quantization_config blocks as Hugging Face checkpoints ship them in config.json.
GPTQ = {  # TheBloke/Llama-2-7B-GPTQ (AutoGPTQ)
    "bits": 4,
    "group_size": 128,
    "damp_percent": 0.01,
    "desc_act": False,
    "sym": True,
    "true_sequential": True,
    "model_name_or_path": None,
    "model_file_base_name": "model",
    "quant_method": "gptq",
}
AWQ = {"quant_method": "awq", "zero_point": True, "group_size": 128, "bits": 4, "version": "gemm"}
FP8 = {"activation_scheme": "dynamic", "quant_method": "fp8"}
FBGEMM_FP8 = {  # meta-llama/Llama-3.1-405B-Instruct-FP8
    "activation_scale_ub": 1200.0,
    "modules_to_not_convert": ["lm_head"],
    "quant_method": "fbgemm_fp8",
}
BNB_NF4 = {  # transformers BitsAndBytesConfig(load_in_4bit=True, ...).to_dict()
    "_load_in_4bit": True,
    "_load_in_8bit": False,
    "bnb_4bit_compute_dtype": "bfloat16",
    "bnb_4bit_quant_storage": "uint8",
    "bnb_4bit_quant_type": "nf4",
    "bnb_4bit_use_double_quant": True,
    "llm_int8_enable_fp32_cpu_offload": False,
    "llm_int8_has_fp16_weight": False,
    "llm_int8_skip_modules": None,
    "llm_int8_threshold": 6.0,
    "load_in_4bit": True,
    "load_in_8bit": False,
    "quant_method": "bitsandbytes",
}
BNB_INT8 = BNB_NF4 | {"_load_in_4bit": False, "_load_in_8bit": True, "load_in_4bit": False,
                      "load_in_8bit": True}  # fmt: skip


# What LLM Compressor writes besides the scheme itself.
WEIGHT_DEFAULTS: dict[str, Any] = {"actorder": None, "block_structure": None, "dynamic": False,
                   "observer": "minmax", "observer_kwargs": {}, "symmetric": True}  # fmt: skip


def compressed_tensors(weights: dict[str, Any]) -> dict[str, Any]:
    """A compressed-tensors block (LLM Compressor; e.g. neuralmagic's *-quantized.w4a16)."""
    return {
        "config_groups": {
            "group_0": {
                "input_activations": None,
                "output_activations": None,
                "targets": ["Linear"],
                "weights": WEIGHT_DEFAULTS | weights,
            }
        },
        "format": "pack-quantized",
        "global_compression_ratio": 1.89,
        "ignore": ["lm_head"],
        "kv_cache_scheme": None,
        "quant_method": "compressed-tensors",
        "quantization_status": "compressed",
    }


W4A16 = {"group_size": 128, "num_bits": 4, "strategy": "group", "type": "int"}
W8A8_FP8 = {"group_size": None, "num_bits": 8, "strategy": "channel", "type": "float"}
W8A8_INT8 = {"group_size": None, "num_bits": 8, "strategy": "channel", "type": "int"}


@pytest.mark.parametrize(
    ("qc", "fields", "bytes_per_weight"),
    [
        (GPTQ, ("int4", 128, 2.5), 0.5 + 2.5 / 128),
        (GPTQ | {"bits": 8}, ("int8", 128, 3.0), 1 + 3 / 128),
        # group_size -1: one scale and zero per output channel (its input width)
        (GPTQ | {"group_size": -1}, ("int4", None, 2.5), 0.5 + 2.5 / HIDDEN),
        (GPTQ | {"quant_method": "gptq_marlin"}, ("int4", 128, 2.5), 0.5 + 2.5 / 128),
        (AWQ, ("int4", 128, 2.5), 0.5 + 2.5 / 128),
        (AWQ | {"zero_point": False}, ("int4", 128, 2.0), 0.5 + 2 / 128),
        # AutoAWQ's own quant_config keys
        ({"quant_method": "awq", "w_bit": 4, "q_group_size": 64, "zero_point": True},
         ("int4", 64, 2.5), 0.5 + 2.5 / 64),
        (FP8, ("fp8", None, None), 1.0),
        (FBGEMM_FP8, ("fp8", None, None), 1.0),
        (BNB_NF4, ("int4", 64, 4.0), 0.5 + 4 / 64),
        (BNB_INT8, ("int8", None, None), 1 + 2 / HIDDEN),
        (compressed_tensors(W4A16), ("int4", 128, 2.0), 0.5 + 2 / 128),
        (compressed_tensors(W8A8_FP8), ("fp8", None, None), 1.0),
        (compressed_tensors(W8A8_INT8), ("int8", None, 2.0), 1 + 2 / HIDDEN),
    ],
)  # fmt: skip
def test_quantization_config_to_weight_format(
    qc: dict[str, Any], fields: tuple[Any, ...], bytes_per_weight: float
) -> None:
    got = from_quantization_config(qc, "config.json")
    keys = ("weight_dtype", "weight_group_size", "weight_group_bytes")
    assert tuple(got.get(k) for k in keys) == fields
    model = make_model(**got)
    assert model.linear_weight_bytes_per_parameter == pytest.approx(bytes_per_weight, rel=1e-12)


@pytest.mark.parametrize(
    ("qc", "match"),
    [
        ("gptq", "field 'quantization_config' must be a mapping"),
        (GPTQ | {"bits": 3}, r"quantization_config.bits must be 4 or 8 for gptq; got 3"),
        ({"quant_method": "hqq", "nbits": 4}, r"quant_method 'hqq' is not modelled; supported:"),
        (compressed_tensors({"num_bits": 2, "type": "int"}), r"\(int, 2 bits\) not modelled"),
    ],
)
def test_unmodelled_quantization_config_names_the_key(qc: Any, match: str) -> None:
    with pytest.raises(MagicplanError, match=match) as info:
        from_quantization_config(qc, "ckpt/config.json")
    assert str(info.value).startswith("ckpt/config.json: ")


# LLM Compressor's FP8 KV cache (e.g. neuralmagic's *-FP8-KV checkpoints).
FP8_KV = {"num_bits": 8, "type": "float", "strategy": "tensor", "dynamic": False,
          "symmetric": True}  # fmt: skip


def test_an_fp8_kv_cache_scheme_sets_the_kv_format() -> None:
    ct = compressed_tensors(W8A8_FP8) | {"kv_cache_scheme": FP8_KV}
    assert from_quantization_config(ct, "config.json") == {"weight_dtype": "fp8", "kv_dtype": "fp8"}
    assert from_quantization_config(FP8 | {"kv_cache_scheme": FP8_KV}, "c")["kv_dtype"] == "fp8"
    assert "kv_dtype" not in from_quantization_config(compressed_tensors(W4A16), "c")
    model = make_model(**from_quantization_config(ct, "config.json"))
    assert model.cache_dtype == "fp8"
    with pytest.raises(MagicplanError, match=r"kv_cache_scheme .* not modelled; supported"):
        from_quantization_config(ct | {"kv_cache_scheme": {"num_bits": 4, "type": "int"}}, "c")


# Llama-3.1-8B's config.json (tests/specs/test_hf_config.py), as an fp16 checkpoint.
LLAMA_CONFIG = CONFIGS["llama-3.1-8b"] | {"torch_dtype": "float16"}


def test_a_quantized_checkpoint_folder_loads_its_weight_format(tmp_path: Path) -> None:
    ckpt = tmp_path / "Meta-Llama-3.1-8B-AWQ"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps(LLAMA_CONFIG | {"quantization_config": AWQ}))
    model = load_model(ckpt)
    assert (model.weight_dtype, model.weight_group_size, model.weight_group_bytes) == (
        "int4", 128, 2.5,
    )  # fmt: skip
    assert model.dtype == "float16"  # embeddings, LM head and activations
    # Llama-3.1-8B: 6,979,321,856 linear weights (32 × (4096 × (2·4096 + 2·1024) + 3·4096·14336))
    # at 0.5 + 2.5/128 bytes, 2 × 128256 × 4096 embedding + LM head and 65 norms of 4096 in fp16.
    linear = 32 * (4096 * (2 * 4096 + 2 * 1024) + 3 * 4096 * 14336)
    assert linear == model.linear_parameters == 6_979_321_856
    rest = 2 * 128256 * 4096 + 65 * 4096
    assert model.weight_bytes() == pytest.approx(linear * (0.5 + 2.5 / 128) + rest * 2)
    fp8 = tmp_path / "fp8.json"
    fp8.write_text(json.dumps(LLAMA_CONFIG | {"quantization_config": FP8}))
    assert load_model(fp8).weight_dtype == "fp8"
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(LLAMA_CONFIG))
    assert load_model(plain).weight_dtype is None


def test_a_bad_quantization_config_in_a_checkpoint_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(LLAMA_CONFIG | {"quantization_config": GPTQ | {"bits": 2}}))
    with pytest.raises(MagicplanError) as info:
        load_model(path)
    assert str(info.value) == f"{path}: quantization_config.bits must be 4 or 8 for gptq; got 2"


def test_a_checkpoints_fp8_kv_cache_is_its_drafts_too(tmp_path: Path) -> None:
    # A compressed-tensors FP8 checkpoint with an FP8 kv_cache_scheme plans as --weight-dtype fp8
    # --kv-dtype fp8 does: the draft's cache in FP8 too (it stayed bf16: 24.17 GB, not 22.07).
    from magicplan.planner import plan

    ckpt = tmp_path / "Llama-3.1-8B-FP8-KV"
    ckpt.mkdir()
    qc = compressed_tensors(W8A8_FP8) | {"kv_cache_scheme": FP8_KV}
    (ckpt / "config.json").write_text(json.dumps(LLAMA_CONFIG | {"quantization_config": qc}))
    kw: dict[str, Any] = {"drafts": ["llama-3.2-1b"], "acceptance": 0.8, "engine": "vllm"}
    mine = plan("h100-sxm", 1, str(ckpt), 16, 8000, **kw)["best"]
    asked = plan("h100-sxm", 1, "llama-3.1-8b", 16, 8000, weight_dtype="fp8", kv_dtype="fp8",
                 **kw)["best"]  # fmt: skip
    assert mine["memory_per_gpu_gb"] == pytest.approx(asked["memory_per_gpu_gb"])
    assert mine["speedup"] == pytest.approx(asked["speedup"])
    assert load_model(str(ckpt)).kv_bytes_per_token("fp8") == 65536  # 2·32·8·128·1 byte
