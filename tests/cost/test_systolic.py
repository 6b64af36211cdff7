"""Systolic (TPU) execution: MXU utilisation from padding GEMM shapes to the array (cost/systolic.py)."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from infersim.cost.ops import Cost, Op, forward_ops
from infersim.cost.placement import place
from infersim.cost.roofline import time_op
from infersim.cost.systolic import padded_fraction, systolic_utilisation
from infersim.errors import InfersimError
from infersim.specs.catalog import DEVICES_DIR, device_from_mapping, load_device, load_model
from infersim.specs.device import MatrixUnit
from infersim.specs.workload import Workload

MXU_128 = MatrixUnit(rows=128, cols=128, count=4)
MXU_256 = MatrixUnit(rows=256, cols=256, count=2)
TPUS = ("tpu-v4", "tpu-v4i", "tpu-v5e", "tpu-v5p", "tpu-v6e")


def _matmul(m: float, k: int, n: int) -> Op:
    """One bf16 [m, k] @ [k, n] GEMM as ops.py would record it."""
    cost = Cost(flops=2.0 * m * k * n, weight_bytes=2.0 * k * n, activation_bytes=2.0 * m * (k + n))
    return Op("gemm", "matmul", "prefill", cost, f"[{m}, {k}] @ [{k}, {n}]", weights_dtype="bf16",
              gemm_rows=m, gemm_inner=k, gemm_cols=n)


def _time(op: Op, device):
    return time_op(op, device, place(device, 0.0, 0.0, 0.0), "bf16")


def _unpadded(device):
    """The same device without its matrix unit: the plain roofline."""
    return device.model_copy(update={"matrix_unit": None})


# ---- the formula, by hand -----------------------------------------------------------------------------
def test_shapes_that_fill_the_array_pad_nothing():
    assert padded_fraction(4096, 128) == 1.0  # 32 whole tiles
    assert systolic_utilisation(MXU_128, 4096, 4096, 4096) == 1.0


def test_a_ragged_edge_wastes_its_last_tile():
    # n = 4160 = 32·128 + 64 needs 33 tile columns, 4224 wide: 1 − 4160/4224 = 1.5 % idle
    assert padded_fraction(4160, 128) == pytest.approx(4160 / 4224)
    assert systolic_utilisation(MXU_128, 4096, 4096, 4160) == pytest.approx(4160 / 4224)
    assert 1 - systolic_utilisation(MXU_128, 4096, 4096, 4160) == pytest.approx(64 / 4224)  # 0.01515


def test_small_axes_pad_to_a_whole_tile():
    assert padded_fraction(64, 128) == 0.5  # d_h = 64 on a 128-wide MXU: half of it
    assert padded_fraction(64, 256) == 0.25  # ... on v6e's 256-wide MXU: a quarter
    assert padded_fraction(128, 256) == 0.5  # Llama's d_h = 128 on v6e
    assert systolic_utilisation(MXU_256, 4096, 64, 4096) == 0.25
    assert systolic_utilisation(MXU_256, 4096, 64, 64) == 0.25 ** 2  # both edges of the tile


def test_rows_below_the_array_height_leave_the_weight_load_exposed():
    # a tile takes max(m, R) cycles: R = 128 to shift the next tile in, m to stream the rows past this one
    assert systolic_utilisation(MXU_128, 1, 4096, 4096) == 1 / 128  # batch-1 decode
    assert systolic_utilisation(MXU_128, 64, 4096, 4096) == 0.5
    assert systolic_utilisation(MXU_128, 128, 4096, 4096) == 1.0
    assert systolic_utilisation(MXU_128, 256, 4096, 4096) == 1.0  # double-buffered: no further loss
    assert systolic_utilisation(MXU_256, 128, 4096, 4096) == 0.5


def test_unfixed_axes_cost_nothing():
    assert systolic_utilisation(MXU_128, 0, 0, 0) == 1.0


@given(m=st.one_of(st.just(0.0), st.floats(1e-3, 1e5)), k=st.integers(1, 40_000), n=st.integers(1, 40_000))
def test_utilisation_is_a_fraction(m, k, n):
    assert 0 < systolic_utilisation(MXU_128, m, k, n) <= 1


# ---- in the roofline ----------------------------------------------------------------------------------
@given(m=st.integers(1, 8192), k=st.integers(1, 20_000), n=st.integers(1, 20_000),
       device_id=st.sampled_from(TPUS))
def test_padding_never_makes_an_op_faster(m, k, n, device_id):
    device = load_device(device_id)
    op = _matmul(m, k, n)
    padded, plain = _time(op, device), _time(op, _unpadded(device))
    assert padded.compute_seconds >= plain.compute_seconds
    assert padded.seconds >= plain.seconds
    assert padded.memory_seconds == plain.memory_seconds  # padding moves no extra bytes


def test_compute_time_is_divided_by_the_utilisation():
    v5e = load_device("tpu-v5e")
    op = _matmul(4096, 4096, 4160)
    eff = v5e.efficiency.matmul_compute_fraction
    expected = 2 * 4096 * 4096 * 4160 / (197e12 * eff * 4160 / 4224)
    assert _time(op, v5e).compute_seconds == pytest.approx(expected)
    # a full-width shape runs at the plain roofline
    full = _matmul(4096, 4096, 4096)
    assert _time(full, v5e).compute_seconds == pytest.approx(_time(full, _unpadded(v5e)).compute_seconds)


def test_gpu_is_unaffected(h100):
    assert h100.matrix_unit is None
    op = _matmul(1, 4160, 64)  # every loss the systolic model knows, were the GPU systolic
    eff = h100.efficiency.matmul_fraction("bf16", 1)
    assert _time(op, h100).compute_seconds == pytest.approx(2 * 4160 * 64 / (989.4e12 * eff))


def test_attention_pads_the_head_width_to_the_array():
    """Llama-3.1-8B prefill on v6e: d_h = 128 fills half of a 256-wide MXU, in both products; on v5e's
    128-wide MXU it fills all of it."""
    ops = forward_ops(load_model("llama-3.1-8b"), Workload(batch=1, prompt_tokens=1024, output_tokens=1), "prefill")
    score, value = (next(o for o in ops if o.name == name) for name in ("attn_score", "attn_value"))
    assert (score.gemm_inner, score.gemm_cols, value.gemm_inner, value.gemm_cols) == (128, 0, 0, 128)
    for op in (score, value):
        v6e, v5e = load_device("tpu-v6e"), load_device("tpu-v5e")
        assert _time(op, v6e).compute_seconds == pytest.approx(2 * _time(op, _unpadded(v6e)).compute_seconds)
        assert _time(op, v5e).compute_seconds == pytest.approx(_time(op, _unpadded(v5e)).compute_seconds)


def test_head_width_64_on_v6e_uses_a_quarter_of_the_array():
    v6e = load_device("tpu-v6e")
    score = Op("attn_score", "attention", "prefill", Cost(flops=1e12), "d=64", gemm_inner=64)
    expected = 1e12 / (918e12 * v6e.efficiency.attention_compute_fraction * 0.25)
    assert _time(score, v6e).compute_seconds == pytest.approx(expected)


def test_matmul_ops_carry_their_gemm_shape():
    ops = forward_ops(load_model("llama-3.1-8b"), Workload(batch=8, prompt_tokens=16, output_tokens=1), "decode",
                      cached_tokens=16)
    gate_up = next(o for o in ops if o.name == "gate_up_proj")
    assert (gate_up.gemm_rows, gate_up.gemm_inner, gate_up.gemm_cols) == (8, 4096, 2 * 14336)
    norm = next(o for o in ops if o.name == "mlp_norm")
    assert (norm.gemm_rows, norm.gemm_inner, norm.gemm_cols) == (0, 0, 0)  # not a GEMM: no array loss


# ---- the catalog and the spec -------------------------------------------------------------------------
@pytest.mark.parametrize("device_id, rows, count", [
    ("tpu-v4", 128, 8), ("tpu-v4i", 128, 4), ("tpu-v5e", 128, 4), ("tpu-v5p", 128, 8), ("tpu-v6e", 256, 2)])
def test_tpus_list_their_mxus_with_sources(device_id, rows, count):
    device = load_device(device_id)
    assert device.matrix_unit == MatrixUnit(rows=rows, cols=rows, count=count)
    for field in ("rows", "cols", "count"):
        assert device.sources[f"matrix_unit.{field}"]


@pytest.mark.parametrize("device_id, clock_hz", [("tpu-v5e", 1.5e9), ("tpu-v5p", 1.75e9)])
def test_peak_is_mxus_times_cells_times_clock(device_id, clock_hz):
    """Two derivations agree: the datasheet peak, and count × R × C cells × 2 FLOPs × the clock the
    scaling-book gives (v5e: ~5e13 FLOP/s per MXU at 1.5 GHz; v5p: ~1.75 GHz), within 0.5 %."""
    device = load_device(device_id)
    unit = device.matrix_unit
    assert unit.count * unit.rows * unit.cols * 2 * clock_hz == pytest.approx(device.peak_for("bf16"), rel=5e-3)


def test_only_tpus_are_systolic_with_a_matrix_unit():
    from infersim.specs.catalog import all_devices

    for device in all_devices():
        assert (device.matrix_unit is not None) == (device.execution_model == "systolic"), device.id


def _v5e_mapping() -> dict:
    return yaml.safe_load((DEVICES_DIR / "tpu-v5e.yaml").read_text())


@pytest.mark.parametrize("change, message", [
    (lambda d: d["matrix_unit"].update(rows={"value": 0, "source": "x"}), "greater than 0"),
    (lambda d: d["matrix_unit"].update(cols={"value": 12.5, "source": "x"}), "integer"),
    (lambda d: d["matrix_unit"].update(depth={"value": 8, "source": "x"}), "Extra inputs"),
    (lambda d: d["matrix_unit"].update(rows=128), "has no source"),
    (lambda d: d.update(execution_model="gpu"), "only used by systolic devices"),
])
def test_bad_matrix_units_are_rejected(change, message):
    data = _v5e_mapping()
    change(data)
    with pytest.raises(InfersimError, match=message):
        device_from_mapping(data, "mine.yaml")
