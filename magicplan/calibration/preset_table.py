"""The engine presets: which published decode rows each shipped engine profile is fitted to, what
moves, and which rows are left out and why (`calibration.presets` fits and reports them).

Row ids are those of magicplan/data/engine_measurements.csv (reference) and
engine_measurements_sourced.csv (each row with its source and derivation). Rows that fail the
physical checks of `calibration.screening` are left out automatically; `left_out` names rows that
pass them but do not describe the engine's default configuration, or that the cost model cannot
describe.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class EnginePreset:
    """Which rows an engine profile is fitted to, and what moves.

    `rows`: regular expression over row ids (decode_step rows); `free`: engine-level parameters;
    `per_hardware`: GPU → parameters fitted on that GPU alone (only where it has enough rows);
    `kv_formats`: row ids → the KV-cache format their source names; `left_out`: row ids → why;
    `kv_budget`: the fraction of the memory left after the weights that the measured engine
    version gives its KV cache (rows beyond it were not all resident)."""

    engine: str
    rows: str
    free: tuple[str, ...]
    per_hardware: dict[str, tuple[str, ...]] = field(default_factory=dict)
    kv_formats: dict[str, str] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)
    kv_budget: float | None = None


_LAYER_SPLIT = (
    "multi-GPU layer split (one GPU active at a time), not the tensor parallelism the cost "
    "model describes"
)
_OVERHEAD = ("step_overhead_us", "layer_overhead_us")
_ETA = ("memory_efficiency",)

PRESETS: dict[str, EnginePreset] = {
    "vllm": EnginePreset(
        engine="vllm",
        rows="vp0[1-3]|vp0[5-7]|vp09|vp1[0134]|vo01|vll0[34]",
        free=(*_OVERHEAD, "allreduce_latency_us"),
        left_out={
            "vp09|vp1[0134]": "PR #23197's RTN weight-only kernel (--quantization rtn), not the "
            "Marlin kernels vLLM runs for GPTQ/AWQ checkpoints (out of sample)",
            "vll04": "candidate_compile_sizes=[1], not the default compilation",
        },
    ),
    "vllm-v0": EnginePreset(
        engine="vllm-v0",
        rows="vq.*|va0[12]|prem0[345]|lpb1[26]|vll0[12]",
        free=(
            *_OVERHEAD,
            "allreduce_latency_us",
            "int8_weight_efficiency",
            "int4_weight_efficiency",
        ),
        left_out={"vll02": "-O3 (torch.compile level 3), not the V0 default"},
    ),
    "sglang": EnginePreset(
        engine="sglang",
        rows="so01|sgl.*",
        free=(*_OVERHEAD, "allreduce_latency_us"),
        left_out={
            "sgl0[79]": "--disable-cuda-graph, not the default",
            "sgl02|sgl04|sgl10": "--enable-torch-compile, not the default",
        },
    ),
    "trtllm": EnginePreset(
        engine="trtllm",
        rows="tn0[12]|trt.*|jan0[12]",
        free=("layer_overhead_us", "attention_efficiency", "int4_weight_efficiency"),
        kv_formats={"tn0[12]|trt0[124-8]": "fp8"},  # FP8 KV cache per NVIDIA's build recipe
        left_out={
            "trt0[678]": "TensorRT-LLM v0.7a H200 launch figures: FP8 GEMMs at ~20 % of peak and "
            "HBM at ~30 %, unlike every other TensorRT-LLM row (out of sample)",
        },
    ),
    "hf-transformers": EnginePreset(
        engine="hf-transformers",
        rows="hfo.*|prem0[12]|agq.*",
        # generate() launches kernels from Python asynchronously: part of its per-layer host
        # time hides behind the GPU's work (host_overlap)
        free=(*_OVERHEAD, "int4_weight_efficiency", "host_overlap"),
        left_out={
            "agq0[12]": "transformers ~4.30 (mid-2023) with eager attention: about twice the "
            "per-layer time of the 4.37-4.39 rows this profile describes (out of sample)",
        },
    ),
    "llama.cpp": EnginePreset(
        engine="llama.cpp",
        rows="prem1[01]|lpb0[369]|lpb1[15]|xd.*|lcpr.*|jan0[34]",
        free=(*_OVERHEAD, "int8_weight_efficiency", "int4_weight_efficiency"),
        per_hardware={
            g: _ETA
            for g in (
                "a100-80gb-sxm",
                "a100-80gb-pcie",
                "h100-pcie",
                "rtx-4090",
                "rtx-3090",
                "l40s",
            )
        },
        left_out={"lpb1[15]": _LAYER_SPLIT},
    ),
    "lmdeploy": EnginePreset(
        engine="lmdeploy",
        rows="lmd.*",
        free=(*_OVERHEAD, "allreduce_latency_us"),
        per_hardware={"a100-80gb-sxm": _ETA},
        kv_budget=0.5,  # TurboMind 2.0 (v0.1) config.ini cache_max_entry_count = 0.5
    ),
    "mlc-llm": EnginePreset(
        engine="mlc-llm",
        rows="lpb(0[147]|1[03])",
        free=("layer_overhead_us", "allreduce_latency_us"),
        per_hardware={"rtx-4090": _ETA},
    ),
    "exllamav2": EnginePreset(
        engine="exllamav2",
        rows="prem0[89]|lpb0[258]|lpb14",
        free=("layer_overhead_us", "int8_weight_efficiency", "int4_weight_efficiency"),
        left_out={"lpb14": _LAYER_SPLIT},
    ),
    "deepspeed-mii": EnginePreset(
        engine="deepspeed-mii", rows="prem0[67]", free=("layer_overhead_us",)
    ),
    "gpt-fast": EnginePreset(
        engine="gpt-fast",
        rows="gf0[1-8]|wgf.*",
        free=(
            "layer_overhead_us",
            "allreduce_latency_us",
            "allreduce_latency_per_doubling_us",
            "int8_weight_efficiency",
            "int4_weight_efficiency",
        ),
        per_hardware={"a100-80gb-sxm": _ETA},
        left_out={"wgf01|wgf09|wgf1[014]": "the same README figure as gf01/gf05-gf08"},
    ),
}
