"""Validated hardware and model specs (pydantic at the edges) and their loaders."""

from magicplan.specs.hardware import Calibration, HardwareSpec, Provenance
from magicplan.specs.model import DTYPE_BYTES, ModelSpec, MoESpec
from magicplan.specs.registry import (
    list_hardware,
    list_models,
    load_hardware,
    load_model,
)

__all__ = [
    "DTYPE_BYTES",
    "Calibration",
    "HardwareSpec",
    "MoESpec",
    "ModelSpec",
    "Provenance",
    "list_hardware",
    "list_models",
    "load_hardware",
    "load_model",
]
