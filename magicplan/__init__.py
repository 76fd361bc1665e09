"""magicplan: will speculative decoding pay for this model, hardware, batch and context?

The Python API mirrors the CLI. Names resolve lazily so that `import magicplan` stays light
(no scipy, matplotlib or torch until a function that needs them is called).
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

__version__ = "0.1.0"

_API = {
    "load_hardware": "magicplan.specs",
    "load_model": "magicplan.specs",
    "list_hardware": "magicplan.specs",
    "list_models": "magicplan.specs",
    "HardwareSpec": "magicplan.specs",
    "ModelSpec": "magicplan.specs",
    "Setup": "magicplan.setup",
    "estimate": "magicplan.estimate",
    "estimate_arrays": "magicplan.estimate",
    "estimate_scenarios": "magicplan.scenarios",
    "read_scenarios": "magicplan.scenarios",
    "expected_tokens": "magicplan.cost.speculative",
    "fit_measurements": "magicplan.calibration.fit_table",
    "MagicplanError": "magicplan.errors",
    "plan": "magicplan.planner",
    "critical_length": "magicplan.planner",
    "break_even": "magicplan.planner",
    "sweep": "magicplan.planner",
    "capacity": "magicplan.planner",
}

__all__ = ["__version__", *sorted(_API)]


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value  # bound once: later lookups never reach __getattr__
        return value
    raise AttributeError(f"module 'magicplan' has no attribute '{name}'")


def __dir__() -> list[str]:
    return __all__


class _Package(ModuleType):
    """The package module. Importing a submodule binds it on its parent (`magicplan.estimate`
    the module); an exported name must stay the exported object, so that binding is skipped
    for exported names (the submodule stays in sys.modules and importable by its path)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _API and isinstance(value, ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
