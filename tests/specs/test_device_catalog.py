"""The device catalog: every file loads, every figure names its source, and the figures agree with the
datasheets and the essays' accelerator table where those pin them."""

from __future__ import annotations

import pytest

from infersim.errors import InfersimError
from infersim.specs.catalog import device_ids, load_device

EXPECTED_IDS = {
    "h100-sxm", "h100-pcie", "h200", "b200", "a100-40gb", "a100-80gb", "l40s", "rtx-3090", "rtx-4090",
    "mi300x", "tpu-v4", "tpu-v4i", "tpu-v5e", "tpu-v5p", "tpu-v6e", "groq-lpu", "cerebras-wse-2",
    "cerebras-wse-3", "sambanova-sn40l", "tenstorrent-wormhole-n300", "tenstorrent-wormhole", "tenstorrent-blackhole-p150",
    "gaudi-3", "xeon-spr",
}

SOURCE_KINDS = ("derived:", "assumed:", "essay ", "measured:")


def test_device_ids_are_exactly_the_catalog():
    assert set(device_ids()) == EXPECTED_IDS
    assert len(device_ids()) == 24


@pytest.mark.parametrize("device_id", sorted(EXPECTED_IDS))
def test_every_device_loads(device_id):
    spec = load_device(device_id)
    assert spec.id == device_id
    assert spec.resident_tiers, device_id
    assert spec.capacity_bytes > 0


@pytest.mark.parametrize("device_id", sorted(EXPECTED_IDS))
def test_sources_cover_the_key_figures(device_id):
    spec = load_device(device_id)
    src = spec.sources
    for fmt in spec.peak_flops_per_s:
        assert src.get(f"peak_flops_per_s.{fmt}", "").strip(), f"{device_id}: peak {fmt} has no source"
    for i, tier in enumerate(spec.memory):
        assert src.get(f"memory.{i}.capacity_bytes", "").strip(), f"{device_id}: {tier.name} capacity"
        if tier.bytes_per_s is not None:
            assert src.get(f"memory.{i}.bytes_per_s", "").strip(), f"{device_id}: {tier.name} bandwidth"
    for i, _link in enumerate(spec.links):
        assert src.get(f"links.{i}.bytes_per_s_per_direction", "").strip()
    assert src.get("tdp_watts", "").strip()
    for field in ("matmul_compute_fraction", "attention_compute_fraction", "memory_fraction",
                  "kernel_overhead_seconds", "host_launch_seconds"):
        assert src.get(f"efficiency.{field}", "").strip(), f"{device_id}: efficiency.{field}"
    assert any(key.startswith("price.") for key in src)


@pytest.mark.parametrize("device_id", sorted(EXPECTED_IDS - {"h100-sxm"}))
def test_unmeasured_devices_do_not_claim_measured_efficiency(device_id):
    spec = load_device(device_id)
    for key, source in spec.sources.items():
        if key.startswith("efficiency."):
            assert not source.startswith("measured:"), f"{device_id}: {key} claims a measurement"


def test_h100_ops_per_byte():
    h100 = load_device("h100-sxm")
    assert h100.ops_per_byte("bf16") == pytest.approx(989.4e12 / 3.35e12)
    assert round(h100.ops_per_byte("bf16"), 1) == 295.3


@pytest.mark.parametrize("device_id", sorted(EXPECTED_IDS))
def test_fp8_peak_is_dense(device_id):
    """A dense FP8 peak is at most twice the BF16 peak; more means a sparse figure slipped in.

    5% slack: datasheets round each format at slightly different clocks (L40S: 362.05 BF16 vs 733 FP8),
    while a sparse figure would be a full 2x over."""
    spec = load_device(device_id)
    if "fp8" in spec.peak_flops_per_s:
        assert spec.peak_flops_per_s["fp8"] <= 2 * spec.peak_for("bf16") * 1.05, device_id


@pytest.mark.parametrize("device_id", sorted(EXPECTED_IDS))
def test_int8_int4_fp4_not_above_four_times_bf16(device_id):
    spec = load_device(device_id)
    for fmt, factor in (("int8", 4), ("int4", 8), ("fp4", 4)):
        if fmt in spec.peak_flops_per_s:
            assert spec.peak_flops_per_s[fmt] <= factor * spec.peak_for("bf16") * 1.05, (device_id, fmt)


def test_formats_the_hardware_lacks_are_absent():
    for device_id in ("a100-40gb", "a100-80gb", "rtx-3090", "tpu-v4", "tpu-v4i", "tpu-v5e", "tpu-v5p"):
        assert "fp8" not in load_device(device_id).peak_flops_per_s, device_id
    assert "fp4" in load_device("b200").peak_flops_per_s


def test_capacity_ordering():
    assert load_device("h200").capacity_bytes > load_device("h100-sxm").capacity_bytes
    assert load_device("mi300x").capacity_bytes == 192e9
    assert load_device("a100-80gb").capacity_bytes == 2 * load_device("a100-40gb").capacity_bytes
    assert load_device("b200").main_memory.bytes_per_s > load_device("h200").main_memory.bytes_per_s


