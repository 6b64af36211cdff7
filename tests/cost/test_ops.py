"""The op list: FLOPs and bytes a reader can redo by hand, and two derivations that must agree."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infersim.cost.ops import Cost, expected_distinct_experts, forward_ops, total_cost
from infersim.specs.catalog import load_model, model_ids
from infersim.specs.workload import Workload


def test_costs_add_and_scale():
    a = Cost(flops=1.0, weight_bytes=2.0, kv_bytes=3.0, activation_bytes=4.0, wire_bytes=5.0)
    b = a + a * 2
    assert (b.flops, b.weight_bytes, b.kv_bytes, b.activation_bytes, b.wire_bytes) == (3, 6, 9, 12, 15)
    assert b.bytes == 6 + 9 + 12  # wire bytes are not memory traffic


def test_llama_2_7b_decode_step_by_hand(llama7b):
    ops = forward_ops(llama7b, Workload(batch=1, prompt_tokens=1024), "decode", cached_tokens=1024)
    by_name = {op.name: op for op in ops}
    # qkv: [1, 4096] @ [4096, 3·4096] -> 2·4096·12288 FLOPs, 4096·12288·2 weight bytes
    assert by_name["qkv_proj"].cost.flops == 2 * 4096 * 12288
    assert by_name["qkv_proj"].cost.weight_bytes == 4096 * 12288 * 2
    # gate+up fused: 4096 x 2·11008; down 11008 x 4096
    assert by_name["gate_up_proj"].cost.weight_bytes == 4096 * 22016 * 2
    # score reads the K cache: 1025 tokens · 32 heads · 128 · 2 bytes, per layer
    assert float(by_name["attn_score"].cost.kv_bytes) == 1025 * 32 * 128 * 2
    assert float(by_name["attn_score"].cost.flops) == 2 * 32 * 1025 * 128
    assert by_name["attn_score"].count == 32
    assert by_name["attn_value"].launches == 0  # fused with the score kernel


@settings(max_examples=40, deadline=None)
@given(model_id=st.sampled_from(["llama-2-7b", "llama-3-8b", "mistral-7b", "qwen2.5-7b", "llama-2-70b"]),
       batch=st.integers(1, 64), prompt=st.integers(1, 8192))
def test_prefill_flops_are_two_params_per_token_plus_attention(model_id, batch, prompt):
    """Two derivations: the op list's matmul FLOPs vs 2 · (non-embedding matrix params) · tokens, and
    attention vs 4·B·T·H·d_h·(T+1)/2 per layer."""
    m = load_model(model_id)
    w = Workload(batch=batch, prompt_tokens=prompt)
    ops = forward_ops(m, w, "prefill")
    tokens = batch * prompt
    matmul = sum(op.cost.flops * op.count for op in ops if op.kind == "matmul" and op.name != "lm_head")
    matrix_params = m.total_params - m.embedding_params() - m.hidden_size - m.num_layers * m.norm_params_per_layer()
    bias = m.num_layers * (m.num_attention_heads + 2 * m.num_key_value_heads) * m.head_dim if m.attention_bias else 0
    assert matmul == pytest.approx(2 * (matrix_params - bias) * tokens, rel=1e-12)
    lm_head = sum(op.cost.flops for op in ops if op.name == "lm_head")
    assert lm_head == 2 * batch * m.hidden_size * m.vocab_size  # last token of each sequence only
    attention = sum(op.cost.flops * op.count for op in ops if op.kind == "attention")
    keys = m.mean_causal_keys(prompt)  # (T+1)/2, or fewer past Mistral's 4096-token window
    assert keys == (prompt + 1) / 2 or (m.sliding_window and prompt > m.sliding_window)
    expected = 4 * tokens * m.num_attention_heads * m.head_dim * keys * m.num_layers
    assert attention == pytest.approx(expected)


@pytest.mark.parametrize("model_id", sorted(model_ids()))
def test_weights_read_by_ops_add_up_to_the_model(model_id):
    """Σ weight elements the ops read (all experts touched at large N) + the embedding table = params."""
    m = load_model(model_id)
    ops = forward_ops(m, Workload(batch=64, prompt_tokens=4096), "prefill" if not m.mla else "decode",
                      cached_tokens=10)
    if m.mla:  # decode with absorbed MLA reads W_UK and W_UV instead of kv_up_proj: same elements
        ops = forward_ops(m, Workload(batch=4096, prompt_tokens=16), "decode", cached_tokens=10)
    read = sum(op.weight_elements * op.count for op in ops if op.name != "embed")
    table = 0 if m.tie_word_embeddings else m.vocab_size * m.hidden_size
    assert read + table == pytest.approx(m.total_params, rel=1e-6)


def test_expected_distinct_experts_limits():
    assert expected_distinct_experts(1, 8, 2) == pytest.approx(2.0)  # one token touches exactly k
    assert expected_distinct_experts(10_000, 8, 2) == pytest.approx(8.0)  # many tokens touch all
    assert expected_distinct_experts(2, 8, 2) == pytest.approx(8 * (1 - (6 / 8) ** 2))


@settings(max_examples=30, deadline=None)
@given(base=st.integers(1, 50_000), extra=st.integers(1, 50_000))
def test_decode_attention_bytes_grow_linearly_with_context(llama7b, base, extra):
    w = Workload(batch=1, prompt_tokens=16)
    ctx = np.array([base, base + extra, base + 2 * extra], dtype=float)
    kv = total_cost(forward_ops(llama7b, w, "decode", cached_tokens=ctx)).kv_bytes
    assert kv[2] - kv[1] == pytest.approx(kv[1] - kv[0])
    assert kv[1] > kv[0]
