"""The typer app and its one-line error handling (exit code 2, no traceback)."""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

from magicplan.errors import MagicplanError, format_validation_error

EXIT_BAD_INPUT = 2


def fail(message: str) -> None:
    """Print one line to stderr and exit 2."""
    typer.echo(f"error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


class _OneLineErrors(TyperGroup):
    """Click group whose every bad-input failure is one line on stderr and exit code 2."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except MagicplanError as exc:
            fail(" ".join(str(exc).split()))
        except Exception as exc:
            # typer vendors its own click: match its exceptions (and pydantic's) by shape.
            name = type(exc).__name__
            if name == "Exit":
                sys.exit(getattr(exc, "exit_code", 0))
            if name == "NoArgsIsHelpError":  # a bare group: show its help, as click would
                typer.echo(exc.ctx.get_help())  # type: ignore[attr-defined]
                sys.exit(0)
            if name == "Abort":
                fail("aborted")
            if hasattr(exc, "format_message"):
                fail(" ".join(exc.format_message().split()))
            if name == "ValidationError":
                fail(format_validation_error(exc))
            raise
        return None


app = typer.Typer(
    cls=_OneLineErrors,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="magicplan: will speculative decoding speed up this model, on this hardware, at this "
    "batch size and context length - with which draft, KV budget and γ, and by how much?",
)


def _version(shown: bool) -> None:
    if shown:
        from magicplan import __version__

        typer.echo(f"magicplan {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """magicplan: will speculative decoding speed up this model, on this hardware, at this batch
    size and context length - with which draft, KV budget and γ, and by how much?"""


hardware_app = typer.Typer(no_args_is_help=True, help="Hardware profiles.")
models_app = typer.Typer(no_args_is_help=True, help="Model profiles (ids or config.json paths).")
engines_app = typer.Typer(no_args_is_help=True, help="Serving-engine profiles.")
app.add_typer(hardware_app, name="hardware")
app.add_typer(models_app, name="models")
app.add_typer(engines_app, name="engines")
