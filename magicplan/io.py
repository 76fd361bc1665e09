"""File input and output: YAML only through the safe loader, JSON, CSV, atomic writes."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from magicplan.errors import MagicplanError

# libyaml's safe loader when PyYAML was built with it (same safety, ~10x faster), else PyYAML's.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_text(path: str | Path) -> str:
    """Read a UTF-8 text file; a missing, unreadable or empty file is a MagicplanError."""
    p = Path(path)
    if not p.exists():
        raise MagicplanError(f"{p}: file not found")
    if p.is_dir():
        raise MagicplanError(f"{p}: is a directory, expected a file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MagicplanError(f"{p}: cannot read file ({exc.__class__.__name__})") from exc
    if not text.strip():
        raise MagicplanError(f"{p}: file is empty")
    return text


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file with the safe loader (tags never execute)."""
    text = read_text(path)
    try:
        return yaml.load(text, Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise MagicplanError(f"{path}: malformed YAML{where}") from exc


def load_json(path: str | Path) -> Any:
    """Parse a JSON file."""
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MagicplanError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}") from exc


def load_mapping(path: str | Path) -> dict[str, Any]:
    """Load a YAML or JSON file whose top level must be a mapping."""
    data = load_json(path) if str(path).endswith(".json") else load_yaml(path)
    if not isinstance(data, dict):
        raise MagicplanError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def read_csv_rows(path: str | Path, required: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """Read a CSV with a header row; every name in `required` must be a column."""
    text = read_text(path)
    reader = csv.DictReader(text.splitlines())
    columns = [c.strip() for c in (reader.fieldnames or [])]
    missing = [c for c in required if c not in columns]
    if missing:
        raise MagicplanError(
            f"{path}: missing column '{missing[0]}' (required: {', '.join(required)})"
        )
    rows = [
        {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
        for row in reader
    ]
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
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise MagicplanError(f"{p}: output path is not writable ({exc.strerror})") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, p)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise MagicplanError(f"{p}: cannot write ({exc.strerror})") from exc
    return p


def atomic_write_text(path: str | Path, text: str) -> Path:
    """UTF-8 text through `atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode("utf-8"))
