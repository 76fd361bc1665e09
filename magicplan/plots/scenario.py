"""What a figure is about: one setup (hardware, GPUs, target, draft, KV method), a KV budget, an
acceptance assumption, and the batch × context grid it spans. Also the text every title carries."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from magicplan.cost.speculative import check_acceptance
from magicplan.counts import parse_counts
from magicplan.errors import MagicplanError
from magicplan.setup import Setup, check_positive

DEFAULT_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
DEFAULT_CONTEXTS = (1024, 4096, 8192, 16384, 32768, 65536)
METHOD_NAMES = {
    "full": "full KV",
    "streamingllm": "StreamingLLM",
    "snapkv": "SnapKV",
    "topk": "top-k",
}


@dataclass(frozen=True)
class Scenario:
    """A setup plus the assumptions a figure states in its title.

    `acceptance` is the per-token acceptance rate α; None asks the planner's acceptance model
    (published measurements by target, draft, method, budget and context).
    """

    setup: Setup
    kv_budget: int = 512
    acceptance: float | None = None
    batches: tuple[int, ...] = DEFAULT_BATCHES
    contexts: tuple[int, ...] = DEFAULT_CONTEXTS

    def __post_init__(self) -> None:
        check_positive("kv_budget", self.kv_budget, allow_zero=self.setup.kv_method == "full")
        check_positive("batch", list(self.batches))
        check_positive("context", list(self.contexts))
        if self.acceptance is not None:
            check_acceptance(self.acceptance)

    def with_setup(self, **changes: Any) -> Scenario:
        """The same scenario with some `Setup` fields changed (e.g. another draft)."""
        return replace(self, setup=replace(self.setup, **changes))

    def alpha(self, context: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """α at each `context`: the given rate, else the planner's acceptance model."""
        c = np.asarray(context, dtype=np.float64)
        if self.acceptance is not None:
            return np.full(c.shape, float(self.acceptance))
        return planner_acceptance(self.setup, self.kv_budget, c)

    def draft_text(self) -> str:
        """'self-speculation, StreamingLLM KV 512' or 'draft tinyllama-1.1b, full KV'."""
        s = self.setup
        who = "self-speculation" if s.draft is None else f"draft {s.draft.id}"
        method = METHOD_NAMES.get(s.kv_method, s.kv_method)
        budget = "" if s.kv_method == "full" else f" budget {self.kv_budget} tokens"
        return f"{who}, {method}{budget}"

    def acceptance_text(self, contexts: tuple[int, ...] | None = None) -> str:
        """'α = 0.80' (given) or 'α 0.79-0.84 published' (at `contexts`, default the grid's)."""
        if self.acceptance is not None:
            return f"α = {self.acceptance:.2f} (given)"
        a = self.alpha(np.asarray(contexts or self.contexts))
        lo, hi = float(a.min()), float(a.max())
        shown = f"{lo:.2f}" if abs(hi - lo) < 0.005 else f"{lo:.2f}-{hi:.2f} by context"
        return f"α {shown} (published)"

    def subtitle(self, draft: bool = True, contexts: tuple[int, ...] | None = None) -> str:
        """The assumptions line of every title: hardware, model, draft and acceptance (at
        `contexts`, default the scenario's)."""
        s = self.setup
        where = f"{s.target.name} on {s.num_gpus}× {s.hardware.name}"
        where += " (ideal roofline)" if s.mode == "ideal" else f", engine {s.engine_id}"
        if not draft:
            return where
        return f"{where}\n{self.draft_text()} · {self.acceptance_text(contexts)}"


def planner_acceptance(
    setup: Setup, kv_budget: int, context: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """α at each context from the planner's table of published measurements
    (`magicplan.planner.acceptance`), or a MagicplanError asking for α where it has none."""
    from magicplan.planner import acceptance as acc

    table = acc.load_table()
    draft = setup.draft.id if setup.draft is not None else "self"
    flat = np.ravel(context)
    hits = [acc.lookup(table, setup.target.id, draft, setup.kv_method, kv_budget, c) for c in flat]
    if any(h is None for h in hits):
        raise MagicplanError(
            f"acceptance: no published measurement for {setup.target.id} with draft {draft}, "
            f"{setup.kv_method} budget {kv_budget}; give --acceptance A (α in [0, 1])"
        )
    return np.array([h.alpha for h in hits if h is not None]).reshape(np.shape(context))


def parse_ints(name: str, text: str) -> tuple[int, ...]:
    """'1,2,4' or '4k,32k' → sorted distinct counts; anything else is a MagicplanError naming
    `name` (`magicplan.counts`)."""
    values = parse_counts(name, text)
    check_positive(name, values)
    return tuple(sorted(set(values)))
