"""Measured cells → an acceptance table CSV that `plan --acceptance-table` reads, and back.

Columns: the reader's (`target, draft, method, budget, context, alpha, samples, alpha_low,
alpha_high, source`, plus `dataset`), then what `acceptance check` needs to repeat the run
(`temperature, prompts, continuation, text`) and the per-position rates `alpha_1..alpha_G`.
`samples` is the number of scored positions, which the reader's interval is based on.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from magicplan.acceptance.measure import Cell
from magicplan.errors import MagicplanError
from magicplan.io import read_csv_rows
from magicplan.planner.acceptance_data import CSV_REQUIRED, check_rate

COLUMNS = (*CSV_REQUIRED, "samples", "alpha_low", "alpha_high", "source", "dataset",
           "temperature", "prompts", "continuation", "text")  # fmt: skip
# `full` rows (budget 0) are written: the planner's reader takes them as a full-KV draft's own α
# (planner.acceptance_data).
WRITE_FULL_ROWS = True


@dataclass(frozen=True, kw_only=True)
class Run:
    """What every row of one measurement shares."""

    target: str
    draft: str
    dataset: str
    source: str
    temperature: float
    prompts: int
    continuation: int
    text: str  # the text file, as given


def row(run: Run, cell: Cell) -> dict[str, str]:
    """One CSV row of a measured cell (α to 4 decimals, α_1..α_G to 6: Ω is their product)."""
    s = cell.summary
    out = {
        "target": run.target, "draft": run.draft, "method": cell.method,
        "budget": str(cell.budget), "context": str(cell.context), "alpha": f"{s.alpha:.4f}",
        "samples": str(s.positions), "alpha_low": f"{s.low:.4f}", "alpha_high": f"{s.high:.4f}",
        "source": run.source, "dataset": run.dataset, "temperature": f"{run.temperature:g}",
        "prompts": str(run.prompts), "continuation": str(run.continuation), "text": run.text,
    }  # fmt: skip
    out |= {f"alpha_{i + 1}": f"{a:.6f}" for i, a in enumerate(s.alpha_by_position)}
    return out


def csv_text(run: Run, cells: Sequence[Cell]) -> str:
    """The table as CSV text (`full` rows only when WRITE_FULL_ROWS)."""
    rows = [row(run, c) for c in cells if WRITE_FULL_ROWS or c.method != "full"]
    if not rows:
        raise MagicplanError(
            "--kv-methods: only 'full' was measured; the table needs a compressed method"
        )
    head = list(COLUMNS) + [k for k in rows[0] if k not in COLUMNS]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, head, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


@dataclass(frozen=True)
class Measured:
    """One row of a measured table, as `acceptance check` reads it."""

    alpha: float
    alpha_by_position: tuple[float, ...]
    temperature: float | None
    prompts: int | None
    continuation: int | None
    text: str | None


def _number(text: str, where: str) -> float | None:
    try:
        return float(text) if text else None
    except ValueError as exc:
        raise MagicplanError(f"{where}: '{text[:40]}' is not a number") from exc


def find_row(path: Path, key: dict[str, str], temperature: float) -> Measured:
    """The row of `path` for key (target, draft, method, budget, context) at `temperature`."""
    rows = read_csv_rows(path, CSV_REQUIRED)

    def same(i: int, r: dict[str, str]) -> bool:
        where = f"{path} row {i + 2}"
        numbers = all(_number(r[k], where) == float(key[k]) for k in ("budget", "context"))
        names = all(r[k] == key[k] for k in ("target", "draft", "method"))
        t = _number(r.get("temperature", ""), where)
        return names and numbers and (t is None or t == temperature)

    found = [r for i, r in enumerate(rows) if same(i, r)]
    if not found:
        want = ", ".join(f"{k} {v}" for k, v in key.items())
        raise MagicplanError(f"{path}: no row for {want}, temperature {temperature:g}")
    r, where = found[0], f"{path}"
    by_position = []
    for i in range(1, len(r) + 1):
        if not r.get(f"alpha_{i}"):
            break
        by_position.append(check_rate(r[f"alpha_{i}"], f"{where} column 'alpha_{i}'"))
    return Measured(
        check_rate(r["alpha"], f"{where} column 'alpha'"),
        tuple(by_position),
        _number(r.get("temperature", ""), where),
        _whole(r.get("prompts", ""), where),
        _whole(r.get("continuation", ""), where),
        r.get("text") or None,
    )


def _whole(text: str, where: str) -> int | None:
    value = _number(text, where)
    return None if value is None else int(value)
