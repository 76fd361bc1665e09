"""Draft KV compression methods and their constants: one home for every module that costs them
(`cost/steps.py`), runs them (`calibration/torch_runner/compress.py`) or measures their
acceptance. What each keeps is in docs/model.md §2 ("Draft KV compression").
"""

from __future__ import annotations

from typing import Literal, get_args

# full: the whole context; streamingllm: sinks + recent window; snapkv: selected once at
# prefill; topk: re-selected every step (a scan over all keys).
KvMethod = Literal["full", "streamingllm", "snapkv", "topk"]
KV_METHODS: tuple[str, ...] = get_args(KvMethod)
# StreamingLLM (Xiao et al., *Efficient Streaming Language Models with Attention Sinks*, ICLR
# 2024, arXiv 2309.17453 §3.2) keeps the first tokens as attention sinks and a recent window;
# MagicDec's StreamingLLM drafts keep 16 sinks (MagicDec, Sadhukhan et al., ICLR 2025, §4.2).
SINK_TOKENS = 16
# SnapKV (Li et al., *SnapKV: LLM Knows What You are Looking for Before Generation*, 2024,
# arXiv 2404.14469 §4.1): the last 32 prompt queries (the observation window) score every
# prompt key once at prefill; their attention is average-pooled with kernel 5 before top-k.
SNAPKV_WINDOW = 32
SNAPKV_POOL = 5
