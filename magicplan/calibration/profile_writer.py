"""Write a hardware profile carrying a new calibration (YAML, atomic, provenance recorded)."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import yaml

from magicplan.io import atomic_write_text
from magicplan.specs.hardware import Calibration, HardwareSpec


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (provenance of a fit's input)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def today() -> str:
    """UTC date as YYYY-MM-DD."""
    return dt.datetime.now(dt.timezone.utc).date().isoformat()


def profile_with_calibration(
    hw: HardwareSpec, cal: Calibration, new_id: str | None = None
) -> dict[str, Any]:
    """The profile as a YAML-ready mapping: datasheet figures untouched, calibration replaced."""
    data = hw.model_dump(mode="json", exclude_none=True)
    data["calibration"] = _rounded(cal.model_dump(mode="json", exclude_none=True))
    if new_id:
        data["id"] = new_id
    return data


def _rounded(obj: Any) -> Any:
    if isinstance(obj, float):
        return 0.0 if abs(obj) < 1e-6 else float(f"{obj:.6g}")
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    return obj


def write_profile(path: str | Path, data: dict[str, Any], header: str = "") -> Path:
    """Dump `data` as YAML to `path` atomically (a temporary file and a rename)."""
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return atomic_write_text(path, comment + body)
