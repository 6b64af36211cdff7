"""Placement: tiers fill fastest first; a byte's cost follows the tiers its class lives in."""

from __future__ import annotations

import pytest

from infersim.cost.ops import Cost
from infersim.cost.placement import place
from infersim.specs.catalog import load_device


def test_gpu_holds_everything_in_hbm(h100):
    p = place(h100, 10e9, 5e9, 1e9)
    assert p.bytes_by_class_and_tier == {"weights": {"hbm": 10e9}, "kv_cache": {"hbm": 5e9}, "activations": {"hbm": 1e9}}
    per_byte = 1 / (3.35e12 * h100.efficiency.memory_fraction)
    assert p.seconds_per_byte["weights"] == pytest.approx(per_byte)
    assert p.overflow_bytes == 0


def test_wafer_spills_weights_to_memoryx_at_its_bandwidth():
    wafer = load_device("cerebras-wse-3")
    sram = wafer.main_memory.capacity_bytes  # 44 GB
    p = place(wafer, sram + 6e9, 1e9, 1e9)
    weights = p.bytes_by_class_and_tier["weights"]
    assert weights == {"sram": sram, "memoryx": 6e9}
    assert p.bytes_by_class_and_tier["kv_cache"] == {"memoryx": 1e9}  # SRAM is full
    eff = wafer.efficiency.memory_fraction
    expected = (sram / (sram + 6e9)) / (21e15 * eff) + (6e9 / (sram + 6e9)) / (150e9 * eff)
    assert p.seconds_per_byte["weights"] == pytest.approx(expected)
    # an op's weight traffic splits over tiers in the same shares
    split = p.bytes_by_tier(50.0, 0.0, 0.0)
    assert split["sram"] == pytest.approx(50 * sram / (sram + 6e9))
    assert p.memory_seconds(Cost(weight_bytes=50.0)) == pytest.approx(50 * expected)


def test_overflow_is_counted_and_charged_to_the_slowest_tier(h100):
    usable = 81_559 * 2**20  # the 80 GB card's HBM as NVML reports it (MemoryTier.reported_bytes)
    p = place(h100, 70e9, usable - 70e9 + 10e9, 0.0)
    assert p.overflow_bytes == pytest.approx(10e9)
    assert p.bytes_by_class_and_tier["kv_cache"]["hbm"] == pytest.approx(usable - 70e9 + 10e9)
