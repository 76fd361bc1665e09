"""Validated hardware and model specs (pydantic at the edges) and their loaders."""

from magicplan.specs.engine import EngineSpec
from magicplan.specs.hardware import Calibration, HardwareSpec, Provenance
from magicplan.specs.model import DTYPE_BYTES, ModelSpec, MoESpec
from magicplan.specs.registry import (
    DEFAULT_ENGINE,
    HardwareLike,
    ModelLike,
    as_draft,
    as_hardware,
    as_model,
    list_engines,
    list_hardware,
    list_models,
    load_engine,
    load_hardware,
    load_model,
)

__all__ = [
    "DEFAULT_ENGINE",
    "DTYPE_BYTES",
    "Calibration",
    "EngineSpec",
    "HardwareLike",
    "HardwareSpec",
    "MoESpec",
    "ModelLike",
    "ModelSpec",
    "Provenance",
    "as_draft",
    "as_hardware",
    "as_model",
    "list_engines",
    "list_hardware",
    "list_models",
    "load_engine",
    "load_hardware",
    "load_model",
]
