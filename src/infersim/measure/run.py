"""`infersim measure`: time real work on this machine and write it as JSON lines (docs/measure-format.md).

The file is written through a temp file in the target folder and renamed into place at the end, so an
interrupted or failed run leaves no half-written file.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from infersim.errors import InfersimError
from infersim.measure import machine, microbench, models
from infersim.measure.presets import Preset, preset
from infersim.measure.timing import Timer

MISSING_TORCH = ("infersim measure needs PyTorch and transformers: "
                 "pip install torch==2.13.0 && pip install -e '.[measure]'")

Row = dict[str, Any]


@dataclass(frozen=True)
class MeasureResult:
    path: Path
    rows: int
    seconds: float
    device: str
    kinds: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        kinds = ", ".join(f"{count} {kind}" for kind, count in self.kinds.items() if kind != "machine")
        return f"{self.rows} rows ({kinds}) on {self.device} in {self.seconds:.0f} s"


def require_torch() -> None:
    """Import torch and transformers, or stop with the one-line install hint."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        raise InfersimError(MISSING_TORCH) from None


def resolve_device(name: str | None) -> Any:
    """`cpu`, `cuda` (or `cuda:N`); None picks CUDA when it is available, else the CPU."""
    import torch

    if name is None:
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InfersimError(f"unknown device '{name}': choose cpu or cuda") from None
    if device.type not in ("cpu", "cuda"):
        raise InfersimError(f"unknown device '{name}': choose cpu or cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InfersimError(f"--device {name}, but this PyTorch ({torch.__version__}) sees no CUDA GPU; "
                            f"use --device cpu")
    return device


MODEL_DTYPES = ("fp32", "bf16", "fp16")


def choose_dtype(timer: Timer, requested: str | None = None) -> tuple[str, dict[str, float]]:
    """The dtype to run in, and a probe of fp32 and bf16 GEMM rates on a CPU (64x512x512; CPUs without
    bf16 units emulate it, ~100x slower). `requested` when given; else bf16 on CUDA and fp32 on a CPU,
    the formats Hugging Face models load in there by default (on a CPU, bf16 eager also takes slow
    paths a GEMM probe does not show, such as the LM head on a strided last-token slice)."""
    if requested is not None and requested not in MODEL_DTYPES:
        raise InfersimError(f"unknown --dtype '{requested}': choose one of {', '.join(MODEL_DTYPES)}")
    if timer.device.type == "cuda":
        return requested or "bf16", {}
    import torch

    rates = {}
    m, k, n = 64, 512, 512
    for name in ("fp32", "bf16"):
        a = torch.randn(m, k, dtype=machine.torch_dtype(name))
        w = torch.randn(k, n, dtype=machine.torch_dtype(name))
        rates[name] = 2.0 * m * k * n / timer.seconds(lambda: a @ w, repeats=3)
    return requested or "fp32", rates


def _other_dtypes(device_type: str, chosen: str, probe: dict[str, float]) -> list[str]:
    """Extra GEMM dtypes worth a sub-grid: on CUDA the other 16-bit format and fp32; on CPU the other of
    fp32/bf16 when it runs at least half as fast."""
    if device_type == "cuda":
        return [d for d in ("fp16", "fp32") if d != chosen]
    return [d for d, rate in probe.items() if d != chosen and rate >= 0.5 * probe[chosen]]


def measure_rows(plan: Preset, timer: Timer, dtype: str, probe: dict[str, float], machine_fields: Row,
                 progress: Callable[[str], None]) -> Iterator[Row]:
    """Every row of a run, machine row first, in the order they are measured."""
    yield machine_fields
    cuda = timer.device.type == "cuda"
    progress("copy bandwidth")
    yield from microbench.copy_rows(timer, dtype, plan.copy_bytes)
    progress(f"GEMM: {len(plan.gemm)} shapes, {dtype}")
    yield from microbench.gemm_rows(timer, dtype, plan.gemm)
    if cuda:
        yield from microbench.gemm_graph_rows(timer, dtype, plan.gemm)
    for other in _other_dtypes(timer.device.type, dtype, probe) if plan.gemm_other_dtypes else ():
        progress(f"GEMM: {len(plan.gemm_other_dtypes)} shapes, {other}")
        yield from microbench.gemm_rows(timer, other, plan.gemm_other_dtypes)
        if cuda:
            yield from microbench.gemm_graph_rows(timer, other, plan.gemm_other_dtypes)
    progress(f"attention: {len(plan.attn_prefill)} prefill, {len(plan.attn_decode)} decode shapes")
    yield from microbench.attention_rows(timer, dtype, plan.attn_prefill, plan.attn_decode)
    progress("op overhead")
    yield from microbench.op_overhead_rows(timer, dtype)
    for shape in plan.models:
        progress(f"model {shape.name}: {len(shape.prefill)} prefill, {len(shape.decode)} decode cases")
        yield from models.measure_model(shape, timer, dtype, plan)


@contextmanager
def atomic_jsonl(path: Path) -> Iterator[Callable[[Row], None]]:
    """A `write(row)` that appends JSON lines to a temp file beside `path`, renamed onto `path` only when
    the block ends without an exception; on any exception the temp file is removed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    except OSError as exc:
        raise InfersimError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "w") as stream:
            yield lambda row: stream.write(json.dumps(row, allow_nan=False) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def default_path(device_type: str) -> Path:
    return Path.cwd() / f"infersim-measure-{device_type}-{date.today().isoformat()}.jsonl"


def measure(*, preset_name: str = "full", device: str | None = None, out: Path | str | None = None,
            command: str = "infersim measure", seed: int = 0, dtype: str | None = None,
            progress: Callable[[str], None] | None = None) -> MeasureResult:
    """Run a preset's measurements on `device` and write them to `out` (default
    ./infersim-measure-<device>-<date>.jsonl), in `dtype` (default: chosen by `choose_dtype`). Returns where, how many rows of which kinds, how long."""
    require_torch()
    import torch

    begin = time.perf_counter()
    target = Path(out) if out is not None else None
    if target is not None and target.is_dir():
        raise InfersimError(f"--out {target} is a folder; give a file name such as {target / 'measure.jsonl'}")
    dev = resolve_device(device)
    plan = preset(preset_name, dev.type)
    target = target or default_path(dev.type)
    torch.set_num_threads(os.cpu_count() or 1)
    timer = Timer(dev, warmup=plan.warmup, repeats=plan.repeats)
    dtype, probe = choose_dtype(timer, dtype)
    row0 = machine.machine_row(dev, command=command, model_dtype=dtype, dtype_probe=probe)
    row0["preset"] = plan.name
    kinds: Counter[str] = Counter()
    say = progress or (lambda _message: None)
    with atomic_jsonl(target) as write:
        for row in measure_rows(plan, timer, dtype, probe, row0, say):
            row.setdefault("device", row0["device"])
            row.setdefault("runtime", "pytorch-eager")
            write(row)
            kinds[row["kind"]] += 1
    return MeasureResult(path=target, rows=sum(kinds.values()), seconds=time.perf_counter() - begin,
                         device=row0["device"], kinds=dict(kinds))
