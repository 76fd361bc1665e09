"""magicplan benchmarks (not tests: nothing here asserts a time).

    python benchmarks/run.py            # a readable report, against the goals
    python benchmarks/run.py --json     # one JSON line: plan_ms, scenarios_per_s, cli_plan_s
    python benchmarks/run.py --imports  # the heaviest imports on the cold command-line path

plan_ms          median of in-process `plan(...)` calls (after one warm-up): Llama-3.1-8B on
                 8x H100-SXM, batch 64, context 32000, every candidate (drafts x methods x
                 budgets x gamma x draft TP degrees).
plan_slo_ms      median of in-process `plan(..., slo_ms=25)` calls: Llama-3.1-70B on 8x H100-SXM,
                 context 16000, every batch up to 128 for every candidate (bisection per
                 strategy; informational, no goal).
scenarios_per_s  `estimate_arrays` over 2^20 scenarios of a sweep: batch 1..256 x 64 contexts
                 (1k..128k) x gamma 1..8 x 8 draft budgets (128..16k) as axes that broadcast,
                 the vectorized form (style rule 4), every figure (the 37 columns: step times,
                 speedup, throughputs, memory, max batch, prefill, per-class breakdowns);
                 best of a few passes.
scenarios_per_s_rows
                 the same count as 2^20 independent rows (random batch, context, gamma, budget
                 and acceptance, one row each, as a scenarios CSV gives them), the summary
                 figures a sweep decides on (SUMMARY_COLUMNS: step times, Ω, per-token time,
                 speedup, throughputs, memory and whether it fits).
scenarios_per_s_rows_all_columns
                 those rows, every figure (300 MB of output columns).
cli_plan_s       median wall time of fresh `magicplan plan ...` processes (one untimed run first
                 so that bytecode caches exist, as after any install).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

GOALS = {"plan_ms": 20.0, "scenarios_per_s": 1e7, "cli_plan_s": 0.6}  # ≤, ≥, ≤
PLAN_ARGS = [
    "plan", "--hardware", "h100-sxm", "--num-gpus", "8", "--model", "llama-3.1-8b",
    "--batch", "64", "--context", "32000",
]  # fmt: skip
SCENARIOS = 1 << 20


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call of `fn` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def plan_ms(repeats: int = 25) -> float:
    """Median milliseconds of one full in-process plan."""
    from magicplan.planner import plan
    from magicplan.specs import load_hardware, load_model

    hw, model = load_hardware("h100-sxm"), load_model("llama-3.1-8b")
    run = lambda: plan(hw, 8, model, 64, 32000)  # noqa: E731
    run()  # warm-up: profile and acceptance-table caches, numpy's first calls
    return 1e3 * statistics.median(timed(run) for _ in range(repeats))


def plan_slo_ms(repeats: int = 9) -> float:
    """Median milliseconds of one plan under a latency SLO (every batch up to the one asked)."""
    from magicplan.planner import plan
    from magicplan.specs import load_hardware, load_model

    hw, model = load_hardware("h100-sxm"), load_model("llama-3.1-70b")
    run = lambda: plan(hw, 8, model, 128, 16000, slo_ms=25.0)  # noqa: E731
    run()
    return 1e3 * statistics.median(timed(run) for _ in range(repeats))


def _setup() -> Any:
    from magicplan.setup import Setup
    from magicplan.specs import load_hardware, load_model

    return Setup(hardware=load_hardware("h100-sxm"), num_gpus=8, target=load_model("llama-3.1-8b"))


def scenarios_per_s(repeats: int = 5) -> float:
    """Scenarios per second of a broadcasting sweep (256 x 64 x 8 x 8 = 2^20), every figure."""
    from magicplan.estimate import estimate_arrays

    batch = np.arange(1.0, 257.0)[:, None, None, None]
    context = np.linspace(1024.0, 131072.0, 64).round()[None, :, None, None]
    gamma = np.arange(1.0, 9.0)[None, None, :, None]
    budget = (128.0 * 2.0 ** np.arange(8))[None, None, None, :]
    setup = _setup()
    best = min(
        timed(lambda: estimate_arrays(setup, batch, context, gamma, budget, 0.8))
        for _ in range(repeats)
    )
    return batch.size * context.size * gamma.size * budget.size / best


def scenarios_per_s_rows(n: int = SCENARIOS, repeats: int = 5, every_column: bool = False) -> float:
    """Independent scenarios per second (one row each): the summary figures, or every one."""
    from magicplan.estimate import COLUMNS, SUMMARY_COLUMNS, estimate_arrays

    rng = np.random.default_rng(0)
    batch = rng.integers(1, 257, n).astype(np.float64)
    context = rng.integers(1024, 131073, n).astype(np.float64)
    gamma = rng.integers(1, 9, n).astype(np.float64)
    budget = rng.choice([256.0, 512.0, 1024.0, 2048.0], n)
    alpha = rng.uniform(0.5, 0.95, n)
    setup = _setup()
    columns = COLUMNS if every_column else SUMMARY_COLUMNS
    best = min(
        timed(lambda: estimate_arrays(setup, batch, context, gamma, budget, alpha, None, columns))
        for _ in range(repeats)
    )
    return n / best


def command() -> list[str]:
    """The installed console script, else the same entry point through this interpreter."""
    beside = Path(sys.executable).with_name("magicplan")  # this environment's, not a shim
    found = str(beside) if beside.is_file() else shutil.which("magicplan")
    return [found] if found else [sys.executable, "-c", "from magicplan.cli import main; main()"]


def cli_plan_s(runs: int = 5) -> float:
    """Median wall seconds of a fresh `magicplan plan` process."""
    argv = [*command(), *PLAN_ARGS]
    # As after an install: bytecode cached. A shell that sets PYTHONDONTWRITEBYTECODE (some CI
    # images do) would make every run recompile magicplan's modules from an editable checkout.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def once() -> None:
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)

    once()  # untimed: compiles and caches bytecode on a fresh checkout
    return statistics.median(timed(once) for _ in range(runs))


def heaviest_imports(code: str, top: int = 12) -> list[tuple[float, str]]:
    """(ms, package) of the costliest packages `python -X importtime` reports for `code`: each
    module's own (self) time summed over its top-level package, so nothing counts twice."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    totals: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, _, name = line.removeprefix("import time:").split("|")
        package = name.strip().split(".")[0]
        totals[package] = totals.get(package, 0.0) + int(own) / 1e3
    return sorted(((ms, pkg) for pkg, ms in totals.items()), reverse=True)[:top]


