"""Footprints: KV bytes per token by attention kind, linear growth, weight bytes by format."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infersim.cost.memory import kv_bytes_per_token, kv_cache_bytes, weight_bytes


def test_kv_per_token_mha_by_hand(llama7b):
    # 2 (K, V) · 32 layers · 32 heads · 128 · 2 bytes
    assert kv_bytes_per_token(llama7b, "bf16") == 2 * 32 * 32 * 128 * 2
    assert kv_bytes_per_token(llama7b, "fp8") == 2 * 32 * 32 * 128


def test_gqa_shrinks_the_cache_by_the_group_size(llama7b):
    gqa = llama7b.model_copy(update={"num_key_value_heads": 8})
    assert kv_bytes_per_token(gqa) * 4 == kv_bytes_per_token(llama7b)


@given(seqs=st.integers(1, 512), tokens=st.integers(1, 200_000), k=st.integers(2, 5))
def test_kv_cache_is_linear_in_sequences_and_tokens(llama7b, seqs, tokens, k):
    one = kv_cache_bytes(llama7b, "bf16", seqs, tokens)
    assert kv_cache_bytes(llama7b, "bf16", seqs, k * tokens) == pytest.approx(k * one)
    assert kv_cache_bytes(llama7b, "bf16", k * seqs, tokens) == pytest.approx(k * one)


def test_weight_bytes_follow_the_format(llama7b):
    assert weight_bytes(llama7b, "bf16") == 2 * 6_738_415_616
    assert weight_bytes(llama7b, "int4") == weight_bytes(llama7b, "bf16") / 4


@given(window=st.integers(1, 300), tokens=st.integers(1, 900))
def test_mean_causal_keys_under_a_window_by_brute_force(llama7b, window, tokens):
    model = llama7b.model_copy(update={"sliding_window": window})
    assert model.mean_causal_keys(tokens) == pytest.approx(sum(min(i, window) for i in range(1, tokens + 1)) / tokens)


def test_sliding_window_caps_the_cache():
    from infersim.specs.catalog import load_model

    mistral = load_model("mistral-7b")  # 4096-token window
    per_token = kv_bytes_per_token(mistral)  # 2 · 32 · 8 · 128 · 2
    assert per_token == 2 * 32 * 8 * 128 * 2
    assert kv_cache_bytes(mistral, "bf16", 2, 1000) == 2 * 1000 * per_token
    assert kv_cache_bytes(mistral, "bf16", 2, 50_000) == 2 * 4096 * per_token


def test_importer_reads_the_window_only_where_it_is_on():
    from pathlib import Path

    from infersim.specs.catalog import load_model

    configs = Path(__file__).resolve().parents[1] / "data" / "hf_configs"
    assert load_model(str(configs / "mistral-7b.json")).sliding_window == 4096
    assert load_model(str(configs / "qwen2.5-7b.json")).sliding_window is None  # use_sliding_window: false
    assert load_model(str(configs / "mixtral-8x7b.json")).sliding_window is None
