"""Every loader, fed hypothesis-generated files, either succeeds or raises MagicplanError.

Files are written to disk and read back through the public loaders: hardware and model profiles
(YAML and JSON), Hugging Face config.json, scenario and measurement CSVs, acceptance tables and
`validate` JSON. Inputs range from arbitrary bytes to near-valid profiles with one key dropped,
misspelled or given a hostile value (huge integers, NaN, infinities, nested containers, text).
A profile that loads must also estimate to finite, JSON-encodable numbers: a file the loader
accepts may not crash the physics later.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from magicplan.calibration.fit_table import fit_measurements
from magicplan.calibration.tables import read_measurements, samples_from_columns
from magicplan.errors import MagicplanError
from magicplan.estimate import estimate
from magicplan.io import load_json, load_mapping, load_yaml, read_csv_rows
from magicplan.planner.acceptance import load_table
from magicplan.plots.validation import load_validation
from magicplan.scenarios import estimate_scenarios, read_scenarios
from magicplan.specs import load_hardware, load_model
from magicplan.specs.hardware import HardwareSpec
from magicplan.specs.hf_config import model_from_hf_config
from magicplan.specs.model import ModelSpec

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
_names = itertools.count()

# --- near-valid bases ----------------------------------------------------------------------

HARDWARE: dict[str, Any] = {
    "id": "fuzz-gpu",
    "name": "Fuzz GPU",
    "vendor": "test",
    "memory_gb": 80,
    "hbm_bandwidth_tb_s": 2.0,
    "bf16_dense_tflops": 300,
    "scaleup_link_gb_s": 300,
    "sources": [
        {
            "fields": ["memory_gb", "hbm_bandwidth_tb_s", "bf16_dense_tflops", "scaleup_link_gb_s"],
            "citation": "test datasheet",
        }
    ],
    "calibration": {
        "engine": "test",
        "overlap": "max",
        "memory_efficiency": 0.8,
        "compute_efficiency": 0.7,
        "step_overhead_us": 100.0,
        "layer_overhead_us": 20.0,
        "token_layer_overhead_ns": 5.0,
        "allreduce_latency_us": 10.0,
        "link_efficiency": 0.5,
        "round_overhead_us": 50.0,
        "provenance": {"method": "default", "source": "test"},
    },
}
MODEL: dict[str, Any] = {
    "id": "fuzz-model",
    "name": "Fuzz model",
    "architecture": "llama",
    "hidden_size": 2048,
    "intermediate_size": 5632,
    "num_layers": 4,
    "num_attention_heads": 16,
    "num_kv_heads": 4,
    "vocab_size": 32000,
    "max_position_embeddings": 4096,
    "sliding_window": 1024,
    "local_layers": 2,
    "moe": {"num_experts": 8, "experts_per_token": 2, "expert_intermediate_size": 1024},
    "source": "test config.json",
}
HF_CONFIG: dict[str, Any] = {
    "model_type": "mixtral",
    "_name_or_path": "fuzz/mixtral",
    "hidden_size": 1024,
    "intermediate_size": 3584,
    "num_hidden_layers": 4,
    "num_attention_heads": 8,
    "num_key_value_heads": 2,
    "num_local_experts": 8,
    "num_experts_per_tok": 2,
    "vocab_size": 32000,
    "max_position_embeddings": 32768,
    "sliding_window": 4096,
    "torch_dtype": "bfloat16",
}
SCENARIO_COLUMNS = (
    "gpu", "num_gpus", "target", "draft_model", "kv_method", "kv_budget", "context", "batch",
    "gamma", "alpha", "accepted_per_step", "draft_num_gpus",
)  # fmt: skip
MEASUREMENT_COLUMNS = (
    "gpu", "num_gpus", "target", "draft_model", "kv_method", "kv_budget", "context", "batch",
    "gamma", "t_autoregressive_ms", "gamma_t_draft_ms", "t_verify_ms", "accepted_per_step",
    "t_spec_per_token_ms",
)  # fmt: skip
ACCEPTANCE_COLUMNS = ("target", "draft", "method", "budget", "context", "alpha")
PYTHON_TAGS = (
    "!!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/new:os.system ['touch {marker}']",
    "!!python/name:os.system",
    "!!python/module:os",
    "!!python/object:builtins.object {{}}",
)

# --- strategies ----------------------------------------------------------------------------

HOSTILE_NUMBERS = (
    0, -1, 1, 2, 3, 7, 2**31, 2**53 + 1, 10**12, 10**30, 10**400, -(10**400), 1e308, 1e-300,
    5e-324, -0.0, 0.5, float("nan"), float("inf"), True,
)  # fmt: skip
numbers = st.one_of(
    st.sampled_from(HOSTILE_NUMBERS),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=12))
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def misspelled(key: str) -> st.SearchStrategy[str]:
    """A near miss of `key`: a dropped, doubled or swapped character, or another case."""
    if not key:  # a fuzzed nested mapping may have an empty key: any other key is a near miss
        return st.just("_")
    i = st.integers(min_value=0, max_value=max(len(key) - 2, 0))
    return st.one_of(
        i.map(lambda j: key[:j] + key[j + 1 :]),
        i.map(lambda j: key[:j] + key[j] + key[j:]),
        i.map(lambda j: key[:j] + key[j + 1 : j + 2] + key[j : j + 1] + key[j + 2 :]),
        st.just(key.upper()),
    ).filter(lambda k: k != key)


@st.composite
def near_valid(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """`base` with one to three keys dropped, misspelled, replaced or added (nested too)."""
    data = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        node = data
        nested = [k for k, v in node.items() if isinstance(v, dict)]
        if nested and draw(st.booleans()):
            node = node[draw(st.sampled_from(nested))]
        if not node:
            continue
        key = draw(st.sampled_from(sorted(node)))
        op = draw(st.sampled_from(("drop", "misspell", "number", "number", "replace", "extra")))
        if op == "drop":
            del node[key]
        elif op == "misspell":
            node[draw(misspelled(key))] = node.pop(key)
        elif op == "number":
            node[key] = draw(numbers)
        elif op == "replace":
            node[key] = draw(values)
        else:
            node[draw(st.text(min_size=1, max_size=10))] = draw(values)
    return data


NUMBER_CELLS = st.one_of(
    st.integers(min_value=-3, max_value=70000).map(str),
    st.sampled_from(
        ["", "nan", "inf", "-inf", "1e400", "abc", "1.5", "0", "9" * 40, " 8 ", "0x10"]
    ),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
TEXT_CELLS = {
    "gpu": ("h100-sxm", "a100-80gb-sxm", "apple-m2-ultra", "h100-smx", ""),
    "target": ("llama-3.1-8b", "llama-3.2-1b", "llama-2-7b", "nope", ""),
    "draft_model": ("self", "llama-3.2-1b", "tinyllama-1.1b", "llama-3.1-8b", ""),
    "kv_method": ("full", "streamingllm", "snapkv", "topk", "StreamingLLM", ""),
}
GOOD_CELLS = {
    "gpu": "h100-sxm", "num_gpus": "8", "target": "llama-3.1-8b", "draft_model": "self",
    "kv_method": "streamingllm", "kv_budget": "512", "context": "8192", "batch": "16",
    "gamma": "3", "alpha": "0.8", "accepted_per_step": "2.4", "draft_num_gpus": "8",
    "t_autoregressive_ms": "10.0", "gamma_t_draft_ms": "12.0", "t_verify_ms": "11.0",
    "t_spec_per_token_ms": "9.0",
}  # fmt: skip


def cell(column: str) -> st.SearchStrategy[str]:
    """A replacement cell for `column`: plausible (a real id, a number) or hostile text."""
    plausible = st.sampled_from(TEXT_CELLS[column]) if column in TEXT_CELLS else NUMBER_CELLS
    hostile = st.text(alphabet=st.characters(exclude_characters="\r\n"), max_size=8)
    return st.one_of(plausible, plausible, hostile)


@st.composite
def csv_table(draw: st.DrawFn, columns: tuple[str, ...]) -> str:
    """A CSV of valid rows over (a sample of) `columns`, then zero to two cells replaced per row,
    perhaps a misspelled column, a short or a long row."""
    some = st.lists(st.sampled_from(columns), min_size=1, unique=True)
    # Mostly every column (in any order), so that most tables reach the physics.
    chosen = draw(st.permutations(columns) if draw(st.integers(0, 3)) else some)
    typos = draw(st.integers(min_value=0, max_value=5)) == 0
    header = [draw(misspelled(c)) if typos and i == 0 else c for i, c in enumerate(chosen)]
    rows = []
    for _ in range(draw(st.integers(min_value=0, max_value=4)) or 1):
        cells = [GOOD_CELLS[c] for c in chosen]
        for _ in range(draw(st.sampled_from((0, 0, 1, 1, 2)))):
            j = draw(st.integers(min_value=0, max_value=len(cells) - 1))
            cells[j] = draw(cell(chosen[j]))
        if draw(st.integers(min_value=0, max_value=9)) == 0:  # a short or long row
            cells = cells[:-1] if draw(st.booleans()) else [*cells, "1"]
        rows.append(",".join(c.replace(",", ";") for c in cells))
    return "\n".join([",".join(header), *rows]) + "\n"


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def write(folder: Path, content: str | bytes, suffix: str, name: str | None = None) -> Path:
    """A fresh file per example (never rewrite a path: the spec cache keys on mtime and size)."""
    path = folder / f"f{next(_names)}" / (name or f"input{suffix}")
    path.parent.mkdir()
    # Lone surrogates (which hypothesis can generate) become invalid UTF-8, as on disk.
    data = content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")
    path.write_bytes(data)
    return path


def dump(data: Any, fmt: str) -> str:
    return json.dumps(data) if fmt == "json" else yaml.safe_dump(data, allow_unicode=True)


def clean(load: Callable[..., Any], *args: Any, names: Path | None = None) -> Any:
    """Call `load`: its result, or None after a MagicplanError (naming the file `names`)."""
    try:
        return load(*args)
    except MagicplanError as exc:
        message = str(exc)
        assert message.strip(), "an empty error message"
        if names is not None:
            assert str(names) in message or names.name in message, message
        return None


def assert_estimates_finitely(hw: HardwareSpec, model: ModelSpec) -> None:
    """A loaded spec gives finite, JSON-encodable figures (or a clean error), both modes."""
    for mode in ("calibrated", "ideal"):
        result = clean(
            lambda m=mode: estimate(hw, 1, model, 8, 4096, 3, kv_budget=512, acceptance=0.8, mode=m)
        )
        if result is not None:
            json.dumps(result, allow_nan=False)


@pytest.fixture(scope="module")
def toy_hw() -> HardwareSpec:
    return HardwareSpec(**HARDWARE)


@pytest.fixture(scope="module")
def toy_model() -> ModelSpec:
    return ModelSpec(**MODEL)


# --- profiles ------------------------------------------------------------------------------


def test_bases_are_valid(toy_hw: HardwareSpec, toy_model: ModelSpec) -> None:
    """The fuzz starts from valid inputs, so what it breaks is the mutation, not the base."""
    assert toy_hw.id == "fuzz-gpu" and toy_model.moe is not None
    assert model_from_hf_config(HF_CONFIG, "config.json").num_layers == 4


@FUZZ
@given(data=near_valid(HARDWARE), fmt=st.sampled_from(("yaml", "json")))
def test_hardware_profile(folder: Path, toy_model: ModelSpec, data: Any, fmt: str) -> None:
    path = write(folder, dump(data, fmt), f".{fmt}")
    hw = clean(load_hardware, path, names=path)
    if hw is not None:
        assert_estimates_finitely(hw, toy_model)


@FUZZ
@given(data=near_valid(MODEL), fmt=st.sampled_from(("yaml", "json")))
def test_model_profile(folder: Path, toy_hw: HardwareSpec, data: Any, fmt: str) -> None:
    path = write(folder, dump(data, fmt), f".{fmt}")
    model = clean(load_model, path, names=path)
    if model is not None:
        assert_estimates_finitely(toy_hw, model)


@FUZZ
@given(data=near_valid(HF_CONFIG))
def test_hf_config_json(folder: Path, toy_hw: HardwareSpec, data: Any) -> None:
    path = write(folder, json.dumps(data), ".json", name="config.json")
    model = clean(load_model, path, names=path)
    if model is not None:
        assert_estimates_finitely(toy_hw, model)


@FUZZ
@given(data=values)
def test_hf_config_any_mapping(toy_hw: HardwareSpec, data: Any) -> None:
    config = {**HF_CONFIG, **data} if isinstance(data, dict) else {"model_type": data}
    model = clean(model_from_hf_config, config, "config.json")
    if model is not None:
        assert_estimates_finitely(toy_hw, model)


def numeric_keys(base: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of every number in `base` (one level of nesting)."""
    out = []
    for k, v in base.items():
        if isinstance(v, dict):
            out += numeric_keys(v, f"{k}.")
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(prefix + k)
    return out


