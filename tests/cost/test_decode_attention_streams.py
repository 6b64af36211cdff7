"""Decode attention capped per (sequence, key/value head) stream (`Efficiency.decode_attention_stream_bytes_per_s`):
tt-metal's FlashDecode gives each pair at most 16 cores, so a lone user's long cache reads far below the chip's
bandwidth, while a full batch reaches it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infersim.cost.estimate import estimate
from infersim.cost.ops import forward_ops
from infersim.cost.placement import place
from infersim.cost.roofline import time_op
from infersim.specs.catalog import load_device, load_model
from infersim.specs.layout import Layout
from infersim.specs.workload import Workload

WORMHOLE = "tenstorrent-wormhole"


def _attention(batch: int, cached: float, tp: int = 8):
    """Llama-3.1-8B's decode attention on one chip of tp (tp = 8: one key/value head per chip, as on a T3000)."""
    workload = Workload(batch=batch, weights_dtype="bfp8", kv_dtype="bfp8")
    ops = forward_ops(load_model("llama-3.1-8b"), workload, "decode", cached_tokens=cached, layout=Layout(tp=tp))
    return workload, next(op for op in ops if op.name == "attn_score")


def _placement(device):
    return place(device, 8e9, 2e9, 1e8)  # a few GB in every class: one resident tier holds them all


def test_one_stream_reads_at_the_stream_rate_by_hand():
    device = load_device(WORMHOLE)
    rate = device.efficiency.decode_attention_stream_bytes_per_s
    _, op = _attention(batch=1, cached=65_535.0)
    assert op.kv_streams == 1  # one sequence x one key/value head on this chip
    placement = _placement(device)
    timing = time_op(op, device, placement, "bf16")
    assert timing.memory_seconds == pytest.approx(op.cost.kv_bytes / rate)
    assert timing.memory_seconds > 4 * placement.memory_seconds(op.cost)  # 52 GB/s of the chip's 250


def test_a_full_batch_is_bound_by_the_chip_not_the_streams():
    device = load_device(WORMHOLE)
    _, op = _attention(batch=32, cached=4095.0)
    placement = _placement(device)
    timing = time_op(op, device, placement, "bf16")
    assert timing.memory_seconds == pytest.approx(placement.memory_seconds(op.cost))  # 256 streams outrun the chip


def test_devices_without_a_stream_rate_are_unchanged():
    assert load_device("h100-sxm").efficiency.decode_attention_stream_bytes_per_s is None
    _, op = _attention(batch=1, cached=65_535.0)
    device = load_device("h100-sxm")
    placement = _placement(device)
    assert time_op(op, device, placement, "bf16").memory_seconds == pytest.approx(placement.memory_seconds(op.cost))


@settings(max_examples=20, deadline=None)
@given(batch=st.integers(1, 64), prompt=st.integers(128, 32_768))
def test_more_sequences_never_lower_the_attention_bandwidth(batch, prompt):
    """Per-sequence time never rises with the batch for the stream-bound attention: streams add bandwidth."""
    common = dict(prompt_tokens=prompt, output_tokens=4, weights_dtype="bfp8", kv_dtype="bfp8")
    one = estimate("llama-3.1-8b", WORMHOLE, batch=1, **common)
    many = estimate("llama-3.1-8b", WORMHOLE, batch=batch, **common)
    attn = lambda est: sum(op.seconds for op in est.ops if op.phase == "decode" and op.kind == "attention")
    assert attn(many) <= batch * attn(one) * (1 + 1e-9)
