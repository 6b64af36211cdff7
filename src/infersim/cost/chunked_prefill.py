"""Chunked prefill: a prompt of P tokens in n = ⌈P/C⌉ passes of C tokens (vLLM's chunked prefill,
TensorRT-LLM's chunked context), chunk j attending to the j·C tokens the earlier ones cached.

    TTFT = Σ_j T_j                 on one device or a tensor-parallel group
    TTFT = Σ_j T_j / V + (1 − 1/V)·T_last + (pp − 1)·t_send(chunk)     down a pipeline of V stages

The passes' FLOPs add up to the one pass's (causal attention over the chunks covers the same P(P+1)/2
keys per head); what chunking costs is traffic (the weights once per chunk, the prefix re-read) and
per-kernel overhead; what it buys is an activation peak of one chunk (docs/modelling.md §6.1).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from infersim.cost.ops import Op, forward_ops
from infersim.cost.results import OpResult, PhaseResult
from infersim.cost.roofline import binding_limit
from infersim.specs.layout import Layout
from infersim.specs.model import ModelSpec
from infersim.specs.workload import Workload


@dataclass(frozen=True)
class PrefillChunks:
    """A prompt of P tokens prefilled in n = ⌈P/C⌉ chunks of C = `tokens`: `lead` = n − 1 full ones, then
    the last of `last_tokens` = P − (n−1)·C after `last_start` cached tokens."""

    prompt: int
    tokens: int

    @classmethod
    def of(cls, prompt: int, chunk: int | None) -> "PrefillChunks | None":
        return cls(prompt, chunk) if chunk is not None else None

    @property
    def count(self) -> int:
        return -(-self.prompt // self.tokens)

    @property
    def lead(self) -> int:
        return self.count - 1

    @property
    def lead_starts(self) -> np.ndarray:
        return np.arange(self.lead, dtype=float) * self.tokens

    @property
    def last_start(self) -> int:
        return self.lead * self.tokens

    @property
    def last_tokens(self) -> int:
        return self.prompt - self.last_start

    def describe(self) -> str:
        last = f", the last {self.last_tokens}" if self.last_tokens != self.tokens else ""
        return (f"prefill in {self.count} chunks of {self.tokens:,} tokens{last}: each reads the weights again and "
                f"attends to the cache the earlier ones wrote; activations peak at one chunk's")

def prefill_pass_ops(model: ModelSpec, workload: Workload, graph: str, layout: Layout,
                 chunks: PrefillChunks | None) -> tuple[list[Op], list[Op]]:
    """The prefill pass's ops (with chunks: the last chunk's, which samples) and the ops of one of the
    n − 1 leading chunks over their starts (none without chunks)."""
    if chunks is None:
        return forward_ops(model, workload, "prefill", graph=graph, layout=layout), []
    last = forward_ops(model, workload, "prefill", graph=graph, layout=layout, chunk_tokens=chunks.last_tokens,
                       cached_tokens=chunks.last_start)
    lead = forward_ops(model, workload, "prefill", graph=graph, layout=layout, chunk_tokens=chunks.tokens,
                       cached_tokens=chunks.lead_starts, logits=False) if chunks.lead else []
    return last, lead

def sum_phases(parts: list[tuple[PhaseResult, int]]) -> PhaseResult:
    """Passes run one after another (`count` of each): their times, work and traffic add; what binds is
    the host when its launches outlast the device, else the largest share of the summed time."""
    def total(attr: str) -> float:
        return sum(getattr(phase, attr) * n for phase, n in parts)

    by_bound: dict[str, float] = {}
    for phase, n in parts:
        for bound, seconds in phase.seconds_by_bound.items():
            by_bound[bound] = by_bound.get(bound, 0.0) + seconds * n
    host, device_seconds = total("host_seconds"), total("device_seconds")
    bound = "host" if host > device_seconds else max(by_bound, key=by_bound.__getitem__)
    return PhaseResult(total("seconds"), device_seconds, host, total("flops"), total("bytes"), bound, by_bound,
                       total("comm_seconds"), total("wire_bytes"), total("host_link_seconds"),
                       total("host_link_bytes"))


_SUMMED_ROW_FIELDS = ("flops", "bytes", "weight_bytes", "kv_bytes", "activation_bytes", "compute_seconds",
                      "memory_seconds", "overhead_seconds", "seconds", "wire_bytes", "comm_seconds")


def sum_rows(parts: list[tuple[list[OpResult], int]]) -> list[OpResult]:
    """One row per op over passes run one after another: FLOPs, bytes and seconds summed (`count` passes
    of each), shape and count from the last pass, bound by what binds the summed time."""
    merged: dict[str, OpResult] = {}
    for rows, n in parts:
        for row in rows:
            scaled = {f: getattr(row, f) * n for f in _SUMMED_ROW_FIELDS}
            tiers = {t: b * n for t, b in row.bytes_by_tier.items()}
            if row.name in merged:
                old = merged[row.name]
                scaled = {f: getattr(old, f) + scaled[f] for f in _SUMMED_ROW_FIELDS}
                tiers = {t: old.bytes_by_tier.get(t, 0.0) + tiers.get(t, 0.0)
                         for t in {*old.bytes_by_tier, *tiers}}
            merged[row.name] = replace(row, **scaled, bytes_by_tier=tiers)
    out = []
    for row in merged.values():
        intensity = row.flops / row.bytes if row.bytes else None
        bound = row.bound_by
        if row.kind not in ("collective", "transfer"):
            bound = binding_limit(row.compute_seconds, row.memory_seconds, row.overhead_seconds)
        out.append(replace(row, arithmetic_intensity=intensity, bound_by=bound))
    return out

def chunks_pipelined(total: PhaseResult, last: PhaseResult, send_seconds: float, pp: int,
                      stages: int) -> PhaseResult:
    """A chunked prefill down a pipeline of V stages (module docstring): Σ T_j / V + (1 − 1/V)·T_last
    + (pp − 1) sends of a chunk's activations."""
    seconds = total.seconds / stages + (1.0 - 1.0 / stages) * last.seconds + (pp - 1) * send_seconds
    by_bound = dict(total.seconds_by_bound)
    if send_seconds and pp > 1:
        by_bound["communication"] = by_bound.get("communication", 0.0) + (pp - 1) * send_seconds
    return replace(total, seconds=seconds, device_seconds=total.device_seconds + (pp - 1) * send_seconds,
                   comm_seconds=total.comm_seconds + (pp - 1) * send_seconds, seconds_by_bound=by_bound)
