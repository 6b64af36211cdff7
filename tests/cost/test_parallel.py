"""Several devices: sharded bytes add up to the whole, collectives by hand, pipelines and bad layouts."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from infersim.cost.estimate import estimate
from infersim.cost.ops import forward_ops, mean_of
from infersim.cost.parallel import default_layout, kv_share, stage_weight_elements, switch_of
from infersim.errors import InfersimError
from infersim.specs.catalog import load_device, load_model, load_system
from infersim.specs.layout import Layout
from infersim.specs.workload import Workload


def _replicated_per_copy(model, layout: Layout) -> int:
    """Weights every tensor-parallel device keeps whole: the norms, the router, MLA's latent projections,
    and the key/value heads each device copies when tp > H_kv (counted independently of parallel.py)."""
    d, L = model.hidden_size, model.num_layers
    norms = L * model.norm_params_per_layer() + d * (2 if model.norm == "layernorm" else 1)
    router = model.num_moe_layers * d * model.moe.num_experts if model.moe else 0
    latent = 0
    if model.mla:
        m = model.mla
        latent = L * (d * (m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank)
        latent += L * ((d * m.q_lora_rank + m.q_lora_rank) if m.q_lora_rank else 0)
    return norms + router + latent


@settings(max_examples=60, deadline=None)
@given(model_id=st.sampled_from(["llama-2-7b", "llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b", "qwen2.5-7b",
                                 "deepseek-v2-lite", "llama-2-13b"]),
       tp=st.sampled_from([1, 2, 4, 8]), pp=st.integers(1, 9))
def test_sharded_weights_add_up_to_the_whole(model_id, tp, pp):
    model = load_model(model_id)
    layout = Layout(tp=tp, pp=pp)
    h, hkv = model.num_attention_heads, model.num_key_value_heads
    assume(h % tp == 0 and (model.mla or hkv % tp == 0) and pp <= model.num_layers)
    widths = [model.intermediate_size, model.vocab_size] + ([model.moe.expert_intermediate_size] if model.moe else [])
    assume(all(w % tp == 0 for w in widths))
    stored = sum(stage_weight_elements(model, layout, s) * tp for s in range(pp))
    tied_copy = model.vocab_size * model.hidden_size if model.tie_word_embeddings and pp > 1 else 0
    assert stored == model.total_params + (tp - 1) * _replicated_per_copy(model, layout) + tied_copy


@settings(max_examples=40, deadline=None)
@given(tp=st.sampled_from([1, 2, 4, 8]), ep=st.sampled_from([1, 2, 4, 8]))
def test_expert_parallel_experts_add_up(tp, ep):
    # Mixtral has no shared experts (with ep > 1 those run inside each expert group, one copy per group)
    model = load_model("mixtral-8x7b")
    assume(model.num_attention_heads % tp == 0 and model.num_key_value_heads % tp in (0, tp)
           and tp % ep == 0 and model.moe.num_experts % ep == 0)
    assume(model.moe.expert_intermediate_size % (tp // ep) == 0 and model.intermediate_size % tp == 0
           and model.vocab_size % tp == 0 and model.num_key_value_heads >= tp)
    with_ep, without = Layout(tp=tp, ep=ep), Layout(tp=tp)
    # the same expert weights, split by expert groups instead of by width: every device stores as much
    assert stage_weight_elements(model, with_ep, 0) == stage_weight_elements(model, without, 0)


def test_kv_heads_copied_when_tp_exceeds_them():
    model = load_model("llama-3.1-70b")  # 8 key/value heads
    assert kv_share(model, Layout(tp=8)) == pytest.approx(1 / 8)
    assert kv_share(model, Layout(tp=16)) == pytest.approx(1 / 8)  # each head on two devices
    assert kv_share(model, Layout(pp=4)) == pytest.approx(1 / 4)
    assert kv_share(load_model("deepseek-v3"), Layout(tp=8)) == 1.0  # the MLA latent is not split by heads


def test_tensor_parallel_collectives_by_hand():
    model = load_model("llama-2-70b")  # 80 layers, d = 8192, vocab 32000
    ops = forward_ops(model, Workload(batch=4, prompt_tokens=100), "decode", cached_tokens=100, layout=Layout(tp=8))
    collectives = {op.name: op for op in ops if op.kind == "collective"}
    assert set(collectives) == {"embed_all_reduce", "attn_all_reduce", "mlp_all_reduce", "logits_all_gather"}
    assert collectives["attn_all_reduce"].count == collectives["mlp_all_reduce"].count == 80
    assert collectives["attn_all_reduce"].cost.wire_bytes == 4 * 8192 * 2  # B rows of d, bf16
    assert collectives["logits_all_gather"].cost.wire_bytes == 4 * 32000 * 4  # fp32 logits, gathered
    qkv = next(op for op in ops if op.name == "qkv_proj")
    assert qkv.cost.weight_bytes == 8192 * (8 * 128 + 2 * 1 * 128) * 2  # 64/8 query heads, 8/8 kv heads


def test_expert_parallel_all_to_all_by_hand():
    model = load_model("mixtral-8x7b")  # d 4096, 8 experts, top-2
    ops = forward_ops(model, Workload(batch=16, prompt_tokens=10), "decode", cached_tokens=10,
                      layout=Layout(tp=8, ep=8))
    dispatch = next(op for op in ops if op.name == "moe_dispatch")
    assert dispatch.collective == "all-to-all" and dispatch.axis == "ep"
    assert dispatch.cost.wire_bytes == 16 / 8 * 2 * 4096 * 2  # its N/tp rows, to k = 2 experts, bf16
    experts = next(op for op in ops if op.name == "experts_gate_up")
    assert experts.gemm_rows * 0 + mean_of(experts.cost.flops) == pytest.approx(2 * (16 * 2 / 8) * 4096 * 2 * 14336)


def test_tensor_parallelism_cuts_decode_but_pays_its_all_reduces():
    one = estimate("llama-3.1-8b", "h100-sxm", batch=1, output_tokens=8)
    eight = estimate("llama-3.1-8b", system="dgx-h100", tp=8, batch=1, output_tokens=8)
    assert eight.memory.weights_bytes < one.memory.weights_bytes / 6
    assert eight.decode.comm_seconds > 0 and eight.tpot_seconds < one.tpot_seconds
    # all 32 layers' two all-reduces are latency bound: at least the NCCL base latency each
    assert eight.decode.comm_seconds > 64 * load_system("dgx-h100").link.base_latency_seconds


def test_a_pipeline_does_not_speed_up_one_sequence():
    one = estimate("llama-3.1-8b", "h100-sxm", batch=1, output_tokens=8)
    staged = estimate("llama-3.1-8b", system="dgx-h100", pp=4, batch=1, output_tokens=8)
    assert staged.tpot_seconds >= one.tpot_seconds
    assert staged.pipeline_stages == 4 and staged.microbatches == 1
    full = estimate("llama-3.1-8b", system="dgx-h100", pp=4, batch=8, output_tokens=8)
    assert full.microbatches == 4  # the pipeline is kept full: 4 groups of 2 sequences


def test_a_wafer_runs_its_layers_as_a_pipeline():
    wafer = estimate("llama-3.1-8b", "cerebras-wse-3", batch=1, output_tokens=8)
    assert wafer.pipeline_stages == 32
    gate_up = [op for op in wafer.ops if op.phase == "decode" and op.name == "gate_up_proj"][0]
    assert gate_up.weight_bytes == 32 * 4096 * 2 * 14336 * 2  # 32 layers of [4096, 2·14336] bf16
    # one token's gate_up uses 1/32 of the wafer: 32 x the whole-wafer memory time
    whole_wafer = gate_up.bytes / (load_device("cerebras-wse-3").main_memory.bytes_per_s * 0.9)
    assert gate_up.memory_seconds == pytest.approx(32 * whole_wafer, rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(scale=st.floats(1.0, 8.0), batch=st.sampled_from([1, 8, 64]))
def test_more_link_bandwidth_is_never_slower(scale, batch):
    base = switch_of(load_device("h100-sxm"), 4)
    faster = base.model_copy(update={"link": base.link.model_copy(
        update={"bytes_per_s_per_direction": base.link.bytes_per_s_per_direction * scale})})
    slow = estimate("llama-3.1-70b", system=base, tp=4, batch=batch, output_tokens=4)
    fast = estimate("llama-3.1-70b", system=faster, tp=4, batch=batch, output_tokens=4)
    assert fast.tpot_seconds <= slow.tpot_seconds * (1 + 1e-12)
    assert fast.ttft_seconds <= slow.ttft_seconds * (1 + 1e-12)


def test_overlap_hides_communication_up_to_the_compute():
    plain = estimate("llama-3.1-70b", system="dgx-h100", batch=16, output_tokens=4)
    hidden = estimate("llama-3.1-70b", system="dgx-h100", batch=16, output_tokens=4, overlap=True)
    assert hidden.tpot_seconds < plain.tpot_seconds
    assert hidden.tpot_seconds >= plain.tpot_seconds - plain.decode.comm_seconds - 1e-12


def test_default_layouts():
    assert default_layout(load_model("llama-3.1-70b"), load_system("dgx-h100"), 1, 128) == Layout(tp=8)
    assert default_layout(load_model("llama-3.1-405b"), load_system("dgx-h100-4node"), 1, 128) == Layout(tp=8, pp=4)
    assert default_layout(load_model("llama-3.1-70b"), load_system("cerebras-cs-3x4"), 1, 128) == Layout(pp=4)


@pytest.mark.parametrize("kwargs, message", [
    (dict(system="dgx-h100", tp=3), "tp=3 does not divide llama-3.1-8b's 32 attention heads"),
    (dict(system="dgx-h100", tp=8, pp=2), "needs 16 devices; system 'dgx-h100' has 8"),
    (dict(system="dgx-h100", pp=40), "pp=40 is more than llama-3.1-8b's 32 layers"),
    (dict(system="dgx-h100", ep=2), "ep=2 needs a mixture-of-experts model"),
    (dict(system="dgx-h100", dp=2, batch=3), "dp=2 does not divide the batch of 3"),
    (dict(device="h100-sxm", tp=2), "needs 2 devices; give --system or --devices 2"),
    (dict(device="h100-sxm", devices=4, tp=2), "uses 2 devices, not the 4 asked for"),
    (dict(system="dgx-h100", device="a100-80gb"), "built of h100-sxm, not a100-80gb"),
    (dict(system="dgx-h10"), "unknown system 'dgx-h10'"),
    (dict(device="h100-sxm", devices=2, tp=2, model="llama-3.1-405b"), "cannot hold llama-3.1-405b's weights"),
    (dict(system="dgx-h100-4node", cp=12), "must fit in one node"),
])
def test_layouts_that_cannot_work_say_why(kwargs, message):
    kwargs = {"batch": 1, **kwargs}
    device, model = kwargs.pop("device", None), kwargs.pop("model", "llama-3.1-8b")
    with pytest.raises(InfersimError, match=message.replace("(", r"\(").replace(")", r"\)")):
        estimate(model, device, output_tokens=4, **kwargs)


def test_cli_multi_device_estimate_and_bad_layout(cli):
    code, out, err = cli("estimate", "-m", "llama-3.1-70b", "--system", "dgx-h100", "--json", "-o", "4")
    assert code == 0 and '"devices": 8' in out and '"tp": 8' in out
    code, out, err = cli("estimate", "-m", "llama-3.1-70b", "--system", "dgx-h100", "--tp", "3")
    assert code == 2 and out == "" and err.count("\n") == 1 and "tp=3 does not divide" in err
    code, out, err = cli("systems")
    assert code == 0 and "groq-rack" in out


def test_routing_skew_slows_the_busiest_expert_parallel_device_only():
    kw = dict(system="dgx-h100", batch=256, output_tokens=4)
    even = estimate("mixtral-8x7b", tp=8, ep=8, **kw)
    skewed = estimate("mixtral-8x7b", tp=8, ep=8, moe_imbalance=2.0, **kw)
    assert skewed.ttft_seconds > even.ttft_seconds and skewed.tpot_seconds > even.tpot_seconds
    experts = [op for op in skewed.ops if op.name == "experts_gate_up" and op.phase == "prefill"][0]
    even_experts = [op for op in even.ops if op.name == "experts_gate_up" and op.phase == "prefill"][0]
    assert experts.flops == pytest.approx(2 * even_experts.flops)  # twice the rows on the busiest device
    # no expert parallelism: skew only moves rows between the experts of one grouped GEMM
    assert estimate("mixtral-8x7b", tp=8, moe_imbalance=2.0, **kw).tpot_seconds == estimate(
        "mixtral-8x7b", tp=8, **kw).tpot_seconds


def test_a_pod_larger_than_any_layout_gets_the_largest_one_and_leaves_the_rest_idle():
    """Llama-3.1-8B at batch 1 cannot use 8,960 v5p chips (32 heads, 32 layers): the default takes the most it
    can group, tp 32 x pp 32 = 1,024, and the estimate says the others idle."""
    pod = load_system("tpu-v5p-pod")
    layout = default_layout(load_model("llama-3.1-8b"), pod, batch=1, prompt_tokens=1024)
    assert layout.devices == 1024 and (layout.tp, layout.pp) == (32, 32)
    est = estimate("llama-3.1-8b", system=pod, output_tokens=8)
    assert est.devices == 1024 and any("1024 of the 8960 devices" in n for n in est.notes)
