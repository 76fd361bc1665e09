"""`validation`: predicted vs measured step times on log-log axes with the y = x line and ±10 % /
±25 % bands, from `magicplan validate` JSON or a measured step table (reference CSV schema)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from magicplan.errors import MagicplanError
from magicplan.io import load_json
from magicplan.plots.style import NOTE_PT, set_title
from magicplan.units import MS

if TYPE_CHECKING:
    from matplotlib.axes import Axes

KIND_MARKERS = {"autoregressive": "o", "draft": "^", "verify": "s"}
KIND_NAMES = {"autoregressive": "AR step", "draft": "draft step", "verify": "verify step"}
BANDS = (0.10, 0.25)
Float = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Validation:
    """Measured and predicted step times (ms) with their step kind and group (hardware, model)."""

    kind: npt.NDArray[np.str_]
    group: npt.NDArray[np.str_]
    measured_ms: Float
    predicted_ms: Float
    source: str  # what was measured, for the title

    @property
    def error(self) -> Float:
        """Relative error of each prediction: predicted / measured - 1."""
        return self.predicted_ms / self.measured_ms - 1.0


def load_validation(
    path: str | Path, hardware: str | None = None, engine: str | None = None
) -> Validation:
    """`validate` JSON (`.json`) or a measured step table (`.csv`, predicted under `engine`:
    an id or path; None: each profile's own calibration, else the default engine)."""
    p = Path(path)
    if p.suffix.lower() == ".json":
        return validation_from_json(p)
    if p.suffix.lower() == ".csv":
        return validation_from_csv(p, hardware, engine)
    raise MagicplanError(
        "measurements must be a `magicplan validate` .json or a measured-steps .csv; "
        f"got '{p.name}'"
    )


def validation_from_json(path: Path) -> Validation:
    """The `validate` output: {"steps": [{kind, measured_ms, predicted_ms, ...}], ...}."""
    data = load_json(path)
    steps = data.get("steps") if isinstance(data, dict) else None
    if not isinstance(steps, list) or not steps:
        raise MagicplanError(f"{path}: field 'steps' must be a non-empty list of measured steps")
    try:
        kind = np.array([str(s["kind"]) for s in steps])
        measured = np.array([float(s["measured_ms"]) for s in steps])
        predicted = np.array([float(s["predicted_ms"]) for s in steps])
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise MagicplanError(
            f"{path}: every step needs 'kind', 'measured_ms' and 'predicted_ms' (numbers in ms)"
        ) from exc
    where = " on ".join(str(data[k]) for k in ("model", "hardware") if data.get(k))
    group = np.full(kind.shape, where or "measured")
    return _checked(Validation(kind, group, measured, predicted, f"{path.name} ({where})"), path)


def validation_from_csv(
    path: Path, hardware: str | None = None, engine: str | None = None
) -> Validation:
    """Predict every measured step of a reference-schema CSV with the hardware's own profile.

    No refit: predictions use the shipped (or given) profile's calibration as it stands. Without
    `hardware`, every GPU named in the `gpu` column is used.
    """
    from magicplan.calibration.fit import predict
    from magicplan.calibration.tables import read_measurements, samples_from_columns
    from magicplan.cost.defaults import calibration_for
    from magicplan.io import read_csv_rows
    from magicplan.specs import load_engine, load_hardware

    if hardware is None:
        rows = read_csv_rows(path)
        if "gpu" not in rows[0]:
            raise MagicplanError(f"{path}: no 'gpu' column; give --hardware for these measurements")
        ids = list(dict.fromkeys(r["gpu"] for r in rows))
    else:
        ids = [hardware]
    cols: dict[str, list[Any]] = {"kind": [], "group": [], "measured": [], "predicted": []}
    for hw_id in ids:
        hw = load_hardware(hw_id)
        cal = calibration_for(hw, None if engine is None else load_engine(engine))
        for s in samples_from_columns(read_measurements(path, hw)):
            n = s.measured_s.size
            cols["kind"] += [s.kind] * n
            cols["group"] += [f"{s.target.id} on {s.num_gpus}× {hw.id}"] * n
            cols["measured"] += list(s.measured_s / MS)
            cols["predicted"] += list(predict(hw, cal, s) / MS)
    v = Validation(
        np.array(cols["kind"]),
        np.array(cols["group"]),
        np.array(cols["measured"], dtype=np.float64),
        np.array(cols["predicted"], dtype=np.float64),
        f"measured: {path.name}\npredicted: engine {cal.engine} as shipped (not refitted)",
    )
    return _checked(v, path)


def _checked(v: Validation, path: Path) -> Validation:
    bad = ~np.isfinite(v.measured_ms) | (v.measured_ms <= 0) | ~np.isfinite(v.predicted_ms)
    if v.measured_ms.size == 0 or bad.any() or np.any(v.predicted_ms <= 0):
        raise MagicplanError(f"{path}: measured_ms and predicted_ms must be positive numbers")
    return v


def plot_validation(ax: Axes, v: Validation, title: str | None = None) -> Axes:
    """Predicted vs measured scatter: colour = group, marker = step kind, y = x and error bands."""
    lo = 0.8 * float(min(v.measured_ms.min(), v.predicted_ms.min()))
    hi = 1.25 * float(max(v.measured_ms.max(), v.predicted_ms.max()))
    x = np.geomspace(lo, hi, 50)
    ax.plot(x, x, color="black", lw=1.2, label="y = x (perfect prediction)")
    for band, alpha in zip(BANDS, (0.22, 0.10), strict=True):
        ax.fill_between(
            x,
            x * (1 - band),
            x * (1 + band),
            color="#4C72B0",
            alpha=alpha,
            lw=0,
            label=f"±{band:.0%} band",
        )
    groups, colors = _scatter_groups(ax, v)
    _log_ms_axes(ax, lo, hi)
    ax.set_xlabel("measured step time (ms)")
    ax.set_ylabel("predicted step time (ms)")
    _legend(ax, groups, colors, v)
    ax.text(
        0.98,
        0.03,
        _stats_text(v),
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=NOTE_PT + 1,
        bbox={"facecolor": "white", "edgecolor": "#999999"},
    )
    set_title(ax, title or "Predicted vs measured decode step times", v.source)
    return ax


def _scatter_groups(ax: Axes, v: Validation) -> tuple[list[str], Any]:
    """One colour per group (hardware, model), one marker per step kind."""
    import matplotlib as mpl

    groups = list(dict.fromkeys(v.group.tolist()))
    colors = mpl.colormaps["tab10"](np.arange(len(groups)) % 10)
    for group, color in zip(groups, colors, strict=True):
        for kind, marker in KIND_MARKERS.items():
            m = (v.group == group) & (v.kind == kind)
            ax.scatter(
                v.measured_ms[m],
                v.predicted_ms[m],
                marker=marker,
                s=36,
                color=color,
                edgecolor="white",
                lw=0.5,
                zorder=3,
            )
    return groups, colors


def _log_ms_axes(ax: Axes, lo: float, hi: float) -> None:
    """Equal log axes with plain-number ticks at 1-2-5 steps (ms)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ticks = [m * 10.0**e for e in range(-3, 6) for m in (1, 2, 5) if lo <= m * 10.0**e <= hi]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    fmt = FuncFormatter(lambda t, _: f"{t:g}")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_ticks(ticks)
        axis.set_major_formatter(fmt)
        axis.set_minor_formatter(NullFormatter())


def _legend(ax: Axes, groups: list[str], colors: Any, v: Validation) -> None:
    """One legend: the reference lines, a colour per group, a marker per step kind."""
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    for group, color in zip(groups, colors, strict=True):
        handles.append(Line2D([], [], ls="none", marker="o", color=color))
        labels.append(group)
    for kind, marker in KIND_MARKERS.items():
        if (v.kind == kind).any():
            handles.append(Line2D([], [], ls="none", marker=marker, color="#666666"))
            labels.append(KIND_NAMES[kind])
    ax.legend(handles, labels, loc="upper left", frameon=False, fontsize=9)


def _stats_text(v: Validation) -> str:
    a = np.abs(v.error)
    lines = [f"{a.size} steps: median |error| {np.median(a):.1%}, p90 {np.percentile(a, 90):.1%}"]
    for kind, name in KIND_NAMES.items():
        k = np.abs(v.error[v.kind == kind])
        if k.size:
            lines.append(f"{name} (n={k.size}): median {np.median(k):.1%}")
    return "\n".join(lines)
