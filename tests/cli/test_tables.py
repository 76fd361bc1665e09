"""Terminal tables at 80 columns: ids (what a user copies) are never cut off; other columns wrap
or are left out, and the caption says which."""

from __future__ import annotations

import re
from typing import Any

import pytest
from typer.testing import CliRunner

from magicplan.cli import app
from magicplan.specs import list_hardware, list_models

runner = CliRunner()


def shown_at(width: int, *args: str) -> str:
    r = runner.invoke(app, list(args), env={"COLUMNS": str(width)})
    assert r.exit_code == 0, r.output
    assert max(len(line) for line in r.output.splitlines()) <= width
    # the console crops a line that overflows: every table row must end in its right border
    rows = [ln.rstrip() for ln in r.output.splitlines() if ln[:1] in set("┏┃┡│└")]
    cropped = [ln for ln in rows if ln[-1] not in set("┓┃┩│┘")]
    assert not cropped, cropped[:2]
    return r.output


def whole(word: str, text: str) -> bool:
    """`word` appears in `text` in one piece (not as part of a longer id)."""
    return re.search(rf"(?<![\w.-]){re.escape(word)}(?![\w.-])", text) is not None


@pytest.mark.parametrize("width", [80, 60])
@pytest.mark.parametrize(("group", "ids"), [("models", list_models), ("hardware", list_hardware)])
def test_list_prints_every_id_whole(width: int, group: str, ids: Any) -> None:
    out = shown_at(width, group, "list")
    assert "…" not in out
    missing = [m.id for m in ids() if not whole(m.id, out)]
    assert not missing, missing


def test_left_out_columns_are_named() -> None:
    out = shown_at(60, "models", "list")
    assert "left out at this width:" in out and "KV B/token" in out


def test_plan_and_sweep_tables_keep_draft_ids_whole() -> None:
    base = ["--hardware", "h100-sxm", "--num-gpus", "8", "--model", "llama-3.1-70b"]
    plan = shown_at(60, "plan", *base, "--batch", "16", "--context", "32000",
                    "--acceptance", "0.8")  # fmt: skip
    assert whole("llama-3.2-1b", plan) and "…" not in plan
    sweep = shown_at(60, "sweep", *base, "--batches", "1", "--contexts", "4096",
                     "--draft", "self,llama-3.2-1b")  # fmt: skip
    assert whole("llama-3.2-1b", sweep) and "…" not in sweep


@pytest.mark.parametrize("width", [80, 60])
@pytest.mark.parametrize(
    "args",
    [
        ("engines", "list"),
        ("engines", "show", "llama.cpp"),
        ("hardware", "show", "h100-sxm"),
        ("models", "show", "llama-3.1-8b"),
    ],
)
def test_tables_fit_the_console_and_show_tables_keep_their_values(
    width: int, args: tuple[str, ...]
) -> None:
    out = shown_at(width, *args)
    if args[1] == "show":  # the value column is what a user came for: wrapped, never left out
        assert "left out at this width" not in out
    else:
        assert whole("hf-transformers", out) and whole("deepspeed-mii", out)


@pytest.mark.parametrize("width", [60, 50])
def test_a_narrow_sweep_keeps_its_answer(width: int) -> None:
    # The speedup (and, while it fits, γ) is the sweep's answer: the KV columns go first (at 60
    # columns it used to drop gamma and speedup and keep kv_budget).
    out = shown_at(width, "sweep", "--hardware", "a100-80gb-pcie", "--model", "qwen2.5-7b",
                   "--drafts", "qwen2.5-0.5b,qwen2.5-1.5b", "--batches", "1,64",
                   "--contexts", "4k,32k")  # fmt: skip
    header = next(ln for ln in out.splitlines() if ln.startswith("┃"))
    assert "speedup" in header and "context" in header and "kv_budget" not in header
    assert ("gamma" in header) == (width == 60)
