"""Step times: autoregressive, verify (γ+1 tokens), draft (self or small model, full or compressed
KV), prefill, and SnapKV's one-time selection.

One definition serves them all, `step_time`: a forward of q new tokens per sequence over L
cached tokens costs

    Σ_operators max(bytes / achieved bandwidth, FLOPs / achieved FLOP/s)   (cost/roofline.py)
    + communication (two all-reduces per layer, the logits gather)
    + fixed latencies (per step, per layer, per token and layer, sampling, attention floor)
    − the share of the fixed latencies an asynchronous engine hides behind the device's work


`forward_time` evaluates the same sums folded (`cost/folding.py`) where that pays: large arrays
of scenarios. tests/cost/test_folding.py holds the two equal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache

import numpy as np
import numpy.typing as npt

from magicplan.cost.folding import Folded, PerSequence, fold, fold_per_sequence
from magicplan.cost.methods import KV_METHODS, SNAPKV_WINDOW, KvMethod
from magicplan.cost.operators import (
    Array,
    OpCost,
    add_into,
    allreduce_bytes,
    attention_ops,
    layer_ops,
    select_op,
    shard,
    token_ops,
)
from magicplan.cost.roofline import Roofline, allreduce_time, gather_time, ops_time, ops_total
from magicplan.errors import MagicplanError
from magicplan.specs.model import DTYPE_BYTES, ModelSpec

__all__ = [
    "KV_METHODS",
    "KvMethod",
    "StepTime",
    "autoregressive_time",
    "check_method",
    "draft_kv_len",
    "draft_time",
    "forward_time",
    "prefill_time",
    "snapkv_select_time",
    "step_fixed_costs",
    "step_time",
    "verify_time",
    "verify_tokens_time",
]


@dataclass(frozen=True)
class StepTime:
    """Seconds of one step; its split by class (weights, kv, activations, compute,
    communication, overhead) is worked out when first asked for."""

    total_s: Array
    classes: Callable[[], dict[str, Array | float]] = field(repr=False, compare=False)

    @cached_property
    def parts(self) -> dict[str, Array | float]:
        """Class → seconds, each over only the axes it depends on (weights: the batch)."""
        return self.classes()

    @cached_property
    def breakdown(self) -> dict[str, Array]:
        """Class → seconds, each over the shape of `total_s` (broadcast views)."""
        return {k: np.broadcast_to(v, self.total_s.shape) for k, v in self.parts.items()}


def step_time(
    model: ModelSpec,
    rf: Roofline,
    num_gpus: int,
    batch: npt.ArrayLike,
    new_tokens: npt.ArrayLike,
    kv_len: npt.ArrayLike,
    select_len: npt.ArrayLike | None = None,
) -> StepTime:
    """One forward of `new_tokens` per sequence over `kv_len` cached tokens on `num_gpus` GPUs:
    the definition. Σ over the operators (and a top-k selection scan over `select_len` keys)
    of their roofline time, plus communication and fixed latencies (`step_fixed_costs`)."""
    sh = shard(model, num_gpus)
    b, q = np.asarray(batch, dtype=np.float64), np.asarray(new_tokens, dtype=np.float64)
    ops = layer_ops(model, sh, b, q, kv_len)
    if select_len is not None:
        ops.append(select_op(model, sh, b, select_len))
    fixed = step_fixed_costs(model, rf, num_gpus, b, q)
    device = ops_total(ops, rf) + fixed["communication"]
    hidden = hidden_host_s(device, fixed["overhead"], rf)
    total = device + fixed["overhead"] - hidden

    def classes() -> dict[str, Array | float]:
        return ops_time(ops, rf) | fixed | {"overhead": fixed["overhead"] - hidden}

    return StepTime(np.asarray(total, dtype=np.float64), classes)


def hidden_host_s(device_s: Array | float, host_s: Array | float, rf: Roofline) -> Array | float:
    """Host latency hidden behind the device's work: h · min(device, host) (0 when h = 0)."""
    if not rf.host_overlap:
        return 0.0
    return rf.host_overlap * np.minimum(device_s, host_s)


