"""Real decode steps of the runner's model, timed over a grid → StepSamples for the fitting core.

- autoregressive: one token per sequence over a full cache of `context` tokens;
- verify: γ+1 tokens per sequence over the full cache;
- draft: self-speculation, γ greedy draft tokens over the cache compressed to `kv_budget` by
  StreamingLLM or SnapKV (each fed the previous draft), timed together and divided by γ.

Every step includes greedy token selection. Cache contents are random (values do not change the
time of a dense step); one cache sized for the largest point is shared by every point through
batch views, and each call first resets the length of its cache, so a point can be timed again
and again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np
import numpy.typing as npt

from magicplan.calibration.fit import StepSample
from magicplan.calibration.torch_runner.compress import compress
from magicplan.calibration.torch_runner.model import (
    KVCache,
    Weights,
    forward,
    greedy,
    new_cache,
    torch_dtype,
)
from magicplan.calibration.torch_runner.speculative import Drafter, draft_tokens
from magicplan.calibration.torch_runner.timing import TimingPlan, sample_times
from magicplan.cost.methods import SNAPKV_WINDOW
from magicplan.specs.model import ModelSpec

KINDS = ("autoregressive", "draft", "verify")


@dataclass(frozen=True)
class StepPoint:
    """One step to time; `gamma` is 1 for autoregressive steps."""

    kind: str
    batch: int
    context: int
    gamma: int = 1


@dataclass(frozen=True)
class Grid:
    """Batch x context for every kind, the verify γs, and the draft's γ, method and budget."""

    batches: tuple[int, ...]
    contexts: tuple[int, ...]
    verify_gammas: tuple[int, ...]
    draft_gamma: int
    kv_method: str
    kv_budget: int

    def points(self) -> list[StepPoint]:
        """AR and verify at every (batch, context); drafts where the budget compresses."""
        bs = list(product(self.batches, self.contexts))
        out = [StepPoint("autoregressive", b, s) for b, s in bs]
        out += [StepPoint("draft", b, s, self.draft_gamma) for b, s in bs if s > self.kv_budget]
        out += [StepPoint("verify", b, s, g) for b, s in bs for g in self.verify_gammas]
        return out

    @property
    def capacity(self) -> int:
        """Cache tokens the largest step needs."""
        return max(self.contexts) + max(*self.verify_gammas, self.draft_gamma) + 1


class StepBench:
    """Weights and one shared random cache; builds a timed callable for each grid point."""

    def __init__(self, w: Weights, grid: Grid, device: str, seed: int = 0) -> None:
        import torch

        self.w, self.grid, self.device = w, grid, device
        self.gen = torch.Generator(device=device).manual_seed(seed)
        self.cache = new_cache(w.spec, max(grid.batches), grid.capacity, device)
        for t in self.cache.k + self.cache.v:
            t.normal_(generator=self.gen)

    def _tokens(self, batch: int, n: int) -> Any:
        import torch

        vocab = self.w.spec.vocab_size
        return torch.randint(0, vocab, (batch, n), generator=self.gen, device=self.device)

    def _queries(self, batch: int) -> list[Any]:
        """Stand-in SnapKV window queries: the selection's cost, not its choice, matters here."""
        import torch

        s = self.w.spec
        shape = (batch, s.num_attention_heads, SNAPKV_WINDOW, s.head_dim_eff)
        dt = torch_dtype(s.dtype)
        return [
            torch.randn(shape, generator=self.gen, device=self.device, dtype=dt)
            for _ in range(s.num_layers)
        ]

    def step_fn(self, p: StepPoint) -> Callable[[], Any]:
        """A call that runs step `p` once and leaves its cache as it found it."""
        view = self.cache.batch_view(p.batch)
        if p.kind == "draft":
            view.length = p.context
            g = self.grid
            queries = self._queries(p.batch) if g.kv_method == "snapkv" else None
            d = Drafter(self.w, compress(g.kv_method, view, g.kv_budget, p.gamma + 1, queries))
            return _draft_call(d, self._tokens(p.batch, 1), p.context, p.gamma)
        n = 1 if p.kind == "autoregressive" else p.gamma + 1
        return _forward_call(self.w, view, self._tokens(p.batch, n), p.context)


def _forward_call(w: Weights, cache: KVCache, tokens: Any, context: int) -> Callable[[], Any]:
    def call() -> Any:
        cache.length = context
        logits, _ = forward(w, cache, tokens, context)
        return greedy(logits)

    return call


def _draft_call(d: Drafter, pending: Any, context: int, gamma: int) -> Callable[[], Any]:
    base = d.cache.length

    def call() -> Any:
        d.cache.length = base
        return draft_tokens(d, pending, context, gamma)

    return call


def time_grid(
    bench: StepBench,
    points: list[StepPoint],
    plan: TimingPlan,
    advance: Callable[[int], None] | None = None,
    probes: Sequence[Callable[[], Any]] = (),
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Median seconds per step of every point (a draft point's γ steps divided by γ), and the
    best seconds of each of `probes`, timed in the same round-robin passes as the steps."""
    fns = [bench.step_fn(p) for p in points]
    samples = sample_times([*fns, *probes], bench.device, plan, advance)
    per_step = np.array([p.gamma if p.kind == "draft" else 1 for p in points], dtype=np.float64)
    steps = np.median(samples[:, : len(fns)], axis=0) / per_step
    best = samples[:, len(fns) :].min(axis=0)
    return np.asarray(steps, dtype=np.float64), np.asarray(best, dtype=np.float64)


def to_samples(
    spec: ModelSpec, grid: Grid, points: list[StepPoint], seconds: npt.NDArray[np.float64]
) -> list[StepSample]:
    """One StepSample per kind (single device: num_gpus = 1), rows indexing `points`."""
    out = []
    for kind in KINDS:
        rows = np.array([i for i, p in enumerate(points) if p.kind == kind], dtype=np.intp)
        if rows.size == 0:
            continue

        def col(attr: str, rows: npt.NDArray[np.intp] = rows) -> npt.NDArray[np.float64]:
            return np.array([getattr(points[i], attr) for i in rows], dtype=np.float64)

        method = grid.kv_method if kind == "draft" else "full"
        budget = np.full(rows.size, float(grid.kv_budget if kind == "draft" else 0))
        out.append(
            StepSample(
                kind=kind, target=spec, kv_method=method, num_gpus=1, draft_num_gpus=1,
                batch=col("batch"), context=col("context"), gamma=col("gamma"),
                kv_budget=budget, measured_s=seconds[rows], row=rows,
            )
        )  # fmt: skip
    return out


def error_stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and p90 |error| over all rows and per step kind."""

    def stats(errs: list[float]) -> dict[str, Any]:
        a = np.abs(np.asarray(errs, dtype=np.float64))
        return {
            "steps": int(a.size),
            "median_abs_error": float(np.median(a)),
            "p90_abs_error": float(np.percentile(a, 90)),
        }

    out = stats([r["error"] for r in rows])
    out["per_kind"] = {
        k: stats([r["error"] for r in rows if r["kind"] == k])
        for k in KINDS
        if any(r["kind"] == k for r in rows)
    }
    return out
