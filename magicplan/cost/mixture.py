"""Step times for a batch whose sequences have different context lengths (a workload mix).

Attention is costed per group (its share of the batch at its own context, and for a compressed
draft its own min(K, S) budget); every other operator sees the whole batch. This is the step
time of the mix, not of the mean context (they differ wherever attention turns compute-bound or
a budget clamps short requests).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from magicplan.cost.operators import (
    Array,
    attention_op,
    select_op,
    shard,
    token_ops,
)
from magicplan.cost.roofline import Roofline, ops_time
from magicplan.cost.steps import step_fixed_costs
from magicplan.errors import MagicplanError
from magicplan.specs.model import ModelSpec


def check_mix(mix: Sequence[tuple[float, float]]) -> tuple[Array, Array]:
    """Contexts and fractions of a workload mix; fractions must be positive and sum to 1."""
    if not mix:
        raise MagicplanError("workload must list at least one (context, fraction) pair")
    ctx = np.array([float(c) for c, _ in mix])
    frac = np.array([float(f) for _, f in mix])
    if np.any(ctx <= 0) or np.any(~np.isfinite(ctx)):
        raise MagicplanError("workload contexts must be positive numbers")
    for c, f in zip(ctx, frac, strict=True):
        if not (np.isfinite(f) and f > 0):  # NaN fails `f <= 0` too: test what is allowed
            raise MagicplanError(
                f"workload fraction of context {c:g} must be a finite number > 0; got {f:g}"
            )
    if abs(frac.sum() - 1.0) > 1e-6:
        raise MagicplanError(
            f"workload fractions must be > 0 and sum to 1; got sum {frac.sum():.4f}"
        )
    return ctx, frac


def mixed_forward_time(
    model: ModelSpec,
    rf: Roofline,
    num_gpus: int,
    batch: float,
    new_tokens: float,
    kv_lens: Array,
    fractions: Array,
    select_lens: Array | None = None,
) -> float:
    """Seconds of one step over a batch split into groups (fraction f_i attends kv_lens[i])."""
    sh = shard(model, num_gpus)
    ops = token_ops(model, sh, batch * new_tokens)
    n_local = model.num_local_layers
    window = float(model.sliding_window or 0)
    for L, f in zip(kv_lens, fractions, strict=True):
        b = batch * f
        if n_local:
            ops.append(attention_op(model, sh, b, new_tokens, min(L, window), n_local))
        if model.num_layers - n_local:
            ops.append(attention_op(model, sh, b, new_tokens, L, model.num_layers - n_local))
    if select_lens is not None:
        ops += [
            select_op(model, sh, batch * f, S) for S, f in zip(select_lens, fractions, strict=True)
        ]
    parts = ops_time(ops, rf) | step_fixed_costs(model, rf, sh.num_gpus, batch, new_tokens)
    return float(sum(np.sum(v) for v in parts.values()))
