"""Vectorized evaluation of every speculative candidate of one draft on one workload:
methods × budgets × γ in two `forward_time` calls (static methods together, top-k apart)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

from magicplan.cost.memory import memory_terms, total_bytes
from magicplan.cost.operators import Array
from magicplan.cost.roofline import Roofline
from magicplan.cost.steps import StepTime, draft_kv_len, forward_time
from magicplan.specs.model import ModelSpec


@dataclass(frozen=True)
class DraftGrid:
    """Draft-step seconds, their split by class, and memory: methods (0) × budgets (1) × γ (2)."""

    methods: tuple[str, ...]
    budgets: Array  # (K,)
    gammas: Array  # (G,)
    t_draft_s: Array  # (M, K, G)
    memory_bytes: Array  # (M, K, G)
    valid: npt.NDArray[np.bool_]  # (M, K, 1): budget meaningful for that method
    steps: tuple[tuple[list[int], StepTime], ...] = field(repr=False)  # method rows, their step

    @cached_property
    def breakdown(self) -> dict[str, Array]:
        """Class → (M, K, G) seconds (worked out when a report first asks)."""
        parts: dict[str, Array] = {}
        for idx, st in self.steps:
            for cls, val in st.parts.items():
                parts.setdefault(cls, np.zeros(self.t_draft_s.shape))[idx] = val
        return parts


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
    shape = (len(methods), budgets.size, gammas.size)
    k, g = budgets[:, None], gammas[None, :]
    t = np.zeros(shape)
    steps = []
    groups = ([m for m in methods if m != "topk"], [m for m in methods if m == "topk"])
    for group in (grp for grp in groups if grp):
        lens = [draft_kv_len(m, context, k, g) for m in group]
        kv_len = np.stack([np.broadcast_to(kv, shape[1:]) for kv, _ in lens])
        st = forward_time(model, rf, draft_num_gpus, batch, 1.0, kv_len, select_len=lens[0][1])
        idx = [methods.index(m) for m in group]
        t[idx] = st.total_s
        steps.append((idx, st))
    mem = np.stack(
        [
            np.broadcast_to(
                total_bytes(
                    *memory_terms(target, num_gpus, context, g, draft, draft_num_gpus, m, k), batch
                ),
                shape[1:],
            )
            for m in methods
        ]
    )
    valid = np.stack(
        [(budgets == budgets[0]) if m == "full" else (budgets <= context) for m in methods]
    )[:, :, None]
    return DraftGrid(methods, budgets, gammas, t, mem, valid, tuple(steps))
