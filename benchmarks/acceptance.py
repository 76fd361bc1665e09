"""How long `magicplan acceptance measure` takes for the issue's table (not a test).

    bash .ci/fetch_acceptance_data                # SmolLM2-135M GGUF and the KJV text
    python benchmarks/acceptance.py [--json] [--output TABLE.csv]

acceptance_table_s  wall time of one in-process `measure`: SmolLM2-135M-Instruct (Q4_1 GGUF,
                    already converted into the cache: the first conversion adds ~25 s),
                    streamingllm and snapkv x budgets 64, 128, 256 x contexts 512, 1024, 2048,
                    4 prompts of the King James text per context, 128 generated tokens each,
                    greedy, bfloat16 on the CPU. Goal: under 5 minutes on the 2-core VM.
rises_with_budget   whether α grows with the budget for every method and context.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / ".cache" / "SmolLM2-135M-Instruct.Q4_1.gguf"
TEXT = ROOT / ".cache" / "kjv.txt"
GOAL_S = 300.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON line")
    parser.add_argument("--output", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()
    if not (MODEL.is_file() and TEXT.is_file()):
        sys.exit("run `bash .ci/fetch_acceptance_data` first (model and text into .cache/)")
    from magicplan.acceptance.measure import Plan
    from magicplan.acceptance.run import measure

    plan = Plan(methods=("streamingllm", "snapkv"), budgets=(64, 128, 256),
                contexts=(512, 1024, 2048), samples=4, continuation=128, temperature=0.0,
                positions=4)  # fmt: skip
    warm = replace(plan, contexts=(128,), budgets=(64,), samples=1, continuation=4, positions=0)
    measure(MODEL, None, TEXT, warm, progress=False)  # imports, weights, first kernels
    start = time.perf_counter()
    report = measure(MODEL, None, TEXT, plan, output=args.output, progress=not args.json)
    seconds = time.perf_counter() - start
    rows = report["rows"]
    rises = all(
        [r["alpha"] for r in rows if (r["method"], r["context"]) == (m, c)]
        == sorted(r["alpha"] for r in rows if (r["method"], r["context"]) == (m, c))
        for m in plan.methods
        for c in plan.contexts
    )
    out = {"acceptance_table_s": round(seconds, 1), "rows": len(rows),
           "rises_with_budget": rises}  # fmt: skip
    if args.json:
        print(json.dumps(out))
        return
    for r in rows:
        print(f"{r['method']:>12} {r['budget']:>4} {r['context']:>5}  α {r['alpha']:.3f}")
    print(f"acceptance_table_s {seconds:.0f} (goal ≤ {GOAL_S:.0f}); α rises with budget: {rises}")


if __name__ == "__main__":
    main()
