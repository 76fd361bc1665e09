"""Profiles the planner tests share (loaded once; specs are frozen)."""

from __future__ import annotations

from typing import Any

import pytest

from magicplan.specs import load_hardware, load_model


@pytest.fixture(scope="session")
def h100() -> Any:
    return load_hardware("h100-sxm")


@pytest.fixture(scope="session")
def h200() -> Any:
    return load_hardware("h200-sxm")


@pytest.fixture(scope="session")
def llama8b() -> Any:
    return load_model("llama-3.1-8b")


@pytest.fixture(scope="session")
def llama70b() -> Any:
    return load_model("llama-3.1-70b")


@pytest.fixture(autouse=True)
def _planner_tests_on_magicdec(magicdec_default: None) -> None:
    """Every planner test runs with MagicDec's engine as the default (tests/conftest.py)."""
