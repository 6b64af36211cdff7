"""A static batch shape: matmuls and collectives over the padded rows, attention and caches per real sequence."""

from __future__ import annotations

import pytest

from infersim.cost.estimate import estimate
from infersim.errors import InfersimError

KW = dict(system="tenstorrent-galaxy", tp=32, prompt_tokens=4096, output_tokens=2, weights_dtype="bfp8",
          runtime="compiled")


def _rows(est):
    return {r.name: r for r in est.ops if r.phase == "decode"}


def test_padding_runs_the_matmuls_over_the_shape_and_attention_over_the_sequences():
    real = estimate("llama-3.1-70b", batch=1, **KW)
    padded = estimate("llama-3.1-70b", batch=1, padded_batch=32, **KW)
    full = estimate("llama-3.1-70b", batch=32, **KW)
    r, p, f = _rows(real), _rows(padded), _rows(full)
    assert p["gate_up_proj"].flops == pytest.approx(f["gate_up_proj"].flops)  # 32 rows
    assert p["attn_all_reduce"].wire_bytes == pytest.approx(f["attn_all_reduce"].wire_bytes)
    assert p["attn_score"].kv_bytes == pytest.approx(r["attn_score"].kv_bytes)  # one sequence's cache
    assert real.tpot_seconds <= padded.tpot_seconds <= full.tpot_seconds
    assert padded.memory.kv_cache_bytes == real.memory.kv_cache_bytes and padded.padded_batch == 32
    assert padded.output_tokens_per_s_per_user == pytest.approx(1 / padded.tpot_seconds)


def test_a_shape_equal_to_the_batch_changes_nothing():
    plain = estimate("llama-3.1-70b", batch=8, **KW)
    same = estimate("llama-3.1-70b", batch=8, padded_batch=8, **KW)
    assert same.tpot_seconds == plain.tpot_seconds and same.padded_batch is None


@pytest.mark.parametrize("kwargs, words", [
    (dict(batch=8, padded_batch=4), "at least the batch"),
    (dict(batch=2, padded_batch=8, pp=2, tp=16), "dp = pp = 1"),
])
def test_bad_shapes_are_one_line_errors(kwargs, words):
    with pytest.raises(InfersimError, match=words):
        estimate("llama-3.1-70b", **{**KW, **kwargs})
