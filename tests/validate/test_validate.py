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
from infersim.validate import score_measured_file, scorecard
from infersim.validate.cases import Case, published_cases, published_entries
from infersim.validate.score import MISFIT, SCORED, UNSUPPORTED, score_case, score_published, summarize

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
    for case in ("18a", "19a", "23a", "25a", "26a", "26b", "28a", "29a", "30a", "31a", "32a", "8a", "10a", "75a"):
        assert published[case].status in (SCORED, MISFIT), (case, published[case].note)


def test_multi_device_rows_are_unsupported_with_a_reason_about_devices(published):
    for case in published_cases():
        if case.devices is not None and case.devices > 1:
            row = published[case.id]
            assert row.status == UNSUPPORTED and row.predicted is None
            assert f"needs {case.devices} devices" in row.note, case.id
    for case in ("1a", "2a", "3a", "20a", "22a", "27a"):  # Groq needs many chips; TP2 / TP4
        assert "device" in published[case].note and "issue 5" in published[case].note


def test_unsupported_reasons_name_what_is_missing(published):
    assert published["65a"].note.startswith("speculative decoding: issue 6")
    assert "serving simulator" in published["45a"].note
    assert "needs 2 devices (tensor parallel TP2)" in published["20a"].note
    assert "≥ 59 groq-lpu" in published["2a"].note  # 13.5 GB of 16-bit weights in 230 MB chips
    assert "GB200" in published["80a"].note


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
    assert "## Scorecard" in text and "| 18a |" in text and "speculative decoding: issue 6" in text
    assert [p.name for p in tmp_path.iterdir()] == ["validation.md"]  # no temp file left behind


def test_docs_validation_scorecard_is_current(card):
    """docs/validation.md is exactly what `infersim validate --write-docs` writes now."""
    from infersim.validate.report import docs_markdown

    assert (ROOT / "docs" / "validation.md").read_text() == docs_markdown(card)
