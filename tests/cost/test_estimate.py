"""The estimate: invariants a wrong implementation would break, and hand-checkable numbers."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infersim.cost.estimate import estimate
from infersim.cost.memory import kv_bytes_per_token
from infersim.errors import InfersimError


def _scaled(device, *, bandwidth=1.0, flops=1.0, capacity=1.0):
    """A copy of `device` with every resident tier's bandwidth/capacity and every peak scaled."""
    memory = tuple(
        t.model_copy(update={"bytes_per_s": t.bytes_per_s * bandwidth if t.bytes_per_s else None,
                             "capacity_bytes": t.capacity_bytes * capacity,
                             "reported_bytes": t.reported_bytes * capacity if t.reported_bytes else None})
        for t in device.memory
    )
    peaks = {k: v * flops for k, v in device.peak_flops_per_s.items()}
    return device.model_copy(update={"memory": memory, "peak_flops_per_s": peaks})


workloads = st.fixed_dictionaries({
    "batch": st.integers(1, 256),
    "prompt_tokens": st.integers(1, 16_384),
    "output_tokens": st.integers(1, 2048),
})


@settings(max_examples=40, deadline=None)
@given(w=workloads, factor=st.floats(1.0, 8.0))
def test_more_bandwidth_is_never_slower(h100, llama7b, w, factor):
    base = estimate(llama7b, h100, **w)
    fast = estimate(llama7b, _scaled(h100, bandwidth=factor), **w)
    assert fast.ttft_seconds <= base.ttft_seconds * (1 + 1e-12)
    assert fast.tpot_seconds <= base.tpot_seconds * (1 + 1e-12)


@settings(max_examples=40, deadline=None)
@given(w=workloads, factor=st.floats(1.0, 8.0))
def test_more_flops_is_never_slower(h100, llama7b, w, factor):
    base = estimate(llama7b, h100, **w)
    fast = estimate(llama7b, _scaled(h100, flops=factor), **w)
    assert fast.e2e_seconds <= base.e2e_seconds * (1 + 1e-12)


@settings(max_examples=40, deadline=None)
@given(w=workloads, factor=st.floats(1.0, 16.0))
def test_more_capacity_never_fits_less(h100, llama7b, w, factor):
    base = estimate(llama7b, h100, **w)
    big = estimate(llama7b, _scaled(h100, capacity=factor), **w)
    assert big.memory.fits >= base.memory.fits
    assert big.max_batch >= base.max_batch
    assert big.max_context_tokens >= base.max_context_tokens


@settings(max_examples=25, deadline=None)
@given(prompt=st.integers(1, 30_000), more=st.integers(1, 30_000))
def test_longer_context_never_decodes_faster(h100, llama7b, prompt, more):
    short = estimate(llama7b, h100, prompt_tokens=prompt, output_tokens=16)
    long = estimate(llama7b, h100, prompt_tokens=prompt + more, output_tokens=16)
    assert long.tpot_seconds >= short.tpot_seconds


def test_decode_at_batch_one_is_memory_bound_and_near_weights_over_bandwidth(h100, llama7b):
    est = estimate(llama7b, h100, batch=1, prompt_tokens=128, output_tokens=2)
    assert est.decode.bound_by == "memory"
    eff = h100.efficiency
    streamed = 2 * (llama7b.total_params - llama7b.vocab_size * llama7b.hidden_size)  # embed table not read
    floor = streamed / (h100.main_memory.bytes_per_s * eff.memory_fraction)
    launches = 32 * 9 + 4  # 9 kernels a layer (residuals fused into norms) + embed, final norm, head, sample
    overheads = launches * eff.kernel_overhead_seconds
    # plus ~67 MB of KV cache and small activations: within 2% of weights + overheads
    assert floor + overheads < est.tpot_seconds < (floor + overheads) * 1.02


def test_prefill_of_a_long_prompt_is_compute_bound(h100, llama7b):
    assert estimate(llama7b, h100, prompt_tokens=8192, output_tokens=2).prefill.bound_by == "compute"


def test_timing_identities(h100, llama7b):
    e = estimate(llama7b, h100, batch=4, prompt_tokens=512, output_tokens=100)
    assert e.ttft_seconds == e.prefill_seconds
    assert e.e2e_seconds == pytest.approx(e.ttft_seconds + 99 * e.tpot_seconds)
    assert e.output_tokens_per_s_per_user == pytest.approx(1 / e.tpot_seconds)
    assert e.output_tokens_per_s_total == pytest.approx(4 * 100 / e.e2e_seconds)
    assert e.prefill.device_seconds == pytest.approx(sum(op.seconds for op in e.ops if op.phase == "prefill"))
    # energy at TDP: 700 W · e2e / 400 tokens
    assert e.joules_per_token == pytest.approx(700 * e.e2e_seconds / 400)
    assert e.usd_per_million_tokens == pytest.approx(h100.price.usd_per_hour / 3600 * e.e2e_seconds / 400 * 1e6)


