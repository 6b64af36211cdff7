"""Fit a device's achievable fractions and overheads on microbenchmark rows (docs/measure-format.md).

Only microbenchmarks are used, never whole-model runs (those are what `infersim validate` judges):

- memory-bound GEMMs (intensity below half the device's measured balance) give
  `seconds = overhead + bytes / achieved bytes/s` by least squares:
  the slope is the achieved streaming bandwidth, the intercept the fixed cost per kernel;
- the largest-m GEMMs give the achieved matmul FLOP/s (median, fixed cost removed);
- long causal prefill attention gives the achieved attention FLOP/s on 4·B·H·T·(T+1)/2·d_h FLOPs;
- GEMMs far slower than their bytes need give how the matmul rate rises with rows (m½);
- `op_overhead` rows (a tiny Hugging Face decoder layer whose arithmetic is negligible) give the
  framework's host cost per kernel launch: the layer's time over the kernels infersim's `hf` op graph
  says such a layer launches.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median
from typing import Any

import numpy as np

from infersim.cost.intensity import matmul_bytes, matmul_flops
from infersim.errors import InfersimError

Rows = list[dict[str, Any]]
_STREAMING_SLACK = 1.25  # a GEMM within this factor of the matrix-vector line streams at memory speed

# The dtypes measure files name, mapped to infersim's format names.
DTYPE_ALIASES = {"bf16": "bf16", "bfloat16": "bf16", "fp16": "fp16", "float16": "fp16", "fp32": "fp32",
                 "float32": "fp32", "fp8_e4m3": "fp8", "fp8": "fp8"}


def dtype_of(row: dict[str, Any] | None, default: str | None = "bf16") -> str | None:
    """The infersim format a row names (`default` when it names none)."""
    value = row.get("dtype") if row else None
    if value is None:
        return default
    return DTYPE_ALIASES.get(str(value), str(value))


def gemm_flops(row: dict[str, Any]) -> float:
    """FLOPs of a GEMM row: 2·m·k·n."""
    return matmul_flops(row["m"], row["k"], row["n"])


def gemm_bytes(row: dict[str, Any]) -> float:
    """Bytes a GEMM row moves: both operands read, the result written once."""
    from infersim.specs.dtypes import bytes_per_element

    return matmul_bytes(row["m"], row["k"], row["n"], bytes_per_element(dtype_of(row)))


def _need(rows: Rows, what: str, hint: str) -> Rows:
    if not rows:
        raise InfersimError(f"the measure file has no {what} rows to fit on; {hint}")
    return rows


def gemm_rows(rows: Rows, dtype: str) -> Rows:
    """GEMM rows of one format, from a CUDA graph where the file has them (no launch gaps), else eager."""
    graph = [r for r in rows if r.get("kind") == "gemm_graph" and dtype_of(r) == dtype]
    return graph or [r for r in rows if r.get("kind") == "gemm" and dtype_of(r) == dtype]


def _line(rows: Rows) -> tuple[float, float]:
    """(bytes/s, seconds) of `seconds = overhead + bytes / bytes_per_s` by least squares."""
    x = np.array([gemm_bytes(r) for r in rows], dtype=float)
    y = np.array([r["seconds"] for r in rows], dtype=float)
    if len(set(x.tolist())) < 2:
        raise InfersimError("the memory-bound GEMM rows need at least two different sizes to fit a line")
    slope, intercept = np.polyfit(x, y, 1)
    if slope <= 0:
        raise InfersimError("memory-bound GEMM times do not grow with size; the measurements look broken")
    return float(1.0 / slope), max(float(intercept), 0.0)


def gemm_intensity(row: dict[str, Any]) -> float:
    """FLOPs per byte of a GEMM row: 2·m·k·n / bytes moved."""
    return gemm_flops(row) / gemm_bytes(row)


def fit_memory(rows: Rows, dtype: str) -> tuple[float, float]:
    """(achieved bytes/s, fixed seconds per kernel) from the memory-bound GEMMs, least squares.

    Which GEMMs are memory bound depends on the device, so it is found from the data: a first line
    through the matrix-vector rows (m = 1, ~0.5-1 FLOP/B: memory bound on any device) and the large-m
    rate give the device's balance C/W; the final line goes through every row whose intensity is
    below half of it and whose time the first line explains within 25% (a GPU streams its m ≤ 64 GEMMs
    at memory speed; a CPU's few-row GEMMs run well below it, which the rows law m½ describes instead).
    """
    gemms = _need(gemm_rows(rows, dtype), f"{dtype} GEMM", "run `infersim measure`")
    smallest = min(r["m"] for r in gemms)
    first_bw, first_overhead = _line([r for r in gemms if r["m"] == smallest])
    balance = fit_matmul_flops(rows, dtype, first_overhead) / first_bw
    bound = [r for r in gemms if gemm_intensity(r) < balance / 2
             and r["seconds"] <= _STREAMING_SLACK * (first_overhead + gemm_bytes(r) / first_bw)]
    return _line(bound) if len({gemm_bytes(r) for r in bound}) >= 2 else (first_bw, first_overhead)


def fit_matmul_flops(rows: Rows, dtype: str, overhead: float) -> float:
    """Achieved matmul FLOP/s: median over the GEMMs with the largest m (the prefill regime)."""
    gemms = _need(gemm_rows(rows, dtype), f"{dtype} GEMM", "run `infersim measure`")
    largest = max(r["m"] for r in gemms)
    big = [r for r in gemms if r["m"] == largest]
    return median(gemm_flops(r) / max(r["seconds"] - overhead, 1e-12) for r in big)


def fit_rows_half(rows: Rows, dtype: str, flops_per_s: float, bytes_per_s: float, overhead: float) -> float:
    """m½ of the GEMM rate's rise with rows m: rate(m) = C·m / (m + m½).

    Fitted as 1/rate = 1/C + (m½/C)·(1/m) by least squares over the GEMMs that take at least twice
    their memory time (neither memory bound nor in the roofline's corner); 0 when those rows span
    fewer than two values of m (a GPU: its small-m GEMMs are memory bound), or the fit is not positive.
    """
    slow = [r for r in gemm_rows(rows, dtype)
            if r["seconds"] - overhead > 2.0 * gemm_bytes(r) / bytes_per_s and r["seconds"] > overhead]
    if len({r["m"] for r in slow}) < 2:
        return 0.0
    x = np.array([1.0 / r["m"] for r in slow])
    y = np.array([(r["seconds"] - overhead) / gemm_flops(r) for r in slow])
    slope, intercept = np.polyfit(x, y, 1)
    if slope <= 0 or intercept <= 0:
        return 0.0
    return float(slope / intercept)


def attention_flops(row: dict[str, Any]) -> float:
    """Causal prefill attention FLOPs: 4·B·H·T·(T+1)/2·d_h (QKᵀ and PV over the causal half)."""
    t = row["tokens"]
    return 4.0 * row["batch"] * row["heads_q"] * t * (t + 1) / 2.0 * row["head_dim"]


def fit_attention_flops(rows: Rows, overhead: float, min_tokens: int | None = None) -> float:
    """Achieved attention FLOP/s: median over the longest causal prefill attention rows."""
    prefill = _need([r for r in rows if r.get("kind") == "attn_prefill"], "attn_prefill", "run `infersim measure`")
    longest = min_tokens if min_tokens is not None else max(r["tokens"] for r in prefill)
    long = [r for r in prefill if r["tokens"] >= longest]
    return median(attention_flops(r) / max(r["seconds"] - overhead, 1e-12) for r in long)


def fit_host_seconds_per_op(rows: Rows, ops_per_layer: int, kernel_overhead: float) -> float | None:
    """Host seconds per launched op: a tiny decoder layer's time, less its kernels' fixed device cost,
    over the kernels that layer launches; None when the file has no such row."""
    layer = [r["seconds"] for r in rows if r.get("kind") == "op_overhead" and r.get("op") == "decoder_layer_tiny"]
    if not layer:
        return None
    return max(median(layer) / ops_per_layer - kernel_overhead, 0.0)


@dataclass(frozen=True)
class DeviceFit:
    """What a measure file says about a device, in SI units."""

    dtype: str
    copy_bytes_per_s: float | None
    achieved_bytes_per_s: float
    kernel_overhead_seconds: float
    matmul_flops_per_s: float
    attention_flops_per_s: float
    host_launch_seconds: float | None
    matmul_rows_half: float = 0.0


def launching_ops_per_layer(dtype: str = "fp32") -> int:
    """Kernels the `decoder_layer_tiny` probe launches: one Hugging Face Llama decoder layer in `dtype`
    without a cache, counted from infersim's own `hf` op graph so the fit and the model agree."""
    from infersim.cost.ops import HF_CACHE_UPDATE_LAUNCHES, forward_ops
    from infersim.specs.model import ModelSpec
    from infersim.specs.workload import Workload

    tiny = ModelSpec(id="tiny", name="tiny", source="calibration", hidden_size=64, num_layers=1,
                     num_attention_heads=2, num_key_value_heads=2, head_dim=32, intermediate_size=128, vocab_size=8)
    workload = Workload(batch=1, prompt_tokens=1, weights_dtype=dtype, kv_dtype=dtype, activations_dtype=dtype)
    ops = forward_ops(tiny, workload, "prefill", graph="hf")
    model_level = {"embed", "rotary_tables", "final_norm", "lm_head", "sample"}
    return sum(op.launches for op in ops if op.name not in model_level) - HF_CACHE_UPDATE_LAUNCHES


def fit_device(rows: Rows, dtype: str | None = None) -> DeviceFit:
    """Every figure `calibrate` needs, from the microbenchmark rows of one measure file."""
    formats = [dtype_of(r) for r in rows if r.get("kind") in ("gemm", "gemm_graph")]
    if not formats:
        raise InfersimError("the measure file has no GEMM rows; run `infersim measure` to produce one")
    dtype = dtype or max(set(formats), key=formats.count)
    achieved_bw, overhead = fit_memory(rows, dtype)
    copies = [r["bytes_moved"] / r["seconds"] for r in rows if r.get("kind") == "copy"]
    matmul = fit_matmul_flops(rows, dtype, overhead)
    rows_half = fit_rows_half(rows, dtype, matmul, achieved_bw, overhead)
    largest = max(r["m"] for r in gemm_rows(rows, dtype))
    matmul *= (largest + rows_half) / largest  # the rate as m grows without bound, which m½ scales down
    return DeviceFit(
        dtype=dtype,
        copy_bytes_per_s=max(copies) if copies else None,
        achieved_bytes_per_s=achieved_bw,
        kernel_overhead_seconds=overhead,
        matmul_flops_per_s=matmul,
        attention_flops_per_s=fit_attention_flops(rows, overhead),
        host_launch_seconds=fit_host_seconds_per_op(rows, launching_ops_per_layer(dtype), overhead),
        matmul_rows_half=rows_half,
    )
