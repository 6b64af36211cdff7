"""Seed figures K1-K6: DeepSeek-V3's KV cache with MHA (56 heads of 128) against its MLA latent, and how
many tokens of each fit in an H100's 80 GB HBM and 30.8 MB shared memory (essay section 'Attention')."""

import pytest
from pydantic import ValidationError

from infersim.cost.memory import kv_bytes_per_token, kv_cache_bytes, tokens_that_fit
from infersim.figures import kv_comparison, mha_variant, whole_tokens
from infersim.specs.catalog import load_device, load_model


@pytest.fixture(scope="module")
def kv():
    return kv_comparison("deepseek-v3", "h100-sxm")


def test_deepseek_v3_shapes_from_the_catalog():
    model = load_model("deepseek-v3")
    assert (model.num_layers, model.hidden_size) == (61, 7168)
    assert (model.mla.kv_lora_rank, model.mla.qk_rope_head_dim) == (512, 64)


def test_mha_variant_has_56_heads_and_leaves_the_original_alone():
    model = load_model("deepseek-v3")
    mha = mha_variant(model)
    assert mha.attention == "mha" and mha.mla is None
    assert mha.num_attention_heads == mha.num_key_value_heads == 56  # 7168 / 128
    assert model.attention == "mla"  # the catalog spec is untouched
    with pytest.raises(ValidationError):
        mha.head_dim = 64  # specs stay frozen


def test_k1_mha_bytes_per_token(kv):
    assert kv.mha_bytes_per_token == 2 * 2 * 61 * 56 * 128 == 1_748_992  # 2 bytes · (k, v) · L · H · d_head
    assert round(kv.mha_bytes_per_token / 1e3) == 1749  # ≈ 1,749 KB/token
    mha = mha_variant(load_model("deepseek-v3"))
    assert kv_cache_bytes(mha, "bf16", 4, 1000) == 4000 * kv.mha_bytes_per_token  # linear in tokens
    assert kv_bytes_per_token(mha, "fp8") == kv.mha_bytes_per_token / 2


def test_k2_mha_tokens_in_80_gb(kv):
    assert kv.dram_bytes == load_device("h100-sxm").main_memory.capacity_bytes == 80e9
    assert round(kv.mha_tokens_in_dram) == 45_741  # 80e9 / 1,748,992
    assert round(kv.mha_tokens_in_dram, -3) == 46_000  # "≈ 46,000"


def test_k3_mla_bytes_per_token_without_and_with_the_rope_key(kv):
    assert kv.mla_bytes_per_token == 2 * 61 * 512 == 62_464  # the essay's figure: latent only
    assert round(kv.mla_bytes_per_token / 1e3, 1) == 62.5
    assert kv.mla_rope_bytes_per_token == 2 * 61 * (512 + 64) == 70_272  # exact DeepSeek cache
    assert round(kv.mla_rope_bytes_per_token / 1e3, 1) == 70.3


def test_k4_mla_is_28_times_smaller(kv):
    assert round(kv.mha_over_mla) == 28  # 1,748,992 / 62,464 = 28.0 = 2·56·128 / 512
    assert kv.mha_over_mla == 2 * 56 * 128 / 512
    assert round(kv.mha_over_mla_rope, 1) == 24.9  # with the RoPE key: 1,748,992 / 70,272


def test_k5_mla_tokens_in_80_gb(kv):
    assert round(kv.mla_tokens_in_dram / 1e6, 1) == 1.3  # 80e9 / 62,464 = 1.28 M
    assert round(kv.mla_rope_tokens_in_dram / 1e6, 1) == 1.1  # 80e9 / 70,272 = 1.14 M


def test_k6_tokens_in_h100_sram(kv):
    assert kv.sram_bytes == 30.8e6  # 228 KiB × 132 SMs, the catalog's shared-memory tier
    assert whole_tokens(kv.mha_tokens_in_sram) == 17  # 30.8e6 / 1,748,992 = 17.6
    assert whole_tokens(kv.mla_tokens_in_sram) == 493  # exact: 30.8e6 / 62,464 = 493.1
    # the essay's 492 divides by its rounded 62.5 KB: 30.8e6 / 62,500 = 492.8
    assert whole_tokens(tokens_that_fit(kv.sram_bytes, round(kv.mla_bytes_per_token, -2))) == 492
    assert whole_tokens(kv.mla_rope_tokens_in_sram) == 438  # with the RoPE key: 30.8e6 / 70,272
