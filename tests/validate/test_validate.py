"""`infersim validate`: every published figure is a case, scored or unsupported with a reason; predictions
are infersim's own; measurement files are read with one-line errors; the docs page is what it prints."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from infersim.calibration.h100 import score_llama_2_7b
from infersim.cost.estimate import estimate
from infersim.errors import InfersimError
from infersim.validate import score_measured_file, scorecard
from infersim.validate.cases import Case, published_cases, published_entries
from infersim.validate.score import MISFIT, SCORED, UNSUPPORTED, Result, score_case, score_published, summarize

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def published():
    return {r.case: r for r in score_published()}


@pytest.fixture(scope="module")
def card():
    return scorecard()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("INFERSIM_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_published_yaml_loads_and_every_entry_is_sourced():
    entries = published_entries()
    assert len(entries) > 50
    ids = [str(e["id"]) for e in entries]
    assert len(ids) == len(set(ids))
    for e in entries:
        assert e["source"] and e["metric"] and e["category"], e["id"]
        assert isinstance(e["value"], (int, float)) and math.isfinite(e["value"]) and e["value"] > 0, e["id"]


def test_no_published_case_is_dropped(published):
    statuses = [r.status for r in published.values()]
    assert len(published) == len(published_entries())
    assert statuses.count(SCORED) + statuses.count(MISFIT) + statuses.count(UNSUPPORTED) == len(published_entries())
    assert all(r.note for r in published.values() if r.status == UNSUPPORTED)


def test_single_device_row_is_infersims_estimate(published):
    """#18: TRT-LLM, 1x H100, LLaMA 7B FP8, batch 768, 128/128, output tok/s per GPU."""
    row = published["18a"]
    assert row.status == SCORED and row.measured == 19694
    e = estimate("llama-2-7b", "h100-sxm", batch=768, prompt_tokens=128, output_tokens=128, weights_dtype="fp8",
                 kv_dtype="fp8", runtime="compiled")
    assert row.predicted == pytest.approx(e.output_tokens_per_s_total, rel=1e-12)
    assert row.error == pytest.approx(e.output_tokens_per_s_total / 19694 - 1)


def test_single_device_ttft_row(published):
    row = published["26b"]
    e = estimate("llama-2-7b", "h100-sxm", batch=1, prompt_tokens=2048, output_tokens=1, weights_dtype="fp8",
                 kv_dtype="fp8", runtime="compiled")
    assert row.status == SCORED and row.predicted == pytest.approx(e.ttft_seconds, rel=1e-12)


def test_expected_published_rows_are_scored(published):
    single = ("18a", "19a", "23a", "25a", "26a", "26b", "28a", "29a", "30a", "31a", "32a", "8a", "10a", "75a")
    several = ("1a", "2a", "3a", "4a", "5a", "6a", "7a", "9a", "9b", "10b", "14a", "15a",  # custom accelerators
               "20a", "21a", "22a", "24a", "27a", "27b", "28b",  # TensorRT-LLM tensor parallel
               "76a", "76b", "77a", "79a", "79b")  # nccl-tests
    for case in single + several:
        assert published[case].status in (SCORED, MISFIT), (case, published[case].note)
        assert math.isfinite(published[case].error), case


def test_no_published_case_is_blocked_by_multi_chip_any_more(published):
    """Several devices are predictable now: no reason names the old missing feature, and the multi-device
    cases that stay unsupported say what else they need."""
    assert not [r.case for r in published.values() if "issue 5" in r.note or "multi-chip" in r.note]
    for case in published_cases():
        if case.devices is not None and case.devices > 1 and published[case.id].status == UNSUPPORTED:
            assert case.requires, case.id  # serving simulator, disaggregation, relative, training, speculative


