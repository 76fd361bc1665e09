"""The command's options and defaults for the blank cells of a scenarios CSV (`read_scenarios`):
a blank cell, or a missing column, takes the option of that column; a strategy cell still
blank takes what one `estimate` takes without it."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from magicplan.csv_columns import Columns
from magicplan.errors import MagicplanError
from magicplan.specs.drafts import draft_kind, is_family

# The command-line option that stands in for each column (a blank cell or a missing column).
OPTION_FLAGS = {
    "draft_model": "--draft", "kv_method": "--kv-method", "kv_budget": "--kv-budget",
    "gamma": "--gamma", "alpha": "--acceptance", "accepted_per_step": "--accepted-per-step",
    "tree_tokens": "--tree-tokens", "draft_num_gpus": "--draft-num-gpus",
}  # fmt: skip
# `magicplan.estimate.estimate`'s defaults: a chain's γ, and the draft's KV budget in tokens
DEFAULT_GAMMA, DEFAULT_KV_BUDGET = 2, 512
Options = Mapping[str, str | float | None]
# Whole-number columns and their smallest value (also what an option for one must be).
SCENARIO_COUNTS = (
    ("num_gpus", 1), ("kv_budget", 0), ("context", 1), ("batch", 1), ("gamma", 1),
    ("draft_num_gpus", 1), ("tree_tokens", 2),
)  # fmt: skip
RATES = (("alpha", 0.0, 1.0), ("accepted_per_step", 1.0, np.inf))  # α and Ω (τ): [low, high]


def checked_options(options: Options | None) -> dict[str, str | float]:
    """The options given, each checked as its column's cells are (a MagicplanError names it)."""
    given = {k: v for k, v in (options or {}).items() if v is not None and v != ""}
    unknown = sorted(given.keys() - OPTION_FLAGS.keys())
    if unknown:
        raise MagicplanError(f"no option stands in for column '{unknown[0]}'")
    if {"alpha", "accepted_per_step"} <= given.keys():
        raise MagicplanError("give --acceptance or --accepted-per-step, not both")
    for name, low in SCENARIO_COUNTS:
        v = float(given.get(name, low))
        if not (v.is_integer() and low <= v < 2.0**53):  # exact in a double, as the cells
            raise MagicplanError(f"{OPTION_FLAGS[name]} must be a whole number >= {low}; got {v:g}")
    for name, lo, hi in RATES:
        v = float(given.get(name, lo))
        if not (np.isfinite(v) and lo <= v <= hi):
            raise MagicplanError(f"{OPTION_FLAGS[name]} must lie in [{lo:g}, {hi:g}]; got {v:g}")
    return given


def fill_blanks(cols: Columns, given: dict[str, str | float], ok: npt.NDArray[np.bool_]) -> None:
    """Blank cells of the good rows `ok` (and missing columns) take the options `given`; then
    the strategy columns' blank cells take `estimate`'s defaults (`read_scenarios`). α or Ω
    fills only the rows that have neither."""
    n = ok.size
    rateless = np.isnan(cols.get("alpha", np.full(n, np.nan))) & np.isnan(
        cols.get("accepted_per_step", np.full(n, np.nan))
    )
    for name, value in given.items():
        if name in ("alpha", "accepted_per_step"):
            blank = ok & rateless
            cols[name] = np.where(blank, float(value), cols.get(name, np.full(n, np.nan)))
        elif name in ("draft_model", "kv_method"):
            cols[name] = np.where(ok & (cols.get(name, np.full(n, "")) == ""), str(value),
                                  cols.get(name, np.full(n, "")))  # fmt: skip
        else:
            old = cols.get(name, np.full(n, np.nan))
            cols[name] = np.where(ok & np.isnan(old), float(value), old)
    draft = np.where(ok & (cols["draft_model"] == ""), "self", cols["draft_model"])
    names, which = np.unique(draft, return_inverse=True)
    family = np.array([is_family(d) for d in names], dtype=bool)[which.ravel()]
    depth = np.array([draft_kind(d).depth if is_family(d) else DEFAULT_GAMMA for d in names])
    depth = depth[which.ravel()]
    method = np.where(family, "full", "streamingllm")
    cols["draft_model"] = draft
    cols["kv_method"] = np.where(ok & (cols["kv_method"] == ""), method, cols["kv_method"])
    cols["gamma"] = np.where(ok & np.isnan(cols["gamma"]), depth, cols["gamma"])
    whole = np.isin(cols["kv_method"], ("full", "none"))  # no budget: the whole cache
    budget = np.where(whole, 0.0, float(DEFAULT_KV_BUDGET))
    cols["kv_budget"] = np.where(ok & np.isnan(cols["kv_budget"]), budget, cols["kv_budget"])
