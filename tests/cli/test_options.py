"""Every option of every command has help; the strategy options take both spellings on every
command (issue 13.7); counts take 4k/32k/1m; --memory-utilization on the predicting commands and
sweep's AR and memory columns (issue 15.9)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from magicplan.cli import app
from magicplan.cost.memory import DEFAULT_MEMORY_UTILIZATION

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
BASE = ["--hardware", "h100-sxm", "--num-gpus", "8", "--model", "llama-3.1-8b"]
SPELLINGS = [("--draft", "--drafts"), ("--kv-method", "--kv-methods"),
             ("--kv-budget", "--kv-budgets"), ("--gamma", "--gammas")]  # fmt: skip
PREDICTING = ("estimate", "plan", "critical-length", "break-even", "sweep")


def commands() -> list[tuple[str, Any]]:
    def walk(cmd: Any, path: str) -> list[tuple[str, Any]]:
        subs = getattr(cmd, "commands", None)
        if not subs:
            return [(path, cmd)]
        return [c for name, sub in subs.items() for c in walk(sub, f"{path} {name}".strip())]

    return walk(typer.main.get_command(app), "")


def test_every_option_and_argument_has_help() -> None:
    missing = [(name, p.opts) for name, cmd in commands() for p in cmd.params if not p.help]
    assert not missing, missing


@pytest.mark.parametrize("command", [*PREDICTING, "plot"])
def test_strategy_options_take_both_spellings(command: str) -> None:
    cmd = dict(commands())[command]
    names = {o for p in cmd.params for o in p.opts}
    for spellings in SPELLINGS:
        assert set(spellings) <= names, (command, spellings)
    help_text = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).stdout
    for singular, plural in SPELLINGS:
        assert re.search(rf"{plural}\b", help_text) and re.search(rf"{singular}\b", help_text)


def json_of(*args: str) -> Any:
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.mark.parametrize(
    ("command", "work"),
    [
        ("estimate", ["--batch", "16", "--context", "8192", "--acceptance", "0.8"]),
        ("plan", ["--batch", "16", "--context", "8192", "--acceptance", "0.8"]),
        ("break-even", ["--batch", "16", "--context", "8192"]),
        ("sweep", ["--batches", "16", "--contexts", "8192", "--acceptance", "0.8"]),
        ("critical-length", ["--batch", "64", "--max-context", "16384", "--acceptance", "0.8"]),
    ],
)
def test_both_spellings_give_the_same_answer(command: str, work: list[str]) -> None:
    values = ["self", "streamingllm", "512", "3"]
    singular = [x for (s, _), v in zip(SPELLINGS, values, strict=True) for x in (s, v)]
    plural = [x for (_, p), v in zip(SPELLINGS, values, strict=True) for x in (p, v)]
    assert json_of(command, *BASE, *work, *singular) == json_of(command, *BASE, *work, *plural)


def test_estimate_refuses_a_list_where_it_evaluates_one_value() -> None:
    r = runner.invoke(app, ["estimate", *BASE, "--batch", "16", "--context", "8192",
                            "--acceptance", "0.8", "--drafts", "self,llama-3.2-1b"])  # fmt: skip
    assert r.exit_code == 2 and "--draft" in r.stderr and "one value" in r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["estimate", *BASE, "--batch", "16", "--context", "{ctx}", "--acceptance", "0.8"],
        ["plan", *BASE, "--batch", "16", "--context", "{ctx}", "--acceptance", "0.8"],
        ["break-even", *BASE, "--batch", "16", "--context", "{ctx}"],
        ["sweep", *BASE, "--batches", "16", "--contexts", "{ctx}", "--acceptance", "0.8"],
        ["critical-length", *BASE, "--batch", "16", "--max-context", "{ctx}", "--kv-budgets",
         "1k", "--acceptance", "0.8"],
    ],
)  # fmt: skip
def test_counts_take_suffixes(args: list[str]) -> None:
    short = json_of(*(a.replace("{ctx}", "32k") for a in args))
    plain = json_of(*(a.replace("{ctx}", "32000") for a in args))
    assert short == plain


def test_memory_utilization_on_the_predicting_commands() -> None:
    work = ["--batch", "32", "--context", "8000"]
    one_gpu = ["--hardware", "h100-sxm", "--model", "llama-3.1-8b"]
    for command, extra in (("estimate", ["--acceptance", "0.8"]), ("plan", ["--acceptance", "0.8"]),
                           ("break-even", [])):  # fmt: skip
        default = json_of(command, *one_gpu, *work, *extra)
        same = json_of(command, *one_gpu, *work, *extra, "--memory-utilization",
                       str(DEFAULT_MEMORY_UTILIZATION))  # fmt: skip
        low = json_of(command, *one_gpu, *work, *extra, "--memory-utilization", "0.5")
        assert default == same and low != default, command
    est = json_of("estimate", *one_gpu, *work, "--acceptance", "0.8", "--memory-utilization", "0.5")
    assert not est["fits_in_memory"]
    plan = json_of("plan", *one_gpu, *work, "--acceptance", "0.8", "--memory-utilization", "0.5")
    assert plan["best"] is None
    sweep = json_of("sweep", *one_gpu, "--batches", "32", "--contexts", "8000", "--acceptance",
                    "0.8", "--memory-utilization", "0.5")  # fmt: skip
    assert sweep[0]["fits_in_memory"] is False
    for bad in ("1.5", "0", "-0.2"):
        r = runner.invoke(app, ["estimate", *one_gpu, *work, "--acceptance", "0.8",
                                "--memory-utilization", bad])  # fmt: skip
        assert r.exit_code == 2 and "memory_utilization" in r.stderr, bad
    help_text = runner.invoke(app, ["plan", "--help"], env={"COLUMNS": "200"}).stdout
    assert f"default {DEFAULT_MEMORY_UTILIZATION:g}" in help_text


def test_sweep_reports_ar_time_throughput_and_memory() -> None:
    (row,) = json_of("sweep", *BASE, "--batches", "16", "--contexts", "8192", "--acceptance",
                     "0.8")  # fmt: skip
    ar = json_of("estimate", *BASE, "--batch", "16", "--context", "8192", "--acceptance", "0.8")
    assert row["t_autoregressive_ms"] == pytest.approx(ar["t_autoregressive_ms"], rel=1e-6)
    assert row["autoregressive_throughput_tokens_per_s"] == pytest.approx(
        ar["autoregressive_throughput_tokens_per_s"], rel=1e-6
    )
    assert row["memory_per_gpu_gb"] > 0 and row["speedup"] > 0  # the existing columns stay


def test_readme_shows_both_spellings() -> None:
    text = (ROOT / "README.md").read_text()
    for singular, plural in SPELLINGS:
        assert f"{singular}/{plural}" in text or f"{plural}/{singular}" in text


@pytest.mark.parametrize(
    ("command", "absent"),
    [
        ("plan", ()),
        ("critical-length", ()),
        ("sweep", ()),
        ("break-even", ("acceptance", "acceptance_table", "accepted_per_step", "tree_tokens")),
        ("capacity", ("accepted_per_step", "tree_tokens")),
    ],
)
def test_planning_commands_take_the_shared_strategy_options(
    command: str, absent: tuple[str, ...]
) -> None:
    from magicplan.cli.plan import STRATEGY_OPTIONS

    r = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    flags = set(re.findall(r"--[a-z][a-z-]+", r.output))
    for name in STRATEGY_OPTIONS:
        flag = "--" + name.replace("_", "-")
        assert (flag in flags) == (name not in absent), (command, flag)


def test_version_and_every_help_line_is_whole() -> None:
    from magicplan import __version__

    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0 and r.stdout.strip() == f"magicplan {__version__}"
    # calibrate's --model help ended mid-sentence (two string literals not joined).
    help_text = CliRunner().invoke(app, ["calibrate", "--help"], env={"COLUMNS": "200"}).stdout
    assert "(default llama-3.1-8b; scaled down on CPU)" in help_text


def test_plot_takes_the_formats_and_memory_options(tmp_path: Path) -> None:
    # README: every predicting command takes --weight-dtype and --kv-dtype (plot refused them).
    base = ["plot", "speedup", "--hardware", "h100-sxm", "--model", "llama-3.1-8b"]
    fp8 = CliRunner().invoke(app, [*base, "--output", str(tmp_path / "a.png"),
                                   "--weight-dtype", "fp8", "--kv-dtype", "fp8",
                                   "--memory-utilization", "0.8"])  # fmt: skip
    assert fp8.exit_code == 0, fp8.output
    bad = CliRunner().invoke(app, [*base, "--output", str(tmp_path / "b.png"),
                                   "--memory-utilization", "1.5"])  # fmt: skip
    assert bad.exit_code == 2 and "memory_utilization must be in (0, 1]" in bad.output
