"""The figures `estimate_arrays` reports (their names are the JSON keys and CSV columns: a
contract), and output columns filled block by block."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from magicplan.cost.memory import MEMORY_PARTS
from magicplan.cost.operators import Array
from magicplan.cost.roofline import BREAKDOWN_CLASSES
from magicplan.errors import MagicplanError, suggest

STEPS = ("autoregressive", "draft", "verify")
SPECULATIVE_COLUMNS = (
    "t_autoregressive_ms", "t_draft_ms", "t_verify_ms", "accepted_per_step",
    "t_spec_per_token_ms", "speedup", "throughput_tokens_per_s",
    "autoregressive_throughput_tokens_per_s",
)  # fmt: skip
MEMORY_COLUMNS = (
    "memory_per_gpu_gb", "fits_in_memory", "max_batch", "max_batch_with_sd",
    *(f"memory.{part}_gb" for part in MEMORY_PARTS),
)  # fmt: skip
BREAKDOWN_COLUMNS = tuple(f"breakdown.{st}.{c}_ms" for st in STEPS for c in BREAKDOWN_CLASSES)
# Every figure, in output order (the JSON keys and CSV columns are a contract).
COLUMNS = (
    *SPECULATIVE_COLUMNS, "t_prefill_ms", "t_snapkv_select_ms", *MEMORY_COLUMNS,
    *BREAKDOWN_COLUMNS,
)  # fmt: skip
# What a sweep decides on: the step times, the speculative figures, memory and whether it fits.
SUMMARY_COLUMNS = (*SPECULATIVE_COLUMNS, "memory_per_gpu_gb", "fits_in_memory")


def check_columns(columns: Iterable[str] | None) -> tuple[str, ...]:
    """The known columns asked for, in output order (all when None); unknown ones are an error."""
    if columns is None:
        return COLUMNS
    try:
        asked = {columns} if isinstance(columns, str) else set(columns)  # one name, or several
    except TypeError as exc:
        raise MagicplanError(f"columns must be figure names; got {columns!r}") from exc
    unknown = sorted(asked - set(COLUMNS))
    if unknown:
        raise MagicplanError(
            f"unknown column '{unknown[0]}'{suggest(unknown[0], COLUMNS)}; columns are "
            f"{', '.join(SUMMARY_COLUMNS)}, ... ({len(COLUMNS)} in all)"
        )
    return tuple(c for c in COLUMNS if c in asked)


class Column:
    """One output column filled block by block. It stays a single broadcast value (no memory:
    weights, a class that is zero) until a block differs."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.value: Array | None = None  # the constant so far (0-d)
        self.data: Array | None = None

    def write(self, start: int, block: Array) -> None:
        """Rows start .. start + len(block) of the column."""
        if self.data is None:
            constant = block.size and not any(block.strides)
            if constant and (self.value is None or block.flat[0] == self.value):
                self.value = block.reshape(-1)[:1].reshape(())
                return
            self.data = np.empty(self.n, dtype=block.dtype)
            if self.value is not None:
                self.data[:start] = self.value
        self.data[start : start + block.size] = block

    def array(self) -> Array:
        """The whole column (a read-only broadcast view when it never varied)."""
        if self.data is not None:
            return self.data
        assert self.value is not None
        return np.broadcast_to(self.value, (self.n,))
