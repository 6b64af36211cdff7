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

On several devices (a `--system`, or `--devices N` of one device) the ops are one device's under a
`Layout` (tp, pp, dp, ep, cp; specs/layout.py) and collectives are timed on the system's links
(cost/collectives.py), added to the device time or, with `overlap`, hidden under it up to its length.
A pipeline runs its V virtual stages one after the other for one token; with m microbatches of b
sequences in flight (m = min(batch per replica, V) unless given):

    T_pass(b) = R · Σ_ops t_op(b) + (pp − 1) · t_send(b)      TPOT = max(T_pass(b), m · T_pass(b) / V)

where R is the layer regions one device runs side by side: 1 on a GPU (all of its cores work on each
layer in turn), the layers it holds on a spatial machine (an LPU or a wafer gives each layer its own
cores, so one token uses 1/R of the device at a time), and V = pp · R. On a wafer's core mesh each op runs at
its region's share of the cores and also pays its all-reduces' hop latency (cost/mesh.py); a wafer whose
weights do not fit its SRAM streams them from MemoryX layer by layer over the whole wafer (R = 1).

A chunked prefill (`prefill_chunk_tokens`) runs ⌈P/C⌉ passes, pipelined down the stages of a pipeline
(cost/chunked_prefill.py).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError

from infersim.cost import economics
from infersim.cost.chunked_prefill import (PrefillChunks, chunks_pipelined, prefill_pass_ops, sum_phases,
                                           sum_rows)
from infersim.cost.collectives import collective_seconds
from infersim.cost.memory import kv_bytes_per_token, kv_footprint, ssm_state_bytes_per_sequence, weight_bytes
from infersim.cost.mesh import mesh_flops_per_s, region_side
from infersim.cost.ops import Op, forward_ops, mean_of, pad_decode_ops
from infersim.cost.parallel import (Groups, default_layout, device_weight_bytes, groups_for, kv_share,
                                    lays_out_layers, ssm_state_share, switch_of)
from infersim.cost.placement import Placement, place
from infersim.cost.results import MemoryResult, OpResult, PhaseResult
from infersim.cost.roofline import matmul_dtype, time_op
from infersim.errors import InfersimError
from infersim.specs.catalog import load_device, load_model, load_system, validation_message
from infersim.specs.device import DeviceSpec, Link
from infersim.specs.dtypes import bytes_per_element
from infersim.specs.kvcache import KVBudget, KVCache, KVOffload, policy_error
from infersim.specs.layout import Layout, layout_from, split
from infersim.specs.model import ModelSpec
from infersim.specs.system import DIMMED, SystemSpec
from infersim.specs.workload import Workload

Runtime = Literal["cuda-graph", "eager", "compiled"]
RUNTIMES: tuple[str, ...] = ("cuda-graph", "eager", "compiled")

# The longest context shown for a model whose memory does not grow with context (no attention layers) and
# that states no position limit: 2**20 tokens, the longest sequences Gu & Dao 2023 (arXiv 2312.00752, §4.1.2,
# Table 2, induction heads) test Mamba on.
UNBOUNDED_CONTEXT_CAP_TOKENS = 2**20


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
class Estimate:
    """Everything infersim predicts for one model, device and workload."""

    model: str
    device: str
    runtime: str
    system: str | None
    devices: int
    layout: dict[str, int]
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
    microbatches: int = 1
    pipeline_stages: int = 1  # V: pp stages times the layer regions a spatial device runs side by side
    ops_per_comm_byte: float | None = None  # device peak FLOP/s over its link bytes/s (essay S1); None alone
    notes: tuple[str, ...] = ()  # what this estimate leaves out or assumes, in words
    ssm_state_dtype: str = "fp32"  # format of SSM layers' recurrent state (models with SSM layers only)
    kv_cache: dict[str, Any] | None = None  # the KV-cache policy (specs/kvcache.py); None: all of it on the device
    prefill_chunk_tokens: int | None = None  # tokens per prefill chunk; None: the prompt in one pass
    mlp_weights_dtype: str | None = None  # the MLP and expert weights' format, when not weights_dtype
    padded_batch: int | None = None  # the static batch shape decode runs at when it pads the batch up to it

    @property
    def layout_description(self) -> str:
        """'tp=8 pp=2', or 'one device' (`Layout.describe`)."""
        return Layout(**self.layout).describe()

    @property
    def machine_description(self) -> str:
        """'h100-sxm', or 'dgx-h100: 8 x h100-sxm, tp=8' for a multi-device estimate."""
        if self.devices == 1 and self.system is None:
            return self.device
        return f"{self.system or self.device}: {self.devices} x {self.device}, {self.layout_description}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; the CLI's `--json` prints exactly this."""
        return asdict(self)


