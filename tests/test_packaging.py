"""The profile folders ship inside the wheel: a non-editable install, run from another folder,
lists every profile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_ships_every_profile(tmp_path: Path) -> None:
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("not running from a source checkout")
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next(tmp_path.glob("magicplan-*.whl"))
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    code = (
        "import json, magicplan.specs as s; "
        "print(json.dumps([s.registry.profiles_dir('hardware_profiles').as_posix(), "
        "len(s.list_hardware()), len(s.list_models())]))"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    where, n_hw, n_models = json.loads(run.stdout)
    assert where.startswith(site.as_posix())  # loaded from the wheel, not the checkout
    assert n_hw == len(list((ROOT / "hardware_profiles").glob("*.yaml")))
    assert n_models == len(list((ROOT / "model_profiles").glob("*.yaml")))
