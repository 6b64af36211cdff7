"""Seed figures S1-S4 (ops:comms of each accelerator's scale-out link) and S8 (weight-load time spread
over N accelerators), essay sections 'Scaling out' and 'The GDDR6 Gambit'."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infersim.figures import bidirectional_bytes_per_s, ops_comms_row, ops_per_comms, weight_load_seconds
from infersim.specs.catalog import load_device, load_model


def test_ops_per_comms_formula():
    assert ops_per_comms(989e12, 900e9) == pytest.approx(1098.9, abs=0.05)  # the essay's own division


def test_s1_h100_nvlink4():
    row = ops_comms_row("H100", "h100-sxm")
    assert row.link_bytes_per_s == 900e9  # 450 GB/s per direction × 2 (18 NVLink4 links in one entry)
    assert row.link_name == "nvlink4"  # the scale-out link, not PCIe
    assert bidirectional_bytes_per_s(load_device("h100-sxm").scale_out_link) == 900e9
    assert round(row.ops_per_comms) == 1099  # 989.4e12 / 900e9 = 1099.3


def test_s2_a100_nvlink3():
    row = ops_comms_row("A100", "a100-40gb")
    assert row.link_bytes_per_s == 600e9  # 12 NVLink3 links × 25 GB/s × 2, one aggregate catalog entry
    assert round(row.ops_per_comms) == 520  # 312e12 / 600e9
    assert ops_comms_row("A100", "a100-80gb").ops_per_comms == row.ops_per_comms


def test_s3_blackhole_ethernet():
    row = ops_comms_row("Blackhole", "tenstorrent-blackhole-p150")
    assert row.link_bytes_per_s == 200e9  # one 800G port both ways: 2 × 100 GB/s
    assert round(row.ops_per_comms) == 1935  # 387e12 / 200e9
    # the essay counts one of the four ports; all four give 800 GB/s and 484
    assert row.all_links_bytes_per_s == 800e9 and round(row.all_links_ops_per_comms) == 484


def test_s4_tpu_v5p_ici():
    row = ops_comms_row("TPU v5p", "tpu-v5p")
    assert row.fp16_flops_per_s == 459e12
    assert row.link_bytes_per_s == 180e9  # one ICI link both ways: 2 × 90 GB/s
    assert round(row.ops_per_comms) == 2550  # 459e12 / 180e9
    assert row.all_links_bytes_per_s == 1080e9 and round(row.all_links_ops_per_comms) == 425  # six links


def test_s8_weight_load_time():
    # 70e9 params in 2 bytes over 4 accelerators at 3.35e12 B/s: 140e9 / 13.4e12 = 10.45 ms
    assert weight_load_seconds(70e9, 4, 3.35e12) == pytest.approx(140e9 / 13.4e12)
    assert round(weight_load_seconds(70e9, 4, 3.35e12) * 1e3, 2) == 10.45
    # FP8 weights halve it
    assert weight_load_seconds(70e9, 4, 3.35e12, bytes_per_param=1) == pytest.approx(140e9 / 13.4e12 / 2)


def test_s8_deepseek_v3_over_eight_h100s():
    params = load_model("deepseek-v3").total_params  # ≈ 671.03e9
    seconds = weight_load_seconds(params, 8, load_device("h100-sxm").main_memory.bytes_per_s)
    assert round(seconds * 1e3, 1) == 50.1  # 2 · 671.03e9 / (8 · 3.35e12)
    blackhole = load_device("tenstorrent-blackhole-p150").main_memory.bytes_per_s
    # Blackhole's 512 GB/s needs ≈ 6.5× as many chips for the same time: 52·512e9 < 8·3.35e12 < 53·512e9
    assert weight_load_seconds(params, 53, blackhole) < seconds < weight_load_seconds(params, 52, blackhole)


@given(st.integers(1, 4096), st.floats(1e9, 1e13))
def test_s8_weight_load_time_falls_as_one_over_n(n, bytes_per_s):
    one = weight_load_seconds(671e9, 1, bytes_per_s)
    assert weight_load_seconds(671e9, n, bytes_per_s) == pytest.approx(one / n)