def test_groq_only_resident_tier_is_sram():
    groq = load_device("groq-lpu")
    assert len(groq.resident_tiers) == 1
    (tier,) = groq.resident_tiers
    assert tier.technology == "sram"
    assert tier.capacity_bytes == 230e6
    assert tier.bytes_per_s == 80e12
    assert len(groq.memory) == 1


def test_wafers_keep_weights_in_sram_first():
    for device_id, sram_bytes in (("cerebras-wse-3", 44e9), ("cerebras-wse-2", 40e9)):
        wafer = load_device(device_id)
        fastest = wafer.resident_tiers[0]
        assert fastest.technology == "sram" and fastest.capacity_bytes == sram_bytes
        assert any(t.name == "memoryx" for t in wafer.resident_tiers)
        assert wafer.execution_model == "wafer"


def _tier(device_id: str, name: str):
    return next(t for t in load_device(device_id).memory if t.name == name)


def test_essay_accelerator_table_inputs():
    """The catalog holds the essay's table inputs (seed_figures.md); the derivations live elsewhere."""
    a100 = load_device("a100-40gb")
    assert a100.peak_for("fp16") == 312e12 and a100.main_memory.capacity_bytes == 40e9
    smem = _tier("a100-40gb", "smem")
    assert round(smem.capacity_bytes / 1e6, 1) == 20.7 and smem.bytes_per_s == 19e12

    bh = load_device("tenstorrent-blackhole-p150")
    assert bh.peak_for("fp16") == 387e12
    assert bh.main_memory.capacity_bytes == 32e9 and bh.main_memory.bytes_per_s == 512e9
    assert round(bh.on_chip_sram.capacity_bytes / 1e6, 1) == 204.9
    assert round(bh.ops_per_byte("fp16", bh.on_chip_sram), 0) == 44

    v4i = load_device("tpu-v4i")
    assert v4i.peak_for("bf16") == 138e12
    assert v4i.main_memory.capacity_bytes == 8e9 and v4i.main_memory.bytes_per_s == 0.61e12
    assert round(v4i.ops_per_byte("bf16"), 1) == 226.2
    assert v4i.on_chip_sram.capacity_bytes == 144e6
    assert round(v4i.ops_per_byte("bf16", v4i.on_chip_sram), 1) == 10.2


def test_essay_scale_out_links():
    """The essay's per-chip/per-link bidirectional figures are twice the per-direction YAML figure."""
    cases = {"h100-sxm": 900e9, "a100-40gb": 600e9, "tenstorrent-blackhole-p150": 200e9, "tpu-v5p": 180e9}
    for device_id, bidir in cases.items():
        link = load_device(device_id).scale_out_link
        assert 2 * link.bytes_per_s_per_direction == pytest.approx(bidir), device_id
    v5p = load_device("tpu-v5p").scale_out_link
    assert v5p.count == 6


def test_malformed_yaml_is_rejected(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: broken\npeak_flops_per_s: {bf16: [1, 2\n")
    with pytest.raises(InfersimError, match="malformed YAML"):
        load_device(str(bad))


def test_figure_without_source_is_rejected(tmp_path):
    text = (load_device.__globals__["DEVICES_DIR"] / "h100-sxm.yaml").read_text()
    unsourced = text.replace(
        'tdp_watts: {value: 700, source: "NVIDIA H100 datasheet: up to 700 W"}', "tdp_watts: 700"
    )
    assert unsourced != text
    path = tmp_path / "mine.yaml"
    path.write_text(unsourced)
    with pytest.raises(InfersimError, match="has no source"):
        load_device(str(path))


def test_user_copy_of_a_catalog_file_loads(tmp_path):
    text = (load_device.__globals__["DEVICES_DIR"] / "groq-lpu.yaml").read_text()
    path = tmp_path / "groq.yaml"
    path.write_text(text)
    assert load_device(str(path)).id == "groq-lpu"


def test_workloads_fill_the_capacity_the_driver_reports_not_the_marketed_one():
    """NVML reports 81,920 MiB on an A100 80GB (thundergolfer.com, in the catalog): TensorRT-LLM ran Llama-2-7B
    in fp16 at batch 60 with 2,176 tokens each on one (TRT-061, validation row 23b), 80.3 GB of weights and
    cache that 80e9 bytes could not hold."""
    from infersim.cost.estimate import estimate

    a100 = load_device("a100-80gb")
    assert a100.main_memory.capacity_bytes == 80e9 and a100.capacity_bytes == 81_920 * 2**20
    assert load_device("rtx-3090").capacity_bytes == 24e9  # no reported total in the catalog: the marketed one
    est = estimate("llama-2-7b", "a100-80gb", batch=60, prompt_tokens=128, output_tokens=2048, weights_dtype="fp16",
                   kv_dtype="fp16", activations_dtype="fp16", runtime="compiled")
    assert 80e9 < est.memory.total_bytes < a100.capacity_bytes and est.memory.fits
