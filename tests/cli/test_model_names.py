"""Wherever the CLI takes a model, it takes a checkpoint folder (with config.json) and a Hugging
Face repo id of a shipped profile; Qwen2.5's small drafts pass for its large targets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from magicplan.cli import app
from tests.specs.test_hf_config import CONFIGS, write_config

runner = CliRunner()
HW = ["--hardware", "h100-sxm", "--num-gpus", "8"]
WORK = ["--batch", "16", "--context", "8192"]


def ok(*args: str | Path) -> Any:
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, str]:
    """Checkpoint folders (config.json only), named as users name them, with a trailing '/'."""
    return {
        "target": f"{write_config(tmp_path, 'Meta-Llama-3.1-8B', CONFIGS['llama-3.1-8b']).parent}/",
        "draft": f"{write_config(tmp_path, 'TinyLlama', CONFIGS['tinyllama-1.1b']).parent}/",
        "target2": f"{write_config(tmp_path, 'Llama-2-7b', _llama2()).parent}/",
    }


def _llama2() -> dict[str, Any]:
    shape = {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
             "num_key_value_heads": 32, "max_position_embeddings": 4096}  # fmt: skip
    return CONFIGS["tinyllama-1.1b"] | shape


def test_model_folder_on_every_command(folders: dict[str, str]) -> None:
    model = ["--model", folders["target"]]
    est = ok("estimate", *HW, *model, *WORK, "--acceptance", "0.8", "--json")
    assert est["target"] == "meta-llama-3.1-8b"
    assert ok("plan", *HW, *model, *WORK, "--json")["target"] == "meta-llama-3.1-8b"
    shown = ok("models", "show", folders["target"], "--json")
    assert shown["tokenizer"] == "llama-3"


def test_draft_folder_with_draft_and_drafts(folders: dict[str, str]) -> None:
    target = ["--model", folders["target2"]]
    est = ok("estimate", *HW, *target, *WORK, "--acceptance", "0.8", "--draft", folders["draft"],
             "--json")  # fmt: skip
    assert est["draft_model"] == "tinyllama"
    r = ok("plan", *HW, *target, *WORK, "--acceptance", "0.8", "--drafts", folders["draft"],
           "--json")  # fmt: skip
    assert {c["draft_model"] for c in r["candidates"]} <= {"tinyllama", "none"}


def test_folders_in_a_scenarios_csv(tmp_path: Path, folders: dict[str, str]) -> None:
    csv = tmp_path / "s.csv"
    csv.write_text(
        "gpu,num_gpus,target,draft_model,kv_method,kv_budget,context,batch,gamma,alpha\n"
        f"h100-sxm,8,{folders['target2']},{folders['draft']},streamingllm,512,8192,16,3,0.8\n"
    )
    rows = ok("estimate", "--scenarios", csv)
    assert rows[0]["speedup"] > 0


def test_hugging_face_repo_ids_on_the_command_line() -> None:
    est = ok("estimate", *HW, "--model", "meta-llama/Llama-3.1-8B", *WORK, "--draft",
             "meta-llama/Llama-3.2-1B", "--acceptance", "0.8", "--json")  # fmt: skip
    assert (est["target"], est["draft_model"]) == ("llama-3.1-8b", "llama-3.2-1b")


def test_small_qwen_draft_for_a_large_qwen_target(tmp_path: Path) -> None:
    args = ["--hardware", "h100-sxm", "--num-gpus", "2", "--model", "qwen2.5-7b", *WORK]
    est = ok("estimate", *args, "--draft", "qwen2.5-0.5b", "--acceptance", "0.8", "--json")
    assert est["draft_model"] == "qwen2.5-0.5b" and est["speedup"] > 0
    r = ok("plan", *args, "--acceptance", "0.8", "--json")
    assert "qwen2.5-0.5b" in {c["draft_model"] for c in r["candidates"]}
    # The fit path (measured step tables) checks pairs the same way.
    measured = tmp_path / "m.csv"
    measured.write_text(
        "gpu,num_gpus,target,draft_model,kv_method,kv_budget,context,batch,gamma,"
        "t_autoregressive_ms,gamma_t_draft_ms,t_verify_ms\n"
        "h100-sxm,2,qwen2.5-7b,qwen2.5-0.5b,streamingllm,512,8192,16,3,10.0,12.0,11.0\n"
    )
    out = tmp_path / "fit.yaml"
    r2 = runner.invoke(app, ["fit", "--measurements", str(measured), "--hardware", "h100-sxm",
                             "--output", str(out)])  # fmt: skip
    assert r2.exit_code == 0, r2.output
