"""The model the runner actually builds: a dense Llama-style spec derived from a model profile.

On CPU the published shapes are far too large for a small box, so the spec is scaled down while
keeping what shapes the roofline: the GQA group size (query heads per KV head), the per-head
width, the MLP expansion ratio and tied embeddings. On CUDA the shapes are kept and only layers
are dropped until the weights fit a share of the GPU's memory. Both rules are deterministic in
(model, device, memory), so `validate` can rebuild the spec from the profile's provenance notes.

The runner is a plain Llama decoder: MoE, sliding windows, QKV bias and QK norms are not built,
so the derived spec drops them too (the cost model then counts exactly what runs).
"""

from __future__ import annotations

import json
from typing import Any

from magicplan.errors import MagicplanError
from magicplan.specs.model import DTYPE_BYTES, ModelSpec

DEFAULT_MODEL = "llama-3.1-8b"  # MagicDec's main self-speculation target (paper table 6)
# CPU scale-down. The weights fill a budget well above a CPU's last-level cache (share), so every
# step streams weights and KV from DRAM, as a real model's decode does, and one bandwidth
# describes the whole grid. (Measured on a 2-core Xeon VM, one thread: ~26 GB/s while the working
# set stays under ~48 MB, ~14 GB/s beyond 64 MB; a model straddling the two fits neither.)
CPU_WEIGHT_BUDGET_BYTES = 128e6
CPU_HIDDEN_SIZE = 512  # wide enough for GEMMs that run at a realistic fraction of peak
CPU_MAX_HEAD_DIM = 128  # Llama-3 / Qwen head width; wider heads are narrowed to this
CPU_MIN_HEAD_DIM = 16  # narrowest head kept when a large GQA group must fit CPU_HIDDEN_SIZE
HEAD_DIM_MULTIPLE = 8  # even (RoPE rotates pairs) and SIMD-friendly
CPU_VOCAB_SIZE = 4096  # keeps the LM head a small share of the weights, as in the big models
CPU_DTYPE = "float32"  # x86 CPUs without AMX run fp32 GEMMs fastest (measured: 2x bf16)
MIN_LAYERS = 2
MAX_CPU_LAYERS = 8
CUDA_WEIGHT_SHARE = 0.4  # of device memory for weights; the rest holds KV caches and workspace
CUDA_DTYPE = "bfloat16"
INTERMEDIATE_MULTIPLE = 64  # MLP width rounded to a SIMD/tensor-core friendly multiple


def _round_to(x: float, multiple: int) -> int:
    return max(multiple, round(x / multiple) * multiple)


def _dense(base: ModelSpec, **shape: Any) -> ModelSpec:
    """`base` as a dense Llama decoder with `shape` overrides and a provenance line."""
    data = base.model_dump(mode="python")
    data.update(
        moe=None,
        sliding_window=None,
        local_layers=None,
        qkv_bias=False,
        qk_norm=False,
        norms_per_layer=2,
        architecture="llama",
        hf_id=None,
        hf_aliases=(),
        tokenizer=None,  # random weights over a scaled vocabulary: no checkpoint's tokenizer
        tokenizer_vocab_size=None,
    )
    if base.moe is not None:  # the runner builds a dense MLP of one expert's width
        data["intermediate_size"] = base.moe.expert_intermediate_size
    data.update(shape)
    return ModelSpec(**data)


def cpu_spec(base: ModelSpec) -> ModelSpec:
    """`base` scaled down for a CPU: same GQA group, MLP ratio and tying; the head width too
    (≤128) unless one group of heads would not fit CPU_HIDDEN_SIZE, then narrowed until it does."""
    group = base.num_attention_heads // base.num_kv_heads
    fit = min(base.head_dim_eff, CPU_MAX_HEAD_DIM, CPU_HIDDEN_SIZE // group)
    head_dim = max(CPU_MIN_HEAD_DIM, fit // HEAD_DIM_MULTIPLE * HEAD_DIM_MULTIPLE)
    # As many KV heads as fit CPU_HIDDEN_SIZE with the model's group size (at least one).
    kv_heads = max(1, CPU_HIDDEN_SIZE // (group * head_dim))
    heads = kv_heads * group
    hidden = heads * head_dim
    width = base.moe.expert_intermediate_size if base.moe else base.intermediate_size
    inter = _round_to(hidden * width / base.hidden_size, INTERMEDIATE_MULTIPLE)
    vocab = min(base.vocab_size, CPU_VOCAB_SIZE)
    probe = _dense(
        base,
        hidden_size=hidden,
        intermediate_size=inter,
        num_attention_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        vocab_size=vocab,
        num_layers=1,
        dtype=CPU_DTYPE,
    )
    size = DTYPE_BYTES[CPU_DTYPE]
    per_layer = (probe.num_parameters - probe.embedding_parameters - hidden) * size
    fixed = (probe.embedding_parameters + hidden) * size
    layers = int((CPU_WEIGHT_BUDGET_BYTES - fixed) // per_layer)
    layers = min(max(layers, MIN_LAYERS), MAX_CPU_LAYERS, base.num_layers)
    return probe.model_copy(
        update={
            "id": f"{base.id}-cpu-scaled",
            "name": f"{base.name} scaled down for CPU",
            "num_layers": layers,
            "source": f"scaled from {base.id} by magicplan calibrate (torch_runner/scaled.py)",
        }
    )


def cuda_spec(base: ModelSpec, memory_bytes: float) -> ModelSpec:
    """`base`'s shapes in bf16, with layers dropped until weights fit a share of GPU memory."""
    full = _dense(base, dtype=CUDA_DTYPE)
    size = DTYPE_BYTES[CUDA_DTYPE]
    per_layer = (full.num_parameters - full.embedding_parameters - full.hidden_size) / (
        full.num_layers
    )
    fixed = (full.embedding_parameters + full.hidden_size) * size
    fit = int((CUDA_WEIGHT_SHARE * memory_bytes - fixed) // (per_layer * size))
    if fit < MIN_LAYERS:
        raise MagicplanError(f"--model {base.id}: too large to build even 2 layers on this GPU")
    layers = min(base.num_layers, fit)
    suffix = "" if layers == base.num_layers else f"-{layers}l"
    return full.model_copy(
        update={
            "id": f"{base.id}-cuda{suffix}",
            "num_layers": layers,
            "source": f"{base.id} shapes, {layers} of {base.num_layers} layers (torch_runner)",
        }
    )


def runner_spec(base: ModelSpec, device: str, memory_bytes: float = 0.0) -> ModelSpec:
    """The spec the runner builds for `base` on `device` ('cpu' or 'cuda')."""
    return cpu_spec(base) if device == "cpu" else cuda_spec(base, memory_bytes)


def spec_to_notes(spec: ModelSpec, extra: dict[str, Any]) -> str:
    """Provenance notes: the runner spec and run settings as one JSON line."""
    return json.dumps({"runner_model": spec.model_dump(mode="json"), **extra}, sort_keys=True)


def notes_to_spec(notes: str | None) -> tuple[ModelSpec | None, dict[str, Any]]:
    """The runner spec and settings stored by `spec_to_notes`, or (None, {}) if there are none."""
    if not notes:
        return None, {}
    try:
        data = json.loads(notes)
    except json.JSONDecodeError:
        return None, {}
    if not isinstance(data, dict) or "runner_model" not in data:
        return None, {}
    return ModelSpec(**data.pop("runner_model")), data
