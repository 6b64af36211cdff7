"""Arithmetic intensity (FLOPs per byte moved) of the products a transformer is made of.

Symbols (scaling-book style): B batch rows, D model width, F output width, S tokens already cached,
T new tokens, b bytes per element.
"""

from __future__ import annotations


def matmul_flops(rows: float, inner: float, cols: float) -> float:
    """FLOPs of [rows, inner] @ [inner, cols]: 2·rows·inner·cols (a multiply-accumulate is 2 FLOPs)."""
    return 2.0 * rows * inner * cols


def matmul_bytes(rows: float, inner: float, cols: float, bytes_per_element: float = 2.0) -> float:
    """Bytes of [rows, inner] @ [inner, cols] reading both operands and writing the result once:
    b·(rows·inner + inner·cols + rows·cols)."""
    return bytes_per_element * (rows * inner + inner * cols + rows * cols)


def matmul_intensity(batch: float, d_in: float, d_out: float, bytes_per_element: float = 2.0) -> float:
    """Intensity of [B, D] @ [D, F] reading both operands and writing the result once.

    2BDF / (b·(BD + DF + BF)); when B ≪ D, F this is ≈ B·2/b, i.e. ≈ B for 2-byte values
    (scaling-book "roofline"; essay M1).
    """
    return matmul_flops(batch, d_in, d_out) / matmul_bytes(batch, d_in, d_out, bytes_per_element)


def critical_batch(peak_flops_per_s: float, bytes_per_s: float, bytes_per_weight: float = 2.0) -> float:
    """Batch at which a weight-streaming matmul turns compute bound: B_crit ≈ (C / W) · b / 2.

    With B ≪ D, F the matmul moves b·D·F weight bytes for 2·B·D·F FLOPs, so it is compute bound once
    2B/b ≥ C/W. For 2-byte weights B_crit = C/W (H100: 989e12 / 3.35e12 ≈ 295, essay M2). FP8 halves
    b and doubles C, leaving B_crit unchanged (essay M4).
    """
    return peak_flops_per_s / bytes_per_s * bytes_per_weight / 2.0


def attention_intensity(cached_tokens: float, new_tokens: float) -> float:
    """Intensity of one head's FlashAttention with S cached and T new tokens: ST / (S + T).

    FLOPs 4·B·S·T·D (QKᵀ and PV); bytes 4·B·S·D + 4·B·T·D (K and V read, Q read and O written, 2-byte
    values), so B and D cancel (essay A1). Prefill (S = T) gives T/2; decode (T = 1, S ≫ 1) gives ≈ 1.
    """
    return cached_tokens * new_tokens / (cached_tokens + new_tokens)
