"""Figures: each `plot_*` function takes a matplotlib Axes, draws one figure on it and returns it.

Nothing here calls `plt.show()` or imports torch; files are written with `plot_to_file` (Agg, via
`matplotlib.figure.Figure`, never pyplot).
"""

from magicplan.plots.breakdown import plot_breakdown
from magicplan.plots.gamma_map import draw_gamma_map, plot_gamma_map
from magicplan.plots.kinds import KINDS, plot_to_file
from magicplan.plots.pareto import draw_pareto, plot_pareto
from magicplan.plots.planning import Search, frontier, plan_grid
from magicplan.plots.render import figure_bytes, save_figure
from magicplan.plots.scenario import Scenario
from magicplan.plots.speedup import best_gamma, plot_speedup
from magicplan.plots.style import style
from magicplan.plots.validation import load_validation, plot_validation

__all__ = [
    "KINDS",
    "Scenario",
    "Search",
    "best_gamma",
    "draw_gamma_map",
    "draw_pareto",
    "figure_bytes",
    "frontier",
    "load_validation",
    "plan_grid",
    "plot_breakdown",
    "plot_gamma_map",
    "plot_pareto",
    "plot_speedup",
    "plot_to_file",
    "plot_validation",
    "save_figure",
    "style",
]
