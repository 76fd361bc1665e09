"""File input and output: YAML only through the safe loader, JSON, CSV, atomic writes."""

from __future__ import annotations

import csv
import difflib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from magicplan.errors import MagicplanError

# libyaml's safe loader when PyYAML was built with it (same safety, ~10x faster), else PyYAML's.
_BASE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class UniqueKeySafeLoader(_BASE_LOADER):
    """The safe loader (libyaml's when present), refusing a key given twice in one mapping (the
    last would win silently: a profile's `memory_gib: 1` appended below the real one)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:  # the mapping's own keys (a `<<` merge may be overridden)
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key = (key_node.tag, key_node.value)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key_node.value}'", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


SAFE_LOADER = UniqueKeySafeLoader
# libyaml's parser recurses in C (a few 10^4 nested '[' overflow its stack and kill the process),
# so flow nesting is bounded before parsing. No spec or table comes near this depth.
MAX_NESTING = 1000


def read_text(path: str | Path) -> str:
    """Read a UTF-8 text file (a leading byte-order mark, as Excel's "CSV UTF-8" writes, is
    dropped); a missing, unreadable or empty file is a MagicplanError."""
    p = Path(path)
    if not p.exists():
        raise MagicplanError(f"{p}: file not found")
    if p.is_dir():
        raise MagicplanError(f"{p}: is a directory, expected a file")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MagicplanError(f"{p}: cannot read file ({exc.__class__.__name__})") from exc
    if not text.strip():
        raise MagicplanError(f"{p}: file is empty")
    return text


def _check_nesting(path: str | Path, text: str) -> None:
    """Refuse flow collections nested deeper than MAX_NESTING (cheap unless brackets abound)."""
    if text.count("[") + text.count("{") <= MAX_NESTING:
        return
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(depth - 1, 0)
    if deepest > MAX_NESTING:
        raise MagicplanError(f"{path}: nested deeper than {MAX_NESTING} levels")


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file with the safe loader (tags never execute)."""
    text = read_text(path)
    _check_nesting(path, text)
    try:
        return yaml.load(text, Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = str(getattr(exc, "problem", "") or "")
        what = f": {problem}" if problem.startswith("duplicate key") else ""
        raise MagicplanError(f"{path}: malformed YAML{where}{what}") from exc
    except RecursionError as exc:
        raise MagicplanError(f"{path}: nested too deeply") from exc


def load_json(path: str | Path) -> Any:
    """Parse a JSON file."""
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MagicplanError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}") from exc
    except RecursionError as exc:
        raise MagicplanError(f"{path}: nested too deeply") from exc


def load_mapping(path: str | Path) -> dict[str, Any]:
    """Load a YAML or JSON file whose top level must be a mapping."""
    data = load_json(path) if str(path).endswith(".json") else load_yaml(path)
    if not isinstance(data, dict):
        raise MagicplanError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def read_csv_rows(
    path: str | Path, required: tuple[str, ...] = (), *, ragged: dict[int, str] | None = None
) -> list[dict[str, str]]:
    """Read a CSV with a header row; every name in `required` must be a column.

    A repeated column name, or a row with more filled cells than the header has columns, is
    refused rather than silently resolved (which copy wins, which cells are dropped). Given
    `ragged`, a row with more filled cells or fewer cells than the header is recorded there
    instead (data row index, 0 = the first, → one line) and read cut or padded with blanks.
    """
    text = read_text(path)
    try:  # blank lines are skipped, as csv.DictReader does
        header, *body = [r for r in csv.reader(text.splitlines()) if r] or [[]]
    except csv.Error as exc:  # e.g. a field beyond the csv module's size limit
        raise MagicplanError(f"{path}: malformed CSV ({exc})") from exc
    columns = [c.strip() for c in header]
    missing = [c for c in required if c not in columns]
    if missing:
        unknown = [c for c in columns if c not in required]
        close = difflib.get_close_matches(missing[0], unknown, n=1, cutoff=0.6)
        found = f"; is '{close[0]}' a misspelling?" if close else ""
        raise MagicplanError(
            f"{path}: missing column '{missing[0]}' (required: {', '.join(required)}){found}"
        )
    repeated = sorted({c for c in columns if c and columns.count(c) > 1})
    if repeated:
        raise MagicplanError(f"{path}: column '{repeated[0]}' appears more than once")
    rows = []
    for i, cells in enumerate(body):
        longer = any(c.strip() for c in cells[len(columns) :])
        if longer or (ragged is not None and len(cells) < len(columns)):
            problem = f"{len(cells)} cells but the header has {len(columns)} columns"
            if ragged is None:
                raise MagicplanError(f"{path}: row {i + 2}: {problem}")
            ragged[i] = problem
        cells = (cells + [""] * len(columns))[: len(columns)]
        rows.append({k: v.strip() for k, v in zip(columns, cells, strict=True)})
    if not rows:
        raise MagicplanError(f"{path}: no data rows")
    return rows


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` via a temporary file in the same folder and a rename.

    A failed write leaves any existing file untouched and no partial file behind.
    """
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise MagicplanError(f"{p}: output folder does not exist")
    if p.is_dir():
        raise MagicplanError(f"{p}: output path is a directory, expected a file name")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise MagicplanError(f"{p}: output path is not writable ({exc.strerror})") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a written file gets normal modes
        os.replace(tmp, p)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise MagicplanError(f"{p}: cannot write ({exc.strerror})") from exc
    return p


def atomic_write_text(path: str | Path, text: str) -> Path:
    """UTF-8 text through `atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode("utf-8"))
