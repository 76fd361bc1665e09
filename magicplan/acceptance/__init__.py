"""Acceptance rates measured from real weights (`magicplan acceptance measure|check`).

Not to be confused with `magicplan.planner.acceptance`, the lookup of published (or measured)
rates by the planner: this package produces such tables. It loads a Hugging Face checkpoint or a
GGUF file (`checkpoint`, `gguf_weights`, `weights`) into the torch runner's Llama decoder, scores
a draft's compressed view against its target in one masked pass per method and budget
(`measure`), turns per-position rates into α, intervals and per-position conditional rates
(`rates`), writes the table (`table`), and checks it against a real speculative loop (`run`).

torch, transformers, safetensors and gguf (the `acceptance` extra) are imported inside functions
only; `rates` and `table` need numpy alone.
"""
