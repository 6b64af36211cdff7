"""`infersim calibrate`: recovers known parameters, writes atomically, refuses files from other devices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infersim.calibration.calibrate import calibrate
from infersim.calibration.fit import attention_flops
from infersim.cli import main
from infersim.cost.estimate import estimate
from infersim.errors import InfersimError
from infersim.specs.catalog import load_device

H100_FILE = Path(__file__).resolve().parents[2] / "src/infersim/calibration/data/microbench.jsonl"

# A made-up CPU: 20 GB/s streaming (30 GB/s copy), 25 µs per kernel, 200 GFLOP/s GEMMs, attention at half.
TRUE_BW, TRUE_COPY, TRUE_OVERHEAD, TRUE_FLOPS, TRUE_ATTN, TRUE_LAYER = 20e9, 30e9, 25e-6, 200e9, 100e9, 900e-6


def synthetic_cpu_rows(ms: tuple[int, ...] = (1, 16, 64, 1024)) -> list[dict]:
    rows = [{"kind": "machine", "device": "Test CPU", "device_type": "cpu", "cpu_model": "Test CPU", "cores": 2,
             "memory_bytes": 16e9, "date": "2026-11-23"},
            {"kind": "copy", "bytes_moved": 2e9, "seconds": 2e9 / TRUE_COPY, "dtype": "fp32"}]
    for m in ms:
        for k, n in ((1024, 1024), (2048, 4096), (4096, 4096)):
            bytes_ = 4 * (m * k + k * n + m * n)
            t = TRUE_OVERHEAD + max(bytes_ / TRUE_BW, 2 * m * k * n / TRUE_FLOPS)
            rows.append({"kind": "gemm", "dtype": "fp32", "m": m, "k": k, "n": n, "seconds": t})
    for tokens in (256, 1024):
        row = {"kind": "attn_prefill", "dtype": "fp32", "batch": 1, "heads_q": 8, "heads_kv": 8, "head_dim": 64,
               "tokens": tokens}
        row["seconds"] = TRUE_OVERHEAD + attention_flops(row) / TRUE_ATTN
        rows.append(row)
    rows.append({"kind": "op_overhead", "op": "decoder_layer_tiny", "seconds": TRUE_LAYER})
    return rows


def write(rows: list[dict], path: Path) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("INFERSIM_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_cpu_fit_recovers_the_parameters_it_was_made_from(tmp_path, home):
    path = calibrate(write(synthetic_cpu_rows(), tmp_path / "cpu.jsonl"))
    assert path == home / "devices" / "local-cpu.yaml"
    cpu = load_device("local-cpu")  # found by id in the user folder
    eff = cpu.efficiency
    assert cpu.execution_model == "cpu" and cpu.calibrates == "local-cpu"
    assert cpu.main_memory.bytes_per_s == pytest.approx(TRUE_COPY, rel=1e-3)
    assert cpu.main_memory.bytes_per_s * eff.memory_fraction == pytest.approx(TRUE_BW, rel=1e-3)
    assert eff.kernel_overhead_seconds == pytest.approx(TRUE_OVERHEAD, rel=1e-2)
    assert cpu.peak_for("fp32") == pytest.approx(TRUE_FLOPS, rel=1e-3) and eff.matmul_compute_fraction == 1.0
    assert cpu.peak_for("fp32") * eff.attention_compute_fraction == pytest.approx(TRUE_ATTN, rel=1e-3)
    # the tiny layer's 900 µs spread over the ops infersim launches per layer, less their kernel cost
    from infersim.calibration.fit import launching_ops_per_layer

    assert eff.host_launch_seconds == pytest.approx(TRUE_LAYER / launching_ops_per_layer() - TRUE_OVERHEAD, rel=1e-2)
    assert all(src.startswith(("measured", "assumed")) for src in cpu.sources.values())
    est = estimate("llama-2-7b", "local-cpu", activations_dtype="fp32", output_tokens=4)
    assert est.runtime == "eager" and est.decode.host_seconds > 0
    assert est.decode.seconds == pytest.approx(est.decode.device_seconds + est.decode.host_seconds)


def test_gpu_file_refits_the_catalog_device(tmp_path):
    path = calibrate(H100_FILE, base="h100-sxm", out=tmp_path / "h100.yaml")
    device = load_device("h100-sxm", calibration=path)
    catalog = load_device("h100-sxm")
    assert device.calibrates == "h100-sxm" and device.peak_for("bf16") == catalog.peak_for("bf16")
    assert device.efficiency.memory_fraction == pytest.approx(catalog.efficiency.memory_fraction, abs=1e-3)
    assert device.efficiency.matmul_compute_fraction == pytest.approx(catalog.efficiency.matmul_compute_fraction,
                                                                      abs=1e-3)


def test_a_file_from_a_faster_device_is_refused_and_nothing_is_written(tmp_path):
    out = tmp_path / "a100.yaml"
    with pytest.raises(InfersimError, match="another device"):
        calibrate(H100_FILE, base="a100-80gb", out=out)
    assert not out.exists() and not list(tmp_path.glob(".a100.yaml*"))


def test_overlay_for_another_device_is_refused(tmp_path):
    path = calibrate(H100_FILE, base="h100-sxm", out=tmp_path / "h100.yaml")
    with pytest.raises(InfersimError, match="calibrates 'h100-sxm', not 'h200'"):
        load_device("h200", calibration=path)


@pytest.mark.parametrize("content, words", [
    (None, "not found"),
    ("", "holds no measurements"),
    ('{"kind": "copy"}\nnot json\n', "line 2 is not JSON"),
    ('[1, 2]\n', "not a measurement row"),
    ('{"kind": "machine", "device_type": "cpu"}\n', "no GEMM rows"),
])
def test_bad_measure_files_are_one_line_exit_2(tmp_path, capsys, content, words):
    path = tmp_path / "m.jsonl"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SystemExit) as info:
        main(["calibrate", str(path), "--out", str(tmp_path / "out.yaml")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and words in err and err.count("\n") == 1
    assert not (tmp_path / "out.yaml").exists()


def test_gpu_file_without_a_base_device_is_refused(tmp_path):
    rows = [{"kind": "machine", "device": "NVIDIA H100", "device_type": "cuda"}]
    with pytest.raises(InfersimError, match="--device"):
        calibrate(write(rows, tmp_path / "g.jsonl"))


def test_rows_half_is_recovered_when_small_gemms_are_slow(tmp_path):
    """GEMMs whose rate rises as C·m/(m + 40): the fit finds m½ ≈ 40; m = 1 streams as a GEMV."""
    rows = synthetic_cpu_rows()
    for row in rows:
        if row["kind"] == "gemm" and row["m"] > 1:
            m, k, n = row["m"], row["k"], row["n"]
            rate = TRUE_FLOPS * m / (m + 40)
            row["seconds"] = TRUE_OVERHEAD + max(4 * (m * k + k * n + m * n) / TRUE_BW, 2 * m * k * n / rate)
    cpu = load_device(str(calibrate(write(rows, tmp_path / "cpu.jsonl"), out=tmp_path / "cpu.yaml")))
    assert cpu.efficiency.matmul_rows_half == pytest.approx(40, rel=0.05)
    assert cpu.peak_for("fp32") == pytest.approx(TRUE_FLOPS, rel=0.01)  # the asymptotic rate, not m = 1024's
    assert cpu.efficiency.matmul_fraction("fp32", rows=1) == cpu.efficiency.matmul_fraction("fp32")
    assert cpu.efficiency.matmul_fraction("fp32", rows=40) == pytest.approx(0.5 * cpu.efficiency.matmul_fraction("fp32"),
                                                                           rel=0.05)


def test_slow_few_row_gemms_do_not_drag_the_streaming_bandwidth_down(tmp_path):
    """A CPU whose 4- and 16-row GEMMs run at a third of memory speed (BLAS few-row kernels): the memory
    line comes from the rows that stream (m = 1 here), the slow ones go to the rows law instead."""
    from infersim.calibration.fit import fit_memory

    rows = synthetic_cpu_rows(ms=(1, 64, 1024))
    for m in (4, 16):
        for k, n in ((1024, 1024), (2048, 4096), (4096, 4096)):
            rows.append({"kind": "gemm", "dtype": "fp32", "m": m, "k": k, "n": n,
                         "seconds": TRUE_OVERHEAD + 3 * 4 * (m * k + k * n + m * n) / TRUE_BW})
    bytes_per_s, overhead = fit_memory(rows, "fp32")
    assert bytes_per_s == pytest.approx(TRUE_BW, rel=1e-3) and overhead == pytest.approx(TRUE_OVERHEAD, rel=1e-2)
