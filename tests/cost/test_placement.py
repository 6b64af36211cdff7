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
    """MemoryX holds weights only (systems.md C3, C5): the KV cache and activations take the SRAM they need
    first, and the weights that do not fit beside them stream from MemoryX."""
    wafer = load_device("cerebras-wse-3")
    sram = wafer.main_memory.capacity_bytes  # 44 GB
    p = place(wafer, sram + 6e9, 1e9, 1e9)
    weights = p.bytes_by_class_and_tier["weights"]
    assert weights == {"sram": pytest.approx(sram - 2e9), "memoryx": pytest.approx(8e9)}
    assert p.bytes_by_class_and_tier["kv_cache"] == {"sram": 1e9}
    assert p.bytes_by_class_and_tier["activations"] == {"sram": 1e9}
    assert p.overflow_bytes == 0
    eff = wafer.efficiency.memory_fraction
    total = sram + 6e9
    expected = ((sram - 2e9) / total) / (21e15 * eff) + (8e9 / total) / (150e9 * eff)
    assert p.seconds_per_byte["weights"] == pytest.approx(expected)
    # an op's weight traffic splits over tiers in the same shares
    split = p.bytes_by_tier(50.0, 0.0, 0.0)
    assert split["sram"] == pytest.approx(50 * (sram - 2e9) / total)
    assert p.memory_seconds(Cost(weight_bytes=50.0)) == pytest.approx(50 * expected)


def test_a_cache_too_big_for_the_wafer_does_not_fit_in_memoryx():
    wafer = load_device("cerebras-wse-3")
    p = place(wafer, 10e9, 50e9, 0.0)
    assert p.overflow_bytes == pytest.approx(50e9 - (wafer.main_memory.capacity_bytes))
    assert set(p.bytes_by_class_and_tier["kv_cache"]) == {"sram"}
    assert wafer.capacity_for("kv_cache") == wafer.main_memory.capacity_bytes < wafer.capacity_bytes


def test_overflow_is_counted_and_charged_to_the_slowest_tier(h100):
    usable = 81_559 * 2**20  # the 80 GB card's HBM as NVML reports it (MemoryTier.reported_bytes)
    p = place(h100, 70e9, usable - 70e9 + 10e9, 0.0)
    assert p.overflow_bytes == pytest.approx(10e9)
    assert p.bytes_by_class_and_tier["kv_cache"]["hbm"] == pytest.approx(usable - 70e9 + 10e9)


def test_a_wafers_largest_batch_is_what_its_sram_holds_beside_the_weights():
    """Llama-3.1-8B on one WSE-3: the cache lives in the 44 GB of SRAM beside 16 GB of weights, not in MemoryX's
    1.2 PB, so about 28 GB of room: ~105 sequences of 1,280 tokens (128 KiB of bf16 cache per token)."""
    from infersim.cost.estimate import estimate

    wafer = load_device("cerebras-wse-3")
    est = estimate("llama-3.1-8b", wafer)
    per_sequence = est.memory.kv_cache_bytes + est.memory.activation_bytes  # batch 1
    room = wafer.main_memory.capacity_bytes - est.memory.weights_bytes
    assert est.max_batch == int(room // per_sequence)
    assert 90 < est.max_batch < 120
