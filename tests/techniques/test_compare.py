"""`infersim techniques`: each technique against the baseline, on the same cost model."""

from __future__ import annotations

import json

import pytest

from infersim.errors import InfersimError
from infersim.techniques.compare import TECHNIQUES, compare_techniques


def _rows(batch, **kw):
    return {r.technique: r for r in compare_techniques("llama-3.1-8b", ["h100-sxm"], batch=batch, output_tokens=32,
                                                       **kw)}


def test_speculation_gains_more_at_batch_1_than_at_batch_64_on_an_h100():
    one, many = _rows(1), _rows(64)
    assert one["speculative: EAGLE"].speedup > many["speculative: EAGLE"].speedup > 1.0
    assert set(one) == {"baseline", *TECHNIQUES} and one["baseline"].speedup == 1.0


def test_kv_format_and_attention_change_the_fit_on_an_80_gb_card():
    rows = _rows(1, prompt_tokens=8192)
    base = rows["baseline"]
    assert rows["fp8 KV cache"].max_batch > base.max_batch > rows["attention as MHA"].max_batch
    # at batch 1 both reach the model's 131,072 positions; at 16 memory binds the baseline first
    assert rows["attention as MQA"].max_context_tokens == base.max_context_tokens == 131_072
    many = _rows(16, prompt_tokens=8192)
    assert many["attention as MQA"].max_context_tokens > many["baseline"].max_context_tokens
    # fp8 weights halve the bytes decode streams: faster on an H100, and they free memory for more sequences
    assert rows["fp8 weights"].tpot_seconds < base.tpot_seconds and rows["fp8 weights"].max_batch > base.max_batch


def test_what_does_not_apply_says_why():
    rows = {r.technique: r for r in compare_techniques("deepseek-v2-lite", ["h100-sxm"], output_tokens=8,
                                                       techniques=["attention as MQA"])}
    assert rows["attention as MQA"].tpot_seconds is None and "MLA" in rows["attention as MQA"].note
    mamba = {r.technique: r for r in compare_techniques("mamba-2.8b", ["h100-sxm"], output_tokens=8,
                                                        techniques=["fp8 KV cache", "attention as MHA", "fp8 weights"])}
    assert "no attention layers" in mamba["fp8 KV cache"].note and mamba["attention as MHA"].speedup is None
    assert mamba["fp8 weights"].speedup > 1.0


def test_every_device_gets_its_baseline_first():
    rows = compare_techniques("llama-3.1-8b", ["h100-sxm", "a100-80gb"], output_tokens=8, techniques=["fp8 weights"])
    assert [(r.device, r.technique) for r in rows] == [("h100-sxm", "baseline"), ("h100-sxm", "fp8 weights"),
                                                      ("a100-80gb", "baseline"), ("a100-80gb", "fp8 weights")]


def test_unknown_technique_and_cli(cli):
    with pytest.raises(InfersimError, match="unknown technique 'magic'"):
        compare_techniques("llama-3.1-8b", ["h100-sxm"], techniques=["magic"])
    code, out, err = cli("techniques", "-m", "llama-3.1-8b", "-d", "h100-sxm", "-o", "8", "--json")
    assert code == 0 and json.loads(out)[0]["technique"] == "baseline"
    code, out, err = cli("techniques", "-m", "llama-3.1-8b", "-d", "h100-sxm", "-t", "magic")
    assert code == 2 and err.count("\n") == 1


def test_a_lean_mlp_and_a_chunked_prefill_change_what_fits_at_a_long_prompt():
    rows = {r.technique: r for r in compare_techniques("llama-3.1-8b", ["h100-sxm"], prompt_tokens=32_768,
                                                       output_tokens=8,
                                                       techniques=["int4 MLP weights", "chunked prefill"])}
    base = rows["baseline"]
    # int4 MLP: less to stream each step and more room; chunks: the same step, but one chunk's activations
    assert rows["int4 MLP weights"].tpot_seconds < base.tpot_seconds
    assert rows["int4 MLP weights"].memory_bytes < base.memory_bytes
    assert rows["chunked prefill"].tpot_seconds == base.tpot_seconds
    assert rows["chunked prefill"].max_batch > base.max_batch


def test_a_system_keeps_its_baseline_layout_for_every_technique():
    """Llama-3.1-70B on a DGX H100 (its default tp=8): every row runs on the same 8 devices under tp=8, so fp8
    weights halve each device's weights and the MHA variant's larger cache shrinks the largest batch."""
    rows = {r.technique: r for r in compare_techniques("llama-3.1-70b", [], systems=["dgx-h100"], output_tokens=16)}
    assert {r.device for r in rows.values()} == {"dgx-h100: 8 x h100-sxm, tp=8"}
    assert rows["baseline"].fits and rows["fp8 weights"].memory_bytes < rows["baseline"].memory_bytes
    assert rows["attention as MHA"].max_batch < rows["baseline"].max_batch
    assert rows["speculative: n-gram"].speedup > 1 and rows["speculative: EAGLE"].memory_bytes > rows["baseline"].memory_bytes


def test_techniques_need_a_device_or_a_system(cli):
    code, _, err = cli("techniques", "-m", "llama-3.1-8b")
    assert code == 2 and "give at least one --device or --system" in err
