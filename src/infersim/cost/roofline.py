"""Time and boundness of one op on one device: the roofline with achievable fractions and overheads.

    t_compute = (FLOPs + dequantization FLOPs) / (peak FLOP/s · compute fraction · u)
    t_memory  = Σ_classes bytes_class · seconds_per_byte_class      (placement.py)
                decode attention: at least KV bytes / (streams · r_stream)
    t_op      = max(t_compute, t_memory) + launches · kernel overhead

The binding limit is whichever term is largest: compute, memory, or the fixed overhead
(scaling-book "roofline": an op takes at least the larger of its compute and memory times).
A matmul whose stored weight format the device does not multiply in natively (`matmul_dtype`) first
dequantizes each weight element it reads: DEQUANT_FLOPS_PER_ELEMENT (2) per element, run at the same
rate as the GEMM (fused dequantizing kernels such as Marlin do it in registers; no extra bytes). In
decode the op stays memory bound; in a prefill of m rows it adds 1/m to the GEMM's 2·m FLOPs per weight.
A decode attention kernel that gives each (sequence, key/value head) pair a bounded set of cores reads one
pair's cache at no more than r_stream (`Efficiency.decode_attention_stream_bytes_per_s`), so B·H_kv streams
cap its cache traffic at B·H_kv·r_stream: at batch 1 with one key/value head per chip (the Galaxy's Llama-70B)
a long context is read far below the chip's bandwidth. Devices that set no r_stream have none.
u is 1 except on a systolic device with a `matrix_unit`, where it is the array's utilisation by the
op's GEMM shapes (cost/systolic.py: padding k and n to the array, and m rows streaming per weight tile).
On a wafer with a core `mesh` the cores' multiply rate stands for peak · fraction and the overhead is the
op's all-reduces on its region of cores, in place of kernel launches (cost/mesh.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from infersim.cost.ops import Number, Op, mean_of
from infersim.cost.mesh import fabric_seconds, mesh_flops_per_s
from infersim.cost.placement import Placement
from infersim.cost.systolic import systolic_utilisation
from infersim.specs.device import DeviceSpec
from infersim.specs.dtypes import DEQUANT_FLOPS_PER_ELEMENT, number_format


def matmul_dtype(device: DeviceSpec, weights_dtype: str | None, activations_dtype: str) -> str:
    """Format an op multiplies in: the stored weight format's native compute format where the device
    lists a peak for it (W8A8 FP8/INT8 serving; MXFP4/NVFP4 at an fp4 peak), else the activation format
    (weights are dequantized on the fly: FP8 on A100, AWQ/GPTQ int4 everywhere; specs/dtypes.py)."""
    native = number_format(weights_dtype).native if weights_dtype else None
    if native and device.supports(native):
        return native
    return activations_dtype


def dequant_flops(op: Op, device: DeviceSpec, activations_dtype: str) -> float:
    """FLOPs to dequantize the weights an op reads when it multiplies in another format than they are
    stored in: DEQUANT_FLOPS_PER_ELEMENT · weight elements (0 for ops without weights, or native)."""
    if not op.weights_dtype or not number_format(op.weights_dtype).dequantized:
        return 0.0
    if matmul_dtype(device, op.weights_dtype, activations_dtype) != activations_dtype:
        return 0.0
    return DEQUANT_FLOPS_PER_ELEMENT * op.weight_elements


@dataclass(frozen=True, slots=True)
class OpTime:
    """An op's time on a device, for one occurrence (multiply by the op's count for the pass)."""

    compute_seconds: Number
    memory_seconds: Number
    overhead_seconds: float
    seconds: Number
    bound_by: str
    dequant_flops: float = 0.0  # dequantizing the weights, in t_compute (not in the op's own FLOPs)


def time_op(op: Op, device: DeviceSpec, placement: Placement, activations_dtype: str,
            mesh_side: float | None = None) -> OpTime:
    """Roofline time of one occurrence of `op` on the whole device (see module docstring). On a device with
    a core mesh (a wafer) and the side of the region the op runs on, the time on that region instead: the
    mesh's multiply rate replaces the FLOP/s peak and its all-reduces' latency is the overhead (cost/mesh.py)."""
    eff = device.efficiency
    if device.mesh is not None and mesh_side is not None:
        return _time_on_mesh(op, device, placement, activations_dtype, mesh_side)
    if op.kind == "attention":
        flops_per_s = device.peak_for(activations_dtype) * eff.attention_compute_fraction
    else:
        dtype = matmul_dtype(device, op.weights_dtype, activations_dtype)
        flops_per_s = device.peak_for(dtype) * eff.matmul_fraction(dtype, op.gemm_rows)
    if device.matrix_unit is not None:  # systolic devices only (DeviceSpec checks)
        flops_per_s *= systolic_utilisation(device.matrix_unit, op.gemm_rows, op.gemm_inner, op.gemm_cols)
    dequant = dequant_flops(op, device, activations_dtype)
    compute = (op.cost.flops + dequant) / flops_per_s
    memory = placement.memory_seconds(op.cost)
    if op.kv_streams and eff.decode_attention_stream_bytes_per_s:
        memory = np.maximum(memory, op.cost.kv_bytes / (op.kv_streams * eff.decode_attention_stream_bytes_per_s))
    overhead = op.launches * eff.kernel_overhead_seconds
    seconds = np.maximum(compute, memory) + overhead
    return OpTime(compute, memory, overhead, seconds, binding_limit(compute, memory, overhead), dequant)


def _time_on_mesh(op: Op, device: DeviceSpec, placement: Placement, activations_dtype: str,
                  side: float) -> OpTime:
    """An op on a region of side × side cores of a wafer's mesh (cost/mesh.py): compute at the region's
    multiply rate, memory at its share of the roofline's bandwidth, the all-reduces' latency as the overhead."""
    mesh = device.mesh
    assert mesh is not None
    share = side ** 2 / mesh.cores
    dequant = dequant_flops(op, device, activations_dtype)
    # a weight a core reads serves every row of a matmul (its SIMD lanes); attention reads each sequence's own cache
    rows = op.gemm_rows if op.kind == "matmul" and mean_of(op.cost.weight_bytes) > 0 else 1.0
    compute = (op.cost.flops + dequant) / (mesh_flops_per_s(mesh, rows) * share)
    memory = placement.memory_seconds(op.cost) / share
    overhead = fabric_seconds(op, mesh, side)
    seconds = np.maximum(compute, memory) + overhead
    return OpTime(compute, memory, overhead, seconds, binding_limit(compute, memory, overhead, "fabric"), dequant)


def binding_limit(compute: Number, memory: Number, overhead: float, overhead_name: str = "overhead") -> str:
    """Which term dominates (averaged over decode steps when the terms are arrays)."""
    c, m = mean_of(compute), mean_of(memory)
    if overhead > max(c, m):
        return overhead_name
    return "compute" if c >= m else "memory"