def test_tensor_parallel_row_calls_estimate_with_its_layout(published, monkeypatch):
    """#20: TRT-LLM, 2x H100 (TP2), LLaMA 70B FP8, batch 1024, 128/128, output tok/s per GPU: two GPUs of a
    DGX H100 node, tp=2, and the per-GPU figure is the total over the two."""
    import infersim.cost.estimate as cost_estimate

    calls = []

    def recording(*args, **kwargs):
        result = estimate(*args, **kwargs)
        calls.append((kwargs, result))
        return result

    monkeypatch.setattr(cost_estimate, "estimate", recording)
    [case] = [c for c in published_cases() if c.id == "20a"]
    row = score_case(case)
    [(kwargs, est)] = calls
    assert (kwargs["system"], kwargs["devices"], kwargs["tp"]) == ("dgx-h100", 2, 2)
    assert est.devices == 2 and est.layout["tp"] == 2 and est.layout["pp"] == 1
    assert row.status == SCORED and row.predicted == pytest.approx(est.output_tokens_per_s_total / 2, rel=1e-12)
    assert row.note.startswith("2 x h100-sxm on dgx-h100, tp=2")
    assert published["20a"].predicted == pytest.approx(row.predicted, rel=1e-12)
    # the layout matters: the same two GPUs as a two-stage pipeline predict another number
    pipeline = estimate("llama-2-70b", system="dgx-h100", devices=2, pp=2, batch=1024, prompt_tokens=128,
                        output_tokens=128, weights_dtype="fp8", kv_dtype="fp8", runtime="compiled")
    assert pipeline.output_tokens_per_s_total / 2 != pytest.approx(row.predicted, rel=1e-3)


def test_a100_tensor_parallel_row_is_a_switch_of_a100s(published):
    """#28: 4x A100 (TP4), LLaMA 70B FP16, TTFT at 2,048 tokens: no catalog A100 system, so `devices=4` of
    a100-80gb behind a switch on its NVLink."""
    e = estimate("llama-2-70b", "a100-80gb", devices=4, tp=4, batch=1, prompt_tokens=2048, output_tokens=1,
                 weights_dtype="fp16", kv_dtype="fp16", activations_dtype="fp16", runtime="compiled")
    assert e.system == "a100-80gbx4" and e.devices == 4
    assert published["28b"].status == SCORED and published["28b"].predicted == pytest.approx(e.ttft_seconds, rel=1e-12)


def test_groq_70b_rows_run_on_576_chips(published, monkeypatch):
    """Groq's Llama-2/3-70B deployment is ~576 chips (systems.md G9-G11): groq-rack resized to 576, int8 weights."""
    import infersim.cost.estimate as cost_estimate

    calls = []

    def recording(*args, **kwargs):
        result = estimate(*args, **kwargs)
        calls.append((kwargs["system"], kwargs["devices"], kwargs["weights_dtype"], result.devices))
        return result

    monkeypatch.setattr(cost_estimate, "estimate", recording)
    for case in published_cases():
        if case.id in ("1a", "1b", "4a", "5a"):
            assert case.devices == 576 and "576" in case.assumptions
            score_case(case)
    assert calls == [("groq-rack", 576, "int8", 576)] * 4
    assert published["1a"].note.startswith("576 x groq-lpu on groq-rack")


def test_custom_accelerator_counts_are_stated_assumptions():
    """Every custom-accelerator row on a catalog device has a device count and a workload (batch 1 for the
    public APIs' per-user speeds and WaferLLM's per-request ones; the tt-metal rows W* state theirs); a row whose
    count is published nowhere
    takes the fewest devices `infersim plan` finds for it, and says so."""
    from infersim.serving.plan import plan

    cases = {c.id: c for c in published_cases()}
    for case in cases.values():
        if case.category == "custom accelerators" and case.device is not None:
            assert case.devices is not None and case.devices >= 1, case.id
            assert case.prompt_tokens and case.output_tokens, case.id
            if case.id.startswith("W"):
                assert case.batch == (32 if case.metric == "output_tokens_per_s_per_user" else 1), case.id
            else:
                assert case.batch == 1, case.id
    fewest = {"2a": 48, "3a": 256, "6a": 48, "7a": 48}
    for case_id, devices in fewest.items():
        case = cases[case_id]
        assert "assumed: the fewest" in case.assumptions and "not published" in case.assumptions, case_id
        found = plan(case.model, case.device, batch=1, prompt_tokens=case.prompt_tokens,
                     output_tokens=case.output_tokens, weights_dtype=case.weights_dtype).best
        assert case.devices == found.devices == devices, case_id
        assert all(found.layout[axis] == degree for axis, degree in case.layout.items()), case_id
    # the weights alone: 6.74 GB of int8 Llama-2-7B / 230 MB = 29.3 -> 30 chips -> 32 in whole nodes of 8,
    # which infersim rejects (the end stages also hold the embedding, LM head and activations)
    assert math.ceil(math.ceil(6.738415616e9 / 230e6) / 8) * 8 == 32 < cases["2a"].devices


