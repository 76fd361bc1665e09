"""The Python API's arguments read as the CLI reads its flags: a count written `4k`, a comma list
('1k,4k', 'full,snapkv'), a scalar or a numpy array where a list is taken, and capacity's
context mix as text ('8k:0.5,32k:0.5'), pairs or a mapping. Counts parse in `magicplan.counts`;
whether a value is in range stays the check of the function that takes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from magicplan.counts import parse_count, parse_counts
from magicplan.errors import MagicplanError

# `plan`'s list-valued options, by what their items are.
NAME_LISTS = ("drafts", "kv_methods")
COUNT_LISTS = ("kv_budgets", "gammas", "draft_num_gpus")
RATE_LISTS = ("acceptance", "acceptance_interval")
WORKLOAD_FORM = "CONTEXT:FRACTION[:KV_BUDGET] (e.g. 8k:0.5,32k:0.5)"


def items(value: Any) -> list[Any]:
    """A list option's items: a comma string split, an array or iterable listed, and anything
    else (a number, a spec, a path) as the one item."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, np.ndarray):
        return list(value.tolist()) if value.ndim else [value.item()]
    if isinstance(value, (bytes, Path, BaseModel, Mapping)) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def count_arg(name: str, value: Any) -> Any:
    """One count: text ('32k') parsed, anything else as given (the caller checks it)."""
    return parse_count(name, value) if isinstance(value, (str, np.str_)) else value


def counts_arg(name: str, value: Any) -> list[Any] | None:
    """A list of counts from a comma string, a scalar, a list or an array (None stays None)."""
    if value is None:
        return None
    if isinstance(value, str):
        return parse_counts(name, value)
    return [count_arg(name, v) for v in items(value)]


def count_array(name: str, value: Any) -> Any:
    """A broadcast axis of counts: text parsed in a scalar, a comma string, a (nested) list or
    a string array; numbers and numeric arrays as given."""
    if isinstance(value, str):
        return parse_counts(name, value) if "," in value else parse_count(name, value)
    if isinstance(value, (list, tuple)):
        return [count_array(name, v) for v in value]
    if isinstance(value, np.ndarray) and value.dtype.kind in "USO":
        return np.vectorize(lambda v: count_arg(name, v), otypes=[object])(value)
    return value


def rates_arg(name: str, value: Any) -> Any:
    """α (or an interval) as a number or a list: '0.8' → 0.8, '0.8,0.6' → [0.8, 0.6], an
    array listed; anything else as given."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if not isinstance(value, str):
        return value
    try:
        rates = [float(v) for v in items(value)]
    except ValueError as exc:
        raise MagicplanError(
            f"{name} must be a number or a comma list of numbers; got '{value}'"
        ) from exc
    return rates[0] if len(rates) == 1 else rates  # as `--acceptance` reads it


def plan_arguments(kw: dict[str, Any]) -> dict[str, Any]:
    """`plan`'s optional arguments with every list option a list (None stays None: the
    default) and counts and rates written as text read."""
    out = dict(kw)
    for key in NAME_LISTS:
        if out.get(key) is not None:
            out[key] = items(out[key])
    for key in COUNT_LISTS:
        if key in out:
            out[key] = counts_arg(key, out[key])
    for key in RATE_LISTS:
        if key in out:
            out[key] = rates_arg(key, out[key])
    return out


def workload_arg(value: Any, name: str = "workload") -> list[tuple[float, ...]]:
    """Capacity's context mix → [(context, fraction[, kv_budget]), ...] as numbers, from text
    ('8k:0.5,32k:0.5:1k', as `--workload` takes it), a mapping context → fraction (or
    (fraction, kv_budget)), or items (tuples or 'CONTEXT:FRACTION' strings); contexts and
    budgets are counts ('8k' too). A bad item is one MagicplanError naming `name`."""
    if isinstance(value, Mapping):
        value = [(c, *(f if isinstance(f, (list, tuple)) else (f,))) for c, f in value.items()]
    entries = [tuple(e.split(":")) if isinstance(e, str) else tuple(items(e)) for e in items(value)]
    if not entries:
        raise MagicplanError(f"{name} must list at least one CONTEXT:FRACTION pair")
    return [_workload_item(name, parts) for parts in entries]


def _workload_item(name: str, parts: tuple[Any, ...]) -> tuple[float, ...]:
    """(context, fraction[, budget]) as numbers, the counts read from text ('8k')."""
    shown = ":".join(map(str, parts))
    try:
        if len(parts) not in (2, 3):
            raise MagicplanError(f"{len(parts)} parts, not 2 or 3")
        ctx, frac, *budget = parts
        values = (count_arg(f"{name} context", ctx), frac,
                  *(count_arg(f"{name} kv_budget", b) for b in budget))  # fmt: skip
        return tuple(float(v) for v in values)
    except (TypeError, ValueError, MagicplanError) as exc:
        raise MagicplanError(f"{name}: '{shown}' is not {WORKLOAD_FORM} ({exc})") from exc