def step_fixed_costs(
    model: ModelSpec, rf: Roofline, num_gpus: int, batch: npt.ArrayLike, new_tokens: npt.ArrayLike
) -> dict[str, Array]:
    """What a step pays besides its operators' roofline time, for T = B·q tokens:
    "communication": per layer two all-reduces of the activations (Megatron-LM, Shoeybi et al.
    2019, §3) and once the logits gather of the vocab-parallel LM head;
    "overhead": λ_step + sampling (λ_sample + T·V·λ_logit) + layers · (λ_layer + λ_attention
    floor + T·λ_token_layer)."""
    tokens = np.asarray(batch, dtype=np.float64) * np.asarray(new_tokens, dtype=np.float64)
    logits = tokens * model.vocab_size
    comm = 2 * model.num_layers * allreduce_time(
        allreduce_bytes(model, batch, new_tokens), num_gpus, rf
    ) + gather_time(logits * DTYPE_BYTES[model.dtype], num_gpus, rf)
    per_layer = rf.layer_overhead_s + rf.attention_floor_s + tokens * rf.token_layer_overhead_s
    overhead = (
        rf.step_overhead_s
        + rf.sampling_s
        + logits * rf.sampling_s_per_logit
        + model.num_layers * per_layer
    )
    return {"communication": comm, "overhead": overhead}


# One scenario is costed by the definition (no tables to build for a one-off estimate); arrays
# of scenarios by the folded tables, built once per model, GPU count and roofline. Measured on
# Llama-3.1-8B, TP8, tables built: 415 µs against 43 µs for one scenario, 710 against 106 µs
# for 336, 1.7 ms against 0.46 ms for 4096 (2-core EPYC VM).
FOLD_MIN_SCENARIOS = 2


def forward_time(
    model: ModelSpec,
    rf: Roofline,
    num_gpus: int,
    batch: npt.ArrayLike,
    new_tokens: npt.ArrayLike,
    kv_len: npt.ArrayLike,
    select_len: npt.ArrayLike | None = None,
) -> StepTime:
    """`step_time`, evaluated folded for arrays of FOLD_MIN_SCENARIOS or more scenarios."""
    b = np.asarray(batch, dtype=np.float64)
    q = np.asarray(new_tokens, dtype=np.float64)
    L = np.asarray(kv_len, dtype=np.float64)
    shapes = [np.shape(x) for x in (b, q, L, select_len) if x is not None]
    if int(np.prod(np.broadcast_shapes(*shapes))) < FOLD_MIN_SCENARIOS:
        return step_time(model, rf, num_gpus, b, q, L, select_len)
    return _folded_time(model, rf, num_gpus, b, q, L, select_len)


def _folded_time(
    model: ModelSpec,
    rf: Roofline,
    num_gpus: int,
    b: Array,
    q: Array,
    L: Array,
    select_len: npt.ArrayLike | None,
) -> StepTime:
    """`step_time` with the token-only operators and fixed costs folded (`folded_token_ops`)
    and attention as seconds per sequence and per key (`attention_per_sequence`) where that
    form holds; whatever does not fold is costed operator by operator."""
    sh = shard(model, num_gpus)
    tokens = b * q
    folded = folded_token_ops(model, num_gpus, rf)
    segment = folded.segment(tokens)

    def other_ops() -> list[OpCost]:
        ops = attention_ops(model, sh, b, q, L)
        if select_len is not None:
            ops.append(select_op(model, sh, b, select_len))
        if folded.unfolded:
            ops += [op for op in token_ops(model, sh, tokens) if op.name in folded.unfolded]
        return ops

    attention = None
    if select_len is None and not folded.unfolded:
        attention = attention_per_sequence(model, num_gpus, rf, q)
    if attention is not None:
        per_sequence, per_key = attention("total")
        total = add_into(b * (per_sequence + per_key * L), folded.total(tokens, segment))
    else:
        total = folded.total(tokens, segment) + ops_total(other_ops(), rf)
    hidden: Array | float = 0.0
    if rf.host_overlap:  # the fixed latencies are the host's; the rest is the device's
        host = folded.fixed["overhead"].c0 + folded.fixed["overhead"].c1 * tokens
        hidden = hidden_host_s(total - host, host, rf)
        total = total - hidden

    def classes() -> dict[str, Array | float]:
        parts: dict[str, Array | float] = {"kv": 0.0, **folded.times(tokens, segment)}
        parts["overhead"] = parts["overhead"] - hidden
        if attention is not None:
            for cls in ("weights", "kv", "activations", "compute"):
                per_sequence, per_key = attention(cls)
                if np.any(per_sequence) or np.any(per_key):  # a class it has (not weights)
                    parts[cls] = add_into(b * (per_sequence + per_key * L), parts[cls])
            return parts
        for cls, val in ops_time(other_ops(), rf).items():
            parts[cls] = parts[cls] + val
        return parts

    return StepTime(np.asarray(total, dtype=np.float64), classes)


