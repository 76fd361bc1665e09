"""`magicplan`'s exported names are always the documented objects, however often and in whatever
order they and the submodules are imported (a submodule named like an export must not shadow it)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Run in a fresh interpreter per order: the import state of this test process is not fresh.
SCRIPT = """
import importlib, importlib.util, json, pkgutil, sys
import magicplan

def submodules():
    torch = importlib.util.find_spec("torch") is not None
    for info in pkgutil.walk_packages(magicplan.__path__, "magicplan."):
        if "torch_runner" in info.name and not torch:
            continue
        yield info.name

def exports():
    out = {}
    for name in magicplan.__all__:
        for _ in range(2):  # twice: the first access must not change what the second sees
            value = getattr(magicplan, name)
            out[name] = type(value).__name__ if name != "__version__" else "str"
    return out

order = sys.argv[1]
seen = {}
if order == "exports-first":
    seen |= exports()
    mods = list(submodules())
elif order == "reversed":
    mods = list(submodules())[::-1]
else:
    mods = list(submodules())
for m in mods:
    importlib.import_module(m)
    if order == "interleaved":
        seen |= exports()
seen |= exports()
ns = {}
exec("from magicplan import plan\\nfrom magicplan import estimate", ns)
seen["from-import estimate"] = type(ns["estimate"]).__name__
print(json.dumps(seen))
"""


@pytest.mark.parametrize("order", ["exports-first", "modules-first", "reversed", "interleaved"])
def test_every_export_is_the_documented_object(order: str) -> None:
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, order], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    seen = json.loads(run.stdout)
    modules = {k: v for k, v in seen.items() if v == "module"}
    assert not modules, f"exports shadowed by submodules: {sorted(modules)}"
    assert seen["estimate"] == "function" and seen["from-import estimate"] == "function"
    assert seen["plan"] == "function" and seen["Setup"] == "type"


def test_submodule_stays_importable_by_path() -> None:
    import magicplan
    from magicplan.estimate import estimate_arrays  # the module behind the export still loads

    assert callable(estimate_arrays)
    assert callable(magicplan.estimate) and magicplan.estimate is magicplan.estimate
    assert sys.modules["magicplan.estimate"].estimate is magicplan.estimate
