"""Fit `h100-sxm`'s achievable fractions and overheads on measured H100 runs, and score the result.

Data (shipped in `calibration/data/`, measured on one H100 SXM5 80GB, see its README):
- `gemm_graph` rows (matmuls inside a CUDA graph, weights not in L2):
  * memory-bound rows (m ≤ 64 here: intensity below half the measured balance) fit
    `seconds = overhead + bytes / (memory_fraction · 3.35 TB/s)` by least squares: the slope gives the
    achieved bandwidth, the intercept the per-kernel overhead;
  * the compute-bound rows with the most rows per GEMM (m = 4096, the regime of a prefill of thousands
    of tokens, sustained over many waves of tiles) give `matmul_compute_fraction` = median achieved /
    peak FLOP/s; m = 1024 rows run a single partial wave and read high, so they are left out.
- `attn_prefill` rows long enough to hide the launch floor (≥ 8192 tokens) give
  `attention_compute_fraction` = median achieved / peak on causal FLOPs 4·B·H·T·(T+1)/2·d_h.
- eager FP8 GEMMs (`torch._scaled_mm`) at the largest m give the FP8 matmul fraction of the FP8 peak;
- one whole-model row, the shortest `fast_prefill` (128 tokens, where the device finishes long before
  the host has launched every op), gives `host_launch_seconds` = seconds / ops launched. This is the
  only figure taken from a whole-model run; every other llama-2-7b row is held out.

The fit is deterministic: `infersim calibrate-h100` prints it and the scorecard.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from statistics import median
from typing import Any

DATA = "infersim.calibration.data"
HOST_FIT_ROW = {"kind": "fast_prefill", "batch": 1, "prompt": 128}


def load_rows(name: str) -> list[dict[str, Any]]:
    """Rows of a shipped JSONL measurement file."""
    text = resources.files(DATA).joinpath(name).read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@dataclass(frozen=True)
class H100Fit:
    memory_fraction: float
    kernel_overhead_seconds: float
    matmul_compute_fraction: float
    attention_compute_fraction: float
    host_launch_seconds: float
    fp8_matmul_compute_fraction: float

    def rounded(self) -> dict[str, float]:
        """The values as written in the catalog (3 significant figures)."""
        return {k: float(f"{v:.3g}") for k, v in self.__dict__.items()}


def fit_host_launch(model_rows: list[dict[str, Any]]) -> float:
    """Host seconds per launched op from the shortest prefill, where the host binds."""
    from infersim.cost.ops import forward_ops
    from infersim.specs.catalog import load_model
    from infersim.specs.workload import Workload

    row = next(r for r in model_rows if all(r.get(k) == v for k, v in HOST_FIT_ROW.items()))
    ops = forward_ops(load_model("llama-2-7b"), Workload(batch=row["batch"], prompt_tokens=row["prompt"]), "prefill")
    return row["seconds"] / sum(op.launches * op.count for op in ops)


def fit() -> H100Fit:
    """The whole fit (see module docstring), from the shipped measurements, with the generic fitting
    functions of `calibration.fit` that `infersim calibrate` uses on any measure file."""
    from infersim.calibration import fit as generic
    from infersim.specs.catalog import load_device

    device = load_device("h100-sxm")
    micro = load_rows("microbench.jsonl")
    peak = device.peak_for("bf16")
    bytes_per_s, overhead = generic.fit_memory(micro, "bf16")
    return H100Fit(
        memory_fraction=bytes_per_s / device.main_memory.bytes_per_s,
        kernel_overhead_seconds=overhead,
        matmul_compute_fraction=generic.fit_matmul_flops(micro, "bf16", overhead) / peak,
        attention_compute_fraction=generic.fit_attention_flops(micro, overhead, min_tokens=8192) / peak,
        host_launch_seconds=fit_host_launch(load_rows("llama-2-7b.jsonl")),
        fp8_matmul_compute_fraction=generic.fit_matmul_flops(micro, "fp8", overhead) / device.peak_for("fp8"),
    )


@dataclass(frozen=True)
class ScoredRow:
    case: str
    measured_seconds: float
    predicted_seconds: float
    used_in_fit: bool

    @property
    def error(self) -> float:
        """Signed relative error: predicted / measured − 1."""
        return self.predicted_seconds / self.measured_seconds - 1.0


def score_llama_2_7b(device: str = "h100-sxm") -> list[ScoredRow]:
    """Predicted vs measured for every llama-2-7b prefill and CUDA-graph decode row."""
    from infersim.cost.estimate import estimate

    scored = []
    for r in load_rows("llama-2-7b.jsonl"):
        if r["kind"] == "fast_prefill":
            e = estimate("llama-2-7b", device, batch=r["batch"], prompt_tokens=r["prompt"], output_tokens=2)
            used = all(r.get(k) == v for k, v in HOST_FIT_ROW.items())
            scored.append(ScoredRow(f"prefill B={r['batch']} prompt={r['prompt']}", r["seconds"],
                                    e.prefill_seconds, used))
        elif r["kind"] == "fast_decode_graph":
            # a step that reads a cache of `context` tokens: context − 1 cached before, plus the new one
            e = estimate("llama-2-7b", device, batch=r["batch"], prompt_tokens=r["context"] - 1, output_tokens=2)
            scored.append(ScoredRow(f"decode B={r['batch']} context={r['context']}", r["seconds_per_step"],
                                    e.tpot_seconds, False))
    return scored


def markdown_report(fitted: H100Fit, rows: list[ScoredRow]) -> str:
    """The fit and the scorecard as the markdown section kept in docs/validation.md."""
    held_out = [abs(r.error) for r in rows if not r.used_in_fit]
    lines = [
        "| parameter | fitted | from |",
        "|---|---|---|",
        f"| memory_fraction | {fitted.memory_fraction:.3f} | memory-bound gemm_graph rows, least squares slope |",
        f"| kernel_overhead_seconds | {fitted.kernel_overhead_seconds * 1e6:.2f} µs | same fit, intercept |",
        f"| matmul_compute_fraction | {fitted.matmul_compute_fraction:.3f} | gemm_graph m ≥ 4096, median |",
        f"| attention_compute_fraction | {fitted.attention_compute_fraction:.3f} | attn_prefill ≥ 8192 tokens, median |",
        f"| host_launch_seconds | {fitted.host_launch_seconds * 1e6:.1f} µs | llama-2-7b fast_prefill B=1 prompt=128 |",
        f"| matmul_compute_fraction_by_dtype.fp8 | {fitted.fp8_matmul_compute_fraction:.3f} | eager fp8 gemm, "
        "largest m, median |",
        "",
        "| case | measured ms | predicted ms | error | |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        tag = "used in fit" if r.used_in_fit else "held out"
        lines.append(f"| {r.case} | {r.measured_seconds * 1e3:.2f} | {r.predicted_seconds * 1e3:.2f} | "
                     f"{r.error * 100:+.1f}% | {tag} |")
    lines += ["", f"Held-out rows: {len(held_out)}; median absolute error {median(held_out) * 100:.1f}%, "
              f"largest {max(held_out) * 100:.1f}%. All rows: median absolute error "
              f"{median(abs(r.error) for r in rows) * 100:.1f}%."]
    return "\n".join(lines)
