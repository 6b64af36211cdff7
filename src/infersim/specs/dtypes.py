"""Number formats: what one element costs in memory, what a device multiplies it in, and the mantissa
width that sets multiplier area. One table (`FORMATS`), read by everything else.

Bytes come from here and nowhere else: a tensor's bytes are `numel * bytes_per_element(dtype)`, and a
block-scaled format's bytes per element include its share of the scales:

    bits per element = b_elem + (b_scale + b_zero) / g

b_elem the element code, g the elements sharing one scale (and zero point), b_scale and b_zero their
widths. Per-tensor scales (fp8, int8) are one float per matrix: ≈ 0 bits per element, counted as 0.

| name | b_elem | g | scale | zero | bits | source |
|---|---|---|---|---|---|---|
| fp32, bf16, fp16 | 32, 16, 16 | – | – | – | 32, 16, 16 | IEEE 754; bfloat16 (Google Brain) |
| fp8 | 8 (E4M3) | tensor | fp32 | – | 8 | Micikevicius et al. 2022, arXiv 2209.05433 |
| int8 | 8 | tensor/channel | fp16 | – | 8 | W8A8 (SmoothQuant, Xiao et al. 2023) |
| int4, fp4 | 4 | – | – | – | 4 | an ideal 4-bit code, no scales (kept for comparison) |
| int8-g128 | 8 | 128 | fp16 | – | 8.125 | per-token (d_h = 128) or group-wise int8 |
| int4-g128 | 4 | 128 | fp16 | – | 4.125 | GPTQ symmetric (Frantar et al. 2022, arXiv 2210.17323) |
| int4-g128-zp | 4 | 128 | fp16 | 4-bit | 4.15625 | AWQ / GPTQ asymmetric (Lin et al. 2023, arXiv 2306.00978) |
| mxfp4 | 4 (E2M1) | 32 | E8M0 (8) | – | 4.25 | OCP Microscaling Formats (MX) v1.0 |
| nvfp4 | 4 (E2M1) | 16 | E4M3 (8) | – | 4.5 | NVIDIA Blackwell NVFP4 (+ one fp32 per tensor ≈ 0) |
| int4-kivi | 4 | 32 | fp16 | fp16 | 5 | KIVI (Liu et al. 2024, arXiv 2402.02750), 4-bit |
| int2-kivi | 2 | 32 | fp16 | fp16 | 3 | KIVI 2-bit: keys per channel, values per token |
| int1-kivi-g64 | 1 | 64 | fp16 | fp16 | 1.5 | TailorKV's quantized layers (arXiv 2505.19586) |
| bfp8 | 8 (sign + 7) | 16 | shared exp (8) | – | 8.5 | Tenstorrent BFP8-B (docs.tenstorrent.com pybuda "Data Formats") |
| bfp4 | 4 (sign + 3) | 16 | shared exp (8) | – | 4.5 | Tenstorrent BFP4-B (same) |

GPTQ/AWQ checkpoints store `qweight` (4-bit codes packed in int32), `scales` (fp16, one per group and
output column) and, when asymmetric, `qzeros` (4-bit codes packed in int32). KIVI quantizes keys per
channel and values per token in groups of g tokens or channels, with an fp16 scale and minimum per
group (its full-precision residual of the last R = 128 tokens is not counted).

`native` is the `peak_flops_per_s` key a device must list to multiply the format directly (fp8 on
H100, fp4 on B200, bfp8 on Tenstorrent's Tensix, whose unpackers feed block-float tiles to the matrix
engine; bfp4 is taken at the bfp8 rate, its lower-fidelity rate not being listed). A format with none, or on a device without that peak, is dequantized to the
activation format before the multiply (weight-only: W4A16 AWQ/GPTQ; fp8 on A100); `int4`/`fp4` stay
weight-only everywhere, as before the scaled formats existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from infersim.errors import InfersimError, closest_names

# Formats a device can list a peak for (`DeviceSpec.peak_flops_per_s` keys).
DType = Literal["fp32", "bf16", "fp16", "fp8", "int8", "int4", "fp4", "bfp8"]
DTYPES: tuple[str, ...] = get_args(DType)
ACTIVATION_FAMILY = frozenset({"fp32", "bf16", "fp16"})  # formats multiplied without conversion

# Arithmetic to turn one stored element back into the activation format: (q − z)·s as one fused
# multiply-add, 2 FLOPs (unpacking bits and the per-block scale load are not counted).
DEQUANT_FLOPS_PER_ELEMENT = 2


@dataclass(frozen=True, slots=True)
class NumberFormat:
    """One storage format: the element code and, for block-scaled formats, the block's scale and zero."""

    name: str
    element_bits: int
    block_elements: int = 0  # elements sharing one scale; 0: per tensor or channel (overhead counted as 0)
    scale_bits: int = 0
    zero_bits: int = 0
    mantissa_bits: int | None = None  # explicit mantissa bits of a float element; None for integers
    native: str | None = None  # the peak a device multiplies it in natively; None: always dequantized
    source: str = ""

    @property
    def bits_per_element(self) -> float:
        """b_elem + (b_scale + b_zero)/g (module docstring)."""
        if not self.block_elements:
            return float(self.element_bits)
        return self.element_bits + (self.scale_bits + self.zero_bits) / self.block_elements

    @property
    def dequantized(self) -> bool:
        """Whether reading it into the activation format takes arithmetic (everything but fp32/bf16/fp16)."""
        return self.name not in ACTIVATION_FAMILY


