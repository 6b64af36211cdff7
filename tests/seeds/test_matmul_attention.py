"""Seed figures M1-M4 (matmul intensity and critical batch) and A1-A3 (FlashAttention intensity) on the
H100 catalog entry (essay 'Domain specific architectures for AI inference', sections 'Matrix
Multiplications' and 'Attention')."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infersim.cost.intensity import attention_intensity, critical_batch, matmul_flops, matmul_intensity
from infersim.figures import critical_batches, decode_attention_intensity, prefill_attention_critical_length
from infersim.specs.catalog import load_device


def test_m1_intensity_exact_form():
    # [B, D]·[D, F] with B = D = F = 3: 2·27 FLOPs / (2·(9 + 9 + 9)) bytes = 1
    assert matmul_flops(3, 3, 3) == 54
    assert matmul_intensity(3, 3, 3) == 1.0
    # B = 1, D = F = 4096: 2·4096² / (2·(4096 + 4096² + 4096))
    assert matmul_intensity(1, 4096, 4096) == 4096**2 / (4096**2 + 2 * 4096)
    # 1-byte values double the intensity
    assert matmul_intensity(8, 4096, 4096, bytes_per_element=1.0) == 2 * matmul_intensity(8, 4096, 4096)


@given(st.integers(1, 64), st.integers(8192, 65536), st.integers(8192, 65536))
def test_m1_intensity_is_about_b_when_b_is_small(batch, d, f):
    intensity = matmul_intensity(batch, d, f)
    assert intensity < batch  # the activation reads and writes only lower it
    assert intensity == pytest.approx(batch, rel=2 * 64 / 8192)  # 1 / (1 + B/F + B/D)


def test_m2_h100_critical_batch_against_hbm():
    h100 = load_device("h100-sxm")
    assert h100.peak_for("bf16") == 989.4e12 and h100.main_memory.bytes_per_s == 3.35e12
    b_crit = critical_batches(h100).hbm
    assert round(b_crit) == 295  # 989.4e12 / 3.35e12 = 295.3 (the essay's 989/3.35 = 295.2)
    assert b_crit == pytest.approx(h100.ops_per_byte("bf16"))  # 2-byte weights: B_crit = ops:byte
    # at B_crit the exact matmul intensity, with D = F = 18432, is just below the ridge; at 2·B_crit it clears it
    assert matmul_intensity(b_crit, 18432, 18432) < h100.ops_per_byte() < matmul_intensity(2 * b_crit, 18432, 18432)


def test_m3_h100_critical_batch_if_weights_came_from_sram():
    assert round(critical_batches("h100-sxm").sram) == 32  # 989.4 / 31 = 31.9


def test_m4_fp8_weights_leave_b_crit_unchanged():
    crit = critical_batches("h100-sxm")
    assert crit.hbm_fp8 == pytest.approx(crit.hbm, rel=1e-3)  # 1978.9/3.35 · 1/2 vs 989.4/3.35
    # a wrong model that halves bytes without doubling FLOP/s would halve B_crit
    assert critical_batch(989.4e12, 3.35e12, bytes_per_weight=1.0) == pytest.approx(crit.hbm / 2)


def test_a1_flash_attention_intensity():
    # 4BSTD / (4BSD + 4BTD) with B = 2, S = 300, T = 100, D = 128: batch and width cancel
    b, s, t, d = 2, 300, 100, 128
    assert attention_intensity(s, t) == (4 * b * s * t * d) / (4 * b * s * d + 4 * b * t * d) == 75.0  # 300·100/400
    assert attention_intensity(s, t) == attention_intensity(t, s)


@given(st.integers(1, 1_000_000))
def test_a2_prefill_intensity_is_half_the_length(t):
    assert attention_intensity(t, t) == t / 2


def test_a2_h100_prefill_compute_bound_beyond_590_tokens():
    h100 = load_device("h100-sxm")
    t_crit = critical_batches(h100).prefill_attention
    assert round(t_crit, -1) == 590  # 2 × 295.3 = 590.7; the essay's 2 × 295 = 590
    assert t_crit == prefill_attention_critical_length(h100.ops_per_byte())
    assert attention_intensity(t_crit, t_crit) == pytest.approx(h100.ops_per_byte())


def test_a3_decode_attention_is_memory_bound():
    assert decode_attention_intensity(8191) == 8191 / 8192  # S/(S+1)
    assert round(decode_attention_intensity(32_768)) == 1
    assert decode_attention_intensity(10**9) < 1
    assert math.isclose(decode_attention_intensity(1), 0.5)
    h100 = load_device("h100-sxm")
    assert decode_attention_intensity(10**6) < h100.ops_per_byte() / 100
