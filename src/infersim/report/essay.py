"""`infersim essay`: the figures of "Domain specific architectures for AI inference", recomputed from the
catalog by `infersim.figures`, as rich tables (`render_essay`) or plain numbers (`essay_figures`)."""

from __future__ import annotations

from typing import Any

from infersim import figures as fig
from infersim.cost.intensity import matmul_intensity
from infersim.specs.catalog import load_device, load_model

KV_MODEL = "deepseek-v3"
KV_DEVICE = "h100-sxm"


def essay_figures() -> dict[str, Any]:
    """Every figure the library derives for the essay, keyed by its id in seed_figures.md, as plain
    numbers (JSON-ready). Ratios are unrounded; the essay's rounding is the reader's (and the tests')."""
    table = fig.accelerator_table()
    crit = fig.critical_batches(KV_DEVICE)
    kv = fig.kv_comparison(KV_MODEL, KV_DEVICE)
    h100 = load_device("h100-sxm")
    blackhole = load_device("tenstorrent-blackhole-p150")
    deepseek = load_model(KV_MODEL)
    return {
        "F1_F2_full_adders": fig.full_adders_by_format(),
        "F3_bf16_4096x4096_bytes": fig.tensor_bytes((4096, 4096), "bf16"),
        "F4_optimal_precision_bits": {
            "low": fig.OPTIMAL_PRECISION_BITS.range[0], "high": fig.OPTIMAL_PRECISION_BITS.range[1],
            "source": fig.OPTIMAL_PRECISION_BITS.source,
        },
        "accelerator_table": [
            {
                "label": r.label, "device_id": r.device_id,
                "fp16_flops_per_s": r.fp16_flops_per_s,
                "dram_bytes": r.dram_bytes, "dram_bytes_per_s": r.dram_bytes_per_s,
                "sram_bytes": r.sram_bytes, "sram_bytes_per_s": r.sram_bytes_per_s,
                "ops_per_byte_dram": r.ops_per_byte_dram, "ops_per_byte_sram": r.ops_per_byte_sram,
                "exact_ops_per_byte_dram": r.exact_ops_per_byte_dram,
                "exact_ops_per_byte_sram": r.exact_ops_per_byte_sram,
            }
            for r in table
        ],
        "M1_matmul_intensity_b64_d7168_f18432": matmul_intensity(64, 7168, 18432),
        "M2_critical_batch_hbm": crit.hbm,
        "M3_critical_batch_sram": crit.sram,
        "M4_critical_batch_hbm_fp8": crit.hbm_fp8,
        "A2_prefill_attention_critical_tokens": crit.prefill_attention,
        "A3_decode_attention_intensity_s8192": fig.decode_attention_intensity(8192),
        "K1_mha_kv_bytes_per_token": kv.mha_bytes_per_token,
        "K2_mha_tokens_in_dram": kv.mha_tokens_in_dram,
        "K3_mla_kv_bytes_per_token": kv.mla_bytes_per_token,
        "K3_mla_kv_bytes_per_token_with_rope": kv.mla_rope_bytes_per_token,
        "K4_mha_over_mla": kv.mha_over_mla,
        "K4_mha_over_mla_with_rope": kv.mha_over_mla_rope,
        "K5_mla_tokens_in_dram": kv.mla_tokens_in_dram,
        "K5_mla_tokens_in_dram_with_rope": kv.mla_rope_tokens_in_dram,
        "K6_mha_tokens_in_sram": kv.mha_tokens_in_sram,
        "K6_mla_tokens_in_sram": kv.mla_tokens_in_sram,
        "K6_mla_tokens_in_sram_with_rope": kv.mla_rope_tokens_in_sram,
        "ops_comms_table": [
            {"label": r.label, "device_id": r.device_id, "link": r.link_name, "fp16_flops_per_s": r.fp16_flops_per_s,
             "link_bytes_per_s": r.link_bytes_per_s, "ops_per_comms": r.ops_per_comms,
             "all_links_bytes_per_s": r.all_links_bytes_per_s, "all_links_ops_per_comms": r.all_links_ops_per_comms}
            for r in fig.ops_comms_table()
        ],
        "S8_weight_load_seconds_deepseek_v3_8x_h100": fig.weight_load_seconds(
            deepseek.total_params, 8, h100.main_memory.bytes_per_s),
        "Y1_naive_reads_n128": fig.naive_matmul_reads(128),
        "Y1_naive_space_n128": fig.naive_matmul_space(128),
        "Y3_systolic_reads_n128": fig.systolic_matmul_reads(128),
        "E1_h100_bom_usd": fig.H100_BOM_USD_2023.value,
        "E2_hbm3_usd_per_gb": fig.HBM3_USD_PER_GB.value,
        "E3_h100_memory_share_of_bom": fig.h100_memory_share_of_bom(h100),
        "E4_blackhole_dram_bytes_per_s": blackhole.main_memory.bytes_per_s,
        "E4_h100_dram_bytes_per_s": h100.main_memory.bytes_per_s,
    }


