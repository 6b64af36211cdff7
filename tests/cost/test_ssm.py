"""SSM (Mamba) and hybrid (Jamba) layers in the op list, memory and the estimate: a constant-size state instead
of a KV cache, so decode does not slow down with context; a hybrid caches keys only on its attention layers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from infersim.cost.estimate import UNBOUNDED_CONTEXT_CAP_TOKENS, estimate
from infersim.cost.memory import kv_bytes_per_token, kv_cache_bytes, ssm_state_bytes_per_sequence
from infersim.cost.ops import forward_ops, total_cost
from infersim.cost.parallel import kv_share, ssm_state_share, stage_weight_elements
from infersim.errors import InfersimError
from infersim.specs.catalog import load_model
from infersim.specs.layout import Layout
from infersim.specs.model import ModelSpec
from infersim.specs.workload import Workload


@pytest.fixture(scope="module")
def mamba():
    return load_model("mamba-2.8b")


@pytest.fixture(scope="module")
def jamba():
    return load_model("jamba-v0.1")


def _all_attention(model: ModelSpec) -> ModelSpec:
    """The same shapes with attention on every layer (no SSM block)."""
    return ModelSpec(**{**model.model_dump(), "id": f"{model.id}-all-attention", "ssm": None})


def _by_name(ops):
    return {op.name: op for op in ops}


def test_mamba_decode_state_bytes_by_hand(mamba):
    w = Workload(batch=2, prompt_tokens=100)
    ops = _by_name(forward_ops(mamba, w, "decode", cached_tokens=100))
    # per layer, read and written: h of 5120 x 16 in fp32, the conv window of 5120 x (4 - 1) in bf16, 2 sequences
    assert ops["selective_scan"].cost.kv_bytes == 2 * 2 * 5120 * 16 * 4
    assert ops["conv1d"].cost.kv_bytes == 2 * 2 * 5120 * 3 * 2
    assert ops["selective_scan"].count == ops["conv1d"].count == 64
    assert ssm_state_bytes_per_sequence(mamba, "fp32", "bf16") == 64 * 5120 * (16 * 4 + 3 * 2) == 22_937_600
    assert ssm_state_bytes_per_sequence(mamba, "bf16", "bf16") == 64 * 5120 * (16 * 2 + 3 * 2)
    # the op list and the footprint agree: a decode step reads and writes every sequence's whole state once
    step = total_cost(forward_ops(mamba, w, "decode", cached_tokens=100))
    assert step.kv_bytes == pytest.approx(2 * 2 * ssm_state_bytes_per_sequence(mamba))
    # prefill starts from a zero state and writes it once
    prefill = total_cost(forward_ops(mamba, w, "prefill"))
    assert prefill.kv_bytes == pytest.approx(2 * ssm_state_bytes_per_sequence(mamba))


def test_mamba_has_no_kv_cache_and_no_attention(mamba):
    assert kv_bytes_per_token(mamba) == 0 and kv_cache_bytes(mamba, "bf16", 64, 32768) == 0
    ops = forward_ops(mamba, Workload(batch=1, prompt_tokens=16), "decode", cached_tokens=16)
    assert not [op for op in ops if op.kind == "attention"]
    scan = _by_name(ops)["selective_scan"]
    assert scan.kind == "scan" and scan.cost.flops == 5120 * (9 * 16 + 2)  # 9 per state element, 2 per channel


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 64), short=st.integers(1, 4096), extra=st.integers(1, 60_000))
def test_ssm_decode_tpot_does_not_change_with_context_while_a_transformers_grows(mamba, llama7b, batch, short, extra):
    long = short + extra

    def tpot(model, prompt):
        return estimate(model, "h100-sxm", batch=batch, prompt_tokens=prompt, output_tokens=2).tpot_seconds

    assert tpot(mamba, long) == pytest.approx(tpot(mamba, short), rel=1e-12)
    assert tpot(llama7b, long) > tpot(llama7b, short)
    steps = np.array([short, long], dtype=float)
    kv = total_cost(forward_ops(mamba, Workload(batch=batch, prompt_tokens=short), "decode", cached_tokens=steps))
    assert np.ptp(np.broadcast_to(kv.kv_bytes, steps.shape)) == 0


@settings(max_examples=30, deadline=None)
@given(sequences=st.integers(1, 256), tokens=st.integers(1, 262_144))
def test_hybrid_kv_cache_is_the_attention_share_of_an_all_attention_model(jamba, sequences, tokens):
    every_layer = _all_attention(jamba)
    assert every_layer.num_attention_layers == 32
    ratio = kv_cache_bytes(jamba, "bf16", sequences, tokens) / kv_cache_bytes(every_layer, "bf16", sequences, tokens)
    assert ratio == pytest.approx(4 / 32)


def test_hybrid_decode_reads_the_attention_layers_caches_only(jamba):
    w = Workload(batch=4, prompt_tokens=1000)
    hybrid = forward_ops(jamba, w, "decode", cached_tokens=1000)
    every_layer = forward_ops(_all_attention(jamba), w, "decode", cached_tokens=1000)
    attention_kv = [float(op.cost.kv_bytes) * op.count for op in hybrid if op.kind == "attention"]
    all_kv = [float(op.cost.kv_bytes) * op.count for op in every_layer if op.kind == "attention"]
    assert sum(attention_kv) == pytest.approx(sum(all_kv) * 4 / 32)
    names = {op.name for op in hybrid}
    assert {"attn.dense.cache_write", "ssm.moe.selective_scan", "ssm.dense.in_proj", "ssm.moe.experts_gate_up"} <= names
    assert not any("rope" in n for n in names)  # Jamba's attention has no positional encoding


def test_jamba_kv_cache_matches_the_paper(jamba):
    # Lieber et al. 2024 Table 1: KV cache at a 256K context in 16-bit: Jamba 4GB, Mixtral 32GB (GiB)
    assert kv_bytes_per_token(jamba) == 2 * 4 * 8 * 128 * 2
    assert kv_cache_bytes(jamba, "bf16", 1, 256 * 1024) == 4 * 2**30
    assert kv_cache_bytes(load_model("mixtral-8x7b"), "bf16", 1, 256 * 1024) == 32 * 2**30


def test_estimate_counts_the_state_and_caps_the_context(mamba, jamba):
    est = estimate(mamba, "h100-sxm", batch=8, prompt_tokens=1024, output_tokens=256)
    state = 8 * 22_937_600
    assert est.memory.kv_cache_bytes == 0 and est.memory.ssm_state_bytes == state
    assert est.memory.total_bytes == pytest.approx(est.memory.weights_bytes + state + est.memory.activation_bytes)
    assert est.max_context_tokens == UNBOUNDED_CONTEXT_CAP_TOKENS == 2**20  # memory does not bound it
    room = est.memory.capacity_bytes - est.memory.weights_bytes
    assert est.max_batch == int(room // (22_937_600 + est.memory.activation_bytes / 8))
    assert "no KV cache" in est.notes[0] and "1,048,576" in est.notes[0]
    hybrid = estimate(jamba, "h200", batch=1, prompt_tokens=1000, output_tokens=24)
    assert hybrid.memory.kv_cache_bytes == 1024 * 16_384  # only 4 attention layers cache keys and values
    assert hybrid.memory.ssm_state_bytes == 28 * 8192 * (16 * 4 + 3 * 2)
    assert "only its 4 attention layers keep a KV cache" in hybrid.notes[0]


def _replicated_per_copy(model: ModelSpec) -> int:
    """What every tensor-parallel device keeps whole: the norms, Jamba's inner norms, the router."""
    norms = sum(n * model.norm_params_per_layer(mlp != "none") for (_, mlp), n in model.layer_groups().items())
    inner = model.num_ssm_layers * (model.ssm.dt_rank + 2 * model.ssm.d_state) if model.ssm.inner_norms else 0
    router = model.num_moe_layers * model.hidden_size * model.moe.num_experts if model.moe else 0
    return norms + model.hidden_size + inner + router