MAX_FOLDED_NEW_TOKENS = 64  # per-sequence forms are kept for q = 1..64 (γ + 1 of any draft)


def attention_per_sequence(
    model: ModelSpec, num_gpus: int, rf: Roofline, new_tokens: Array
) -> Callable[[str], tuple[Array | float, Array | float]] | None:
    """Attention as seconds per sequence and per cached key, for each row's q (a whole number
    up to MAX_FOLDED_NEW_TOKENS when an array): a lookup from "total" or a class to the two
    coefficients (scalars, or one per row); None where no such form holds."""
    q = new_tokens
    if q.ndim == 0:
        form = folded_attention(model, num_gpus, rf, float(q))
        if form is None:
            return None
        return lambda name: form.total if name == "total" else form.classes[name]
    if not q.size or not (q.min() >= 1 and q.max() <= MAX_FOLDED_NEW_TOKENS):
        return None
    lo, hi = int(q.min()), int(q.max())
    index = q.astype(np.intp)
    if np.any(index != q):
        return None
    found = [folded_attention(model, num_gpus, rf, float(v)) for v in range(lo, hi + 1)]
    forms = [f for f in found if f is not None]
    if len(forms) < len(found):
        return None
    index -= lo

    def lookup(name: str) -> tuple[Array, Array]:
        table = np.array([f.total if name == "total" else f.classes[name] for f in forms])
        return table[:, 0].take(index), table[:, 1].take(index)

    return lookup


@lru_cache(maxsize=1024)
def folded_attention(
    model: ModelSpec, num_gpus: int, rf: Roofline, new_tokens: float
) -> PerSequence | None:
    """The attention of `new_tokens` per sequence as seconds per sequence and per cached key,
    when that form holds (`fold_per_sequence`)."""
    sh = shard(model, num_gpus)
    return fold_per_sequence(lambda b, L: attention_ops(model, sh, b, new_tokens, L), rf)


@lru_cache(maxsize=256)
def folded_token_ops(model: ModelSpec, num_gpus: int, rf: Roofline) -> Folded:
    """`model`'s token-only operators and fixed step costs on `num_gpus` GPUs, folded on `rf`."""
    sh = shard(model, num_gpus)
    return fold(
        lambda t: token_ops(model, sh, t),
        lambda t: step_fixed_costs(model, rf, num_gpus, t, 1.0),
        rf,
    )


def autoregressive_time(
    model: ModelSpec, rf: Roofline, num_gpus: int, batch: npt.ArrayLike, context: npt.ArrayLike
) -> StepTime:
    """T_T: one decode step, one new token per sequence over `context` cached tokens."""
    return forward_time(model, rf, num_gpus, batch, 1.0, context)


def verify_time(
    model: ModelSpec,
    rf: Roofline,
    num_gpus: int,
    batch: npt.ArrayLike,
    context: npt.ArrayLike,
    gamma: npt.ArrayLike,
) -> StepTime:
    """T_V: the target scores γ drafted tokens plus one (γ+1 new tokens) over the full cache."""
    return verify_tokens_time(
        model, rf, num_gpus, batch, context, np.asarray(gamma, dtype=np.float64) + 1
    )


