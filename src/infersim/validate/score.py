"""Predict every case with infersim's own cost model and compare with what was measured.

- A whole-model case is one `infersim.estimate` call (model, device or system and device count, layout,
  batch, prompt, output, formats, runtime); the metric picks a field of the estimate (tokens/s per GPU
  is the total over the devices).
- A kernel case (one GEMM, attention or copy timed alone) is the same op infersim builds inside a
  forward pass, timed by the same roofline, placement and runtime rules the estimate uses:
  a [m, k] x [k, n] GEMM is the down projection of a one-layer model with MLP width k and hidden size
  n at m token rows; attention is the attention of a one-layer model with those heads; a copy is one
  elementwise op that reads and writes its bytes; a host copy is the `transfer` op an offloaded KV cache
  puts on the PCIe link. Under a CUDA graph the time is the device's alone;
  eager ops are launched from the host, whose per-op time can bind. A collective (nccl-tests) is
  `cost.collectives.collective_seconds` on the case's system, reported as nccl-tests' bus bandwidth.

Status: `scored` (predicted, error = predicted / measured − 1 on the metric as given, so a positive
error is a predicted throughput too high or a predicted time too long), `scored-does-not-fit` (the
case's weights, cache and activations exceed the device: the prediction is shown, but left out of the
error statistics since no such run could happen), or `unsupported` with the reason (speculative
decoding, serving simulation, an unstated device count, ... : what infersim cannot express yet).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from infersim.errors import InfersimError
from infersim.validate.cases import (
    Case, calibrated_device_for, measured_cases, published_cases, shipped_h100_rows,
)

if TYPE_CHECKING:
    from infersim.specs.system import SystemSpec

# What a measurement involves that infersim does not model yet, and why that blocks a prediction.
FEATURES = {
    "speculative-decoding": ("speculative decoding: the row does not say what infersim needs to predict it "
                             "(the drafter, its draft length and the mean accepted length)"),
    "serving-simulator": "needs serving simulator (continuous batching, request rate, dataset-driven lengths)",
    "disaggregated-serving": "prefill/decode disaggregation and expert parallelism are not modelled",
    "relative": "a ratio between two systems or versions, not one system's absolute figure",
    "training": "training, not inference",
    "kv-compression-systems": "a ratio against other offloading systems (DeepSpeed ZeRO-Inference, Hugging Face "
                              "Accelerate, FlexGen), whose schedules infersim does not model",
    "fp8-attention": "attention in fp8 is not modelled (attention runs in the activation format)",
    "kernel-choice": "one attention efficiency per device: a particular kernel (FlashAttention-2 vs 3) is not modelled",
}
ESTIMATE_METRICS = ("output_tokens_per_s_total", "output_tokens_per_s_per_gpu", "output_tokens_per_s_per_user",
                    "ttft_seconds", "tpot_seconds", "prefill_seconds")
KERNEL_METRICS = ("seconds", "copy_bytes_per_s", "attention_flops_per_s", "bus_bytes_per_s", "transfer_bytes_per_s")
SPECULATIVE_METRICS = ("speedup",)

SCORED, MISFIT, UNSUPPORTED = "scored", "scored-does-not-fit", "unsupported"


@dataclass(frozen=True)
class Result:
    """One case, predicted (or not, and why)."""

    case: str
    category: str
    metric: str
    measured: float
    predicted: float | None
    status: str
    note: str  # the reason when unsupported; caveats when scored (bounds, assumed efficiencies, misfit)
    system: str = ""
    model: str | None = None
    device: str | None = None
    source: str = ""
    value_text: str = ""
    assumptions: str = ""
    bound: str | None = None  # "lower" / "upper" when the measured figure is "> x" / "up to x"

    @property
    def error(self) -> float | None:
        """Signed relative error: predicted / measured − 1 (None when not scored)."""
        if self.predicted is None or not self.measured:
            return None
        return self.predicted / self.measured - 1.0

    @property
    def bound_met(self) -> bool:
        """A "> x" figure predicted at or above x, an "up to x" one at or below: nothing to measure an error
        against, so the row stays out of the error statistics (it counts once the prediction breaks it)."""
        error = self.error
        if self.bound is None or error is None:
            return False
        return error >= 0 if self.bound == "lower" else error <= 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["error"] = self.error
        data["bound_met"] = self.bound_met
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in data.items()}


@dataclass(frozen=True)
class CategorySummary:
    category: str
    scored: int  # including does-not-fit
    does_not_fit: int
    unsupported: int
    median_abs_error: float | None  # over `scored` cases that fit
    p90_abs_error: float | None
    worst_case: str | None = None  # the scored case with the largest |error|
    worst_error: float | None = None


# ---- why a case cannot be predicted ----------------------------------------------------------------
def _min_devices_note(case: Case) -> str:
    """'; its N GB of weights need ≥ k <device> chips' when the weights alone overflow one device."""
    from infersim.cost.memory import weight_bytes
    from infersim.specs.catalog import load_device, load_model

    if case.model is None or case.device is None:
        return ""
    try:
        model, device = load_model(case.model), load_device(case.device)
    except InfersimError:
        return ""
    dtype = case.weights_dtype or device.activation_dtype
    weights = weight_bytes(model, dtype)
    chips = math.ceil(weights / device.main_memory.capacity_bytes)
    if chips <= 1:
        return ""
    return (f"; its {weights / 1e9:,.1f} GB of {dtype} weights alone need ≥ {chips} {device.id} "
            f"({device.main_memory.capacity_bytes / 1e9:g} GB of {device.main_memory.name} each)")


def unsupported_reasons(case: Case) -> list[str]:
    """Why infersim cannot predict this case yet (empty: it can).

    What the measurement involves that infersim cannot model (its `requires`) and an unstated device
    count come first; only when nothing of that kind blocks it are missing inputs named (a model or
    device not in the catalog, a metric infersim does not predict, an unstated workload), so each
    reason is the one to fix."""
    reasons = [FEATURES.get(feature, f"requires {feature}") for feature in case.requires]
    if case.unsupported:
        reasons.append(case.unsupported)
    if case.devices is None and case.device is None:
        detail = case.device_name.removeprefix("not stated").strip(" ()")
        reasons.append("hardware and device count not stated" + (f" ({detail})" if detail else ""))
    elif case.devices is None:
        reasons.append(f"device count not stated{_min_devices_note(case)}")
    if reasons:
        return reasons
    metrics = KERNEL_METRICS if case.kernel else SPECULATIVE_METRICS if case.speculation else ESTIMATE_METRICS
    if case.device is None and case.system_id is None:
        stated = case.device_name or "not stated"
        reasons.append(f"hardware {stated}" if "not" in stated or "single" in stated
                       else f"device not in catalog: {stated}")
    if case.metric not in metrics:
        reasons.append(f"metric '{case.metric}' is not one infersim predicts")
    elif case.kernel is None and case.model is None:
        reasons.append(f"model not in catalog: {case.model_name}")
    elif case.kernel is None and None in (case.batch, case.prompt_tokens, case.output_tokens):
        reasons.append("workload (batch, prompt and output lengths) not stated")
    elif case.speculation and case.mean_accepted_tokens is None:
        reasons.append("no mean accepted length reported for this row (infersim needs τ or α)")
    return reasons


# ---- kernel cases: one op, timed as the estimate times it ------------------------------------------
def _one_layer_model(*, hidden: int, heads: int, kv_heads: int, head_dim: int, intermediate: int) -> Any:
    from infersim.specs.model import ModelSpec

    return ModelSpec(id="microbenchmark", name="one layer holding a microbenchmark's op",
                     source="validate: a microbenchmark shape", hidden_size=hidden, num_layers=1,
                     num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=head_dim,
                     intermediate_size=intermediate, vocab_size=1)


def kernel_ops(case: Case) -> tuple[list[Any], Any]:
    """The op(s) a kernel case times, built by infersim's forward pass, and the workload they ran in."""
    from infersim.cost.ops import Cost, Op, forward_ops
    from infersim.specs.workload import Workload

    s = case.shape
    act = case.activations_dtype or "bf16"
    if case.kernel == "gemm":
        model = _one_layer_model(hidden=s["n"], heads=1, kv_heads=1, head_dim=64, intermediate=s["k"])
        workload = Workload(batch=1, prompt_tokens=s["m"], weights_dtype=case.weights_dtype or act,
                            activations_dtype=act, kv_dtype=act)
        ops = [op for op in forward_ops(model, workload, "prefill") if op.name == "down_proj"]
    elif case.kernel in ("attention_prefill", "attention_decode"):
        model = _one_layer_model(hidden=s["heads_q"] * s["head_dim"], heads=s["heads_q"], kv_heads=s["heads_kv"],
                                 head_dim=s["head_dim"], intermediate=1)
        kv = case.kv_dtype or act
        if case.kernel == "attention_prefill":
            workload = Workload(batch=s["batch"], prompt_tokens=s["tokens"], activations_dtype=act, kv_dtype=kv,
                                weights_dtype=act)
            ops = forward_ops(model, workload, "prefill")
        else:  # one query token against `cache_tokens` keys: cache_tokens − 1 cached plus its own
            workload = Workload(batch=s["batch"], prompt_tokens=1, activations_dtype=act, kv_dtype=kv,
                                weights_dtype=act)
            ops = forward_ops(model, workload, "decode", cached_tokens=s["cache_tokens"] - 1)
        ops = [op for op in ops if op.kind == "attention"]
    elif case.kernel == "copy":
        workload = Workload(activations_dtype=act, weights_dtype=act, kv_dtype=act)
        ops = [Op("copy", "elementwise", "prefill", Cost(activation_bytes=float(s["bytes_moved"])),
                  f"[{s['bytes_moved']} bytes]")]
    else:
        raise InfersimError(f"case {case.id}: unknown kernel '{case.kernel}'")
    return ops, workload


