"""`magicplan hardware list|show`, `magicplan models list|show`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from magicplan.cli._app import engines_app, hardware_app, models_app
from magicplan.cli._output import console, echo_json, table
from magicplan.specs import (
    DEFAULT_ENGINE,
    list_engines,
    list_hardware,
    list_models,
    load_engine,
    load_hardware,
    load_model,
)
from magicplan.specs.engine import EngineSpec
from magicplan.specs.hardware import HardwareSpec
from magicplan.specs.model import ModelSpec
from magicplan.units import TERA

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


def hardware_json(hw: HardwareSpec) -> dict[str, Any]:
    """A hardware profile as JSON, with SI figures added."""
    data = hw.model_dump(mode="json", exclude_none=True)
    data["memory_bytes"] = hw.memory_bytes
    data["memory_bandwidth_bytes_per_s"] = hw.memory_bandwidth_bytes_per_s
    data["bf16_peak_flops_per_s"] = hw.peak_flops_per_s("bfloat16")
    return data


def model_json(m: ModelSpec) -> dict[str, Any]:
    """A model profile as JSON, with derived counts (bf16 KV bytes per token, and in the KV
    cache's own format)."""
    data = m.model_dump(mode="json", exclude_none=True)
    data["head_dim"] = m.head_dim_eff
    data["num_parameters"] = m.num_parameters
    data["num_active_parameters"] = m.num_active_parameters
    data["weight_bytes"] = _whole(m.weight_bytes())
    data["kv_bytes_per_token"] = _whole(m.kv_bytes_per_token("bfloat16"))
    data["kv_cache_bytes_per_token"] = _whole(m.kv_bytes_per_token(m.cache_dtype))
    return data


def _whole(x: float) -> float | int:
    """A byte count as an int when it is whole (JSON prints 16060522496, not 16060522496.0)."""
    return int(x) if float(x).is_integer() else x


@hardware_app.command("list")
def hardware_list(json_out: JsonOpt = False) -> None:
    """List shipped hardware profiles."""
    items = list_hardware()
    if json_out:
        echo_json([hardware_json(h) for h in items])
        return
    rows = [
        [
            h.id,
            h.name,
            h.memory_gb,
            h.hbm_bandwidth_tb_s,
            h.peak_flops_per_s() / TERA,
            h.scaleup_link_gb_s,
            "measured" if h.achieved else "default",
        ]
        for h in items
    ]
    cols = [
        "id",
        "name",
        "memory GB",
        "HBM TB/s",
        "bf16 dense TFLOP/s",
        "link GB/s/dir",
        "achieved rates",
    ]
    console().print(table("Hardware profiles", cols, rows, whole=("id",)))


@hardware_app.command("show")
def hardware_show(
    id_or_path: Annotated[str, typer.Argument(help="Hardware id or profile path.")],
    json_out: JsonOpt = False,
) -> None:
    """Show one hardware profile (an id or a YAML path)."""
    data = hardware_json(load_hardware(id_or_path))
    if json_out:
        echo_json(data)
        return
    rows = [[k, v] for k, v in data.items() if k not in ("sources", "calibration")]
    rows += [
        [f"calibration.{k}", v]
        for k, v in (data.get("calibration") or {}).items()
        if k != "provenance"
    ]
    rows += [[f"source: {', '.join(s['fields'])}", s["citation"]] for s in data["sources"]]
    console().print(table(data["name"], ["field", "value"], rows, whole=("field",)))


@models_app.command("list")
def models_list(json_out: JsonOpt = False) -> None:
    """List shipped model profiles."""
    items = list_models()
    if json_out:
        echo_json([model_json(m) for m in items])
        return
    rows = [
        [
            m.id,
            m.architecture,
            m.num_parameters / 1e9,
            m.num_layers,
            m.hidden_size,
            f"{m.num_attention_heads}/{m.num_kv_heads}",
            m.vocab_size,
            m.kv_bytes_per_token(),
        ]
        for m in items
    ]
    cols = ["id", "arch", "params (B)", "layers", "hidden", "heads/kv", "vocab", "KV B/token"]
    console().print(table("Model profiles", cols, rows, whole=("id",)))


@models_app.command("show")
def models_show(
    id_or_path: Annotated[
        str,
        typer.Argument(
            help="Model id, Hugging Face repo id, profile YAML, config.json or checkpoint folder."
        ),
    ],
    json_out: JsonOpt = False,
) -> None:
    """Show one model profile (an id, a Hugging Face repo id, a YAML path, a config.json, or a
    checkpoint folder holding one)."""
    data = model_json(load_model(id_or_path))
    if json_out:
        echo_json(data)
        return
    rows = [[k, v] for k, v in data.items()]
    console().print(table(data["name"], ["field", "value"], rows, whole=("field",)))


def engine_json(e: EngineSpec) -> dict[str, Any]:
    """An engine profile as JSON, with `default` saying whether predictions assume it."""
    return e.model_dump(mode="json", exclude_none=True) | {"default": e.id == DEFAULT_ENGINE}


@engines_app.command("list")
def engines_list(json_out: JsonOpt = False) -> None:
    """List shipped engine profiles (the default is used when --engine is not given)."""
    items = list_engines()
    if json_out:
        echo_json([engine_json(e) for e in items])
        return
    rows = [
        [
            e.id + (" (default)" if e.id == DEFAULT_ENGINE else ""),
            e.name,
            "yes" if e.cuda_graphs else "no",
            ", ".join(e.speculative.draft_kinds) or "none",
            "yes" if e.speculative.compressed_draft_kv else "no",
            ", ".join(c.hardware for c in e.calibrations) or "-",
        ]
        for e in items
    ]
    cols = ["id", "name", "CUDA graphs", "drafts", "compressed draft KV", "calibrated on"]
    console().print(table("Engine profiles", cols, rows, whole=("id",)))


@engines_app.command("show")
def engines_show(
    id_or_path: Annotated[str, typer.Argument(help="Engine id or profile path.")],
    json_out: JsonOpt = False,
) -> None:
    """Show one engine profile (an id or a YAML path): its parameters, features, calibrations."""
    e = load_engine(id_or_path)
    data = engine_json(e)
    if json_out:
        echo_json(data)
        return
    rows: list[list[Any]] = [
        [k, v] for k, v in data.items()
        if k not in ("parameters", "speculative", "calibrations", "sources", "provenance")
    ]  # fmt: skip
    rows += [[f"parameters.{k}", v] for k, v in data["parameters"].items()]
    rows += [[f"speculative.{k}", v] for k, v in data["speculative"].items()]
    for c in data.get("calibrations", []):
        values = ", ".join(f"{k} {v}" for k, v in c["values"].items())
        rows.append([f"calibrated on {c['hardware']}", values])
    rows += [[f"source: {', '.join(s['fields'])}", s["citation"]] for s in data["sources"]]
    console().print(table(data["name"], ["field", "value"], rows, whole=("field",)))
