"""Number formats: the bytes one element occupies and the mantissa width that sets multiplier area.

Bytes come from here and nowhere else: a tensor's bytes are `numel * bytes_per_element(dtype)`.
"""

from __future__ import annotations

from typing import Literal, get_args

DType = Literal["fp32", "bf16", "fp16", "fp8", "int8", "int4", "fp4"]
DTYPES: tuple[str, ...] = get_args(DType)

_BITS: dict[str, int] = {"fp32": 32, "bf16": 16, "fp16": 16, "fp8": 8, "int8": 8, "int4": 4, "fp4": 4}

# Explicit mantissa bits (without the implicit leading one) of the floating formats; IEEE 754 for
# fp32/fp16, bfloat16 (Google Brain), FP8-E4M3 (Micikevicius et al. 2022, "FP8 Formats for Deep
# Learning"), FP4-E2M1 (OCP Microscaling spec v1.0).
MANTISSA_BITS: dict[str, int] = {"fp32": 23, "fp16": 10, "bf16": 7, "fp8": 3, "fp4": 1}

# 4-bit weights are treated as weight-only quantization (AWQ/GPTQ-style W4A16): dequantized to the
# activation format before the multiply, even where a device lists a 4-bit peak (native NVFP4/MXFP4
# W4A4 compute is not modelled yet). Other formats multiply natively where the device lists a peak.
WEIGHT_ONLY_FORMATS = frozenset({"int4", "fp4"})


def bits_per_element(dtype: str) -> int:
    """Storage bits of one element of `dtype`."""
    return _BITS[dtype]


def bytes_per_element(dtype: str) -> float:
    """Storage bytes of one element of `dtype` (0.5 for 4-bit formats); quantization scales are not
    counted yet."""
    return _BITS[dtype] / 8
