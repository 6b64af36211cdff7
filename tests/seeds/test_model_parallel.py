"""Seed figures S5-S7 and S9 (essay 'Domain specific architectures for AI inference', section 'Scaling
out'): the 1-D model-parallel MLP, when compute hides its communication, DeepSeek-V3's limit on H100, and
the SMs DeepSeek-V3 spends on communication."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infersim.cost.collectives import Group, collective_seconds
from infersim.figures import (DEEPSEEK_V3_COMMUNICATION_SMS, H100_SM_COUNT, communication_sm_fraction,
                              comms_hiding_min_width, model_parallel_mlp, ops_comms_row, tensor_parallel_limit)
from infersim.specs.catalog import load_device, load_model


def test_s5_formulas_by_hand():
    # B = 8, D = 7168, F = 18432 over Y = 16 H100s (C = 989e12, W = 900e9)
    t = model_parallel_mlp(8, 7168, 18432, 16, 989e12, 900e9)
    assert t.math_seconds == pytest.approx(4 * 8 * 7168 * 18432 / (16 * 989e12))  # 4BDF / (Y·C)
    assert t.comms_seconds == pytest.approx(4 * 8 * 7168 / 900e9)  # 4BD / W, 2-byte activations
    assert t.overlapped_seconds == max(t.math_seconds, t.comms_seconds)
    assert t.serial_seconds == pytest.approx(t.math_seconds + t.comms_seconds)


def test_s5_comms_are_the_ring_all_gather_and_reduce_scatter_in_the_large_y_limit():
    """Second derivation: an AllGather of the bf16[B, D] input and a ReduceScatter of the output on a ring
    group whose devices send W bytes/s move (Y−1)/Y of the essay's 4BD/W."""
    batch, d_model, chips, link = 64, 7168, 16, 900e9
    essay = model_parallel_mlp(batch, d_model, 18432, chips, 989.4e12, link).comms_seconds
    group = Group(chips, "switch", link)
    activations = 2 * batch * d_model
    ring = sum(collective_seconds(kind, activations, group, algorithm="ring").bandwidth_seconds
               for kind in ("all-gather", "reduce-scatter"))
    assert ring == pytest.approx(essay * (chips - 1) / chips)


def test_s6_comms_hidden_when_f_exceeds_y_c_over_w():
    h100 = load_device("h100-sxm")
    c, w = h100.peak_for("bf16"), ops_comms_row("H100", h100).link_bytes_per_s
    assert comms_hiding_min_width(16, c, w) == pytest.approx(16 * 1099.33, rel=1e-4)
    assert model_parallel_mlp(1, 7168, 18432, 16, c, w).comms_hidden  # 18432 > 17589
    assert not model_parallel_mlp(1, 7168, 18432, 17, c, w).comms_hidden  # 18432 < 18689


@given(st.integers(1, 4096), st.integers(64, 65536), st.integers(1, 512), st.integers(1, 65536))
def test_s6_the_threshold_does_not_depend_on_batch(batch, d_model, chips, d_ff):
    c, w = 989.4e12, 900e9
    t = model_parallel_mlp(batch, d_model, d_ff, chips, c, w)
    threshold = comms_hiding_min_width(chips, c, w)
    if abs(d_ff - threshold) > 1e-6 * threshold:
        assert t.comms_hidden == (d_ff > threshold)


def test_s7_deepseek_v3_on_h100():
    limit = tensor_parallel_limit("deepseek-v3", "h100-sxm")
    assert limit.d_ff == load_model("deepseek-v3").intermediate_size == 18432  # the dense layers' MLP
    assert round(limit.ops_per_comms) == 1099  # S1
    assert round(limit.max_chips, 1) == 16.8  # 18432 / 1099.3 = 16.77
    assert limit.whole_chips == 16  # comms bound beyond ≈ 16 GPUs


def test_s9_deepseek_v3_communication_sms():
    assert DEEPSEEK_V3_COMMUNICATION_SMS.value == 20 and H100_SM_COUNT.value == 132
    assert "2412.19437" in DEEPSEEK_V3_COMMUNICATION_SMS.source and "132" in H100_SM_COUNT.source
    assert "132 SMs" in load_device("h100-sxm").sources["memory.2.capacity_bytes"]  # the catalog's own count
    fraction = communication_sm_fraction()
    assert fraction == pytest.approx(20 / 132)
    assert round(fraction * 100) == 15  # ≈ 15% of the tensor cores
