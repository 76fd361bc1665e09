"""Scenario and measurement tables (the columns of MagicDec's reference CSV), read into numpy
columns with clean errors, grouped by their categorical columns, and estimated vectorized."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from magicplan.errors import MagicplanError
from magicplan.io import read_csv_rows

NUMERIC = (
    "num_gpus", "draft_num_gpus", "kv_budget", "context", "batch", "gamma", "alpha",
    "accepted_per_step", "gamma_t_draft_ms", "t_verify_ms", "t_autoregressive_ms",
    "t_spec_per_token_ms", "speedup",
)  # fmt: skip
Columns = dict[str, npt.NDArray[Any]]


def read_columns(
    path: str | Path, required: Iterable[str], optional: Iterable[str] = ()
) -> Columns:
    """Read a CSV into columns: numeric ones as float64 (blank → NaN where optional), others as str.

    A missing required column, or a cell that is not a number, is a MagicplanError naming the
    column (and the row, counting the header as row 1).
    """
    req = tuple(required)
    rows = read_csv_rows(path, req)
    present = set(rows[0])
    cols: Columns = {}
    for name in (*req, *(o for o in optional if o in present)):
        raw = [r.get(name, "") for r in rows]
        cols[name] = _numeric(path, name, raw, name in req) if name in NUMERIC else np.array(raw)
        if name not in NUMERIC and name in req:
            blank = [i for i, v in enumerate(raw) if not v]
            if blank:
                raise MagicplanError(f"{path}: row {blank[0] + 2} column '{name}' is empty")
    return cols


def _numeric(path: str | Path, name: str, raw: list[str], required: bool) -> npt.NDArray[Any]:
    cells = [v if v else "nan" for v in raw]
    try:
        arr = np.array(cells, dtype=np.float64)
    except ValueError:
        arr = None
    bad = [i for i, v in enumerate(cells) if not _is_number(v)] if arr is None else []
    if bad:
        raise MagicplanError(
            f"{path}: row {bad[0] + 2} column '{name}': '{raw[bad[0]]}' is not a number"
        )
    assert arr is not None
    if required and np.isnan(arr).any():
        row = int(np.flatnonzero(np.isnan(arr))[0])
        raise MagicplanError(f"{path}: row {row + 2} column '{name}' is empty")
    return arr


def check_whole_numbers(path: str | Path, cols: Columns, counts: Iterable[tuple[str, int]]) -> None:
    """Each (column, smallest) in `counts` holds whole numbers >= smallest, below 2^53 (blank
    cells of optional columns are NaN and pass); else a MagicplanError naming row and column."""
    for name, low in counts:
        if name not in cols:
            continue
        v = cols[name]
        with np.errstate(invalid="ignore"):
            bad = ~np.isnan(v) & (~np.isfinite(v) | (v < low) | (v >= 2.0**53) | (v != np.round(v)))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise MagicplanError(
                f"{path}: row {i + 2} column '{name}' must be a whole number >= {low} "
                f"(below 2^53); got {v[i]:g}"
            )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def groups(
    cols: Columns, keys: Iterable[str]
) -> list[tuple[tuple[Any, ...], npt.NDArray[np.intp]]]:
    """Row indices of each distinct combination of the categorical `keys`, in first-seen order."""
    keys = [k for k in keys if k in cols]
    n = len(next(iter(cols.values())))
    if not keys:
        return [((), np.arange(n))]
    stacked = np.stack([cols[k].astype(str) for k in keys], axis=1)
    uniq, first, inverse = np.unique(stacked, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)
    inverse = inverse.ravel()
    return [(tuple(uniq[i]), np.flatnonzero(inverse == i)) for i in order]


SCENARIO_COLUMNS = (
    "gpu", "num_gpus", "target", "draft_model", "kv_method", "kv_budget", "context", "batch",
    "gamma",
)  # fmt: skip
SCENARIO_COUNTS = (
    ("num_gpus", 1), ("kv_budget", 0), ("context", 1), ("batch", 1), ("gamma", 1),
    ("draft_num_gpus", 1),
)  # fmt: skip
SCENARIO_KEYS = (
    "gpu", "num_gpus", "target", "draft_model", "kv_method", "draft_num_gpus", "engine",
    "weight_dtype", "kv_dtype",
)  # fmt: skip


def read_scenarios(path: str | Path) -> Columns:
    """A scenarios CSV: the reference columns plus `accepted_per_step` or `alpha`."""
    cols = read_columns(
        path,
        SCENARIO_COLUMNS,
        ("accepted_per_step", "alpha", "draft_num_gpus", "engine", "weight_dtype", "kv_dtype"),
    )
    check_whole_numbers(path, cols, SCENARIO_COUNTS)
    for name, lo, hi in (("alpha", 0.0, 1.0), ("accepted_per_step", 1.0, np.inf)):
        v = cols.get(name, np.array([]))
        bad = np.flatnonzero(~np.isnan(v) & ~(np.isfinite(v) & (v >= lo) & (v <= hi)))
        if bad.size:
            raise MagicplanError(
                f"{path}: row {bad[0] + 2} column '{name}' must lie in [{lo:g}, {hi:g}]; "
                f"got {v[bad[0]]:g}"
            )
    has_omega = "accepted_per_step" in cols and not np.isnan(cols["accepted_per_step"]).any()
    has_alpha = "alpha" in cols and not np.isnan(cols["alpha"]).any()
    if not (has_omega or has_alpha):
        raise MagicplanError(
            f"{path}: missing column 'accepted_per_step' or 'alpha' "
            "(one of them must be filled on every row)"
        )
    return cols


def estimate_scenarios(
    cols: Columns, columns: Iterable[str] | None = None, engine: str | None = None
) -> dict[str, npt.NDArray[Any]]:
    """Estimate every row (all figures, or `columns`), vectorized within each group of equal
    categorical columns. A row's `engine` (blank or absent: `engine`, else the default engine),
    `weight_dtype` and `kv_dtype` columns say how it is served."""
    from magicplan.estimate import estimate_arrays
    from magicplan.setup import Setup
    from magicplan.specs import load_engine, load_hardware, load_model
    from magicplan.specs.quantization import with_kv_format, with_weight_format

    n = len(cols["batch"])
    out: dict[str, npt.NDArray[Any]] = {}
    hw_cache: dict[str, Any] = {}
    model_cache: dict[str, Any] = {}
    use_omega = "accepted_per_step" in cols and not np.isnan(cols["accepted_per_step"]).any()
    for key, idx in groups(cols, SCENARIO_KEYS):
        g = dict(zip([k for k in SCENARIO_KEYS if k in cols], key, strict=True))
        hw = hw_cache.setdefault(g["gpu"], load_hardware(g["gpu"]))
        formats = (g.get("weight_dtype", ""), g.get("kv_dtype", ""))
        target = with_kv_format(
            with_weight_format(model_cache.setdefault(g["target"], load_model(g["target"])),
                               formats[0]),
            formats[1],
        )  # fmt: skip
        draft = None
        if g["draft_model"] not in ("self", ""):
            draft = model_cache.setdefault(g["draft_model"], load_model(g["draft_model"]))
        dn = g.get("draft_num_gpus", "nan")
        setup = Setup(
            hw,
            _as_int("num_gpus", g["num_gpus"]),
            target,
            draft,
            g["kv_method"],
            None if dn in ("nan", "") else _as_int("draft_num_gpus", dn),
            engine=load_engine(named) if (named := g.get("engine") or engine) else None,
        )
        res = estimate_arrays(
            setup,
            cols["batch"][idx],
            cols["context"][idx],
            cols["gamma"][idx],
            cols["kv_budget"][idx],
            acceptance=None if use_omega else cols["alpha"][idx],
            accepted_per_step=cols["accepted_per_step"][idx] if use_omega else None,
            columns=columns,
        )
        for name, val in res.items():
            if name not in out:
                out[name] = np.zeros(n, dtype=val.dtype)
            out[name][idx] = val
    return out


def _as_int(name: str, text: str) -> int:
    value = float(text)
    if not value.is_integer() or value < 1:
        raise MagicplanError(f"{name} must be a positive integer; got {text}")
    return int(value)
