"""The six figure kinds of `magicplan plot`, their defaults, and one entry point to a file."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from magicplan.errors import MagicplanError, suggest
from magicplan.plots.render import check_output, save_figure

if TYPE_CHECKING:
    from magicplan.plots.planning import Search
    from magicplan.plots.render import Draw
    from magicplan.plots.scenario import Scenario

KINDS = ("speedup", "breakdown", "pareto", "gamma-map", "validation", "families")
DEFAULT_CONTEXT = 32768
BREAKDOWN_BATCHES = (1, 4, 16, 64, 256)  # three bars each: more groups would not read
GAMMA_MAP_CONTEXTS = (1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072)
FIGSIZES_IN = {
    "speedup": (8.0, 5.2),
    "breakdown": (8.0, 5.6),
    "pareto": (8.0, 5.2),
    "gamma-map": (8.6, 6.0),
    "validation": (7.0, 7.2),
    "families": (10.0, 6.0),
}


def check_kind(kind: str) -> str:
    """`kind` if it is a figure kind, else a MagicplanError listing them."""
    if kind not in KINDS:
        raise MagicplanError(
            f"kind must be one of {', '.join(KINDS)}; got '{kind}'{suggest(kind, KINDS)}"
        )
    return kind


def with_defaults(kind: str, sc: Scenario, batches_given: bool, contexts_given: bool) -> Scenario:
    """Per-kind default grids where the user gave none."""
    if kind == "breakdown" and not batches_given:
        sc = replace(sc, batches=BREAKDOWN_BATCHES)
    if kind == "families":
        from magicplan.plots.families import FAMILY_BATCHES, FAMILY_CONTEXTS

        limit = sc.setup.target.max_position_embeddings
        if not batches_given:
            sc = replace(sc, batches=FAMILY_BATCHES)
        if not contexts_given:
            sc = replace(sc, contexts=tuple(c for c in FAMILY_CONTEXTS if c <= limit) or (limit,))
    if kind == "gamma-map" and not contexts_given:
        limit = sc.setup.target.max_position_embeddings
        contexts = tuple(c for c in GAMMA_MAP_CONTEXTS if c <= limit) or (limit,)
        sc = replace(sc, contexts=contexts)
    return sc


def drawer(
    kind: str,
    sc: Scenario | None,
    context: int = DEFAULT_CONTEXT,
    gamma: int | None = None,
    measurements: str | Path | None = None,
    hardware: str | None = None,
    search: Search | None = None,
    engine: str | None = None,
) -> Draw:
    """The drawing function for `kind`; bad input fails before any file is written (the
    validation figure predicts under `engine`)."""
    check_kind(kind)
    if kind == "validation":
        from magicplan.plots.validation import load_validation, plot_validation

        if measurements is None:
            raise MagicplanError(
                "measurements is required for the validation plot: a `magicplan validate` "
                ".json or a measured-steps .csv"
            )
        return partial(plot_validation, v=load_validation(measurements, hardware, engine))
    if sc is None:
        raise MagicplanError(f"hardware, num_gpus and model are required for the {kind} plot")
    return _scenario_drawer(kind, sc, context, gamma, search)


def _scenario_drawer(
    kind: str, sc: Scenario, context: int, gamma: int | None, search: Search | None
) -> Draw:
    if kind == "speedup":
        from magicplan.plots.speedup import GAMMAS, plot_speedup

        return partial(plot_speedup, sc=sc, gammas=GAMMAS if gamma is None else [gamma])
    if kind == "families":
        from magicplan.plots.families import family_curves, plot_families

        return partial(plot_families, sc=sc, curves=family_curves(sc))
    if kind == "breakdown":
        from magicplan.plots.breakdown import plot_breakdown

        return partial(plot_breakdown, sc=sc, context=context, gamma=gamma)
    from magicplan.plots.planning import Search, frontier, plan_grid

    search = search or Search()
    subtitle = f"{sc.subtitle(draft=False)}\n{search.text(sc)}"
    if kind == "pareto":
        from magicplan.plots.pareto import draw_pareto

        return partial(draw_pareto, fr=frontier(sc, context, search), subtitle=subtitle)
    from magicplan.plots.gamma_map import draw_gamma_map

    return partial(draw_gamma_map, grid=plan_grid(sc, search), subtitle=subtitle)


def plot_to_file(
    kind: str,
    output: str | Path,
    sc: Scenario | None = None,
    context: int = DEFAULT_CONTEXT,
    gamma: int | None = None,
    measurements: str | Path | None = None,
    hardware: str | None = None,
    search: Search | None = None,
    engine: str | None = None,
) -> Path:
    """Render one figure of `kind` to `output` (.png, .svg or .pdf), atomically.

    `search` limits what the planner chooses from for pareto and gamma-map (default: all).
    """
    check_kind(kind)
    check_output(output)  # a bad file name fails before any computing
    draw = drawer(kind, sc, context, gamma, measurements, hardware, search, engine)
    return save_figure(draw, output, FIGSIZES_IN[kind])
