"""Bad profile input raises MagicplanError naming the field or file, and never runs code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from magicplan.errors import MagicplanError
from magicplan.specs import load_hardware, load_model
from magicplan.specs.registry import profiles_dir
from tests.fixtures import GOOD_HARDWARE

GOOD_MODEL = """\
id: test-model
name: Test model
architecture: llama
hidden_size: 4096
intermediate_size: 11008
num_layers: 32
num_attention_heads: 32
num_kv_heads: 32
vocab_size: 32000
max_position_embeddings: 4096
source: "test config.json"
"""


def write(tmp_path: Path, text: str, name: str = "profile.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_fixtures_load(tmp_path: Path) -> None:
    assert load_hardware(write(tmp_path, GOOD_HARDWARE)).id == "test-gpu"
    assert load_model(write(tmp_path, GOOD_MODEL, "m.yaml")).id == "test-model"


# --- unknown ids and missing or malformed files --------------------------------------------


def test_unknown_hardware_id_suggests_close_matches() -> None:
    with pytest.raises(MagicplanError, match="h100-smx") as info:
        load_hardware("h100-smx")
    assert "h100-sxm" in str(info.value)
    assert "magicplan hardware list" in str(info.value)


def test_unknown_model_id_suggests_close_matches() -> None:
    with pytest.raises(MagicplanError) as info:
        load_model("llama-3.1-8")
    assert "llama-3.1-8b" in str(info.value)


def test_unknown_id_without_close_match() -> None:
    with pytest.raises(MagicplanError, match="unknown id 'zzzzzzzz'") as info:
        load_hardware("zzzzzzzz")
    assert "did you mean" not in str(info.value)


def test_empty_id() -> None:
    with pytest.raises(MagicplanError, match="required"):
        load_hardware("")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "gpu.yaml"
    with pytest.raises(MagicplanError, match="file not found") as info:
        load_hardware(path)
    assert str(path) in str(info.value)
    with pytest.raises(MagicplanError, match="file not found"):
        load_model(tmp_path / "config.json")


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(MagicplanError, match="empty"):
        load_hardware(write(tmp_path, "  \n"))


def test_malformed_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "id: [unclosed\nname: x\n")
    with pytest.raises(MagicplanError, match="malformed YAML") as info:
        load_hardware(path)
    assert str(path) in str(info.value)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(MagicplanError, match="mapping"):
        load_model(write(tmp_path, "- id: a\n- id: b\n"))


def test_python_tag_does_not_execute(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = f"!!python/object/apply:os.system ['touch {marker}']\n"
    for loader in (load_hardware, load_model):
        with pytest.raises(MagicplanError, match=r"profile\.yaml"):
            loader(write(tmp_path, payload))
    nested = GOOD_HARDWARE + f"notes: !!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(MagicplanError):
        load_hardware(write(tmp_path, nested))
    assert not marker.exists()


# --- schema violations --------------------------------------------------------------------


def _without(text: str, key: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith(key))


@pytest.mark.parametrize("field", ["memory_gb", "hbm_bandwidth_tb_s", "name", "vendor"])
def test_missing_hardware_field(tmp_path: Path, field: str) -> None:
    path = write(tmp_path, _without(GOOD_HARDWARE, f"{field}:"))
    with pytest.raises(MagicplanError, match=field) as info:
        load_hardware(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("field", ["hidden_size", "num_kv_heads", "source"])
def test_missing_model_field(tmp_path: Path, field: str) -> None:
    with pytest.raises(MagicplanError, match=field):
        load_model(write(tmp_path, _without(GOOD_MODEL, f"{field}:")))


def test_negative_hardware_field(tmp_path: Path) -> None:
    text = GOOD_HARDWARE.replace("memory_gb: 80", "memory_gb: -80")
    with pytest.raises(MagicplanError, match="memory_gb") as info:
        load_hardware(write(tmp_path, text))
    assert "greater than 0" in str(info.value)


def test_negative_model_field(tmp_path: Path) -> None:
    text = GOOD_MODEL.replace("num_layers: 32", "num_layers: -1")
    with pytest.raises(MagicplanError, match="num_layers"):
        load_model(write(tmp_path, text))


def test_wrong_type_field(tmp_path: Path) -> None:
    text = GOOD_HARDWARE.replace("hbm_bandwidth_tb_s: 2.0", "hbm_bandwidth_tb_s: fast")
    with pytest.raises(MagicplanError, match="hbm_bandwidth_tb_s"):
        load_hardware(write(tmp_path, text))


def test_unknown_key(tmp_path: Path) -> None:
    with pytest.raises(MagicplanError, match="memory_tib") as info:
        load_hardware(write(tmp_path, GOOD_HARDWARE + "memory_tib: 80\n"))
    assert "unknown key" in str(info.value)
    with pytest.raises(MagicplanError, match="hidden_dim"):
        load_model(write(tmp_path, GOOD_MODEL + "hidden_dim: 4096\n"))


def test_unsourced_number(tmp_path: Path) -> None:
    text = GOOD_HARDWARE.replace("sources:", "tdp_w: 700\nsources:")
    with pytest.raises(MagicplanError, match="tdp_w") as info:
        load_hardware(write(tmp_path, text))
    assert "sources" in str(info.value)


def test_source_naming_an_unknown_field(tmp_path: Path) -> None:
    text = GOOD_HARDWARE.replace("fields: [memory_gb,", "fields: [memory_capacity, memory_gb,")
    with pytest.raises(MagicplanError, match="memory_capacity"):
        load_hardware(write(tmp_path, text))


def test_no_peak_compute_figure(tmp_path: Path) -> None:
    text = GOOD_HARDWARE.replace("bf16_dense_tflops: 300\n", "").replace(
        ", bf16_dense_tflops]", "]"
    )
    with pytest.raises(MagicplanError, match="bf16_dense_tflops"):
        load_hardware(write(tmp_path, text))


def test_figure_in_wrong_unit_is_rejected(tmp_path: Path) -> None:
    # PyYAML reads '3.35e12' as a string (YAML 1.1) and pydantic's lax mode turns it into a
    # float; the unit guard (upper bound) catches a bandwidth written in B/s instead of TB/s.
    text = GOOD_HARDWARE.replace("hbm_bandwidth_tb_s: 2.0", "hbm_bandwidth_tb_s: 3.35e12")
    with pytest.raises(MagicplanError, match="hbm_bandwidth_tb_s"):
        load_hardware(write(tmp_path, text))


def test_bad_model_cross_fields(tmp_path: Path) -> None:
    text = GOOD_MODEL.replace("num_kv_heads: 32", "num_kv_heads: 5")
    with pytest.raises(MagicplanError, match="num_kv_heads"):
        load_model(write(tmp_path, text))
    text = GOOD_MODEL + "local_layers: 4\n"
    with pytest.raises(MagicplanError, match="local_layers"):
        load_model(write(tmp_path, text))


def test_shipped_profiles_use_plain_numbers() -> None:
    # Every shipped numeric value is a YAML number, never a string such as '3.35e12'.
    for kind in ("hardware_profiles", "model_profiles"):
        for path in sorted(profiles_dir(kind).glob("*.yaml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            for key, value in data.items():
                if isinstance(value, str):
                    assert not _looks_numeric(value), (path.name, key, value)


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_memory_in_gib_is_taken_verbatim_and_one_of_two(tmp_path: Path) -> None:
    # A datasheet's "80 GB" of HBM is 80 GiB = 80 · 2^30 = 85,899,345,920 bytes.
    text = GOOD_HARDWARE.replace("memory_gb: 80", "memory_gib: 80").replace(
        "[memory_gb,", "[memory_gib,"
    )
    assert load_hardware(write(tmp_path, text)).memory_bytes == pytest.approx(85_899_345_920)
    both = GOOD_HARDWARE.replace("memory_gb: 80", "memory_gb: 80\nmemory_gib: 80")
    with pytest.raises(MagicplanError, match="memory_gb or memory_gib"):
        load_hardware(write(tmp_path, both))


@pytest.mark.parametrize(
    ("memory", "message"),
    [
        ("", "give memory_gb (decimal GB) or memory_gib"),
        ("memory_gib: eighty", "memory_gib must be a number in (0, 1e5) GiB; got 'eighty'"),
        ("memory_gib: true", "memory_gib must be a number in (0, 1e5) GiB; got True"),
    ],
)
def test_a_bad_or_missing_memory_figure_is_named(tmp_path: Path, memory: str, message: str) -> None:
    # They read "field 'memory_gb': required field is missing", a key the file never used.
    text = GOOD_HARDWARE.replace("memory_gb: 80", memory).replace("[memory_gb,", "[")
    with pytest.raises(MagicplanError, match=re.escape(message)):
        load_hardware(write(tmp_path, text))
