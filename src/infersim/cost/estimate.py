"""The whole answer for one model on one device: prefill, decode, memory, energy, cost, bottleneck.

    TTFT      = prefill time (the first output token comes out of the prefill pass)
    TPOT      = mean decode step over P … P+O−2 cached tokens (vectorised over the steps)
    e2e       = TTFT + (O − 1) · TPOT
    per user  = 1 / TPOT output tokens/s;  total = B · O / e2e output tokens/s

A phase's time is max(device time, host launch time) when its ops are launched one by one from the
host (eager PyTorch; prefill under CUDA graphs), since the host runs ahead of the device; on a CPU
the two add, since the framework runs on the cores that compute; under a captured graph or a
compiled static schedule it is the device time alone.

The runtime also picks the op graph (ops.py): `eager` is Hugging Face transformers run eagerly (the
unfused `hf` graph, a DynamicCache); `cuda-graph` and `compiled` run the `fused` graph of a serving
engine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError

from infersim.cost import economics
from infersim.cost.memory import kv_bytes_per_token, kv_cache_bytes, weight_bytes
from infersim.cost.ops import Op, forward_ops, mean_of
from infersim.cost.placement import Placement, place
from infersim.cost.roofline import matmul_dtype, time_op
from infersim.errors import InfersimError
from infersim.specs.catalog import load_device, load_model, validation_message
from infersim.specs.device import DeviceSpec
from infersim.specs.dtypes import bytes_per_element
from infersim.specs.model import ModelSpec
from infersim.specs.workload import Workload

Runtime = Literal["cuda-graph", "eager", "compiled"]
RUNTIMES: tuple[str, ...] = ("cuda-graph", "eager", "compiled")


def default_runtime(device: DeviceSpec) -> str:
    """GPUs serve with CUDA graphs, CPUs run eagerly, the rest run compiled static schedules."""
    return {"gpu": "cuda-graph", "cpu": "eager"}.get(device.execution_model, "compiled")


def graph_for(runtime: str) -> str:
    """The op graph a runtime executes: Hugging Face's unfused one when eager, else a serving engine's."""
    return "hf" if runtime == "eager" else "fused"


def _host_launched(runtime: str, phase: str) -> bool:
    """Whether each op of `phase` is launched from the host (so host time can bind)."""
    return runtime == "eager" or (runtime == "cuda-graph" and phase == "prefill")


@dataclass(frozen=True)
class OpResult:
    """One op's row in the explanation. FLOPs, bytes and seconds are per pass (all `count` layers);
    decode rows are means over the decode steps."""

    name: str
    phase: str
    kind: str
    count: int
    shape: str
    dtype: str
    flops: float
    bytes: float
    weight_bytes: float
    kv_bytes: float
    activation_bytes: float
    bytes_by_tier: dict[str, float]
    arithmetic_intensity: float | None  # None when the op moves no bytes
    device_ops_per_byte: float
    compute_seconds: float
    memory_seconds: float
    overhead_seconds: float
    seconds: float
    bound_by: str


@dataclass(frozen=True)
class PhaseResult:
    """One pass of a phase (decode: the mean step)."""

    seconds: float
    device_seconds: float
    host_seconds: float
    flops: float
    bytes: float
    bound_by: str
    seconds_by_bound: dict[str, float]


@dataclass(frozen=True)
class MemoryResult:
    weights_bytes: float
    kv_cache_bytes: float
    activation_bytes: float
    total_bytes: float
    capacity_bytes: float
    fits: bool
    bytes_by_tier: dict[str, dict[str, float]]


@dataclass(frozen=True)
class Estimate:
    """Everything infersim predicts for one model, device and workload."""

    model: str
    device: str
    runtime: str
    batch: int
    prompt_tokens: int
    output_tokens: int
    weights_dtype: str
    activations_dtype: str
    kv_dtype: str
    ttft_seconds: float
    tpot_seconds: float
    prefill_seconds: float
    decode_seconds: float
    e2e_seconds: float
    output_tokens_per_s_per_user: float
    output_tokens_per_s_total: float
    memory: MemoryResult
    max_batch: int
    max_context_tokens: int
    joules_per_token: float
    usd_per_million_tokens: float
    bottleneck: str
    prefill: PhaseResult
    decode: PhaseResult
    ops: tuple[OpResult, ...]
    notes: tuple[str, ...] = ()  # what this estimate leaves out or assumes, in words

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; the CLI's `--json` prints exactly this."""
        return asdict(self)


