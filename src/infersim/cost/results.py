"""What an estimate reports per op, per phase and for memory: plain frozen records, filled by
`cost/estimate.py` and read by the reports."""

from __future__ import annotations

from dataclasses import dataclass


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
    wire_bytes: float = 0.0  # collectives: the buffer per device, per pass (all `count` layers)
    comm_seconds: float = 0.0  # collectives: alpha-beta time on the layout's group
    algorithm: str | None = None  # collectives: the algorithm chosen (ring, tree, direct, ...)


@dataclass(frozen=True)
class PhaseResult:
    """One pass of a phase (decode: the mean step). `device_seconds` is the device's own work (ops and,
    unless overlapped, collectives); `comm_seconds` the collectives and stage-to-stage sends alone."""

    seconds: float
    device_seconds: float
    host_seconds: float
    flops: float
    bytes: float
    bound_by: str
    seconds_by_bound: dict[str, float]
    comm_seconds: float = 0.0
    wire_bytes: float = 0.0
    host_link_seconds: float = 0.0  # an offloaded KV cache's transfers over the PCIe host link
    host_link_bytes: float = 0.0


@dataclass(frozen=True)
class MemoryResult:
    """Footprints on one device. `kv_cache_bytes` is the part of the cache on the device (allocated
    in whole blocks when paged, `kv_fragmentation` of it unused); `kv_host_bytes` the part offloaded to
    host memory, which the device's capacity does not hold."""

    weights_bytes: float
    kv_cache_bytes: float
    activation_bytes: float
    total_bytes: float
    capacity_bytes: float
    fits: bool
    bytes_by_tier: dict[str, dict[str, float]]
    ssm_state_bytes: float = 0.0  # SSM layers' recurrent state (placed with the KV cache); in total_bytes
    kv_host_bytes: float = 0.0
    kv_fragmentation: float = 0.0
