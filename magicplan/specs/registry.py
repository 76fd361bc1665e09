"""Find and load profiles by id (shipped YAML) or by path (YAML, a Hugging Face config.json, or a
GGUF file's metadata)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from magicplan.errors import MagicplanError, format_validation_error, suggest
from magicplan.io import load_mapping
from magicplan.specs.gguf import model_from_gguf
from magicplan.specs.hardware import HardwareSpec
from magicplan.specs.hf_config import model_from_hf_config
from magicplan.specs.model import ModelSpec

_PACKAGE = Path(__file__).resolve().parent.parent
SpecT = TypeVar("SpecT", bound=BaseModel)


def profiles_dir(kind: str) -> Path:
    """Folder of shipped profiles: inside the wheel, else the repository's top level."""
    packaged = _PACKAGE / "_profiles" / kind
    return packaged if packaged.is_dir() else _PACKAGE.parent / kind


def _looks_like_path(arg: str) -> bool:
    return "/" in arg or "\\" in arg or arg.endswith((".yaml", ".yml", ".json", ".gguf"))


def _validate(cls: type[SpecT], data: dict[str, Any], source: str) -> SpecT:
    try:
        return cls(**data)
    except ValidationError as exc:
        raise MagicplanError(format_validation_error(exc, source)) from exc
    except TypeError as exc:  # non-string keys
        raise MagicplanError(f"{source}: keys must be field names ({exc})") from exc


def _ids(kind: str) -> list[str]:
    return sorted(p.stem for p in profiles_dir(kind).glob("*.yaml"))


def _resolve(kind: str, id_or_path: str, what: str, list_cmd: str) -> Path:
    if not id_or_path:
        raise MagicplanError(f"{what}: an id or a file path is required")
    if _looks_like_path(id_or_path):
        return Path(id_or_path)
    path = profiles_dir(kind) / f"{id_or_path}.yaml"
    if not path.is_file():
        if Path(id_or_path).is_file():  # a file in the working folder, named without a suffix
            return Path(id_or_path)
        hint = suggest(id_or_path, _ids(kind))
        raise MagicplanError(f"{what}: unknown id '{id_or_path}'{hint}; `{list_cmd}` lists them")
    return path


def load_hardware(id_or_path: str | Path) -> HardwareSpec:
    """A HardwareSpec from a shipped id (e.g. 'h100-sxm') or a YAML/JSON profile path."""
    path = _resolve("hardware_profiles", str(id_or_path), "hardware", "magicplan hardware list")
    return _cached(HardwareSpec, str(path), _stamp(path))


def load_model(id_or_path: str | Path) -> ModelSpec:
    """A ModelSpec from a shipped id, a YAML profile path, a Hugging Face config.json path, or a
    GGUF file (its metadata; id: the file name without '.gguf')."""
    path = _resolve("model_profiles", str(id_or_path), "model", "magicplan models list")
    return _cached(ModelSpec, str(path), _stamp(path))


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (0, 0)  # load_mapping raises the clean error
    return (st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=256)
def _cached(cls: type[SpecT], path: str, stamp: tuple[int, int]) -> SpecT:
    """Specs are frozen, so one parse per file version (path, mtime, size) serves every caller."""
    if cls is ModelSpec and path.lower().endswith(".gguf"):
        return model_from_gguf(path)  # type: ignore[return-value]
    data = load_mapping(path)
    if cls is ModelSpec and "model_type" in data and "id" not in data:
        return model_from_hf_config(data, path)  # type: ignore[return-value]
    return _validate(cls, data, path)


def list_hardware() -> list[HardwareSpec]:
    """Every shipped hardware profile, sorted by id."""
    return [
        load_hardware(profiles_dir("hardware_profiles") / f"{i}.yaml")
        for i in _ids("hardware_profiles")
    ]


def list_models() -> list[ModelSpec]:
    """Every shipped model profile, sorted by id."""
    return [
        load_model(profiles_dir("model_profiles") / f"{i}.yaml") for i in _ids("model_profiles")
    ]