@settings(max_examples=40, deadline=None)
@given(model_id=st.sampled_from(["mamba-2.8b", "jamba-v0.1"]), tp=st.sampled_from([1, 2, 4, 8]), pp=st.integers(1, 9))
def test_tp_sharded_ssm_weights_add_up_to_the_whole(model_id, tp, pp):
    model = load_model(model_id)
    layout = Layout(tp=tp, pp=pp)
    assume(model.ssm_inner_size % tp == 0 and model.vocab_size % tp == 0)
    stored = sum(stage_weight_elements(model, layout, s) * tp for s in range(pp))
    tied_copy = model.vocab_size * model.hidden_size if model.tie_word_embeddings and pp > 1 else 0
    assert stored == model.total_params + (tp - 1) * _replicated_per_copy(model) + tied_copy


@pytest.mark.parametrize("model_id", ["mamba-2.8b", "jamba-v0.1"])
@pytest.mark.parametrize("tp", [1, 2, 8])
def test_ops_read_what_one_tp_device_stores(model_id, tp):
    """Two derivations: the weights the ops of one device read (every expert at a large batch) against
    parallel.stage_weight_elements, less the embedding table a gather barely touches."""
    model = load_model(model_id)
    layout = Layout(tp=tp)
    ops = forward_ops(model, Workload(batch=64, prompt_tokens=4096), "prefill", layout=layout)
    read = sum(op.weight_elements * op.count for op in ops if op.name != "embed")
    table = 0 if model.tie_word_embeddings else -(-model.vocab_size // tp) * model.hidden_size
    assert read + table == pytest.approx(stage_weight_elements(model, layout, 0), rel=1e-9)


def test_tp_splits_the_ssm_channels_and_sums_x_proj(mamba):
    ops = forward_ops(mamba, Workload(batch=4, prompt_tokens=100), "decode", cached_tokens=100, layout=Layout(tp=4))
    by_name = _by_name(ops)
    assert by_name["in_proj"].cost.weight_bytes == 2560 * 2 * 1280 * 2  # column-parallel: 5120 / 4 channels
    assert by_name["out_proj"].cost.weight_bytes == 1280 * 2560 * 2  # row-parallel
    assert by_name["x_proj_all_reduce"].cost.wire_bytes == 4 * (160 + 32) * 2  # B rows of R + 2N, bf16
    assert by_name["ssm_all_reduce"].cost.wire_bytes == 4 * 2560 * 2
    assert by_name["selective_scan"].cost.kv_bytes == 2 * 4 * 1280 * 16 * 4  # a quarter of each state
    assert ssm_state_share(mamba, Layout(tp=4)) == pytest.approx(1 / 4)
    assert ssm_state_share(mamba, Layout(pp=4)) == pytest.approx(1 / 4) and kv_share(mamba, Layout(tp=4)) == 0


def test_hybrid_pipeline_shares_follow_the_layer_pattern(jamba):
    # pp = 4: stages of 8 layers, each with one attention layer (4, 12, 20, 28) and 7 SSM layers
    assert kv_share(jamba, Layout(pp=4)) == pytest.approx(1 / 4)
    assert ssm_state_share(jamba, Layout(pp=4)) == pytest.approx(7 / 28)
    # pp = 8: stages of 4 layers; layer 4 opens stage 1, so stage 0 holds no attention layer and 4 SSM layers
    assert kv_share(jamba, Layout(pp=8)) == pytest.approx(1 / 4)
    assert ssm_state_share(jamba, Layout(pp=8)) == pytest.approx(4 / 28)


@pytest.mark.parametrize(("layout", "words"), [
    (Layout(cp=2), "context parallelism cannot split"),
    (Layout(tp=3), "does not divide mamba-2.8b's 5120 SSM inner channels"),
])
def test_layouts_an_ssm_cannot_take(mamba, layout, words):
    with pytest.raises(InfersimError, match=words):
        layout.check(mamba, batch=1, prompt_tokens=128)


@pytest.mark.parametrize(("dtype", "decode", "prefill_fixed", "per_token"), [("fp32", 31, 32, 3), ("bf16", 42, 42, 4)])
def test_hf_mamba_layer_kernels_by_hand(dtype, decode, prefill_fixed, per_token):
    """Kernels one MambaForCausalLM layer launches in transformers 5.24's torch fallback (counted with a
    TorchDispatchMode; tests/measure/test_hf_mamba_kernels.py recounts them when transformers is installed)."""
    model = ModelSpec(id="tiny", name="tiny", source="test", hidden_size=64, num_layers=1, vocab_size=8,
                      ssm={"d_state": 16, "d_conv": 4, "expand": 2, "dt_rank": 8})
    model_level = {"embed", "final_norm", "lm_head", "sample"}

    def launches(phase, tokens):
        w = Workload(batch=1, prompt_tokens=tokens, weights_dtype=dtype, kv_dtype=dtype, activations_dtype=dtype)
        return sum(op.launches for op in forward_ops(model, w, phase, cached_tokens=tokens, graph="hf")
                   if op.name not in model_level)

    assert launches("decode", 8) == decode
    for tokens in (5, 9, 64):
        assert launches("prefill", tokens) == prefill_fixed + per_token * tokens  # the scan loops over tokens
