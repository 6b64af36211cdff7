"""`infersim calibrate`: a measure file in, a calibrated device YAML out.

With a base catalog device (a GPU measured with `infersim measure --device cuda`), the output is that
device's file with its efficiency block refitted: achieved / datasheet peak, every value sourced
"measured: <command>". Without one (the CPU infersim runs on), the output is a whole `local-cpu`
device whose peaks *are* the measured rates (fractions of 1 by construction, said so in the source).
The file records `calibrates: <id>` so `--device <id> --calibration FILE` can check it belongs.
Files are written atomically: a failed run leaves no half-written YAML.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from infersim.calibration.fit import DeviceFit, dtype_of, fit_device, fit_matmul_flops
from infersim.errors import InfersimError
from infersim.specs.catalog import DEVICES_DIR, device_from_mapping, load_device, read_yaml, user_devices_dir

# A measured rate this far above the datasheet means the file is from another (faster) device.
_PEAK_SLACK = 1.05


def read_measure_file(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL measure file; one-line errors for a missing, empty or malformed file."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise InfersimError(f"measure file not found: {path} (make one with `infersim measure`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InfersimError(f"cannot read measure file {path}: {exc}") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InfersimError(f"{path} line {number} is not JSON: {exc.msg}") from None
        if not isinstance(row, dict) or "kind" not in row:
            raise InfersimError(f"{path} line {number} is not a measurement row (a JSON object with 'kind')")
        rows.append(row)
    if not rows:
        raise InfersimError(f"{path} holds no measurements")
    return rows


def machine_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    machine = next((r for r in rows if r["kind"] == "machine"), None)
    if machine is None:  # the shipped H100 reference files predate the machine row
        return {"device": rows[0].get("device", "unknown"), "device_type": "cuda" if "NVIDIA" in str(
            rows[0].get("device", "")) else "cpu"}
    return machine


def _fraction(name: str, achieved: float, peak: float, base_id: str) -> float:
    fraction = achieved / peak
    if fraction > _PEAK_SLACK:
        raise InfersimError(f"measured {name} is {fraction:.2f}x {base_id}'s datasheet peak: the measure file is "
                            f"from another device; calibrate it without --device (or with the right one)")
    return min(fraction, 1.0)


def _sourced(value: float, source: str) -> dict[str, Any]:
    return {"value": float(f"{value:.4g}"), "source": source}


def _efficiency(fit: DeviceFit, *, memory_fraction: float, matmul_fraction: float, attention_fraction: float,
                measured: str, matmul_note: str) -> dict[str, Any]:
    host = fit.host_launch_seconds
    return {
        "matmul_compute_fraction": _sourced(matmul_fraction, f"{measured}: {matmul_note}"),
        "attention_compute_fraction": _sourced(attention_fraction, f"{measured}: longest causal attn_prefill rows"),
        "matmul_rows_half": _sourced(fit.matmul_rows_half, f"{measured}: 1/rate vs 1/m over GEMMs slower than 2x "
                                                          "their memory time (0: too few such rows)"),
        "memory_fraction": _sourced(memory_fraction, f"{measured}: memory-bound GEMMs (intensity < half the measured balance), least squares slope"),
        "kernel_overhead_seconds": _sourced(fit.kernel_overhead_seconds, f"{measured}: same fit, intercept"),
        "host_launch_seconds": _sourced(host if host is not None else 0.0,
                                        f"{measured}: op_overhead decoder_layer_tiny per modelled op" if host is not None
                                        else "assumed: no op_overhead rows in the measure file, so 0"),
    }


def calibrate_base_device(rows: list[dict[str, Any]], base_id: str, device_id: str, measured: str) -> dict[str, Any]:
    """The base device's YAML with a refitted efficiency block, as a mapping of sourced figures."""
    base = load_device(base_id)
    fit = fit_device(rows)
    data = read_yaml(DEVICES_DIR / f"{base.id}.yaml") if (DEVICES_DIR / f"{base.id}.yaml").exists() else None
    if data is None:
        raise InfersimError(f"--device must be a catalog device to calibrate against; '{base_id}' is not")
    data.pop("efficiency_from", None)  # the fit below replaces any borrowed efficiency
    data["id"] = device_id
    data["calibrates"] = base.id
    data["name"] = f"{base.name} (calibrated)"
    by_dtype = {}
    for dtype in sorted({dtype_of(r) for r in rows if r.get("kind") in ("gemm", "gemm_graph")} - {fit.dtype}):
        if base.supports(dtype):
            achieved = fit_matmul_flops(rows, dtype, fit.kernel_overhead_seconds)
            by_dtype[dtype] = _sourced(_fraction(f"{dtype} matmul FLOP/s", achieved, base.peak_for(dtype), base.id),
                                       f"{measured}: {dtype} GEMMs with the largest m")
    data["efficiency"] = _efficiency(
        fit,
        memory_fraction=_fraction("bandwidth", fit.achieved_bytes_per_s, base.main_memory.bytes_per_s, base.id),
        matmul_fraction=_fraction("matmul FLOP/s", fit.matmul_flops_per_s, base.peak_for(fit.dtype), base.id),
        attention_fraction=_fraction("attention FLOP/s", fit.attention_flops_per_s, base.peak_for(fit.dtype), base.id),
        measured=measured, matmul_note="median over the GEMMs with the largest m, fixed cost removed",
    )
    if by_dtype:
        data["efficiency"]["matmul_compute_fraction_by_dtype"] = by_dtype
    return data


