"""Every shipped hardware and model profile loads, and its numbers match published anchors."""

from __future__ import annotations

import pytest

from magicplan.errors import MagicplanError
from magicplan.specs import list_hardware, list_models, load_hardware, load_model
from magicplan.specs.hardware import PEAK_FIELD
from magicplan.specs.registry import profiles_dir

HARDWARE_IDS = [
    "a100-40gb-sxm", "a100-80gb-sxm", "a100-80gb-pcie", "h100-sxm", "h100-pcie", "h100-nvl",
    "h200-sxm", "b200", "gb200", "l40", "l40s", "l4", "a10g", "rtx-4090", "rtx-3090", "t4",
    "v100-sxm2-32gb", "mi250x", "mi300x", "mi325x", "gaudi2", "gaudi3", "tpu-v5e", "tpu-v5p",
    "tpu-v6e",
]  # fmt: skip

MODEL_IDS = [
    "llama-2-7b", "llama-2-7b-32k", "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b",
    "llama-3.2-1b", "llama-3.2-3b", "llama-3.3-70b", "tinyllama-1.1b", "qwen2.5-0.5b",
    "qwen2.5-1.5b", "qwen2.5-3b", "qwen2.5-7b", "qwen2.5-14b", "qwen2.5-32b", "qwen2.5-72b",
    "qwen3-8b", "qwen3-32b", "mistral-7b-v0.3", "mixtral-8x7b", "gemma-2-9b", "gemma-2-27b",
    "phi-3-mini",
]  # fmt: skip

# Dense (no 2:4 sparsity) BF16 tensor peak of every NVIDIA profile, TFLOP/s: half the '*'
# figure NVIDIA prints. T4 and V100 have no BF16 (None); their FP16 figure is checked instead.
NVIDIA_DENSE_BF16 = {
    "a100-40gb-sxm": 312, "a100-80gb-sxm": 312, "a100-80gb-pcie": 312,
    "h100-sxm": 989, "h100-pcie": 756.5, "h100-nvl": 835, "h200-sxm": 989,
    "b200": 2250, "gb200": 2500,
    "l40": 181.05, "l40s": 362.05, "l4": 121, "a10g": 70,
    "rtx-4090": 165.2, "rtx-3090": 71,
    "t4": None, "v100-sxm2-32gb": None,
}  # fmt: skip
NVIDIA_DENSE_FP16_ONLY = {"t4": 65, "v100-sxm2-32gb": 125}


# --- loading --------------------------------------------------------------------------------


def test_every_hardware_profile_loads() -> None:
    hardware = list_hardware()
    ids = [h.id for h in hardware]
    assert len(hardware) >= 25
    assert len(set(ids)) == len(ids)
    assert set(HARDWARE_IDS) <= set(ids), sorted(set(HARDWARE_IDS) - set(ids))


def test_every_model_profile_loads() -> None:
    models = list_models()
    ids = [m.id for m in models]
    assert len(models) >= 20
    assert len(set(ids)) == len(ids)
    assert set(MODEL_IDS) <= set(ids), sorted(set(MODEL_IDS) - set(ids))


def test_file_name_is_the_id() -> None:
    for kind, loader in (("hardware_profiles", load_hardware), ("model_profiles", load_model)):
        for path in sorted(profiles_dir(kind).glob("*.yaml")):
            assert loader(path).id == path.stem, path


def test_profiles_load_by_id() -> None:
    assert load_hardware("h100-sxm").name.startswith("NVIDIA H100")
    assert load_model("llama-3.1-8b").hidden_size == 4096


def test_every_hardware_profile_cites_each_number() -> None:
    # The schema rejects unsourced numbers; here also every citation must say something real.
    for h in list_hardware():
        cited = {f for s in h.sources for f in s.fields}
        if "memory_gib" in cited:
            cited.add("memory_gb")  # derived from the cited GiB figure
        for field in type(h).model_fields:
            value = getattr(h, field)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                assert field in cited, (h.id, field)
        for s in h.sources:
            assert len(s.citation) >= 20, (h.id, s.citation)


def test_every_model_profile_names_its_config() -> None:
    for m in list_models():
        assert m.hf_id and "/" in m.hf_id, m.id
        assert "config" in m.source.lower() or "readme" in m.source.lower() or "blog" in m.source, (
            m.id
        )


# --- hardware anchors -----------------------------------------------------------------------


