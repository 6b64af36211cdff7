"""Time and boundness of one op on one device: the roofline with achievable fractions and overheads.

    t_compute = FLOPs / (peak FLOP/s · compute fraction · u)
    t_memory  = Σ_classes bytes_class · seconds_per_byte_class      (placement.py)
    t_op      = max(t_compute, t_memory) + launches · kernel overhead

The binding limit is whichever term is largest: compute, memory, or the fixed overhead
(scaling-book "roofline": an op takes at least the larger of its compute and memory times).
u is 1 except on a systolic device with a `matrix_unit`, where it is the array's utilisation by the
op's GEMM shapes (cost/systolic.py: padding k and n to the array, and m rows streaming per weight tile).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from infersim.cost.ops import Number, Op, mean_of
from infersim.cost.placement import Placement
from infersim.cost.systolic import systolic_utilisation
from infersim.specs.device import DeviceSpec
from infersim.specs.dtypes import WEIGHT_ONLY_FORMATS


def matmul_dtype(device: DeviceSpec, weights_dtype: str | None, activations_dtype: str) -> str:
    """Format an op multiplies in: the stored weight format where the device computes in it natively
    and it is not a weight-only format (W8A8 FP8/INT8 serving), else the activation format (weights
    are dequantized on the fly, as A100 does with FP8 weights)."""
    if weights_dtype and weights_dtype not in WEIGHT_ONLY_FORMATS and device.supports(weights_dtype):
        return weights_dtype
    return activations_dtype


@dataclass(frozen=True, slots=True)
class OpTime:
    """An op's time on a device, for one occurrence (multiply by the op's count for the pass)."""

    compute_seconds: Number
    memory_seconds: Number
    overhead_seconds: float
    seconds: Number
    bound_by: str


def time_op(op: Op, device: DeviceSpec, placement: Placement, activations_dtype: str) -> OpTime:
    """Roofline time of one occurrence of `op` (see module docstring)."""
    eff = device.efficiency
    if op.kind == "attention":
        flops_per_s = device.peak_for(activations_dtype) * eff.attention_compute_fraction
    else:
        dtype = matmul_dtype(device, op.weights_dtype, activations_dtype)
        flops_per_s = device.peak_for(dtype) * eff.matmul_fraction(dtype, op.gemm_rows)
    if device.matrix_unit is not None:  # systolic devices only (DeviceSpec checks)
        flops_per_s *= systolic_utilisation(device.matrix_unit, op.gemm_rows, op.gemm_inner, op.gemm_cols)
    compute = op.cost.flops / flops_per_s
    memory = placement.memory_seconds(op.cost)
    overhead = op.launches * eff.kernel_overhead_seconds
    seconds = np.maximum(compute, memory) + overhead
    return OpTime(compute, memory, overhead, seconds, binding_limit(compute, memory, overhead))


def binding_limit(compute: Number, memory: Number, overhead: float) -> str:
    """Which term dominates (averaged over decode steps when the terms are arrays)."""
    c, m = mean_of(compute), mean_of(memory)
    if overhead > max(c, m):
        return "overhead"
    return "compute" if c >= m else "memory"