def with_value(base: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(base))
    *path, leaf = dotted.split(".")
    node = data
    for p in path:
        node = node[p]
    node[leaf] = value
    return data


NUMERIC = settings(FUZZ, max_examples=25)


@NUMERIC
@given(value=numbers)
@pytest.mark.parametrize("key", numeric_keys(HARDWARE))
def test_hardware_number(folder: Path, toy_model: ModelSpec, key: str, value: Any) -> None:
    """Any number in any numeric hardware field: a clean error or finite estimates."""
    path = write(folder, json.dumps(with_value(HARDWARE, key, value)), ".json")
    hw = clean(load_hardware, path, names=path)
    if hw is not None:
        assert_estimates_finitely(hw, toy_model)


@NUMERIC
@given(value=numbers)
@pytest.mark.parametrize("key", numeric_keys(MODEL))
def test_model_number(folder: Path, toy_hw: HardwareSpec, key: str, value: Any) -> None:
    """Any number in any numeric model field: a clean error or finite estimates."""
    path = write(folder, yaml.safe_dump(with_value(MODEL, key, value)), ".yaml")
    model = clean(load_model, path, names=path)
    if model is not None:
        assert_estimates_finitely(toy_hw, model)


@NUMERIC
@given(value=numbers)
@pytest.mark.parametrize("key", numeric_keys(HF_CONFIG))
def test_hf_config_number(toy_hw: HardwareSpec, key: str, value: Any) -> None:
    model = clean(model_from_hf_config, with_value(HF_CONFIG, key, value), "config.json")
    if model is not None:
        assert_estimates_finitely(toy_hw, model)


