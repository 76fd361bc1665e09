"""Counts (tokens, sequences) as people write them: `4096`, `4k`, `32k`, `1.5k`, `1m`.

One parser for the command line (every context, batch and budget option), the scenario CSVs
and the plots. The suffixes are decimal: k = 1,000, m = 1,000,000 (`32k` is 32,000 tokens).
"""

from __future__ import annotations

import math

from magicplan.errors import MagicplanError

SUFFIXES = {"k": 1e3, "m": 1e6}  # decimal, as in "a 32k context"
EXAMPLE = "e.g. 4096, 4k, 32k, 1m"


def parse_count(name: str, text: str | int) -> int:
    """'32k' → 32000: a whole number, written plainly or with a k/m suffix, else a
    MagicplanError naming `name` (whether it is in range is the caller's check)."""
    raw = str(text).strip().lower()
    factor = SUFFIXES.get(raw[-1:], 1.0)
    try:
        value = float(raw[:-1] if raw[-1:] in SUFFIXES else raw) * factor
    except ValueError:
        value = float("nan")
    if isinstance(text, bool) or not (math.isfinite(value) and value.is_integer()):
        raise MagicplanError(f"{name} must be a whole number ({EXAMPLE}); got '{text}'")
    return int(value)


def parse_counts(name: str, text: str) -> list[int]:
    """'1,8,64' or '4k,32k' → [1, 8, 64] (in the order given); empty is a MagicplanError."""
    items = [p.strip() for p in str(text).split(",") if p.strip()]
    if not items:
        raise MagicplanError(f"{name} must list at least one value ({EXAMPLE}); got '{text}'")
    return [parse_count(name, p) for p in items]
