"""A layer on a wafer's core mesh (cost/mesh.py): the multiply rate and the all-reduces' latency."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infersim.calibration.wafer import fit_collective_fixed_cycles
from infersim.cost.estimate import estimate, make_workload
from infersim.cost.mesh import all_reduce_cycles, region_side
from infersim.cost.ops import forward_ops
from infersim.errors import InfersimError
from infersim.specs.catalog import load_device, load_model
from infersim.specs.device import DeviceSpec
from infersim.validate.cases import published_cases
from infersim.validate.score import score_case

WSE3 = load_device("cerebras-wse-3")


def _mesh(device: DeviceSpec, **update: float) -> DeviceSpec:
    assert device.mesh is not None
    return device.model_copy(update={"mesh": device.mesh.model_copy(update=update)})


def test_all_reduce_cycles_by_hand():
    """P = 400, 5 values per core: 400 hops + 2 ramps of 2, (2·2 + 2)·(2·20 − 2) chain steps, 3·5 wavelets, β."""
    mesh = WSE3.mesh
    assert mesh is not None
    expected = 400 * 1 + 2 * 2 + 6 * 38 + 15 + mesh.collective_fixed_cycles
    assert all_reduce_cycles(mesh, 400.0, 5.0) == pytest.approx(expected)


def test_a_decode_layer_runs_ten_all_reduces():
    """WaferLLM's decode.csl: QKV, O, gate/up and down products, two RMSNorms, and four in attention."""
    model = load_model("llama-3.1-8b")
    workload = make_workload(batch=1, prompt_tokens=1024, output_tokens=4, weights_dtype="fp16", kv_dtype="fp16",
                             activations_dtype="fp16")
    per_layer = [op for op in forward_ops(model, workload, "decode", cached_tokens=1024)
                 if op.count == model.num_layers]
    assert sum(len(op.line_reduces) for op in per_layer) == 10


def test_llama_8b_decode_on_one_wse3_by_hand():
    """Each of the 32 layers on 900,000/32 cores (P = 167.7): its 218 M weights and attention's MACs at one MAC
    per core per cycle, plus ten all-reduces; the LM head's 525 M weights on a region alike; at 1.1 GHz."""
    mesh = WSE3.mesh
    assert mesh is not None
    side = math.sqrt(900_000 / 32)
    cores = side ** 2
    layer_weights = 4096 * 6144 + 4096 * 4096 + 3 * 4096 * 14336
    d, ffn, keys = 4096, 14336, 1024 + 127.5  # mean cache over the 255 decode steps of a 1,024-token prompt
    attention_macs = 2 * 32 * 128 * keys  # the scores and the weighted values of 32 query heads of 128
    vectors = [6144, 4096, 2 * ffn, d, keys, d]  # QKV, O, gate/up, down, scores, values: spread over P
    layer_reduces = sum(all_reduce_cycles(mesh, side, v / side) for v in vectors) + 4 * all_reduce_cycles(
        mesh, side, 1.0)  # two norms, the softmax's max and sum
    head_reduces = all_reduce_cycles(mesh, side, 128256 / side) + all_reduce_cycles(mesh, side, 1)  # + final norm
    reduces = (32 * layer_reduces + head_reduces) / mesh.clock_hz
    multiplies = (32 * (layer_weights + attention_macs) + 4096 * 128256) / cores / mesh.clock_hz
    est = estimate("llama-3.1-8b", WSE3, activations_dtype="fp16")
    assert est.tpot_seconds == pytest.approx(reduces + multiplies, rel=1e-3)  # the rest: rope, adds, activation
    fabric = sum(op.overhead_seconds for op in est.ops if op.phase == "decode")
    assert fabric == pytest.approx(reduces, rel=1e-5)
    assert reduces > 0.9 * multiplies  # the hops cost about what the multiplies do: 0.8 µs of bandwidth a layer


