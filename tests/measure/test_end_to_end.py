"""The CPU loop end to end, small: measure (tiny preset) → calibrate → validate the whole models.

Accuracy on real model sizes (≈50 M to 1 B parameters) is what `infersim measure --quick` plus
`benchmarks/accuracy.py` report (docs/validation.md); the tiny models here are all framework
overhead, so this checks that every step runs and connects, with a loose bound on the error.
"""

from __future__ import annotations

import math
from statistics import median

import pytest

pytest.importorskip("torch", reason="the end-to-end CPU loop needs PyTorch: pip install torch==2.13.0")
pytest.importorskip("transformers", reason="the end-to-end CPU loop needs transformers: pip install -e '.[measure]'")


def test_measure_calibrate_validate_on_this_cpu(tmp_path, monkeypatch):
    from infersim.calibration.calibrate import calibrate
    from infersim.measure import measure
    from infersim.specs.catalog import load_device
    from infersim.validate.score import score_measured_file

    monkeypatch.setenv("INFERSIM_HOME", str(tmp_path / "home"))
    measured = measure(preset_name="tiny", device="cpu", out=str(tmp_path / "tiny.jsonl"),
                       command="infersim measure --preset tiny", progress=lambda message: None)
    device_file = calibrate(measured.path)
    cpu = load_device("local-cpu")
    assert device_file.exists() and cpu.execution_model == "cpu"
    assert cpu.efficiency.host_launch_seconds >= 0 and cpu.main_memory.bytes_per_s > 1e8

    results = score_measured_file(measured.path, "local-cpu")
    whole = [r for r in results if r.category.startswith("CPU whole models")]
    assert whole and all(r.status == "scored" for r in whole)  # nothing dropped or unsupported
    ratios = [r.predicted / r.measured for r in whole]
    assert all(math.isfinite(x) and x > 0 for x in ratios)
    # loose, in log space: on a quiet machine these rows land within 2x (models that are nearly all overhead),
    # but another process on this shared 2-core machine can slow what was timed 20-60x (OpenMP threads spin
    # while a core is taken), so the bound only catches a wiring or unit slip (milliseconds for seconds)
    assert median(abs(math.log(x)) for x in ratios) < math.log(100)
