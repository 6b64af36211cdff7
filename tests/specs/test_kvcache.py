"""The KV-cache policy spec: token counts by hand, validation as one clear line, CLI amounts."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from infersim.errors import InfersimError
from infersim.specs.catalog import load_model
from infersim.specs.kvcache import KVBudget, KVCache, KVOffload, kv_cache_from_options, share_or_tokens


@pytest.fixture(scope="module")
def llama():
    return load_model("llama-3.1-8b")


def test_budget_keeps_at_most_its_tokens(llama):
    kv = KVCache(budget=KVBudget(tokens=1024))
    assert kv.budget.sinks == 4  # StreamingLLM's default
    assert kv.kept_tokens(llama, 500.0) == 500 and kv.kept_tokens(llama, 10_000.0) == 1024
    h2o = KVCache(budget=KVBudget(fraction=0.2, eviction="h2o"))
    assert h2o.budget.sinks == 0 and h2o.kept_tokens(llama, 10_000.0) == 2000
    # arrays of steps work as numbers do
    assert list(kv.kept_tokens(llama, np.array([10.0, 2000.0]))) == [10, 1024]


def test_fraction_budget_never_drops_below_the_sinks(llama):
    kv = KVCache(budget=KVBudget(fraction=0.01, sink_tokens=8))
    assert kv.kept_tokens(llama, 100.0) == 8  # 1% of 100 is 1, but the 8 sinks stay
    assert kv.kept_tokens(llama, 5.0) == 5  # never more than the tokens seen


def test_budget_below_its_sinks_is_refused():
    with pytest.raises(ValidationError, match="below its 4 attention sinks"):
        KVBudget(tokens=3)
    with pytest.raises(ValidationError, match="exactly one"):
        KVBudget(tokens=10, fraction=0.5)


def test_sliding_window_and_budget_compose():
    mistral = load_model("mistral-7b")
    assert mistral.sliding_window == 4096
    assert KVCache().kept_tokens(mistral, 10_000.0) == 4096  # the model's window alone
    assert KVCache(budget=KVBudget(tokens=1000)).kept_tokens(mistral, 10_000.0) == 1000
    assert KVCache(budget=KVBudget(fraction=0.5)).kept_tokens(mistral, 10_000.0) == 2048  # half the window


def test_offload_by_fraction_and_by_tokens(llama):
    kv = KVCache(offload=KVOffload(fraction=0.75))
    assert (kv.host_tokens(llama, 1000.0), kv.device_tokens(llama, 1000.0), kv.fetched_tokens(llama, 1000.0)) \
        == (750, 250, 750)
    oldest = KVCache(offload=KVOffload(tokens=600, fetch_tokens=100, score_channels=8))
    assert oldest.host_tokens(llama, 1000.0) == 600 and oldest.host_tokens(llama, 400.0) == 400
    assert oldest.fetched_tokens(llama, 1000.0) == 100
    assert oldest.attended_tokens(llama, 1000.0) == 400 + 100  # D + F


@pytest.mark.parametrize("fields, words", [
    ({"fraction": -0.1}, "between 0 and 1, got -0.1"),
    ({"fraction": 1.5}, "between 0 and 1"),
    ({"tokens": -5}, "greater than or equal to 0"),
    ({"fraction": 0.5, "score_channels": 8}, "give fetch_tokens too"),
    ({"fraction": 0.5, "dtype": "fp9"}, "unknown number format 'fp9'"),
])
def test_bad_offload(fields, words):
    with pytest.raises(ValidationError, match=words):
        KVOffload(**fields)


def test_paged_allocation_by_hand(llama):
    kv = KVCache(block_tokens=16)
    assert kv.allocated_tokens(1000.0) == 1008  # ⌈1000/16⌉ = 63 blocks of 16
    assert kv.allocated_tokens(1024.0) == 1024  # whole blocks waste nothing
    assert KVCache().allocated_tokens(1000.0) == 1000


def test_longest_sequence_that_fits_inverts_the_policy(llama):
    assert KVCache().max_tokens_for(llama, 5000, 2**40) == 5000
    assert KVCache(block_tokens=16).max_tokens_for(llama, 5000, 2**40) == 4992  # 312 whole blocks
    assert KVCache(offload=KVOffload(fraction=0.5)).max_tokens_for(llama, 5000, 2**40) == 10_000
    assert KVCache(budget=KVBudget(tokens=4096)).max_tokens_for(llama, 5000, 2**40) is None  # never outgrows it


@pytest.mark.parametrize("text, parsed", [("20%", (0.2, None)), ("0.5", (0.5, None)), ("1", (1.0, None)),
                                          ("4096", (None, 4096))])
def test_cli_amounts(text, parsed):
    assert share_or_tokens(text, "--kv-budget") == parsed


@pytest.mark.parametrize("options, words", [
    ({"budget": "2"}, "below its 4 attention sinks"),
    ({"budget": "10", "sinks": 20}, "below its 20 attention sinks"),
    ({"offload": "-0.1"}, "must not be negative"),
    ({"offload": "lots"}, "a fraction (0.2 or 20%) or a number of tokens"),
    ({"budget": "1.5"}, "must be whole"),
    ({"fetch_tokens": 8}, "need --kv-offload"),
    ({"sinks": 4}, "needs a --kv-budget"),
    ({"mla_decode": "both"}, "absorbed or decompressed"),
    ({"block_tokens": 0}, "block_tokens"),
])
def test_cli_options_fail_in_one_line(options, words):
    with pytest.raises(InfersimError) as info:
        kv_cache_from_options(**options)
    assert words in str(info.value) and "\n" not in str(info.value)
