"""The torch runner behind `magicplan calibrate` and `magicplan validate`.

A Llama-style decoder built from a `ModelSpec` with random weights (`model`), its KV cache and the
StreamingLLM / SnapKV compressions of it (`compress`), the speculative loop (`speculative`),
timing (`timing`), microbenchmarks (`microbench`), real step timings (`steps`), and the two
workflows (`calibrate`, `validate`).

torch is an optional extra (`pip install 'magicplan[calibrate]'`): it is imported inside
functions only, so importing this package (and the rest of magicplan) never needs it.
"""