def time_phase(ops: list[Op], device: DeviceSpec, placement: Placement, workload: Workload, runtime: str,
               phase: str) -> tuple[PhaseResult, list[OpResult]]:
    """Time a phase's ops on a device: per-op roofline rows, the device and host totals, and the phase
    time (max of the two where the host runs ahead, their sum on a CPU)."""
    rows: list[OpResult] = []
    by_bound: dict[str, float] = {}
    device_seconds = flops = traffic = 0.0
    launches = 0
    main_bw = device.main_memory.bytes_per_s
    for op in ops:
        timing = time_op(op, device, placement, workload.activations_dtype)
        n = op.count
        seconds = mean_of(timing.seconds) * n
        weights, kv, acts = (mean_of(op.cost.weight_bytes) * n, mean_of(op.cost.kv_bytes) * n,
                             mean_of(op.cost.activation_bytes) * n)
        op_flops, op_bytes = mean_of(op.cost.flops) * n, weights + kv + acts
        dtype = workload.activations_dtype if op.kind == "attention" else matmul_dtype(
            device, op.weights_dtype, workload.activations_dtype)
        rows.append(OpResult(
            name=op.name, phase=phase, kind=op.kind, count=n, shape=op.shape, dtype=dtype,
            flops=op_flops, bytes=op_bytes, weight_bytes=weights, kv_bytes=kv, activation_bytes=acts,
            bytes_by_tier=placement.bytes_by_tier(weights, kv, acts),
            arithmetic_intensity=op_flops / op_bytes if op_bytes else None,
            device_ops_per_byte=device.peak_for(dtype) / main_bw,
            compute_seconds=mean_of(timing.compute_seconds) * n,
            memory_seconds=mean_of(timing.memory_seconds) * n,
            overhead_seconds=timing.overhead_seconds * n,
            seconds=seconds, bound_by=timing.bound_by,
        ))
        by_bound[timing.bound_by] = by_bound.get(timing.bound_by, 0.0) + seconds
        device_seconds += seconds
        flops += op_flops
        traffic += op_bytes
        launches += op.launches * op.count
    host_seconds = launches * device.efficiency.host_launch_seconds if _host_launched(runtime, phase) else 0.0
    # a GPU's host runs ahead of the device; a CPU's framework work runs on the cores that compute
    overlapped = device.execution_model != "cpu"
    seconds = max(device_seconds, host_seconds) if overlapped else device_seconds + host_seconds
    if host_seconds > device_seconds:
        bound = "host"
    else:
        bound = max(by_bound, key=by_bound.__getitem__)
    return PhaseResult(seconds, device_seconds, host_seconds, flops, traffic, bound, by_bound), rows


def _activation_peak(prefill_ops: list[Op], model: ModelSpec, workload: Workload) -> float:
    """Largest activation working set of prefill: the residual stream B·T·d plus the biggest op's
    inputs and outputs (FlashAttention never holds the S×S scores)."""
    residual = workload.batch * workload.prompt_tokens * model.hidden_size * bytes_per_element(
        workload.activations_dtype)
    return residual + max(float(np.max(op.cost.activation_bytes)) for op in prefill_ops)