def kernel_seconds(case: Case) -> float:
    """Seconds of a kernel case's op(s) on its device: the estimate's phase timing, with a graph-captured
    or standalone kernel as device time alone (runtime `compiled`) and an eager one host-launched."""
    from infersim.cost.estimate import time_phase
    from infersim.cost.placement import place
    from infersim.specs.catalog import load_device

    device = load_device(case.device)
    ops, workload = kernel_ops(case)
    runtime = "eager" if case.runtime == "eager" else "compiled"
    phase, _ = time_phase(ops, device, place(device, 0.0, 0.0, 0.0), workload, runtime, "prefill")
    return phase.seconds


# ---- collective cases: an nccl-tests run on a system ------------------------------------------------
def bus_bytes_per_s(collective: str, bytes: float, seconds: float, devices: int) -> float:
    """nccl-tests' bus bandwidth of one collective on `devices` ranks: busbw = algbw · factor, algbw = bytes /
    seconds.

    `bytes` is the size nccl-tests reports (an all-reduce's buffer on each rank, an all-gather's gathered
    output, a reduce-scatter's input), the per-device buffer `cost.collectives` takes. The factor makes the
    figure comparable with a link's bandwidth whatever n: 2(n−1)/n for all-reduce, (n−1)/n for all-gather,
    reduce-scatter and all-to-all, 1 for send-recv (NVIDIA/nccl-tests doc/PERFORMANCE.md, "Bus bandwidth").
    E.g. 8 ranks all-reducing 8 GiB in 0.1 s: algbw = 85.9 GB/s, busbw = 85.9 · 14/8 = 150.3 GB/s."""
    from infersim.cost.collectives import COLLECTIVES

    if collective not in COLLECTIVES:
        raise InfersimError(f"unknown collective '{collective}': known {', '.join(COLLECTIVES)}")
    n = devices
    factor = {"all-reduce": 2 * (n - 1) / n, "send-recv": 1.0}.get(collective, (n - 1) / n)
    return bytes / seconds * factor


