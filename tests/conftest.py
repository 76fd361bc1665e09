"""Fixtures every test package may use."""

from __future__ import annotations

import pytest


@pytest.fixture
def magicdec_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """MagicDec's engine as the default: tests of the planner's logic run on the engine that
    runs every strategy it plans (compressed self-speculation included). How an engine's
    features bound a plan is tested on the real default (tests/planner/test_engine_features.py)."""
    monkeypatch.setattr("magicplan.specs.registry.DEFAULT_ENGINE", "magicdec")