# --- arbitrary bytes and text to every file reader ------------------------------------------

READERS: dict[str, tuple[str, Callable[[Path], Any]]] = {
    "hardware yaml": (".yaml", load_hardware),
    "hardware json": (".json", load_hardware),
    "model yaml": (".yaml", load_model),
    "config.json": (".json", load_model),
    "yaml": (".yaml", load_yaml),
    "json": (".json", load_json),
    "mapping": (".yaml", load_mapping),
    "csv rows": (".csv", read_csv_rows),
    "scenarios": (".csv", read_scenarios),
    "acceptance yaml": (".yaml", load_table),
    "acceptance csv": (".csv", load_table),
    "validate json": (".json", load_validation),
}
junk = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200),
    values.map(lambda v: json.dumps(v)),
    values.map(lambda v: yaml.safe_dump(v)),
    st.sampled_from(
        [
            "[" * 100_000,  # deep flow nesting: libyaml's C parser recurses
            "{a: " * 30_000 + "1" + "}" * 30_000,
            "[" * 100_000 + "]" * 100_000,
            "a: b\n  c: d\n",  # bad indentation
            "\ufeffid: x\n",  # BOM
            "id: x\nid: y\n",  # duplicate key
            "a: &a [1]\nb: *a\nc: *nope\n",  # undefined alias
            "date: 2024-01-01\n",
            "x,y\n" + "z" * 200_000 + ",1\n",  # a CSV field beyond the csv module's limit
            '"unclosed,quote\n1,2\n',
            "a,a\n1,2\n",
        ]
    ),
)