def collective_system(case: Case) -> SystemSpec:
    """The `SystemSpec` a collective case runs on: its catalog system (resized to `devices` where that differs),
    else `devices` of its device behind a switch on the device's fastest link, as `infersim.estimate` builds it."""
    from infersim.cost.parallel import switch_of
    from infersim.specs.catalog import load_device, load_system

    if case.system_id:
        system = load_system(case.system_id)
        return system if case.devices in (None, system.device_count) else system.resized(case.devices)
    return switch_of(load_device(case.device), case.devices)


def _predict_collective(case: Case) -> tuple[float, list[str]]:
    from infersim.cost.collectives import collective_seconds

    system = collective_system(case)
    kind, size = case.shape["collective"], float(case.shape["bytes"])
    time = collective_seconds(kind, size, system)
    note = f"{time.algorithm} {kind} on {system.id} ({system.device_count} x {system.device})"
    if case.metric == "seconds":
        return time.seconds, [note]
    return bus_bytes_per_s(kind, size, time.seconds, system.device_count), [note]


def _predict_host_copy(case: Case) -> tuple[float, list[str]]:
    """Bytes/s of one host copy of `shape.bytes`: the transfer op an offloaded KV cache puts on the PCIe
    link (`estimate.time_transfer`), one direction's bandwidth times `host_link_fraction` for both."""
    from infersim.cost.estimate import time_transfer
    from infersim.cost.ops import Cost, Op
    from infersim.specs.catalog import load_device

    device = load_device(case.device)
    size = float(case.shape["bytes"])
    seconds, link = time_transfer(Op("host_copy", "transfer", "decode", Cost(wire_bytes=size), ""), device)
    return size / seconds, [f"{link} x {device.efficiency.host_link_fraction:.3f} achieved"]


