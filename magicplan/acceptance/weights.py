"""A Hugging Face Llama checkpoint folder → the torch runner's `Weights` (real weights).

The runner's decoder (`calibration/torch_runner/model.py`) is the Llama layer: RMSNorm, rotary
embeddings (rotate-half, as Hugging Face stores Q and K), grouped-query attention, gated SiLU MLP.
Q/K/V and gate/up are concatenated into its fused projections. Rotary frequencies: the default
rope from `rope_theta`; scaled variants (Llama 3's) through transformers' own rope functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from magicplan.calibration.torch_runner.linear import Linear
from magicplan.calibration.torch_runner.model import RMS_EPS, Layer, Weights, rope_inv_freq
from magicplan.errors import MagicplanError
from magicplan.specs.model import ModelSpec

STATIC_ROPE = ("default", "linear", "llama3")  # frequencies that do not change with the length


def rope_frequencies(folder: Path, cfg: dict[str, Any], head_dim: int) -> Any:
    """inv_freq (head_dim / 2,) of the checkpoint's rotary embedding."""
    rope = cfg.get("rope_scaling") or cfg.get("rope_parameters") or {}
    kind = rope.get("rope_type", rope.get("type", "default"))
    theta = rope.get("rope_theta", cfg.get("rope_theta", 10000.0))
    if kind == "default":
        return rope_inv_freq(head_dim, float(theta))
    if kind not in STATIC_ROPE:
        raise MagicplanError(
            f"{folder}: rope type '{kind}' is not supported ({', '.join(STATIC_ROPE)})"
        )
    from transformers import AutoConfig
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    cfg_hf = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    inv_freq, scale = ROPE_INIT_FUNCTIONS[kind](cfg_hf, "cpu")
    if scale != 1.0:
        raise MagicplanError(f"{folder}: rope type '{kind}' scales attention; not supported")
    return inv_freq


def _tensors(folder: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise MagicplanError(f"{folder}: no *.safetensors weights in the checkpoint folder")
    out: dict[str, Any] = {}
    for f in files:
        out |= load_file(str(f))
    return out


def load_weights(
    folder: Path, spec: ModelSpec, cfg: dict[str, Any], device: str, dtype: str = "bfloat16"
) -> Weights:
    """The checkpoint's weights on `device`, computing in `dtype`, as the runner's Weights."""
    import torch

    run = spec.model_copy(update={"dtype": dtype})
    sd = _tensors(folder)

    def get(name: str) -> Any:
        if name not in sd:
            raise MagicplanError(f"{folder}: weight '{name}' is missing from the checkpoint")
        return sd[name].to(device=device, dtype=getattr(torch, dtype))

    def lin(*names: str) -> Linear:
        return Linear(torch.cat([get(n) for n in names]), pack=False)

    layers = []
    for i in range(spec.num_layers):
        p = f"model.layers.{i}."
        a, m = p + "self_attn.", p + "mlp."
        layers.append(Layer(get(p + "input_layernorm.weight"),
                            lin(a + "q_proj.weight", a + "k_proj.weight", a + "v_proj.weight"),
                            lin(a + "o_proj.weight"), get(p + "post_attention_layernorm.weight"),
                            lin(m + "gate_proj.weight", m + "up_proj.weight"),
                            lin(m + "down_proj.weight")))  # fmt: skip
    embed = get("model.embed_tokens.weight")
    tied = spec.tie_word_embeddings or "lm_head.weight" not in sd
    head = Linear(embed, pack=False) if tied else lin("lm_head.weight")
    inv_freq = rope_frequencies(folder, cfg, spec.head_dim_eff).to(device)
    eps = float(cfg.get("rms_norm_eps", RMS_EPS))
    return Weights(run, embed, layers, get("model.norm.weight"), head, inv_freq, eps)