def test_datasheet_anchors() -> None:
    h100 = load_hardware("h100-sxm")
    assert h100.bf16_dense_tflops == 989  # not the 1,979 sparse figure
    assert h100.peak_flops_per_s("bfloat16") == pytest.approx(989e12)
    assert h100.scaleup_link_gb_s == 450  # NVLink 900 GB/s total = 450 per direction
    assert load_hardware("h200-sxm").hbm_bandwidth_tb_s == 4.8
    assert load_hardware("h200-sxm").memory_bandwidth_bytes_per_s == pytest.approx(4.8e12)
    assert load_hardware("mi300x").bf16_dense_tflops == 1307.4
    assert load_hardware("mi300x").fp8_dense_tflops == 2614.9
    assert load_hardware("a100-80gb-sxm").hbm_bandwidth_tb_s == 2.039
    assert load_hardware("gaudi3").bf16_dense_tflops == 1835  # whitepaper clock
    assert load_hardware("tpu-v5e").bf16_dense_tflops == 197


def test_every_nvidia_profile_is_dense() -> None:
    nvidia = {h.id: h for h in list_hardware() if h.vendor == "nvidia"}
    # A new NVIDIA profile must be added to the table above (and checked against its datasheet).
    assert set(nvidia) == set(NVIDIA_DENSE_BF16), sorted(set(nvidia) ^ set(NVIDIA_DENSE_BF16))
    for hw_id, expected in NVIDIA_DENSE_BF16.items():
        h = nvidia[hw_id]
        assert h.bf16_dense_tflops == expected, hw_id
        if expected is None:
            assert h.fp16_dense_tflops == NVIDIA_DENSE_FP16_ONLY[hw_id], hw_id
        else:
            assert h.fp16_dense_tflops == expected, hw_id


def test_nvidia_fp8_is_twice_bf16() -> None:
    # FP8 dense = 2 x BF16 dense on Hopper/Ada/Blackwell; a sparse figure would break the ratio.
    # (NVIDIA's own L40S sheet gives 733 / 362.05 = 2.02.)
    for h in list_hardware():
        if h.vendor == "nvidia" and h.fp8_dense_tflops is not None:
            assert h.bf16_dense_tflops is not None
            assert h.fp8_dense_tflops / h.bf16_dense_tflops == pytest.approx(2, rel=0.03), h.id


def test_unsupported_dtypes_are_absent() -> None:
    for hw_id in ("a100-40gb-sxm", "a100-80gb-sxm", "a100-80gb-pcie", "v100-sxm2-32gb", "t4"):
        h = load_hardware(hw_id)
        assert h.fp8_dense_tflops is None and not h.supports("fp8"), hw_id
    for hw_id in ("t4", "v100-sxm2-32gb"):
        h = load_hardware(hw_id)
        assert not h.supports("bfloat16")
        # bf16 models run on the FP16 tensor cores.
        assert h.peak_flops_per_s("bfloat16") == h.fp16_dense_tflops * 1e12  # type: ignore[operator]
    assert load_hardware("h100-sxm").supports("fp8")


def test_hbm_gib_written_as_decimal_gb() -> None:
    gib = 2**30
    for hw_id, gibibytes in (("a100-80gb-sxm", 80), ("h100-sxm", 80), ("h100-pcie", 80),
                             ("h200-sxm", 141), ("mi300x", 192)):  # fmt: skip
        assert load_hardware(hw_id).memory_bytes == pytest.approx(gibibytes * gib, rel=1e-3), hw_id


def test_links_are_per_direction() -> None:
    assert load_hardware("a100-80gb-sxm").scaleup_link_gb_s == 300
    assert load_hardware("b200").scaleup_link_gb_s == 900
    assert load_hardware("v100-sxm2-32gb").scaleup_link_gb_s == 150
    assert load_hardware("mi300x").scaleup_link_gb_s == 448
    assert load_hardware("tpu-v6e").scaleup_link_gb_s == 400  # 800 bidirectional / 2
    for hw_id in ("l4", "l40", "l40s", "t4", "a10g", "rtx-4090", "rtx-3090"):
        h = load_hardware(hw_id)
        assert h.scaleup_link_gb_s is None, hw_id
        assert h.host_link_gb_s in (15.75, 31.5, 63), hw_id
        assert h.link_bandwidth_bytes_per_s == h.host_link_gb_s * 1e9  # type: ignore[operator]


def test_no_shipped_profile_gains_a_calibration_here() -> None:
    # Only profiles with a fitted calibration carry one; its provenance says how it was made.
    for h in list_hardware():
        if h.calibration is not None:
            assert h.calibration.provenance.method in ("default", "fit", "calibrate"), h.id