def _predict_kernel(case: Case) -> tuple[float, list[str]]:
    from infersim.cost.ops import mean_of

    if case.kernel == "collective":
        return _predict_collective(case)
    if case.kernel == "host_copy":
        return _predict_host_copy(case)
    seconds = kernel_seconds(case)
    if case.metric == "copy_bytes_per_s":
        return case.shape["bytes_moved"] / seconds, []
    if case.metric == "attention_flops_per_s":
        ops, _ = kernel_ops(case)
        return sum(mean_of(op.cost.flops) * op.count for op in ops) / seconds, []
    return seconds, []


def predict_model(case: Case) -> tuple[float, list[str], bool]:
    """A whole-model row's predicted `metric`, the estimate's notes and whether it fits (`case.device` may
    be a DeviceSpec instead of a catalog id, as calibration/wafer.py varies one)."""
    from pydantic import ValidationError

    from infersim.cost.estimate import estimate
    from infersim.specs.kvcache import KVCache, policy_error

    try:
        kv = KVCache.model_validate(case.kv_cache)
    except ValidationError as exc:
        raise policy_error(exc) from None
    est = estimate(case.model, case.device, batch=case.batch, prompt_tokens=case.prompt_tokens,
                   output_tokens=case.output_tokens, weights_dtype=case.weights_dtype, kv_dtype=case.kv_dtype,
                   activations_dtype=case.activations_dtype, runtime=case.runtime, system=case.system_id,
                   devices=case.devices, kv_cache=kv, mlp_weights_dtype=case.mlp_weights_dtype, overlap=case.overlap,
                   prefill_chunk_tokens=case.prefill_chunk_tokens, padded_batch=case.padded_batch,
                   mesh_grid=case.mesh_grid, **case.layout)
    if case.metric == "output_tokens_per_s_per_gpu":
        value = est.output_tokens_per_s_total / est.devices
    else:
        value = float(getattr(est, case.metric))
    notes = list(est.notes)
    if est.devices > 1:
        notes.insert(0, f"{est.devices} x {est.device} on {est.system}, {est.layout_description}")
    return value, notes, est.memory.fits


def _predict_speculative(case: Case) -> tuple[float, list[str], bool]:
    """The speedup of a speculative-decoding row: its drafter and draft length (`speculation`), the mean
    accepted length τ it reports, timed by techniques.speculative at its batch."""
    from infersim.techniques.speculative import make_speculation, speculate

    fields = dict(case.speculation)
    spec = make_speculation(mean_accepted_tokens=case.mean_accepted_tokens, **fields)
    result = speculate(case.model, case.device, spec, batches=(case.batch or 1,), prompt_tokens=case.prompt_tokens,
                       output_tokens=case.output_tokens, weights_dtype=case.weights_dtype, kv_dtype=case.kv_dtype,
                       activations_dtype=case.activations_dtype, runtime=case.runtime)[0]
    note = (f"{spec.drafter.kind}, γ = {spec.draft_tokens}, {spec.verified_tokens} verified, τ = "
            f"{spec.tokens_per_step:g}: draft {result.draft_seconds * 1e3:.2f} ms + verify "
            f"{result.verify_seconds * 1e3:.2f} ms"
            + (f" + bookkeeping {result.bookkeeping_seconds * 1e3:.2f} ms" if result.bookkeeping_seconds else "")
            + f" against {result.plain_tpot_seconds * 1e3:.2f} ms plain" + _host_work_note(result, spec, case.runtime))
    return result.speedup, [note], result.fits


