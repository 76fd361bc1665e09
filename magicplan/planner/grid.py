"""Vectorized evaluation of every speculative candidate of one draft on one workload:
methods × budgets × γ in two draft-pass calls (static methods together, top-k apart).

The batch may be a number or an array that broadcasts against (M, K, G): (N, 1, 1, 1) evaluates
N batch sizes in one pass, (M, K, G) gives every strategy its own batch (the SLO search)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

from magicplan.cost.drafts import Drafter
from magicplan.cost.memory import memory_terms, total_bytes
from magicplan.cost.operators import Array
from magicplan.cost.roofline import Roofline
from magicplan.cost.steps import StepTime, draft_kv_len
from magicplan.specs.model import ModelSpec


@dataclass(frozen=True)
class DraftGrid:
    """Draft-step seconds, their split by class, and memory: methods × budgets × γ (the last
    three axes; leading axes are the batch array's)."""

    methods: tuple[str, ...]
    budgets: Array  # (K,)
    gammas: Array  # (G,)
    t_draft_s: Array  # (..., M, K, G)
    memory_bytes: Array  # (..., M, K, G)
    valid: npt.NDArray[np.bool_]  # (M, K, 1): budget meaningful for that method
    steps: tuple[tuple[list[int], StepTime], ...] = field(repr=False)  # method rows, their step

    @cached_property
    def breakdown(self) -> dict[str, Array]:
        """Class → (..., M, K, G) seconds (worked out when a report first asks)."""
        parts: dict[str, Array] = {}
        for idx, st in self.steps:
            for cls, val in st.parts.items():
                parts.setdefault(cls, np.zeros(self.t_draft_s.shape))[..., idx, :, :] = val
        return parts


def draft_grid(
    target: ModelSpec,
    drafter: Drafter,
    rf: Roofline,
    num_gpus: int,
    draft_num_gpus: int,
    batch: npt.ArrayLike,
    context: float,
    methods: tuple[str, ...],
    budgets: Array,
    gammas: Array,
    verified: Array | None = None,
) -> DraftGrid:
    """Draft-pass time of `drafter` for every method, budget and γ (a draft without a KV cache
    of its own, Medusa or n-gram lookup: one entry, the first method and budget). `verified`:
    tokens verified per sequence per γ (default γ + 1), for the memory of the verify step."""
    b = np.asarray(batch, dtype=np.float64)
    grid = (len(methods), budgets.size, gammas.size)
    shape = np.broadcast_shapes(b.shape, grid)
    k, g = budgets[:, None], gammas[None, :]
    t = np.zeros(shape)
    steps = []
    if not drafter.kv_cache:
        st = drafter.pass_time(rf, draft_num_gpus, _rows(b, [0]), np.zeros(grid[1:]))
        t[...] = st.total_s
        steps.append((list(range(len(methods))), st))
    else:
        groups = ([m for m in methods if m != "topk"], [m for m in methods if m == "topk"])
        for group in (grp for grp in groups if grp):
            lens = [draft_kv_len(m, context, k, g, drafter.branch) for m in group]
            kv_len = np.stack([np.broadcast_to(kv, grid[1:]) for kv, _ in lens])
            idx = [methods.index(m) for m in group]
            st = drafter.pass_time(rf, draft_num_gpus, _rows(b, idx), kv_len, lens[0][1])
            t[..., idx, :, :] = st.total_s
            steps.append((idx, st))
    q = None if verified is None else verified[None, :]

    def memory(i: int, m: str) -> Array:
        terms = memory_terms(target, num_gpus, context, g, drafter.draft, draft_num_gpus,
                             m if drafter.kv_cache else "full", k, verified=q)  # fmt: skip
        rows = _rows(b, i)[..., 0, :, :] if b.ndim >= 3 else b
        return np.broadcast_to(total_bytes(*terms, rows), shape[:-3] + grid[1:])

    if drafter.kv_cache:  # the compressed methods keep the same cache: one memory for them
        same: dict[str, Array] = {}
        each = []
        for i, m in enumerate(methods):
            key = ("full" if m == "full" else "kept") if b.ndim < 3 else str(i)
            if key not in same:
                same[key] = memory(i, m)
            each.append(same[key])
        mem = np.stack(each, axis=-3)
    else:  # no draft cache: the method plays no part
        mem = np.broadcast_to(np.expand_dims(memory(0, methods[0]), -3), shape)
    valid = np.stack(
        [(budgets == budgets[0]) if m == "full" else (budgets <= context) for m in methods]
    )[:, :, None]
    if not drafter.kv_cache:  # no draft cache: one strategy, whatever the method axis holds
        valid = np.zeros_like(valid)
        valid[0, 0, 0] = True
    return DraftGrid(methods, budgets, gammas, t, mem, valid, tuple(steps))


def _rows(b: Array, idx: list[int] | int) -> Array:
    """The batch of the method rows `idx` (a batch array's method axis is its third-last)."""
    if b.ndim < 3 or b.shape[-3] == 1:
        return b
    i = [idx] if isinstance(idx, int) else idx
    return b[..., i, :, :]
