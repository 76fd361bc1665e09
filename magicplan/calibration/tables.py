"""Measured step tables (the reference CSV schema, or AR-only: batch, context,
t_autoregressive_ms) → StepSamples for the fitting core."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from magicplan.calibration.fit import StepSample
from magicplan.errors import MagicplanError
from magicplan.scenarios import Columns, check_whole_numbers, groups, read_columns
from magicplan.setup import check_draft_vocab
from magicplan.specs import load_model
from magicplan.specs.hardware import HardwareSpec
from magicplan.specs.model import ModelSpec
from magicplan.specs.quantization import with_kv_format, with_weight_format
from magicplan.units import MS

TIME_COLUMNS = ("t_autoregressive_ms", "gamma_t_draft_ms", "t_verify_ms")
REQUIRED = ("context", "batch")
OPTIONAL = (
    "num_gpus",
    "target",
    "weight_dtype",
    "kv_dtype",
    "gpu",
    "draft_model",
    "kv_method",
    "kv_budget",
    "gamma",
    "draft_num_gpus",
    "accepted_per_step",
    "t_spec_per_token_ms",
    *TIME_COLUMNS,
)
KEYS = ("target", "weight_dtype", "kv_dtype", "draft_model", "kv_method", "num_gpus",
        "draft_num_gpus")  # fmt: skip
# Whole-number columns and their smallest allowed value (blank cells of optional ones are fine).
COUNTS = (
    ("num_gpus", 1), ("batch", 1), ("context", 1), ("draft_num_gpus", 1), ("gamma", 0),
    ("kv_budget", 0),
)  # fmt: skip


def read_measurements(
    path: str | Path, hw: HardwareSpec, model: str | None = None, num_gpus: int | None = None
) -> Columns:
    """Rows of `path` measured on `hw` (all rows when there is no `gpu` column); `target` and
    `num_gpus` must be columns unless `model` and `num_gpus` stand in for them."""
    cols = read_columns(path, REQUIRED, OPTIONAL)
    for column, flag in (("target", model), ("num_gpus", num_gpus)):
        option = "--model" if column == "target" else "--num-gpus"
        if column not in cols and flag is None:
            raise MagicplanError(f"{path}: missing column '{column}': add it or give {option}")
        if column in cols:
            blank = np.isnan(cols[column]) if cols[column].dtype.kind == "f" else cols[column] == ""
            if blank.any() and flag is None:
                row = int(np.flatnonzero(blank)[0]) + 2
                raise MagicplanError(f"{path}: row {row} column '{column}' is empty ({option})")
            if blank.any():
                filled = float(flag) if column == "num_gpus" else str(flag)  # type: ignore[arg-type]
                cols[column] = np.where(blank, filled, cols[column])
    check_whole_numbers(path, cols, COUNTS)
    if not any(c in cols for c in TIME_COLUMNS):
        raise MagicplanError(
            f"{path}: missing column: need at least one of {', '.join(TIME_COLUMNS)}"
        )
    if "gpu" in cols:
        keep = np.flatnonzero(cols["gpu"] == hw.id)
        if keep.size == 0:
            found = ", ".join(sorted(set(cols["gpu"].tolist())))
            raise MagicplanError(f"{path}: column 'gpu' has no row for '{hw.id}' (found: {found})")
        cols = {k: v[keep] for k, v in cols.items()}
    for name in TIME_COLUMNS:
        if name in cols and np.any(cols[name][np.isfinite(cols[name])] < MIN_TIME_MS):
            raise MagicplanError(
                f"{path}: column '{name}' must hold positive times in ms (at least {MIN_TIME_MS:g})"
            )
    if "accepted_per_step" in cols:  # Ω: at least the bonus token, at most all γ + 1
        omega = cols["accepted_per_step"]
        most = cols["gamma"] + 1 if "gamma" in cols else np.full(omega.shape, np.inf)
        bad = np.flatnonzero(np.isfinite(omega) & ((omega < 1) | (omega > most)))
        if bad.size:
            raise MagicplanError(
                f"{path}: row {int(bad[0]) + 2} column 'accepted_per_step' must be in "
                f"[1, gamma + 1]; got {omega[bad[0]]:g}"
            )
    return cols


# A step time below a nanosecond is no measurement (no GPU step is that short), and a subnormal
# one overflows the relative errors it divides.
MIN_TIME_MS = 1e-6


def samples_from_columns(cols: Columns) -> list[StepSample]:
    """Group rows into AR (deduplicated by batch and context), draft and verify samples."""
    n = len(cols["batch"])
    col = {k: cols.get(k, np.full(n, np.nan)) for k in ("gamma", "kv_budget", "draft_num_gpus")}
    models: dict[str, ModelSpec] = {}
    out: list[StepSample] = []
    for key, idx in groups(cols, KEYS):
        g = dict(zip([k for k in KEYS if k in cols], key, strict=True))
        served = (g["target"], g.get("weight_dtype", ""), g.get("kv_dtype", ""))
        target = models.setdefault("|".join(served), _served(*served))
        dname = g.get("draft_model", "self")
        drafted = (dname, "", g.get("kv_dtype", ""))  # the draft's cache in the row's KV format
        draft = (
            None
            if dname in ("self", "")
            else models.setdefault("|".join(drafted), _served(*drafted))
        )
        if draft is not None:
            check_draft_vocab(target, draft)
        n_gpus = int(float(g["num_gpus"]))
        dn = g.get("draft_num_gpus", "nan")
        d_gpus = n_gpus if dn in ("nan", "") else int(float(dn))
        for kind, name, per_step in (
            ("autoregressive", "t_autoregressive_ms", False),
            ("draft", "gamma_t_draft_ms", True),
            ("verify", "t_verify_ms", False),
        ):
            if name not in cols:
                continue
            rows = idx[np.isfinite(cols[name][idx])]
            if kind == "autoregressive":
                _, first = np.unique(
                    np.stack([cols["batch"][rows], cols["context"][rows]]),
                    axis=1,
                    return_index=True,
                )
                rows = rows[np.sort(first)]
            if rows.size == 0:
                continue
            gamma = col["gamma"][rows]
            if kind != "autoregressive" and np.any(~np.isfinite(gamma) | (gamma < 1)):
                raise MagicplanError(
                    "column 'gamma' must be >= 1 on rows with draft or verify times"
                )
            measured = cols[name][rows] * MS / (gamma if per_step else 1.0)
            out.append(
                StepSample(
                    kind=kind,
                    target=target,
                    draft=draft,
                    kv_method=g.get("kv_method", "full"),
                    num_gpus=n_gpus,
                    draft_num_gpus=d_gpus,
                    batch=cols["batch"][rows],
                    context=cols["context"][rows],
                    gamma=np.nan_to_num(gamma, nan=1.0),
                    kv_budget=np.nan_to_num(col["kv_budget"][rows]),
                    measured_s=measured,
                    row=rows,
                )
            )
    return out


def _served(model_id: str, weight_dtype: str, kv_dtype: str) -> ModelSpec:
    """A model in the weight and KV formats of a table row (blank: as published)."""
    return with_kv_format(with_weight_format(load_model(model_id), weight_dtype), kv_dtype)
