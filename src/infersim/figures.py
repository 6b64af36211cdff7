"""The figures of the essay "Domain specific architectures for AI inference" (C. Fleetwood, 2025),
derived from the catalog and the cost formulas rather than typed in.

Each function states its formula and the essay section it reproduces. Formulas that already live in
`infersim.cost` (matmul and attention intensity, critical batch, KV bytes per token, tokens that fit)
are called, not restated. The few inputs that are external facts, not derivable from a spec (a bill of
materials, a memory price, a cited precision optimum), are `CitedFigure` constants with their source.

Units: SI inside (bytes, bytes/s, FLOP/s, seconds, USD); 1 GB = 1e9 bytes, 1 MiB = 2**20 bytes.
Symbols as in the essay and the scaling-book: B batch, D model width, F output width, S cached tokens,
T new tokens, P parameters, N or Y accelerators, C FLOP/s per chip, W link bytes/s, M mantissa bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from infersim.cost.intensity import attention_intensity, critical_batch
from infersim.cost.memory import kv_bytes_per_token, tokens_that_fit
from infersim.specs.catalog import load_device, load_model
from infersim.specs.device import DeviceSpec, Link, MemoryTier
from infersim.specs.dtypes import MANTISSA_BITS, bytes_per_element
from infersim.specs.model import ModelSpec

ESSAY = "essay 'Domain specific architectures for AI inference' (C. Fleetwood, 2025)"


# ---- cited constants (external facts, not derived) -------------------------------------------------
@dataclass(frozen=True, slots=True)
class CitedFigure:
    """A figure taken from the literature, not derived here: its value (or range), unit and source."""

    value: float
    unit: str
    source: str
    high: float | None = None  # upper end when the source gives a range

    @property
    def range(self) -> tuple[float, float]:
        return (self.value, self.high if self.high is not None else self.value)


OPTIMAL_PRECISION_BITS = CitedFigure(  # F4
    7.0, "bits",
    "Kumar et al. (2024), 'Scaling Laws for Precision', arXiv 2411.04330: the compute-optimal precision "
    f"sits between 7 and 8 bits; cited in {ESSAY}, section 'Lower precision'",
    high=8.0,
)
H100_BOM_USD_2023 = CitedFigure(  # E1
    3320.0, "usd",
    f"Tae Kim, Barron's (2023): H100 bill of materials $3,320; cited in {ESSAY}, section 'The GDDR6 Gambit'",
)
HBM3_USD_PER_GB = CitedFigure(  # E2
    15.0, "usd/GB",
    f"SemiAnalysis: HBM3 at $15/GB; cited in {ESSAY}, section 'The GDDR6 Gambit'",
)


# ---- numerics and area (F1-F3) ---------------------------------------------------------------------
def multiplier_full_adders(mantissa_bits: int) -> int:
    """Full adders in an array multiplier for two floats with M explicit mantissa bits: (M + 1)².

    The implicit leading one makes each significand M + 1 bits wide, and an array multiplier has one full
    adder per partial-product bit. FP32 576, FP16 121, BF16 64, FP8-E4M3 16 (essay F1-F2, section
    'Lower precision', after J. Dean 2019, arXiv 1911.05289); FP4-E2M1 4, which MXFP4 and NVFP4 share
    (their block scales are applied once per block, outside the element multiplier).
    """
    return (mantissa_bits + 1) ** 2


def full_adders_by_format(dtypes: tuple[str, ...] = ("fp32", "fp16", "bf16", "fp8")) -> dict[str, int]:
    """`multiplier_full_adders` for each format's mantissa width, read from the one format table
    (`dtypes.MANTISSA_BITS`, i.e. `dtypes.FORMATS`); integer formats have no mantissa and are refused."""
    unknown = [d for d in dtypes if d not in MANTISSA_BITS]
    if unknown:
        raise ValueError(f"no mantissa width for {', '.join(unknown)}: floating formats are "
                         f"{', '.join(MANTISSA_BITS)}")
    return {d: multiplier_full_adders(MANTISSA_BITS[d]) for d in dtypes}


def tensor_bytes(shape: tuple[int, ...], dtype: str) -> float:
    """Bytes of a dense tensor: numel × bytes per element. bf16[4096, 4096] = 2**25 B = 32 MiB ≈ 33.6 MB
    (essay F3, section 'Anatomy of AI Inference')."""
    return math.prod(shape) * bytes_per_element(dtype)


# ---- memory tiers the essay's table counts ---------------------------------------------------------
def core_sram_tier(device: DeviceSpec) -> MemoryTier:
    """The SRAM the essay's table calls 'SRAM' (228 KiB × 132 SMs on H100, 1464 KB × 140 Tensix cores
    on Blackhole): `DeviceSpec.on_chip_sram`, required to have a bandwidth figure."""
    sram = device.on_chip_sram
    if sram is None or not sram.bytes_per_s:
        raise ValueError(f"{device.id}: no SRAM tier with a bandwidth figure")
    return sram


# ---- accelerator table (essay section 'Anatomy of AI Inference') ----------------------------------
def truncate(value: float, decimals: int = 1) -> float:
    """`value` cut (not rounded) to `decimals`, as the essay's accelerator table prints its figures:
    1464 KB × 140 = 204.96 MB is shown as 204.9 and 387 / 8.8 = 43.98 as 43.9. (A 1e-9 nudge keeps a
    float like 204.9e6 / 1e6 = 204.89999… from dropping a digit.)"""
    scale = 10**decimals
    return math.floor(value * scale + 1e-9) / scale


@dataclass(frozen=True, slots=True)
class EssayTableRow:
    """Which catalog device an essay table row shows, and to how many decimals of TB/s the essay prints
    the DRAM bandwidth that it then divides by (3.35 for H100, 2.0 for A100, 0.51 for Blackhole).

    `dram_bandwidth_device_id`: the device whose DRAM bandwidth the row shows when the essay took it from
    another SKU than the capacity (the A100 row: 40 GB beside the 80 GB card's 2.0 TB/s).
    """

    label: str
    device_id: str
    dram_tb_per_s_decimals: int = 2
    dram_bandwidth_device_id: str | None = None


ESSAY_ACCELERATOR_ROWS: tuple[EssayTableRow, ...] = (
    EssayTableRow("NVIDIA H100-SXM5", "h100-sxm"),
    EssayTableRow("NVIDIA A100", "a100-40gb", dram_tb_per_s_decimals=1, dram_bandwidth_device_id="a100-80gb"),
    EssayTableRow("Tenstorrent Blackhole", "tenstorrent-blackhole-p150"),
    EssayTableRow("Google TPU v4i", "tpu-v4i"),
)


@dataclass(frozen=True, slots=True)
class AcceleratorRow:
    """One row of the essay's accelerator table, as the essay computes it and exactly.

    `*_shown` fields are the catalog figures as the essay prints them before dividing (FP16 in whole
    TFLOP/s, DRAM bandwidth to the row's decimals of TB/s, SRAM bandwidth to 0.1 TB/s); `ops_per_byte_*`
    divides the shown figures, as the essay did (H100: 989 / 3.35 = 295.2, where the exact
    989.4 / 3.35 is 295.3). `exact_ops_per_byte_*` divides the unrounded catalog figures of the row's
    device (`DeviceSpec.ops_per_byte`). The ratios are unrounded: the essay prints them `truncate`d.
    """

    label: str
    device_id: str
    fp16_flops_per_s: float
    dram_bytes: float
    dram_bytes_per_s: float
    sram_bytes: float
    sram_bytes_per_s: float
    fp16_tflops_shown: float
    dram_tb_per_s_shown: float
    sram_tb_per_s_shown: float
    ops_per_byte_dram: float
    ops_per_byte_sram: float
    exact_ops_per_byte_dram: float
    exact_ops_per_byte_sram: float


def accelerator_row(row: EssayTableRow) -> AcceleratorRow:
    """Derive one row of the essay's table from the catalog: FP16 FLOP/s, DRAM capacity and bandwidth,
    core SRAM capacity and bandwidth (`core_sram_tier`), and ops:byte = FLOP/s ÷ bytes/s against each.

    The essay divides the figures as it prints them, so `ops_per_byte_*` rounds FLOP/s to whole TFLOP/s
    and each bandwidth to its printed decimals of TB/s before dividing: 989/3.35 = 295.2, 989/31 = 31.9,
    312/2.0 = 156.0, 312/19 = 16.4, 387/0.51 = 758.8 (Blackhole's 512 GB/s printed as 0.51; the exact
    387/0.512 is 755.9), 387/8.8 = 43.9, 138/0.61 = 226.2, 138/13.5 = 10.2 (all truncated to 0.1).
    The A100 row is the essay's mix of two SKUs: the 40 GB capacity (a100-40gb, whose own bandwidth is
    1.555 TB/s, ops:byte 200.6) beside 2.0 TB/s, the 80 GB card's 2.039 TB/s (a100-80gb) printed to one
    decimal; `dram_bandwidth_device_id` states that pairing instead of hiding it.
    """
    device = load_device(row.device_id)
    dram = device.main_memory
    dram_bytes_per_s = load_device(row.dram_bandwidth_device_id or row.device_id).main_memory.bytes_per_s
    sram = core_sram_tier(device)
    flops_per_s = device.peak_for("fp16")
    tflops_shown = round(flops_per_s / 1e12)
    dram_shown = round(dram_bytes_per_s / 1e12, row.dram_tb_per_s_decimals)
    sram_shown = round(sram.bytes_per_s / 1e12, 1)
    return AcceleratorRow(
        label=row.label,
        device_id=device.id,
        fp16_flops_per_s=flops_per_s,
        dram_bytes=dram.capacity_bytes,
        dram_bytes_per_s=dram_bytes_per_s,
        sram_bytes=sram.capacity_bytes,
        sram_bytes_per_s=sram.bytes_per_s,
        fp16_tflops_shown=tflops_shown,
        dram_tb_per_s_shown=dram_shown,
        sram_tb_per_s_shown=sram_shown,
        ops_per_byte_dram=tflops_shown / dram_shown,
        ops_per_byte_sram=tflops_shown / sram_shown,
        exact_ops_per_byte_dram=device.ops_per_byte("fp16", dram),
        exact_ops_per_byte_sram=device.ops_per_byte("fp16", sram),
    )


def accelerator_table(rows: tuple[EssayTableRow, ...] = ESSAY_ACCELERATOR_ROWS) -> list[AcceleratorRow]:
    """The essay's accelerator table (Feb 2025), one `AcceleratorRow` per row (see `accelerator_row`)."""
    return [accelerator_row(r) for r in rows]


# ---- matmuls and attention (M2-M4, A2-A3) ----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CriticalBatches:
    """Batch above which a weight-streaming matmul is compute bound, and the prefill length above which
    attention is, on one device (essay M2-M4, A2)."""

    device_id: str
    hbm: float              # B_crit against main memory, 2-byte weights (M2)
    sram: float             # B_crit if weights streamed from core SRAM (M3)
    hbm_fp8: float          # B_crit with 1-byte weights at the FP8 peak (M4)
    prefill_attention: float  # T above which prefill attention (S = T) is compute bound (A2)


def prefill_attention_critical_length(ops_per_byte: float) -> float:
    """Prompt length T above which prefill attention is compute bound: T/2 ≥ ops:byte, so T = 2·ops:byte.

    Prefill has S = T, and FlashAttention's intensity ST/(S+T) becomes T/2 (essay A2, section
    'Attention': H100 2 × 295 ≈ 590).
    """
    return 2.0 * ops_per_byte


def critical_batches(device: DeviceSpec | str = "h100-sxm") -> CriticalBatches:
    """Critical batches of `device` from its catalog peaks and bandwidths (`cost.intensity.critical_batch`).

    H100: 989.4e12 / 3.35e12 = 295.3 (M2; the essay's 989/3.35 also rounds to 295); against the 31 TB/s
    shared memory 31.9 ≈ 32 (M3); FP8 halves the weight bytes and doubles the peak, leaving 295 (M4).
    """
    device = load_device(device)
    hbm = device.main_memory.bytes_per_s
    sram = core_sram_tier(device).bytes_per_s
    return CriticalBatches(
        device_id=device.id,
        hbm=critical_batch(device.peak_for("bf16"), hbm, bytes_per_element("bf16")),
        sram=critical_batch(device.peak_for("bf16"), sram, bytes_per_element("bf16")),
        hbm_fp8=critical_batch(device.peak_for("fp8"), hbm, bytes_per_element("fp8")),
        prefill_attention=prefill_attention_critical_length(device.ops_per_byte("bf16")),
    )


def decode_attention_intensity(cached_tokens: float) -> float:
    """Intensity of one decode step of attention (T = 1): S/(S + 1) < 1, so decode attention is memory
    bound on every accelerator (essay A3)."""
    return attention_intensity(cached_tokens, 1.0)


# ---- KV cache: MHA against MLA (K1-K6) -------------------------------------------------------------
def mha_variant(model: ModelSpec, head_dim: int = 128) -> ModelSpec:
    """`model` with multi-head latent attention replaced by plain MHA of `head_dim`-wide heads:
    hidden_size / head_dim heads for both queries and keys/values (DeepSeek-V3: 7168 / 128 = 56).

    The essay's 'plausible' d_head = 128 (section 'Attention'). Built by validating a new spec from the
    old one's fields (frozen like any spec; validation checks the heads divide evenly).
    """
    if model.hidden_size % head_dim:
        raise ValueError(f"hidden_size {model.hidden_size} is not a multiple of head_dim {head_dim}")
    heads = model.hidden_size // head_dim
    fields = model.model_dump()
    fields.update(id=f"{model.id}-mha", name=f"{model.name} (MHA, d_head {head_dim})", mla=None,
                  num_attention_heads=heads, num_key_value_heads=heads, head_dim=head_dim)
    return ModelSpec.model_validate(fields)


@dataclass(frozen=True, slots=True)
class KVComparison:
    """KV-cache bytes per token of a model's MHA variant and of its MLA, and how many tokens of each fit
    in a device's DRAM and core SRAM (essay K1-K6). `mla_*` omit the RoPE key as the essay does;
    `mla_rope_*` include it (the exact DeepSeek cache)."""

    model_id: str
    device_id: str
    dram_bytes: float
    sram_bytes: float
    mha_bytes_per_token: float
    mla_bytes_per_token: float
    mla_rope_bytes_per_token: float
    mha_tokens_in_dram: float
    mla_tokens_in_dram: float
    mla_rope_tokens_in_dram: float
    mha_tokens_in_sram: float
    mla_tokens_in_sram: float
    mla_rope_tokens_in_sram: float

    @property
    def mha_over_mla(self) -> float:
        """How many times smaller MLA's cache is (essay K4: 28×, without the RoPE key)."""
        return self.mha_bytes_per_token / self.mla_bytes_per_token

    @property
    def mha_over_mla_rope(self) -> float:
        return self.mha_bytes_per_token / self.mla_rope_bytes_per_token


def kv_comparison(model: ModelSpec | str = "deepseek-v3", device: DeviceSpec | str = "h100-sxm",
                  kv_dtype: str = "bf16", head_dim: int = 128) -> KVComparison:
    """MHA against MLA KV cache for `model` on `device` (essay section 'Attention', K1-K6).

    MHA per token 2·b·L·H·d_head = 2·2·61·56·128 = 1,748,992 B (K1); MLA 2·L·d_c = 2·61·512 = 62,464 B
    without the 64-wide RoPE key (K3), 2·61·576 = 70,272 B with it. Tokens that fit = capacity ÷ bytes
    per token (`cost.memory.tokens_that_fit`), in the main memory (80e9 B on H100: K2, K5) and in the
    core SRAM (30.8e6 B on H100: K6).
    """
    model, device = load_model(model), load_device(device)
    mha = mha_variant(model, head_dim)
    dram, sram = device.main_memory.capacity_bytes, core_sram_tier(device).capacity_bytes
    per_token = {
        "mha": kv_bytes_per_token(mha, kv_dtype),
        "mla": kv_bytes_per_token(model, kv_dtype, mla_rope=False),
        "mla_rope": kv_bytes_per_token(model, kv_dtype, mla_rope=True),
    }
    return KVComparison(
        model_id=model.id, device_id=device.id, dram_bytes=dram, sram_bytes=sram,
        mha_bytes_per_token=per_token["mha"],
        mla_bytes_per_token=per_token["mla"],
        mla_rope_bytes_per_token=per_token["mla_rope"],
        mha_tokens_in_dram=tokens_that_fit(dram, per_token["mha"]),
        mla_tokens_in_dram=tokens_that_fit(dram, per_token["mla"]),
        mla_rope_tokens_in_dram=tokens_that_fit(dram, per_token["mla_rope"]),
        mha_tokens_in_sram=tokens_that_fit(sram, per_token["mha"]),
        mla_tokens_in_sram=tokens_that_fit(sram, per_token["mla"]),
        mla_rope_tokens_in_sram=tokens_that_fit(sram, per_token["mla_rope"]),
    )


def whole_tokens(tokens: float) -> int:
    """Whole tokens that fit: a partial token's cache is no use, so round down (essay K6: 17.6 -> 17)."""
    return math.floor(tokens)


# ---- scale-out (S1-S4, S8) -------------------------------------------------------------------------
def bidirectional_bytes_per_s(link: Link, *, all_links: bool = False) -> float:
    """Bandwidth over a link in both directions: per direction × 2, and × `link.count` with `all_links`.

    The essay's ops:comms table quotes one link entry in both directions: NVIDIA's per-GPU NVLink figure
    (900 GB/s on H100 = 18 NVLink4 links, which the catalog keeps as one aggregate entry of 450 GB/s per
    direction; 600 GB/s on A100), but one 800G Ethernet port of Blackhole's four (2 × 100 GB/s) and one of
    TPU v5p's six ICI links (2 × 90 GB/s); see those devices' catalog notes. `all_links=True` gives the
    chip's whole egress + ingress (Blackhole 800 GB/s, TPU v5p 1,080 GB/s).
    """
    return link.bytes_per_s_per_direction * (link.count if all_links else 1) * 2.0


def ops_per_comms(flops_per_s: float, link_bytes_per_s: float) -> float:
    """ops:comms = FLOP/s ÷ interconnect bytes/s: the FLOPs a chip must do per byte it sends to hide the
    communication (essay section 'Scaling out'; H100 989e12 / 900e9 ≈ 1099, S1-S4)."""
    return flops_per_s / link_bytes_per_s


@dataclass(frozen=True, slots=True)
class OpsCommsRow:
    """One row of the essay's ops:comms table: `link_bytes_per_s` is one link entry in both directions, as
    the essay counts it; `all_links_*` counts every link of that kind."""

    label: str
    device_id: str
    link_name: str
    fp16_flops_per_s: float
    link_bytes_per_s: float
    ops_per_comms: float
    all_links_bytes_per_s: float
    all_links_ops_per_comms: float


ESSAY_OPS_COMMS_ROWS: tuple[tuple[str, str], ...] = (
    ("NVIDIA H100-SXM5", "h100-sxm"),
    ("NVIDIA A100", "a100-40gb"),
    ("Tenstorrent Blackhole", "tenstorrent-blackhole-p150"),
    ("Google TPU v5p", "tpu-v5p"),
)


def ops_comms_row(label: str, device: DeviceSpec | str) -> OpsCommsRow:
    """ops:comms of a device's scale-out link (`DeviceSpec.scale_out_link`), counted as the essay does
    (`bidirectional_bytes_per_s`) and over all links of that kind."""
    device = load_device(device)
    link = device.scale_out_link
    if link is None:
        raise ValueError(f"{device.id}: no chip-to-chip link in the catalog")
    flops_per_s = device.peak_for("fp16")
    one, every = bidirectional_bytes_per_s(link), bidirectional_bytes_per_s(link, all_links=True)
    return OpsCommsRow(label, device.id, link.name, flops_per_s, one, ops_per_comms(flops_per_s, one),
                       every, ops_per_comms(flops_per_s, every))


def ops_comms_table(rows: tuple[tuple[str, str], ...] = ESSAY_OPS_COMMS_ROWS) -> list[OpsCommsRow]:
    """The essay's ops:comms table (section 'Scaling out'), one row per (label, device id)."""
    return [ops_comms_row(label, device_id) for label, device_id in rows]


def weight_load_seconds(params: float, devices: int, bytes_per_s: float, bytes_per_param: float = 2.0) -> float:
    """Time to stream every weight once when the model is spread over N accelerators:
    T_mem = b·P / (N · A_bw), 2P/(N·A_bw) for 2-byte weights (essay S8, section 'The GDDR6 Gambit')."""
    return bytes_per_param * params / (devices * bytes_per_s)


# ---- systolic arrays (Y1-Y3; essay section 'Google TPU') -------------------------------------------
def naive_matmul_reads(n: int) -> int:
    """Memory reads of a naive n×n matmul with no reuse: n³ (one operand element per multiply-add;
    the essay counts n³, the order of the misses). Essay Y1, after H.T. Kung (1982)."""
    return n**3


def naive_matmul_space(n: int) -> int:
    """Elements a naive n×n matmul holds: two inputs and the output, 3n² (essay Y1)."""
    return 3 * n**2


def tiled_matmul_reads(n: int, cache_size: float, line_size: float) -> float:
    """Reads of an n×n matmul tiled with √M×√M tiles: Θ(n³ / (b·√M)), M the cache size and b the cache
    line (the order, constant 1; essay Y2, Frigo et al. 1999 cache-oblivious bound)."""
    return n**3 / (line_size * math.sqrt(cache_size))


def systolic_matmul_reads(n: int) -> int:
    """Reads of an n×n matmul on an ideal n×n systolic array: each input and weight element once, 2n²
    (the lower bound; essay Y3)."""
    return 2 * n**2


# ---- economics (E3-E4; essay section 'The GDDR6 Gambit') -------------------------------------------
def memory_share_of_bom(capacity_bytes: float, usd_per_gb: float, bom_usd: float) -> float:
    """Share of a bill of materials spent on memory: capacity (GB, 1e9 B) × $/GB ÷ BOM.
    H100: 80 × $15 / $3,320 ≈ 36% (essay E3)."""
    return capacity_bytes / 1e9 * usd_per_gb / bom_usd


def h100_memory_share_of_bom(device: DeviceSpec | str = "h100-sxm") -> float:
    """E3 from the catalog capacity and the cited E1/E2 constants."""
    device = load_device(device)
    return memory_share_of_bom(device.main_memory.capacity_bytes, HBM3_USD_PER_GB.value, H100_BOM_USD_2023.value)


# ---- model-parallel MLP and its communication (S5-S7, S9; essay section 'Scaling out') -------------
DEEPSEEK_V3_COMMUNICATION_SMS = CitedFigure(  # S9
    20.0, "SMs",
    "DeepSeek-AI, 'DeepSeek-V3 Technical Report', arXiv 2412.19437, sections 3.2.2 and 3.5.1: 20 SMs of the "
    f"H800 run the all-to-all communication kernels (20 of its 132 SMs); cited in {ESSAY}, section 'Scaling out'",
)
H100_SM_COUNT = CitedFigure(  # S9; not a catalog field (the catalog keeps SRAM totals, not SM counts)
    132.0, "SMs",
    "NVIDIA H100 SXM5 datasheet / Hopper tuning guide: 132 SMs (../shared/reference/hardware.md, H100 SXM5 row; "
    "the catalog's h100-sxm shared-memory figure is 228 KiB x 132 SMs). The H800 of the DeepSeek report is the "
    "same GH100 die with 132 SMs",
)


@dataclass(frozen=True, slots=True)
class ModelParallelMLP:
    """Time of one model-parallel MLP (essay S5): the matmuls split over Y chips and the activation traffic
    around them. Compute hides the traffic when `math_seconds` ≥ `comms_seconds`; the step takes between
    max(T_math, T_comms) (perfect overlap) and their sum (none)."""

    math_seconds: float
    comms_seconds: float

    @property
    def comms_hidden(self) -> bool:
        return self.math_seconds >= self.comms_seconds

    @property
    def overlapped_seconds(self) -> float:
        return max(self.math_seconds, self.comms_seconds)

    @property
    def serial_seconds(self) -> float:
        return self.math_seconds + self.comms_seconds


def model_parallel_mlp(batch: float, d_model: float, d_ff: float, chips: int, flops_per_s: float,
                       link_bytes_per_s: float, bytes_per_element: float = 2.0) -> ModelParallelMLP:
    """A 1-D model-parallel MLP (essay S5, after the scaling-book's 'Sharded Matrices'): the up and down
    matmuls bf16[B, D]·[D, F] and [B, F]·[F, D] sharded over Y chips along F, with an AllGather of the
    input activations before and a ReduceScatter of the output after.

    T_math = 2 matmuls × 2BDF FLOPs / (Y·C) = 4BDF / (Y·C).
    T_comms = (AllGather of b·B·D bytes + ReduceScatter of b·B·D bytes) / W = 4BD / W for b = 2-byte
    activations, W the link bytes/s (the essay's ops:comms counting, S1). Exact ring collectives move
    (Y−1)/Y of that (`cost.collectives`); the essay takes the large-Y limit.
    """
    math_seconds = 4.0 * batch * d_model * d_ff / (chips * flops_per_s)
    comms_seconds = 2.0 * bytes_per_element * batch * d_model / link_bytes_per_s
    return ModelParallelMLP(math_seconds, comms_seconds)


def comms_hiding_min_width(chips: int, flops_per_s: float, link_bytes_per_s: float) -> float:
    """The MLP width F above which compute hides the AllGather + ReduceScatter (essay S6): T_math > T_comms
    ⇔ 4BDF/(Y·C) > 4BD/W ⇔ F > Y · C/W, whatever the batch: Y times the chip's ops:comms."""
    return chips * flops_per_s / link_bytes_per_s


@dataclass(frozen=True, slots=True)
class TensorParallelLimit:
    """How many chips a model's MLP can be split over before communication binds (essay S7)."""

    model_id: str
    device_id: str
    d_ff: int                # the dense MLP width F (intermediate_size)
    ops_per_comms: float     # C / W of the device's scale-out link, counted as the essay does (S1)
    max_chips: float         # F / (C/W): comms hidden for Y below this

    @property
    def whole_chips(self) -> int:
        """The most chips that still hide communication: ⌊F·W/C⌋ (DeepSeek-V3 on H100: 16)."""
        return math.floor(self.max_chips)


def tensor_parallel_limit(model: ModelSpec | str = "deepseek-v3",
                          device: DeviceSpec | str = "h100-sxm") -> TensorParallelLimit:
    """S6 solved for Y: comms bound beyond Y = F / (C/W). DeepSeek-V3's dense layers have F = 18,432
    (`intermediate_size`; its MoE experts are 2,048 wide) and H100's ops:comms is 989.4e12 / 900e9 = 1,099.3
    (S1), so Y = 16.77: comms bound beyond ≈ 16 GPUs (essay S7: 18432 / 1099 ≈ 16.8)."""
    model, device = load_model(model), load_device(device)
    row = ops_comms_row(device.name, device)
    return TensorParallelLimit(model.id, device.id, model.intermediate_size, row.ops_per_comms,
                               model.intermediate_size / row.ops_per_comms)


def communication_sm_fraction(communication_sms: float = DEEPSEEK_V3_COMMUNICATION_SMS.value,
                              total_sms: float = H100_SM_COUNT.value) -> float:
    """Share of a GPU's SMs (and their tensor cores) given to communication kernels: 20 / 132 = 15.2% ≈ 15%
    for DeepSeek-V3 on H800/H100 (essay S9)."""
    return communication_sms / total_sms