def _time_collective(op: Op, groups: Groups | None) -> tuple[float, str]:
    """Seconds of one occurrence of a collective op on its axis's group, and the algorithm chosen."""
    if groups is None:
        raise InfersimError(f"op {op.name} is a collective but the estimate has no system")
    timing = collective_seconds(op.collective or "", mean_of(op.cost.wire_bytes), groups.for_axis(op.axis or "tp"))
    return timing.seconds, timing.algorithm


def _host_link(device: DeviceSpec) -> Link:
    """The device's PCIe link to host memory, or one error saying an offloaded cache needs one."""
    if device.host_link is None:
        raise InfersimError(f"{device.id} lists no PCIe host link, so its KV cache cannot be offloaded to host "
                            f"memory; add a pcie link to its device file")
    return device.host_link


def time_transfer(op: Op, device: DeviceSpec) -> tuple[float, str]:
    """Seconds of one occurrence of a host transfer: bytes / (PCIe bytes/s per direction · achieved
    fraction) + the link's latency, and the link's name."""
    link = _host_link(device)
    bytes_per_s = link.bytes_per_s_per_direction * device.efficiency.host_link_fraction
    return mean_of(op.cost.wire_bytes) / bytes_per_s + (link.latency_seconds or 0.0), link.name


def time_phase(ops: list[Op], device: DeviceSpec, placement: Placement, workload: Workload, runtime: str,
               phase: str, groups: Groups | None = None, overlap: bool = False,
               regions: int = 1, mesh_side: float | None = None) -> tuple[PhaseResult, list[OpResult]]:
    """Time a phase's ops on a device: per-op roofline rows, the device and host totals, and the phase
    time (max of the two where the host runs ahead, their sum on a CPU). Collectives run on `groups`,
    added to the device time or, with `overlap`, hidden under it; `regions` (spatial machines) is how many
    layer regions share the device, each op running on 1/regions of it; on a wafer's mesh `mesh_side` is
    the side of the square region of cores an op runs on instead (cost/mesh.py), and the all-reduces'
    latency is added at region scale. Host transfers (an offloaded KV cache) run on the PCIe link, hidden
    under the device time (max) when the offload overlaps, else added."""
    rows: list[OpResult] = []
    by_bound: dict[str, float] = {}
    compute_total = comm_total = flops = traffic = wire = link_total = link_bytes = 0.0
    launches = 0
    main_bw = device.main_memory.bytes_per_s
    # whole-device roofline times run at a region's share of the device (time_op times a mesh's region itself)
    mesh_rate = mesh_flops_per_s(device.mesh) if device.mesh is not None and mesh_side is not None else None
    scale = 1 if mesh_rate else regions
    for op in ops:
        n = op.count
        if op.kind in ("collective", "transfer"):  # timed on a link: a collective's group, or the PCIe host link
            host = op.kind == "transfer"
            seconds_one, algorithm = time_transfer(op, device) if host else _time_collective(op, groups)
            seconds, op_wire = seconds_one * n, mean_of(op.cost.wire_bytes) * n
            bound = "host-link" if host else "communication"
            rows.append(OpResult(
                name=op.name, phase=phase, kind=op.kind, count=n, shape=op.shape,
                dtype=workload.host_kv_dtype if host else workload.activations_dtype,
                flops=0.0, bytes=0.0, weight_bytes=0.0, kv_bytes=0.0, activation_bytes=0.0, bytes_by_tier={},
                arithmetic_intensity=None, device_ops_per_byte=0.0, compute_seconds=0.0, memory_seconds=0.0,
                overhead_seconds=0.0, seconds=seconds, bound_by=bound, wire_bytes=op_wire,
                comm_seconds=seconds, algorithm=algorithm))
            if host:  # a copy the host launches; its bytes are not collective wire bytes
                link_total, link_bytes = link_total + seconds, link_bytes + op_wire
                launches += op.launches * n
            else:
                comm_total, wire = comm_total + seconds, wire + op_wire
            by_bound[bound] = by_bound.get(bound, 0.0) + seconds
            continue
        timing = time_op(op, device, placement, workload.activations_dtype, mesh_side)
        seconds = (mean_of(np.maximum(timing.compute_seconds, timing.memory_seconds)) * scale
                   + timing.overhead_seconds) * n
        weights, kv, acts = (mean_of(op.cost.weight_bytes) * n, mean_of(op.cost.kv_bytes) * n,
                             mean_of(op.cost.activation_bytes) * n)
        op_flops, op_bytes = (mean_of(op.cost.flops) + mean_of(timing.dequant_flops)) * n, weights + kv + acts
        dtype = workload.activations_dtype if op.kind == "attention" else matmul_dtype(
            device, op.weights_dtype, workload.activations_dtype)
        rows.append(OpResult(
            name=op.name, phase=phase, kind=op.kind, count=n, shape=op.shape, dtype=dtype,
            flops=op_flops, bytes=op_bytes, weight_bytes=weights, kv_bytes=kv, activation_bytes=acts,
            bytes_by_tier=placement.bytes_by_tier(weights, kv, acts),
            arithmetic_intensity=op_flops / op_bytes if op_bytes else None,
            device_ops_per_byte=(mesh_rate or device.peak_for(dtype)) / main_bw,
            compute_seconds=mean_of(timing.compute_seconds) * n * scale,
            memory_seconds=mean_of(timing.memory_seconds) * n * scale,
            overhead_seconds=timing.overhead_seconds * n,
            seconds=seconds, bound_by=timing.bound_by,
        ))
        by_bound[timing.bound_by] = by_bound.get(timing.bound_by, 0.0) + seconds
        compute_total += seconds
        flops += op_flops
        traffic += op_bytes
        launches += op.launches * op.count
    device_seconds = max(compute_total, comm_total) if overlap else compute_total + comm_total
    offload = workload.kv.offload
    if link_total:
        device_seconds = max(device_seconds, link_total) if offload and offload.overlap else device_seconds + link_total
    host_seconds = launches * device.efficiency.host_launch_seconds if _host_launched(runtime, phase) else 0.0
    # a GPU's host runs ahead of the device; a CPU's framework work runs on the cores that compute
    overlapped = device.execution_model != "cpu"
    seconds = max(device_seconds, host_seconds) if overlapped else device_seconds + host_seconds
    if host_seconds > device_seconds:
        bound = "host"
    else:
        bound = max(by_bound, key=by_bound.__getitem__)
    return PhaseResult(seconds, device_seconds, host_seconds, flops, traffic, bound, by_bound, comm_total, wire,
                       link_total, link_bytes), rows


