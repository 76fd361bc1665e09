"""The speculative config each serving engine reads, for every strategy it can run: vLLM's
`speculative_config` and SGLang's server arguments, a separate draft model or a drafting family
(docs/engines.md, "What each engine can and cannot express")."""

from __future__ import annotations

from typing import Any

from magicplan.planner.records import verifies_tree
from magicplan.specs.drafts import draft_kind

# What each engine calls each drafting family (vLLM speculative_config.method; SGLang
# --speculative-algorithm): vLLM docs "Speculative Decoding" (methods ngram, eagle, eagle3,
# medusa, mtp, draft_model); SGLang docs "Speculative Decoding" (EAGLE, EAGLE3, NEXTN for MTP
# modules, NGRAM, STANDALONE for a separate draft model; no Medusa).
VLLM_METHODS = {"eagle": "eagle", "eagle3": "eagle3", "medusa": "medusa", "mtp": "mtp",
                "ngram": "ngram"}  # fmt: skip
SGLANG_ALGORITHMS = {"eagle": "EAGLE", "eagle3": "EAGLE3", "mtp": "NEXTN", "ngram": "NGRAM"}


def family_limits(engine: str, chosen: dict[str, Any]) -> list[str]:
    """What the config cannot carry for a drafting family: the head checkpoint to name, and a
    tree vLLM drafts as a chain."""
    kind = chosen.get("draft_kind")
    out = []
    if kind in ("eagle", "eagle3", "medusa"):
        key = "speculative_config.model" if engine == "vllm" else "speculative_draft_model_path"
        out.append(f"set {key} to the {kind} head trained for this target (not a shipped profile)")
    tree = verifies_tree(chosen)
    if engine == "vllm" and kind in ("eagle", "eagle3") and tree:
        out.append(
            f"vLLM drafts {kind} as a chain of num_speculative_tokens = {chosen['gamma']} tokens "
            f"(its token tree is experimental): the plan's τ is a {chosen['tree_tokens']}-token "
            "tree's, a chain accepts fewer tokens per round"
        )
    return out


def engine_config(
    engine: str, draft: str | None, best: dict[str, Any], table: list[list[int]]
) -> dict[str, Any]:
    k = max([best["gamma"], *(row[2] for row in table)])  # the engine's K caps the table's
    kind = best.get("draft_kind", "draft_model")
    if engine == "vllm":
        config: dict[str, Any] = {
            "method": VLLM_METHODS.get(kind, "draft_model"),
            "model": draft,
            "num_speculative_tokens": k,
            "num_speculative_tokens_per_batch_size": table,
        }
        if kind == "ngram":
            del config["model"]
            config |= {"prompt_lookup_max": NGRAM_MAX, "prompt_lookup_min": 1}
        elif kind not in VLLM_METHODS:
            config["draft_tensor_parallel_size"] = best["draft_num_gpus"]
        return config
    # EAGLE's tree (top-k 10), or the chain a plan on an engine without trees drafted
    tree = kind in ("eagle", "eagle3") and verifies_tree(best)
    config = {
        "speculative_algorithm": SGLANG_ALGORITHMS.get(kind, "STANDALONE"),
        "speculative_draft_model_path": draft,
        "speculative_num_steps": best["gamma"],
        "speculative_eagle_topk": draft_kind(kind).branch if tree else 1,
        "speculative_num_draft_tokens": best["tree_tokens"] if tree else best["gamma"] + 1,
    }
    if kind in ("ngram", "mtp"):
        del config["speculative_draft_model_path"]  # the lookup, or the model's own module
    return config


NGRAM_MAX = 3  # prompt lookup's largest n-gram (apoorvumang/prompt-lookup-decoding default)
