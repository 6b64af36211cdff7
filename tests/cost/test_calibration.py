"""The H100 calibration: the catalog holds exactly what the fit produces, and it predicts llama-2-7b."""

from __future__ import annotations

from statistics import median

import pytest

from infersim.calibration.h100 import fit, score_llama_2_7b


def test_catalog_efficiency_is_the_fit(h100):
    fitted = fit().rounded()
    catalog = h100.efficiency.model_dump()
    catalog["fp8_matmul_compute_fraction"] = h100.efficiency.matmul_fraction("fp8")
    for name, value in fitted.items():
        assert catalog[name] == pytest.approx(value, rel=1e-9), name


def test_fitted_values_are_physical():
    f = fit()
    assert 0.8 < f.memory_fraction < 1.0  # copy reaches 2.99 of 3.35 TB/s
    assert 1e-6 < f.kernel_overhead_seconds < 2e-5
    assert 0.6 < f.matmul_compute_fraction < 0.85
    assert 0.4 < f.attention_compute_fraction < f.matmul_compute_fraction


def test_llama_2_7b_rows_within_ten_percent():
    rows = score_llama_2_7b()
    assert len(rows) == 13  # 6 prefill + 7 CUDA-graph decode rows
    assert sum(r.used_in_fit for r in rows) == 1
    held_out = [abs(r.error) for r in rows if not r.used_in_fit]
    assert median(held_out) <= 0.10
    assert max(held_out) <= 0.15


def test_docs_validation_is_current():
    """docs/validation.md holds exactly what `infersim calibrate-h100 --markdown` prints now."""
    from pathlib import Path

    from infersim.calibration.h100 import markdown_report

    doc = Path(__file__).resolve().parents[2] / "docs" / "validation.md"
    assert markdown_report(fit(), score_llama_2_7b()) in doc.read_text()