def test_bus_bandwidth_is_nccl_tests_formula_by_hand():
    """nccl-tests PERFORMANCE.md: busbw = algbw · 2(n−1)/n for all-reduce, algbw · (n−1)/n for all-gather."""
    from infersim.validate.score import bus_bytes_per_s

    algbw = 2**33 / 0.1  # 8 GiB in 0.1 s
    assert bus_bytes_per_s("all-reduce", 2**33, 0.1, 8) == pytest.approx(algbw * 14 / 8)
    assert bus_bytes_per_s("all-gather", 2**33, 0.1, 8) == pytest.approx(algbw * 7 / 8)
    assert bus_bytes_per_s("reduce-scatter", 2**33, 0.1, 32) == pytest.approx(algbw * 31 / 32)
    assert bus_bytes_per_s("send-recv", 2**33, 0.1, 2) == pytest.approx(algbw)
    with pytest.raises(InfersimError, match="unknown collective"):
        bus_bytes_per_s("allreduce", 2**33, 0.1, 8)


def test_nccl_all_reduce_row_by_hand(published):
    """#76: 8x H100 nccl-tests AllReduce of 8 GiB on dgx-h100 (W = 18 x 25 GB/s = 450 GB/s per direction,
    α₀ = 6 µs, α = 2 µs per step). The ring wins: t = α₀ + 2(n−1)α + 2(n−1)/n · B/W, so
    busbw = 2(n−1)/n · B / t = 1.75 · 2³³ / (1.75 · 2³³ / 450e9 + 34 µs) ≈ 449.5 GB/s."""
    row = published["76a"]
    size, n = 2**33, 8
    seconds = 6e-6 + 2 * (n - 1) * 2e-6 + 2 * (n - 1) / n * size / 450e9
    assert row.status == SCORED
    assert row.predicted == pytest.approx(size / seconds * 2 * (n - 1) / n, rel=1e-9)
    assert row.note == "ring all-reduce on dgx-h100 (8 x h100-sxm)"
    assert "(32 x h100-sxm)" in published["77a"].note and "a100-80gbx8" in published["79b"].note


def test_unsupported_reasons_name_what_is_missing(published):
    assert published["65a"].status == "scored" and "eagle, γ = 5" in published["65a"].note
    assert published["66a"].note.startswith("speculative decoding: the row does not say")  # no τ reported
    assert "serving simulator" in published["45a"].note
    assert "GB200" in published["80a"].note
    unstated = Case(id="x", category="test", metric="output_tokens_per_s_per_user", value=1.0, source="test",
                    model="llama-2-7b", device="groq-lpu", devices=None, batch=1, prompt_tokens=128, output_tokens=2)
    note = score_case(unstated).note
    assert note.startswith("device count not stated") and "≥ 59 groq-lpu" in note  # 13.5 GB of 16-bit weights
    assert "issue 5" not in note


def test_case_that_does_not_fit_is_scored_but_left_out_of_the_statistics():
    case = Case(id="x", category="test", metric="output_tokens_per_s_total", value=100.0, source="test",
                model="llama-3.1-405b", device="h100-sxm", devices=1, batch=1, prompt_tokens=128, output_tokens=128)
    row = score_case(case)
    assert row.status == MISFIT and row.predicted > 0 and "does not fit" in row.note
    [summary] = summarize([row])
    assert summary.scored == 1 and summary.does_not_fit == 1 and summary.median_abs_error is None


def test_gemm_graph_memory_bound_rows_within_15_percent(card):
    """Large memory-bound GEMMs (m ≤ 16, ≥ 64 MB of weights) are what memory_fraction was fitted on: this
    checks the plumbing from a measured row to infersim's own matmul op and roofline."""
    rows = [r for r in card.results if " gemm_graph " in r.case]
    assert len(rows) == 48
    checked = 0
    for r in rows:
        shape = dict(part.split("=") for part in r.case.split() if "=" in part)
        m, k, n = int(shape["m"]), int(shape["k"]), int(shape["n"])
        if m <= 16 and 2 * k * n >= 64e6:
            assert abs(r.error) <= 0.15, r.case
            checked += 1
    assert checked == 8