_F = NumberFormat
FORMATS: dict[str, NumberFormat] = {f.name: f for f in (
    _F("fp32", 32, mantissa_bits=23, native="fp32", source="IEEE 754 binary32"),
    _F("bf16", 16, mantissa_bits=7, native="bf16", source="bfloat16 (Google Brain)"),
    _F("fp16", 16, mantissa_bits=10, native="fp16", source="IEEE 754 binary16"),
    _F("fp8", 8, mantissa_bits=3, native="fp8",
       source="FP8-E4M3, per-tensor fp32 scale (Micikevicius et al. 2022, arXiv 2209.05433)"),
    _F("int8", 8, native="int8", source="INT8 with a per-tensor or per-channel scale (SmoothQuant W8A8)"),
    _F("int4", 4, source="an ideal 4-bit integer code with no scales counted (weight-only)"),
    _F("fp4", 4, mantissa_bits=1, source="FP4-E2M1 (OCP MX v1.0) with no scales counted (weight-only)"),
    _F("int8-g128", 8, 128, 16, source="INT8 with an fp16 scale per 128 elements (per token and head at d_h = 128)"),
    _F("int4-g128", 4, 128, 16,
       source="GPTQ symmetric, group 128: 4-bit codes + an fp16 scale per group (Frantar et al. 2022, "
              "arXiv 2210.17323)"),
    _F("int4-g128-zp", 4, 128, 16, 4,
       source="AWQ / GPTQ asymmetric, group 128: + a 4-bit zero point per group (qzeros; Lin et al. 2023, "
              "arXiv 2306.00978)"),
    _F("mxfp4", 4, 32, 8, mantissa_bits=1, native="fp4",
       source="OCP Microscaling Formats (MX) v1.0: 32 FP4-E2M1 elements share one E8M0 scale"),
    _F("nvfp4", 4, 16, 8, mantissa_bits=1, native="fp4",
       source="NVIDIA NVFP4 (Blackwell): 16 FP4-E2M1 elements share one FP8-E4M3 scale, plus an fp32 per tensor"),
    _F("int4-kivi", 4, 32, 16, 16,
       source="KIVI 4-bit, group 32, fp16 scale and zero (Liu et al. 2024, arXiv 2402.02750)"),
    _F("int2-kivi", 2, 32, 16, 16,
       source="KIVI 2-bit, group 32: keys per channel, values per token, fp16 scale and zero (arXiv 2402.02750)"),
    _F("int1-kivi-g64", 1, 64, 16, 16,
       source="TailorKV's quantization-friendly layers: k_bits = v_bits = 1, group 64, fp16 scale and minimum "
              "(arXiv 2505.19586; github.com/ydyhello/TailorKV test_latency.py)"),
    _F("bfp8", 8, 16, 8, mantissa_bits=7, native="bfp8",
       source="Tenstorrent BFP8-B: 16 elements of sign + 7-bit mantissa share one 8-bit exponent "
              "(docs.tenstorrent.com/pybuda/latest/dataformats.html)"),
    _F("bfp4", 4, 16, 8, mantissa_bits=3, native="bfp8",
       source="Tenstorrent BFP4-B: 16 elements of sign + 3-bit mantissa share one 8-bit exponent "
              "(docs.tenstorrent.com/pybuda/latest/dataformats.html)"),
)}

# Explicit mantissa bits (without the implicit leading one) of the floating formats, for multiplier area.
MANTISSA_BITS: dict[str, int] = {n: f.mantissa_bits for n, f in FORMATS.items() if f.mantissa_bits is not None}
# Formats no device multiplies in natively: always dequantized to the activation format first.
WEIGHT_ONLY_FORMATS = frozenset(n for n, f in FORMATS.items() if f.native is None)


def number_format(name: str) -> NumberFormat:
    """The format called `name`, or one error line naming the closest known ones."""
    try:
        return FORMATS[name]
    except KeyError:
        near = closest_names(str(name), FORMATS)
        hint = f"did you mean {', '.join(near)}? " if near else ""
        raise InfersimError(f"unknown number format '{name}': {hint}known: {', '.join(FORMATS)}") from None


def check_format(name: str) -> str:
    """`name` if it is a known format (pydantic field validator), else the `number_format` error."""
    number_format(name)
    return name


def bits_per_element(dtype: str) -> float:
    """Storage bits of one element of `dtype`, its share of block scales and zero points included."""
    return number_format(dtype).bits_per_element


def bytes_per_element(dtype: str) -> float:
    """Storage bytes of one element of `dtype`, scales included: bf16 2, fp8 1, int4 0.5, int4-g128
    4.125/8 = 0.515625, mxfp4 4.25/8, nvfp4 4.5/8, int2-kivi 3/8."""
    return bits_per_element(dtype) / 8
