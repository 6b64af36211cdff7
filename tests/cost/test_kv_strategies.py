"""KV-cache strategies through the estimate: formats with scales, budgets, offload, paging, MLA's two
decode forms. Invariants as hypothesis properties, numbers a reader can redo by hand."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infersim.cost.estimate import estimate
from infersim.cost.memory import kv_bytes_per_token, kv_footprint
from infersim.cost.ops import forward_ops, total_cost
from infersim.errors import InfersimError
from infersim.specs.catalog import load_model
from infersim.specs.kvcache import KVBudget, KVCache, KVOffload
from infersim.specs.workload import Workload

LLAMA = "llama-3.1-8b"  # 32 layers, 8 KV heads of 128: 131,072 B of bf16 cache per token


def _ops(workload: Workload, cached: float, model: str = LLAMA) -> dict:
    return {op.name: op for op in forward_ops(load_model(model), workload, "decode", cached_tokens=cached)}


def test_quantized_kv_bytes_per_token_by_hand():
    model = load_model(LLAMA)
    assert kv_bytes_per_token(model, "bf16") == 32 * 2 * 8 * 128 * 2 == 131_072
    assert kv_bytes_per_token(model, "int2-kivi") == 32 * 2 * 8 * 128 * 3 / 8 == 24_576  # 2 bits + 1 of scales
    assert kv_bytes_per_token(model, "int8-g128") == 32 * 2 * 8 * 128 * 8.125 / 8


def test_quantized_kv_traffic_and_dequantization_in_decode():
    cached = 4095.0  # the step reads 4,096 tokens
    plain = _ops(Workload(kv_dtype="bf16"), cached)["attn_score"]
    kivi = _ops(Workload(kv_dtype="int2-kivi"), cached)["attn_score"]
    assert kivi.cost.kv_bytes == pytest.approx(plain.cost.kv_bytes * 3 / 16)
    # each key element read is dequantized: 2 FLOPs x 4,096 tokens x 8 heads x 128
    assert kivi.cost.flops - plain.cost.flops == pytest.approx(2 * 4096 * 8 * 128)


def test_budget_caps_cache_and_attention_by_hand():
    kv = KVCache(budget=KVBudget(tokens=1024))
    est = estimate(LLAMA, "h100-sxm", prompt_tokens=8000, output_tokens=100, kv_budget=kv.budget)
    assert est.memory.kv_cache_bytes == 1024 * 131_072  # kept tokens x bytes per token
    score = _ops(Workload(kv=kv), 8000.0)["attn_score"]
    assert score.cost.kv_bytes == 1024 * 8 * 128 * 2  # keys of the 1,024 kept tokens, one layer
    assert score.cost.flops == 2 * 32 * 1024 * 128  # 2·H·S·d_h with S = the budget


def test_h2o_reads_and_rewrites_its_scores():
    h2o = KVCache(budget=KVBudget(tokens=1024, eviction="h2o"))
    window = KVCache(budget=KVBudget(tokens=1024))
    extra = _ops(Workload(kv=h2o), 8000.0)["attn_score"].cost.kv_bytes - \
        _ops(Workload(kv=window), 8000.0)["attn_score"].cost.kv_bytes
    assert extra == 2 * 1024 * 32 * 4  # read + write an fp32 score per query head and kept token


budgets = st.one_of(st.builds(KVBudget, tokens=st.integers(4, 50_000)),
                    st.builds(KVBudget, fraction=st.floats(0.01, 1.0), eviction=st.just("streaming")))


@settings(max_examples=40, deadline=None)
@given(budget=budgets, prompt=st.integers(1, 40_000), output=st.integers(1, 512), batch=st.integers(1, 64),
       model=st.sampled_from([LLAMA, "mistral-7b", "deepseek-v2-lite"]))
def test_a_streaming_budget_never_grows_the_cache_or_the_step(budget, prompt, output, batch, model):
    common = dict(batch=batch, prompt_tokens=prompt, output_tokens=output)
    whole = estimate(model, "h100-sxm", **common)
    cut = estimate(model, "h100-sxm", kv_budget=budget, **common)
    assert cut.memory.kv_cache_bytes <= whole.memory.kv_cache_bytes
    assert cut.tpot_seconds <= whole.tpot_seconds * (1 + 1e-12)
    assert cut.max_batch >= whole.max_batch


offloads = st.one_of(
    st.builds(KVOffload, fraction=st.floats(0.0, 1.0)),
    st.builds(KVOffload, tokens=st.integers(0, 50_000)),
    st.builds(KVOffload, fraction=st.floats(0.0, 1.0), fetch_tokens=st.integers(1, 4096),
              score_channels=st.integers(0, 16)),
)


@settings(max_examples=40, deadline=None)
@given(offload=offloads, prompt=st.integers(16, 40_000), batch=st.integers(1, 16),
       device=st.sampled_from(["h100-sxm", "rtx-3090", "a100-80gb"]))
def test_overlapped_offload_is_never_slower_than_serial(offload, prompt, batch, device):
    common = dict(batch=batch, prompt_tokens=prompt, output_tokens=8)
    overlapped = estimate(LLAMA, device, kv_offload=offload.model_copy(update={"overlap": True}), **common)
    serial = estimate(LLAMA, device, kv_offload=offload.model_copy(update={"overlap": False}), **common)
    assert overlapped.tpot_seconds <= serial.tpot_seconds
    assert serial.decode.device_seconds >= overlapped.decode.host_link_seconds  # a sum holds both parts
    # what moves to the host leaves the device: device + host bytes = the whole cache
    whole = estimate(LLAMA, device, **common).memory.kv_cache_bytes
    assert overlapped.memory.kv_cache_bytes + overlapped.memory.kv_host_bytes == pytest.approx(whole)


def test_offload_all_streams_the_cache_over_pcie_by_hand():
    # rtx-3090: PCIe Gen4 x16, 32e9 B/s per direction at 54.8/64 achieved; 8,191 cached + 1 new = 8,192 tokens
    est = estimate(LLAMA, "rtx-3090", prompt_tokens=8192, output_tokens=2, kv_offload=KVOffload(fraction=1.0))
    link = est.decode.host_link_bytes  # the one decode step holds the prompt and its own token: 8,193 tokens
    assert link == pytest.approx(8193 * 131_072)  # every cached byte crosses each step
    assert est.decode.host_link_seconds == pytest.approx(link / (32e9 * 54.8 / 64))
    # 1.07 GB at 27.4 GB/s (39 ms) outlasts streaming 16 GB of weights at 0.924 x 936 GB/s (19 ms)
    assert est.decode.bound_by == "host-link"


def test_topk_fetch_reads_k_tokens_and_the_scoring_channels_by_hand():
    offload = KVOffload(fraction=1.0, fetch_tokens=128, score_channels=8)
    ops = _ops(Workload(kv=KVCache(offload=offload)), 8191.0)
    # per layer: 128 tokens' keys and values (2·8·128 elements, bf16) + 8 of 128 key channels of 8,192 tokens
    assert ops["kv_host_fetch"].cost.wire_bytes == 128 * 2 * 8 * 128 * 2 + 8192 * 8 * 8 * 2
    assert ops["kv_topk_score"].cost.flops == 2 * 8 * 8192 * 8  # 2·H_kv·tokens·channels
    assert ops["attn_score"].cost.flops == 2 * 32 * 128 * 128  # attention over the 128 fetched only


def test_prefill_writes_the_host_part_once():
    offload = KVOffload(fraction=0.5)
    ops = {op.name: op for op in forward_ops(load_model(LLAMA), Workload(prompt_tokens=1000, kv=KVCache(
        offload=offload)), "prefill")}
    assert ops["kv_host_store"].cost.wire_bytes == 500 * 2 * 8 * 128 * 2 and ops["kv_host_store"].count == 32


def test_paging_fragmentation_and_the_largest_batch_by_hand():
    # 1,000 + 200 = 1,200 tokens: 75 blocks of 16 exactly; 1,001 + 200 = 1,201 tokens: 76 blocks = 1,216
    exact = estimate(LLAMA, "h100-sxm", prompt_tokens=1000, output_tokens=200, kv_block_tokens=16)
    assert exact.memory.kv_fragmentation == 0.0
    ragged = estimate(LLAMA, "h100-sxm", prompt_tokens=1001, output_tokens=200, kv_block_tokens=16)
    assert ragged.memory.kv_cache_bytes == 1216 * 131_072
    assert ragged.memory.kv_fragmentation == pytest.approx(15 / 1216)
    big = dict(prompt_tokens=1, output_tokens=1)  # 2 tokens per sequence, 1 block of 256: most of it empty
    assert estimate(LLAMA, "h100-sxm", kv_block_tokens=256, **big).max_batch < \
        estimate(LLAMA, "h100-sxm", **big).max_batch
    footprint = kv_footprint(load_model(LLAMA), "bf16", 1, 2, KVCache(block_tokens=256))
    assert footprint.allocated_tokens == 256 and footprint.fragmentation == pytest.approx(254 / 256)


def test_mla_decode_absorbed_against_decompressed():
    absorbed = _ops(Workload(), 4095.0, "deepseek-v2-lite")
    decompressed = _ops(Workload(kv=KVCache(mla_absorbed=False)), 4095.0, "deepseek-v2-lite")
    up = decompressed["dense.kv_up_proj"] if "dense.kv_up_proj" in decompressed else decompressed["moe.kv_up_proj"]
    model = load_model("deepseek-v2-lite")
    mla, h = model.mla, model.num_attention_heads
    # every one of the 4,096 cached latents is decompressed each step: 2·S·d_c·H(d_n + d_v)
    assert up.cost.flops == 2 * 4096 * mla.kv_lora_rank * h * (mla.qk_nope_head_dim + mla.v_head_dim)
    assert "q_absorb" not in {n.split(".")[-1] for n in decompressed}
    assert total_cost(list(absorbed.values())).flops < total_cost(list(decompressed.values())).flops
    # at batch 16 and 32k tokens, rebuilding 16 heads x 256 values per cached token from the 512-wide latent
    # every step is the price absorption avoids
    common = dict(batch=16, prompt_tokens=32_768, output_tokens=16)
    slow = estimate("deepseek-v2-lite", "h100-sxm", mla_absorb=False, **common)
    fast = estimate("deepseek-v2-lite", "h100-sxm", **common)
    assert slow.tpot_seconds > 5 * fast.tpot_seconds
    assert slow.decode.bound_by == "compute" and fast.decode.bound_by == "memory"


def test_offload_needs_a_host_link():
    with pytest.raises(InfersimError, match="no PCIe host link"):
        estimate(LLAMA, "cerebras-wse-3", kv_offload=KVOffload(fraction=0.5))


def test_per_query_head_reads_multiply_the_decode_cache_traffic_by_the_group_by_hand():
    cached = 4095.0  # 4,096 tokens; Llama-3.1-8B: 32 query heads over 8 key/value heads, groups of 4
    grouped = _ops(Workload(kv_dtype="fp8"), cached)
    per_head = _ops(Workload(kv_dtype="fp8", kv=KVCache(query_head_reads=True)), cached)
    for name in ("attn_score", "attn_value"):
        assert per_head[name].cost.kv_bytes == pytest.approx(4 * grouped[name].cost.kv_bytes)
        assert grouped[name].cost.kv_bytes == pytest.approx(4096 * 8 * 128 * 1)  # one fp8 read per KV head
    # the weights and the prefill are untouched
    assert per_head["qkv_proj"].cost == grouped["qkv_proj"].cost
    prefill = {op.name: op for op in forward_ops(load_model(LLAMA), Workload(kv=KVCache(query_head_reads=True)),
                                                 "prefill")}
    plain = {op.name: op for op in forward_ops(load_model(LLAMA), Workload(), "prefill")}
    assert prefill["attn_score"].cost == plain["attn_score"].cost


def test_per_query_head_reads_change_nothing_for_multi_head_attention():
    grouped = _ops(Workload(), 2047.0, "llama-2-7b")  # 32 query heads, 32 key/value heads
    per_head = _ops(Workload(kv=KVCache(query_head_reads=True)), 2047.0, "llama-2-7b")
    assert total_cost(list(per_head.values())) == total_cost(list(grouped.values()))


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 256), prompt=st.integers(1, 8192), model=st.sampled_from([LLAMA, "llama-2-70b"]))
def test_reading_the_cache_per_query_head_is_never_faster(batch, prompt, model):
    common = dict(batch=batch, prompt_tokens=prompt, output_tokens=8, weights_dtype="fp8", kv_dtype="fp8")
    grouped = estimate(model, "h100-sxm", **common)
    per_head = estimate(model, "h100-sxm", kv_query_head_reads=True, **common)
    assert per_head.tpot_seconds >= grouped.tpot_seconds
    assert per_head.ttft_seconds == grouped.ttft_seconds  # prefill attention is grouped either way
    assert per_head.memory.total_bytes == grouped.memory.total_bytes  # same cache, read more often


def test_the_kv_policy_as_one_object_equals_its_parts_and_not_both():
    common = dict(batch=4, prompt_tokens=4096, output_tokens=16)
    parts = estimate(LLAMA, "h100-sxm", kv_budget=KVBudget(tokens=1024), kv_query_head_reads=True, **common)
    whole = estimate(LLAMA, "h100-sxm", kv_cache=KVCache(budget=KVBudget(tokens=1024), query_head_reads=True),
                     **common)
    assert whole.to_dict() == parts.to_dict()
    with pytest.raises(InfersimError, match="not both"):
        estimate(LLAMA, "h100-sxm", kv_cache=KVCache(), kv_block_tokens=16, **common)
