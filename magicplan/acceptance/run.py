"""The two workflows: `measure` (models + text → acceptance table) and `check` (a real speculative
loop against the Ω the table predicts). torch and transformers are imported inside functions."""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from magicplan.acceptance import inputs
from magicplan.acceptance.checkpoint import Checkpoint, load_tokenizer, resolve
from magicplan.acceptance.measure import Cell, Plan, measure_context
from magicplan.acceptance.table import Run, csv_text, find_row
from magicplan.acceptance.text import prompt_windows, text_tokens, tokens_needed
from magicplan.calibration.torch_runner.progress import progress_bar
from magicplan.cost.speculative import expected_tokens, expected_tokens_positional
from magicplan.errors import MagicplanError
from magicplan.io import atomic_write_text
from magicplan.planner.acceptance_data import load_table

SOURCE = "magicplan acceptance measure"


def _load(path: str | Path, device: str, dtype: str) -> tuple[Checkpoint, Any]:
    from magicplan.acceptance.weights import load_weights

    ckpt = resolve(path)
    return ckpt, load_weights(ckpt.folder, ckpt.spec, ckpt.config, device, dtype)


def _prompts(ids: list[int], context: int, continuation: int, samples: int, device: str) -> Any:
    import torch

    rows = [ids[s] for s in prompt_windows(context, continuation, samples)]
    return torch.tensor(rows, dtype=torch.long, device=device)


def _sampler(temperature: float, seed: int, device: str) -> Any:
    import torch

    from magicplan.calibration.torch_runner.speculative import Sampler

    return Sampler(temperature, torch.Generator(device=device).manual_seed(seed))


