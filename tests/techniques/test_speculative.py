"""Speculative decoding: Leviathan's expected tokens, a verify pass that is nearly free only while memory
bound, and the speedup that falls as the batch grows."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infersim.cost.estimate import estimate
from infersim.errors import InfersimError
from infersim.techniques.speculative import (Drafter, best_draft_length, eagle_head, expected_tokens_per_step,
                                             make_speculation, speculate)
from infersim.specs.catalog import load_model


def test_expected_tokens_by_hand():
    assert expected_tokens_per_step(0.8, 4) == pytest.approx((1 - 0.8**5) / 0.2)  # 3.3616
    assert expected_tokens_per_step(0.0, 5) == 1.0  # only the target's own token


@settings(max_examples=60, deadline=None)
@given(alpha=st.floats(0.0, 0.99), gamma=st.integers(1, 12))
def test_expected_tokens_grow_with_alpha_and_gamma_and_stay_in_range(alpha, gamma):
    e = expected_tokens_per_step(alpha, gamma)
    assert 1.0 <= e <= gamma + 1 + 1e-9
    assert expected_tokens_per_step(alpha, gamma + 1) >= e - 1e-12
    assert expected_tokens_per_step(min(alpha + 0.005, 0.995), gamma) >= e - 1e-12


def test_verifying_a_few_tokens_is_nearly_free_while_memory_bound_and_not_when_compute_bound():
    one = estimate("llama-3.1-8b", "h100-sxm", batch=1, output_tokens=8)
    four = estimate("llama-3.1-8b", "h100-sxm", batch=1, output_tokens=8, decode_tokens=4)
    assert four.tpot_seconds < 1.02 * one.tpot_seconds and four.decode.bound_by == "memory"
    big = estimate("llama-3.1-8b", "h100-sxm", batch=256, output_tokens=8)
    big4 = estimate("llama-3.1-8b", "h100-sxm", batch=256, output_tokens=8, decode_tokens=4)
    assert big4.tpot_seconds > 1.5 * big.tpot_seconds and big4.decode.bound_by == "compute"


def test_speedup_falls_as_the_batch_grows_on_an_h100():
    """EAGLE-3 in SGLang on H100, Llama-3.1-8B, chain of 3: 1.81x at batch 2, 1.38x at batch 64 (EAGLE-3
    Table 3); with any fixed acceptance the model must show the same fall."""
    spec = make_speculation(drafter={"kind": "eagle"}, draft_tokens=3, mean_accepted_tokens=3.0)
    results = speculate("llama-3.1-8b", "h100-sxm", spec, batches=(2, 64, 256), output_tokens=64)
    speedups = [r.speedup for r in results]
    assert speedups == sorted(speedups, reverse=True) and speedups[0] > 1.5 and speedups[-1] < 0.8 * speedups[0]
    assert results[0].verify_bound_by == "memory" and results[-1].verify_bound_by == "compute"


def test_draft_model_costs_gamma_of_its_own_steps_and_its_memory():
    spec = make_speculation(drafter={"kind": "model", "model": "vicuna-68m"}, draft_tokens=4, acceptance_rate=0.7)
    result = speculate("vicuna-7b-v1.3", "a100-80gb", spec, output_tokens=16)[0]
    draft = estimate("vicuna-68m", "a100-80gb", batch=1, output_tokens=16)
    assert result.draft_seconds == pytest.approx(4 * draft.tpot_seconds)
    assert result.tokens_per_step == pytest.approx(expected_tokens_per_step(0.7, 4))
    plain = estimate("vicuna-7b-v1.3", "a100-80gb", batch=1, output_tokens=16)
    assert result.memory_bytes == pytest.approx(plain.memory.total_bytes + draft.memory.weights_bytes
                                                + draft.memory.kv_cache_bytes)


def test_eagle_head_is_one_layer_of_the_target():
    target = load_model("llama-3.1-8b")
    head = eagle_head(target, 1)
    assert head.num_layers == 1 and head.hidden_size == target.hidden_size and head.vocab_size == target.vocab_size


def test_free_drafts_want_long_drafts_and_costly_ones_do_not():
    free, _ = best_draft_length("llama-3.1-8b", "h100-sxm", Drafter(kind="ngram"), 0.9, output_tokens=16)
    assert free == 8  # nothing to pay for a longer draft at batch 1
    costly, tried = best_draft_length("llama-3.1-8b", "h100-sxm", Drafter(kind="model", model="vicuna-68m").model_copy(
        update={"kind": "eagle", "model": None, "layers": 8}), 0.6, output_tokens=16)
    assert costly < 8 and len(tried) == 8


@pytest.mark.parametrize("fields, message", [
    (dict(drafter={"kind": "eagle"}, draft_tokens=3, acceptance_rate=1.0), "α must be in \\[0, 1\\)"),
    (dict(drafter={"kind": "eagle"}, draft_tokens=0, acceptance_rate=0.5), "draft_tokens"),
    (dict(drafter={"kind": "eagle"}, draft_tokens=3, mean_accepted_tokens=5.0), "τ must be in"),
    (dict(drafter={"kind": "eagle"}, draft_tokens=3), "either the acceptance rate"),
    (dict(drafter={"kind": "model"}, draft_tokens=3, acceptance_rate=0.5), "needs the draft model"),
    (dict(drafter={"kind": "beam"}, draft_tokens=3, acceptance_rate=0.5), "unknown drafter 'beam'"),
])
def test_bad_speculation_is_one_error(fields, message):
    with pytest.raises(InfersimError, match=message):
        make_speculation(**fields)


def test_a_draft_larger_than_the_target_or_with_another_vocabulary_is_refused():
    bigger = make_speculation(drafter={"kind": "model", "model": "llama-3.1-70b"}, draft_tokens=2, acceptance_rate=0.5)
    with pytest.raises(InfersimError, match="not smaller than the target"):
        speculate("llama-3.1-8b", "h100-sxm", bigger)
    other = make_speculation(drafter={"kind": "model", "model": "vicuna-68m"}, draft_tokens=2, acceptance_rate=0.5)
    with pytest.raises(InfersimError, match="must share the target's tokenizer"):
        speculate("llama-3.1-8b", "h100-sxm", other)


def test_cli_speculate(cli):
    code, out, err = cli("speculate", "-m", "llama-3.1-8b", "-d", "h100-sxm", "--gamma", "3", "--mean-accepted", "3",
                         "-b", "1", "-b", "64", "-o", "16", "--json")
    assert code == 0 and '"speedup"' in out
    code, out, err = cli("speculate", "-m", "llama-3.1-8b", "-d", "h100-sxm", "--acceptance", "1.5", "--gamma", "3")
    assert code == 2 and out == "" and err.count("\n") == 1 and "α must be in [0, 1)" in err


def test_spec_bench_rows_are_scored():
    from infersim.validate.cases import published_cases
    from infersim.validate.score import score_case

    scored = [score_case(c) for c in published_cases() if c.id in ("65a", "65d", "65e", "68a")]
    assert all(r.status == "scored" and r.predicted > 1.0 for r in scored)


# ---- on a system of devices -------------------------------------------------------------------------------
def test_a_70b_target_speculates_under_its_tensor_parallel_layout():
    """Llama-3.1-70B does not fit one H100; on a DGX H100 plain and verify run at tp=8, and the speedup still
    falls with the batch."""
    spec = make_speculation(drafter={"kind": "ngram"}, draft_tokens=4, mean_accepted_tokens=3.0)
    low, high = speculate("llama-3.1-70b", None, spec, batches=(1, 64), system="dgx-h100", output_tokens=8)
    plain = estimate("llama-3.1-70b", system="dgx-h100", batch=1, output_tokens=8)
    assert low.machine == "dgx-h100: 8 x h100-sxm, tp=8" and low.fits
    assert low.plain_tpot_seconds == pytest.approx(plain.tpot_seconds, rel=1e-12)
    assert low.speedup > high.speedup > 1


def test_a_draft_model_runs_on_the_targets_tensor_parallel_group():
    spec = make_speculation(drafter={"kind": "model", "model": "llama-3.1-8b"}, draft_tokens=4, mean_accepted_tokens=3.0)
    (result,) = speculate("llama-3.1-70b", None, spec, batches=(8,), system="dgx-h100", tp=4, dp=2, output_tokens=8)
    # each of the two replicas drafts for its own 4 sequences on its 4 devices
    draft = estimate("llama-3.1-8b", system="dgx-h100", tp=4, batch=4, output_tokens=8)
    assert result.draft_seconds == pytest.approx(4 * draft.tpot_seconds, rel=1e-12)


def test_a_draft_whose_heads_do_not_divide_the_group_takes_the_largest_part_that_does():
    """Vicuna-68M has 12 attention heads: on the 8-way group of a 7B target it drafts on 4 of the devices."""
    spec = make_speculation(drafter={"kind": "model", "model": "vicuna-68m"}, draft_tokens=4, mean_accepted_tokens=2.0)
    (result,) = speculate("vicuna-7b-v1.3", None, spec, batches=(1,), system="dgx-h100", tp=8, output_tokens=8)
    draft = estimate("vicuna-68m", system="dgx-h100", tp=4, batch=1, output_tokens=8)
    assert result.draft_seconds == pytest.approx(4 * draft.tpot_seconds, rel=1e-12)


def test_medusa_heads_split_over_the_group_like_the_lm_head():
    spec = make_speculation(drafter={"kind": "medusa", "heads": 4}, draft_tokens=4, mean_accepted_tokens=3.0)
    (one,) = speculate("llama-3.1-8b", "h100-sxm", spec, batches=(1,), output_tokens=8)
    (eight,) = speculate("llama-3.1-8b", None, spec, batches=(1,), system="dgx-h100", tp=8, output_tokens=8)
    assert eight.draft_seconds < one.draft_seconds
    assert eight.memory_bytes < one.memory_bytes


def test_on_a_latency_bound_lpu_the_verify_pass_is_nearly_free():
    """Groq's step is its kernels' latency (calibration/groq.py), so verifying 5 tokens costs under 10% more
    than one: 2 tokens a step nearly double the per-user speed."""
    spec = make_speculation(drafter={"kind": "ngram"}, draft_tokens=4, mean_accepted_tokens=2.0)
    (result,) = speculate("llama-2-70b", None, spec, batches=(1,), system="groq-rack", devices=576, tp=32, pp=18,
                          weights_dtype="int8", output_tokens=8)
    assert result.verify_seconds < 1.1 * result.plain_tpot_seconds
    assert result.speedup > 1.8


def test_cli_speculate_on_a_system(cli):
    code, out, _ = cli("speculate", "-m", "llama-3.1-70b", "-s", "dgx-h100", "--method", "ngram", "--mean-accepted",
                       "2", "--gamma", "4", "-b", "1", "-o", "8")
    assert code == 0 and "on dgx-h100: 8 x h100-sxm, tp=8" in " ".join(out.split())
    code, _, err = cli("speculate", "-m", "llama-3.1-70b", "--method", "ngram", "--mean-accepted", "2", "--gamma", "4")
    assert code == 2 and "give a --device or a --system" in err


def test_an_eagle_head_on_the_group_adds_its_layer_share_to_each_devices_memory():
    """One 70B decoder layer split 8 ways, 0.21 GB in bf16: the embedding and LM head are the target's own."""
    spec = make_speculation(drafter={"kind": "eagle"}, draft_tokens=3, acceptance_rate=0.7)
    (result,) = speculate("llama-3.1-70b", None, spec, system="dgx-h100", output_tokens=8)
    plain = estimate("llama-3.1-70b", system="dgx-h100", output_tokens=8)
    model = load_model("llama-3.1-70b")
    layer = (model.total_params - model.embedding_params()) / model.num_layers * 2 / 8
    assert result.memory_bytes - plain.memory.total_bytes == pytest.approx(layer, rel=0.02)
