"""How an engine's speculative-round costs are fitted to published speculative-decoding results,
so that anyone can re-run the fit and see its errors, in sample and held out
(`python -m magicplan.calibration.speculative_fit [ENGINE]`).

The results (`magicplan/data/speculative_results.csv`, every row with its source) are batch-1
speedups of EAGLE, EAGLE-2, Medusa and prompt lookup with their measured mean accepted length
τ. Each is predicted by `estimate` from τ (a round: the draft passes, one verify of the tree or
chain, the round's bookkeeping); what the engine's decode rows cannot show is fitted here, by
least squares on log speedup: the per-round bookkeeping (`round_overhead_us`) and what a verify
pays per layer and verified token beyond one (`verify_token_layer_overhead_ns`). Held out:
refit without one source's rows and predict them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from magicplan.calibration.fit import BOUNDS
from magicplan.scenarios import Columns, estimate_scenarios, read_columns, read_scenarios
from magicplan.specs import load_engine
from magicplan.specs.calibration import Rates, set_values
from magicplan.specs.engine import EngineSpec

RESULTS = Path(__file__).resolve().parent.parent / "data" / "speculative_results.csv"
ROUND_PARAMETERS = ("round_overhead_us", "verify_token_layer_overhead_ns")


@dataclass(frozen=True)
class RoundFit:
    """Fitted values, and each row's relative speedup error under them."""

    values: dict[str, float]
    ids: list[str]
    groups: list[str]
    errors: np.ndarray


def results(path: str | Path = RESULTS) -> Columns:
    """The published results: the scenario columns, the measured `speedup`, and `id`,
    `source`, `method`, `dataset` per row."""
    cols = read_scenarios(path)
    return cols | read_columns(path, ("speedup",), ("id", "source", "method", "dataset"))


def group_of(row_id: str) -> str:
    """A result's source group (its id's prefix: sb09, sb55, sba, e1, e2, e3)."""
    return row_id.split("-", 1)[0]


def with_values(engine: EngineSpec, values: dict[str, float]) -> EngineSpec:
    """`engine` with some parameters replaced."""
    rates = Rates(**(set_values(engine.parameters) | values))
    return engine.model_copy(update={"parameters": rates})


def predicted_speedup(engine: EngineSpec, cols: Columns) -> np.ndarray:
    """Each row's predicted speedup on `engine` (the rows' own engine column is ignored)."""
    rows = {k: v for k, v in cols.items() if k != "engine"}
    return estimate_scenarios(rows, ["speedup"], engine=engine)["speedup"]


def fit_round(
    engine: EngineSpec, cols: Columns, free: Sequence[str] = ROUND_PARAMETERS
) -> dict[str, float]:
    """Least squares on log speedup over the rows of `cols`: the values of `free`."""
    measured = cols["speedup"]
    lo = [BOUNDS[p][0] for p in free]
    hi = [BOUNDS[p][1] for p in free]
    scale = [BOUNDS[p][2] for p in free]
    start = np.clip([float(getattr(engine.parameters, p) or 0.0) for p in free], lo, hi)
    start = np.maximum(start, scale)  # off the bound, where finite differences see a slope

    def residuals(x: np.ndarray) -> np.ndarray:
        spec = with_values(engine, dict(zip(free, x.tolist(), strict=True)))
        return np.log(predicted_speedup(spec, cols) / measured)

    x = least_squares(residuals, start, bounds=(lo, hi), x_scale=scale, diff_step=1e-3).x
    return {p: round(float(v), 1) for p, v in zip(free, x, strict=True)}


def _subset(cols: Columns, keep: np.ndarray) -> Columns:
    return {k: v[keep] for k, v in cols.items()}


def evaluate(engine_id: str = "hf-transformers", refit: bool = True) -> RoundFit:
    """The fit over every row (or the shipped values, when not `refit`) and its errors."""
    engine, cols = load_engine(engine_id), results()
    values = fit_round(engine, cols) if refit else {
        p: float(getattr(engine.parameters, p) or 0.0) for p in ROUND_PARAMETERS
    }  # fmt: skip
    errors = predicted_speedup(with_values(engine, values), cols) / cols["speedup"] - 1
    ids = [str(i) for i in cols["id"]]
    return RoundFit(values, ids, [group_of(i) for i in ids], errors)


def held_out(engine_id: str = "hf-transformers") -> RoundFit:
    """Each source group predicted by a fit to the other groups' rows."""
    engine, cols = load_engine(engine_id), results()
    ids = [str(i) for i in cols["id"]]
    groups = np.array([group_of(i) for i in ids])
    errors = np.full(groups.size, np.nan)
    for g in dict.fromkeys(groups.tolist()):
        keep = groups != g
        values = fit_round(engine, _subset(cols, keep))
        predicted = predicted_speedup(with_values(engine, values), _subset(cols, ~keep))
        errors[~keep] = predicted / cols["speedup"][~keep] - 1
    return RoundFit({}, ids, groups.tolist(), errors)


def _summary(name: str, fit: RoundFit) -> str:
    a = np.abs(fit.errors)
    return f"{name}: median |error| {np.median(a):.1%}, max {a.max():.1%} over {a.size} rows"


def main(argv: Sequence[str]) -> None:
    engine_id = argv[0] if argv else "hf-transformers"
    fitted, shipped = evaluate(engine_id), evaluate(engine_id, refit=False)
    out = held_out(engine_id)
    print(f"{engine_id}: fitted {fitted.values}")
    print(_summary("refit, in sample", fitted))
    print(_summary("shipped profile, in sample", shipped))
    print(_summary("leave one source out", out))
    for i, g, e, h in zip(shipped.ids, shipped.groups, shipped.errors, out.errors, strict=True):
        print(f"  {i:22s} {g:5s} shipped {e:+7.1%}   held out {h:+7.1%}")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