def measure(
    model: str | Path, draft: str | None, text: str | Path, plan: Plan, *, device: str = "cpu",
    dtype: str = "bfloat16", seed: int = 0, output: str | Path | None = None, progress: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Measure `plan` on `model` (and `draft`, default self) over `text`; write the CSV table to
    `output` when given. Returns the report (rows, including `full` ones, and timings)."""
    import torch

    start = time.perf_counter()
    inputs.check_methods(plan.methods)
    inputs.check_run(samples=plan.samples, continuation=plan.continuation,
                     temperature=plan.temperature, positions=plan.positions, device=device,
                     dtype=dtype)  # fmt: skip
    inputs.check_contexts(plan.contexts, plan.continuation, [])  # each >= 1 (positions below)
    inputs.check_budgets(plan.methods, plan.budgets, plan.contexts)
    ckpt, target = _load(model, device, dtype)
    d_ckpt, d_weights = _load(draft, device, dtype) if draft not in (None, "self") else (None, None)
    d_spec = d_ckpt.spec if d_ckpt else None
    inputs.check_pair(ckpt.spec, d_spec)
    inputs.check_contexts(
        plan.contexts, plan.continuation, [ckpt.spec, *([d_spec] if d_spec else [])]
    )
    tok = load_tokenizer(ckpt)
    ids = text_tokens(
        tok, text, tokens_needed(list(plan.contexts), plan.continuation, plan.samples)
    )
    cells: list[Cell] = []
    steps = len(plan.contexts) * (1 + len(plan.keys))
    with torch.inference_mode(), progress_bar(steps, "measuring acceptance", progress) as advance:
        for c in sorted(plan.contexts):
            advance(0, f"context {c}")
            prompts = _prompts(ids, c, plan.continuation, plan.samples, device)
            sampler = _sampler(plan.temperature, seed, device)
            cells += measure_context(target, d_weights, prompts, plan, sampler, advance)
    run = Run(target=ckpt.spec.id, draft=d_spec.id if d_spec else "self",
              dataset=Path(text).stem, source=f"{SOURCE} ({Path(text).name})",
              temperature=plan.temperature, prompts=plan.samples,
              continuation=plan.continuation, text=str(text))  # fmt: skip
    if output is not None:
        atomic_write_text(output, csv_text(run, cells))
    return {
        **asdict(run),
        "rows": [
            {"method": c.method, "budget": c.budget, "context": c.context, **asdict(c.summary)}
            for c in cells
        ],
        "output": str(output) if output is not None else None,
        "wall_s": time.perf_counter() - start,
    }


def _counted_rounds(accepted: list[int], gamma: int, scored: int) -> list[int]:
    """The rounds whose γ drafts all fall within the `scored` positions of the continuation (the
    rounds `rates.loop_tokens_per_round` counts): accepted drafts per round."""
    out, start = [], 0
    for k in accepted:
        if start + gamma > scored:
            break
        out.append(k)
        start += k + 1
    return out


def check(
    model: str | Path, table: str | Path, text: str | Path | None, *, method: str, budget: int,
    context: int, gamma: int, temperature: float = 0.0, draft: str | None = None,
    samples: int | None = None, continuation: int | None = None, device: str = "cpu",
    dtype: str = "bfloat16", seed: int = 1, progress: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Run speculative decoding on the table's passages and compare accepted tokens per round
    with Ω predicted from the table's row (α_1..α_γ when it has them, else i.i.d. α)."""
    import torch

    from magicplan.calibration.torch_runner.speculative import speculative_generate

    start = time.perf_counter()
    inputs.check_methods([method], "--kv-method")
    if gamma < 1:
        raise MagicplanError(f"--gamma must be >= 1; got {gamma}")
    for name, given in (("samples", samples), ("continuation", continuation)):
        if given is not None and given < 1:  # 0 is a value given, not "the table's"
            raise MagicplanError(f"--{name} must be >= 1; got {given}")
    if not (temperature >= 0 and math.isfinite(temperature)):
        raise MagicplanError(f"--temperature must be a finite number >= 0; got {temperature}")
    if continuation is not None and gamma >= continuation:
        raise MagicplanError(f"--gamma must be below --continuation ({continuation}); got {gamma}")
    load_table(Path(table))  # the table as plan reads it (a key listed twice is refused)
    ckpt, target = _load(model, device, dtype)
    d_ckpt, d_weights = _load(draft, device, dtype) if draft not in (None, "self") else (None, None)
    key = {"target": ckpt.spec.id, "draft": d_ckpt.spec.id if d_ckpt else "self",
           "method": method, "budget": str(budget if method != "full" else 0),
           "context": str(context)}  # fmt: skip
    row = find_row(Path(table), key, temperature)
    text = text or row.text
    if text is None:
        raise MagicplanError(f"{table}: no 'text' column; give --text")
    samples = samples if samples is not None else (row.prompts or 1)
    continuation = continuation if continuation is not None else (row.continuation or 128)
    if gamma >= continuation:
        raise MagicplanError(
            f"--gamma must be below the continuation ({continuation} tokens); got {gamma}"
        )
    inputs.check_run(samples=samples, continuation=continuation, temperature=temperature,
                     positions=0, device=device, dtype=dtype)  # fmt: skip
    inputs.check_contexts([context], continuation + gamma, [ckpt.spec])
    if method != "full":
        inputs.check_budgets([method], [budget], [context])
    ids = text_tokens(load_tokenizer(ckpt), text, tokens_needed([context], continuation, samples))
    prompts = _prompts(ids, context, continuation, samples, device)
    sampler = _sampler(temperature, seed, device)
    rounds: list[int] = []
    with torch.inference_mode(), progress_bar(samples, "speculative decoding", progress) as advance:
        for j in range(samples):
            _, stats = speculative_generate(target, prompts[j : j + 1], continuation, gamma,
                                            method, budget, d_weights, sampler)  # fmt: skip
            rounds += _counted_rounds(stats.accepted, gamma, continuation - 1)
            advance()
    measured = sum(k + 1 for k in rounds) / max(len(rounds), 1)
    positional = len(row.alpha_by_position) >= gamma
    predicted = float(expected_tokens_positional(row.alpha_by_position[:gamma]) if positional
                      else expected_tokens(gamma, row.alpha))  # fmt: skip
    return {
        **key, "budget": int(key["budget"]), "context": context, "gamma": gamma,
        "temperature": temperature,
        "measured_accepted_per_step": measured,
        "predicted_accepted_per_step": predicted,
        "relative_error": (predicted - measured) / measured,
        "rounds": len(rounds),
        "predicted_from": f"alpha_1..alpha_{gamma}" if positional else "alpha (i.i.d.)",
        "samples": samples, "continuation": continuation, "wall_s": time.perf_counter() - start,
    }  # fmt: skip
