"""What a device is: peak compute per format, memory tiers, links, power, price, and how close to peak it runs.

A device is data (one YAML file each under `catalog/devices/`), never a subclass per SKU. Every figure
in the file names its source; `sources` keeps them by dotted path (see `figure.py`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from infersim.specs.dtypes import DTYPES

_FROZEN = ConfigDict(frozen=True, extra="forbid")

ExecutionModel = Literal["gpu", "sram-dataflow", "wafer", "systolic", "cpu"]
TensorClass = Literal["weights", "kv_cache", "activations"]
ACTIVATION_FORMATS = ("bf16", "fp16", "fp32")  # in order of preference
HOST_LINK_FRACTION = 54.8e9 / 64.0e9  # PCIe Gen5 x16 host-to-device on an H100 host ([VP], measurements.md row 78)


class MemoryTier(BaseModel):
    """One level of memory.

    `role: resident` tiers hold weights, KV cache and activations, filled fastest first (Groq's SRAM,
    a wafer's SRAM, HBM, GDDR, DDR, an external MemoryX). `role: cache` tiers (a GPU's L2 and shared
    memory, a staging SRAM) hold nothing across a forward pass: they set the SRAM ops:byte ratio but
    add no capacity.
    """

    model_config = _FROZEN
    name: str
    technology: str = Field(description="hbm3, gddr6, sram, ddr5, ...")
    role: Literal["resident", "cache"]
    capacity_bytes: PositiveFloat = Field(description="the marketed capacity (the datasheet's GB)")
    reported_bytes: PositiveFloat | None = Field(
        None, description="the total the driver reports (nvidia-smi / NVML), where it differs from the marketed "
                          "figure: what a workload allocates from")
    bytes_per_s: PositiveFloat | None = Field(None, description="peak bandwidth; unknown for some caches")
    holds: tuple[TensorClass, ...] | None = Field(
        None, description="the tensor classes a resident tier may hold (a wafer's MemoryX: weights only); "
                          "None: all of them")

    @property
    def usable_bytes(self) -> float:
        """Bytes a workload can fill: the driver's total where known, else the marketed capacity."""
        return self.reported_bytes or self.capacity_bytes

    def may_hold(self, tensor_class: str) -> bool:
        """Whether this tier may hold `tensor_class` (weights, kv_cache, activations)."""
        return self.holds is None or tensor_class in self.holds


class Link(BaseModel):
    """A chip-to-chip or host link: bandwidth per direction and one-hop latency."""

    model_config = _FROZEN
    name: str
    bytes_per_s_per_direction: PositiveFloat
    count: int = Field(1, ge=1, description="links of this kind per device")
    latency_seconds: NonNegativeFloat | None = None

    @property
    def total_bytes_per_s_per_direction(self) -> float:
        return self.bytes_per_s_per_direction * self.count


class Efficiency(BaseModel):
    """How close to peak a device runs, and the fixed costs peak figures leave out.

    Fitted for `h100-sxm` by `infersim calibrate-h100` on measured microbenchmarks; for other devices
    each value names the assumption it rests on.
    """

    model_config = _FROZEN
    matmul_compute_fraction: float = Field(gt=0, le=1, description="achieved / peak FLOP/s on large GEMMs")
    matmul_compute_fraction_by_dtype: dict[str, float] = Field(
        default_factory=dict, description="per-format overrides where a format runs at another fraction (fp8)")
    matmul_rows_half: NonNegativeFloat = Field(
        0.0, description="m½: a GEMM of m rows runs at m/(m + m½) of the large-GEMM rate (0: no such loss)")
    attention_compute_fraction: float = Field(gt=0, le=1, description="achieved / peak in attention kernels")
    memory_fraction: float = Field(gt=0, le=1, description="achieved / peak streaming bandwidth")
    kernel_overhead_seconds: NonNegativeFloat = Field(
        description="fixed device time per kernel (launch inside a graph, tail of the last wave)"
    )
    host_launch_seconds: NonNegativeFloat = Field(
        0.0, description="host time to launch one op eagerly; overlaps device time, binds when larger"
    )
    decode_attention_stream_bytes_per_s: PositiveFloat | None = Field(
        None, description="the most cache bytes/s decode attention reads for one (sequence, key/value head) pair, "
                          "when the kernel gives each pair a bounded set of cores (tt-metal's FlashDecode: at most "
                          "16); None: no such bound (split-KV kernels spread a pair over the whole device)")
    host_link_fraction: float = Field(
        HOST_LINK_FRACTION, gt=0, le=1,
        description="achieved / peak bytes/s over the PCIe host link (default: 54.8 of 64 GB/s host-to-device "
                    "measured on an H100 host, measurements.md row 78, [VP] aigatech/vpbenchmarking)")

    @model_validator(mode="after")
    def _check_by_dtype(self) -> "Efficiency":
        for dtype, fraction in self.matmul_compute_fraction_by_dtype.items():
            if dtype not in DTYPES or not 0 < fraction <= 1:
                raise ValueError(f"matmul_compute_fraction_by_dtype.{dtype}: needs a known format and 0 < value <= 1")
        return self

    def matmul_fraction(self, dtype: str, rows: float | None = None) -> float:
        """Achieved / peak FLOP/s of GEMMs multiplying in `dtype`: the large-GEMM fraction, times
        m / (m + m½) for a GEMM of m = `rows` ≥ 2 rows. A single row runs as a matrix-vector kernel
        (BLAS GEMV) that streams at memory speed, so it pays no such loss."""
        fraction = self.matmul_compute_fraction_by_dtype.get(dtype, self.matmul_compute_fraction)
        if rows and rows > 1 and self.matmul_rows_half:
            fraction *= rows / (rows + self.matmul_rows_half)
        return fraction