def _pipelined(phase: PhaseResult, send_seconds: float, pp: int, stages: int, microbatches: int) -> PhaseResult:
    """A pass through every pipeline stage in turn (see module docstring): T_pass plus the pp − 1 sends,
    or, when more microbatches are in flight than stages, m times the busiest stage."""
    passing = phase.seconds + (pp - 1) * send_seconds
    stage_bound = microbatches * phase.seconds / stages
    seconds = max(passing, stage_bound)
    comm = phase.comm_seconds + (pp - 1) * send_seconds
    by_bound = dict(phase.seconds_by_bound)
    if send_seconds and pp > 1:
        by_bound["communication"] = by_bound.get("communication", 0.0) + (pp - 1) * send_seconds
    bound = phase.bound_by if stage_bound >= passing or phase.bound_by == "host" else max(by_bound,
                                                                                           key=by_bound.__getitem__)
    return PhaseResult(seconds, phase.device_seconds + (pp - 1) * send_seconds, phase.host_seconds, phase.flops,
                       phase.bytes, bound, by_bound, comm, phase.wire_bytes, phase.host_link_seconds,
                       phase.host_link_bytes)


def _activation_peak(prefill_ops: list[Op], model: ModelSpec, workload: Workload, rows_per_sequence: int) -> float:
    """Largest activation working set of prefill on one device: the residual stream B·T·d of the T rows per
    sequence one pass holds (P/cp, or a chunk) plus the biggest op's inputs and outputs (FlashAttention
    never holds the S×S scores)."""
    residual = workload.batch * rows_per_sequence * model.hidden_size * bytes_per_element(workload.activations_dtype)
    return residual + max(float(np.max(op.cost.activation_bytes)) for op in prefill_ops)


