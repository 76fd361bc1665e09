"""Model architecture profiles: the shapes that decide FLOPs and bytes, from a `config.json`.

Counts follow the Llama/Qwen/Gemma/Phi layer formulas: Q/K/V/O projections (+ QKV bias for Qwen2),
gated MLP or MoE experts, norms, embeddings and an LM head unless tied.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DType = Literal["float32", "bfloat16", "float16", "fp8", "int8"]
# Storage of the decoder's linear weights: a compute dtype, or a weight-only integer format.
WeightDType = Literal["float32", "bfloat16", "float16", "fp8", "int8", "int4"]
KvDType = Literal["float32", "bfloat16", "float16", "fp8"]
DTYPE_BYTES: dict[str, float] = {
    "float32": 4, "bfloat16": 2, "float16": 2, "fp8": 1, "int8": 1, "int4": 0.5,
}  # fmt: skip
# A group-quantized weight stores, per group of `weight_group_size` input channels, its
# metadata: a float16 scale (2 bytes) and, in asymmetric formats, a zero point (GPTQ packs an
# int4 zero per group: 2.5 bytes; Frantar et al. 2022, arXiv 2210.17323; AWQ likewise, Lin et al.
# 2023, arXiv 2306.00978; GGUF Q4_1 an fp16 minimum: 4 bytes). One fp16 scale by default.
SCALE_BYTES = 2


class MoESpec(BaseModel):
    """Mixture-of-experts feed-forward: routed experts, plus optional always-on shared experts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    num_experts: int = Field(strict=True, ge=2, lt=10**6)
    experts_per_token: int = Field(strict=True, ge=1)
    expert_intermediate_size: int = Field(strict=True, ge=1, lt=10**8)
    shared_experts: int = Field(default=0, strict=True, ge=0, lt=10**3)
    shared_expert_intermediate_size: int | None = Field(default=None, strict=True, ge=1, lt=10**8)

    @model_validator(mode="after")
    def _check(self) -> MoESpec:
        if self.experts_per_token > self.num_experts:
            raise ValueError("experts_per_token must not exceed num_experts")
        return self


