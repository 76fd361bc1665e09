"""Acceptance rates looked up by target, draft, method, budget and context; interpolated in
log-budget and context; honest about extrapolation and fallbacks; with 95 % intervals when the
table gives a sample size or an interval.

Rules: acceptance never decreases with budget. Between measured budgets it is interpolated in
log-budget; above the largest it stays at the largest's value (conservative); below the smallest
there is no evidence and the rate is NaN (the planner skips that budget and says so). Outside
the measured contexts it is clamped to the nearest and marked "extrapolated". A (target, draft,
method) with no entry falls back to the nearest entry — same draft kind (self / separate model)
and method first, else any but a full-KV one for a compressed method — with a note naming the
entry used ("borrowed": `borrowed_from`).

A full-KV draft (method `full`, budget 0 in a table) uses its own rows when the table has them;
otherwise it is given the best compressed entry's α at its largest measured budget, and the
source says whose.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from magicplan.planner.acceptance_data import Entry, load_table, merge, shipped, wilson_interval
from magicplan.planner.accepted_lengths import BORROWED as TAU_BORROWED

__all__ = ["Entry", "Evidence", "Lookup", "borrowed_from", "load_table", "lookup",
           "lookup_budgets", "merge", "shipped", "wilson_interval"]  # fmt: skip

COMPRESSED = ("topk", "snapkv", "streamingllm")
PREFERRED_DATASET = "pg19"  # MagicDec's and TriForce's long-context language-modelling set
SELF_FULL = "self-draft with full KV is the target itself (greedy: every token accepted)"
FALLBACK = "fallback to "  # how a source names the entry it borrowed
FULL_GIVEN = "full KV given the α of "  # how a full-KV draft's borrowed α is named


@dataclass(frozen=True)
class Lookup:
    """An acceptance rate, where it came from, and its 95 % interval when known."""

    alpha: float
    source: str
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Evidence:
    """Rates for a vector of budgets (NaN: no evidence), their sources, and what was missing."""

    alpha: np.ndarray
    low: np.ndarray  # NaN where no interval is known
    high: np.ndarray
    sources: list[str]
    smallest_budget: float | None  # smallest measured budget (None: nothing measured)
    key: tuple[str, str, str] | None = None  # the (target, draft, method) whose rows were used


def _kind(draft: str) -> str:
    return "self" if draft == "self" else "model"


def _candidates(
    table: Sequence[Entry], target: str, draft: str, method: str
) -> tuple[list[Entry], str]:
    """Entries for the key, else the nearest key's entries and a note naming it (never a
    full-KV entry for a compressed method: a full cache's α overstates a compressed one's)."""
    exact = [e for e in table if e.key == (target, draft, method)]
    if exact:
        return exact, ""
    table = [e for e in table if method == "full" or e.method != "full"]
    tiers: tuple[Callable[[Entry], bool], ...] = (
        lambda e: e.target == target and _kind(e.draft) == _kind(draft) and e.method == method,
        lambda e: _kind(e.draft) == _kind(draft) and e.method == method,
        lambda e: e.target == target and e.draft == draft,
        lambda e: _kind(e.draft) == _kind(draft),
        lambda e: True,
    )
    for keep in tiers:
        found = [e for e in table if keep(e)]
        if found:
            best = min(
                found, key=lambda e: (e.target != target, e.draft != draft, e.method != method)
            )
            return [e for e in found if e.key == best.key], f"{FALLBACK}{'/'.join(best.key)}"
    return [], ""


def _at_context(values: tuple[float, ...] | None, e: Entry, context: float) -> float:
    return float(np.interp(context, e.contexts, values)) if values is not None else math.nan


def _by_budget(entries: list[Entry]) -> dict[float, Entry]:
    out: dict[float, Entry] = {}
    for e in sorted(entries, key=lambda e: e.dataset != PREFERRED_DATASET):
        out.setdefault(e.budget, e)  # the preferred dataset wins at a budget
    return dict(sorted(out.items()))


def _interp_budget(curve: np.ndarray, measured: np.ndarray, budgets: np.ndarray) -> np.ndarray:
    """Log-budget interpolation of a budget-monotone curve; held above, NaN below."""
    mono = np.maximum.accumulate(curve)  # more budget never lowers acceptance
    if measured.size == 1:  # one budget (a full-KV row's is 0): no log-budget axis
        return np.where(budgets < measured[0], np.nan, mono[0])
    x = np.log(np.minimum(budgets, measured[-1]))
    return np.where(budgets < measured[0], np.nan, np.interp(x, np.log(measured), mono))


def _tags(note: str, extrap: bool, budget: float, measured: np.ndarray) -> str:
    tags = [
        note,
        "extrapolated in context" if extrap else "",
        "budget above measured: held at largest" if budget > measured[-1] else "",
        "interpolated in log-budget"
        if measured[0] < budget < measured[-1] and budget not in measured
        else "",
    ]
    return "; ".join(t for t in tags if t)


def lookup_budgets(
    table: Sequence[Entry],
    target: str,
    draft: str,
    method: str,
    budgets: npt.ArrayLike,
    context: float,
) -> Evidence:
    """α (and its interval) for every budget of one (target, draft, method) at `context`."""
    k = np.asarray(budgets, dtype=float)
    nan = np.full(k.shape, math.nan)
    if method == "full" and not any(e.key == (target, draft, "full") for e in table):
        return _full_kv(table, target, draft, k, context)
    entries, note = _candidates(table, target, draft, method)
    if not entries:
        return Evidence(nan, nan, nan, ["no acceptance measurement"] * k.size, None)
    by_budget = _by_budget(entries)
    measured = np.array(list(by_budget))
    if method == "full":  # the table's own full-KV rows: the budget plays no part
        by_budget = dict(list(by_budget.items())[-1:])
        measured, k = measured[-1:], np.full(k.shape, measured[-1])
    es = list(by_budget.values())
    extrap = any(not e.contexts[0] <= context <= e.contexts[-1] for e in es)
    curves = [np.array([_at_context(getattr(e, f), e, context) for e in es])
              for f in ("alphas", "lows", "highs")]  # fmt: skip
    alpha, low, high = (_interp_budget(c, measured, k) for c in curves)
    src = es[0].source
    sources = [f"{src} ({t})" if (t := _tags(note, extrap, b, measured)) else src for b in k]
    return Evidence(alpha, low, high, sources, float(measured[0]), es[0].key)


def _full_kv(
    table: Sequence[Entry], target: str, draft: str, k: np.ndarray, context: float
) -> Evidence:
    """A full-KV draft without rows of its own sees everything its best compressed setting sees
    (at the largest budget): that entry's α, named as borrowed."""
    if draft == "self":
        one = np.ones(k.shape)
        return Evidence(one, one, one, [SELF_FULL] * k.size, 0.0, (target, draft, "full"))
    each = [lookup_budgets(table, target, draft, m, [math.inf], context) for m in COMPRESSED]
    found = [f for f in each if np.isfinite(f.alpha[0])]
    exact = [f for f in found if FALLBACK not in f.sources[0]] or found
    if not exact:
        nan = np.full(k.shape, math.nan)
        return Evidence(nan, nan, nan, ["no acceptance measurement"] * k.size, None)
    best = max(exact, key=lambda f: float(f.alpha[0]))
    ones = np.ones(k.shape)
    used = "/".join(best.key or ("?",))
    source = f"{FULL_GIVEN}{used} at its largest measured budget: {best.sources[0]}"
    return Evidence(best.alpha[0] * ones, best.low[0] * ones, best.high[0] * ones,
                    [source] * k.size, 0.0, best.key)  # fmt: skip


def borrowed_from(source: str) -> str | None:
    """When an acceptance source (as this module, or the τ table's lookup, writes it) is not a
    measurement of the pair itself, the (target/draft/method) whose α (τ) was used; else None."""
    if TAU_BORROWED in source:
        return source.split(TAU_BORROWED, 1)[1].rstrip(")")
    if source.startswith(FULL_GIVEN):
        return source.removeprefix(FULL_GIVEN).split(" ", 1)[0] + " (a compressed-KV α)"
    if FALLBACK in source:
        return source.split(FALLBACK, 1)[1].split(";")[0].rstrip(")")
    return None


def lookup(
    table: Sequence[Entry], target: str, draft: str, method: str, budget: float, context: float
) -> Lookup | None:
    """α for one candidate, or None when there is no evidence at this budget (or at all)."""
    ev = lookup_budgets(table, target, draft, method, [budget], context)
    if not np.isfinite(ev.alpha[0]):
        return None
    lo, hi = float(ev.low[0]), float(ev.high[0])
    known = math.isfinite(lo) and math.isfinite(hi)
    return Lookup(float(ev.alpha[0]), ev.sources[0], lo if known else None, hi if known else None)
