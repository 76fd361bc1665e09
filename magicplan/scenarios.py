"""Scenario and measurement tables (the columns of MagicDec's reference CSV), read into numpy
columns with clean errors, grouped by their categorical columns, and estimated vectorized."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from magicplan.choices import Mode
from magicplan.csv_columns import (
    Columns,
    RowErrors,
    at_row,
    check_whole_numbers,
    groups,
    read_columns,
    report_problems,
)
from magicplan.errors import MagicplanError
from magicplan.scenario_options import (
    RATES,
    SCENARIO_COUNTS,
    Options,
    checked_options,
    fill_blanks,
)
from magicplan.specs.engine import EngineSpec

__all__ = [  # with the table readers, re-exported from their historic home here
    "SCENARIO_COLUMNS", "SCENARIO_COUNTS", "SCENARIO_KEYS", "Columns", "Options", "RowErrors",
    "at_row", "check_whole_numbers", "estimate_scenarios", "groups", "read_columns",
    "read_scenarios", "row_engine", "use_omega",
]  # fmt: skip

SCENARIO_COLUMNS = (
    "gpu", "num_gpus", "target", "draft_model", "kv_method", "kv_budget", "context", "batch",
    "gamma",
)  # fmt: skip
WORKLOAD_COLUMNS = ("gpu", "num_gpus", "target", "batch", "context")  # every row states these
STRATEGY_COLUMNS = ("draft_model", "kv_method", "kv_budget", "gamma")  # else the option's
SCENARIO_KEYS = (
    "gpu", "num_gpus", "target", "draft_model", "kv_method", "draft_num_gpus", "engine",
    "weight_dtype", "kv_dtype",
)  # fmt: skip
OPTIONAL = (
    "alpha", "accepted_per_step", "draft_num_gpus", "engine", "weight_dtype", "kv_dtype",
    "tree_tokens", "id",
)  # fmt: skip


def read_scenarios(
    path: str | Path, *, strict: bool = True, options: Options | None = None
) -> Columns:
    """A scenarios CSV: the reference columns plus `accepted_per_step` or `alpha`.

    `options` are the command's values for the columns of OPTION_FLAGS (None: not given): a
    blank cell takes the option, and so does a missing column (a missing strategy column with
    no option is a MagicplanError). A blank cell without an option takes the default: draft
    'self'; kv_method streamingllm (full for a family); γ 2 (a family's depth); kv_budget 0
    where the draft keeps its whole cache (full, none), else 512. A row with neither α nor Ω
    is a bad row.

    strict: the first bad row in file order is a MagicplanError naming file, row and column.
    Otherwise each bad row's one-line reason is in the `error` column (None on good rows) and
    the other rows are kept; a file-level fault (missing column) still raises.
    """
    given = checked_options(options)
    found: RowErrors = {}
    present = [c for c in STRATEGY_COLUMNS if c not in given]
    cols = read_columns(path, WORKLOAD_COLUMNS, (*STRATEGY_COLUMNS, *OPTIONAL), found,
                        present=present)  # fmt: skip
    check_whole_numbers(path, cols, SCENARIO_COUNTS, found)
    n = len(cols["batch"])
    if (
        "alpha" not in cols
        and "accepted_per_step" not in cols
        and not given.keys() & {"alpha", "accepted_per_step"}
    ):
        raise MagicplanError(
            f"{path}: missing column 'accepted_per_step' or 'alpha' (one of them must be filled "
            "on every row; or give --acceptance or --accepted-per-step)"
        )
    fill_blanks(cols, given, np.array([i not in found for i in range(n)]))
    for name, lo, hi in RATES:
        v = cols.get(name, np.array([]))
        for i in np.flatnonzero(~np.isnan(v) & ~(np.isfinite(v) & (v >= lo) & (v <= hi))):
            found.setdefault(int(i), f"column '{name}' must lie in [{lo:g}, {hi:g}]; got {v[i]:g}")
    alpha = cols.get("alpha", np.full(n, np.nan))
    for i in np.flatnonzero(np.isnan(alpha) & np.isnan(cols.get("accepted_per_step", alpha))):
        found.setdefault(int(i), "column 'alpha' or 'accepted_per_step' is empty")
    cols["error"] = np.array([found.get(i) for i in range(n)], dtype=object)
    if not use_omega(cols):  # then every row needs α (Ω counts only when filled on every row)
        for i in np.flatnonzero(np.isnan(alpha)):
            found.setdefault(int(i), "column 'alpha' is empty")
        cols["error"] = np.array([found.get(i) for i in range(n)], dtype=object)
    if strict:
        report_problems(path, found, None)
        del cols["error"]
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
    mode: Mode = "calibrated",
) -> dict[str, npt.NDArray[Any]]:
    """Estimate every row (all figures, or `columns`), vectorized within each group of equal
    categorical columns. A row's `engine` (blank or absent: `engine`, else the default engine),
    `weight_dtype` and `kv_dtype` columns (blank or absent: the arguments of those names) say
    how it is served; the KV format applies to the draft's cache too. Also per row:
    `draft_num_gpus` (a separate draft that cannot split over the target's GPUs runs on the
    largest group that can), `note` (None, or why) and `engine` (the one assumed, or named).

    A row that cannot be estimated (a model that does not load, a split that cannot work, a
    value out of range) raises, naming `source` and the first such row in file order (strict);
    otherwise its reason goes to the `error` column (None on good rows; rows already marked in
    `cols['error']` are skipped) and the other rows are computed. `memory_utilization`:
    fraction of device memory an engine may fill (default 0.9); `mode`: calibrated or ideal.
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
            setup = _setup(g, memory_utilization, engine, weight_dtype, kv_dtype, mode)
        except MagicplanError as exc:
            for i in idx:
                errors[int(i)] = str(exc)
            continue
        done = _estimate_rows(setup, cols, idx, omega, columns, errors)
        for name, val in done.items():
            if name not in out:
                out[name] = np.zeros(n, bool) if val.dtype == bool else np.full(n, np.nan)
            out[name][idx] = val
        meta["draft_num_gpus"][idx] = setup.draft_n
        meta["note"][idx] = setup.draft_split_note
        meta["engine"][idx] = setup.engine_id
    if strict:
        report_problems(source, {i: e for i, e in enumerate(errors) if e is not None}, None)
    for i in np.flatnonzero([e is None for e in meta["engine"]]):  # rows that failed
        meta["engine"][i] = row_engine(cols, int(i), engine)
    result = out | meta
    if not strict:
        result["error"] = np.array(errors, dtype=object)
    return result


def row_engine(cols: Columns, row: int, engine: str | EngineSpec | None) -> str | None:
    """The engine row `row` runs on (or would have, had it not failed): its cell, else
    `engine`, else its hardware's own calibration's or the default engine (the name given, or
    None, when that does not load)."""
    from magicplan.cost.defaults import calibration_for
    from magicplan.specs import load_engine, load_hardware

    named = str(cols["engine"][row]) if "engine" in cols and cols["engine"][row] else engine
    try:
        runs = named if isinstance(named, EngineSpec) or named is None else load_engine(named)
        return calibration_for(load_hardware(str(cols["gpu"][row])), runs).engine
    except MagicplanError:
        return named if isinstance(named, str) else None


def _setup(
    g: dict[str, str],
    memory_utilization: float | None,
    engine: str | EngineSpec | None,
    weight_dtype: str | None = None,
    kv_dtype: str | None = None,
    mode: Mode = "calibrated",
) -> Any:
    """The Setup of one group of rows (its categorical columns; blank cells take the
    command's engine and formats)."""
    from magicplan.setup import Setup, as_drafted, served_fraction
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
        memory_utilization=served_fraction(memory_utilization, runs, hardware),
        engine=runs,
        mode=mode,
    )


def _estimate_rows(
    setup: Any, cols: Columns, idx: npt.NDArray[np.intp], omega: bool,
    columns: Iterable[str] | None, errors: list[str | None],
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
            errors[int(i)] = str(exc)
            rows.append({})
    first = next((r for r in rows if r), {})
    return {
        k: np.array([r[k][0] if r else (v.dtype.type(0) if v.dtype == bool else np.nan)
                     for r in rows], dtype=v.dtype)
        for k, v in first.items()
    }  # fmt: skip


def _as_int(name: str, text: str) -> int:
    value = float(text)
    if not value.is_integer() or value < 1:
        raise MagicplanError(f"{name} must be a positive integer; got {text}")
    return int(value)