def _longest_context(model: ModelSpec, workload: Workload, room_bytes: float, share: float) -> int:
    """Tokens per sequence the room left after weights, activations and SSM state holds at this batch
    (`share`: the fraction of each token's cache one device keeps): the longest sequence whose device part
    of the cache (after a window, budget or offload, in whole blocks when paged) fits; when a window or
    budget bounds the cache below the room, the model's position range is the limit instead, and so it is
    for a model with no KV cache at all (no attention layers), or `UNBOUNDED_CONTEXT_CAP_TOKENS` when it
    states none. Never more than the positions the model states (`max_position_embeddings`)."""
    if room_bytes <= 0:
        return 0
    per_token = (kv_bytes_per_token(model, workload.kv_dtype) + workload.kv.score_bytes_per_token(model)) * share
    if per_token == 0:
        return model.max_position_embeddings or UNBOUNDED_CONTEXT_CAP_TOKENS
    allocated = room_bytes // (workload.batch * per_token)  # device tokens per sequence the room holds
    longest = workload.kv.max_tokens_for(model, allocated, _UNBOUNDED_TOKENS)
    if longest is None:
        return model.max_position_embeddings or int(allocated)
    return min(longest, model.max_position_embeddings or longest)


_UNBOUNDED_TOKENS = 2**40  # search bound for the longest context: beyond any cache


def _state_note(model: ModelSpec, workload: Workload) -> str | None:
    """What an SSM layer keeps instead of a KV cache, and what that does to the longest context."""
    if not model.num_ssm_layers:
        return None
    state = ssm_state_bytes_per_sequence(model, workload.ssm_state_dtype, workload.activations_dtype)
    note = (f"{model.id}'s {model.num_ssm_layers} SSM layers keep {state / 1e6:,.1f} MB of recurrent state per "
            f"sequence ({workload.ssm_state_dtype}) whatever its length")
    if model.num_attention_layers:
        return note + f"; only its {model.num_attention_layers} attention layers keep a KV cache"
    cap = (f"its max_position_embeddings ({model.max_position_embeddings:,})" if model.max_position_embeddings
           else f"{UNBOUNDED_CONTEXT_CAP_TOKENS:,} tokens, the longest Gu & Dao 2023 test Mamba on")
    return note + f" and no KV cache, so memory does not bound its context: the longest context shown is {cap}"


