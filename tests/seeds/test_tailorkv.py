"""Seed figure R4 ("Hardware/Model Co-Design in Modern AI"): TailorKV serves Llama-3.1-8B at 128k context on
one RTX 3090 at 82 ms per decoded token (arXiv 2505.19586 abstract). The prediction is the validate case 71a
(its assumptions are TailorKV's own settings, written in published.yaml), scored by the cost model."""

from __future__ import annotations

import pytest

from infersim.validate.cases import published_cases
from infersim.validate.score import score_case


@pytest.fixture(scope="module")
def tailorkv():
    case = next(c for c in published_cases() if c.id == "71a")
    return case, score_case(case)


def test_r4_is_predicted_within_a_factor_of_1_5(tailorkv):
    case, result = tailorkv
    assert case.value == 0.082 and case.device == "rtx-3090" and case.prompt_tokens == 131_072
    assert result.predicted is not None
    assert 1 / 1.5 < result.predicted / 0.082 < 1.5


def test_r4_assumptions_are_tailorkvs_settings_not_a_fit(tailorkv):
    case, _ = tailorkv
    offload = case.kv_cache["offload"]
    assert (offload["fetch_tokens"], offload["score_channels"], offload["dtype"]) == (128, 8, "fp16")
    assert offload["fraction"] == 31 / 32  # layer 0 of 32 quantized on the GPU, 31 layers on the host
    assert case.kv_dtype == "int1-kivi-g64" and case.runtime == "eager"
    assert "Nothing here is fitted" in case.assumptions


def test_r4_decomposition():
    from infersim.cost.estimate import estimate
    from infersim.specs.kvcache import KVOffload

    est = estimate("llama-3.1-8b", "rtx-3090", prompt_tokens=131_072, output_tokens=20, weights_dtype="fp16",
                   activations_dtype="fp16", kv_dtype="int1-kivi-g64", runtime="eager",
                   kv_offload=KVOffload(fraction=31 / 32, fetch_tokens=128, score_channels=8, dtype="fp16"))
    # PCIe per step (the mean step holds 131,072 + 10 tokens): 31 layers' worth of 8 key channels x 8 heads
    # x 2 B per token, and 32 x 128 fetched tokens x 4 KiB (K and V of 8 heads of 128, fp16)
    assert est.decode.host_link_bytes == pytest.approx(131_082 * 31 / 32 * 32 * 8 * 8 * 2 + 32 * 128 * 4096)
    assert est.decode.host_link_seconds < est.decode.device_seconds  # hidden under the weight stream
    assert est.decode.bound_by == "host"  # eager Hugging Face: host launches bind
    assert est.memory.kv_cache_bytes < 0.1e9 < 16e9 < est.memory.kv_host_bytes + 1e9