def test_the_fixed_cost_is_its_fit_on_waferllm():
    """The catalog's β is what calibration/wafer.py fits on WaferLLM's Llama3-8B rows; WSE-3 assumes WSE-2's."""
    fitted = fit_collective_fixed_cycles()
    for device in ("cerebras-wse-2", "cerebras-wse-3"):
        mesh = load_device(device).mesh
        assert mesh is not None and mesh.collective_fixed_cycles == pytest.approx(fitted, abs=0.1)


def test_more_cores_per_layer_is_slower_once_the_multiplies_are_short():
    """WaferLLM Table 4: Llama3-8B decodes slower on 540² than 420² cores, slower again on 660²."""
    speeds = [estimate("llama-3-8b", "cerebras-wse-2", mesh_grid=g, output_tokens=8).output_tokens_per_s_per_user
              for g in (420, 540, 660)]
    assert speeds[0] > speeds[1] > speeds[2]
    # with few cores the multiplies bind instead: a 100² region is slower than 420²
    assert estimate("llama-3-8b", "cerebras-wse-2", mesh_grid=100, output_tokens=8).tpot_seconds > (
        1 / speeds[0])


def test_held_out_wafer_rows_land_close():
    """Not fitted: WaferLLM's 13B and 72B rows within 10%; Cerebras's own 8B and 70B within 15%."""
    cases = {c.id: c for c in published_cases()}
    for case_id, tolerance in [("CW2a", 0.1), ("CW2b", 0.1), ("CW2c", 0.1), ("CW3a", 0.1), ("CW3b", 0.1),
                               ("CW3c", 0.1), ("8a", 0.15), ("9a", 0.15), ("10a", 0.15), ("10b", 0.15)]:
        scored = score_case(cases[case_id])
        assert scored.predicted is not None
        assert abs(scored.predicted / scored.measured - 1) < tolerance, case_id


@settings(max_examples=20, deadline=None)
@given(hop=st.floats(1.0, 8.0), clock=st.floats(0.5, 2.0))
def test_slower_hops_are_never_faster_and_a_faster_clock_never_slower(hop, clock):
    base = estimate("llama-3.1-8b", WSE3, output_tokens=4).tpot_seconds
    assert estimate("llama-3.1-8b", _mesh(WSE3, hop_cycles=hop), output_tokens=4).tpot_seconds >= base * (1 - 1e-12)
    clocked = estimate("llama-3.1-8b", _mesh(WSE3, clock_hz=1.1e9 * clock), output_tokens=4).tpot_seconds
    if clock >= 1.0:
        assert clocked <= base * (1 + 1e-12)
    else:
        assert clocked >= base * (1 - 1e-12)


def test_weights_beyond_the_wafer_stream_layer_by_layer_over_the_whole_wafer():
    """Llama-3.1-405B's 811 GB on one WSE-3: 768 GB stream from MemoryX at 150 GB/s each token, each layer on the
    whole wafer in turn (weight streaming), not on a 1/126 region (which would charge the stream 126 times)."""
    est = estimate("llama-3.1-405b", WSE3, output_tokens=4)
    streamed = est.memory.bytes_by_tier["weights"]["memoryx"]
    memoryx = next(t for t in WSE3.memory if t.name == "memoryx")
    assert memoryx.bytes_per_s is not None
    assert est.tpot_seconds == pytest.approx(streamed / (memoryx.bytes_per_s * WSE3.efficiency.memory_fraction),
                                             rel=0.15)
    assert est.pipeline_stages == 1 and not any("spatial machine" in n for n in est.notes)


def test_region_side_is_the_square_root_of_its_cores():
    mesh = WSE3.mesh
    assert mesh is not None
    assert region_side(mesh, 1 / 32) == pytest.approx(math.sqrt(900_000 / 32))


@pytest.mark.parametrize("call, message", [
    (lambda: estimate("llama-3.1-8b", "h100-sxm", mesh_grid=100), "has no core mesh"),
    (lambda: estimate("llama-3.1-8b", "cerebras-wse-3", mesh_grid=1000), "between 1 and 948"),
    (lambda: estimate("llama-3.1-8b", "cerebras-wse-3", mesh_grid=0), "between 1 and 948"),
])
def test_bad_mesh_grids_say_what_would_work(call, message):
    with pytest.raises(InfersimError, match=message):
        call()


