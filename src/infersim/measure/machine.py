"""Facts about the machine a measure file comes from: its first row (docs/measure-format.md)."""

from __future__ import annotations

import os
import platform
import sys
from datetime import date
from pathlib import Path
from typing import Any

# torch dtypes by the names measure files use (the calibration fit reads the same names).
DTYPE_NAMES = ("fp32", "bf16", "fp16")


def torch_dtype(name: str) -> Any:
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what `platform` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def memory_bytes() -> int | None:
    """Physical memory in bytes (os.sysconf pages x page size), None where the system cannot tell."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def machine_row(device: Any, *, command: str, model_dtype: str, dtype_probe: dict[str, float]) -> dict[str, Any]:
    """The `machine` row: what ran, on what, with which software, when, and how it was invoked."""
    import torch

    try:
        import transformers

        transformers_version: str | None = transformers.__version__
    except ImportError:
        transformers_version = None
    cuda = device.type == "cuda"
    gpu_name = torch.cuda.get_device_name(device) if cuda else None
    cpu = cpu_model()
    row: dict[str, Any] = {
        "kind": "machine",
        "device": gpu_name if cuda else cpu,
        "device_type": device.type,
        "cpu_model": cpu,
        "cores": os.cpu_count() or 1,
        "gpu_name": gpu_name,
        "torch": torch.__version__,
        "transformers": transformers_version,
        "python": platform.python_version(),
        "command": command,
        "date": date.today().isoformat(),
        "threads": torch.get_num_threads(),
        "memory_bytes": memory_bytes(),
        "platform": f"{sys.platform}-{platform.machine()}",
        "dtype": model_dtype,
        "dtype_probe_flops_per_s": dtype_probe,
    }
    if cuda:
        props = torch.cuda.get_device_properties(device)
        row["gpu_memory_bytes"] = int(props.total_memory)
        row["cuda"] = torch.version.cuda
    return row
