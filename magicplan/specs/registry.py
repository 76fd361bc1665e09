"""Find and load profiles: by id (shipped YAML), by Hugging Face repo id (the shipped model whose
`hf_id` it is), or by path (a YAML/JSON profile, a Hugging Face config.json, a checkpoint
folder holding one, or a GGUF file's metadata)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from magicplan.errors import MagicplanError, format_validation_error, suggest
from magicplan.io import load_mapping
from magicplan.specs.drafts import DraftKindSpec, draft_kind, is_family
from magicplan.specs.engine import EngineSpec
from magicplan.specs.gguf import model_from_gguf
from magicplan.specs.hardware import HardwareSpec
from magicplan.specs.hf_config import looks_like_hf_config, model_from_hf_config
from magicplan.specs.model import ModelSpec

_PACKAGE = Path(__file__).resolve().parent.parent
# The engine a prediction assumes when the user names none: vLLM, the most widely deployed
# open serving engine (docs/model.md, "Engines").
DEFAULT_ENGINE = "vllm"
SpecT = TypeVar("SpecT", bound=BaseModel)
ModelLoader = Callable[[Path], ModelSpec]
HF_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # owner/name, as on huggingface.co


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
        raise MagicplanError(format_validation_error(exc, source, cls)) from exc
    except TypeError as exc:  # non-string keys
        raise MagicplanError(f"{source}: keys must be field names ({exc})") from exc


def _ids(kind: str) -> list[str]:
    return sorted(p.stem for p in profiles_dir(kind).glob("*.yaml"))


def _resolve(kind: str, id_or_path: str, what: str, list_cmd: str) -> Path:
    """The file or folder `id_or_path` names: a shipped id, an existing path, or (models) a
    Hugging Face repo id that a shipped profile carries."""
    if not id_or_path:
        raise MagicplanError(f"{what}: an id or a file path is required")
    for name in dict.fromkeys((id_or_path, id_or_path.lower())):  # ids are lower case
        shipped = profiles_dir(kind) / f"{name}.yaml"
        if not _looks_like_path(id_or_path) and shipped.is_file():
            return shipped
    if Path(id_or_path).exists():  # a file, or a checkpoint folder, named with or without a path
        return Path(id_or_path)
    if kind == "model_profiles" and HF_REPO_ID.match(id_or_path):
        known = _hf_ids()
        if id_or_path.lower() in known:
            return known[id_or_path.lower()]
        variants = {_base_repo(r): p for r, p in known.items()}
        if _base_repo(id_or_path) in variants:  # an instruct/chat variant of a shipped model
            return variants[_base_repo(id_or_path)]
        repos = [r for m in list_models() for r in (m.hf_id, *m.hf_aliases) if r]
        hint = suggest(id_or_path, repos)
        raise MagicplanError(
            f"{what}: '{id_or_path}' is neither a file nor folder here nor the hf_id of a shipped "
            f"profile{hint}; `{list_cmd}` lists them"
        )
    if _looks_like_path(id_or_path):
        return Path(id_or_path)  # load_mapping names the missing file
    hint = suggest(id_or_path, _ids(kind))
    raise MagicplanError(f"{what}: unknown id '{id_or_path}'{hint}; `{list_cmd}` lists them")


# Repo-name parts that mark a post-trained variant with its base model's architecture (the
# config.json of meta-llama/Llama-3.1-8B-Instruct, Qwen/Qwen2.5-7B-Instruct, google/gemma-2-9b-it
# differ from their base's in no field a profile reads), and Meta's older repo prefix
# (meta-llama/Meta-Llama-3.1-8B was renamed meta-llama/Llama-3.1-8B).
VARIANT_PARTS = re.compile(r"-(instruct|it|chat)(?=-|$)")


def _base_repo(repo: str) -> str:
    """`repo` in lower case without its variant parts: one key for a model and its variants."""
    owner, _, name = repo.lower().partition("/")
    return f"{owner}/{VARIANT_PARTS.sub('', name.removeprefix('meta-'))}"


def _hf_ids() -> dict[str, Path]:
    """Hugging Face repo ids (lower case; `hf_id` and `hf_aliases`) → shipped profile."""
    folder = profiles_dir("model_profiles")
    return {
        repo.lower(): folder / f"{m.id}.yaml"
        for m in list_models()
        for repo in (m.hf_id, *m.hf_aliases)
        if repo
    }


def model_loader(path: Path) -> tuple[Path, ModelLoader]:
    """The file that describes the model at `path`, and the function that reads it: the one
    place where a model path meets a file format (a new format is one more branch here).

    A checkpoint folder is read through its config.json; a GGUF file through its header; a
    YAML or JSON file is a native profile or a Hugging Face config, told apart by its keys.
    """
    if path.is_dir():
        config = path / "config.json"
        if not config.is_file():
            raise MagicplanError(
                f"model: folder '{path}' holds no config.json (a Hugging Face checkpoint "
                "folder does); give a model id, a profile YAML or a config.json"
            )
        return config, _model_from_mapping
    if path.suffix.lower() == ".gguf":
        return path, model_from_gguf
    return path, _model_from_mapping


def _model_from_mapping(path: Path) -> ModelSpec:
    data = load_mapping(path)
    if looks_like_hf_config(data):
        return _with_tokenizer(model_from_hf_config(data, str(path)))
    return _validate(ModelSpec, data, str(path))


def _hardware_from_mapping(path: Path) -> HardwareSpec:
    return _validate(HardwareSpec, load_mapping(path), str(path))


def _engine_from_mapping(path: Path) -> EngineSpec:
    return _validate(EngineSpec, load_mapping(path), str(path))


def _with_tokenizer(model: ModelSpec) -> ModelSpec:
    """A config.json names no tokenizer: take the family of the shipped profiles with the same
    architecture and embedding size when they all agree on one (else leave it unknown, and
    draft checks fall back to equal vocab sizes)."""
    families = {
        (m.tokenizer, m.tokenizer_vocab_size)
        for m in list_models()
        if m.architecture == model.architecture and m.vocab_size == model.vocab_size
    }
    if len(families) != 1:
        return model
    family, size = families.pop()
    if family is None:
        return model
    return model.model_copy(update={"tokenizer": family, "tokenizer_vocab_size": size})


HardwareLike = HardwareSpec | str | Path  # a spec, a shipped id, or a profile path
ModelLike = ModelSpec | str | Path  # a spec, an id, a Hugging Face repo id, or a path


def _as(value: Any, cls: type[SpecT], load: Callable[[Any], SpecT], name: str, kinds: str) -> SpecT:
    """`value` as a `cls` (loaded when an id or path); anything else is one clear error."""
    if isinstance(value, cls):
        return value
    if isinstance(value, (str, Path)):
        return load(value)
    raise MagicplanError(f"{name} must be {kinds} or a {cls.__name__}; got {type(value).__name__}")


def as_hardware(value: HardwareLike, name: str = "hardware") -> HardwareSpec:
    """`value` as a HardwareSpec (a spec, a shipped id, or a profile path)."""
    return _as(value, HardwareSpec, load_hardware, name, "a hardware id, a profile path")


def as_model(value: ModelLike, name: str = "model") -> ModelSpec:
    """`value` as a ModelSpec (a spec, an id, a Hugging Face repo id, or a path)."""
    return _as(value, ModelSpec, load_model, name, "a model id, a Hugging Face repo id, a path")


EngineLike = EngineSpec | str | Path  # a spec, a shipped id, or a profile path


def as_engine(value: EngineLike | None, name: str = "engine") -> EngineSpec | None:
    """`value` as an EngineSpec (None stays None: the caller's default applies)."""
    if value is None:
        return None
    return _as(value, EngineSpec, load_engine, name, "an engine id, a profile path")


Draft = ModelSpec | DraftKindSpec | None  # a small model, a drafting family, None: self
DraftLike = ModelLike | DraftKindSpec | None


def as_draft(value: DraftLike, name: str = "draft") -> Draft:
    """A draft: None or 'self' (self-speculation), a family keyword (eagle, eagle3, medusa, mtp,
    ngram) or its spec, else a model (`as_model`)."""
    if value is None or value == "self":
        return None
    if isinstance(value, DraftKindSpec):
        return value
    if is_family(value):
        return draft_kind(str(value))
    return as_model(value, name)


def load_hardware(id_or_path: HardwareLike) -> HardwareSpec:
    """A HardwareSpec from a shipped id (e.g. 'h100-sxm') or a YAML/JSON profile path (a
    HardwareSpec as it is)."""
    if not isinstance(id_or_path, (str, Path)):
        return as_hardware(id_or_path)
    path = _resolve("hardware_profiles", str(id_or_path), "hardware", "magicplan hardware list")
    return _cached(_hardware_from_mapping, str(path), _stamp(path))


def load_model(id_or_path: ModelLike) -> ModelSpec:
    """A ModelSpec from a shipped id, a Hugging Face repo id of a shipped profile
    ('meta-llama/Llama-3.1-8B'), a YAML profile, a config.json, a checkpoint folder, or a GGUF
    file (its metadata; id: the file name without '.gguf'); a ModelSpec as it is."""
    if not isinstance(id_or_path, (str, Path)):
        return as_model(id_or_path)
    path = _resolve("model_profiles", str(id_or_path), "model", "magicplan models list")
    file, loader = model_loader(path)
    return _cached(loader, str(file), _stamp(file))


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (0, 0)  # load_mapping raises the clean error
    return (st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=256)
def _cached(loader: Callable[[Path], Any], path: str, stamp: tuple[int, int]) -> Any:
    """Specs are frozen, so one parse per file version (path, mtime, size) serves every caller."""
    return loader(Path(path))


def list_hardware() -> list[HardwareSpec]:
    """Every shipped hardware profile, sorted by id."""
    return [
        load_hardware(profiles_dir("hardware_profiles") / f"{i}.yaml")
        for i in _ids("hardware_profiles")
    ]


def list_models() -> list[ModelSpec]:
    """Every shipped model profile, sorted by id."""
    return _shipped("model_profiles", _model_from_mapping)


def _shipped(kind: str, loader: Callable[[Path], SpecT]) -> list[SpecT]:
    """Every shipped profile of `kind`, sorted by id: each file read once per version (the
    planner lists models on every plan, so no id resolution per file)."""
    with os.scandir(profiles_dir(kind)) as it:
        files = sorted((e.name[:-5], e.path, e.stat()) for e in it if e.name.endswith(".yaml"))
    return [_cached(loader, path, (st.st_mtime_ns, st.st_size)) for _, path, st in files]


_VERSION = re.compile(r"^(?P<name>.+?)[-@=]+v?(?P<version>\d+(?:\.\d+)*)$")


def engine_key(name: str) -> str:
    """An engine's name as written → the key ids and aliases are matched on: lower case,
    spaces and underscores as '-', a version after the name as '-X.Y.Z' (`vLLM==0.6.3`,
    `vllm@0.6.3`, `vllm v0.6.3` → `vllm-0.6.3`)."""
    s = re.sub(r"[\s_]+", "-", name.strip().lower())
    m = _VERSION.match(s)
    return s if m is None else f"{m['name']}-{m['version']}"


def _engine_candidates(key: str) -> list[str]:
    """The key, then its version cut to major.minor, then the name alone (the newest line)."""
    m = re.match(r"^(?P<name>.+)-(?P<major_minor>\d+\.\d+)(?:\.\d+)*$", key)
    if m is None:
        return [key]
    return list(dict.fromkeys([key, f"{m['name']}-{m['major_minor']}", m["name"]]))


@lru_cache(maxsize=1)
def _engine_names() -> dict[str, str]:
    """Normalized id or alias → shipped engine id."""
    names: dict[str, str] = {}
    for spec in list_engines():
        for name in (spec.id, *spec.aliases):
            names.setdefault(engine_key(name), spec.id)
    return names


def _engine_id(arg: str) -> str:
    """A shipped id for `arg` when it names one by id, alias or versioned name; else `arg`."""
    if _looks_like_path(arg) or (profiles_dir("engine_profiles") / f"{arg}.yaml").is_file():
        return arg
    names = _engine_names()
    return next((names[k] for k in _engine_candidates(engine_key(arg)) if k in names), arg)


def load_engine(id_or_path: EngineLike | None = None) -> EngineSpec:
    """An EngineSpec from a shipped id (e.g. 'vllm'), one of its aliases or versioned names
    (`tensorrt-llm`, `vllm==0.6.3`; `engine_key`) or a YAML profile path; None: the default
    engine (DEFAULT_ENGINE); an EngineSpec as it is."""
    if id_or_path is not None and not isinstance(id_or_path, (str, Path)):
        return _as(id_or_path, EngineSpec, load_engine, "engine", "an engine id, a profile path")
    arg = DEFAULT_ENGINE if id_or_path is None else str(id_or_path)
    path = _resolve("engine_profiles", _engine_id(arg), "engine", "magicplan engines list")
    return _cached(_engine_from_mapping, str(path), _stamp(path))


def list_engines() -> list[EngineSpec]:
    """Every shipped engine profile, sorted by id."""
    return _shipped("engine_profiles", _engine_from_mapping)


def runnable(engine: EngineSpec | None, hardware: HardwareSpec) -> EngineSpec | None:
    """The engine whose features bound a plan: the one named; with none, the default engine,
    unless the hardware profile carries its own calibration (its engine's features are not
    known: nothing is left out)."""
    if engine is not None:
        return engine
    if hardware.calibration is not None:
        return None
    return load_engine()