def _longest_context(model: ModelSpec, workload: Workload, room_bytes: float) -> int:
    """Tokens per sequence the room left after weights and activations holds at this batch; with a
    sliding window whose cache fits, the model's position range is the limit instead."""
    if room_bytes <= 0:
        return 0
    tokens = int(room_bytes // (workload.batch * kv_bytes_per_token(model, workload.kv_dtype)))
    if model.sliding_window is not None and tokens >= model.sliding_window:
        return model.max_position_embeddings or tokens
    return tokens


SPATIAL_MACHINES = ("wafer", "sram-dataflow")


def _notes(device: DeviceSpec, memory: MemoryResult) -> tuple[str, ...]:
    """Caveats a reader of this estimate needs: spatial machines, spills, misfits, assumed efficiency."""
    notes = []
    if device.execution_model in SPATIAL_MACHINES:
        notes.append(f"{device.id} is a spatial machine: this single-device roofline lets every core stream its "
                     "share of the weights at once, an upper bound on speed; the layer pipeline and fabric "
                     "latency are not modelled yet")
    main = device.main_memory.name
    spilled = {tier: b for tier, b in memory.bytes_by_tier["weights"].items() if tier != main and b > 0}
    for tier, amount in spilled.items():
        notes.append(f"{amount / 1e9:,.1f} GB of weights do not fit in {main} and stream from {tier}")
    if not memory.fits:
        devices = -(-memory.total_bytes // memory.capacity_bytes)
        notes.append(f"does not fit: {memory.total_bytes / 1e9:,.1f} GB needed, {memory.capacity_bytes / 1e9:,.1f} GB "
                     f"per device; at least {devices:.0f} devices must share it (times are one device's)")
    if device.sources.get("efficiency.memory_fraction", "").startswith("assumed"):
        notes.append(f"{device.id}'s achievable fractions and overheads are assumed, not measured")
    return tuple(notes)


def make_workload(**fields: Any) -> Workload:
    """A `Workload`, turning validation problems into one-line `InfersimError`s."""
    try:
        return Workload(**fields)
    except ValidationError as exc:
        raise InfersimError(f"invalid workload: {validation_message(exc)}") from None


def estimate(model: str | ModelSpec, device: str | DeviceSpec, *, batch: int = 1, prompt_tokens: int = 1024,
             output_tokens: int = 256, weights_dtype: str | None = None, kv_dtype: str | None = None,
             activations_dtype: str | None = None, runtime: str | None = None,
             calibration: str | None = None) -> Estimate:
    """Predict and explain one model serving a static batch on one device (see module docstring).

    Formats left out default to the device's activation format (bf16 where it has it, else fp16, else
    fp32), weights and KV cache included. `calibration` is a file from `infersim calibrate` for it."""
    model = load_model(model)
    device = load_device(device, calibration)
    activations_dtype = activations_dtype or device.activation_dtype
    workload = make_workload(batch=batch, prompt_tokens=prompt_tokens, output_tokens=output_tokens,
                             weights_dtype=weights_dtype or activations_dtype, kv_dtype=kv_dtype or activations_dtype,
                             activations_dtype=activations_dtype)
    runtime = runtime or default_runtime(device)
    if runtime not in RUNTIMES:
        raise InfersimError(f"unknown runtime '{runtime}': choose one of {', '.join(RUNTIMES)}")
    if not device.supports(workload.activations_dtype):
        formats = ", ".join(f for f in ("bf16", "fp16", "fp32") if device.supports(f))
        raise InfersimError(f"{device.id} cannot compute in {workload.activations_dtype}; "
                            f"use --activations-dtype {formats}")

    b, p, o = workload.batch, workload.prompt_tokens, workload.output_tokens
    graph = graph_for(runtime)
    prefill_ops = forward_ops(model, workload, "prefill", graph=graph)
    # decode step i (1 ≤ i ≤ O−1) feeds output token i with P + i − 1 tokens already cached; with O = 1
    # there is no decode step, and TPOT is that of the step that would come next
    steps = np.arange(p, p + max(o - 1, 1), dtype=float)
    decode_ops = forward_ops(model, workload, "decode", cached_tokens=steps, graph=graph)

    weights = weight_bytes(model, workload.weights_dtype)
    kv = kv_cache_bytes(model, workload.kv_dtype, b, workload.context_tokens)
    activations = _activation_peak(prefill_ops, model, workload)
    placement = place(device, weights, kv, activations)
    prefill, prefill_rows = time_phase(prefill_ops, device, placement, workload, runtime, "prefill")
    decode, decode_rows = time_phase(decode_ops, device, placement, workload, runtime, "decode")

    tpot = decode.seconds
    decode_total = (o - 1) * tpot
    e2e = prefill.seconds + decode_total
    capacity = device.capacity_bytes
    total = weights + kv + activations
    fits = placement.overflow_bytes == 0

    per_seq = kv_cache_bytes(model, workload.kv_dtype, 1, workload.context_tokens) + activations / b
    room = capacity - weights
    max_batch = int(room // per_seq) if room > 0 else 0
    max_context = _longest_context(model, workload, capacity - weights - activations)

    tokens = b * o
    bottleneck = "capacity" if not fits else (prefill.bound_by if prefill.seconds > decode_total else decode.bound_by)
    memory = MemoryResult(weights, kv, activations, total, capacity, fits, placement.bytes_by_class_and_tier)
    return Estimate(
        model=model.id, device=device.id, runtime=runtime, batch=b, prompt_tokens=p, output_tokens=o,
        weights_dtype=workload.weights_dtype, activations_dtype=workload.activations_dtype,
        kv_dtype=workload.kv_dtype,
        ttft_seconds=prefill.seconds, tpot_seconds=tpot, prefill_seconds=prefill.seconds,
        decode_seconds=decode_total, e2e_seconds=e2e,
        output_tokens_per_s_per_user=1.0 / tpot, output_tokens_per_s_total=tokens / e2e,
        memory=memory, max_batch=max_batch, max_context_tokens=max_context,
        joules_per_token=economics.joules_per_token(device.tdp_watts, e2e, tokens),
        usd_per_million_tokens=economics.usd_per_million_tokens(economics.usd_per_device_hour(device), e2e, tokens),
        bottleneck=bottleneck, prefill=prefill, decode=decode, ops=tuple(prefill_rows + decode_rows),
        notes=_notes(device, memory),
    )
