"""`magicplan plan --scenarios FILE.csv`: one plan per row, in row order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from magicplan.planner.optimizer import plan
from magicplan.scenarios import read_columns
from magicplan.specs import load_hardware, load_model

REQUIRED = ("gpu", "num_gpus", "target", "batch", "context")
OPTIONAL = ("draft_model", "kv_method", "kv_budget", "alpha")


def plan_scenarios(path: str | Path, top: int = 5) -> list[dict[str, Any]]:
    """Plan every row; optional columns restrict the candidates (blank cells: no restriction)."""
    cols = read_columns(path, REQUIRED, OPTIONAL)
    out = []
    for i in range(len(cols["batch"])):
        kw: dict[str, Any] = {"top": top}
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
        out.append(
            plan(
                load_hardware(str(cols["gpu"][i])),
                int(cols["num_gpus"][i]),
                load_model(str(cols["target"][i])),
                int(cols["batch"][i]),
                int(cols["context"][i]),
                **kw,
            )
        )
    return out