# --- model anchors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "params"),
    [
        ("llama-3.1-8b", 8_030_261_248),
        ("llama-3.2-1b", 1_235_814_400),
        ("qwen2.5-7b", 7_615_616_512),
        ("qwen2.5-0.5b", 494_032_768),
        ("qwen2.5-72b", 72_706_203_648),
        ("mixtral-8x7b", 46_702_792_704),
    ],
)
def test_parameter_counts_match_published_checkpoints(model_id: str, params: int) -> None:
    assert load_model(model_id).num_parameters == params


def test_mixtral_active_parameters() -> None:
    m = load_model("mixtral-8x7b")
    assert m.num_parameters == pytest.approx(46.7e9, rel=1e-3)
    assert m.num_active_parameters == 12_879_925_248


@pytest.mark.parametrize(
    ("model_id", "params"),
    [
        ("llama-2-7b", 6_738_415_616),
        ("llama-3.1-70b", 70_553_706_496),
        ("llama-3.1-405b", 405_853_388_800),
        ("llama-3.2-3b", 3_212_749_824),
        ("qwen3-8b", 8_190_735_360),
        ("qwen3-32b", 32_762_123_264),
        ("mistral-7b-v0.3", 7_248_023_552),
        ("gemma-2-9b", 9_241_705_984),
        ("phi-3-mini", 3_821_079_552),
        ("tinyllama-1.1b", 1_100_048_384),
    ],
)
def test_parameter_counts_derived_in_specs_reference(model_id: str, params: int) -> None:
    assert load_model(model_id).num_parameters == params


@pytest.mark.parametrize(
    ("model_id", "kv_bytes"),
    [
        ("llama-3.1-8b", 131_072),
        ("llama-2-7b", 524_288),
        ("llama-2-7b-32k", 524_288),
        ("tinyllama-1.1b", 22_528),
        ("qwen2.5-7b", 57_344),
        ("mixtral-8x7b", 131_072),
        ("gemma-2-9b", 344_064),
    ],
)
def test_kv_bytes_per_token_bf16(model_id: str, kv_bytes: int) -> None:
    assert load_model(model_id).kv_bytes_per_token("bfloat16") == kv_bytes


def test_architecture_flags() -> None:
    for model_id in ("qwen2.5-0.5b", "qwen2.5-7b", "qwen2.5-72b"):
        m = load_model(model_id)
        assert m.qkv_bias and not m.qk_norm, model_id
        assert m.sliding_window is None, model_id  # declared in config.json but unused
    for model_id in ("qwen3-8b", "qwen3-32b"):
        m = load_model(model_id)
        assert m.qk_norm and not m.qkv_bias and m.head_dim == 128, model_id
    gemma = load_model("gemma-2-9b")
    assert gemma.tie_word_embeddings and gemma.norms_per_layer == 4 and gemma.head_dim == 256
    assert (gemma.sliding_window, gemma.num_local_layers) == (4096, 21)
    assert load_model("phi-3-mini").sliding_window == 2047
    assert load_model("mistral-7b-v0.3").sliding_window is None
    assert load_model("llama-3.2-1b").tie_word_embeddings
    assert not load_model("tinyllama-1.1b").tie_word_embeddings


def test_draft_target_pairs_share_a_vocabulary() -> None:
    # Speculative decoding needs draft and target to share a tokenizer.
    pairs = [("tinyllama-1.1b", "llama-2-7b"), ("llama-3.2-1b", "llama-3.1-70b"),
             ("qwen2.5-0.5b", "qwen2.5-1.5b")]  # fmt: skip
    for draft, target in pairs:
        assert load_model(draft).vocab_size == load_model(target).vocab_size


def test_peak_fields_cover_every_dtype() -> None:
    # Every shipped profile answers peak_flops_per_s for every narrow dtype (via fallbacks);
    # float32 never borrows a narrower rate, so parts without an FP32 figure refuse it.
    for h in list_hardware():
        for dtype in PEAK_FIELD:
            if dtype == "float32" and h.fp32_tflops is None and h.tf32_dense_tflops is None:
                with pytest.raises(MagicplanError, match="float32"):
                    h.peak_flops_per_s(dtype)
                continue
            assert h.peak_flops_per_s(dtype) > 0, (h.id, dtype)


def test_every_profile_names_its_tokenizer() -> None:
    # Family and real vocabulary decide draft compatibility; the embedding may be padded beyond.
    for m in list_models():
        assert m.tokenizer and m.tokenizer_vocab_size, m.id
        assert m.tokenizer_vocab_size <= m.vocab_size, m.id
    assert load_model("qwen2.5-0.5b").tokenizer == load_model("qwen2.5-72b").tokenizer
    assert load_model("tinyllama-1.1b").tokenizer != load_model("mixtral-8x7b").tokenizer
