"""Every figure kind renders to a non-empty file, the library functions return their Axes, bad
input is one clean error, and drawing a figure never imports torch."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from typer.testing import CliRunner

from magicplan.cli import app
from magicplan.errors import MagicplanError
from magicplan.plots import (
    KINDS,
    Scenario,
    best_gamma,
    load_validation,
    plot_breakdown,
    plot_gamma_map,
    plot_pareto,
    plot_speedup,
    plot_to_file,
    plot_validation,
)
from magicplan.plots.planning import Search, frontier, plan_grid
from magicplan.plots.scenario import parse_ints
from magicplan.setup import Setup
from magicplan.specs import load_hardware, load_model

MEASURED = (
    Path(__file__).resolve().parents[2] / "magicplan" / "data" / "magicdec_measured_steps.csv"
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SCENARIO_ARGS = [
    "--hardware",
    "h100-sxm",
    "--num-gpus",
    "8",
    "--model",
    "llama-3.1-8b",
    "--acceptance",
    "0.8",
    "--batches",
    "1,16,64",
    "--contexts",
    "4k,32k",
]


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    setup = Setup(hardware=load_hardware("h100-sxm"), num_gpus=8, target=load_model("llama-3.1-8b"))
    return Scenario(setup, 512, 0.8, batches=(1, 16, 64), contexts=(4096, 32768))


def new_axes() -> Axes:
    return Figure().add_subplot()


def test_library_functions_return_their_axes(scenario: Scenario) -> None:
    v = load_validation(MEASURED)
    for draw in (
        lambda ax: plot_speedup(ax, scenario),
        lambda ax: plot_breakdown(ax, scenario, 32768),
        lambda ax: plot_pareto(ax, scenario, 32768),
        lambda ax: plot_gamma_map(ax, scenario),
        lambda ax: plot_validation(ax, v),
    ):
        ax = new_axes()
        assert draw(ax) is ax
        assert ax.get_title(loc="left")  # every figure states what it shows


def test_titles_state_hardware_model_draft_and_acceptance(scenario: Scenario) -> None:
    title = plot_speedup(new_axes(), scenario).get_title(loc="left")
    for part in ("H100", "Llama-3.1-8B", "self-speculation", "StreamingLLM", "512", "α = 0.80"):
        assert part in title


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_renders_png_from_the_cli(kind: str, tmp_path: Path) -> None:
    out = tmp_path / f"{kind}.png"
    args = ["--measurements", str(MEASURED)] if kind == "validation" else SCENARIO_ARGS
    res = CliRunner().invoke(app, ["plot", kind, *args, "--output", str(out)])
    assert res.exit_code == 0, res.output
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000


@pytest.mark.parametrize("suffix", ["svg", "pdf"])
def test_vector_formats(suffix: str, tmp_path: Path, scenario: Scenario) -> None:
    out = plot_to_file("speedup", tmp_path / f"f.{suffix}", scenario)
    head = out.read_bytes()[:200]
    assert (b"<svg" in head or b"<?xml" in head) if suffix == "svg" else head.startswith(b"%PDF")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["plot", "speeedup", "--output", "x.png"], "did you mean speedup"),
        (["plot", "speedup", "--output", "x.gif"], "output must end in .png, .svg or .pdf"),
        (["plot", "speedup", *SCENARIO_ARGS, "--output", "/no/such/dir/x.png"], "output"),
        (["plot", "speedup", "--model", "llama-3.1-8b", "--output", "x.png"], "--hardware"),
        (["plot", "validation", "--output", "x.png"], "measurements is required"),
        (["plot", "speedup", *SCENARIO_ARGS, "--batches", "1,x", "--output", "x.png"], "batches"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], needle: str, tmp_path: Path) -> None:
    args = [str(tmp_path / a) if a in ("x.png", "x.gif") else a for a in args]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2
    assert needle in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_parse_ints_accepts_k_suffix() -> None:
    assert parse_ints("contexts", "32k, 4k,4096") == (4000, 4096, 32000)
    with pytest.raises(MagicplanError, match="contexts"):
        parse_ints("contexts", "0")


def test_best_gamma_matches_a_scalar_search(scenario: Scenario) -> None:
    """The vectorized γ search picks the same γ as a loop over γ with estimate."""
    from magicplan.estimate import estimate

    best = best_gamma(scenario, 64.0, 32768.0)
    s = scenario.setup
    loop = [
        estimate(s.hardware, 8, s.target, 64, 32768, g, acceptance=0.8)["speedup"]
        for g in range(1, 13)
    ]
    assert int(best.gamma) == int(np.argmax(loop)) + 1
    assert float(best.speedup) == pytest.approx(max(loop), rel=1e-6)


def test_validation_from_validate_json(tmp_path: Path) -> None:
    steps = [
        {
            "kind": k,
            "batch": 1,
            "context": 128,
            "gamma": 2,
            "measured_ms": m,
            "predicted_ms": p,
            "error": p / m - 1,
        }
        for k, m, p in (("autoregressive", 2.0, 2.2), ("draft", 1.0, 0.9), ("verify", 3.0, 3.0))
    ]
    path = tmp_path / "validate.json"
    path.write_text(json.dumps({"steps": steps, "median_abs_error": 0.1}), encoding="utf-8")
    v = load_validation(path)
    assert np.allclose(np.abs(v.error), [0.1, 0.1, 0.0])
    assert plot_validation(new_axes(), v).get_xlabel() == "measured step time (ms)"


def test_validation_rejects_json_without_steps(tmp_path: Path) -> None:
    path = tmp_path / "v.json"
    path.write_text('{"median_abs_error": 0.1}', encoding="utf-8")
    with pytest.raises(MagicplanError, match="steps"):
        load_validation(path)


def test_drawing_a_figure_never_imports_torch(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        from magicplan.cli import app
        from typer.testing import CliRunner
        out = {str(tmp_path / "f.png")!r}
        for kind in {list(KINDS)!r}:
            extra = {SCENARIO_ARGS!r}
            if kind == "validation":
                extra = ["--measurements", {str(MEASURED)!r}]
            res = CliRunner().invoke(app, ["plot", kind, *extra, "--output", out])
            assert res.exit_code == 0, (kind, res.output, repr(res.exception))
        assert "torch" not in sys.modules, "a figure imported torch"
        assert "matplotlib.pyplot" not in sys.modules, "a figure imported pyplot"
        print("ok")
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "ok"


def test_default_acceptance_comes_from_published_measurements(tmp_path: Path) -> None:
    out = tmp_path / "s.png"
    args = ["plot", "speedup", "--hardware", "h100-sxm", "--num-gpus", "8"]
    args += ["--model", "llama-3.1-8b", "--batches", "8,64", "--output", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert out.read_bytes().startswith(PNG_MAGIC)
    setup = Setup(hardware=load_hardware("h100-sxm"), num_gpus=8, target=load_model("llama-3.1-8b"))
    sc = Scenario(setup, 512, None, contexts=(4000, 32000))
    assert np.allclose(sc.alpha(np.array([4000.0, 32000.0])), [0.84, 0.81], atol=0.005)
    assert "published" in plot_speedup(new_axes(), sc).get_title(loc="left")


def test_no_published_acceptance_names_the_field(tmp_path: Path) -> None:
    """Below the smallest measured budget there is no evidence: ask for --acceptance."""
    args = ["plot", "speedup", "--hardware", "h100-sxm", "--num-gpus", "8", "--model"]
    args += ["llama-3.1-8b", "--kv-budget", "64", "--output", str(tmp_path / "s.png")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2
    assert "--acceptance" in res.output


@pytest.mark.usefixtures("magicdec_default")  # MagicDec's compressed self-speculation
def test_planner_figures_respect_a_restricted_search(scenario: Scenario) -> None:
    search = Search(drafts=(None,), kv_methods=("streamingllm",), kv_budgets=(512,))
    grid = plan_grid(scenario, search)
    assert set(grid.strategy[grid.fits].tolist()) == {"self, StreamingLLM 512"}
    fr = frontier(scenario, 32768, search)
    assert set(fr.sd_strategy[fr.sd_fits].tolist()) == {"self, StreamingLLM 512"}
    # the planner's best over everything is at least as fast as the restricted one
    free = plan_grid(scenario)
    both = grid.fits & free.fits
    assert np.all(free.speedup[both] >= grid.speedup[both] - 1e-9)


def test_gamma_map_matches_the_gamma_search(scenario: Scenario) -> None:
    """Restricted to one strategy, the planner's best γ is the vectorized γ search's."""
    search = Search(drafts=(None,), kv_methods=("streamingllm",), kv_budgets=(512,))
    grid = plan_grid(scenario, search)
    b = np.asarray(scenario.batches, dtype=float)
    c = np.asarray(scenario.contexts, dtype=float)
    best = best_gamma(scenario, b[None, :], c[:, None])
    ok = grid.fits & best.fits
    assert np.allclose(grid.speedup[ok], best.speedup[ok], rtol=1e-6)
