"""The essay's accelerator table (Feb 2025): FP16 TFLOP/s, DRAM and core-SRAM capacity and bandwidth,
and ops:byte = FLOP/s ÷ bytes/s against each, derived from the catalog (essay section 'Anatomy of AI
Inference').

How the essay computed it, reproduced by `accelerator_row`: it divides the figures as it prints them
(989 TFLOP/s, not the catalog's 989.4; Blackhole's 512 GB/s as 0.51 TB/s) and prints every result cut
to one decimal, not rounded (1464 KB × 140 = 204.96 MB -> 204.9, 387/8.8 = 43.98 -> 43.9), hence
`truncate(x, 1)` below. Its A100 row pairs the 40 GB card's capacity with the 80 GB card's 2.039 TB/s
printed as 2.0; the row states that pairing (`dram_bandwidth_device_id="a100-80gb"`) and keeps the 40 GB
card's own ratio (312 / 1.555 = 200.6) as `exact_ops_per_byte_dram`.
"""

import pytest

from infersim.figures import accelerator_table, core_sram_tier, truncate
from infersim.specs.catalog import load_device


@pytest.fixture(scope="module")
def rows():
    return {r.label: r for r in accelerator_table()}


def _cells(row):
    """The eight cells of a row as the essay prints them."""
    return (row.fp16_tflops_shown, row.dram_bytes / 1e9, row.dram_tb_per_s_shown, truncate(row.ops_per_byte_dram),
            truncate(row.sram_bytes / 1e6), row.sram_tb_per_s_shown, truncate(row.ops_per_byte_sram))


def test_truncate_cuts_rather_than_rounds():
    assert truncate(43.977) == 43.9 and round(43.977, 1) == 44.0
    assert truncate(204.9e6 / 1e6) == 204.9  # no float slip to 204.8
    assert truncate(295.2238, 2) == 295.22


def test_h100_row(rows):
    assert _cells(rows["NVIDIA H100-SXM5"]) == (989, 80, 3.35, 295.2, 30.8, 31, 31.9)  # 989/3.35, 989/31


def test_a100_row(rows):
    assert _cells(rows["NVIDIA A100"]) == (312, 40, 2.0, 156.0, 20.7, 19, 16.4)  # 312/2.0, 312/19
    a100 = rows["NVIDIA A100"]
    assert a100.dram_bytes_per_s == load_device("a100-80gb").main_memory.bytes_per_s == 2.039e12
    assert round(a100.exact_ops_per_byte_dram, 1) == 200.6  # the 40 GB card's own 312 / 1.555
    assert a100.sram_bytes == 192e3 * 108  # 192 KB × 108 SMs


def test_blackhole_row(rows):
    assert _cells(rows["Tenstorrent Blackhole"]) == (387, 32, 0.51, 758.8, 204.9, 8.8, 43.9)  # 387/0.51, 387/8.8
    assert round(rows["Tenstorrent Blackhole"].exact_ops_per_byte_dram, 1) == 755.9  # 387 / 0.512


def test_tpu_v4i_row(rows):
    assert _cells(rows["Google TPU v4i"]) == (138, 8, 0.61, 226.2, 144, 13.5, 10.2)  # 138/0.61, 138/13.5


def test_h100_exact_ratios_match_device_spec(rows):
    h100 = load_device("h100-sxm")
    row = rows["NVIDIA H100-SXM5"]
    assert row.exact_ops_per_byte_dram == h100.ops_per_byte("fp16") == pytest.approx(989.4 / 3.35)
    assert round(row.exact_ops_per_byte_dram, 1) == 295.3  # the catalog's 989.4, one tenth above the essay
    assert row.sram_bytes == 30.8e6 and round(228 * 1024 * 132 / 1e6, 1) == 30.8  # 228 KiB × 132 SMs


def test_core_sram_is_not_the_l2():
    # the essay's SRAM column is the L1/shared memory next to the cores, not a GPU's larger L2
    h100 = load_device("h100-sxm")
    assert core_sram_tier(h100).name == "smem"
    assert h100.on_chip_sram.name == "smem"  # the SMs' shared memory, not the 50 MB L2


def test_sram_ratio_is_far_below_dram_ratio(rows):
    for row in rows.values():
        assert row.ops_per_byte_sram < row.ops_per_byte_dram / 5