@settings(FUZZ, max_examples=120)
@given(content=junk, reader=st.sampled_from(sorted(READERS)))
def test_any_bytes(folder: Path, content: str | bytes, reader: str) -> None:
    suffix, load = READERS[reader]
    path = write(folder, content, suffix, name="config.json" if reader == "config.json" else None)
    clean(load, path)


@pytest.mark.parametrize("reader", sorted(set(READERS) - {"yaml", "json"}))
@pytest.mark.parametrize("top", ["[1, 2]", '"text"', "42", "null", "true", "[[[]]]"])
def test_wrong_top_level_type(folder: Path, reader: str, top: str) -> None:
    suffix, load = READERS[reader]
    if suffix == ".csv":
        top = top + "\n"
    path = write(folder, top, suffix, name="config.json" if reader == "config.json" else None)
    with pytest.raises(MagicplanError):
        load(path)


@pytest.mark.parametrize(
    "reader", sorted(r for r, (suffix, _) in READERS.items() if suffix == ".yaml")
)
@pytest.mark.parametrize("tag", PYTHON_TAGS)
def test_yaml_tags_never_execute(folder: Path, reader: str, tag: str) -> None:
    suffix, load = READERS[reader]
    marker = folder / f"pwned{next(_names)}"
    text = tag.format(marker=marker)
    for doc in (text, f"id: x\nnotes: {text}\n", f"- {text}\n"):
        with pytest.raises(MagicplanError):
            load(write(folder, doc + "\n", suffix))
    assert not marker.exists()


