"""A Llama-style decoder in plain torch, built from a `ModelSpec` with random weights.

RMSNorm, rotary position embeddings, grouped-query attention over a preallocated KV cache, a gated
(SiLU) MLP and an LM head: the operators `magicplan.cost.operators` counts, one kernel each where
torch allows (fused QKV and gate/up projections, as gpt-fast does). Functional on purpose: weights
and caches are plain dataclasses of tensors, so torch is only imported inside functions.

Keys are cached after the rotary embedding, at their true positions; a compressed cache keeps them
as they are, so a draft over it still sees each token where it was. A `Keep` hook restricts which
cached keys the new tokens attend to (per layer, KV head and query): how `magicplan acceptance`
shows a draft exactly its compressed view of a full cache, and how a top-k draft selects per step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from magicplan.calibration.torch_runner.linear import Linear, linear, mkl_packing
from magicplan.specs.model import ModelSpec

Tensor = Any  # torch.Tensor; torch is imported inside functions only
ROPE_BASE = 10000.0  # RoFormer (Su et al., 2021), Llama-1/2 rotary base
RMS_EPS = 1e-5  # Llama config.json rms_norm_eps
TORCH_DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}
# (layer, scores of the new tokens' folded queries on the cached keys (B, kv_heads, group·q, past))
# → bool mask broadcastable to the scores: True where a cached key may be attended.
Keep = Callable[[int, Any], Any]


@dataclass
class Layer:
    """One decoder layer's weights (GEMMs as `linear.Linear`, norms as tensors)."""

    attn_norm: Tensor
    wqkv: Linear
    wo: Linear
    mlp_norm: Tensor
    w_gate_up: Linear
    w_down: Linear


@dataclass
class Weights:
    """A whole decoder: embedding, layers, final norm, LM head, and the rotary frequencies."""

    spec: ModelSpec
    embed: Tensor
    layers: list[Layer]
    norm: Tensor
    lm_head: Linear
    inv_freq: Tensor
    rms_eps: float = RMS_EPS  # a checkpoint's config.json rms_norm_eps


@dataclass
class KVCache:
    """Per-layer keys and values, (batch, kv_heads, capacity, head_dim); `length` are in use.

    Every sequence of the batch holds the same number of tokens; rolling back is setting `length`.
    """

    k: list[Tensor]
    v: list[Tensor]
    length: int

    @property
    def capacity(self) -> int:
        """Tokens the cache can hold."""
        return int(self.k[0].shape[2])

    def batch_view(self, batch: int) -> KVCache:
        """The first `batch` sequences, sharing storage (timing runs slice one big cache)."""
        return KVCache([t[:batch] for t in self.k], [t[:batch] for t in self.v], self.length)


def torch_dtype(name: str) -> Any:
    """The torch dtype for a ModelSpec dtype name."""
    import torch

    if name not in TORCH_DTYPES:
        raise ValueError(f"the torch runner computes in {', '.join(TORCH_DTYPES)}, not {name}")
    return getattr(torch, TORCH_DTYPES[name])


def init_weights(spec: ModelSpec, device: str = "cpu", seed: int = 0) -> Weights:
    """Random weights for `spec` (std 1/sqrt(fan_in), unit norms): values do not change timing.

    Drawn on `device` itself, so a multi-GB GPU model never passes through host memory.
    """
    import torch

    gen = torch.Generator(device=device).manual_seed(seed)
    dt = torch_dtype(spec.dtype)
    h, inter = spec.hidden_size, spec.intermediate_size
    qkv = spec.q_dim + 2 * spec.kv_dim
    pack = mkl_packing(device)

    def lin(n_out: int, n_in: int) -> Linear:
        w = torch.randn((n_out, n_in), generator=gen, device=device, dtype=dt)
        return Linear(w.mul_(n_in**-0.5), pack)

    def ones() -> Tensor:
        return torch.ones(h, device=device, dtype=dt)

    layers = [
        Layer(ones(), lin(qkv, h), lin(h, spec.q_dim), ones(), lin(2 * inter, h), lin(h, inter))
        for _ in range(spec.num_layers)
    ]
    embed = torch.randn((spec.vocab_size, h), generator=gen, device=device, dtype=dt)
    head = Linear(embed, pack) if spec.tie_word_embeddings else lin(spec.vocab_size, h)
    inv_freq = rope_inv_freq(spec.head_dim_eff, ROPE_BASE)
    return Weights(spec, embed, layers, ones(), head, inv_freq.to(device))


def rope_inv_freq(head_dim: int, base: float) -> Tensor:
    """Rotary frequencies base^(−2i/head_dim), i < head_dim/2 (RoFormer eq. 15), float32."""
    import torch

    return 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)


def new_cache(spec: ModelSpec, batch: int, capacity: int, device: str = "cpu") -> KVCache:
    """An empty cache for `batch` sequences of up to `capacity` tokens."""
    import torch

    shape = (batch, spec.num_kv_heads, capacity, spec.head_dim_eff)
    dt = torch_dtype(spec.dtype)
    k = [torch.zeros(shape, device=device, dtype=dt) for _ in range(spec.num_layers)]
    v = [torch.zeros(shape, device=device, dtype=dt) for _ in range(spec.num_layers)]
    return KVCache(k, v, 0)


