"""Weight formats: bytes with their scales, and compute in the low precision only where the device has
it (fp8 on H100 and not on A100, fp4 on B200 and not on H100); elsewhere the weights are dequantized."""

from __future__ import annotations

import pytest

from infersim.cost.estimate import estimate
from infersim.cost.memory import weight_bytes
from infersim.cost.ops import forward_ops
from infersim.cost.placement import place
from infersim.cost.roofline import dequant_flops, matmul_dtype, time_op
from infersim.specs.catalog import load_device, load_model
from infersim.specs.workload import Workload


def _decode_gemm(weights_dtype: str, name: str = "gate_up_proj"):
    ops = forward_ops(load_model("llama-3.1-8b"), Workload(weights_dtype=weights_dtype), "decode", cached_tokens=100.0)
    return next(op for op in ops if op.name == name)


def test_a100_dequantizes_fp8_weights_and_h100_multiplies_in_fp8():
    a100, h100 = load_device("a100-80gb"), load_device("h100-sxm")
    assert matmul_dtype(a100, "fp8", "bf16") == "bf16"
    assert matmul_dtype(h100, "fp8", "bf16") == "fp8"
    op = _decode_gemm("fp8")
    assert dequant_flops(op, a100, "bf16") == 2 * 4096 * 2 * 14336  # one FMA per weight element
    assert dequant_flops(op, h100, "bf16") == 0.0
    a100_est = estimate("llama-3.1-8b", "a100-80gb", weights_dtype="fp8", prompt_tokens=2048)
    h100_est = estimate("llama-3.1-8b", "h100-sxm", weights_dtype="fp8", prompt_tokens=2048)
    gemm = {(e.device, r.name, r.phase): r for e in (a100_est, h100_est) for r in e.ops}
    assert gemm[("a100-80gb", "gate_up_proj", "prefill")].dtype == "bf16"
    assert gemm[("h100-sxm", "gate_up_proj", "prefill")].dtype == "fp8"
    # the dequantization FLOPs show in the row: 2·2048·d·2f + 2·d·2f on A100
    a100_row = gemm[("a100-80gb", "gate_up_proj", "prefill")]
    assert a100_row.flops == pytest.approx(32 * (2 * 2048 * 4096 * 28672 + 2 * 4096 * 28672))


def test_fp4_formats_multiply_natively_only_where_a_device_lists_fp4():
    b200, h100 = load_device("b200"), load_device("h100-sxm")
    assert "fp4" in b200.peak_flops_per_s and "fp4" not in h100.peak_flops_per_s
    for fmt in ("mxfp4", "nvfp4"):
        assert matmul_dtype(b200, fmt, "bf16") == "fp4"
        assert matmul_dtype(h100, fmt, "bf16") == "bf16"
    # AWQ/GPTQ int4 and the unscaled legacy 4-bit names are weight-only everywhere
    for fmt in ("int4-g128", "int4-g128-zp", "int4", "fp4"):
        assert matmul_dtype(b200, fmt, "bf16") == "bf16"


def test_nvfp4_prefill_on_b200_is_faster_than_bf16_and_its_compute_runs_at_the_fp4_peak():
    common = dict(batch=8, prompt_tokens=4096, output_tokens=2)
    fp4 = estimate("llama-3.1-70b", "b200", weights_dtype="nvfp4", **common)
    bf16 = estimate("llama-3.1-70b", "b200", **common)
    assert fp4.prefill_seconds < bf16.prefill_seconds / 2
    b200 = load_device("b200")
    op = _decode_gemm("nvfp4")
    timing = time_op(op, b200, place(b200, 0.0, 0.0, 0.0), "bf16")
    assert timing.dequant_flops == 0.0


def test_weight_bytes_include_group_scales():
    model = load_model("llama-3.1-8b")
    p = model.total_params
    assert weight_bytes(model, "int4") == p * 0.5
    assert weight_bytes(model, "int4-g128") == p * (4 + 16 / 128) / 8
    assert weight_bytes(model, "int4-g128-zp") == p * (4 + 20 / 128) / 8
    assert weight_bytes(model, "nvfp4") == p * 4.5 / 8
    est = estimate("llama-3.1-8b", "h100-sxm", weights_dtype="int4-g128")
    assert est.memory.weights_bytes == weight_bytes(model, "int4-g128")


def test_decode_pays_for_the_scales_it_streams():
    common = dict(prompt_tokens=1024, output_tokens=64)
    ideal = estimate("llama-3.1-8b", "h100-sxm", weights_dtype="int4", **common)
    awq = estimate("llama-3.1-8b", "h100-sxm", weights_dtype="int4-g128-zp", **common)
    nvfp4 = estimate("llama-3.1-8b", "h100-sxm", weights_dtype="nvfp4", **common)
    assert ideal.tpot_seconds < awq.tpot_seconds < nvfp4.tpot_seconds  # 4 < 4.156 < 4.5 bits per weight
    gate_up = next(r for r in awq.ops if r.name == "gate_up_proj" and r.phase == "decode")
    assert gate_up.bound_by == "memory" and gate_up.dtype == "bf16"  # dequantized, hidden under the weight stream