class MatrixUnit(BaseModel):
    """The systolic matrix units of a device (a TPU's MXUs): `count` arrays of `rows` × `cols`
    multiply-accumulate cells per chip. A weight tile of rows × cols sits in an array while
    activation rows stream through it; `cost/systolic.py` turns the shapes into the array's utilisation."""

    model_config = _FROZEN
    rows: PositiveInt = Field(description="cells along the contracted dimension k (the weight tile's rows)")
    cols: PositiveInt = Field(description="cells along the output dimension n (the weight tile's columns)")
    count: PositiveInt = Field(description="arrays per chip, over all its cores")


class MeshFabric(BaseModel):
    """A wafer's 2-D mesh of small cores, each with its own SRAM and a router to its four neighbours
    (Cerebras WSE): what a layer's decode costs beyond its bytes. `cost/mesh.py` turns it into time.

    A layer runs on a square region of P × P cores; each matrix-vector product ends in an all-reduce
    along a line of P cores, and the cores multiply at `macs_per_cycle_per_core`. Every figure is in
    cycles of `clock_hz`."""

    model_config = _FROZEN
    cores: PositiveInt = Field(description="processing elements on the device")
    clock_hz: PositiveFloat = Field(description="core and fabric clock")
    macs_per_cycle_per_core: PositiveFloat = Field(
        description="16-bit multiply-accumulates a core sustains per cycle in a matrix-vector product")
    simd_macs_per_cycle_per_core: PositiveFloat | None = Field(
        default=None, description="the most 16-bit multiply-accumulates a core does per cycle (its SIMD width), "
        "reached when each weight it reads serves several rows (a batch, a verify step's tokens, a prefill); "
        "None: no more than macs_per_cycle_per_core")
    hop_cycles: PositiveFloat = Field(description="α: cycles for a wavelet to cross one router")
    ramp_cycles: NonNegativeFloat = Field(description="T_R: cycles between a core and its own router")
    collective_fixed_cycles: NonNegativeFloat = Field(
        description="β: fixed cycles of one all-reduce beyond its hops and wavelets (task switching, setup)")

    @model_validator(mode="after")
    def _simd_at_least_the_matrix_vector_rate(self) -> "MeshFabric":
        if self.simd_macs_per_cycle_per_core is not None and (
                self.simd_macs_per_cycle_per_core < self.macs_per_cycle_per_core):
            raise ValueError(f"simd_macs_per_cycle_per_core ({self.simd_macs_per_cycle_per_core:g}) is below "
                             f"macs_per_cycle_per_core ({self.macs_per_cycle_per_core:g}): the SIMD width is the most "
                             f"a core multiplies per cycle")
        return self


class Price(BaseModel):
    """What the device costs: to buy (USD per device) and/or to rent (USD per device-hour)."""

    model_config = _FROZEN
    usd_purchase: PositiveFloat | None = None
    usd_per_hour: PositiveFloat | None = None

    @model_validator(mode="after")
    def _some_price(self) -> "Price":
        if self.usd_purchase is None and self.usd_per_hour is None:
            raise ValueError("price needs usd_purchase or usd_per_hour")
        return self


