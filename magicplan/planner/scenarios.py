"""`magicplan plan --scenarios FILE.csv`: one plan per row, in row order.

Columns gpu, num_gpus, target, batch, context; optional draft_model ('self', a model, or a kind
keyword: eagle, eagle3, medusa, mtp, ngram), kv_method, kv_budget (restrict the candidates to
these; blank: no restriction), alpha (the acceptance rate), accepted_per_step (τ), tree_tokens
(a tree family's verified tokens), engine (an id or profile path), weight_dtype and kv_dtype
(how the target is served; the KV format applies to the drafts' caches too); a blank cell takes
the command's option (--engine, --weight-dtype, --kv-dtype), else the default.
A row that cannot be planned gets its reason as `error` (its inputs echoed), and the other rows
are planned; `strict` stops at the first such row instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from magicplan.errors import MagicplanError
from magicplan.planner.optimizer import plan
from magicplan.scenarios import (
    SCENARIO_COUNTS,
    RowErrors,
    at_row,
    check_whole_numbers,
    read_columns,
)
from magicplan.specs import as_draft, load_hardware, load_model

REQUIRED = ("gpu", "num_gpus", "target", "batch", "context")
OPTIONAL = (
    "draft_model", "kv_method", "kv_budget", "alpha", "engine", "weight_dtype", "kv_dtype",
    "accepted_per_step", "tree_tokens",
)  # fmt: skip


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
    """Plan every row. strict: a bad row is a MagicplanError naming the file and row; else its
    object is its inputs and `error` (one line). A file with no good row fails."""
    errors: RowErrors | None = None if strict else {}
    cols = read_columns(path, REQUIRED, OPTIONAL, errors)
    check_whole_numbers(path, cols, SCENARIO_COUNTS, errors)
    out = []
    for i in range(len(cols["batch"])):
        if errors and i in errors:
            out.append(_inputs(cols, i) | {"error": errors[i]})
            continue
        try:
            out.append(
                plan(
                    load_hardware(str(cols["gpu"][i])),
                    int(cols["num_gpus"][i]),
                    load_model(str(cols["target"][i])),
                    int(cols["batch"][i]),
                    int(cols["context"][i]),
                    top=top,
                    **(plan_kw | _restrictions(cols, i)),
                )
            )
        except MagicplanError as exc:
            if errors is None:
                raise MagicplanError(at_row(path, i, str(exc))) from exc
            errors[i] = str(exc)
            out.append(_inputs(cols, i) | {"error": str(exc)})
    if errors is not None and len(errors) == len(out):
        first = min(errors)
        raise MagicplanError(f"no row could be planned; {at_row(path, first, errors[first])}")
    return out