def test_memory_adds_up_and_limits_are_consistent(h100, llama7b):
    e = estimate(llama7b, h100, batch=8, prompt_tokens=2000, output_tokens=48)
    m = e.memory
    assert m.kv_cache_bytes == 8 * 2048 * kv_bytes_per_token(llama7b)
    assert m.total_bytes == m.weights_bytes + m.kv_cache_bytes + m.activation_bytes
    assert m.fits and m.capacity_bytes == 81_559 * 2**20  # NVML's total, not the marketed 80 GB
    at_max = estimate(llama7b, h100, batch=e.max_batch, prompt_tokens=2000, output_tokens=48)
    over = estimate(llama7b, h100, batch=e.max_batch + 1, prompt_tokens=2000, output_tokens=48)
    assert at_max.memory.fits and not over.memory.fits


def test_a_model_that_does_not_fit_is_capacity_bound(h100, llama7b):
    e = estimate(llama7b, h100, batch=512, prompt_tokens=4096, output_tokens=64)
    assert not e.memory.fits and e.bottleneck == "capacity"


def test_fp8_weights_halve_weight_traffic_and_use_the_fp8_peak(h100, llama7b):
    bf16 = estimate(llama7b, h100, prompt_tokens=4096, output_tokens=2)
    fp8 = estimate(llama7b, h100, prompt_tokens=4096, output_tokens=2, weights_dtype="fp8")
    assert fp8.memory.weights_bytes == bf16.memory.weights_bytes / 2
    qkv = next(op for op in fp8.ops if op.name == "qkv_proj" and op.phase == "prefill")
    assert qkv.dtype == "fp8"
    assert fp8.prefill.device_seconds < bf16.prefill.device_seconds


def test_eager_runtime_is_slower_at_batch_one(h100, llama7b):
    graph = estimate(llama7b, h100, output_tokens=8)
    eager = estimate(llama7b, h100, output_tokens=8, runtime="eager")
    assert eager.tpot_seconds > graph.tpot_seconds
    assert eager.decode.bound_by == "host"


@pytest.mark.parametrize("kwargs, words", [
    ({"batch": 0}, "batch"),
    ({"prompt_tokens": -5}, "prompt_tokens"),
    ({"output_tokens": 0}, "output_tokens"),
    ({"weights_dtype": "fp7"}, "weights_dtype"),
    ({"runtime": "turbo"}, "runtime"),
])
def test_bad_workloads_are_one_line_errors(h100, llama7b, kwargs, words):
    with pytest.raises(InfersimError) as info:
        estimate(llama7b, h100, **kwargs)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_to_dict_is_json_ready(h100, llama7b):
    import json

    data = estimate(llama7b, h100).to_dict()
    text = json.dumps(data, allow_nan=False)
    for key in ("ttft_seconds", "tpot_seconds", "prefill_seconds", "e2e_seconds", "output_tokens_per_s_per_user",
                "output_tokens_per_s_total", "joules_per_token", "usd_per_million_tokens", "bottleneck", "ops"):
        assert key in data
    assert set(data["memory"]) >= {"weights_bytes", "kv_cache_bytes", "activation_bytes", "total_bytes",
                                   "capacity_bytes", "fits"}
    assert all({"name", "phase", "flops", "bytes", "seconds", "bound_by"} <= set(op) for op in data["ops"])
    assert math.isfinite(json.loads(text)["tpot_seconds"])


def test_notes_say_what_the_estimate_leaves_out():
    wafer = estimate("llama-3.1-8b", "cerebras-wse-3", output_tokens=4)
    assert any("spatial machine" in n for n in wafer.notes)
    big = estimate("llama-3.1-70b", "h100-sxm", output_tokens=4)
    assert not big.memory.fits and any("at least 2 devices" in n for n in big.notes)
    calibrated = estimate("llama-3.1-8b", "h100-sxm", output_tokens=4)
    assert calibrated.notes == ()  # fits, measured efficiencies, not spatial
    assumed = estimate("llama-3.1-8b", "a100-80gb", output_tokens=4)
    assert any("assumed, not measured" in n for n in assumed.notes)


def test_longest_context_stops_at_the_models_positions(h100, llama7b):
    """Llama-2-7B states 4,096 positions: memory alone would hold ~130k tokens of one sequence on an H100."""
    est = estimate(llama7b, h100, prompt_tokens=1024)
    assert est.max_context_tokens == llama7b.max_position_embeddings == 4096
    unbounded = estimate(llama7b.with_changes(max_position_embeddings=None), h100, prompt_tokens=1024)
    assert unbounded.max_context_tokens > 100_000
    assert not any("positions" in n for n in est.notes)
    longer = estimate(llama7b, h100, prompt_tokens=8000, output_tokens=200)
    assert any("8,200 tokens, more than the 4,096 positions" in n for n in longer.notes)