class DeviceSpec(BaseModel):
    """One chip or card (a card with several dies, like the Wormhole n300, is one device)."""

    model_config = _FROZEN
    id: str
    name: str
    vendor: str
    execution_model: ExecutionModel
    peak_flops_per_s: dict[str, PositiveFloat] = Field(description="dense peak per format (no sparsity)")
    memory: tuple[MemoryTier, ...]
    links: tuple[Link, ...] = ()
    tdp_watts: PositiveFloat
    price: Price
    efficiency: Efficiency
    matrix_unit: MatrixUnit | None = Field(None, description="systolic devices: the matrix arrays shapes pad to")
    mesh: MeshFabric | None = Field(None, description="wafers: the core mesh a layer's region runs on (cost/mesh.py)")
    efficiency_from: str | None = Field(None, description="catalog device whose fitted efficiency this one assumes")
    calibrates: str | None = Field(None, description="the device id a calibrated file stands for")
    notes: str = ""
    sources: dict[str, str] = Field(default_factory=dict, description="dotted figure path -> source")

    @model_validator(mode="after")
    def _check(self) -> "DeviceSpec":
        unknown = set(self.peak_flops_per_s) - set(DTYPES)
        if unknown:
            raise ValueError(f"peak_flops_per_s has unknown formats {sorted(unknown)}; known: {', '.join(DTYPES)}")
        if not set(self.peak_flops_per_s) & set(ACTIVATION_FORMATS):
            raise ValueError(f"peak_flops_per_s needs one of {', '.join(ACTIVATION_FORMATS)} (the activation formats)")
        if not any(t.role == "resident" for t in self.memory):
            raise ValueError("memory needs at least one tier with role: resident")
        for tier in self.memory:
            if tier.role == "resident" and tier.bytes_per_s is None:
                raise ValueError(f"resident memory tier '{tier.name}' needs bytes_per_s")
        for tensor_class in ("weights", "kv_cache", "activations"):
            if not any(t.may_hold(tensor_class) for t in self.memory if t.role == "resident"):
                raise ValueError(f"no resident memory tier may hold {tensor_class}; give one 'holds' that includes it")
        if self.matrix_unit is not None and self.execution_model != "systolic":
            raise ValueError(f"matrix_unit is only used by systolic devices; this one is '{self.execution_model}'")
        if self.mesh is not None and self.execution_model != "wafer":
            raise ValueError(f"mesh is only used by wafer devices; this one is '{self.execution_model}'")
        return self

    # ---- derived figures --------------------------------------------------------------------------
    def figure_is(self, path: str, kind: str) -> bool:
        """Whether the figure at dotted `path` is of that kind by its source: 'assumed', 'fitted', 'measured'."""
        return self.sources.get(path, "").startswith(kind)

    def peak_for(self, dtype: str) -> float:
        """Peak dense FLOP/s for multiplying in `dtype`; bf16/fp16 stand in for each other."""
        if dtype in self.peak_flops_per_s:
            return self.peak_flops_per_s[dtype]
        twin = {"bf16": "fp16", "fp16": "bf16"}.get(dtype)
        if twin and twin in self.peak_flops_per_s:
            return self.peak_flops_per_s[twin]
        raise KeyError(dtype)

    def supports(self, dtype: str) -> bool:
        """Whether the device multiplies natively in `dtype`."""
        try:
            self.peak_for(dtype)
        except KeyError:
            return False
        return True

    @property
    def activation_dtype(self) -> str:
        """The format activations default to: the first of bf16, fp16, fp32 the device computes in."""
        return next(f for f in ACTIVATION_FORMATS if self.supports(f))

    @property
    def resident_tiers(self) -> tuple[MemoryTier, ...]:
        """Tiers that hold state, fastest first (the order they are filled in)."""
        tiers = [t for t in self.memory if t.role == "resident"]
        return tuple(sorted(tiers, key=lambda t: -(t.bytes_per_s or 0.0)))

    @property
    def capacity_bytes(self) -> float:
        """Bytes the resident tiers hold together (`MemoryTier.usable_bytes`: the driver's total where the
        catalog has it, else the marketed figure)."""
        return sum(t.usable_bytes for t in self.resident_tiers)

    def capacity_for(self, tensor_class: str) -> float:
        """Bytes the resident tiers that may hold `tensor_class` hold together (a wafer's KV cache and
        activations stay in its SRAM; only weights go to MemoryX)."""
        return sum(t.usable_bytes for t in self.resident_tiers if t.may_hold(tensor_class))

    @property
    def main_memory(self) -> MemoryTier:
        """The fastest resident tier, the one weights fill first: HBM on a GPU, SRAM on an LPU or a
        wafer (not the wafer's external MemoryX, which only takes what the SRAM cannot hold)."""
        return self.resident_tiers[0]

    @property
    def on_chip_sram(self) -> MemoryTier | None:
        """The SRAM next to the compute units (shared memory summed over SMs, Tensix L1, an LPU's or
        a wafer's SRAM), the one the essay's SRAM ops:byte uses: the fastest SRAM tier with a
        bandwidth figure, else the largest SRAM tier; None when the file lists no SRAM."""
        sram = [t for t in self.memory if t.technology.lower().startswith("sram")]
        timed = [t for t in sram if t.bytes_per_s]
        if timed:
            return max(timed, key=lambda t: t.bytes_per_s or 0.0)
        return max(sram, key=lambda t: t.capacity_bytes) if sram else None

    def ops_per_byte(self, dtype: str = "bf16", tier: MemoryTier | None = None) -> float:
        """Peak FLOP/s / bytes/s: the arithmetic intensity above which an op is compute bound."""
        tier = tier or self.main_memory
        if tier.bytes_per_s is None:
            raise ValueError(f"{self.id}: tier '{tier.name}' has no bandwidth figure")
        return self.peak_for(dtype) / tier.bytes_per_s

    @property
    def host_link(self) -> Link | None:
        """The link to the host's memory: the device's PCIe link (the first link named pcie*), or None."""
        return next((link for link in self.links if link.name.lower().startswith("pcie")), None)

    @property
    def scale_out_link(self) -> Link | None:
        """The fastest chip-to-chip link (by total bandwidth per direction)."""
        return max(self.links, key=lambda link: link.total_bytes_per_s_per_direction, default=None)
