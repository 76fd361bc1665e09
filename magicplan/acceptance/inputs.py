"""Checks of `acceptance measure|check` inputs against the models, each one clear error."""

from __future__ import annotations

import math
from collections.abc import Sequence

from magicplan.calibration.torch_runner.compress import min_budget
from magicplan.cost.steps import KV_METHODS
from magicplan.errors import MagicplanError
from magicplan.specs.model import ModelSpec

DEVICES = ("cpu", "cuda")
DTYPES = ("bfloat16", "float32")


def check_methods(methods: Sequence[str], flag: str = "--kv-methods") -> None:
    """Every method is one the planner knows."""
    for m in methods:
        if m not in KV_METHODS:
            raise MagicplanError(f"{flag}: unknown method '{m}'; allowed: {', '.join(KV_METHODS)}")


def check_budgets(methods: Sequence[str], budgets: Sequence[int], contexts: Sequence[int]) -> None:
    """Each budget compresses every context (budget < context) and exceeds its method's fixed
    part (StreamingLLM's sinks, SnapKV's window)."""
    for b in budgets:
        for m in methods:
            if m != "full" and b < min_budget(m):
                raise MagicplanError(
                    f"--kv-budgets: {m} needs a budget of at least {min_budget(m)}; got {b}"
                )
        for c in contexts:
            if b >= c:
                raise MagicplanError(
                    f"--kv-budgets: budget {b} >= context {c}; a budget must be below the context"
                )


def check_contexts(contexts: Sequence[int], continuation: int, models: Sequence[ModelSpec]) -> None:
    """Each prompt plus its continuation fits every model's positions."""
    for c in contexts:
        if c < 1:
            raise MagicplanError(f"--contexts: a context must be >= 1 token; got {c}")
        for m in models:
            if c + continuation > m.max_position_embeddings:
                raise MagicplanError(
                    f"--contexts: {c} + {continuation} continuation tokens exceed {m.id}'s "
                    f"{m.max_position_embeddings} positions"
                )


def check_run(
    *, samples: int, continuation: int, temperature: float, positions: int, device: str,
    dtype: str,
) -> None:  # fmt: skip
    """Counts, temperature, device and dtype."""
    if samples < 1:
        raise MagicplanError(f"--samples must be >= 1; got {samples}")
    if continuation < 2:
        raise MagicplanError(f"--continuation must be >= 2 tokens; got {continuation}")
    if not (temperature >= 0 and math.isfinite(temperature)):
        raise MagicplanError(f"--temperature must be a finite number >= 0; got {temperature}")
    if not 0 <= positions < continuation:
        raise MagicplanError(
            f"--positions must be in [0, {continuation - 1}] (below --continuation); "
            f"got {positions}"
        )
    if device not in DEVICES:
        raise MagicplanError(f"--device: '{device}'; allowed: {', '.join(DEVICES)}")
    if dtype not in DTYPES:
        raise MagicplanError(f"--dtype: '{dtype}'; allowed: {', '.join(DTYPES)}")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise MagicplanError("--device cuda: torch sees no CUDA device")


def check_pair(target: ModelSpec, draft: ModelSpec | None) -> None:
    """A separate draft shares the target's vocabulary."""
    if draft is not None and draft.vocab_size != target.vocab_size:
        raise MagicplanError(
            f"--draft: {draft.id} has {draft.vocab_size} tokens, {target.id} {target.vocab_size}; "
            "a draft must share the target's vocabulary"
        )