def test_h100_whole_model_rows_agree_with_the_calibration_scorecard(card):
    """Two derivations: validate's CUDA-graph rows come from calibration.h100.score_llama_2_7b, and the
    generic measured-file path (estimate per row) gives the same numbers."""
    from infersim.validate.cases import measured_cases, shipped_h100_rows

    calibrated = score_llama_2_7b()
    shipped = {r.case: r for r in card.results if r.case.startswith("h100 fast_")}
    assert len(shipped) == len(calibrated) == 13
    rows = shipped_h100_rows()["llama-2-7b.jsonl"]
    generic = {c.id: score_case(c) for c in measured_cases(rows, "h100", "h100-sxm")}
    for case, row in shipped.items():
        assert generic[case].predicted == pytest.approx(row.predicted, rel=1e-12), case
    assert sorted(r.predicted for r in shipped.values()) == sorted(r.predicted_seconds for r in calibrated)
    eager = [r for r in card.results if r.case.startswith("h100 hf_")]
    assert len(eager) == 10 and all(r.status == SCORED and r.category == "GPU whole models (eager)" for r in eager)


def _cpu_file(tmp_path: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests" / "calibration"))
    try:
        from test_calibrate import synthetic_cpu_rows
    finally:
        sys.path.pop(0)
    config = json.loads((ROOT / "tests/data/hf_configs/llama-3.1-8b.json").read_text())
    config.update(hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, head_dim=64, vocab_size=1000)
    rows = synthetic_cpu_rows() + [
        {"kind": "model_info", "model": "tiny-llama", "params": 1, "config": config, "dtype": "fp32",
         "runtime": "pytorch-eager"},
        {"kind": "hf_prefill", "model": "tiny-llama", "batch": 1, "prompt": 64, "seconds": 0.01,
         "runtime": "pytorch-eager"},
        {"kind": "hf_decode_eager", "model": "tiny-llama", "batch": 2, "context": 65, "seconds_per_step": 0.008,
         "runtime": "pytorch-eager"},
    ]
    path = tmp_path / "cpu.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_measured_cpu_file_uses_its_calibrated_device(tmp_path, home):
    from infersim.calibration.calibrate import calibrate
    from infersim.cost.estimate import estimate as est
    from infersim.specs.catalog import model_from_mapping
    from infersim.specs.hf_config import hf_config_to_fields

    path = _cpu_file(tmp_path)
    before = score_measured_file(path)  # no calibrated device yet: listed, not dropped
    assert before and all(r.status == UNSUPPORTED for r in before)
    assert "no device to predict on" in before[0].note
    calibrate(path)
    rows = {r.case: r for r in score_measured_file(path)}
    decode = rows["cpu.jsonl hf_decode_eager tiny-llama B=2 context=65"]
    assert decode.category == "CPU whole models (eager)" and decode.status == SCORED and decode.device == "local-cpu"
    config = json.loads(path.read_text().splitlines()[-3])["config"]
    model = model_from_mapping({**hf_config_to_fields(config, "t"), "id": "tiny-llama", "name": "t", "source": "t"}, "t")
    expected = est(model, "local-cpu", batch=2, prompt_tokens=64, output_tokens=2, weights_dtype="fp32",
                   kv_dtype="fp32", activations_dtype="fp32", runtime="eager").tpot_seconds
    assert decode.predicted == pytest.approx(expected, rel=1e-12)
    assert any(r.category == "CPU microbenchmarks (eager)" and r.status == SCORED for r in rows.values())
    assert len(before) == len(rows)


def test_validate_json(cli):
    code, out, _ = cli("validate", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["totals"]["cases"] == len(data["cases"]) == data["totals"]["scored"] + data["totals"]["unsupported"]
    categories = {s["category"] for s in data["summary"]}
    assert {"custom accelerators", "published serving numbers", "GPU microbenchmarks (cuda-graph)",
            "GPU whole models (cuda-graph)"} <= categories
    row = next(c for c in data["cases"] if c["case"] == "18a")
    assert row["status"] == "scored" and row["error"] == pytest.approx(row["predicted"] / row["measured"] - 1)


def test_validate_table(cli):
    code, out, _ = cli("validate")
    assert code == 0 and "published serving numbers" in out and "unsupported" in out


def test_missing_measured_file_is_one_line_exit_2(cli, tmp_path):
    code, out, err = cli("validate", "--measured", str(tmp_path / "nope.jsonl"))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "not found" in err and "nope.jsonl" in err


def test_malformed_jsonl_line_is_one_line_exit_2(cli, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "machine", "device": "x", "device_type": "cpu"}\n{"kind": "gemm", "m": 1,\n')
    code, out, err = cli("validate", "--measured", str(bad), "--device", "xeon-spr")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "line 2" in err


def test_unknown_device_is_one_line_exit_2(cli, tmp_path, home):
    path = _cpu_file(tmp_path)
    code, _, err = cli("validate", "--measured", str(path), "--device", "h100-sxx")
    assert code == 2 and err.count("\n") == 1 and "h100-sxm" in err


def test_write_docs_is_atomic_and_complete(tmp_path, card):
    from infersim.calibration.h100 import fit, markdown_report
    from infersim.validate.report import write_docs

    target = tmp_path / "validation.md"
    target.write_text("old")
    assert write_docs(card, target) == target
    text = target.read_text()
    assert markdown_report(fit(), score_llama_2_7b()) in text
    assert "## Scorecard" in text and "| 18a |" in text and "speculative decoding: the row does not say" in text
    assert [p.name for p in tmp_path.iterdir()] == ["validation.md"]  # no temp file left behind


def test_docs_validation_scorecard_is_current(card):
    """docs/validation.md is exactly what `infersim validate --write-docs` writes now."""
    from infersim.validate.report import docs_markdown

    assert (ROOT / "docs" / "validation.md").read_text() == docs_markdown(card)


def test_tenstorrent_rows_run_on_the_chips_they_state(published):
    """W1-W6: one-chip Wormhole devices in the systems tt-metal ran (32 in a Galaxy, 8 in a T3000/QuietBox,
    2 on an n300), scored; the Galaxy's Llama-3.3-70B decode, whose figures all come from tt-metal's own
    microbenchmarks, within 15% (docs/validation.md)."""
    cases = {c.id: c for c in published_cases() if c.id.startswith("W")}
    assert {c.system_id for c in cases.values()} == {"tenstorrent-galaxy", "tenstorrent-t3000", "tenstorrent-n300"}
    assert all(c.device == "tenstorrent-wormhole" for c in cases.values())
    assert all(published[i].status == SCORED for i in cases)
    assert abs(published["W1a"].error) < 0.15
    # the CCL report's 8-chip collectives, timed by the alpha-beta model on the system's fitted link figures
    assert all(abs(published[i].error) < 0.25 for i in cases if i.startswith("W7"))


def test_spec_bench_rows_of_measured_implementations_within_20_percent(published):
    """The Spec-Bench rows whose reference code's host time is measured (techniques/host_costs.py): EAGLE-1,
    Medusa-1 (and Hydra as Medusa), EAGLE-2, PLD, SpS and lookahead on the A100 (7B, 13B, 33B) and the RTX 3090; the 66d-68h
    rows were added after the host-time model was built (held out). Not within: 65g (lookahead 13B, +20.4%), 68d-68f
    (lookahead, SpS, Hydra on the 3090: +37/−28/+30%). REST is priced as Medusa-1's code (its codebase)."""
    for case_id in ("65a", "65b", "65c", "65d", "65e", "67a", "67b", "68a", "68b", "68c",
                    "66d", "66e", "66f", "66g", "66h", "66j", "67c", "67d", "67f", "67g", "68g",
                    "65f", "66i", "67e", "68h"):
        result = published[case_id]
        assert result.status == SCORED and abs(result.error) < 0.20, (case_id, result.error)


def test_a_scorecard_narrows_to_cases_rows_and_categories(card):
    assert [r.case for r in card.only(["22a"]).results] == ["22a"]
    row = [r.case for r in card.only(["W6"]).results]  # a row's prefix: its letters, not W60
    assert row and all(c.startswith("W6") for c in row) and "W6b" in row
    assert not [r for r in card.only(["2"]).results if r.case == "22a"]  # "2" is row 2, not 22
    spec = card.only(category="Speculative")
    assert {r.category for r in spec.results} == {"speculative decoding"}
    assert spec.to_dict()["totals"]["cases"] == len(spec.results) > 0
    with pytest.raises(InfersimError, match="no validation case '99z'"):
        card.only(["99z"])
    with pytest.raises(InfersimError, match="categories: .*speculative decoding"):
        card.only(category="nope")


def test_validate_filters_on_the_command_line(cli):
    code, out, _ = cli("validate", "--case", "22a", "--json")
    assert code == 0 and [c["case"] for c in json.loads(out)["cases"]] == ["22a"]
    code, out, err = cli("validate", "--category", "nope")
    assert code == 2 and out == "" and err.count("\n") == 1 and "no validation category" in err


def test_gpt_j_and_falcon_rows_held_out_land_close():
    """GPT-J 6B (MHA with 256-wide heads, a plain GELU MLP, LayerNorm) and Falcon 180B (232 query heads on 8
    key/value heads, TP4/TP8), added to the TensorRT-LLM rows after the model was built: every throughput row
    within 25%, the 2,048-token first-token latencies of one GPU within 20%. The 128-token ones are the
    short-prompt gap the Llama rows show (26a-29b), not pinned; nor is Falcon's TP8 H100 prefill."""
    from infersim.validate.score import score_case

    cases = {c.id: c for c in published_cases() if c.id[:2] in ("GJ", "FA")}
    assert len(cases) == 28
    for case_id, case in cases.items():
        result = score_case(case)
        assert result.error is not None, case_id
        if case.metric != "ttft_seconds":
            assert abs(result.error) < 0.25, (case_id, result.error)
        elif case.prompt_tokens == 2048 and case.devices == 1:
            assert abs(result.error) < 0.20, (case_id, result.error)


def test_tensorrt_llm_v0_8_rows_held_out():
    """TensorRT-LLM v0.8.0's tables (H200, H100, L40S, A100), added after the model: the throughput rows' median
    error within 10% and all but a few within 25%. Its XQA kernel serves Llama-2-70B's groups of 8 query heads
    (grouped reads) but not Falcon 180B's groups of 29 (the masked MHA fallback reads the cache per query head):
    swapping the two assumptions makes the long-decode rows of both models at least 20 points worse (on the H100
    and H200 for Llama-2-70B)."""
    import dataclasses
    from statistics import median

    from infersim.validate.score import score_case

    cases = {c.id: c for c in published_cases() if c.id.startswith("V8") and not c.id.startswith("V8T")}
    errors = {case_id: score_case(case).error for case_id, case in cases.items()}
    assert len(errors) == 55 and all(e is not None for e in errors.values())
    assert median(abs(e) for e in errors.values()) < 0.10
    assert sum(abs(e) <= 0.25 for e in errors.values()) >= 52
    # the A100's Llama-2-70B row (V8A10) sits between the two (+44% grouped, -34% per query head): not pinned
    long_decode = [c for c in cases.values() if c.output_tokens == 2048 and (
        c.model_id == "falcon-180b" or (c.model_id == "llama-2-70b" and c.device != "a100-80gb"))]
    assert len(long_decode) >= 6
    for case in long_decode:
        flipped = {} if case.kv_cache.get("query_head_reads") else {"query_head_reads": True}
        swapped = score_case(dataclasses.replace(case, kv_cache=flipped)).error
        assert abs(swapped) > abs(errors[case.id]) + 0.20, (case.id, errors[case.id], swapped)


def test_a_bound_counts_only_when_the_prediction_breaks_it():
    """"> 100 tokens/s" predicted at 272 has no error to measure; predicted at 80 it is 20% short."""
    common = dict(case="x", category="c", metric="output_tokens_per_s_per_user", measured=100.0, status=SCORED,
                  note="", bound="lower")
    met, broken = Result(predicted=272.0, **common), Result(predicted=80.0, **common)
    upper = Result(predicted=120.0, **{**common, "bound": "upper"})
    assert met.bound_met and not broken.bound_met and not upper.bound_met
    (summary,) = summarize([met, broken, upper])
    assert summary.scored == 3 and summary.median_abs_error == pytest.approx(0.2)
    assert summary.worst_case == "x" and abs(summary.worst_error) == pytest.approx(0.2)


def test_published_lower_bounds_that_hold_say_so(published):
    for case_id in ("4a", "8b", "9b"):
        assert published[case_id].bound_met and "lower bound, met" in published[case_id].note
