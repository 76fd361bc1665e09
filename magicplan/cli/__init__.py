"""The `magicplan` command line. Each command lives in its own module; importing this package
registers them all. Heavy imports (scipy, matplotlib, torch) happen inside commands only."""

from __future__ import annotations

from magicplan.cli import acceptance as _acceptance  # noqa: F401
from magicplan.cli import calibrate as _calibrate  # noqa: F401
from magicplan.cli import capacity as _capacity  # noqa: F401
from magicplan.cli import estimate as _estimate  # noqa: F401  (registers commands)
from magicplan.cli import fit as _fit  # noqa: F401
from magicplan.cli import plan as _plan  # noqa: F401
from magicplan.cli import plot as _plot  # noqa: F401
from magicplan.cli import profiles as _profiles  # noqa: F401
from magicplan.cli._app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    app()
