"""Scenario and measurement tables (the columns of MagicDec's reference CSV), read into numpy
columns with clean errors, grouped by their categorical columns, and estimated vectorized."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from magicplan.csv_columns import (
    Columns,
    RowErrors,
    at_row,
    check_whole_numbers,
    groups,
    read_columns,
    record_problem,
)
from magicplan.errors import MagicplanError
from magicplan.specs.engine import EngineSpec

__all__ = [  # with the table readers, re-exported from their historic home here
    "SCENARIO_COLUMNS", "SCENARIO_COUNTS", "SCENARIO_KEYS", "Columns", "RowErrors", "at_row",
    "check_whole_numbers", "estimate_scenarios", "groups", "read_columns",
    "read_scenarios", "use_omega",
]  # fmt: skip

SCENARIO_COLUMNS = (
    "gpu", "num_gpus", "target", "draft_model", "kv_method", "kv_budget", "context", "batch",
    "gamma",
)  # fmt: skip
SCENARIO_COUNTS = (
    ("num_gpus", 1), ("kv_budget", 0), ("context", 1), ("batch", 1), ("gamma", 1),
    ("draft_num_gpus", 1), ("tree_tokens", 2),
)  # fmt: skip
SCENARIO_KEYS = (
    "gpu", "num_gpus", "target", "draft_model", "kv_method", "draft_num_gpus", "engine",
    "weight_dtype", "kv_dtype",
)  # fmt: skip


def read_scenarios(path: str | Path, *, strict: bool = True) -> Columns:
    """A scenarios CSV: the reference columns plus `accepted_per_step` or `alpha`.

    strict: the first bad row is a MagicplanError naming file, row and column. Otherwise each
    bad row's one-line reason is in the `error` column (None on good rows) and the other rows
    are kept; a file-level fault (missing column, no rates at all) still raises.
    """
    errors: RowErrors | None = None if strict else {}
    optional = (
        "accepted_per_step",
        "alpha",
        "draft_num_gpus",
        "engine",
        "weight_dtype",
        "kv_dtype",
        "tree_tokens",
    )
    cols = read_columns(path, SCENARIO_COLUMNS, optional, errors)
    check_whole_numbers(path, cols, SCENARIO_COUNTS, errors)
    for name, lo, hi in (("alpha", 0.0, 1.0), ("accepted_per_step", 1.0, np.inf)):
        v = cols.get(name, np.array([]))
        for i in np.flatnonzero(~np.isnan(v) & ~(np.isfinite(v) & (v >= lo) & (v <= hi))):
            message = f"column '{name}' must lie in [{lo:g}, {hi:g}]; got {v[i]:g}"
            record_problem(path, errors, int(i), message)
    n = len(cols["batch"])
    alpha = cols.get("alpha", np.full(n, np.nan))
    lacking = np.isnan(alpha) & np.isnan(cols.get("accepted_per_step", np.full(n, np.nan)))
    if not use_omega(cols) and (errors is None or lacking.all()) and np.isnan(alpha).any():
        raise MagicplanError(
            f"{path}: missing column 'accepted_per_step' or 'alpha' "
            "(one of them must be filled on every row)"
        )
    if errors is None:
        return cols
    for i in np.flatnonzero(lacking):
        record_problem(path, errors, int(i), "column 'alpha' or 'accepted_per_step' is empty")
    cols["error"] = np.array([errors.get(i) for i in range(n)], dtype=object)
    if not use_omega(cols):  # then every row needs α (Ω counts only when filled on every row)
        for i in np.flatnonzero(np.isnan(alpha)):
            record_problem(path, errors, int(i), "column 'alpha' is empty")
        cols["error"] = np.array([errors.get(i) for i in range(n)], dtype=object)
    return cols


def use_omega(cols: Columns) -> bool:
    """Whether the rates are Ω (`accepted_per_step` filled on every good row), else α."""
    if "accepted_per_step" not in cols:
        return False
    good = np.array([e is None for e in cols["error"]]) if "error" in cols else slice(None)
    return not np.isnan(cols["accepted_per_step"][good]).any()


def estimate_scenarios(
    cols: Columns,
    columns: Iterable[str] | None = None,
    *,
    strict: bool = True,
    source: str | Path = "",
    memory_utilization: float | None = None,
    engine: str | EngineSpec | None = None,
    weight_dtype: str | None = None,
    kv_dtype: str | None = None,
) -> dict[str, npt.NDArray[Any]]:
    """Estimate every row (all figures, or `columns`), vectorized within each group of equal
    categorical columns. A row's `engine` (blank or absent: `engine`, else the default engine),
    `weight_dtype` and `kv_dtype` columns (blank or absent: the arguments of those names) say
    how it is served; the KV format applies to the draft's cache too. Also per row:
    `draft_num_gpus` (a separate draft that cannot split over the target's GPUs runs on the
    largest group that can) and `note` (None, or why).

    A row that cannot be estimated (a model that does not load, a split that cannot work, a
    value out of range) raises, naming `source` and the row (strict); otherwise its reason goes
    to the `error` column (None on good rows; rows already marked in `cols['error']` are
    skipped) and the other rows are computed. `memory_utilization`: fraction of device memory
    an engine may fill (default 0.9).
    """
    n = len(cols["batch"])
    errors = list(cols["error"]) if "error" in cols else [None] * n
    out: dict[str, npt.NDArray[Any]] = {}
    meta = {
        "draft_num_gpus": np.full(n, np.nan),
        "note": np.full(n, None, dtype=object),
        "engine": np.full(n, None, dtype=object),
    }
    omega = use_omega(cols)
    good = np.flatnonzero([e is None for e in errors])
    live = {k: v[good] for k, v in cols.items()}
    for key, sub in groups(live, SCENARIO_KEYS) if good.size else []:
        idx = good[sub]
        g = dict(zip([k for k in SCENARIO_KEYS if k in cols], key, strict=True))
        try:
            setup = _setup(g, memory_utilization, engine, weight_dtype, kv_dtype)
        except MagicplanError as exc:
            _fail(errors, idx, str(exc), strict, source)
            continue
        done = _estimate_rows(setup, cols, idx, omega, columns, errors, strict, source)
        for name, val in done.items():
            if name not in out:
                out[name] = np.zeros(n, bool) if val.dtype == bool else np.full(n, np.nan)
            out[name][idx] = val
        meta["draft_num_gpus"][idx] = setup.draft_n
        meta["note"][idx] = setup.draft_split_note
        meta["engine"][idx] = setup.engine_id
    result = out | meta
    if not strict:
        result["error"] = np.array(errors, dtype=object)
    return result


def _setup(
    g: dict[str, str],
    memory_utilization: float | None,
    engine: str | EngineSpec | None,
    weight_dtype: str | None = None,
    kv_dtype: str | None = None,
) -> Any:
    """The Setup of one group of rows (its categorical columns; blank cells take the
    command's engine and formats)."""
    from magicplan.setup import Setup, as_drafted, memory_fraction
    from magicplan.specs import as_draft, load_engine, load_hardware, load_model
    from magicplan.specs.model import ModelSpec
    from magicplan.specs.quantization import served

    draft = g["draft_model"]
    dn = g.get("draft_num_gpus", "nan")
    kv = g.get("kv_dtype") or kv_dtype
    target = served(load_model(g["target"]), g.get("weight_dtype") or weight_dtype, kv)
    named = g.get("engine") or engine
    hardware = load_hardware(g["gpu"])
    runs = (named if isinstance(named, EngineSpec) else load_engine(named)) if named else None
    # 'self', a model, or a kind keyword (eagle, ...), as the engine drafts it
    draft_spec, _ = as_drafted(as_draft(draft or None), runs, hardware)
    return Setup(
        hardware=hardware,
        num_gpus=_as_int("num_gpus", g["num_gpus"]),
        target=target,
        draft=(
            served(draft_spec, None, kv or target.kv_dtype)
            if isinstance(draft_spec, ModelSpec)
            else draft_spec
        ),  # the target's KV format is the draft's
        kv_method="full" if g["kv_method"] == "none" else g["kv_method"],  # none: no draft cache
        draft_num_gpus=None if dn in ("nan", "") else _as_int("draft_num_gpus", dn),
        memory_utilization=memory_fraction(memory_utilization),
        engine=runs,
    )


def _estimate_rows(
    setup: Any, cols: Columns, idx: npt.NDArray[np.intp], omega: bool,
    columns: Iterable[str] | None, errors: list[str | None], strict: bool, source: str | Path,
) -> dict[str, npt.NDArray[Any]]:  # fmt: skip
    """`estimate_arrays` over rows `idx` at once; when that fails, row by row, so that only the
    bad rows fail (NaN figures there)."""
    from magicplan.estimate import estimate_arrays

    def run(rows: npt.NDArray[np.intp]) -> dict[str, npt.NDArray[Any]]:
        return estimate_arrays(
            setup, cols["batch"][rows], cols["context"][rows], cols["gamma"][rows],
            cols["kv_budget"][rows],
            acceptance=None if omega else cols["alpha"][rows],
            accepted_per_step=cols["accepted_per_step"][rows] if omega else None,
            columns=columns,
            tree_tokens=cols["tree_tokens"][rows] if "tree_tokens" in cols else None,
        )  # fmt: skip

    try:
        return run(idx)
    except MagicplanError:
        pass  # some row is bad: find which
    rows = []
    for i in idx:
        try:
            rows.append(run(np.array([i])))
        except MagicplanError as exc:
            _fail(errors, np.array([i]), str(exc), strict, source)
            rows.append({})
    first = next((r for r in rows if r), {})
    return {
        k: np.array([r[k][0] if r else (v.dtype.type(0) if v.dtype == bool else np.nan)
                     for r in rows], dtype=v.dtype)
        for k, v in first.items()
    }  # fmt: skip


def _fail(
    errors: list[str | None], rows: npt.NDArray[np.intp], message: str, strict: bool,
    source: str | Path,
) -> None:  # fmt: skip
    """Rows that cannot be estimated: raise naming the first (strict), else record why."""
    if strict:
        raise MagicplanError(at_row(source, int(rows[0]), message))
    for i in rows:
        errors[int(i)] = message


def _as_int(name: str, text: str) -> int:
    value = float(text)
    if not value.is_integer() or value < 1:
        raise MagicplanError(f"{name} must be a positive integer; got {text}")
    return int(value)