def rms_norm(x: Tensor, weight: Tensor, eps: float = RMS_EPS) -> Tensor:
    """x / rms(x) * weight over the last axis."""
    import torch

    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rope_tables(w: Weights, positions: Tensor) -> tuple[Tensor, Tensor]:
    """cos and sin of position x frequency, (q, head_dim/2), in the model's dtype."""
    import torch

    angles = torch.outer(positions.to(torch.float32), w.inv_freq)
    dt = w.embed.dtype
    return angles.cos().to(dt), angles.sin().to(dt)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate-half rotary embedding of x (batch, heads, q, head_dim)."""
    import torch

    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    group: int,
    past: int,
    keep: Callable[[Tensor], Tensor] | None = None,
) -> Tensor:
    """Causal GQA: q (B, heads, q, d) over k, v (B, kv_heads, past + q, d) → (B, q, heads·d).

    Queries are folded into their KV head's group, so each cached key is read once (no repeat).
    `keep(scores on the cached keys)` masks cached keys out; the new tokens always see each other.
    A prefill (no cache yet) takes torch's fused causal kernel: the same numbers, without the
    (q × q) score matrix (8x faster at 2,048 tokens on a CPU).
    """
    import torch
    import torch.nn.functional as F

    b, heads, n, d = q.shape
    if keep is None and past == 0 and n > 1:  # a prefill: torch's fused causal attention
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return out.transpose(1, 2).reshape(b, n, heads * d)
    kvh = k.shape[1]
    qg = q.reshape(b, kvh, group * n, d)
    scores = torch.matmul(qg, k.transpose(-1, -2)) * d**-0.5
    if keep is not None and past:
        scores[..., :past].masked_fill_(~keep(scores[..., :past]), float("-inf"))
    if n > 1:  # new token i sees the past and new tokens 0..i: mask only the new-key block
        future = torch.ones(n, n, dtype=torch.bool, device=q.device).triu(1)
        scores[..., past:].masked_fill_(future.repeat(group, 1), float("-inf"))
    out = torch.matmul(torch.softmax(scores, dim=-1), v)
    return out.reshape(b, heads, n, d).transpose(1, 2).reshape(b, n, heads * d)


def layer_forward(
    w: Weights,
    i: int,
    x: Tensor,
    cache: KVCache,
    cos: Tensor,
    sin: Tensor,
    keep: Keep | None = None,
) -> tuple[Tensor, Tensor]:
    """Layer `i` on x (B, q, hidden): writes the new keys/values at `cache.length`; `keep` limits
    which cached keys the new tokens see.

    Returns the new hidden states and this layer's rotated queries (B, heads, q, head_dim).
    """
    import torch.nn.functional as F

    spec, lw = w.spec, w.layers[i]
    b, n, _ = x.shape
    hd, heads, kvh = spec.head_dim_eff, spec.num_attention_heads, spec.num_kv_heads
    qkv = linear(rms_norm(x, lw.attn_norm, w.rms_eps), lw.wqkv)
    q, k, v = qkv.split([spec.q_dim, spec.kv_dim, spec.kv_dim], dim=-1)
    q = apply_rope(q.view(b, n, heads, hd).transpose(1, 2), cos, sin)
    k = apply_rope(k.view(b, n, kvh, hd).transpose(1, 2), cos, sin)
    start, end = cache.length, cache.length + n
    cache.k[i][:, :, start:end] = k
    cache.v[i][:, :, start:end] = v.view(b, n, kvh, hd).transpose(1, 2)
    mask = None if keep is None else partial(keep, i)
    att = attention(q, cache.k[i][:, :, :end], cache.v[i][:, :, :end], heads // kvh, start, mask)
    x = x + linear(att, lw.wo)
    gate, up = linear(rms_norm(x, lw.mlp_norm, w.rms_eps), lw.w_gate_up).chunk(2, dim=-1)
    return x + linear(F.silu(gate) * up, lw.w_down), q


def forward(
    w: Weights,
    cache: KVCache,
    tokens: Tensor,
    start_pos: int,
    last_only: bool = False,
    window: int = 0,
    keep: Keep | None = None,
) -> tuple[Tensor, list[Tensor]]:
    """Run tokens (B, q) at positions start_pos.. over `cache`, appending their keys/values.

    Returns logits (B, q, vocab) — only the last position's when `last_only` (prefill) — and, per
    layer, the rotated queries of the last `window` positions (SnapKV's observation window).
    `keep` (see `Keep`) limits the cached keys the tokens attend to.
    """
    import torch
    import torch.nn.functional as F

    n = tokens.shape[1]
    if cache.length + n > cache.capacity:
        raise ValueError(f"KV cache full: {cache.length} + {n} > {cache.capacity} tokens")
    positions = torch.arange(start_pos, start_pos + n, device=tokens.device)
    cos, sin = rope_tables(w, positions)
    x = F.embedding(tokens, w.embed)
    queries = []
    for i in range(w.spec.num_layers):
        x, q = layer_forward(w, i, x, cache, cos, sin, keep)
        if window:
            queries.append(q[:, :, -window:])
    cache.length += n
    x = rms_norm(x[:, -1:] if last_only else x, w.norm, w.rms_eps)
    return linear(x, w.lm_head), queries


def greedy(logits: Tensor) -> Tensor:
    """Greedy next tokens: argmax over the vocabulary, (B, q)."""
    return logits.argmax(dim=-1)
