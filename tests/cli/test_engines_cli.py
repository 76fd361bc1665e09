"""Engines on the command line (issue 11 items 1 and 3, issue 13 item 10): `magicplan engines
list|show`, `--engine ID|PATH`, `--weight-dtype` and `--kv-dtype` on estimate and plan, and the
engine, weight_dtype and kv_dtype columns of scenarios CSVs.

No `magicdec_default` here: a command without --engine runs on the real default, vLLM."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from magicplan.cli import app
from magicplan.estimate import estimate
from magicplan.planner import plan
from magicplan.specs import list_engines
from tests.specs.test_engine import GOOD_ENGINE

runner = CliRunner()
WORK = ["--hardware", "h100-sxm", "--model", "llama-3.1-8b", "--batch", "16", "--context", "8192"]
EST = ["estimate", *WORK, "--acceptance", "0.8", "--json"]
PLAN = ["plan", *WORK, "--acceptance", "0.8", "--top", "1", "--json"]


def ok(*args: str | Path) -> Any:
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout) if "--json" in args or "--scenarios" in args else r.stdout


def bad(*args: str | Path) -> str:
    """The one error line of a command that must fail cleanly (exit 2, nothing on stdout)."""
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 2 and r.stdout == "", r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


@pytest.fixture(scope="module")
def my_engine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("engines") / "my-engine.yaml"
    path.write_text(yaml.safe_dump(GOOD_ENGINE, sort_keys=False))
    return path


# --- magicplan engines list | show -----------------------------------------------------------


def test_engines_list() -> None:
    out = ok("engines", "list")
    for e in list_engines():  # each id whole: not only as part of a longer one (vllm-v0)
        assert re.search(rf"(?<![\w.-]){re.escape(e.id)}(?![\w.-])", out), e.id
    assert "vllm (default)" in out and "magicdec (default)" not in out
    data = ok("engines", "list", "--json")
    assert [e["id"] for e in data] == [e.id for e in list_engines()]
    assert [e["id"] for e in data if e["default"]] == ["vllm"]
    by_id = {e["id"]: e for e in data}
    assert by_id["magicdec"]["speculative"]["compressed_draft_kv"] is True
    assert by_id["vllm"]["parameters"]["step_overhead_us"] == 1081.0


def test_engines_show(my_engine: Path) -> None:
    out = ok("engines", "show", "vllm")
    assert "parameters.step_overhead_us" in out and "1,081" in out
    assert "calibrated on h100-sxm" in out and "speculative.draft_kinds" in out
    data = ok("engines", "show", "vllm", "--json")
    assert data["id"] == "vllm" and data["default"] is True
    assert data["speculative"]["export"] == "vllm"
    assert [c["hardware"] for c in data["calibrations"]][:1] == ["h100-sxm"]
    mine = ok("engines", "show", str(my_engine), "--json")
    assert mine["id"] == "my-engine" and mine["default"] is False
    assert mine["parameters"]["step_overhead_us"] == 120.0


def test_an_unknown_engine_is_one_line() -> None:
    line = bad("engines", "show", "vlm")
    assert "unknown id 'vlm'" in line and "did you mean vllm" in line
    assert "magicplan engines list" in line
    assert "unknown id 'tgi'" in bad("estimate", *WORK, "--acceptance", "0.8", "--engine", "tgi")
    assert "file not found" in bad("plan", *WORK, "--engine", "./nowhere/engine.yaml")


# --- --engine, --weight-dtype, --kv-dtype ----------------------------------------------------

# Llama-3.1-8B by hand: 6,979,321,856 linear weights, 1,050,939,392 others (embedding, LM head,
# 65 norms); KV 2 × 32 layers × 8 KV heads × 128 × 2 B = 131,072 B per token in bf16.
LINEAR, REST = 6_979_321_856, 1_050_939_392


def test_estimate_on_an_engine_in_a_weight_and_kv_format(my_engine: Path) -> None:
    default = ok(*EST)
    assert default["engine"] == "vllm"
    assert default["memory"]["weights_gb"] == pytest.approx((LINEAR + REST) * 2 / 1e9)
    quant = ok(*EST, "--weight-dtype", "awq-int4", "--kv-dtype", "fp8")
    assert quant["engine"] == "vllm"
    # AWQ: 0.5 + 2.5/128 bytes per linear weight, embeddings and LM head in bf16.
    assert quant["memory"]["weights_gb"] == pytest.approx(
        (LINEAR * (0.5 + 2.5 / 128) + REST * 2) / 1e9
    )
    # fp8 halves the KV cache, the draft's included.
    assert quant["memory"]["kv_gb"] == pytest.approx(default["memory"]["kv_gb"] / 2)
    assert quant["memory"]["draft_kv_gb"] == pytest.approx(default["memory"]["draft_kv_gb"] / 2)
    # A quarter-weight, half-KV step reads less than half the bytes: the AR step is faster.
    assert quant["t_autoregressive_ms"] < 0.6 * default["t_autoregressive_ms"]
    mine = ok(*EST, "--engine", str(my_engine))
    assert mine["engine"] == "my-engine"
    assert mine["t_autoregressive_ms"] != pytest.approx(default["t_autoregressive_ms"])
    assert ok(*EST, "--engine", "sglang")["engine"] == "sglang"


def test_plan_on_an_engine_in_a_weight_and_kv_format() -> None:
    default = ok(*PLAN)
    assert default["engine"] == "vllm" and "beyond_engine" in default
    on_sglang = ok(*PLAN, "--engine", "sglang")
    assert on_sglang["engine"] == "sglang"
    assert on_sglang["autoregressive"] != default["autoregressive"]
    quant = ok(*PLAN, "--weight-dtype", "awq-int4", "--kv-dtype", "fp8")
    ar, ar_quant = default["autoregressive"], quant["autoregressive"]
    assert ar_quant["t_spec_per_token_ms"] < 0.6 * ar["t_spec_per_token_ms"]


@pytest.mark.parametrize("command", [EST, PLAN])
def test_a_bad_format_is_one_line(command: list[str]) -> None:
    line = bad(*command, "--kv-dtype", "int4")
    assert line == "error: kv_dtype must be one of bfloat16, float16, fp8, float32; got 'int4'"
    line = bad(*command, "--weight-dtype", "int3")
    assert line.startswith("error: weight_dtype must be one of ") and "awq-int4" in line


# --- scenarios CSVs: engine, weight_dtype, kv_dtype columns ----------------------------------

ESTIMATE_CSV = """\
gpu,num_gpus,target,draft_model,kv_method,kv_budget,context,batch,gamma,alpha,engine,weight_dtype,kv_dtype
h100-sxm,1,llama-3.1-8b,llama-3.2-1b,full,0,8192,16,3,0.8,,,
h100-sxm,1,llama-3.1-8b,llama-3.2-1b,full,0,8192,16,3,0.8,vllm,,
h100-sxm,1,llama-3.1-8b,llama-3.2-1b,full,0,8192,16,3,0.8,vllm,awq-int4,fp8
"""


def test_estimate_scenarios_with_engine_and_format_columns(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(ESTIMATE_CSV)
    blank, vllm, quant = ok("estimate", "--scenarios", path, "--engine", "sglang")
    assert blank["engine"] == "sglang"  # a blank cell: the command's --engine
    assert vllm["engine"] == "vllm" and quant["engine"] == "vllm"
    assert quant["t_autoregressive_ms"] < 0.6 * vllm["t_autoregressive_ms"]
    # Each row as the Python API estimates it (the draft's cache follows the KV format).
    kw: dict[str, Any] = dict(gamma=3, draft="llama-3.2-1b", kv_method="full", kv_budget=0,
                              acceptance=0.8, engine="vllm")  # fmt: skip
    for row, formats in ((vllm, {}), (quant, {"weight_dtype": "awq-int4", "kv_dtype": "fp8"})):
        api = estimate("h100-sxm", 1, "llama-3.1-8b", 16, 8192, **kw, **formats)
        for key in ("t_autoregressive_ms", "t_draft_ms", "t_verify_ms", "speedup"):
            assert row[key] == pytest.approx(api[key]), key
        assert row["memory"] == pytest.approx(api["memory"])
    # Without --engine, a blank cell is the default engine.
    assert ok("estimate", "--scenarios", path)[0]["engine"] == "vllm"


def test_estimate_scenarios_take_the_commands_formats_for_blank_cells(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(ESTIMATE_CSV)
    blank, _, quant = ok("estimate", "--scenarios", path, "--weight-dtype", "awq-int4",
                         "--kv-dtype", "fp8")  # fmt: skip
    assert blank["t_autoregressive_ms"] == pytest.approx(quant["t_autoregressive_ms"])
    assert blank["memory"] == pytest.approx(quant["memory"])


PLAN_CSV = """\
gpu,num_gpus,target,batch,context,draft_model,kv_method,engine,weight_dtype,kv_dtype
h100-sxm,1,llama-3.1-8b,16,8192,llama-3.2-1b,full,,,
h100-sxm,1,llama-3.1-8b,16,8192,llama-3.2-1b,full,sglang,awq-int4,fp8
h100-sxm,1,llama-3.1-8b,16,8192,llama-3.2-1b,full,,,bfloat16
"""


def test_plan_scenarios_with_engine_and_format_columns(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(PLAN_CSV)
    first, second, third = ok("plan", "--scenarios", path, "--acceptance", "0.8",
                              "--engine", "vllm", "--kv-dtype", "fp8", "--top", "1")  # fmt: skip
    assert first["engine"] == "vllm" and second["engine"] == "sglang"
    # Each row as `plan` plans it: a blank cell takes the command's option, a cell overrides it.
    kw: dict[str, Any] = dict(drafts=["llama-3.2-1b"], kv_methods=["full"], acceptance=0.8,
                              top=1)  # fmt: skip
    for row, served in ((first, dict(engine="vllm", kv_dtype="fp8")),
                        (second, dict(engine="sglang", weight_dtype="awq-int4", kv_dtype="fp8")),
                        (third, dict(engine="vllm", kv_dtype="bfloat16"))):  # fmt: skip
        api = plan("h100-sxm", 1, "llama-3.1-8b", 16, 8192, **kw, **served)
        for key in ("best", "autoregressive"):
            got, want = row[key], api[key]
            assert got["t_spec_per_token_ms"] == pytest.approx(want["t_spec_per_token_ms"])
            assert got["memory_per_gpu_gb"] == pytest.approx(want["memory_per_gpu_gb"])
    assert (
        third["autoregressive"]["memory_per_gpu_gb"] > first["autoregressive"]["memory_per_gpu_gb"]
    )
