"""The Groq LPU's fixed latency per kernel: fitted on Groq's 7B/8B rows, held out on its 70B ones."""

from __future__ import annotations

import pytest

from infersim.calibration.groq import FIT_CASES, _with_kernel_overhead, fit_kernel_overhead_seconds
from infersim.cost.estimate import estimate
from infersim.specs.catalog import load_device, load_system
from infersim.validate.cases import published_cases
from infersim.validate.score import SCORED, score_case

GROQ = load_device("groq-lpu")


def _cases() -> dict:
    return {c.id: c for c in published_cases()}


def test_the_catalog_latency_is_its_fit_on_the_small_models():
    assert GROQ.efficiency.kernel_overhead_seconds == pytest.approx(fit_kernel_overhead_seconds(), rel=1e-3)
    assert "fitted" in GROQ.sources["efficiency.kernel_overhead_seconds"]


def test_fit_rows_are_marked_and_the_70b_rows_are_held_out():
    cases = _cases()
    for case_id in FIT_CASES:
        assert "calibration/groq.py" in (cases[case_id].note or "")
    for case_id in ("1a", "3a", "4a", "5a"):
        assert "used in fit" not in (cases[case_id].note or "")


def test_held_out_70b_rows_land_within_the_issues_band():
    """Groq's Llama-2-70B (300 tokens/s per user; 254 from LLMPerf's raw timings) and Llama-3.1-70B (250), on 576
    chips, not fitted on."""
    cases = _cases()
    for case_id in ("1a", "1b", "5a"):
        result = score_case(cases[case_id])
        assert result.status == SCORED
        assert abs(result.predicted / cases[case_id].value - 1) < 0.25


def test_a_step_adds_the_latency_once_per_kernel_of_every_layer():
    """The step grows by exactly the kernels it runs times the latency: the model is linear in it, as the
    fit assumes, and every kernel of every stage pays it (one token visits them all in turn)."""
    system = load_system("groq-rack").resized(48)
    steps = [estimate("llama-2-7b", _with_kernel_overhead(GROQ, k), system=system, tp=8, pp=6,
                      weights_dtype="int8", output_tokens=8).tpot_seconds for k in (0.0, 1e-6, 2e-6)]
    assert steps[2] - steps[1] == pytest.approx(steps[1] - steps[0], rel=1e-9)
    kernels = sum(r.overhead_seconds for r in estimate("llama-2-7b", _with_kernel_overhead(GROQ, 1.0), system=system,
                                                       tp=8, pp=6, weights_dtype="int8", output_tokens=8).ops
                  if r.phase == "decode")
    assert steps[1] - steps[0] == pytest.approx(kernels * 1e-6, rel=1e-9)
    assert kernels > 8 * 32  # several kernels in each of the 32 layers


def test_per_user_speed_is_latency_bound_so_more_chips_barely_help():
    """With a fixed latency per kernel the 70B step is mostly latency: twice the chips (1,152) change it by under 15%."""
    speeds = []
    for n, tp, pp in ((576, 32, 18), (1152, 64, 18)):
        est = estimate("llama-2-70b", system=load_system("groq-rack").resized(n), tp=tp, pp=pp, weights_dtype="int8",
                       output_tokens=8)
        speeds.append(est.output_tokens_per_s_per_user)
        assert est.decode.bound_by == "overhead"
    assert speeds[1] == pytest.approx(speeds[0], rel=0.15)
