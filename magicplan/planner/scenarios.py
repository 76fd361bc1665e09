"""`magicplan plan --scenarios FILE.csv`: one plan per row, in row order.

Columns gpu, num_gpus, target, batch, context; optional draft_model, kv_method, kv_budget
(restrict the candidates to these; blank: no restriction) and alpha (the acceptance rate).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from magicplan.errors import MagicplanError
from magicplan.planner.optimizer import plan
from magicplan.scenarios import SCENARIO_COUNTS, check_whole_numbers, read_columns
from magicplan.specs import load_hardware, load_model

REQUIRED = ("gpu", "num_gpus", "target", "batch", "context")
OPTIONAL = ("draft_model", "kv_method", "kv_budget", "alpha")


def _restrictions(cols: dict[str, Any], i: int) -> dict[str, Any]:
    """The optional columns of row `i` as planner keyword arguments (blank cells: none)."""
    kw: dict[str, Any] = {}
    draft = str(cols["draft_model"][i]) if "draft_model" in cols else ""
    if draft:
        kw["drafts"] = [None if draft == "self" else load_model(draft)]
    method = str(cols["kv_method"][i]) if "kv_method" in cols else ""
    if method:
        kw["kv_methods"] = [method]
    if "kv_budget" in cols and np.isfinite(cols["kv_budget"][i]) and cols["kv_budget"][i] > 0:
        kw["kv_budgets"] = [int(cols["kv_budget"][i])]
    if "alpha" in cols and np.isfinite(cols["alpha"][i]):
        kw["acceptance"] = float(cols["alpha"][i])
    return kw


def plan_scenarios(path: str | Path, top: int = 5, **plan_kw: Any) -> list[dict[str, Any]]:
    """Plan every row (a bad row is a MagicplanError naming the file and row)."""
    cols = read_columns(path, REQUIRED, OPTIONAL)
    check_whole_numbers(path, cols, SCENARIO_COUNTS)
    out = []
    for i in range(len(cols["batch"])):
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
            raise MagicplanError(f"{path} row {i + 2}: {exc}") from exc
    return out
