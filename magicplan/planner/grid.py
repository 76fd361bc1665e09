"""Vectorized evaluation of every speculative candidate of one draft on one workload:
methods × budgets × γ in a handful of numpy calls (no loop per candidate)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from magicplan.cost.memory import memory_per_gpu
from magicplan.cost.operators import Array
from magicplan.cost.roofline import Roofline
from magicplan.cost.steps import forward_time
from magicplan.specs.model import ModelSpec


@dataclass(frozen=True)
class DraftGrid:
    """Draft-step seconds and memory for methods (axis 0) × budgets (1) × γ (2)."""

    methods: tuple[str, ...]
    budgets: Array  # (K,)
    gammas: Array  # (G,)
    t_draft_s: Array  # (M, K, G)
    memory_bytes: Array  # (M, K, G)
    valid: npt.NDArray[np.bool_]  # (M, K, 1): budget usable for that method


def draft_grid(
    target: ModelSpec,
    draft: ModelSpec | None,
    rf: Roofline,
    num_gpus: int,
    draft_num_gpus: int,
    batch: float,
    context: float,
    methods: tuple[str, ...],
    budgets: Array,
    gammas: Array,
) -> DraftGrid:
    """Draft step time of `draft` (None: the target itself) for every method, budget and γ."""
    model = draft or target
    k = budgets[None, :, None]
    g = gammas[None, None, :]
    drafted = (g - 1.0) / 2.0
    static = [m for m in methods if m != "topk"]
    t = np.zeros((len(methods), budgets.size, gammas.size))
    if static:
        base = np.stack(
            [
                np.full_like(budgets, context) if m == "full" else np.minimum(budgets, context)
                for m in static
            ]
        )[:, :, None]
        st = forward_time(model, rf, draft_num_gpus, batch, 1.0, base + drafted)
        for i, m in enumerate(static):
            t[methods.index(m)] = st.total_s[i]
    if "topk" in methods:
        st = forward_time(
            model,
            rf,
            draft_num_gpus,
            batch,
            1.0,
            np.minimum(k[0], context) + drafted[0],
            select_len=context,
        )
        t[methods.index("topk")] = st.total_s
    mem = np.stack(
        [
            memory_per_gpu(target, num_gpus, batch, context, g[0], draft, draft_num_gpus, m, k[0])[
                "total"
            ]
            * np.ones((budgets.size, gammas.size))
            for m in methods
        ]
    )
    valid = np.stack(
        [(budgets == budgets[0]) if m == "full" else (budgets <= context) for m in methods]
    )[:, :, None]
    return DraftGrid(methods, budgets, gammas, t, mem, valid)
