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
