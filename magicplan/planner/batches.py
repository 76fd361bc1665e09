"""Batch sizes searched exactly: every batch, never only the powers of two.

For one strategy (draft, method, budget, γ), memory and the per-token time grow with the batch,
and its throughput B / t(B) never falls: t(B)/B does not rise, since weights and fixed latencies
are shared by more sequences while KV reads and FLOPs grow at most linearly. Hence
- the largest batch a strategy fits in memory (and meets an SLO at) is found by bisection, for
  every strategy at once, each with its own batch (one grid evaluation per step: `largest`);
- under an SLO a strategy's best throughput is at its largest feasible batch;
- a fixed strategy over every batch 1..N is one array pass with a batch axis (`curves`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from magicplan.cost.memory import max_batch, memory_terms
from magicplan.cost.operators import Array
from magicplan.cost.roofline import Roofline
from magicplan.cost.steps import autoregressive_time, verify_time
from magicplan.planner.evaluation import baseline, block, capacity_bytes, usable_capacity
from magicplan.planner.inputs import PlanInputs
from magicplan.planner.records import Draft
from magicplan.specs.hardware import HardwareSpec
from magicplan.specs.model import ModelSpec


@dataclass(frozen=True, kw_only=True)
class Largest:
    """Per (method, budget, γ) of one draft choice: the largest feasible batch (0: none) and
    the per-token seconds at it (NaN where none)."""

    draft: Draft
    batch: Array  # (M, K, G)
    t_token_s: Array  # (M, K, G)


def _verify_s(inp: PlanInputs, rf: Roofline, batch: Array) -> Array:
    gam = np.array(inp.gammas, dtype=float)
    return verify_time(inp.target, rf, inp.num_gpus, batch, inp.context, gam).total_s


def largest(
    inp: PlanInputs, drafts: list[Draft], high: int, slo_s: float = math.inf
) -> list[Largest]:
    """Per draft choice and strategy, the largest batch in [1, high] that fits in memory and
    whose per-token time is at most `slo_s` (bisection, every strategy at once)."""
    rf = inp.base_setup.roofline
    cap = capacity_bytes(inp)
    out = []
    for d in drafts:
        shape = (len(inp.kv_methods), len(inp.kv_budgets), d.gammas.size)
        lo, hi = np.zeros(shape), np.full(shape, float(high) + 1.0)  # lo fits (0: sentinel)
        t_lo = np.full(shape, np.nan)
        while np.any(active := hi - lo > 1):
            mid = np.where(active, np.floor((lo + hi) / 2), np.maximum(lo, 1.0))
            blk = block(inp, rf, _verify_s(inp, rf, mid), d, mid)
            t = blk.t_token_s
            ok = blk.grid.valid & (blk.grid.memory_bytes <= cap) & (t <= slo_s)  # NaN: False
            lo, t_lo = np.where(active & ok, mid, lo), np.where(active & ok, t, t_lo)
            hi = np.where(active & ~ok, mid, hi)
        out.append(Largest(draft=d, batch=lo, t_token_s=t_lo))
    return out


@dataclass(frozen=True, kw_only=True)
class Pick:
    """The strategy (draft choice; method, budget and γ indices) and batch with the most
    tokens/s."""

    draft: Draft
    index: tuple[int, int, int]
    batch: int
    tokens_per_s: float

    def restrict(self, inp: PlanInputs) -> dict[str, Any]:
        """Planner keyword arguments that leave only this strategy."""
        m, k, g = self.index
        tp = [self.draft.draft_num_gpus] if isinstance(self.draft.model, ModelSpec) else None
        return {"drafts": [self.draft.model], "kv_methods": [inp.kv_methods[m]],
                "kv_budgets": [inp.kv_budgets[k]], "gammas": [int(self.draft.gammas[g])],
                "draft_num_gpus": tp}  # fmt: skip


def most_tokens(
    inp: PlanInputs, drafts: list[Draft], high: int, slo_s: float = math.inf
) -> Pick | None:
    """The speculative strategy and batch (up to `high`) with the most tokens/s whose
    per-token time meets `slo_s`: each strategy at its largest such batch."""
    best = None
    for found in largest(inp, drafts, high, slo_s):
        with np.errstate(invalid="ignore"):  # strategies with no feasible batch: 0 / NaN
            rate = np.where(found.batch > 0, found.batch / found.t_token_s, 0.0)
        i = int(np.argmax(rate))
        if rate.flat[i] > 0 and (best is None or rate.flat[i] > best.tokens_per_s):
            m, k, g = (int(x) for x in np.unravel_index(i, rate.shape))
            best = Pick(draft=found.draft, index=(m, k, g), batch=int(found.batch.flat[i]),
                        tokens_per_s=float(rate.flat[i]))  # fmt: skip
    return best


def largest_ar(inp: PlanInputs, high: int, slo_s: float = math.inf) -> tuple[int, float]:
    """The largest batch in [1, high] at which plain AR fits (and meets `slo_s`), and its
    per-token seconds; (0, NaN) when none."""
    fits = int(min(high, ar_max_batch(inp.hardware, inp.num_gpus, inp.target, inp.context,
                                      inp.memory_utilization)))  # fmt: skip
    if fits < 1:
        return 0, math.nan
    rf = inp.base_setup.roofline
    b = np.arange(1.0, fits + 1.0)
    t = autoregressive_time(inp.target, rf, inp.num_gpus, b, inp.context).total_s
    ok = np.flatnonzero(t <= slo_s)  # t rises with the batch: the last index is the largest
    return (int(b[ok[-1]]), float(t[ok[-1]])) if ok.size else (0, math.nan)


def ar_max_batch(
    hardware: HardwareSpec, num_gpus: int, target: ModelSpec, context: npt.ArrayLike,
    memory_utilization: float | None = None,
) -> int:  # fmt: skip
    """Largest batch whose plain-AR memory fits at `context` (0: not even one sequence)."""
    fixed, per_seq = memory_terms(target, num_gpus, context, speculative=False)
    cap = usable_capacity(hardware, num_gpus, target, memory_utilization)
    return int(max_batch(cap, sum(fixed.values()), float(sum(per_seq.values(), 0.0))))


def ar_max_context(inp: PlanInputs, top: int) -> int:
    """Largest context in [0, top] at which `inp.batch` sequences fit with plain AR."""
    lo, hi = 0, top + 1  # memory grows with the context: bisect
    while hi - lo > 1:
        mid = (lo + hi) // 2
        fits = (ar_max_batch(inp.hardware, inp.num_gpus, inp.target, mid,
                             inp.memory_utilization) >= inp.batch)  # fmt: skip
        lo, hi = (mid, hi) if fits else (lo, mid)
    return lo


@dataclass(frozen=True, kw_only=True)
class Curve:
    """One draft choice over every batch 1..N: the best γ per batch (0 where speculation does
    not pay or does not fit), its speedup (NaN where no strategy fits) and the AR fit."""

    draft: Draft
    batches: Array  # (N,)
    gamma: Array  # (N,)
    speedup: Array  # (N,) best speculative speedup
    fits: Array  # (N,) some speculative strategy fits


def curves(inp: PlanInputs, drafts: list[Draft], top: int) -> list[Curve]:
    """Per draft choice, the best strategy at every batch 1..`top` in one array pass."""
    b = np.arange(1.0, top + 1.0)
    base = baseline(inp, b[:, None, None, None])
    out = []
    for d in drafts:
        blk = block(inp, base.roofline, base.t_verify_s, d, b[:, None, None, None])
        t = blk.t_token_s
        ok = blk.grid.valid & (blk.grid.memory_bytes <= base.capacity_bytes) & np.isfinite(t)
        flat = np.where(ok, t, np.inf).reshape(b.size, -1)
        i = np.argmin(flat, axis=1)
        t_best = flat[np.arange(b.size), i]
        fits = np.isfinite(t_best)
        speedup = np.where(fits, base.t_ar_s.reshape(-1) / t_best, np.nan)
        g = d.gammas.astype(int)[np.unravel_index(i, t.shape[1:])[2]]
        gamma = np.where(fits & (speedup > 1), g, 0)
        out.append(Curve(draft=d, batches=b, gamma=gamma, speedup=speedup, fits=fits))
    return out