def _host_work_note(result, spec, runtime: str | None) -> str:
    """Whose measured host time an eager speculative step paid (a stand-in's when the code has one), or that
    its code's host work was not measured."""
    if result.host_costs_from == spec.reference_code:
        return f"; host time of the {spec.reference_code} code as measured"
    if result.host_costs_from:
        return f"; host time of the {result.host_costs_from} code as measured, standing in for {spec.reference_code}'s"
    return f"; the {spec.reference_code} code's host work not measured (taken as free)" if runtime == "eager" else ""


def score_case(case: Case) -> Result:
    """Predict one case, or say why it cannot be predicted yet."""
    common = dict(case=case.id, category=case.category, metric=case.metric, measured=case.value,
                  system=case.system, model=case.model_id, device=case.device, source=case.source,
                  value_text=case.value_text, assumptions=case.assumptions, bound=case.bound)
    reasons = unsupported_reasons(case)
    if reasons:
        return Result(predicted=None, status=UNSUPPORTED, note="; ".join(reasons), **common)
    try:
        if case.kernel:
            predicted, notes = _predict_kernel(case)
            fits = True
        elif case.speculation:
            predicted, notes, fits = _predict_speculative(case)
        else:
            predicted, notes, fits = predict_model(case)
    except InfersimError as exc:
        return Result(predicted=None, status=UNSUPPORTED, note=str(exc), **common)
    caveats = [case.note] if case.note else []
    result = Result(predicted=predicted, status=SCORED if fits else MISFIT, note="", **common)
    if case.bound:
        kind = "a lower" if case.bound == "lower" else "an upper"
        caveats.append(f"measured is {kind} bound, " + ("met: out of the error statistics" if result.bound_met
                                                        else "broken"))
    return replace(result, note="; ".join(caveats + notes))


# ---- sources of cases ------------------------------------------------------------------------------
def score_published() -> list[Result]:
    return [score_case(c) for c in published_cases()]


def _h100_scorecard_key(case_name: str) -> str:
    """The validate case id of a `calibration.h100.score_llama_2_7b` row ('prefill B=1 prompt=128')."""
    phase, rest = case_name.split(" ", 1)
    return f"h100 {'fast_prefill' if phase == 'prefill' else 'fast_decode_graph'} llama-2-7b {rest}"


def score_shipped_h100() -> list[Result]:
    """The shipped H100 files: microbenchmarks, and llama-2-7b whole-model rows. The CUDA-graph rows
    take their predictions from the calibration scorecard (`calibration.h100.score_llama_2_7b`), the
    same estimate calls, so the two reports agree to the digit."""
    from infersim.calibration.h100 import score_llama_2_7b

    files = shipped_h100_rows()
    results = [score_case(c) for c in measured_cases(files["microbench.jsonl"], "h100", "h100-sxm")]
    calibrated = {_h100_scorecard_key(r.case): r for r in score_llama_2_7b("h100-sxm")}
    for case in measured_cases(files["llama-2-7b.jsonl"], "h100", "h100-sxm"):
        row = calibrated.get(case.id)
        if row is None:
            results.append(score_case(case))
            continue
        note = "used in fit (host_launch_seconds)" if row.used_in_fit else "held out (calibrate-h100 scorecard)"
        results.append(Result(case=case.id, category=case.category, metric=case.metric, measured=case.value,
                              predicted=row.predicted_seconds, status=SCORED, note=note, system=case.system,
                              model=case.model_id, device=case.device, source=case.source))
    return results


