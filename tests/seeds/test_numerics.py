"""Seed figures F1-F4: multiplier area by mantissa width, the size of a BF16 weight matrix, the cited
optimal precision (essay 'Domain specific architectures for AI inference', section 'Lower precision')."""

from infersim.figures import OPTIMAL_PRECISION_BITS, full_adders_by_format, multiplier_full_adders, tensor_bytes
from infersim.specs.dtypes import MANTISSA_BITS


def test_f1_full_adders_are_the_square_of_the_significand_width():
    assert multiplier_full_adders(0) == 1  # a 1-bit significand: one AND/adder cell
    assert multiplier_full_adders(3) == 16  # (3+1)²
    # quadratic: doubling the significand quadruples the adders
    assert multiplier_full_adders(2 * 8 - 1) == 4 * multiplier_full_adders(8 - 1)


def test_f2_full_adders_per_format():
    assert MANTISSA_BITS["fp32"] == 23 and MANTISSA_BITS["fp16"] == 10
    assert MANTISSA_BITS["bf16"] == 7 and MANTISSA_BITS["fp8"] == 3  # E4M3
    assert full_adders_by_format() == {"fp32": 576, "fp16": 121, "bf16": 64, "fp8": 16}  # 24², 11², 8², 4²


def test_f2_fp32_costs_nine_times_bf16():
    adders = full_adders_by_format()
    assert adders["fp32"] / adders["bf16"] == 9  # 576 / 64


def test_f3_bf16_4096_square_matrix():
    size = tensor_bytes((4096, 4096), "bf16")
    assert size == 4096 * 4096 * 2 == 2**25
    assert size / 2**20 == 32  # 32 MiB
    assert round(size / 1e6, 1) == 33.6  # ≈ 33.6 MB
    assert tensor_bytes((4096, 4096), "fp8") == size / 2


def test_f4_optimal_precision_is_cited_not_derived():
    assert OPTIMAL_PRECISION_BITS.range == (7.0, 8.0)
    assert "Scaling Laws for Precision" in OPTIMAL_PRECISION_BITS.source
    assert "2411.04330" in OPTIMAL_PRECISION_BITS.source
