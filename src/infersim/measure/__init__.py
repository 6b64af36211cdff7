"""The measuring instrument: time real work with PyTorch and Hugging Face transformers on this machine.

`measure(preset_name="quick", device="cpu", out="m.jsonl")` writes the JSON lines that `infersim
calibrate` fits on and `infersim validate` scores (docs/measure-format.md): a `machine` row, then
microbenchmarks (copy, GEMM, attention, per-op framework overhead) and whole-model runs (a Llama and a
Mixtral-style MoE built from a config with random normal weights). torch and transformers load only
when a measurement runs, so importing this package is cheap.

- `timing`: medians after warm-up (perf_counter on CPU, CUDA events on GPUs)
- `machine`: the machine row
- `microbench`: copy, gemm, gemm_graph, attn_prefill, attn_decode, op_overhead
- `models`: model_info, hf_prefill, hf_decode_eager, fast_decode_graph
- `presets`: the shapes each preset measures, per device type
- `run`: orchestration and the atomic writer
"""

from __future__ import annotations

from infersim.measure.presets import PRESETS, Preset, preset
from infersim.measure.run import MISSING_TORCH, MeasureResult, measure

__all__ = ["measure", "MeasureResult", "MISSING_TORCH", "PRESETS", "Preset", "preset"]
