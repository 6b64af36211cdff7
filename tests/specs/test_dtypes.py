"""Number formats: bytes per element with the scales counted, by hand for each scaled format; the
native compute format; one clear error for an unknown name."""

from __future__ import annotations

import pytest

from infersim.errors import InfersimError
from infersim.figures import full_adders_by_format
from infersim.specs.dtypes import (DTYPES, FORMATS, MANTISSA_BITS, WEIGHT_ONLY_FORMATS, bits_per_element,
                                   bytes_per_element, number_format)


def test_the_old_names_keep_their_bytes():
    assert {d: bytes_per_element(d) for d in DTYPES} == {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1,
                                                          "int4": 0.5, "fp4": 0.5, "bfp8": 1.0625}


@pytest.mark.parametrize("name, bits", [
    ("int4-g128", 4 + 16 / 128),            # GPTQ symmetric: a 16-bit scale per 128 weights = 4.125
    ("int4-g128-zp", 4 + (16 + 4) / 128),   # AWQ: + a 4-bit zero point per group = 4.15625
    ("int8-g128", 8 + 16 / 128),            # per-token int8 KV at d_h = 128: 8.125
    ("mxfp4", 4 + 8 / 32),                  # OCP MX: E2M1 + one E8M0 per 32 = 4.25
    ("nvfp4", 4 + 8 / 16),                  # E2M1 + one E4M3 per 16 = 4.5
    ("bfp8", 8 + 8 / 16),                   # Tenstorrent BFP8-B: sign + 7 bits, one 8-bit exponent per 16 = 8.5
    ("bfp4", 4 + 8 / 16),                   # BFP4-B: sign + 3 bits, the same shared exponent = 4.5
    ("int2-kivi", 2 + 2 * 16 / 32),         # KIVI: fp16 scale and zero per 32 = 3
    ("int4-kivi", 4 + 2 * 16 / 32),         # = 5
    ("int1-kivi-g64", 1 + 2 * 16 / 64),     # TailorKV's 1-bit layers = 1.5
])
def test_scaled_formats_count_their_scales(name, bits):
    assert bits_per_element(name) == bits
    assert bytes_per_element(name) == bits / 8


def test_exact_values_a_reader_can_check():
    assert bytes_per_element("int4-g128") == 0.515625
    assert bytes_per_element("mxfp4") == 0.53125
    assert bytes_per_element("nvfp4") == 0.5625
    assert bytes_per_element("int2-kivi") == 0.375


def test_native_compute_formats():
    assert number_format("fp8").native == "fp8" and number_format("int8").native == "int8"
    assert number_format("mxfp4").native == number_format("nvfp4").native == "fp4"
    # AWQ/GPTQ and the legacy 4-bit names are weight-only: always dequantized
    assert {"int4", "fp4", "int4-g128", "int4-g128-zp", "int2-kivi"} <= WEIGHT_ONLY_FORMATS
    assert "fp8" not in WEIGHT_ONLY_FORMATS and "nvfp4" not in WEIGHT_ONLY_FORMATS
    assert all(f.native in DTYPES for f in FORMATS.values() if f.native)  # a native format is a peak key


def test_mantissa_bits_come_from_the_table_and_set_multiplier_area():
    assert MANTISSA_BITS["fp4"] == MANTISSA_BITS["mxfp4"] == MANTISSA_BITS["nvfp4"] == 1  # E2M1
    # F1-F2: (M + 1)² full adders; E2M1 → 2² = 4, a quarter of FP8-E4M3's 16
    assert full_adders_by_format(("fp8", "fp4", "mxfp4", "nvfp4")) == {"fp8": 16, "fp4": 4, "mxfp4": 4, "nvfp4": 4}
    assert "int4-g128" not in MANTISSA_BITS  # integers have no mantissa
    with pytest.raises(ValueError, match="no mantissa width for int4-g128"):
        full_adders_by_format(("int4-g128",))


def test_unknown_format_names_the_closest():
    with pytest.raises(InfersimError, match=r"unknown number format 'int4g128': did you mean int4-g128"):
        bytes_per_element("int4g128")
    with pytest.raises(InfersimError, match="nvfp4"):
        number_format("nvfp5")
