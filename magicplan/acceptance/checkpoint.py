"""Which checkpoint to run: a Hugging Face folder (config.json, safetensors, tokenizer) or a GGUF
file (converted once into the cache). Every way it can be unusable is one clear error."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from magicplan.errors import MagicplanError
from magicplan.io import load_json
from magicplan.specs import load_model
from magicplan.specs.model import ModelSpec

RUNNABLE = ("llama", "mistral")  # the torch runner's decoder: Llama layers, no biases, no QK-norm
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")
FORMS = "a Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer) or a .gguf file"


@dataclass(frozen=True)
class Checkpoint:
    """A runnable model: the path given, its Hugging Face folder, spec (its id names the model in
    acceptance tables, as `load_model` reads the same path) and parsed config.json."""

    path: Path
    folder: Path
    spec: ModelSpec
    config: dict[str, Any]


def _check_folder(folder: Path, cfg: dict[str, Any], source: Path) -> None:
    archs = cfg.get("architectures") or []
    if archs and not any(str(a).endswith("ForCausalLM") for a in archs):
        raise MagicplanError(
            f"{source}: not a causal language model (architectures: {', '.join(map(str, archs))})"
        )
    if cfg.get("model_type") not in RUNNABLE:
        raise MagicplanError(
            f"{source}: model_type '{cfg.get('model_type')}'; acceptance runs "
            f"{', '.join(RUNNABLE)} checkpoints (the torch runner's Llama layers)"
        )
    if not any((folder / f).is_file() for f in TOKENIZER_FILES):
        raise MagicplanError(
            f"{source}: no tokenizer in the checkpoint folder (one of {', '.join(TOKENIZER_FILES)})"
        )


def _gguf_checks(path: Path) -> None:
    from magicplan.specs.gguf import read_header

    meta = read_header(path).metadata
    if "tokenizer.ggml.model" not in meta:
        raise MagicplanError(f"{path}: no tokenizer in the GGUF metadata (tokenizer.ggml.*)")
    arch = meta.get("general.architecture")
    if arch not in RUNNABLE:
        raise MagicplanError(
            f"{path}: GGUF architecture '{arch}'; acceptance runs {', '.join(RUNNABLE)} models"
        )


def resolve(path: str | Path) -> Checkpoint:
    """The checkpoint at `path`, its GGUF conversion made (or found) in the cache."""
    p = Path(path)
    if not p.exists():
        raise MagicplanError(f"{p}: file not found (expected {FORMS})")
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise MagicplanError(f"{p}: no config.json (expected {FORMS})")
        cfg = load_json(p / "config.json")
        _check_folder(p, cfg, p)
        return Checkpoint(p, p, load_model(p / "config.json"), cfg)
    if p.suffix.lower() != ".gguf":
        raise MagicplanError(f"{p}: expected {FORMS}")
    _gguf_checks(p)
    spec = load_model(p)
    try:
        from magicplan.acceptance.gguf_weights import converted

        folder = converted(p)
    except ImportError as exc:
        raise MagicplanError(
            f"{p}: loading GGUF weights needs the acceptance extra "
            f"(pip install 'magicplan[acceptance]'; missing: {exc.name})"
        ) from exc
    cfg = load_json(folder / "config.json")
    _check_folder(folder, cfg, p)
    return Checkpoint(p, folder, spec, cfg)


def load_tokenizer(ckpt: Checkpoint) -> Any:
    """The checkpoint's tokenizer (transformers; local files only: without that, transformers asks
    the Hugging Face hub about the folder and waits ~20 s for the answer on an offline machine)."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(ckpt.folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise MagicplanError(f"{ckpt.path}: cannot load the tokenizer ({exc})") from exc