def verify_tokens_time(
    model: ModelSpec,
    rf: Roofline,
    num_gpus: int,
    batch: npt.ArrayLike,
    context: npt.ArrayLike,
    tokens: npt.ArrayLike,
) -> StepTime:
    """T_V over `tokens` per sequence (γ + 1 for a chain, N for a tree under a tree mask: the
    FLOPs and bytes of N tokens over the cache), plus what a verify pays per layer for each token
    beyond one per sequence (the engine's `verify_token_layer_overhead_ns`)."""
    q = np.asarray(tokens, dtype=np.float64)
    st = forward_time(model, rf, num_gpus, batch, q, context)
    per = rf.verify_token_layer_overhead_s * model.num_layers
    if not per:
        return st
    extra = per * np.asarray(batch, dtype=np.float64) * (q - 1.0)

    def classes() -> dict[str, Array | float]:
        return st.parts | {"overhead": st.parts["overhead"] + extra}

    return StepTime(np.asarray(st.total_s + extra, dtype=np.float64), classes)


def check_method(kv_method: str) -> str:
    """Return `kv_method` if known, else a MagicplanError naming kv_method."""
    if kv_method not in KV_METHODS:
        raise MagicplanError(f"kv_method must be one of {', '.join(KV_METHODS)}; got '{kv_method}'")
    return kv_method


def draft_kv_len(
    kv_method: str,
    context: npt.ArrayLike,
    kv_budget: npt.ArrayLike,
    gamma: npt.ArrayLike,
    branch: float = 1.0,
) -> tuple[Array, Array | None]:
    """Keys one draft step attends to, and the keys a per-step selection scans (top-k only).

    `full` attends the whole context; the compressed methods keep min(K, S) tokens; in every
    case the tokens drafted earlier in the round are appended (on average (γ-1)/2 passes of
    `branch` tokens each: one for a chain, a tree's frontier for tree drafters).
    """
    check_method(kv_method)
    s = np.asarray(context, dtype=np.float64)
    k = np.asarray(kv_budget, dtype=np.float64)
    drafted = (np.asarray(gamma, dtype=np.float64) - 1.0) * (branch / 2.0)
    base = s if kv_method == "full" else np.minimum(k, s)
    return base + drafted, (s if kv_method == "topk" else None)


def draft_time(
    draft_model: ModelSpec,
    rf: Roofline,
    num_gpus: int,
    batch: npt.ArrayLike,
    context: npt.ArrayLike,
    kv_method: str,
    kv_budget: npt.ArrayLike,
    gamma: npt.ArrayLike,
) -> StepTime:
    """T_D: one draft step of `draft_model` (the target itself for self-speculation).

    Static methods (StreamingLLM, SnapKV) select once at prefill, so their decode cost is flat in
    the context; top-k pays a selection pass over all keys every step.
    """
    kv_len, select = draft_kv_len(kv_method, context, kv_budget, gamma)
    return forward_time(draft_model, rf, num_gpus, batch, 1.0, kv_len, select_len=select)


def prefill_time(
    model: ModelSpec, rf: Roofline, num_gpus: int, batch: npt.ArrayLike, context: npt.ArrayLike
) -> StepTime:
    """Prefill of `context` prompt tokens per sequence (causal attention over the prompt)."""
    return forward_time(model, rf, num_gpus, batch, context, 0.0)


def snapkv_select_time(
    model: ModelSpec, rf: Roofline, num_gpus: int, batch: npt.ArrayLike, context: npt.ArrayLike
) -> Array:
    """SnapKV's one-time selection at prefill: SNAPKV_WINDOW queries score every prompt key,
    per layer. Returned separately: it is paid once per request, not per decode step."""
    op = select_op(model, shard(model, num_gpus), batch, context)
    window = replace(op, flops=op.flops * SNAPKV_WINDOW)
    return np.asarray(sum(ops_time([window], rf).values()), dtype=np.float64)
