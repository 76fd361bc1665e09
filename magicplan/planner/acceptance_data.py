"""Acceptance tables: the published measurements shipped as package data, or a user's YAML/CSV
with the same keys (target, draft, method, budget, dataset, context), read into frozen entries.

A user's table overrides the shipped one key by key: for every (target, draft, method) it
mentions only its rows are used; everything else still comes from the published table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from magicplan.errors import MagicplanError
from magicplan.io import load_yaml

DATA = Path(__file__).resolve().parent.parent / "data" / "acceptance.yaml"
Z_95 = 1.959964  # two-sided 95 % standard-normal quantile
CSV_REQUIRED = ("target", "draft", "method", "budget", "context", "alpha")
CSV_OPTIONAL = ("dataset", "samples", "alpha_low", "alpha_high", "source")
Point = tuple[float, float, float | None, float | None]  # context, α, low, high


@dataclass(frozen=True)
class Entry:
    """Measured acceptance of one (target, draft, method, budget, dataset) across contexts."""

    target: str
    draft: str  # "self" or a draft model id
    method: str
    budget: float
    dataset: str
    contexts: tuple[float, ...]
    alphas: tuple[float, ...]
    source: str
    lows: tuple[float, ...] | None = None  # 95 % interval per context, when known
    highs: tuple[float, ...] | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.target, self.draft, self.method)


def check_rate(value: Any, where: str) -> float:
    """A rate in [0, 1], or a MagicplanError naming `where`."""
    try:
        a = float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise MagicplanError(
            f"{where}: acceptance must be a number in [0, 1]; got {str(value)[:40]!r}"
        ) from exc
    if math.isnan(a) or not 0.0 <= a <= 1.0:
        raise MagicplanError(f"{where}: acceptance must be in [0, 1]; got {value}")
    return a


def wilson_interval(alpha: float, samples: float) -> tuple[float, float]:
    """95 % Wilson score interval of a rate measured on `samples` drafted tokens."""
    n, z = float(samples), Z_95
    centre = (alpha + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(alpha * (1 - alpha) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # Rounding can put the bound a hair past α at α = 0 or 1; the interval always contains α.
    return min(max(0.0, centre - half), alpha), max(min(1.0, centre + half), alpha)


def make_entry(
    head: tuple[str, str, str, float, str], source: str, points: list[Point], where: str = ""
) -> Entry:
    """One entry from (target, draft, method, budget, dataset) and its (context, α, lo, hi);
    `where` (the file, entry or row) names problems, `source` is the citation kept."""
    where = where or source
    points = sorted(points, key=lambda p: p[0])
    ctx = [p[0] for p in points]
    if len(set(ctx)) < len(ctx):
        raise MagicplanError(f"{where}: {'/'.join(map(str, head))} lists a context twice")
    for c, a, lo, hi in points:
        if lo is not None and hi is not None and not lo <= a <= hi:
            raise MagicplanError(
                f"{where}: alpha_low <= alpha <= alpha_high fails at context {c:g}"
            )
    known = all(p[2] is not None and p[3] is not None for p in points)
    return Entry(
        *head,
        tuple(ctx),
        tuple(p[1] for p in points),
        source,
        tuple(float(p[2]) for p in points if p[2] is not None) if known else None,
        tuple(float(p[3]) for p in points if p[3] is not None) if known else None,
    )


def _point(ctx: float, alpha: float, samples: float | None) -> Point:
    lo_hi = wilson_interval(alpha, samples) if samples else (None, None)
    return (ctx, alpha, *lo_hi)


def _number(item: dict[str, Any], key: str, where: str, allow_zero: bool = False) -> float:
    try:
        value = float(item[key])
    except KeyError as exc:
        raise MagicplanError(f"{where}: entry is missing key '{key}'") from exc
    except (TypeError, ValueError, OverflowError) as exc:
        raise MagicplanError(
            f"{where}: key '{key}' must be a number; got {str(item[key])[:40]!r}"
        ) from exc
    if not math.isfinite(value) or not (value >= 0 if allow_zero else value > 0):
        bound = ">= 0 (0: full KV)" if allow_zero else "> 0"
        raise MagicplanError(f"{where}: key '{key}' must be {bound}; got {value:g}")
    return value


def _budget(item: dict[str, Any], method: Any, where: str) -> float:
    """A draft KV budget: > 0 tokens, or 0 for a full-KV draft (method `full`: it keeps the
    whole context, so its budget plays no part)."""
    return _number(item, "budget", where, allow_zero=str(method) == "full")


def _yaml_item(item: Any, where: str) -> list[Entry]:
    if not isinstance(item, dict) or "target" not in item:
        raise MagicplanError(f"{where}: each entry must be a mapping with target, draft, method")
    method = item.get("method")
    if isinstance(item.get("alpha_by_method"), dict):
        method = "full" if set(item["alpha_by_method"]) == {"full"} else None
    budget = _budget(item, method, where)
    samples = _number(item, "samples", where) if "samples" in item else None
    target, draft = str(item["target"]), str(item.get("draft", "self"))
    dataset = str(item.get("dataset", "unknown"))
    source = f"{item['source']}" if "source" in item else where
    if "alpha_by_method" in item:  # one context, several methods (TriForce's table 1)
        ctx = _number(item, "context", where)
        return [
            make_entry((target, draft, str(m), budget, dataset), source,
                       [_point(ctx, check_rate(a, where), samples)], where)
            for m, a in dict(item["alpha_by_method"]).items()
        ]  # fmt: skip
    by_ctx = item.get("alpha_by_context")
    if not isinstance(by_ctx, dict) or not by_ctx:
        raise MagicplanError(f"{where}: entry needs 'alpha_by_context' (context: alpha mapping)")
    if "method" not in item:
        raise MagicplanError(f"{where}: entry is missing key 'method'")
    points = [
        _point(_number({"context": c}, "context", where), check_rate(a, where), samples)
        for c, a in by_ctx.items()
    ]
    return [
        make_entry((target, draft, str(item["method"]), budget, dataset), source, points, where)
    ]


def _csv_entries(path: Path) -> list[Entry]:
    from magicplan.io import read_csv_rows

    groups: dict[tuple[str, str, str, float, str], list[Point]] = {}
    for i, row in enumerate(read_csv_rows(path, CSV_REQUIRED), start=2):
        where = f"{path} row {i}"
        num = {k: row[k] for k in ("budget", "context", "samples") if row.get(k)}
        vals = {k: _number(num, k, f"{where} column '{k}'") for k in num if k != "budget"}
        if "budget" in num:
            vals["budget"] = _budget(num, row["method"], f"{where} column 'budget'")
        if "budget" not in vals or "context" not in vals:
            raise MagicplanError(f"{where}: columns 'budget' and 'context' must not be empty")
        rate = {
            k: check_rate(row[k], f"{where} column '{k}'")
            for k in ("alpha", "alpha_low", "alpha_high")
            if row.get(k) or k == "alpha"
        }
        point = _point(vals["context"], rate["alpha"], vals.get("samples"))
        if "alpha_low" in rate and "alpha_high" in rate:
            point = (vals["context"], rate["alpha"], rate["alpha_low"], rate["alpha_high"])
        head = (row["target"], row["draft"], row["method"], vals["budget"],
                row.get("dataset") or "unknown")  # fmt: skip
        groups.setdefault(head, []).append(point)
    return [make_entry(head, str(path), pts) for head, pts in groups.items()]


def read_table(path: str | Path) -> list[Entry]:
    """Entries of a YAML list or a CSV (one row per context; rows of one key are merged)."""
    p = Path(path)
    if p.suffix.lower() == ".csv":
        return _csv_entries(p)
    data = load_yaml(p)
    if not isinstance(data, list):
        raise MagicplanError(f"{p}: top level must be a list of acceptance entries")
    return [e for i, item in enumerate(data) for e in _yaml_item(item, f"{p} entry {i + 1}")]


@lru_cache(maxsize=1)
def shipped() -> tuple[Entry, ...]:
    """The published measurements (MagicDec, TriForce) shipped with the package."""
    return tuple(read_table(DATA))


def load_table(path: str | Path | None = None) -> list[Entry]:
    """The shipped table, overridden key by key by the user's table at `path` when given."""
    if path is None:
        return list(shipped())
    return merge(read_table(path), shipped())


def merge(user: Sequence[Entry], base: Sequence[Entry]) -> list[Entry]:
    """`user` entries first; `base` entries only for (target, draft, method) `user` lacks."""
    keys = {e.key for e in user}
    return [*user, *(e for e in base if e.key not in keys)]
