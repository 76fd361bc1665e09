"""Bad input on the command line: exit code 2, one line on stderr naming the field, file or
column and what is allowed, no traceback, nothing on stdout and no partial output file.

Through typer's CliRunner (click ≥ 8.2 keeps stderr apart: `result.stderr`, while
`result.output` interleaves both streams), plus one run of the real console script.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from magicplan.cli import app
from tests.fixtures import GOOD_HARDWARE

pytestmark = pytest.mark.usefixtures("magicdec_default")  # MagicDec's strategies

runner = CliRunner()
HW = ["--hardware", "h100-sxm", "--num-gpus", "8"]
BASE = [*HW, "--model", "llama-3.1-8b"]
EST = ["estimate", *BASE, "--batch", "16", "--context", "8192", "--acceptance", "0.8"]
PLAN = ["plan", *BASE, "--batch", "16", "--context", "8192"]
SCENARIO_HEADER = "gpu,num_gpus,target,draft_model,kv_method,kv_budget,context,batch,gamma,alpha"
SCENARIO_ROW = "h100-sxm,8,llama-3.1-8b,self,streamingllm,512,8192,16,3,0.8"
MEASURED_HEADER = (
    "gpu,num_gpus,target,draft_model,kv_method,kv_budget,context,batch,gamma,"
    "t_autoregressive_ms,gamma_t_draft_ms,t_verify_ms"
)
MEASURED_ROW = "h100-sxm,8,llama-3.1-8b,self,streamingllm,512,8192,16,3,10.0,12.0,11.0"


def invoke(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def bad(*args: str | Path) -> str:
    """Run a command that must fail cleanly; return its one error line."""
    r = invoke(*args)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output, r.output
    assert r.stdout == "", r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


# --- numbers out of range ----------------------------------------------------------------


def est(
    *extra: str, batch: str = "16", context: str = "8192", acceptance: str = "0.8"
) -> list[str]:
    """An `estimate` command line with one field changed."""
    rate = ["--acceptance", acceptance] if acceptance else []
    return ["estimate", *BASE, "--batch", batch, "--context", context, *rate, *extra]


HUGE = "1" + "0" * 22  # beyond 2^53
OUT_OF_RANGE = [
    (est(batch="0"), "batch"),
    (est(batch="-3"), "batch"),
    (est(batch=HUGE), "batch"),
    (est(batch="x"), "--batch"),
    (est(context="0"), "context"),
    (est("--gamma", "0"), "gamma"),
    (est("--gamma", "-2"), "gamma"),
    (est("--kv-budget", "-5"), "kv_budget"),
    (est(acceptance="1.5"), "[0, 1]"),
    (est(acceptance="-0.1"), "[0, 1]"),
    (est(acceptance="nan"), "[0, 1]"),
    (est("--accepted-per-step", "9", acceptance=""), "gamma"),
    (est("--num-gpus", "0"), "num_gpus"),
    (["plan", *BASE, "--batch", "0", "--context", "8192"], "batch"),
    ([*PLAN, "--acceptance", "1.5"], "acceptance"),
    ([*PLAN, "--gammas", "0,2"], "gammas"),
    ([*PLAN, "--gammas", "a,b"], "--gammas"),
    ([*PLAN, "--kv-budgets", "-512"], "kv_budgets"),
    ([*PLAN, "--slo-ms", "-1"], "slo_ms"),
    ([*PLAN, "--top", "0"], "--top"),
    ([*PLAN, "--acceptance", "0.8", "--acceptance-samples", "0"], "acceptance_samples"),
    (["critical-length", *BASE, "--batch", "0"], "batch"),
    (["critical-length", *BASE, "--batch", "16", "--max-context", "0"], "max_context"),
    (["critical-length", *BASE, "--batch", "16", "--max-context", "100"], "max_context"),
    (["break-even", *BASE, "--batch", "64", "--context", "8", "--target-speedup", "-1"], "speedup"),
    (["sweep", *BASE, "--batches", "0,4"], "batch"),
    (["sweep", *BASE, "--contexts", "-5"], "context"),
]


@pytest.mark.parametrize(("args", "names"), OUT_OF_RANGE)
def test_number_out_of_range(args: list[str], names: str) -> None:
    line = bad(*args)
    assert names in line


def test_negative_times_in_measurements(tmp_path: Path) -> None:
    csv = write(tmp_path, "m.csv", f"{MEASURED_HEADER}\n{MEASURED_ROW.replace('10.0', '-10.0')}\n")
    line = bad(
        "fit", "--measurements", csv, "--hardware", "h100-sxm", "--output", tmp_path / "o.yaml"
    )
    assert "t_autoregressive_ms" in line and "positive" in line


# --- unknown ids: the closest are suggested ----------------------------------------------


@pytest.mark.parametrize(
    ("args", "typo", "suggestion"),
    [
        (["hardware", "show", "h100-smx"], "h100-smx", "h100-sxm"),
        (["models", "show", "llama-3.1-8"], "llama-3.1-8", "llama-3.1-8b"),
        (
            [
                "estimate",
                "--hardware",
                "a100-80gb-sxn",
                "--model",
                "llama-3.1-8b",
                "--batch",
                "1",
                "--context",
                "10",
                "--acceptance",
                "0.5",
            ],
            "a100-80gb-sxn",
            "a100-80gb-sxm",
        ),
        ([*EST, "--draft", "llama-3.2-1", "--kv-method", "full"], "llama-3.2-1", "llama-3.2-1b"),
        ([*PLAN, "--drafts", "self,llama-3.2-1bb"], "llama-3.2-1bb", "llama-3.2-1b"),
        (
            ["plan", *HW, "--model", "lama-3.1-8b", "--batch", "1", "--context", "10"],
            "lama-3.1-8b",
            "llama-3.1-8b",
        ),
        (["plot", "speedp", "--output", "x.png"], "speedp", "speedup"),
        (["plann"], "plann", "plan"),
    ],
)
def test_unknown_id_suggests_the_closest(args: list[str], typo: str, suggestion: str) -> None:
    line = bad(*args)
    assert typo in line and suggestion in line


def test_unknown_choices_list_what_is_allowed() -> None:
    assert "streamingllm" in bad(*EST, "--kv-method", "h2o")
    assert "calibrated" in bad(*EST, "--mode", "fast")
    assert "vllm" in bad(*PLAN, "--export", "tgi")
    assert "speedup" in bad("plot", "histogram", "--output", "x.png")


# --- files: missing, empty, malformed, wrong type, missing or misspelled keys ---------------


def test_missing_profile_file(tmp_path: Path) -> None:
    line = bad("hardware", "show", tmp_path / "nowhere.yaml")
    assert "nowhere.yaml" in line and "not found" in line


def test_empty_profile_file(tmp_path: Path) -> None:
    assert "empty" in bad("models", "show", write(tmp_path, "m.yaml", "\n\n"))


def test_malformed_yaml(tmp_path: Path) -> None:
    line = bad("hardware", "show", write(tmp_path, "hw.yaml", "id: [unclosed\nname: x\n"))
    assert "hw.yaml" in line and "malformed YAML" in line


def test_malformed_json_config(tmp_path: Path) -> None:
    path = write(tmp_path, "config.json", '{"model_type": "llama",')
    line = bad(*EST[:5], "--model", path, "--batch", "1", "--context", "10", "--acceptance", "0")
    assert "config.json" in line and "malformed JSON" in line


def test_non_utf8_file(tmp_path: Path) -> None:
    line = bad("hardware", "show", write(tmp_path, "hw.yaml", b"\xff\xfe id: \x80\n"))
    assert "hw.yaml" in line


@pytest.mark.parametrize("top", ["- a\n- b\n", "just text\n", "42\n"])
def test_wrong_top_level_type(tmp_path: Path, top: str) -> None:
    assert "mapping" in bad("hardware", "show", write(tmp_path, "hw.yaml", top))


def test_missing_key(tmp_path: Path) -> None:
    text = GOOD_HARDWARE.replace("vendor: test\n", "")
    line = bad("hardware", "show", write(tmp_path, "hw.yaml", text))
    assert "vendor" in line and "missing" in line


def test_misspelled_key(tmp_path: Path) -> None:
    text = GOOD_HARDWARE.replace("memory_gb: 80", "memory_gbb: 80")
    line = bad("hardware", "show", write(tmp_path, "hw.yaml", text))
    assert "'memory_gbb'" in line and "did you mean memory_gb?" in line


def test_non_numeric_profile_value(tmp_path: Path) -> None:
    text = GOOD_HARDWARE.replace("memory_gb: 80", "memory_gb: lots")
    assert "memory_gb" in bad("hardware", "show", write(tmp_path, "hw.yaml", text))


def test_config_json_missing_key(tmp_path: Path) -> None:
    path = write(tmp_path, "config.json", '{"model_type": "llama", "hidden_size": 64}')
    line = bad("models", "show", path)
    assert "config.json" in line and "num_hidden_layers" in line


def test_yaml_tags_never_execute(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = f"!!python/object/apply:os.system ['touch {marker}']\n"
    bad("hardware", "show", write(tmp_path, "hw.yaml", payload))
    bad("models", "show", write(tmp_path, "m.yaml", "id: x\nname: !!python/name:os.system\n"))
    bad(*PLAN, "--acceptance-table", write(tmp_path, "acc.yaml", f"- {payload}"))
    assert not marker.exists()


CSV_FAULTS = [
    ("", "empty"),
    ("gpu,num_gpus\nh100-sxm,8\n", "missing column"),
    (f"{SCENARIO_HEADER.replace('batch', 'batchsize')}\n{SCENARIO_ROW}\n", "'batchsize'"),
    (f"{SCENARIO_HEADER}\n", "no data rows"),
    (f"{SCENARIO_HEADER}\n{SCENARIO_ROW.replace(',16,', ',sixteen,')}\n", "'batch'"),
    (f"{SCENARIO_HEADER}\n{SCENARIO_ROW},extra\n", "cells"),
    (f"{SCENARIO_HEADER},gpu\n{SCENARIO_ROW},a100-80gb-sxm\n", "'gpu'"),
    (f"{SCENARIO_HEADER}\n{SCENARIO_ROW.replace('0.8', '1.8')}\n", "'alpha' must lie in [0, 1]"),
    (f"{SCENARIO_HEADER}\n{SCENARIO_ROW.replace(',3,', ',0,')}\n", "'gamma' must be"),
    (f"{SCENARIO_HEADER}\n{SCENARIO_ROW.replace(',16,', ',1e300,')}\n", "2^53"),
    (f"{SCENARIO_HEADER}\n{SCENARIO_ROW.replace('h100-sxm', 'h100-sx')}\n", "h100-sxm"),
    (f"{SCENARIO_HEADER}\n{SCENARIO_ROW.replace('8192', 'z' * 200_000)}\n", "CSV"),
]


@pytest.mark.parametrize(("text", "names"), CSV_FAULTS)
def test_bad_scenarios_csv(tmp_path: Path, text: str, names: str) -> None:
    path = write(tmp_path, "s.csv", text)
    line = bad("estimate", "--scenarios", path)
    assert names in line


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("gpu,num_gpus\nh100-sxm,8\n", "missing column"),
        (f"{MEASURED_HEADER}\n{MEASURED_ROW.replace(',16,', ',-16,')}\n", "'batch'"),
        (f"{MEASURED_HEADER}\n{MEASURED_ROW.replace(',8,', ',2.5,')}\n", "'num_gpus'"),
        (f"{MEASURED_HEADER}\n{MEASURED_ROW.replace('self', 'llama-2-7b')}\n", "vocab"),
        (f"{MEASURED_HEADER}\n{MEASURED_ROW.replace('h100-sxm', 'a100-80gb-sxm')}\n", "'gpu'"),
    ],
)
def test_bad_measurements_csv(tmp_path: Path, text: str, names: str) -> None:
    path = write(tmp_path, "m.csv", text)
    out = tmp_path / "out.yaml"
    line = bad("fit", "--measurements", path, "--hardware", "h100-sxm", "--output", out)
    assert names in line
    assert not out.exists()


def test_bad_acceptance_table(tmp_path: Path) -> None:
    assert "column" in bad(*PLAN, "--acceptance-table", write(tmp_path, "a.csv", "target\nx\n"))
    assert "list" in bad(*PLAN, "--acceptance-table", write(tmp_path, "a.yaml", "a: 1\n"))


# --- models and hardware that cannot work together ------------------------------------------


def test_tensor_parallel_degree_that_cannot_split() -> None:
    line = bad(*est("--num-gpus", "3"))
    assert "num_gpus=3" in line and "num_attention_heads" in line
    assert "draft_num_gpus" in bad(*EST, "--draft", "llama-3.2-1b", "--draft-num-gpus", "16")
    assert "draft_num_gpus" in bad(*EST, "--draft", "llama-3.2-1b", "--draft-num-gpus", "0")


def test_tensor_parallel_without_a_link() -> None:
    args = ["--hardware", "apple-m2-ultra", "--num-gpus", "2", "--model", "llama-3.1-8b"]
    for cmd in (["estimate", *args, "--acceptance", "0.5"], ["plan", *args]):
        line = bad(*cmd, "--batch", "1", "--context", "100")
        assert "num_gpus=2" in line and "link" in line


def test_draft_vocabulary_must_match() -> None:
    for cmd in ([*EST, "--draft", "llama-2-7b"], [*PLAN, "--drafts", "llama-2-7b"]):
        line = bad(*cmd)
        assert "llama-2-7b" in line and "vocab" in line


# --- the torch runner: devices ------------------------------------------------------------


@pytest.fixture
def torch_without_cuda() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")


@pytest.mark.usefixtures("torch_without_cuda")
def test_absent_cuda_device(tmp_path: Path) -> None:
    out = tmp_path / "cal.yaml"
    for args in (
        ["calibrate", "--device", "cuda", "--output", str(out), "--quick"],
        ["validate", "--device", "cuda", "--hardware", "h100-sxm"],
    ):
        line = bad(*args)
        assert "--device cuda" in line and "cpu" in line
    assert not out.exists()


@pytest.mark.usefixtures("torch_without_cuda")
@pytest.mark.parametrize(
    ("extra", "names"),
    [
        (["--device", "tpu"], "--device"),
        (["--device", "cpu", "--threads", "0"], "--threads"),
        (["--device", "cpu", "--model", "llama-3.1-8"], "llama-3.1-8b"),
        (["--device", "cpu", "--hardware", "h100-smx"], "h100-sxm"),
    ],
)
def test_bad_calibrate_options(tmp_path: Path, extra: list[str], names: str) -> None:
    out = tmp_path / "cal.yaml"
    assert names in bad("calibrate", "--output", out, "--quick", *extra)
    assert not out.exists()


@pytest.mark.usefixtures("torch_without_cuda")
def test_bad_validate_options() -> None:
    assert "--device" in bad("validate", "--device", "gpu", "--hardware", "h100-sxm")
    assert "h100-sxm" in bad("validate", "--device", "cpu", "--hardware", "h100-smx")


# --- outputs: unwritable paths, no partial or temporary files -------------------------------

WRITERS = {
    "estimate": [*EST, "--output"],
    "plan": [*PLAN, "--output"],
    "sweep": ["sweep", *BASE, "--batches", "1", "--contexts", "1024", "--output"],
    "plot": ["plot", "speedup", "--hardware", "h100-sxm", "--model", "llama-3.1-8b", "--output"],
}
SUFFIX = {"estimate": ".json", "plan": ".json", "sweep": ".csv", "plot": ".png"}


@pytest.mark.parametrize("cmd", sorted(WRITERS))
def test_output_folder_missing(tmp_path: Path, cmd: str) -> None:
    target = tmp_path / "no" / "such" / f"out{SUFFIX[cmd]}"
    line = bad(*WRITERS[cmd], target)
    assert "out" in line and "does not exist" in line
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("cmd", sorted(WRITERS))
def test_output_under_a_file(tmp_path: Path, cmd: str) -> None:
    blocker = write(tmp_path, "file", "not a folder")
    bad(*WRITERS[cmd], blocker / f"out{SUFFIX[cmd]}")
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize("cmd", sorted(WRITERS))
def test_output_is_a_directory(tmp_path: Path, cmd: str) -> None:
    folder = tmp_path / f"out{SUFFIX[cmd]}"
    folder.mkdir()
    assert "director" in bad(*WRITERS[cmd], folder)
    assert list(tmp_path.iterdir()) == [folder] and not any(folder.iterdir())


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
@pytest.mark.parametrize("cmd", sorted(WRITERS))
def test_output_folder_read_only(tmp_path: Path, cmd: str) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        assert "writ" in bad(*WRITERS[cmd], folder / f"out{SUFFIX[cmd]}")
        assert not any(folder.iterdir())
    finally:
        folder.chmod(0o700)


BAD_AFTER_OUTPUT = {
    "estimate": ["--kv-budget", "-1"],
    "plan": ["--gammas", "0"],
    "sweep": ["--kv-budgets", "-1"],
    "plot": ["--acceptance", "2"],
}


@pytest.mark.parametrize("cmd", sorted(WRITERS))
def test_existing_output_untouched_on_bad_input(tmp_path: Path, cmd: str) -> None:
    out = write(tmp_path, f"out{SUFFIX[cmd]}", "previous result")
    bad(*WRITERS[cmd], out, *BAD_AFTER_OUTPUT[cmd])
    assert out.read_text() == "previous result"
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind


def test_fit_leaves_existing_profile_untouched(tmp_path: Path) -> None:
    out = write(tmp_path, "out.yaml", "previous profile")
    csv = write(tmp_path, "m.csv", f"{MEASURED_HEADER}\n{MEASURED_ROW.replace(',16,', ',0,')}\n")
    bad("fit", "--measurements", csv, "--hardware", "h100-sxm", "--output", out)
    assert out.read_text() == "previous profile"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv", "out.yaml"]


def test_good_output_is_written_atomically(tmp_path: Path) -> None:
    """The counterpart: valid input replaces the old file, leaving nothing else behind."""
    out = write(tmp_path, "out.json", "previous result")
    r = invoke(*WRITERS["estimate"], out)
    assert r.exit_code == 0, r.output
    assert out.read_text().lstrip().startswith("{")
    assert list(tmp_path.iterdir()) == [out]


# --- huge but valid input answers sensibly --------------------------------------------------


def test_huge_batch_does_not_fit_and_says_so() -> None:
    r = invoke(
        "estimate",
        *BASE,
        "--batch",
        "1000000000",
        "--context",
        "32000",
        "--acceptance",
        "0.8",
        "--json",
    )
    assert r.exit_code == 0, r.output
    assert '"fits_in_memory": false' in r.stdout and "does not fit" in r.stdout
    r = invoke("plan", *BASE, "--batch", "1000000000", "--context", "32000", "--json")
    assert r.exit_code == 0, r.output
    assert '"best": null' in r.stdout and "nothing fits" in r.stdout


def test_budget_beyond_context_is_clamped_and_said() -> None:
    r = invoke(*EST, "--kv-budget", "100000", "--json")
    assert r.exit_code == 0 and "keeps the whole context" in r.stdout
    r = invoke(*PLAN, "--kv-budgets", "512,100000", "--json")
    assert r.exit_code == 0 and "above the context" in r.stdout


# --- the real console script ----------------------------------------------------------------


def console_script() -> list[str]:
    beside = Path(sys.executable).with_name("magicplan")  # this environment's, not a shim
    found = str(beside) if beside.is_file() else shutil.which("magicplan")
    return [found] if found else [sys.executable, "-c", "from magicplan.cli import main; main()"]


@pytest.mark.parametrize(
    "args",
    [
        [
            "estimate",
            "--hardware",
            "apple-m2-ultra",
            "--num-gpus",
            "2",
            "--model",
            "llama-3.1-8b",
            "--batch",
            "1",
            "--context",
            "100",
            "--acceptance",
            "0.5",
        ],
        ["hardware", "show", "h100-smx"],
    ],
)
def test_console_script_exits_2_without_traceback(args: list[str]) -> None:
    proc = subprocess.run(
        [*console_script(), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr


def test_scenario_columns(tmp_path: Path) -> None:
    """--columns picks the figures each scenario reports; an unknown one is named, with the
    closest, before the file is read."""
    path = write(tmp_path, "s.csv", f"{SCENARIO_HEADER}\n{SCENARIO_ROW}\n")
    r = invoke("estimate", "--scenarios", path, "--columns", "speedup, fits_in_memory")
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.stdout)
    assert {"speedup", "fits_in_memory", "batch"} <= set(row)
    assert "t_verify_ms" not in row and "breakdown" not in row
    assert "did you mean speedup" in bad("estimate", "--scenarios", path, "--columns", "speedupp")
    assert "--scenarios" in bad("estimate", "--columns", "speedup")
    assert "at least one" in bad("estimate", "--scenarios", path, "--columns", " , ")