def test_a_mesh_is_only_for_wafers():
    data = load_device("h100-sxm").model_dump()
    data["mesh"] = WSE3.mesh.model_dump() if WSE3.mesh else None
    with pytest.raises(ValueError, match="only used by wafer devices"):
        DeviceSpec.model_validate(data)


def _matmul_compute_seconds(est) -> float:
    return sum(r.compute_seconds for r in est.ops if r.phase == "decode" and r.kind == "matmul")


def test_a_weight_serves_up_to_the_simd_width_of_rows_at_no_extra_multiply_time():
    """WSE-3's 8-wide FP16 SIMD (The Next Platform 2024-03-14): verifying up to 8 tokens per step multiplies each
    weight a core reads by 8 activations in the time one takes; the 9th row costs more (cost/mesh.py)."""
    mesh = WSE3.mesh
    assert mesh is not None and mesh.simd_macs_per_cycle_per_core == 8
    one, eight, sixteen = (_matmul_compute_seconds(estimate("llama-3.1-8b", WSE3, activations_dtype="fp16",
                                                            output_tokens=4, decode_tokens=t)) for t in (1, 8, 16))
    assert eight == pytest.approx(one, rel=1e-9)
    assert sixteen == pytest.approx(2 * one, rel=1e-9)
    # without SIMD lanes beyond the matrix-vector rate every row pays in full, as before
    plain = _mesh(WSE3, simd_macs_per_cycle_per_core=None)
    assert _matmul_compute_seconds(estimate("llama-3.1-8b", plain, activations_dtype="fp16", output_tokens=4,
                                            decode_tokens=8)) == pytest.approx(8 * one, rel=1e-9)


def test_speculative_verify_pays_on_a_wafer_once_its_rows_share_the_weight_reads():
    """Verifying γ + 1 = 5 tokens on WSE-3 costs more than one step (their all-reduces carry 5x the values and
    attention reads the cache per token) but well under 5 steps, so 2 tokens accepted per step is a speedup."""
    from infersim.techniques.speculative import make_speculation, speculate

    spec = make_speculation(drafter={"kind": "ngram"}, draft_tokens=4, mean_accepted_tokens=2.0)
    (result,) = speculate("llama-3.1-8b", "cerebras-wse-3", spec, batches=(1,))
    assert result.plain_tpot_seconds < result.verify_seconds < 2 * result.plain_tpot_seconds
    assert result.speedup > 1.2


def test_simd_width_below_the_matrix_vector_rate_is_refused():
    from infersim.specs.device import MeshFabric

    assert WSE3.mesh is not None
    fields = WSE3.mesh.model_dump() | {"simd_macs_per_cycle_per_core": 0.5}
    with pytest.raises(ValueError, match="SIMD width"):
        MeshFabric.model_validate(fields)


@settings(max_examples=12, deadline=None)
@given(tokens=st.integers(1, 24), simd=st.sampled_from([1.0, 2.0, 4.0, 8.0, 16.0]))
def test_more_rows_never_take_less_and_wider_lanes_are_never_slower(tokens, simd):
    """A verify step over one more token never finishes sooner, and wider SIMD lanes never slow a step
    (cost/mesh.py: a core multiplies at min(W, r·m) per cycle)."""
    narrow, wide = _mesh(WSE3, simd_macs_per_cycle_per_core=simd), _mesh(WSE3, simd_macs_per_cycle_per_core=2 * simd)
    kw = dict(activations_dtype="fp16", output_tokens=2)
    step = estimate("llama-3.1-8b", narrow, decode_tokens=tokens, **kw).tpot_seconds
    assert estimate("llama-3.1-8b", narrow, decode_tokens=tokens + 1, **kw).tpot_seconds >= step
    assert estimate("llama-3.1-8b", wide, decode_tokens=tokens, **kw).tpot_seconds <= step * (1 + 1e-12)