def test_deep_nesting_is_refused(folder: Path) -> None:
    """libyaml's parser recurses in C: a deep document must be refused, not crash the process."""
    for reader in ("hardware yaml", "config.json", "acceptance yaml"):
        suffix, load = READERS[reader]
        path = write(folder, "[" * 200_000 + "]" * 200_000, suffix)
        with pytest.raises(MagicplanError):
            load(path)


# --- tables: scenarios and measurements ----------------------------------------------------


@settings(FUZZ, max_examples=80)
@given(text=csv_table(SCENARIO_COLUMNS))
def test_scenario_csv(folder: Path, text: str) -> None:
    path = write(folder, text, ".csv")
    cols = clean(read_scenarios, path, names=path)
    if cols is None:
        return
    out = clean(estimate_scenarios, cols)
    if out is not None:
        json.dumps({k: v.tolist() for k, v in out.items()}, allow_nan=False)


@settings(FUZZ, max_examples=80)
@given(text=csv_table(MEASUREMENT_COLUMNS))
def test_measurement_csv(folder: Path, text: str) -> None:
    path = write(folder, text, ".csv")
    hw = load_hardware("h100-sxm")
    cols = clean(read_measurements, path, hw, names=path)
    if cols is None or clean(samples_from_columns, cols) is None:
        return
    report = clean(fit_measurements, path, "h100-sxm", None)  # the whole `fit`, but no file
    if report is not None:
        json.dumps(report, allow_nan=False)


@FUZZ
@given(
    keep=st.lists(st.sampled_from(ACCEPTANCE_COLUMNS), max_size=5, unique=True),
    typo=st.sampled_from(ACCEPTANCE_COLUMNS).flatmap(misspelled),
)
def test_acceptance_csv_missing_column(folder: Path, keep: list[str], typo: str) -> None:
    """A table without one of its required columns (or with it misspelled) is refused."""
    header = [*keep, typo]
    row = ["llama-3.1-8b", "self", "streamingllm", "512", "8192", "0.8"][: len(header)]
    path = write(folder, ",".join(header) + "\n" + ",".join(row) + "\n", ".csv")
    with pytest.raises(MagicplanError, match="column"):
        load_table(path)
