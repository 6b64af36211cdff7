"""What each technique buys on a machine: the same workload with one technique at a time, against the baseline.

Every row is computed by the same cost model the baseline is (`estimate`, `speculate`): a technique is a
change to the workload (weights or KV-cache format), to the model (its attention's key/value heads), or to
the decode loop (speculative decoding). Where a device cannot compute in a format it dequantizes, as the
estimate does; a row that does not apply on a device (its format unknown there) says why instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infersim.cost.estimate import Estimate, estimate
from infersim.errors import InfersimError
from infersim.specs.catalog import load_device, load_model
from infersim.specs.model import ModelSpec
from infersim.techniques.speculative import make_speculation, speculate


@dataclass(frozen=True)
class TechniqueRow:
    """One technique on one device: its times, speeds and fit, and how they compare with the baseline."""

    technique: str
    device: str  # where it runs: a device id, or 'dgx-h100: 8 x h100-sxm, tp=8'
    what: str
    tpot_seconds: float | None
    ttft_seconds: float | None
    output_tokens_per_s_per_user: float | None
    output_tokens_per_s_total: float | None
    memory_bytes: float | None
    fits: bool | None
    max_batch: int | None
    max_context_tokens: int | None
    speedup: float | None  # baseline TPOT / this TPOT
    note: str = ""


def _from_estimate(name: str, what: str, est: Estimate, base: Estimate | None, note: str = "") -> TechniqueRow:
    return TechniqueRow(
        technique=name, device=est.machine_description, what=what, tpot_seconds=est.tpot_seconds, ttft_seconds=est.ttft_seconds,
        output_tokens_per_s_per_user=est.output_tokens_per_s_per_user,
        output_tokens_per_s_total=est.output_tokens_per_s_total, memory_bytes=est.memory.total_bytes,
        fits=est.memory.fits, max_batch=est.max_batch, max_context_tokens=est.max_context_tokens,
        speedup=(base.tpot_seconds / est.tpot_seconds) if base else 1.0, note=note or what)


def with_kv_heads(model: ModelSpec, kv_heads: int, label: str) -> ModelSpec:
    """The same model with `kv_heads` key/value heads (MHA: all of them, MQA: one): its attention
    projections and KV cache change, nothing else."""
    return model.with_changes(id=f"{model.id} as {label}", num_key_value_heads=kv_heads, published_params=None,
                              published_params_source=None)


Technique = Callable[[ModelSpec, str | None, dict[str, Any], Estimate], TechniqueRow]


def _no_attention(model: ModelSpec) -> InfersimError:
    return InfersimError(f"{model.id} has no attention layers, so no KV cache or key/value heads (its SSM state "
                         f"stays the same size)")


def _format(name: str, what: str, **change: Any) -> Technique:
    def run(model: ModelSpec, device: str | None, common: dict[str, Any], base: Estimate) -> TechniqueRow:
        if "kv_dtype" in change and not model.num_attention_layers:
            raise _no_attention(model)
        return _from_estimate(name, what, estimate(model, device, **{**common, **change}), base)

    return run


def _kv_heads(name: str, what: str, heads: Callable[[ModelSpec], int]) -> Technique:
    def run(model: ModelSpec, device: str | None, common: dict[str, Any], base: Estimate) -> TechniqueRow:
        if not model.num_attention_layers:
            raise _no_attention(model)
        if model.mla:
            raise InfersimError(f"{model.id} uses MLA: its latent cache has no key/value heads to change")
        variant = with_kv_heads(model, heads(model), name.split()[-1])
        return _from_estimate(name, what, estimate(variant, device, **common), base)

    return run


def _speculative(name: str, what: str, drafter: dict[str, Any], draft_tokens: int) -> Technique:
    def run(model: ModelSpec, device: str | None, common: dict[str, Any], base: Estimate) -> TechniqueRow:
        alpha = common.pop("acceptance_rate")
        spec = make_speculation(drafter=drafter, draft_tokens=draft_tokens, acceptance_rate=alpha)
        result = speculate(model, device, spec, batches=(common["batch"],),
                           **{k: v for k, v in common.items() if k != "batch"})[0]
        tokens = base.batch * base.output_tokens  # as the baseline counts it: prefill, then O − 1 decode steps
        e2e = base.ttft_seconds + (base.output_tokens - 1) * result.tpot_seconds
        return TechniqueRow(
            technique=name, device=base.machine_description, what=what, tpot_seconds=result.tpot_seconds,
            ttft_seconds=base.ttft_seconds, output_tokens_per_s_per_user=result.output_tokens_per_s_per_user,
            output_tokens_per_s_total=tokens / e2e, memory_bytes=result.memory_bytes,
            fits=result.fits, max_batch=None, max_context_tokens=None, speedup=result.speedup,
            note=f"{what}: α = {alpha:g}, {result.tokens_per_step:.2f} tokens per step, verify "
                 f"{result.verify_bound_by} bound")

    return run


CHUNK_TOKENS = 2048  # an illustrative chunk (a serving engine's is its token budget per step, vLLM's --max-num-batched-tokens)
TECHNIQUES: dict[str, Technique] = {
    "fp8 weights": _format("fp8 weights", "weights stored in fp8; W8A8 where the device computes in fp8, else "
                           "dequantized", weights_dtype="fp8"),
    "int4 weights": _format("int4 weights", "weight-only int4, dequantized to the activation format",
                            weights_dtype="int4"),
    "int4 MLP weights": _format("int4 MLP weights", "MLP and expert weights in int4-g128 (GPTQ-style), attention "
                                "weights kept", mlp_weights_dtype="int4-g128"),
    "fp8 KV cache": _format("fp8 KV cache", "keys and values stored in fp8", kv_dtype="fp8"),
    "int4 KV cache": _format("int4 KV cache", "keys and values stored in 4 bits", kv_dtype="int4"),
    "attention as MHA": _kv_heads("attention as MHA", "every query head with its own key/value head",
                                  lambda m: m.num_attention_heads),
    "attention as MQA": _kv_heads("attention as MQA", "one key/value head shared by all query heads", lambda m: 1),
    "chunked prefill": _format("chunked prefill", f"the prompt prefilled in chunks of {CHUNK_TOKENS:,} tokens: one "
                               "chunk's activations, the weights read once per chunk",
                               prefill_chunk_tokens=CHUNK_TOKENS),
    "speculative: EAGLE": _speculative("speculative: EAGLE", "a one-layer EAGLE head drafts 3 tokens per step",
                                       {"kind": "eagle"}, 3),
    "speculative: n-gram": _speculative("speculative: n-gram", "prompt-lookup drafts of 4 tokens, verified at once",
                                        {"kind": "ngram"}, 4),
}


def compare_techniques(model: str | ModelSpec, devices: list[str], *, systems: list[str] | None = None,
                       batch: int = 1, prompt_tokens: int = 1024, output_tokens: int = 256,
                       acceptance_rate: float = 0.7, techniques: list[str] | None = None,
                       runtime: str | None = None) -> list[TechniqueRow]:
    """The baseline and each technique on each device and each system, for one workload (module docstring).
    A system runs its default layout for the baseline (`parallel.default_layout`) and the same layout for every
    technique, so the rows differ by the technique alone. `acceptance_rate` α is the per-token acceptance the
    speculative rows assume."""
    spec = load_model(model)
    chosen = techniques or list(TECHNIQUES)
    unknown = [t for t in chosen if t not in TECHNIQUES]
    if unknown:
        raise InfersimError(f"unknown technique '{unknown[0]}': choose from {', '.join(TECHNIQUES)}")
    if not devices and not systems:
        raise InfersimError("give at least one --device or --system")
    for device in devices:
        load_device(device)  # every name checked before any work
    machines = [(device, None) for device in devices] + [(None, system) for system in systems or ()]
    rows = []
    for device, system in machines:
        common: dict[str, Any] = dict(batch=batch, prompt_tokens=prompt_tokens, output_tokens=output_tokens,
                                      runtime=runtime)
        base = estimate(spec, device, system=system, **common)
        if system is not None:  # the baseline's layout for every technique
            common.update(system=system, **{axis: base.layout[axis] for axis in ("tp", "pp", "dp", "ep")})
        rows.append(_from_estimate("baseline", f"{base.weights_dtype} weights and KV cache, plain decoding", base,
                                   None))
        for name in chosen:
            args = dict(common, acceptance_rate=acceptance_rate) if name.startswith("speculative") else dict(common)
            try:
                rows.append(TECHNIQUES[name](spec, device, args, base))
            except InfersimError as exc:
                rows.append(TechniqueRow(name, base.machine_description, "", None, None, None, None, None, None, None,
                                         None, None, note=f"not applicable: {exc}"))
    return rows
