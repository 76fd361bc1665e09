"""CSV tables read into numpy columns (numbers as float64, text as str) with one clear message
for the first bad row in file order, naming row and column; or, given a `RowErrors` dict, each
bad row's first problem collected there so that the other rows can still be used. Rows count
the header as row 1."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from magicplan.counts import parse_count
from magicplan.errors import MagicplanError
from magicplan.io import read_csv_rows

NUMERIC = (
    "num_gpus", "draft_num_gpus", "kv_budget", "context", "batch", "gamma", "alpha",
    "accepted_per_step", "gamma_t_draft_ms", "t_verify_ms", "t_autoregressive_ms",
    "t_spec_per_token_ms", "speedup", "tree_tokens",
)  # fmt: skip
COUNTS = {"context", "batch", "kv_budget"}  # may be written 4k, 32k, 1m (magicplan.counts)
Columns = dict[str, npt.NDArray[Any]]
RowErrors = dict[int, str]  # row index (0 = first data row) → its first problem


def at_row(path: str | Path, row: int, message: str) -> str:
    """`message` about data row `row` of `path`, counting the header as row 1."""
    where = f"{path}: row {row + 2}" if str(path) else f"row {row + 2}"
    return f"{where}{' ' if message.startswith('column ') else ': '}{message}"


def record_problem(path: str | Path, errors: RowErrors | None, row: int, message: str) -> None:
    """Record the first problem of a row in `errors`; without `errors` (strict), raise it."""
    if errors is None:
        raise MagicplanError(at_row(path, row, message))
    errors.setdefault(row, message)


def read_columns(
    path: str | Path,
    required: Iterable[str],
    optional: Iterable[str] = (),
    errors: RowErrors | None = None,
    *,
    present: Iterable[str] = (),
) -> Columns:
    """Read a CSV into columns: numeric ones as float64 (blank → NaN where optional), others as str.

    A missing required column is a MagicplanError naming it; `present` columns must be in the
    header too, but their cells may be blank (as optional ones). A row whose cell count is not
    the header's, a cell that is not a number (`nan` included), or a blank required cell is one
    too, naming the first such row in file order and its column, unless `errors` collects the
    rows' problems (the cell then reads as NaN).
    """
    req, must = tuple(required), tuple(present)
    found: RowErrors = {}
    rows = read_csv_rows(path, (*req, *must), ragged=found)
    header = set(rows[0])
    cols: Columns = {}
    for name in dict.fromkeys((*req, *must, *(o for o in optional if o in header))):
        raw = [r.get(name, "") for r in rows]
        if name in NUMERIC:
            cols[name] = _numeric(path, name, raw, name in req, found)
            continue
        cols[name] = np.array(raw)
        if name in req:
            for i in [i for i, v in enumerate(raw) if not v]:
                found.setdefault(i, f"column '{name}' is empty")
    report_problems(path, found, errors)
    return cols


def report_problems(path: str | Path, found: RowErrors, errors: RowErrors | None) -> None:
    """Rows' problems `found` into `errors` (a row's first problem kept); without `errors`
    (strict), the first bad row in file order is a MagicplanError."""
    if errors is None:
        if found:
            first = min(found)
            raise MagicplanError(at_row(path, first, found[first]))
        return
    for row in sorted(found):
        errors.setdefault(row, found[row])


def _numeric(
    path: str | Path, name: str, raw: list[str], required: bool, errors: RowErrors | None
) -> npt.NDArray[Any]:
    cells = [v if v else "nan" for v in raw]
    try:
        arr = np.array(cells, dtype=np.float64)
    except ValueError:  # the slow path: counts written '32k', or cells that are not numbers
        for i, v in enumerate(cells):
            if _is_number(v):
                continue
            try:
                cells[i] = str(parse_count(name, v)) if name in COUNTS else "?"
            except MagicplanError:
                cells[i] = "?"
            if cells[i] == "?":
                cells[i] = "nan"
        arr = np.array(cells, dtype=np.float64)
    for row in np.flatnonzero(np.isnan(arr)):
        if raw[row]:  # written, yet not a number ('nan', 'sixteen')
            record_problem(path, errors, int(row), f"column '{name}': '{raw[row]}' is not a number")
        elif required:
            record_problem(path, errors, int(row), f"column '{name}' is empty")
    return arr


def check_whole_numbers(
    path: str | Path,
    cols: Columns,
    counts: Iterable[tuple[str, int]],
    errors: RowErrors | None = None,
) -> None:
    """Each (column, smallest) in `counts` holds whole numbers >= smallest, below 2^53 (blank
    cells of optional columns are NaN and pass); else a MagicplanError naming row and column
    (or, with `errors`, each bad row's problem recorded there)."""
    found: RowErrors = {}
    for name, low in counts:
        if name not in cols:
            continue
        v = cols[name]
        with np.errstate(invalid="ignore"):
            bad = ~np.isnan(v) & (~np.isfinite(v) | (v < low) | (v >= 2.0**53) | (v != np.round(v)))
        for i in np.flatnonzero(bad):
            message = f"column '{name}' must be a whole number >= {low} (below 2^53); got {v[i]:g}"
            found.setdefault(int(i), message)
    report_problems(path, found, errors)


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
