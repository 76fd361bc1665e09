"""Engine profiles (issue 11 item 1): the shipped ones load and validate, the required ids and
the default exist, and a bad engine YAML is one clear line naming what is wrong."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from magicplan.errors import MagicplanError
from magicplan.specs import list_engines, list_hardware, load_engine
from magicplan.specs.registry import DEFAULT_ENGINE, as_engine, profiles_dir

REQUIRED_IDS = {"magicdec", "gpt-fast", "vllm", "sglang", "trtllm", "hf-transformers"}

CITED = ["step_overhead_us", "layer_overhead_us", "allreduce_latency_us", "link_efficiency",
         "attention_efficiency", "memory_utilization"]  # fmt: skip
GOOD_ENGINE: dict[str, Any] = {
    "id": "my-engine",
    "name": "My engine",
    "cuda_graphs": True,
    "attention_kernel": "paged decode",
    "allreduce": "NCCL",
    "memory_utilization": 0.85,
    "parameters": {
        "step_overhead_us": 120.0,
        "layer_overhead_us": 4.0,
        "allreduce_latency_us": 10.0,
        "link_efficiency": 0.6,
        "attention_efficiency": 0.7,
    },
    "speculative": {"draft_kinds": ["draft_model", "eagle"], "compressed_draft_kv": False},
    "calibrations": [
        {
            "hardware": "h100-sxm",
            "values": {"layer_overhead_us": 3.0},
            "provenance": {"method": "fit", "source": "my six rows"},
        }
    ],
    "sources": [{"fields": CITED, "citation": "my measurements"}],
}


def write(tmp_path: Path, data: dict[str, Any], name: str = "engine.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_every_shipped_profile_loads_under_its_file_name() -> None:
    files = sorted(p.stem for p in profiles_dir("engine_profiles").glob("*.yaml"))
    engines = list_engines()
    assert [e.id for e in engines] == files  # `--engine ID` finds the file named ID
    assert set(files) >= REQUIRED_IDS
    shipped_hardware = {h.id for h in list_hardware()}
    for e in engines:
        assert load_engine(e.id) is e  # one parse per file version
        # An engine × hardware calibration names a shipped part (else it never applies).
        assert {c.hardware for c in e.calibrations} <= shipped_hardware, e.id


def test_the_default_engine() -> None:
    assert DEFAULT_ENGINE == "vllm"
    assert load_engine(None).id == "vllm" == load_engine().id


def test_features_and_calibrations_of_a_shipped_profile() -> None:
    vllm, magicdec = load_engine("vllm"), load_engine("magicdec")
    assert vllm.runs("draft_model") and vllm.runs("eagle3") and not vllm.runs("self")
    assert magicdec.runs("self") and magicdec.speculative.compressed_draft_kv
    h100 = vllm.calibration_on("h100-sxm")
    assert h100 is not None and h100.values.attention_floor_us == 7.483  # FA3 paged on Hopper
    assert vllm.calibration_on("a100-80gb-sxm") is None  # the engine's own values apply there


def test_load_by_path_and_by_spec(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_ENGINE)
    engine = load_engine(path)
    assert engine.id == "my-engine" and engine.memory_utilization == 0.85
    assert load_engine(str(path)) == engine
    assert engine.calibration_on("h100-sxm").values.layer_overhead_us == 3.0  # type: ignore[union-attr]
    assert as_engine(engine) is engine and as_engine(None) is None
    assert as_engine(str(path)) == engine
    # The shipped id is found however it is capitalised; a path does not need the id's name.
    assert load_engine("VLLM").id == "vllm"


def test_an_unknown_id_is_one_line_with_a_suggestion() -> None:
    with pytest.raises(MagicplanError) as info:
        load_engine("vlm")
    msg = str(info.value)
    assert "engine: unknown id 'vlm'" in msg and "did you mean" in msg and "vllm" in msg
    assert "magicplan engines list" in msg and "\n" not in msg
    with pytest.raises(MagicplanError, match="an engine id, a profile path"):
        as_engine(3.5)  # type: ignore[arg-type]


def _set(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A deep copy of `data` with `dotted` set to `value` (deleted when value is DELETE)."""
    out = copy.deepcopy(data)
    *parents, key = dotted.split(".")
    node: Any = out
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if value is DELETE:
        del node[key]
    else:
        node[key] = value
    return out