def score_measured_file(path: str | Path, device: str | None = None) -> list[Result]:
    """Every row of a measurement file, predicted on `device`; by default the device `infersim
    calibrate` wrote from this file, if there is one (else each case is unsupported, saying so)."""
    from infersim.calibration.calibrate import read_measure_file
    from infersim.specs.catalog import load_device

    path = Path(path)
    rows = read_measure_file(path)
    device = device or calibrated_device_for(path)
    reason = None
    if device is None:
        reason = f"no device to predict on: pass --device, or run `infersim calibrate {path}` first"
    else:
        load_device(device)  # an unknown id is one clear error before anything is scored
    return [score_case(c) for c in measured_cases(rows, path.name, device, reason)]


# ---- the scorecard ---------------------------------------------------------------------------------
def _p90(values: list[float]) -> float:
    return float(np.percentile(values, 90))


def summarize(results: Iterable[Result]) -> list[CategorySummary]:
    """Per category, in order of first appearance: counts and the median / 90th-percentile |error|."""
    by_category: dict[str, list[Result]] = {}
    for r in results:
        by_category.setdefault(r.category, []).append(r)
    summary = []
    for category, rows in by_category.items():
        fitting = [r for r in rows if r.status == SCORED and r.error is not None and not r.bound_met]
        errors = [abs(r.error) for r in fitting]
        worst = max(fitting, key=lambda r: abs(r.error), default=None)
        summary.append(CategorySummary(
            category=category,
            scored=sum(r.status in (SCORED, MISFIT) for r in rows),
            does_not_fit=sum(r.status == MISFIT for r in rows),
            unsupported=sum(r.status == UNSUPPORTED for r in rows),
            median_abs_error=median(errors) if errors else None,
            p90_abs_error=_p90(errors) if errors else None,
            worst_case=worst.case if worst else None,
            worst_error=worst.error if worst else None,
        ))
    return summary


@dataclass(frozen=True)
class Scorecard:
    results: tuple[Result, ...]
    measured_files: tuple[str, ...] = ()

    @property
    def summary(self) -> list[CategorySummary]:
        return summarize(self.results)

    def only(self, cases: Sequence[str] = (), category: str | None = None) -> "Scorecard":
        """The results of the cases named (an id, or a prefix ending a row number: "W6", "65") and/or of the
        categories whose name contains `category` (case-insensitive); a filter that matches nothing is one
        InfersimError line naming what would."""
        results = self.results
        if category is not None:
            results = tuple(r for r in results if category.lower() in r.category.lower())
            if not results:
                known = sorted({r.category for r in self.results})
                raise InfersimError(f"no validation category matches '{category}'; categories: {', '.join(known)}")
        if cases:
            def named(case_id: str, wanted: str) -> bool:
                return case_id == wanted or (case_id.startswith(wanted) and not case_id[len(wanted)].isdigit())

            unknown = [c for c in cases if not any(named(r.case, c) for r in results)]
            if unknown:
                raise InfersimError(f"no validation case {', '.join(repr(c) for c in unknown)}"
                                    f"{' in that category' if category else ''}: give an id of `infersim validate "
                                    "--json` (22a, W6b) or a row's prefix (22, W6)")
            results = tuple(r for r in results if any(named(r.case, c) for c in cases))
        return Scorecard(results, self.measured_files)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; `infersim validate --json` prints exactly this."""
        return {
            "measured_files": list(self.measured_files),
            "totals": {"cases": len(self.results),
                       "scored": sum(r.status in (SCORED, MISFIT) for r in self.results),
                       "does_not_fit": sum(r.status == MISFIT for r in self.results),
                       "unsupported": sum(r.status == UNSUPPORTED for r in self.results)},
            "summary": [asdict(s) for s in self.summary],
            "cases": [r.to_dict() for r in self.results],
        }


def scorecard(measured: Sequence[str | Path] = (), device: str | None = None) -> Scorecard:
    """Every published case, the shipped H100 measurements, and each measurement file given (predicted
    on `device`, else on the device calibrated from it)."""
    from_files = [r for path in measured for r in score_measured_file(path, device)]  # bad files fail first
    results = score_published() + score_shipped_h100() + from_files
    return Scorecard(tuple(results), tuple(str(p) for p in measured))