def _notes(model: ModelSpec, device: DeviceSpec, memory: MemoryResult, layout: Layout, system: SystemSpec | None,
           regions: int, workload: Workload, state_note: str | None = None,
           chunks: PrefillChunks | None = None) -> tuple[str, ...]:
    """Caveats a reader of this estimate needs: a context beyond the model's positions, spatial pipelines,
    spills, misfits, idle devices, assumed efficiency, the KV-cache policy, an SSM's state instead of a KV
    cache, a chunked prefill."""
    notes = [state_note] if state_note else []
    positions = model.max_position_embeddings
    if positions and workload.context_tokens > positions:
        notes.append(f"prompt + output = {workload.context_tokens:,} tokens, more than the {positions:,} positions "
                     f"{model.id} states (max_position_embeddings); timed as if it were extended (RoPE scaling)")
    if chunks:
        notes.append(chunks.describe())
    if workload.kv != KVCache() and model.num_attention_layers:  # an SSM has no cache to hold a policy
        notes.append(f"KV cache: {workload.kv.describe()}")
    if memory.kv_host_bytes:
        link = device.host_link
        notes.append(f"{memory.kv_host_bytes / 1e9:,.2f} GB of KV cache per device in host memory (not counted "
                     f"against its capacity), read over {link.name if link else 'PCIe'} each decode step")
    if lays_out_layers(device) and regions > 1:
        notes.append(f"{device.id} is a spatial machine: each of its {regions} layer region(s) has its own cores "
                     f"and memory, so one token uses 1/{regions} of each device at a time; only with a batch of "
                     f"sequences in flight in the pipeline does the whole machine work")
    main = device.main_memory.name
    spilled = {tier: b for tier, b in memory.bytes_by_tier["weights"].items() if tier != main and b > 0}
    for tier, amount in spilled.items():
        notes.append(f"{amount / 1e9:,.1f} GB of weights per device do not fit in {main} and stream from {tier}")
    if not memory.fits:
        devices = -(-memory.total_bytes // memory.capacity_bytes)
        if layout.devices == 1:
            notes.append(f"does not fit: {memory.total_bytes / 1e9:,.1f} GB needed, {memory.capacity_bytes / 1e9:,.1f} "
                         f"GB per device; at least {devices:.0f} devices must share it (times are one device's)")
        else:
            notes.append(f"does not fit: {memory.total_bytes / 1e9:,.1f} GB needed per device, "
                         f"{memory.capacity_bytes / 1e9:,.1f} GB each under {layout.describe()}; about {devices:.0f}x "
                         f"as many model-parallel devices are needed (times are as if it fitted)")
    if system is not None and layout.devices < system.device_count:
        notes.append(f"the layout {layout.describe()} uses {layout.devices} of the {system.device_count} devices "
                     f"of {system.id}; the others are idle and not costed")
    if device.figure_is("efficiency.memory_fraction", "assumed"):
        fitted = device.figure_is("efficiency.kernel_overhead_seconds", "fitted")
        notes.append(f"{device.id}'s achievable fractions are assumed, not measured; its fixed latency per kernel is "
                     f"fitted on published rows" if fitted else
                     f"{device.id}'s achievable fractions and overheads are assumed, not measured")
    return tuple(notes)


def make_workload(**fields: Any) -> Workload:
    """A `Workload`, turning validation problems into one-line `InfersimError`s."""
    try:
        return Workload(**fields)
    except ValidationError as exc:
        raise InfersimError(f"invalid workload: {validation_message(exc)}") from None


def resolve_machine(device: str | DeviceSpec | None, system: str | SystemSpec | None, devices: int | None,
                    calibration: str | None = None) -> tuple[DeviceSpec, SystemSpec | None]:
    """The device, and the system it sits in (None for one device on its own)."""
    if system is not None:
        sys_spec = load_system(system)
        base = load_device(device if device is not None else sys_spec.device, calibration)
        if sys_spec.device not in (base.id, base.calibrates):
            raise InfersimError(f"system {sys_spec.id} is built of {sys_spec.device}, not {base.id}; "
                                f"drop --device or pick another system")
        if devices is not None and devices != sys_spec.device_count:
            if isinstance(sys_spec.topology, DIMMED):
                raise InfersimError(f"system {sys_spec.id} is a fixed {sys_spec.topology.kind}; --devices cannot "
                                    f"resize it (use a system of {devices})")
            sys_spec = sys_spec.resized(devices)
        return base, sys_spec
    if device is None:
        raise InfersimError("give a --device or a --system")
    dev = load_device(device, calibration)
    if devices is None or devices == 1:
        return dev, None
    if devices < 1:
        raise InfersimError(f"--devices must be at least 1, got {devices}")
    return dev, switch_of(dev, devices)


def _mesh_side(device: DeviceSpec, regions: int, mesh_grid: int | None) -> float | None:
    """The side of the square region of cores one layer runs on (cost/mesh.py): `mesh_grid`, else the
    wafer's cores shared by its `regions` layers; None on a device without a core mesh."""
    if device.mesh is None:
        if mesh_grid is not None:
            raise InfersimError(f"--mesh-grid sets a wafer's region of cores; {device.id} has no core mesh "
                                f"(a wafer such as cerebras-wse-3 has)")
        return None
    if mesh_grid is None:
        return region_side(device.mesh, 1.0 / regions)
    if not 1 <= mesh_grid ** 2 <= device.mesh.cores:
        raise InfersimError(f"--mesh-grid must be between 1 and {math.isqrt(device.mesh.cores):,} "
                            f"({device.id} has {device.mesh.cores:,} cores), got {mesh_grid}")
    return float(mesh_grid)


def _check_pass_options(layout: Layout, batch: int, prompt_tokens: int, microbatches: int | None,
                        decode_tokens: int, prefill_chunk_tokens: int | None, padded_batch: int | None) -> int | None:
    """Refuse options that cannot describe a pass (one line each); the prefill chunk that applies (None when
    the prompt fits one chunk)."""
    if microbatches is not None and microbatches < 1:
        raise InfersimError(f"--microbatches must be at least 1, got {microbatches}")
    if decode_tokens < 1:
        raise InfersimError(f"decode_tokens must be at least 1, got {decode_tokens}")
    if prefill_chunk_tokens is not None and prefill_chunk_tokens < 1:
        raise InfersimError(f"--prefill-chunk must be at least 1 token, got {prefill_chunk_tokens}")
    if padded_batch is not None and padded_batch < batch:
        raise InfersimError(f"--padded-batch ({padded_batch}) must be at least the batch ({batch}): a runtime pads "
                            f"a batch up to its compiled shape")
    if padded_batch is not None and padded_batch > batch and (layout.dp > 1 or layout.pp > 1):
        raise InfersimError("--padded-batch is modelled for one replica without a pipeline (dp = pp = 1)")
    chunk = prefill_chunk_tokens if prefill_chunk_tokens is not None and prefill_chunk_tokens < prompt_tokens else None
    if chunk is not None and layout.cp > 1:
        raise InfersimError("chunked prefill (--prefill-chunk) and context parallelism (--cp) split the prompt two "
                            "ways; give one of them")
    return chunk


def estimate(model: str | ModelSpec, device: str | DeviceSpec | None = None, *, batch: int = 1,
             prompt_tokens: int = 1024, output_tokens: int = 256, weights_dtype: str | None = None,
             kv_dtype: str | None = None, activations_dtype: str | None = None, runtime: str | None = None,
             calibration: str | None = None, system: str | SystemSpec | None = None, devices: int | None = None,
             tp: int | None = None, pp: int | None = None, dp: int | None = None, ep: int | None = None,
             cp: int | None = None, layout: Layout | None = None, overlap: bool = False,
             microbatches: int | None = None, decode_tokens: int = 1, moe_imbalance: float = 1.0,
             ssm_state_dtype: str | None = None, kv_budget: KVBudget | None = None,
             kv_offload: KVOffload | None = None, kv_block_tokens: int | None = None,
             mla_absorb: bool = True, kv_query_head_reads: bool = False, prefill_chunk_tokens: int | None = None,
             mlp_weights_dtype: str | None = None, padded_batch: int | None = None,
             kv_cache: KVCache | None = None, mesh_grid: int | None = None) -> Estimate:
    """Predict and explain one model serving a static batch on one device or a system of them (see module
    docstring).

    Formats left out default to the device's activation format (bf16 where it has it, else fp16, else
    fp32), weights and KV cache included; an SSM's recurrent state defaults to fp32 (`Workload.ssm_state_dtype`).
    `calibration` is a file from `infersim calibrate` for it.
    `system` (a catalog id) or `devices` (N of `device` behind a switch) spreads the model by `layout` or
    the degrees tp, pp, dp, ep, cp (default: `parallel.default_layout`); `overlap` hides collectives under
    compute; `microbatches` sets how many groups of sequences a pipeline keeps in flight. `decode_tokens`
    is how many tokens each sequence feeds a decode pass (a speculative verify step: techniques/speculative.py);
    TPOT is then the time of one such pass. `moe_imbalance` ρ ≥ 1: the busiest expert-parallel device gets
    ρ times the mean share of routed tokens.

    The KV cache (specs/kvcache.py): `kv_budget` keeps only so many tokens (StreamingLLM, H2O),
    `kv_offload` holds part of it in host memory read over PCIe, `kv_block_tokens` allocates it in pages
    of that many tokens, `mla_absorb=False` decodes MLA by decompressing the cache every step,
    `kv_query_head_reads` reads a GQA/MQA cache once per query head in decode (pre-XQA TensorRT-LLM);
    `kv_cache` gives the whole policy at once instead (as the CLI and validation build it).
    `prefill_chunk_tokens` prefills in chunks of that many tokens (module docstring). `mlp_weights_dtype`
    stores the MLP and expert weights in another format than the rest (tt-metal's bfp4 MLPs). `padded_batch`
    is the static batch shape a runtime decodes whatever the batch (`pad_decode_ops`). `mesh_grid` runs each
    layer on a mesh_grid × mesh_grid region of a wafer's cores (a program's own grid, as WaferLLM's decode
    sets it) instead of the wafer's cores shared by the layers it holds (cost/mesh.py)."""
    model = load_model(model)
    device, sys_spec = resolve_machine(device, system, devices, calibration)
    activations_dtype = activations_dtype or device.activation_dtype
    try:
        parts = KVCache(budget=kv_budget, offload=kv_offload, block_tokens=kv_block_tokens,
                        mla_absorbed=mla_absorb, query_head_reads=kv_query_head_reads)
    except ValidationError as exc:
        raise policy_error(exc) from None
    if kv_cache is not None and parts != KVCache():
        raise InfersimError("give the KV-cache policy as kv_cache or as the kv_* arguments, not both")
    kv_policy = kv_cache if kv_cache is not None else parts
    workload = make_workload(batch=batch, prompt_tokens=prompt_tokens, output_tokens=output_tokens,
                             weights_dtype=weights_dtype or activations_dtype, kv_dtype=kv_dtype or activations_dtype,
                             mlp_weights_dtype=mlp_weights_dtype,
                             activations_dtype=activations_dtype, kv=kv_policy, moe_imbalance=moe_imbalance,
                             ssm_state_dtype=ssm_state_dtype or "fp32")
    if kv_policy.offload is not None:
        _host_link(device)  # refuse before any work
    runtime = runtime or default_runtime(device)
    if runtime not in RUNTIMES:
        raise InfersimError(f"unknown runtime '{runtime}': choose one of {', '.join(RUNTIMES)}")
    if not device.supports(workload.activations_dtype):
        formats = ", ".join(f for f in ("bf16", "fp16", "fp32") if device.supports(f))
        raise InfersimError(f"{device.id} cannot compute in {workload.activations_dtype}; "
                            f"use --activations-dtype {formats}")
    degrees = dict(tp=tp, pp=pp, dp=dp, ep=ep, cp=cp)
    if layout is None:
        if any(v is not None for v in degrees.values()):
            layout = layout_from(devices, **degrees)  # with --devices, the degrees must use all of them
        elif sys_spec is None:
            layout = Layout()
        else:
            layout = default_layout(model, sys_spec, workload.batch, workload.prompt_tokens)
    layout.check(model, workload.batch, workload.prompt_tokens)
    if layout.devices > 1 and sys_spec is None:
        raise InfersimError(f"the layout {layout.describe()} needs {layout.devices} devices; give --system or "
                            f"--devices {layout.devices}")
    groups = groups_for(sys_spec, layout) if sys_spec is not None else None
    chunk = _check_pass_options(layout, batch, prompt_tokens, microbatches, decode_tokens, prefill_chunk_tokens,
                                padded_batch)

    b, p, o = workload.batch, workload.prompt_tokens, workload.output_tokens
    replica_batch = b // layout.dp
    weights = device_weight_bytes(model, workload.weights_dtype, layout, workload.mlp_weights_dtype)
    replica = workload.model_copy(update={"batch": replica_batch})
    graph = graph_for(runtime)
    chunks = PrefillChunks.of(p, chunk)
    prefill_ops, lead_ops = prefill_pass_ops(model, replica, graph, layout, chunks)
    if sys_spec is not None and weights > device.capacity_bytes:
        needed = -(-weight_bytes(model, workload.weights_dtype, workload.mlp_weights_dtype) // device.capacity_bytes)
        raise InfersimError(f"{layout.devices} x {device.id} under {layout.describe()} cannot hold {model.id}'s weights: "
                            f"{weights / 1e9:,.1f} GB on the busiest device, which holds "
                            f"{device.capacity_bytes / 1e9:,.3g} GB; it needs at least {needed:.0f} devices "
                            f"(`infersim plan` finds a layout)")
    share = kv_share(model, layout)
    footprint = kv_footprint(model, workload.kv_dtype, replica_batch, workload.context_tokens, workload.kv,
                             workload.host_kv_dtype)
    kv = footprint.device_bytes * share
    state_per_seq = ssm_state_bytes_per_sequence(model, workload.ssm_state_dtype, workload.activations_dtype) * (
        ssm_state_share(model, layout))
    state = replica_batch * state_per_seq
    prefill_rows_per_sequence = chunks.tokens if chunks else split(p, layout.cp)
    # what is held at once is the fused graph's tensors: hf's unfused ops make more passes over the same ones
    held = prefill_ops + lead_ops if graph == "fused" else sum(prefill_pass_ops(model, replica, "fused", layout, chunks),
                                                               [])
    activations = _activation_peak(held, model, replica, prefill_rows_per_sequence)
    placement = place(device, weights, kv + state, activations)
    # a spatial machine lays its layers out side by side while their weights fit its SRAM; beyond that a wafer
    # streams them from MemoryX one layer at a time over the whole wafer (weight streaming, systems.md C3, C5)
    spatial = lays_out_layers(device) and set(placement.bytes_by_class_and_tier["weights"]) == {device.main_memory.name}
    regions = max(layout.stage_layers(model.num_layers)) if spatial else 1
    mesh_side = _mesh_side(device, regions, mesh_grid)
    stages = layout.pp * regions
    m = microbatches or min(replica_batch, stages)
    if m > replica_batch:
        raise InfersimError(f"{m} microbatches need at least {m} sequences per replica; the batch gives "
                            f"{replica_batch}")
    micro_batch = -(-replica_batch // m)
    micro = workload.model_copy(update={"batch": micro_batch})

    # decode step i (1 ≤ i ≤ O−1) feeds output token i with P + i − 1 tokens already cached; with O = 1
    # there is no decode step, and TPOT is that of the step that would come next
    steps = np.arange(p, p + max(o - 1, 1), dtype=float)
    decode_ops = forward_ops(model, micro, "decode", cached_tokens=steps, graph=graph, layout=layout,
                             new_tokens=decode_tokens)
    if padded_batch is not None and padded_batch > batch:
        padded = forward_ops(model, micro.model_copy(update={"batch": padded_batch}), "decode", cached_tokens=steps,
                             graph=graph, layout=layout, new_tokens=decode_tokens)
        decode_ops = pad_decode_ops(decode_ops, padded)

    prefill, prefill_rows = time_phase(prefill_ops, device, placement, replica, runtime, "prefill", groups, overlap,
                                       regions, mesh_side)
    last_chunk = prefill
    if lead_ops:
        lead, lead_rows = time_phase(lead_ops, device, placement, replica, runtime, "prefill", groups, overlap,
                                     regions, mesh_side)
        prefill = sum_phases([(lead, chunks.lead), (prefill, 1)])
        prefill_rows = sum_rows([(lead_rows, chunks.lead), (prefill_rows, 1)])
    decode, decode_rows = time_phase(decode_ops, device, placement, micro, runtime, "decode", groups, overlap,
                                     regions, mesh_side)
    if stages > 1:
        def send(rows: int) -> float:
            if groups is None or groups.stage_link is None:
                return 0.0
            activation = rows * model.hidden_size * bytes_per_element(workload.activations_dtype)
            return collective_seconds("send-recv", activation, groups.stage_link).seconds

        if chunks:
            prefill = chunks_pipelined(prefill, last_chunk, send(replica_batch * chunks.tokens), layout.pp, stages)
        else:
            prefill = _pipelined(prefill, send(replica_batch * split(p, layout.cp)), layout.pp, stages, 1)
        decode = _pipelined(decode, send(micro_batch * decode_tokens), layout.pp, stages, m)

    tpot = decode.seconds
    decode_total = (o - 1) * tpot
    e2e = prefill.seconds + decode_total
    capacity = device.capacity_bytes
    total = weights + kv + state + activations
    fits = placement.overflow_bytes == 0

    per_seq = footprint.device_bytes / replica_batch * share + state_per_seq + activations / replica_batch
    # the cache, the state and the activations live in the tiers that may hold a cache, beside the weights
    # placed there (all of a GPU's HBM; a wafer's SRAM, not MemoryX)
    cache_tiers = {t.name for t in device.resident_tiers if t.may_hold("kv_cache")}
    room = device.capacity_for("kv_cache") - sum(
        b for tier, b in placement.bytes_by_class_and_tier["weights"].items() if tier in cache_tiers)
    max_batch = int(room // per_seq) * layout.dp if room > 0 else 0
    max_context = _longest_context(model, replica, room - activations - state, share)

    tokens = b * o
    count = layout.devices
    bottleneck = "capacity" if not fits else (prefill.bound_by if prefill.seconds > decode_total else decode.bound_by)
    memory = MemoryResult(weights, kv, activations, total, capacity, fits, placement.bytes_by_class_and_tier,
                          state, footprint.host_bytes * share, footprint.fragmentation)
    link_bytes_per_s = groups.for_axis("tp").device_bytes_per_s_per_direction if groups and layout.tp > 1 else (
        sys_spec.device_bytes_per_s_per_direction if sys_spec is not None else None)
    ops_per_comm_byte = device.peak_for(workload.activations_dtype) / link_bytes_per_s if link_bytes_per_s else None
    return Estimate(
        model=model.id, device=device.id, runtime=runtime, system=sys_spec.id if sys_spec else None, devices=count,
        layout=layout.model_dump(), batch=b, prompt_tokens=p, output_tokens=o,
        weights_dtype=workload.weights_dtype, activations_dtype=workload.activations_dtype,
        kv_dtype=workload.kv_dtype, mlp_weights_dtype=workload.mlp_weights_dtype,
        ttft_seconds=prefill.seconds, tpot_seconds=tpot, prefill_seconds=prefill.seconds,
        decode_seconds=decode_total, e2e_seconds=e2e,
        output_tokens_per_s_per_user=1.0 / tpot, output_tokens_per_s_total=tokens / e2e,
        memory=memory, max_batch=max_batch, max_context_tokens=max_context,
        joules_per_token=economics.joules_per_token(device.tdp_watts * count, e2e, tokens),
        usd_per_million_tokens=economics.usd_per_million_tokens(economics.usd_per_device_hour(device) * count, e2e,
                                                                tokens),
        bottleneck=bottleneck, prefill=prefill, decode=decode, ops=tuple(prefill_rows + decode_rows),
        microbatches=m, pipeline_stages=stages, ops_per_comm_byte=ops_per_comm_byte,
        notes=_notes(model, device, memory, layout, sys_spec, regions, workload, _state_note(model, workload), chunks),
        ssm_state_dtype=workload.ssm_state_dtype,
        kv_cache=workload.kv.model_dump() if workload.kv != KVCache() else None,
        prefill_chunk_tokens=chunks.tokens if chunks else None,
        padded_batch=padded_batch if padded_batch is not None and padded_batch > batch else None,
    )
