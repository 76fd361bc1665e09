"""One error type for every bad input: the CLI prints its message on one line and exits 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


class MagicplanError(ValueError):
    """Bad input: a field, file or column that is missing or out of range.

    The message names the field (or file, or column) and what is allowed. The CLI prints it as
    one line and exits with code 2; the Python API raises it.
    """


def shown(value: object, limit: int = 60) -> str:
    """A short printable form of a user value (scalars as typed, arrays as lists)."""
    tolist = getattr(value, "tolist", None)
    text = str(tolist() if callable(tolist) else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def suggest(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return ' (did you mean a, b?)' for the closest of `choices`, or '' when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.5)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def format_validation_error(exc: Exception, source: str = "", model: Any = None) -> str:
    """One line from a pydantic ValidationError: the first failing field and what is allowed;
    with the `model` class validated, an unknown key anywhere in it gets the nearest field
    name of its place as a hint."""
    errors = getattr(exc, "errors", None)
    where = f"{source}: " if source else ""
    if not callable(errors):
        return f"{where}{exc}"
    first = _misspelling(errors()) or _unknown_key(errors(), model) or errors()[0]
    msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    loc = ".".join(str(p) for p in first.get("loc", ()))
    if first.get("type") == "extra_forbidden":
        msg = "unknown key (not allowed)" + first.get("hint", "")
    elif first.get("type") == "missing":
        msg = "required field is missing"
    more = len(errors()) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
    return f"{where}field '{loc}': {msg}{tail}" if loc else f"{where}{msg}{tail}"


def _unknown_key(errors: list[dict[str, Any]], model: Any) -> dict[str, Any] | None:
    """The first unknown key, with the nearest field name of the model at its place (walking
    `model`'s fields along the key's location) as a hint."""
    for e in errors:
        if e.get("type") != "extra_forbidden" or model is None:
            continue
        *parent, key = e["loc"]
        here = model
        for part in parent:  # nested models: `parameters` of an engine, `sources` items ...
            field = getattr(here, "model_fields", {}).get(part)
            if field is None:
                break
            here = _model_in(field.annotation)
        hint = suggest(str(key), list(getattr(here, "model_fields", {})), n=1)
        if hint:
            return {**e, "hint": hint}
    return None


def _model_in(annotation: Any) -> Any:
    """The pydantic model a field holds (itself, or inside Optional / list), else None."""
    import typing

    if hasattr(annotation, "model_fields"):
        return annotation
    for arg in typing.get_args(annotation):
        if hasattr(arg, "model_fields"):
            return arg
    return None


def _misspelling(errors: list[dict[str, Any]]) -> dict[str, Any] | None:
    """An unknown key that looks like a missing one ('memory_gbb' for 'memory_gb'), with a hint:
    naming the key the user typed beats reporting the one they meant as missing."""
    missing: dict[tuple[Any, ...], list[str]] = {}
    for e in errors:
        if e.get("type") == "missing":
            *parent, key = e["loc"]
            missing.setdefault(tuple(parent), []).append(str(key))
    for e in errors:
        if e.get("type") == "extra_forbidden":
            *parent, key = e["loc"]
            hint = suggest(str(key), missing.get(tuple(parent), []), n=1)
            if hint:
                return {**e, "hint": hint}
    return None