DELETE = object()


@pytest.mark.parametrize(
    ("dotted", "value", "message"),
    [
        # a number no source cites
        ("parameters.sampling_us", 30.0, "field 'sampling_us' has no entry in sources"),
        ("sources.0.fields", CITED[:-1], "field 'memory_utilization' has no entry in sources"),
        # a citation of a field that does not exist
        ("sources.0.fields", [*CITED, "warp_speed"],
         "sources name unknown field 'warp_speed'"),
        # what every engine must set
        ("parameters.step_overhead_us", DELETE,
         "parameters.step_overhead_us is required for an engine"),
        # bad values
        ("parameters.link_efficiency", 1.5, "field 'parameters.link_efficiency': Input should be"),
        ("parameters.layer_overhead_us", -1.0, "field 'parameters.layer_overhead_us'"),
        ("memory_utilization", 0, "field 'memory_utilization'"),
        ("speculative.draft_kinds", ["telepathy"], "field 'speculative.draft_kinds.0'"),
        ("speculative.draft_tensor_parallel", "half", "field 'speculative.draft_tensor_parallel'"),
        ("id", "My Engine", "field 'id'"),
        ("calibrations.0.values.memory_efficiency", 2.0,
         "field 'calibrations.0.values.memory_efficiency'"),
        ("calibrations", [GOOD_ENGINE["calibrations"][0]] * 2,
         "calibrations list hardware 'h100-sxm' twice"),
        # unknown keys, at the top and inside
        ("speed", "fast", "field 'speed': unknown key (not allowed)"),
        ("parameters.step_overhead_ms", 0.12, "field 'parameters.step_overhead_ms': unknown key"),
        ("speculative.export", "trtllm", "field 'speculative.export'"),
        ("sources", [], "field 'sources'"),
    ],
)  # fmt: skip
def test_a_bad_engine_profile_is_one_clear_line(
    tmp_path: Path, dotted: str, value: Any, message: str
) -> None:
    path = write(tmp_path, _set(GOOD_ENGINE, dotted, value))
    with pytest.raises(MagicplanError) as info:
        load_engine(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: ") and message in msg, msg
    assert "\n" not in msg and "Traceback" not in msg


def test_the_good_engine_above_is_good(tmp_path: Path) -> None:
    # Each case above breaks exactly one thing of this profile.
    assert load_engine(write(tmp_path, GOOD_ENGINE)).id == "my-engine"


def test_a_yaml_that_is_not_a_profile(tmp_path: Path) -> None:
    path = tmp_path / "engine.yaml"
    path.write_text("- vllm\n- sglang\n")
    with pytest.raises(MagicplanError, match="mapping"):
        load_engine(path)
    with pytest.raises(MagicplanError, match="file not found"):
        load_engine(tmp_path / "absent.yaml")


def test_a_boolean_is_not_a_latency(tmp_path: Path) -> None:
    # YAML's `true` under a numeric parameter was read as 1 µs.
    from magicplan.io import load_yaml

    data = load_yaml(profiles_dir("engine_profiles") / "vllm.yaml")
    data["parameters"]["step_overhead_us"] = True
    p = tmp_path / "e.yaml"
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(MagicplanError, match="step_overhead_us must be a number; got True"):
        load_engine(p)


def test_a_misspelled_nested_key_gets_a_suggestion(tmp_path: Path) -> None:
    # A typo under `parameters:` was named without the field it meant.
    from magicplan.io import load_yaml

    data = load_yaml(profiles_dir("engine_profiles") / "vllm.yaml")
    data["parameters"]["step_overhed_us"] = data["parameters"].pop("step_overhead_us")
    p = tmp_path / "e.yaml"
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(MagicplanError, match="did you mean step_overhead_us"):
        load_engine(p)