def _memory_bytes(machine: dict[str, Any]) -> tuple[float, str]:
    if machine.get("memory_bytes"):
        return float(machine["memory_bytes"]), "measured: machine row of the measure file"
    try:
        pages, page = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        raise InfersimError("the measure file does not give the machine's memory and this system cannot tell it") from None
    return float(pages * page), "measured: os.sysconf physical pages at calibration time"


def calibrate_local_cpu(rows: list[dict[str, Any]], device_id: str, measured: str) -> dict[str, Any]:
    """A whole device for the CPU the file was measured on: peaks are the measured rates."""
    machine = machine_row(rows)
    fit = fit_device(rows)
    cores = int(machine.get("cores") or os.cpu_count() or 1)
    bandwidth = fit.copy_bytes_per_s or fit.achieved_bytes_per_s
    capacity, capacity_source = _memory_bytes(machine)
    return {
        "id": device_id,
        "name": str(machine.get("cpu_model") or machine.get("device") or "local CPU"),
        "vendor": "local",
        "execution_model": "cpu",
        "calibrates": device_id,
        "peak_flops_per_s": {fit.dtype: _sourced(fit.matmul_flops_per_s,
                                                 f"{measured}: largest-m GEMM rate, taken as this CPU's peak")},
        "memory": [{
            "name": "dram", "technology": "dram", "role": "resident",
            "capacity_bytes": _sourced(capacity, capacity_source),
            "bytes_per_s": _sourced(bandwidth, f"{measured}: copy rows (read + write bytes / s)" if fit.copy_bytes_per_s
                                    else f"{measured}: memory-bound GEMM slope (no copy rows)"),
        }],
        "tdp_watts": _sourced(10.0 * cores, f"assumed: ~10 W per core ({cores} cores) for a server CPU under load"),
        "price": {"usd_per_hour": _sourced(0.04 * cores, f"assumed: ~$0.04 per vCPU-hour, a typical 2025 cloud rate, x {cores}")},
        "efficiency": _efficiency(
            fit, memory_fraction=min(fit.achieved_bytes_per_s / bandwidth, 1.0), matmul_fraction=1.0,
            attention_fraction=min(fit.attention_flops_per_s / fit.matmul_flops_per_s, 1.0), measured=measured,
            matmul_note="1 by construction (the peak is the measured large-GEMM rate)",
        ),
        "notes": f"Calibrated from {measured.removeprefix('measured: ')} on {machine.get('date', date.today().isoformat())}.",
    }


def write_yaml_atomically(data: dict[str, Any], path: Path) -> None:
    """Write YAML through a temp file in the same folder and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as stream:
            yaml.safe_dump(data, stream, sort_keys=False, allow_unicode=True, width=120)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def calibrate(measure_file: Path, *, base: str | None = None, device_id: str | None = None,
              out: Path | None = None) -> Path:
    """Fit, validate the result as a device, and write it; returns the path written."""
    rows = read_measure_file(measure_file)
    machine = machine_row(rows)
    measured = f"measured: infersim calibrate {measure_file.name}"
    if base is None and machine.get("device_type", "cpu") != "cpu":
        raise InfersimError("a GPU measure file needs --device <catalog id> to calibrate against (e.g. h100-sxm)")
    if base is None:
        data = calibrate_local_cpu(rows, device_id or "local-cpu", measured)
    else:
        data = calibrate_base_device(rows, base, device_id or f"{base}-calibrated", measured)
    device_from_mapping(json.loads(json.dumps(data)), str(measure_file))  # validate before writing anything
    target = out or user_devices_dir() / f"{data['id']}.yaml"
    write_yaml_atomically(data, target)
    return target
