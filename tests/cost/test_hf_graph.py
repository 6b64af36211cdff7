"""The `hf` op graph (Hugging Face transformers run eagerly) against the `fused` one of serving engines:
the same arithmetic, more kernels, more bytes, and a decode that rewrites its DynamicCache."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infersim.calibration.fit import launching_ops_per_layer
from infersim.cost.estimate import estimate, graph_for
from infersim.cost.ops import forward_ops, total_cost
from infersim.specs.catalog import load_model
from infersim.specs.workload import Workload


def _by_name(ops):
    return {op.name: op for op in ops}


def test_runtime_picks_the_graph():
    assert graph_for("eager") == "hf" and graph_for("cuda-graph") == graph_for("compiled") == "fused"


def test_hf_layer_kernels_by_hand():
    # norm 6 (x2) + q, k, v 3 + RoPE 10 + cache cat 2 + SDPA 1 + output copy 1 + o_proj 1 + add 1
    # + gate, up 2 + SiLU, multiply 2 + down 1 + add 1 = 37; the probe layer runs without a cache: 35
    assert launching_ops_per_layer("fp32") == 35
    assert launching_ops_per_layer("bf16") == 35 + 2 * 2  # each norm casts to fp32 and back


def test_hf_splits_the_fused_projections_with_the_same_weights(llama7b):
    w = Workload(batch=2, prompt_tokens=64)
    fused, hf = _by_name(forward_ops(llama7b, w, "prefill")), _by_name(forward_ops(llama7b, w, "prefill", graph="hf"))
    assert "qkv_proj" not in hf and "gate_up_proj" not in hf
    assert sum(hf[n].cost.weight_bytes for n in ("q_proj", "k_proj", "v_proj")) == fused["qkv_proj"].cost.weight_bytes
    assert hf["gate_proj"].cost.flops + hf["up_proj"].cost.flops == fused["gate_up_proj"].cost.flops
    # each split projection reads the 128 x 4096 input again: two more reads of 128·4096·2 bytes
    extra = (sum(hf[n].cost.activation_bytes for n in ("q_proj", "k_proj", "v_proj"))
             - fused["qkv_proj"].cost.activation_bytes)
    assert extra == 2 * 128 * 4096 * 2


def test_hf_rms_norm_traffic_by_hand(llama7b):
    w = Workload(batch=1, prompt_tokens=10)  # bf16 activations: cast, pow, mean, multiply, cast back, scale
    norm = _by_name(forward_ops(llama7b, w, "prefill", graph="hf"))["attn_norm"]
    elements = 10 * 4096
    # x->fp32 (2+4) + pow (4+4) + mean (4) + multiply (4+4) + fp32->bf16 (4+2) + scale (2+2) = 36 bytes each,
    # plus four fp32 values per row (the mean, + eps, rsqrt)
    assert norm.cost.activation_bytes == elements * 36 + 4 * 10 * 4
    assert norm.launches == 8


def test_hf_decode_reads_and_rewrites_the_whole_cache(llama7b):
    cached = 1024
    w = Workload(batch=2, prompt_tokens=cached)
    fused = _by_name(forward_ops(llama7b, w, "decode", cached_tokens=cached))
    hf = _by_name(forward_ops(llama7b, w, "decode", cached_tokens=cached, graph="hf"))
    per_token = 2 * 32 * 128 * 2  # keys and values of one layer, bf16
    assert float(fused["rope_cache_write"].cost.kv_bytes) == 2 * per_token  # the new token's entries
    # torch.cat reads the 1024 cached tokens and the new one and writes all 1025 back, per sequence
    assert float(hf["rope_cache_write"].cost.kv_bytes) == 2 * 2 * (cached + 1) * per_token
    assert float(hf["attn_score"].cost.kv_bytes) == float(fused["attn_score"].cost.kv_bytes)


@settings(max_examples=30, deadline=None)
@given(model_id=st.sampled_from(["llama-2-7b", "mistral-7b", "mixtral-8x7b", "qwen2.5-7b", "mamba-2.8b", "jamba-v0.1"]),
       batch=st.integers(1, 32), prompt=st.integers(1, 4096), phase=st.sampled_from(["prefill", "decode"]))
def test_same_arithmetic_more_traffic_more_kernels(model_id, batch, prompt, phase):
    model = load_model(model_id)
    w = Workload(batch=batch, prompt_tokens=prompt)
    fused_ops = forward_ops(model, w, phase, cached_tokens=prompt)
    hf_ops = forward_ops(model, w, phase, cached_tokens=prompt, graph="hf")
    fused, hf = total_cost(fused_ops), total_cost(hf_ops)
    tables = total_cost([op for op in hf_ops if op.name == "rotary_tables"])
    assert float(hf.flops - tables.flops) == pytest.approx(float(fused.flops), rel=1e-12)
    assert float(hf.weight_bytes) == pytest.approx(float(fused.weight_bytes), rel=1e-12)
    assert float(hf.bytes) > float(fused.bytes)
    assert sum(o.launches * o.count for o in hf_ops) > sum(o.launches * o.count for o in fused_ops)


def test_eager_runs_the_hf_graph_and_is_slower():
    eager = estimate("llama-2-7b", "h100-sxm", batch=1, prompt_tokens=128, output_tokens=4, runtime="eager")
    graph = estimate("llama-2-7b", "h100-sxm", batch=1, prompt_tokens=128, output_tokens=4)
    names = {op.name for op in eager.ops}
    assert {"q_proj", "gate_proj", "attn_out_copy", "rotary_tables"} <= names and "qkv_proj" not in names
    assert eager.decode.bound_by == "host" and eager.tpot_seconds > 5 * graph.tpot_seconds
