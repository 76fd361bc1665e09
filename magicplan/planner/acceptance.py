"""Acceptance rates: the published measurements (package data) or a user's table, looked up by
target, draft, method, budget and context; interpolated in log-budget and context; honest about
extrapolation and fallbacks; optional confidence intervals.

Rules: acceptance never decreases with budget. Between measured budgets it is interpolated in
log-budget; above the largest it stays at the largest's value (conservative); below the smallest
there is no evidence and the lookup returns None (the planner skips that budget). Outside the
measured contexts it is clamped to the nearest and marked "extrapolated". A (target, draft,
method) with no entry falls back to the nearest entry of the same draft kind and method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from magicplan.errors import MagicplanError
from magicplan.io import load_yaml

DATA = Path(__file__).resolve().parent.parent / "data" / "acceptance.yaml"
Z_95 = 1.959964  # two-sided 95 % normal quantile
COMPRESSED = ("topk", "snapkv", "streamingllm")
PREFERRED_DATASET = "pg19"  # MagicDec's and TriForce's long-context language-modelling set


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
    samples: int | None = None  # drafted tokens behind each rate, for an interval
    alpha_low: float | None = None
    alpha_high: float | None = None


@dataclass(frozen=True)
class Lookup:
    """An acceptance rate, where it came from, and its 95 % interval when known."""

    alpha: float
    source: str
    low: float | None = None
    high: float | None = None


def _check_rate(value: Any, where: str) -> float:
    try:
        a = float(value)
    except (TypeError, ValueError) as exc:
        raise MagicplanError(
            f"{where}: acceptance must be a number in [0, 1]; got {value!r}"
        ) from exc
    if not 0.0 <= a <= 1.0 or math.isnan(a):
        raise MagicplanError(f"{where}: acceptance must be in [0, 1]; got {value}")
    return a


def _entries_from_yaml_item(item: Any, where: str) -> list[Entry]:
    if not isinstance(item, dict):
        raise MagicplanError(f"{where}: each entry must be a mapping with target, draft, method")
    try:
        target = str(item["target"])
        budget = float(item["budget"])
    except KeyError as exc:
        raise MagicplanError(f"{where}: entry is missing key {exc}") from exc
    except (TypeError, ValueError) as exc:
        raise MagicplanError(f"{where}: key 'budget' must be a number") from exc
    dataset = str(item.get("dataset", "unknown"))
    source = str(item.get("source", where))
    samples = item.get("samples")
    if "alpha_by_method" in item:  # one context, several methods (TriForce's table)
        ctx = float(item.get("context", 0))
        return [
            Entry(
                target,
                str(item.get("draft", "self")),
                str(m),
                budget,
                dataset,
                (ctx,),
                (_check_rate(a, where),),
                source,
                samples,
            )
            for m, a in dict(item["alpha_by_method"]).items()
        ]
    by_ctx = item.get("alpha_by_context")
    if not isinstance(by_ctx, dict) or not by_ctx:
        raise MagicplanError(f"{where}: entry needs 'alpha_by_context' (context: alpha mapping)")
    pairs = sorted((float(c), _check_rate(a, where)) for c, a in by_ctx.items())
    return [
        Entry(
            target,
            str(item.get("draft", "self")),
            str(item.get("method", "streamingllm")),
            budget,
            dataset,
            tuple(p[0] for p in pairs),
            tuple(p[1] for p in pairs),
            source,
            int(samples) if samples is not None else None,
        )
    ]


def _entries_from_csv(path: Path) -> list[Entry]:
    from magicplan.scenarios import read_columns

    cols = read_columns(
        path,
        ("target", "draft", "method", "budget", "context", "alpha"),
        ("dataset", "samples", "alpha_low", "alpha_high"),
    )
    out = []
    for i in range(len(cols["alpha"])):

        def opt(name: str, i: int = i) -> float | None:
            v = cols.get(name)
            return None if v is None or not v[i] or str(v[i]) == "nan" else float(v[i])

        a = _check_rate(cols["alpha"][i], f"{path} row {i + 2} column 'alpha'")
        lo, hi, n = opt("alpha_low"), opt("alpha_high"), opt("samples")
        for name, val in (("alpha_low", lo), ("alpha_high", hi)):
            if val is not None:
                _check_rate(val, f"{path} row {i + 2} column '{name}'")
        out.append(
            Entry(
                str(cols["target"][i]),
                str(cols["draft"][i]),
                str(cols["method"][i]),
                float(cols["budget"][i]),
                str(cols["dataset"][i]) if "dataset" in cols else "unknown",
                (float(cols["context"][i]),),
                (a,),
                str(path),
                int(n) if n is not None else None,
                lo,
                hi,
            )
        )
    return out


def load_table(path: str | Path | None = None) -> list[Entry]:
    """Entries of a YAML list or CSV table; the shipped published measurements by default."""
    if path is None:
        return list(_shipped())
    return _read_table(Path(path))


@lru_cache(maxsize=1)
def _shipped() -> tuple[Entry, ...]:
    return tuple(_read_table(DATA))


def _read_table(p: Path) -> list[Entry]:
    if p.suffix.lower() == ".csv":
        return _entries_from_csv(p)
    data = load_yaml(p)
    if not isinstance(data, list):
        raise MagicplanError(f"{p}: top level must be a list of acceptance entries")
    return [
        e
        for i, item in enumerate(data)
        for e in _entries_from_yaml_item(item, f"{p} entry {i + 1}")
    ]


def wilson_interval(alpha: float, samples: int) -> tuple[float, float]:
    """95 % Wilson score interval of a rate measured on `samples` drafted tokens."""
    n, z = float(samples), Z_95
    centre = (alpha + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(alpha * (1 - alpha) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _at_context(e: Entry, context: float) -> tuple[float, bool]:
    ctx = np.asarray(e.contexts)
    extrapolated = bool(context < ctx.min() or context > ctx.max())
    return float(np.interp(context, ctx, np.asarray(e.alphas))), extrapolated


def _kind(draft: str) -> str:
    return "self" if draft == "self" else "model"


def _candidates(
    table: list[Entry], target: str, draft: str, method: str
) -> tuple[list[Entry], str]:
    exact = [e for e in table if (e.target, e.draft, e.method) == (target, draft, method)]
    if exact:
        return exact, ""
    tiers = (
        lambda e: e.target == target and _kind(e.draft) == _kind(draft) and e.method == method,
        lambda e: _kind(e.draft) == _kind(draft) and e.method == method,
    )
    for keep in tiers:
        found = [e for e in table if keep(e)]
        if found:
            best = min(found, key=lambda e: (e.target != target, e.draft != draft))
            same = [e for e in found if (e.target, e.draft) == (best.target, best.draft)]
            return same, f"fallback to {best.target}/{best.draft}/{method}"
    return [], ""


def lookup(
    table: list[Entry], target: str, draft: str, method: str, budget: float, context: float
) -> Lookup | None:
    """α for one candidate, or None when there is no evidence at this budget (or at all)."""
    if method == "full" and draft == "self":
        return Lookup(1.0, "self-draft with full KV is the target itself (greedy: all accepted)")
    entries, note = _candidates(table, target, draft, method)
    if method == "full":  # a full-KV draft sees all that the best compressed one sees
        best = [lookup(table, target, draft, m, 1e12, context) for m in COMPRESSED]
        found = [b for b in best if b is not None]
        exact = [b for b in found if "fallback" not in b.source] or found
        return max(exact, key=lambda b: b.alpha) if exact else None
    if not entries:
        return None
    by_budget: dict[float, list[Entry]] = {}
    for e in sorted(entries, key=lambda e: e.dataset != PREFERRED_DATASET):
        by_budget.setdefault(e.budget, []).append(e)
    budgets = sorted(by_budget)
    if budget < budgets[0]:
        return None
    values = []
    extrap = False
    for b in budgets:
        a, x = _at_context(by_budget[b][0], context)
        values.append(a)
        extrap |= x
    mono = np.maximum.accumulate(values)  # never less acceptance with more budget
    alpha = float(np.interp(math.log(min(budget, budgets[-1])), np.log(budgets), mono))
    tags = [
        t
        for t in (
            note,
            "extrapolated in context" if extrap else "",
            "budget above measured: held at largest" if budget > budgets[-1] else "",
            "interpolated in log-budget"
            if budgets[0] < budget < budgets[-1] and budget not in by_budget
            else "",
        )
        if t
    ]
    e0 = by_budget[budgets[0]][0]
    low, high = _interval(by_budget.get(budget, [None])[0], alpha)
    return Lookup(alpha, f"{e0.source}" + (f" ({'; '.join(tags)})" if tags else ""), low, high)


def _interval(entry: Entry | None, alpha: float) -> tuple[float | None, float | None]:
    if entry is None:
        return None, None
    if entry.alpha_low is not None and entry.alpha_high is not None:
        return entry.alpha_low, entry.alpha_high
    if entry.samples:
        return wilson_interval(alpha, entry.samples)
    return None, None
