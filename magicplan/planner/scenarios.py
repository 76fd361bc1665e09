"""`magicplan plan --scenarios FILE.csv`: one plan per row, in row order.

Columns gpu, num_gpus, target, batch, context; optional draft_model ('self', a model, or a kind
keyword: eagle, eagle3, medusa, mtp, ngram), kv_method, kv_budget, gamma, draft_num_gpus
(restrict the candidates to these; blank: no restriction), alpha (the acceptance rate),
accepted_per_step (τ), tree_tokens (a tree family's verified tokens), engine (an id or profile
path), weight_dtype and kv_dtype (how the target is served; the KV format applies to the drafts'
caches too); a blank cell takes the command's option (--drafts, --gammas, --acceptance,
--engine, ...), else the default (the planner searches it).
A row that cannot be planned gets its reason as `error` (its inputs and engine echoed), and the
other rows are planned; `strict` stops at the first such row in file order instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from magicplan.errors import MagicplanError
from magicplan.planner.optimizer import plan
from magicplan.scenarios import (
    SCENARIO_COUNTS,
    WORKLOAD_COLUMNS,
    RowErrors,
    at_row,
    check_whole_numbers,
    read_columns,
    row_engine,
)
from magicplan.specs import as_draft, load_hardware, load_model

OPTIONAL = (
    "draft_model", "kv_method", "kv_budget", "gamma", "draft_num_gpus", "alpha", "engine",
    "weight_dtype", "kv_dtype", "accepted_per_step", "tree_tokens",
)  # fmt: skip
# A rate taken from a row's cell is labelled as its column, not as the command's option.
RATE_SOURCES = {
    "acceptance": ("user --acceptance", "scenarios column alpha"),
    "accepted_per_step": ("user --accepted-per-step", "scenarios column accepted_per_step"),
}


def _restrictions(cols: dict[str, Any], i: int) -> dict[str, Any]:
    """The optional columns of row `i` as planner keyword arguments (blank cells: none)."""
    kw: dict[str, Any] = {}
    draft = str(cols["draft_model"][i]) if "draft_model" in cols else ""
    if draft:
        kw["drafts"] = [as_draft(draft)]  # 'self', a model, or a kind keyword (eagle, ...)
    method = str(cols["kv_method"][i]) if "kv_method" in cols else ""
    if method:
        kw["kv_methods"] = ["full" if method == "none" else method]  # none: no draft cache
    if "kv_budget" in cols and np.isfinite(cols["kv_budget"][i]) and cols["kv_budget"][i] > 0:
        kw["kv_budgets"] = [int(cols["kv_budget"][i])]
    for name, key in (("gamma", "gammas"), ("draft_num_gpus", "draft_num_gpus")):
        if name in cols and np.isfinite(cols[name][i]):
            kw[key] = [int(cols[name][i])]  # plan this one only
    if "alpha" in cols and np.isfinite(cols["alpha"][i]):
        kw["acceptance"] = float(cols["alpha"][i])
    for name in ("accepted_per_step", "tree_tokens"):
        if name in cols and np.isfinite(cols[name][i]):
            kw[name] = float(cols[name][i]) if name == "accepted_per_step" else int(cols[name][i])
    for name in ("engine", "weight_dtype", "kv_dtype"):  # a cell overrides the command's
        if name in cols and str(cols[name][i]):
            kw[name] = str(cols[name][i])
    return kw


def _inputs(cols: dict[str, Any], i: int) -> dict[str, Any]:
    """Row `i`'s cells as JSON values (what a row that failed echoes)."""
    out: dict[str, Any] = {}
    for name, col in cols.items():
        v = col[i].item() if hasattr(col[i], "item") else col[i]
        if isinstance(v, float):
            v = None if v != v else (int(v) if v.is_integer() else v)
        out[name] = v
    return out


def plan_scenarios(
    path: str | Path, top: int = 5, *, strict: bool = True, **plan_kw: Any
) -> list[dict[str, Any]]:
    """Plan every row. strict: the first bad row in file order is a MagicplanError naming the
    file and row; else its object is its inputs, `engine` and `error` (one line). A file with
    no good row fails."""
    errors: RowErrors = {}
    cols = read_columns(path, WORKLOAD_COLUMNS, OPTIONAL, errors)
    check_whole_numbers(path, cols, SCENARIO_COUNTS, errors)
    out = []
    for i in range(len(cols["batch"])):
        if i not in errors:
            own = _restrictions(cols, i)
            try:
                report = plan(
                    load_hardware(str(cols["gpu"][i])), int(cols["num_gpus"][i]),
                    load_model(str(cols["target"][i])), int(cols["batch"][i]),
                    int(cols["context"][i]), top=top, **(plan_kw | own),
                )  # fmt: skip
                out.append(_relabelled(report, [RATE_SOURCES[k] for k in RATE_SOURCES if k in own]))
                continue
            except MagicplanError as exc:
                errors[i] = str(exc)
        if strict:
            raise MagicplanError(at_row(path, i, errors[i]))
        engine = row_engine(cols, i, plan_kw.get("engine"))
        out.append(_inputs(cols, i) | {"engine": engine, "error": errors[i]})
    if len(errors) == len(out):
        first = min(errors)
        raise MagicplanError(f"no row could be planned; {at_row(path, first, errors[first])}")
    return out


def _relabelled(value: Any, swaps: list[tuple[str, str]]) -> Any:
    """`value` (a report) with each (old, new) label replaced in its strings."""
    if not swaps:
        return value
    if isinstance(value, dict):
        return {k: _relabelled(v, swaps) for k, v in value.items()}
    if isinstance(value, list):
        return [_relabelled(v, swaps) for v in value]
    if isinstance(value, str):
        for old, new in swaps:
            value = value.replace(old, new)
    return value