class ModelSpec(BaseModel):
    """A decoder-only transformer as its `config.json` describes it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str
    architecture: str
    # Upper bounds are unit guards, three orders of magnitude above any model published today;
    # they also keep every FLOP and byte count far inside float64. Counts must be integers
    # (strict: `true` is not one layer).
    hidden_size: int = Field(strict=True, ge=1, lt=10**7)
    intermediate_size: int = Field(strict=True, ge=1, lt=10**8)
    num_layers: int = Field(strict=True, ge=1, lt=10**5)
    num_attention_heads: int = Field(strict=True, ge=1, lt=10**5)
    num_kv_heads: int = Field(strict=True, ge=1, lt=10**5)
    head_dim: int | None = Field(default=None, strict=True, ge=1, lt=10**5)
    vocab_size: int = Field(strict=True, ge=1, lt=10**9)
    tie_word_embeddings: bool = False
    qkv_bias: bool = False
    qk_norm: bool = False
    norms_per_layer: int = Field(default=2, strict=True, ge=0, lt=100)
    moe: MoESpec | None = None
    sliding_window: int | None = Field(default=None, strict=True, ge=1, lt=10**12)
    local_layers: int | None = Field(
        default=None,
        strict=True,
        ge=0,
        description="layers using the sliding window (default: all)",
    )
    max_position_embeddings: int = Field(strict=True, ge=1, lt=10**12)
    mtp_layers: int = Field(
        default=0,
        strict=True,
        ge=0,
        lt=100,
        description="multi-token-prediction modules shipped with the model (config.json "
        "num_nextn_predict_layers, Qwen3-Next mtp_num_hidden_layers); 0: none",
    )
    dtype: DType = "bfloat16"
    weight_dtype: WeightDType | None = Field(
        default=None, description="storage of the decoder's linear weights (default: dtype)"
    )
    weight_group_size: int | None = Field(
        default=None, strict=True, ge=1, lt=10**7, description="input channels per weight scale"
    )
    weight_group_bytes: float | None = Field(
        default=None, gt=0, lt=1e4, description="scale and zero-point bytes per group"
    )
    kv_dtype: KvDType | None = Field(default=None, description="KV-cache dtype (default: dtype)")
    hf_id: str | None = None
    hf_aliases: tuple[str, ...] = Field(
        default=(), description="other Hugging Face repo ids of this checkpoint (renamed repos)"
    )
    tokenizer: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9._-]*$",
        description="tokenizer family: models of one family map text to the same token ids",
    )
    tokenizer_vocab_size: int | None = Field(
        default=None,
        strict=True,
        ge=1,
        lt=10**9,
        description="tokens the tokenizer defines (len(tokenizer)); vocab_size counts embedding "
        "rows, often padded beyond it",
    )
    source: str = Field(min_length=3)

    @model_validator(mode="after")
    def _cross_fields(self) -> ModelSpec:
        if self.head_dim is None and self.hidden_size % self.num_attention_heads:
            raise ValueError("num_attention_heads must divide hidden_size unless head_dim is given")
        if self.num_attention_heads % self.num_kv_heads:
            raise ValueError("num_kv_heads must divide num_attention_heads")
        if self.tokenizer_vocab_size is not None and self.tokenizer_vocab_size > self.vocab_size:
            raise ValueError("tokenizer_vocab_size must not exceed vocab_size (embedding rows)")
        if self.weight_group_size is not None and self.quantized_weight_dtype is None:
            raise ValueError("weight_group_size needs an integer weight_dtype (int8 or int4)")
        if self.local_layers is not None:
            if self.sliding_window is None:
                raise ValueError("local_layers needs sliding_window")
            if self.local_layers > self.num_layers:
                raise ValueError("local_layers must not exceed num_layers")
        return self

    # --- shapes ---------------------------------------------------------------------------
    @property
    def head_dim_eff(self) -> int:
        """Per-head width: `head_dim`, else hidden_size / num_attention_heads."""
        return self.head_dim or self.hidden_size // self.num_attention_heads

    @property
    def q_dim(self) -> int:
        """Width of the query projection output (heads x head_dim)."""
        return self.num_attention_heads * self.head_dim_eff

    @property
    def kv_dim(self) -> int:
        """Width of one of the key/value projection outputs (KV heads x head_dim)."""
        return self.num_kv_heads * self.head_dim_eff

    @property
    def num_local_layers(self) -> int:
        """Layers attending within `sliding_window` (0 when the model has no window)."""
        if self.sliding_window is None:
            return 0
        return self.num_layers if self.local_layers is None else self.local_layers

    @property
    def quantized_weight_dtype(self) -> str | None:
        """The weight-only integer format of the linear layers (int8, int4), else None."""
        wd = self.weight_dtype or self.dtype
        return wd if wd in ("int8", "int4") else None

    @property
    def linear_weight_dtype(self) -> str:
        """Storage dtype of the decoder's linear weights (embeddings and LM head keep `dtype`)."""
        return self.weight_dtype or self.dtype

    @property
    def compute_dtype(self) -> str:
        """Dtype the GEMMs run in: fp8 for fp8 weights (W8A8), else `dtype` (weight-only integer
        formats dequantize to it)."""
        return "fp8" if self.weight_dtype == "fp8" else self.dtype

    @property
    def cache_dtype(self) -> str:
        """Dtype of the KV cache (`kv_dtype`, else `dtype`)."""
        return self.kv_dtype or self.dtype

    @property
    def linear_weight_bytes_per_parameter(self) -> float:
        """Bytes one linear-layer weight takes, scales and zero points included:
        bytes(weight_dtype) + group bytes / group size (per output channel when no group)."""
        wd = self.linear_weight_dtype
        per_group = 0.0
        if self.quantized_weight_dtype is not None:
            group_bytes = (
                SCALE_BYTES if self.weight_group_bytes is None else self.weight_group_bytes
            )
            per_group = group_bytes / (self.weight_group_size or self.hidden_size)
        return DTYPE_BYTES[wd] + per_group

    # --- parameter counts -----------------------------------------------------------------
    @property
    def attention_parameters_per_layer(self) -> int:
        """Q/K/V/O weights (+ QKV bias, + per-head Q/K norms)."""
        h, q, kv = self.hidden_size, self.q_dim, self.kv_dim
        n = h * q + 2 * h * kv + q * h
        if self.qkv_bias:
            n += q + 2 * kv
        if self.qk_norm:
            n += 2 * self.head_dim_eff
        return n

    @property
    def mlp_parameters_per_layer(self) -> int:
        """Gated MLP (3 matrices), or every expert + router + shared experts for MoE."""
        return self._mlp_parameters(self.moe.num_experts if self.moe else 0)

    @property
    def active_mlp_parameters_per_layer(self) -> int:
        """MLP weights one token touches (top-k experts + router + shared)."""
        return self._mlp_parameters(self.moe.experts_per_token if self.moe else 0)

    def _mlp_parameters(self, routed_experts: int) -> int:
        """Gated-MLP weights of a layer with `routed_experts` of its experts counted."""
        h = self.hidden_size
        if self.moe is None:
            return 3 * h * self.intermediate_size
        m = self.moe
        shared_width = m.shared_expert_intermediate_size or m.expert_intermediate_size
        return (
            routed_experts * 3 * h * m.expert_intermediate_size
            + h * m.num_experts  # router
            + m.shared_experts * 3 * h * shared_width
        )

    @property
    def embedding_parameters(self) -> int:
        """Input embedding, plus the LM head unless tied."""
        n = self.vocab_size * self.hidden_size
        return n if self.tie_word_embeddings else 2 * n

    @property
    def num_parameters(self) -> int:
        """Total parameters, as in the published checkpoint."""
        per_layer = (
            self.attention_parameters_per_layer
            + self.mlp_parameters_per_layer
            + self.norms_per_layer * self.hidden_size
        )
        return self.num_layers * per_layer + self.embedding_parameters + self.hidden_size

    @property
    def num_active_parameters(self) -> int:
        """Parameters one token uses (differs from `num_parameters` for MoE)."""
        routed_unused = self.mlp_parameters_per_layer - self.active_mlp_parameters_per_layer
        return self.num_parameters - self.num_layers * routed_unused

    @property
    def linear_parameters(self) -> int:
        """Weights of the decoder's linear layers (projections, MLP or experts, router): the
        ones weight-only quantization stores in `weight_dtype`."""
        attn = self.hidden_size * (2 * self.q_dim + 2 * self.kv_dim)
        return self.num_layers * (attn + self.mlp_parameters_per_layer)

    def weight_bytes(self, dtype: str | None = None) -> float:
        """Bytes of all weights: in `dtype` when given; else linear layers in `weight_dtype`
        (with their scales) and the rest (embeddings, LM head, norms, biases) in `dtype`."""
        if dtype is not None:
            return self.num_parameters * DTYPE_BYTES[dtype]
        rest = self.num_parameters - self.linear_parameters
        return (
            self.linear_parameters * self.linear_weight_bytes_per_parameter
            + rest * DTYPE_BYTES[self.dtype]
        )

    def kv_bytes_per_token(self, dtype: str = "bfloat16") -> float:
        """KV-cache bytes one token adds across all layers: 2 x layers x kv_heads x head_dim x size.

        Uses `num_kv_heads` (GQA), never `num_attention_heads`. For sliding-window models this is
        the full-attention upper bound (every layer keeps the token).
        """
        return 2 * self.num_layers * self.kv_dim * DTYPE_BYTES[dtype]