def report_imports() -> None:
    cli = "import magicplan.cli"
    plan = f"import sys; sys.argv = ['magicplan', *{PLAN_ARGS!r}]; {cli}; magicplan.cli.main()"
    for title, code in (("import magicplan.cli", cli), ("magicplan plan (whole run)", plan)):
        rows = heaviest_imports(code)
        print(f"{title}: {sum(ms for ms, _ in heaviest_imports(code, 10**6)):.0f} ms of imports")
        for ms, name in rows:
            print(f"  {ms:8.1f} ms  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON line")
    parser.add_argument("--imports", action="store_true", help="cold-path import times")
    args = parser.parse_args()
    if args.imports:
        report_imports()
        return
    figures = {
        "plan_ms": round(plan_ms(), 2),
        "plan_slo_ms": round(plan_slo_ms(), 1),
        "scenarios_per_s": round(scenarios_per_s()),
        "cli_plan_s": round(cli_plan_s(), 3),
        "scenarios_per_s_rows": round(scenarios_per_s_rows()),
        "scenarios_per_s_rows_all_columns": round(scenarios_per_s_rows(every_column=True)),
    }
    if args.json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        goal = GOALS.get(key)
        met = (
            ""
            if goal is None
            else ("  (goal met)" if _met(key, value, goal) else "  (goal missed)")
        )
        target = (
            "" if goal is None else f"   goal {'>=' if key.startswith('scen') else '<='} {goal:g}"
        )
        print(f"{key:22s} {value:>14,}{target}{met}")


def _met(key: str, value: float, goal: float) -> bool:
    return value >= goal if key.startswith("scenarios") else value <= goal


if __name__ == "__main__":
    main()
