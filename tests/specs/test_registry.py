"""How a model is named: shipped id, Hugging Face repo id of a shipped profile, YAML, config.json
or a checkpoint folder holding one (issue 13.3, issue 15.8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from magicplan.errors import MagicplanError
from magicplan.specs import load_hardware, load_model
from tests.specs.test_hf_config import CONFIGS, write_config


def test_checkpoint_folder_is_a_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_config(tmp_path, "Meta-Llama-3-8B", CONFIGS["llama-3.1-8b"]).parent
    shipped = load_model("llama-3.1-8b")
    for name in (folder, str(folder), f"{folder}/"):
        assert load_model(name).num_parameters == shipped.num_parameters
    monkeypatch.chdir(tmp_path)  # a folder in the working directory, named without a path
    assert load_model("Meta-Llama-3-8B").num_parameters == shipped.num_parameters
    assert load_model("./Meta-Llama-3-8B/").num_parameters == shipped.num_parameters


def test_folder_without_config_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()
    with pytest.raises(MagicplanError, match=r"holds no config\.json"):
        load_model(tmp_path / "weights")


def test_model_loader_maps_a_path_to_the_file_it_reads(tmp_path: Path) -> None:
    from magicplan.specs.registry import model_loader

    config = write_config(tmp_path, "ckpt", CONFIGS["qwen2.5-7b"])
    assert model_loader(config.parent)[0] == config
    assert model_loader(config)[0] == config


@pytest.mark.parametrize(
    ("repo", "model_id"),
    [
        ("meta-llama/Llama-3.1-8B", "llama-3.1-8b"),  # the renamed repo (hf_aliases)
        ("meta-llama/Meta-Llama-3.1-8B", "llama-3.1-8b"),
        ("Qwen/Qwen2.5-32B-Instruct", "qwen2.5-32b"),
        ("qwen/qwen2.5-32b-instruct", "qwen2.5-32b"),  # the Hub's ids ignore case
        ("meta-llama/Llama-3.1-70B", "llama-3.1-70b"),
    ],
)
def test_hugging_face_repo_id_resolves_to_the_shipped_profile(repo: str, model_id: str) -> None:
    assert load_model(repo).id == model_id


def test_unknown_repo_id_is_one_clear_line() -> None:
    with pytest.raises(MagicplanError) as info:
        load_model("meta-llama/Llama-3.1-9B")
    message = str(info.value)
    assert "hf_id" in message and "meta-llama/Llama-3.1-9B" in message and "\n" not in message


def test_ids_are_matched_whatever_their_case() -> None:
    assert load_model("Qwen2.5-7B").id == "qwen2.5-7b"
    assert load_hardware("H100-SXM").id == "h100-sxm"


@pytest.mark.parametrize(
    ("name", "engine_id"),
    [
        ("vllm", "vllm"),
        ("vLLM==0.6.3", "vllm-v0"),  # a V0 release line (V1 is the default from 0.8.0)
        ("vllm@0.5.4", "vllm-v0"),
        ("vllm v0.10.1", "vllm"),
        ("vllm 0.12", "vllm"),  # a release no alias names: the name alone, the newest line
        ("vllm-v0", "vllm-v0"),
        ("TensorRT-LLM", "trtllm"),
        ("tensorrt_llm", "trtllm"),
        ("Ollama", "llama.cpp"),
        ("transformers", "hf-transformers"),
        ("SGLang 0.4.1", "sglang"),
        ("exllamav2", "exllamav2"),
    ],
)
def test_engines_are_found_by_alias_and_versioned_name(name: str, engine_id: str) -> None:
    from magicplan.specs import load_engine

    assert load_engine(name).id == engine_id


def test_engine_key_normalizes_spelling_and_version() -> None:
    from magicplan.specs.registry import engine_key

    assert engine_key("vLLM==0.6.3") == engine_key("vllm v0.6.3") == "vllm-0.6.3"
    assert engine_key("TensorRT LLM") == "tensorrt-llm"
    assert engine_key("exllamav2") == "exllamav2"  # a digit in the name is not a version


def test_unknown_engine_is_one_clear_line_with_a_suggestion() -> None:
    from magicplan.specs import load_engine

    with pytest.raises(MagicplanError, match=r"engine: unknown id 'vlm' \(did you mean vllm"):
        load_engine("vlm")


@pytest.mark.parametrize(
    ("repo", "model_id"),
    [
        ("meta-llama/Llama-3.1-8B-Instruct", "llama-3.1-8b"),
        ("meta-llama/Meta-Llama-3.1-8B-Instruct", "llama-3.1-8b"),
        ("meta-llama/Llama-3.2-1B-Instruct", "llama-3.2-1b"),
        ("Qwen/Qwen2.5-0.5B-Instruct", "qwen2.5-0.5b"),
        ("Qwen/Qwen2.5-7B", "qwen2.5-7b"),
        ("mistralai/Mistral-7B-Instruct-v0.3", "mistral-7b-v0.3"),
        ("google/gemma-2-9b-it", "gemma-2-9b"),
    ],
)
def test_instruct_and_base_repo_ids_name_one_profile(repo: str, model_id: str) -> None:
    # A post-trained variant has its base's architecture: both repo ids name the profile.
    assert load_model(repo).id == model_id