def _tb_per_s(value: float) -> str:
    """A bandwidth in TB/s as the essay prints it: at least one decimal (2.0), two where it has them (3.35)."""
    return f"{value:.1f}" if round(value, 1) == value else f"{value:.2f}"


def render_essay():
    """The essay's accelerator table, critical batches, MHA-vs-MLA KV cache and ops:comms as rich
    Tables in one `rich.console.Group`, each figure computed by `infersim.figures`."""
    from rich.console import Group
    from rich.table import Table

    accel = Table(title="Accelerators (essay table, Feb 2025): ops:byte = FLOP/s ÷ bytes/s")
    for col in ("hardware", "FP16 TFLOP/s", "DRAM GB", "DRAM TB/s", "ops:byte DRAM", "SRAM MB", "SRAM TB/s",
                "ops:byte SRAM"):
        accel.add_column(col, justify="left" if col == "hardware" else "right")
    for r in fig.accelerator_table():
        accel.add_row(
            r.label, f"{r.fp16_tflops_shown:g}", f"{r.dram_bytes / 1e9:g}", _tb_per_s(r.dram_tb_per_s_shown),
            f"{fig.truncate(r.ops_per_byte_dram):.1f}", f"{fig.truncate(r.sram_bytes / 1e6):g}",
            f"{r.sram_tb_per_s_shown:g}", f"{fig.truncate(r.ops_per_byte_sram):.1f}",
        )
    accel.caption = ("as the essay computes it: shown figures divided, results cut to 0.1; SRAM is the cores' "
                     "L1/shared memory; A100 pairs the 40 GB card's capacity with the 80 GB card's bandwidth")

    crit = fig.critical_batches(KV_DEVICE)
    batches = Table(title=f"Critical sizes on {crit.device_id}: compute bound at or above")
    batches.add_column("figure")
    batches.add_column("value", justify="right")
    batches.add_row("M2 matmul batch, BF16 weights from HBM", f"{crit.hbm:.1f}")
    batches.add_row("M3 matmul batch, weights from SRAM", f"{crit.sram:.1f}")
    batches.add_row("M4 matmul batch, FP8 weights from HBM", f"{crit.hbm_fp8:.1f}")
    batches.add_row("A2 prefill attention tokens (T/2 ≥ ops:byte)", f"{crit.prefill_attention:.1f}")

    kv = fig.kv_comparison(KV_MODEL, KV_DEVICE)
    cache = Table(title=f"KV cache per token, {kv.model_id} shapes, BF16, on {kv.device_id} "
                        f"({kv.dram_bytes / 1e9:g} GB DRAM, {kv.sram_bytes / 1e6:.1f} MB SRAM)")
    for col in ("attention", "KB/token", "tokens in DRAM", "tokens in SRAM", "MHA ÷ this"):
        cache.add_column(col, justify="left" if col == "attention" else "right")
    rows = (
        ("MHA (56 heads × 128)", kv.mha_bytes_per_token, kv.mha_tokens_in_dram, kv.mha_tokens_in_sram),
        ("MLA latent (essay, no RoPE key)", kv.mla_bytes_per_token, kv.mla_tokens_in_dram, kv.mla_tokens_in_sram),
        ("MLA latent + RoPE key (exact)", kv.mla_rope_bytes_per_token, kv.mla_rope_tokens_in_dram,
         kv.mla_rope_tokens_in_sram),
    )
    for name, per_token, in_dram, in_sram in rows:
        cache.add_row(name, f"{per_token / 1e3:,.1f}", f"{in_dram:,.0f}", f"{fig.whole_tokens(in_sram):,}",
                      f"{kv.mha_bytes_per_token / per_token:.1f}×")

    comms = Table(title="ops:comms = FLOP/s ÷ link bytes/s (one link entry, both directions, as the essay)")
    for col in ("hardware", "link", "FP16 TFLOP/s", "GB/s", "ops:comms", "all links GB/s", "all links ops:comms"):
        comms.add_column(col, justify="left" if col in ("hardware", "link") else "right")
    for r in fig.ops_comms_table():
        comms.add_row(r.label, r.link_name, f"{r.fp16_flops_per_s / 1e12:.0f}", f"{r.link_bytes_per_s / 1e9:.0f}",
                      f"{r.ops_per_comms:.0f}", f"{r.all_links_bytes_per_s / 1e9:.0f}",
                      f"{r.all_links_ops_per_comms:.0f}")

    return Group(accel, batches, cache, comms)
