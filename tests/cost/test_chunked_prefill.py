"""Chunked prefill: the same work in ⌈P/C⌉ passes, more weight traffic, one chunk's activations."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infersim.cost.estimate import estimate
from infersim.errors import InfersimError
from infersim.specs.catalog import load_model


@settings(max_examples=30, deadline=None)
@given(prompt=st.integers(2, 20_000), chunk=st.integers(1, 20_000), batch=st.integers(1, 8))
def test_chunks_do_the_same_flops_more_slowly_in_less_memory(h100, llama7b, prompt, chunk, batch):
    whole = estimate(llama7b, h100, batch=batch, prompt_tokens=prompt, output_tokens=2)
    chunked = estimate(llama7b, h100, batch=batch, prompt_tokens=prompt, output_tokens=2, prefill_chunk_tokens=chunk)
    # causal attention over chunks sums to P(P+1)/2 keys per head, as in one pass; the matmuls are linear in rows
    assert chunked.prefill.flops == pytest.approx(whole.prefill.flops, rel=1e-9)
    assert chunked.ttft_seconds >= whole.ttft_seconds * (1 - 1e-9)
    assert chunked.memory.activation_bytes <= whole.memory.activation_bytes
    assert chunked.tpot_seconds == whole.tpot_seconds  # decode does not care how the prompt went in


def test_a_chunk_no_shorter_than_the_prompt_is_one_pass(h100, llama7b):
    whole = estimate(llama7b, h100, prompt_tokens=4096)
    same = estimate(llama7b, h100, prompt_tokens=4096, prefill_chunk_tokens=4096)
    assert same.ttft_seconds == whole.ttft_seconds and same.prefill_chunk_tokens is None


def test_each_chunk_reads_the_weights_again(h100, llama7b):
    whole = estimate(llama7b, h100, prompt_tokens=8192)
    chunked = estimate(llama7b, h100, prompt_tokens=8192, prefill_chunk_tokens=1024)
    weight_bytes = {r.name: r.weight_bytes for r in chunked.ops if r.phase == "prefill"}
    one_pass = {r.name: r.weight_bytes for r in whole.ops if r.phase == "prefill"}
    assert weight_bytes["gate_up_proj"] == pytest.approx(8 * one_pass["gate_up_proj"])
    assert weight_bytes["lm_head"] == pytest.approx(one_pass["lm_head"])  # only the last chunk samples
    assert any("8 chunks of 1,024 tokens" in n for n in chunked.notes)


def test_a_chunk_attends_to_the_prefix_the_earlier_ones_cached(h100, llama7b):
    chunked = estimate(llama7b, h100, prompt_tokens=4096, prefill_chunk_tokens=1024)
    whole = estimate(llama7b, h100, prompt_tokens=4096)
    kv = {r.name: r.kv_bytes for r in chunked.ops if r.phase == "prefill"}
    kv_whole = {r.name: r.kv_bytes for r in whole.ops if r.phase == "prefill"}
    # keys read: chunk j reads (j + 1) · 1024 tokens, j = 0..3, so 10 · 1024 against the one pass's 4 · 1024
    assert kv["attn_score"] == pytest.approx(kv_whole["attn_score"] * 10 / 4)


def test_sliding_window_keys_after_a_cached_prefix_by_brute_force(llama7b):
    model = llama7b.model_copy(update={"sliding_window": 300})
    for cached, tokens in ((0, 50), (100, 50), (280, 50), (1000, 70)):
        brute = sum(min(cached + i, 300) for i in range(1, tokens + 1)) / tokens
        assert model.mean_causal_keys(tokens, cached) == pytest.approx(brute)


def test_a_pipeline_overlaps_the_chunks():
    model = load_model("llama-2-70b")
    kwargs = dict(system="dgx-h100", pp=8, tp=1, prompt_tokens=16_384, output_tokens=2)
    whole = estimate(model, **kwargs)
    chunked = estimate(model, prefill_chunk_tokens=2048, **kwargs)
    # 8 chunks through 8 stages: about (8 + 7) stage times of a chunk, against 8 stages of the whole prompt
    assert chunked.ttft_seconds < 0.75 * whole.ttft_seconds


def test_an_offloaded_cache_is_read_back_for_later_chunks():
    model = load_model("llama-3.1-8b")
    kwargs = dict(device="rtx-3090", prompt_tokens=65_536, output_tokens=2, kv_dtype="fp16",
                  activations_dtype="fp16")
    from infersim.specs.kvcache import KVOffload

    offload = KVOffload(fraction=0.5)
    whole = estimate(model, kv_offload=offload, **kwargs)
    chunked = estimate(model, kv_offload=offload, prefill_chunk_tokens=8192, **kwargs)
    names = {r.name for r in chunked.ops if r.phase == "prefill"}
    assert "kv_host_prefix_fetch" in names
    assert chunked.prefill.host_link_bytes > whole.prefill.host_link_bytes
    assert not whole.memory.fits and chunked.memory.fits  # 64k tokens of activations do not fit 24 GB at once


@pytest.mark.parametrize("kwargs, words", [
    (dict(prefill_chunk_tokens=0), "at least 1 token"),
    (dict(prefill_chunk_tokens=512, system="dgx-h100", cp=2, tp=1), "context parallelism"),
])
def test_bad_chunks_are_one_line_errors(h100, llama7b, kwargs, words):
    device = None if "system" in kwargs else h100
    with pytest.raises(InfersimError, match=words):
        estimate(llama7b, device, prompt_tokens=4096, **kwargs)


def test_cli_takes_a_chunk_and_refuses_a_bad_one(cli):
    code, out, _ = cli("estimate", "-m", "llama-2-7b", "-d", "h100-sxm", "-p", "8192", "--prefill-chunk", "2048")
    assert code == 0 and "4 chunks of 2,048 tokens" in out.replace("\n", " ")
    code, _, err = cli("estimate", "-m", "llama-2-7b", "-d", "h100-sxm", "--prefill-chunk", "-5")
    assert code == 2 and len(err.strip().splitlines()) == 1
