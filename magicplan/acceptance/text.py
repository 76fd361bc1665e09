"""Prompts from a text file: sample j of a context S is the S tokens starting at token j·(S + n),
n the continuation length, so `measure` and `check` read the same passages for a context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from magicplan.errors import MagicplanError
from magicplan.io import read_text

CHARS_PER_TOKEN = 3  # tokenize this many characters per token needed (English BPE: ~4), then more


def text_tokens(tokenizer: Any, path: str | Path, needed: int) -> list[int]:
    """The first `needed` tokens of the text at `path` (tokenizing only as much as it takes)."""
    text = read_text(path)
    chars = needed * CHARS_PER_TOKEN
    while True:
        ids = tokenizer(text[:chars], add_special_tokens=False)["input_ids"]
        if len(ids) >= needed or chars >= len(text):
            break
        chars *= 2
    if len(ids) < needed:
        raise MagicplanError(
            f"{path}: the text has {len(ids)} tokens; {needed} are needed "
            "(--contexts x --samples plus the continuations): give a longer --text"
        )
    return [int(i) for i in ids[:needed]]


def prompt_windows(context: int, continuation: int, samples: int) -> list[slice]:
    """Token ranges of the prompts of one context."""
    stride = context + continuation
    return [slice(j * stride, j * stride + context) for j in range(samples)]


def tokens_needed(contexts: list[int], continuation: int, samples: int) -> int:
    """Tokens of text every context's prompts cover."""
    return max(prompt_windows(c, continuation, samples)[-1].stop for c in contexts)
