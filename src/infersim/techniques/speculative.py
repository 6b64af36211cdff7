"""Speculative decoding: draft γ tokens cheaply, verify them in one pass of the target, keep the accepted ones.

One speculative step of a batch of B sequences costs

    t_step(B) = t_draft(B) + t_verify(B)        t_verify = one target decode pass over V new tokens per sequence

(+ t_bookkeeping, and each part at least its measured host time, when the runtime is eager and the reference
code of the method, `Speculation.implementation`, was measured: host_costs.py; the parts add because the step
syncs with the device between them)

and yields E tokens per sequence on average, so

    TPOT_spec = t_step / E        speedup = TPOT_plain / TPOT_spec = E · t_plain / (t_draft + t_verify)

E comes from the acceptance rate α of each drafted token and the draft length γ, E = (1 − α^(γ+1)) / (1 − α)
(Leviathan, Kalman & Matias 2023, "Fast Inference from Transformers via Speculative Decoding", eq. 1:
accepted prefix of i.i.d. acceptances plus the target's own bonus token), or is given directly as the mean
accepted length τ that papers report (Spec-Bench, EAGLE: tokens per verify step, bonus included).

The verify pass is the target's own decode with V = γ + 1 tokens per sequence (or the size of the token tree
EAGLE and Medusa verify): nearly free while decode streams weights (memory bound: one weight read serves
V·B rows), not once V·B rows make it compute bound. That is why the speedup falls as the batch grows.

Drafters (`Drafter.kind`):
- `model`: a smaller model of the same tokenizer (SpS, Leviathan et al.), γ decode steps of it on the same
  device; its weights and KV cache take memory beside the target's.
- `eagle`: EAGLE's draft head (Li et al. 2024, arXiv 2401.15077): `layers` decoder layers of the target's
  width over its features, then the target's LM head; γ sequential steps (the tree's depth), each over
  `draft_width` candidate tokens per sequence. The head's feature FC (2d → d) is counted with the layer.
- `medusa`: Medusa heads (Cai et al. 2024, arXiv 2401.10774): `heads` heads, each a residual block
  (d × d + SiLU) and its own LM head (d × V), all run once per step on the last hidden state.
- `ngram`: prompt lookup / n-gram / lookahead-style drafting from text already seen: no draft model, the
  host's string matching taken as free.

On a system of devices (`system`, `devices` and the degrees, as `estimate` takes them) the target's plain and
verify passes run under its layout; a draft model or EAGLE head runs on one replica's tensor-parallel group
(pp = dp = 1: as many of its tp devices as the draft's heads divide, the largest that works), over that
replica's sequences; Medusa's heads are split over the group like the target's LM head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, model_validator

from infersim.cost.estimate import Estimate, estimate, resolve_machine, time_phase
from infersim.cost.ops import Cost, Op
from infersim.cost.placement import place
from infersim.errors import InfersimError, closest_names
from infersim.specs.catalog import load_device, load_model, validation_message
from infersim.specs.dtypes import bytes_per_element
from infersim.specs.model import ModelSpec
from infersim.specs.system import SystemSpec
from infersim.techniques.host_costs import DEFAULT_IMPLEMENTATION, IMPLEMENTATIONS, reference_host_costs

DrafterKind = Literal["model", "eagle", "medusa", "ngram"]
DRAFTERS: tuple[str, ...] = ("model", "eagle", "medusa", "ngram")


class Drafter(BaseModel):
    """What proposes the drafted tokens (module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: DrafterKind
    model: str | None = Field(None, description="kind 'model': the draft model's catalog id or config path")
    layers: PositiveInt = Field(1, description="kind 'eagle': decoder layers in the draft head")
    heads: PositiveInt = Field(4, description="kind 'medusa': number of heads")
    draft_width: PositiveInt = Field(1, description="kind 'eagle': candidate tokens drafted per sequence per step")

    @model_validator(mode="after")
    def _check(self) -> "Drafter":
        if self.kind == "model" and not self.model:
            raise ValueError("a 'model' drafter needs the draft model (--draft-model)")
        if self.kind != "model" and self.model:
            raise ValueError(f"a '{self.kind}' drafter takes no draft model; use kind 'model'")
        return self


class Speculation(BaseModel):
    """A speculative decoding configuration: the drafter, γ drafted tokens per step, and either the per-token
    acceptance rate α ∈ [0, 1) or the mean accepted length τ ∈ [1, γ + 1]; `verify_tokens` is the tokens per
    sequence the target verifies at once (γ + 1 for a chain; a tree's size for EAGLE/Medusa trees)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    drafter: Drafter
    draft_tokens: PositiveInt
    acceptance_rate: float | None = None
    mean_accepted_tokens: float | None = None
    verify_tokens: PositiveInt | None = None
    implementation: str | None = Field(None, description="the reference code whose measured host time an eager "
                                       "step pays (host_costs.py; default by drafter kind)")

    @model_validator(mode="after")
    def _check(self) -> "Speculation":
        if self.implementation is not None and self.implementation not in IMPLEMENTATIONS:
            raise ValueError(f"unknown implementation '{self.implementation}': choose {', '.join(IMPLEMENTATIONS)}")
        alpha, tau = self.acceptance_rate, self.mean_accepted_tokens
        if (alpha is None) == (tau is None):
            raise ValueError("give either the acceptance rate α (--acceptance) or the mean accepted length τ "
                             "(--mean-accepted), not both or neither")
        if alpha is not None and not 0.0 <= alpha < 1.0:
            raise ValueError(f"acceptance rate α must be in [0, 1), got {alpha}")
        if tau is not None and not 1.0 <= tau <= self.draft_tokens + 1:
            raise ValueError(f"mean accepted length τ must be in [1, γ + 1 = {self.draft_tokens + 1}], got {tau}")
        if self.verify_tokens is not None and self.verify_tokens < self.draft_tokens + 1:
            raise ValueError(f"verify_tokens ({self.verify_tokens}) must be at least γ + 1 = {self.draft_tokens + 1}")
        return self

    @property
    def tokens_per_step(self) -> float:
        """E: tokens each sequence gains per speculative step."""
        if self.mean_accepted_tokens is not None:
            return self.mean_accepted_tokens
        assert self.acceptance_rate is not None
        return expected_tokens_per_step(self.acceptance_rate, self.draft_tokens)

    @property
    def verified_tokens(self) -> int:
        return self.verify_tokens or self.draft_tokens + 1

    @property
    def reference_code(self) -> str:
        """The implementation whose host time an eager step pays: the given one, else the drafter's default."""
        return self.implementation or DEFAULT_IMPLEMENTATION[self.drafter.kind]


def expected_tokens_per_step(acceptance_rate: float, draft_tokens: int) -> float:
    """E = (1 − α^(γ+1)) / (1 − α): tokens a sequence gains per verify step when each of γ drafted tokens is
    accepted with probability α independently, plus the target's bonus token (Leviathan et al. 2023, eq. 1).
    1 at α = 0; γ + 1 as α → 1."""
    return (1.0 - acceptance_rate ** (draft_tokens + 1)) / (1.0 - acceptance_rate)


def make_speculation(**fields: Any) -> Speculation:
    """A Speculation, its validation problems as one-line InfersimErrors."""
    try:
        drafter = fields.pop("drafter")
        if isinstance(drafter, dict):
            kind = drafter.get("kind")
            if kind not in DRAFTERS:
                near = closest_names(str(kind), DRAFTERS)
                hint = f"did you mean {', '.join(near)}?" if near else f"choose {', '.join(DRAFTERS)}"
                raise InfersimError(f"unknown drafter '{kind}': {hint}")
            drafter = Drafter(**drafter)
        return Speculation(drafter=drafter, **fields)
    except ValidationError as exc:
        raise InfersimError(f"invalid speculative decoding: {validation_message(exc, whole='')}") from None


# ---- what a draft step costs -------------------------------------------------------------------------
def eagle_head(target: ModelSpec, layers: int) -> ModelSpec:
    """EAGLE's draft head as a model: `layers` transformer decoder layers (attention and a dense MLP) of the
    target's shapes over its vocabulary (the head reuses the target's embedding and LM head; the LM head is
    read every draft step)."""
    if not target.num_attention_layers or target.intermediate_size is None:
        raise InfersimError(f"{target.id} has no attention layer and dense MLP whose shapes an EAGLE head could "
                            f"take; use --method model or ngram")
    try:
        return target.with_changes(id=f"{target.id}-eagle-head", name=f"EAGLE head of {target.name}",
                                   num_layers=layers, moe=None, ssm=None, published_params=None,
                                   published_params_source=None)
    except ValidationError as exc:
        raise InfersimError(f"cannot build an EAGLE head from {target.id}: {validation_message(exc, whole='')}") from None


def _medusa_ops(target: ModelSpec, heads: int, batch: int, weights_dtype: str, activations_dtype: str,
                shards: int = 1) -> list[Op]:
    """Medusa's heads for one step: each a d × d residual block and a d × V LM head over B rows, their output
    columns split over `shards` tensor-parallel devices (one device's share)."""
    d, v = target.hidden_size, target.vocab_size
    d_out, v_out = d / shards, v / shards
    wb, ab = bytes_per_element(weights_dtype), bytes_per_element(activations_dtype)
    block = Cost(flops=2.0 * batch * d * d_out, weight_bytes=d * d_out * wb, activation_bytes=batch * (d + d_out) * ab)
    head = Cost(flops=2.0 * batch * d * v_out, weight_bytes=d * v_out * wb,
                activation_bytes=batch * (d * ab + v_out * 4))
    return [Op("medusa_block", "matmul", "decode", block, f"[{batch}, {d}] @ [{d}, {d_out:g}]", heads, 1,
               weights_dtype, d * d_out, batch),
            Op("medusa_lm_head", "matmul", "decode", head, f"[{batch}, {d}] @ [{d}, {v_out:g}]", heads, 1,
               weights_dtype, d * v_out, batch)]


@dataclass(frozen=True)
class SpeculativeResult:
    """Plain against speculative decoding at one batch size (seconds per output token and tokens/s)."""

    batch: int
    draft_tokens: int
    tokens_per_step: float
    plain_tpot_seconds: float
    draft_seconds: float
    verify_seconds: float
    bookkeeping_seconds: float  # the reference implementation's host-only work per step (eager, when measured)
    host_costs_from: str | None  # the implementation whose measured host time the step pays (eager), else None
    tpot_seconds: float
    speedup: float
    output_tokens_per_s_per_user: float
    output_tokens_per_s_total: float
    plain_output_tokens_per_s_total: float
    verify_bound_by: str
    memory_bytes: float
    fits: bool
    machine: str = ""  # where it runs: 'h100-sxm', or 'dgx-h100: 8 x h100-sxm, tp=8'


def _draft_estimate(draft: ModelSpec, device: Any, system: SystemSpec | None, plain: Estimate, batch: int,
                    common: dict[str, Any], **extra: Any) -> Estimate:
    """A draft model or EAGLE head timed where it runs (module docstring): alone on the device, or on the
    target's tensor-parallel group of the system, as many of its devices as the draft's heads divide."""
    if system is None:
        return estimate(draft, device, batch=batch, **common, **extra)
    tp = plain.layout["tp"]
    refusal: InfersimError | None = None
    for group in sorted((n for n in range(1, tp + 1) if tp % n == 0), reverse=True):
        try:
            return estimate(draft, device, system=system, tp=group, batch=batch, **common, **extra)
        except InfersimError as exc:  # heads that do not divide, weights that do not fit: try a smaller group
            refusal = exc
    assert refusal is not None
    raise InfersimError(f"the drafter {draft.id} fits no part of the target's tensor-parallel group: {refusal}")


def _draft_seconds(spec: Speculation, target: ModelSpec, plain: Estimate, device: Any, batch: int,
                   common: dict[str, Any], system: SystemSpec | None = None) -> tuple[float, float]:
    """(seconds of the γ draft steps, bytes the drafter adds to a device's memory); `batch` is one replica's."""
    drafter = spec.drafter
    gamma = spec.draft_tokens
    if drafter.kind == "ngram":
        return 0.0, 0.0
    if drafter.kind == "model":
        draft = load_model(drafter.model)
        if draft.total_params >= target.total_params:
            raise InfersimError(f"draft model {draft.id} ({draft.total_params / 1e9:.2f} B parameters) is not smaller "
                                f"than the target {target.id} ({target.total_params / 1e9:.2f} B)")
        if draft.vocab_size != target.vocab_size:
            raise InfersimError(f"draft model {draft.id} has a vocabulary of {draft.vocab_size:,}, the target "
                                f"{target.id} {target.vocab_size:,}: a draft model must share the target's tokenizer")
        est = _draft_estimate(draft, device, system, plain, batch, common)
        return gamma * est.tpot_seconds, est.memory.weights_bytes + est.memory.kv_cache_bytes
    if drafter.kind == "eagle":
        head = eagle_head(target, drafter.layers)
        est = _draft_estimate(head, device, system, plain, batch, common, decode_tokens=drafter.draft_width)
        # one device's share of the embedding and LM head, split over the head's tensor-parallel devices
        embedding_and_head = head.embedding_params() * bytes_per_element(plain.weights_dtype) / est.layout["tp"]
        # the head's own weights: its layers (the embedding and LM head are the target's own)
        return gamma * est.tpot_seconds, est.memory.weights_bytes - embedding_and_head + est.memory.kv_cache_bytes
    # medusa: every head once per step, timed by the same roofline on the target's placement
    dev = load_device(device)
    ops = _medusa_ops(target, drafter.heads, batch, plain.weights_dtype, plain.activations_dtype, plain.layout["tp"])
    workload = _workload(plain, batch)
    placement = place(dev, plain.memory.weights_bytes, plain.memory.kv_cache_bytes, plain.memory.activation_bytes)
    phase, _ = time_phase(ops, dev, placement, workload, plain.runtime, "decode")
    extra = drafter.heads * (target.hidden_size ** 2 + target.hidden_size * target.vocab_size) / plain.layout["tp"]
    return phase.seconds, extra * bytes_per_element(plain.weights_dtype)


def _workload(plain: Estimate, batch: int) -> Any:
    from infersim.specs.workload import Workload

    return Workload(batch=batch, prompt_tokens=plain.prompt_tokens, output_tokens=plain.output_tokens,
                    weights_dtype=plain.weights_dtype, kv_dtype=plain.kv_dtype,
                    activations_dtype=plain.activations_dtype)


def speculate(model: str | ModelSpec, device: str | None, speculation: Speculation, *,
              batches: tuple[int, ...] = (1,), prompt_tokens: int = 1024, output_tokens: int = 256,
              weights_dtype: str | None = None, kv_dtype: str | None = None, activations_dtype: str | None = None,
              runtime: str | None = None, system: str | SystemSpec | None = None, devices: int | None = None,
              tp: int | None = None, pp: int | None = None, dp: int | None = None,
              ep: int | None = None) -> list[SpeculativeResult]:
    """Plain and speculative decoding of `model` on one `device`, or on a system of them under a layout (module
    docstring), at each batch size."""
    target = load_model(model)
    if not batches or any(b < 1 for b in batches):
        raise InfersimError(f"batch sizes must be at least 1, got {list(batches)}")
    dev, sys_spec = resolve_machine(device, system, devices)
    common = dict(prompt_tokens=prompt_tokens, output_tokens=output_tokens, weights_dtype=weights_dtype,
                  kv_dtype=kv_dtype, activations_dtype=activations_dtype, runtime=runtime)
    machine = dict(system=sys_spec, tp=tp, pp=pp, dp=dp, ep=ep)
    results = []
    for batch in batches:
        plain = estimate(target, dev, batch=batch, **common, **machine)
        verify = estimate(target, dev, batch=batch, decode_tokens=speculation.verified_tokens, **common, **machine)
        replica_batch = batch // plain.layout["dp"]
        draft_seconds, draft_bytes = _draft_seconds(speculation, target, plain, dev, replica_batch, common, sys_spec)
        verify_seconds, bookkeeping = verify.tpot_seconds, 0.0
        table = reference_host_costs()
        code = table.measured_code(speculation.reference_code) if plain.runtime == "eager" else None
        ratios = table.ratios(code, target.num_layers, speculation.tokens_per_step) if code else None
        if ratios is not None:  # the reference code run eagerly: at least its measured host time (host_costs.py)
            host = plain.decode.host_seconds
            draft_seconds = max(draft_seconds, ratios["draft"] * host)
            verify_seconds = max(verify_seconds, ratios["verify"] * host)
            bookkeeping = ratios["bookkeeping"] * host
        e = speculation.tokens_per_step
        tpot = (draft_seconds + verify_seconds + bookkeeping) / e
        memory = plain.memory.total_bytes + draft_bytes
        results.append(SpeculativeResult(
            batch=batch, draft_tokens=speculation.draft_tokens, tokens_per_step=e,
            plain_tpot_seconds=plain.tpot_seconds, draft_seconds=draft_seconds, verify_seconds=verify_seconds,
            bookkeeping_seconds=bookkeeping, host_costs_from=code,
            tpot_seconds=tpot, speedup=plain.tpot_seconds / tpot, output_tokens_per_s_per_user=1.0 / tpot,
            output_tokens_per_s_total=batch / tpot, plain_output_tokens_per_s_total=batch / plain.tpot_seconds,
            verify_bound_by=verify.decode.bound_by, memory_bytes=memory,
            fits=plain.memory.fits and memory <= plain.memory.capacity_bytes, machine=plain.machine_description,
        ))
    return results


def best_draft_length(model: str | ModelSpec, device: str, drafter: Drafter, acceptance_rate: float, *,
                      batch: int = 1, max_draft_tokens: int = 8, **kwargs: Any) -> tuple[int, list[SpeculativeResult]]:
    """The draft length γ ∈ 1..max that gives the lowest TPOT at `batch` for acceptance rate α, and the result
    of every γ tried (tokens per step from α; verify over γ + 1 tokens)."""
    if max_draft_tokens < 1:
        raise InfersimError(f"the longest draft to try must be at least 1 token, got {max_draft_tokens}")
    tried = []
    for gamma in range(1, max_draft_tokens + 1):
        spec = make_speculation(drafter=drafter, draft_tokens=gamma, acceptance_rate=acceptance_rate)
        tried += speculate(model, device, spec, batches=(batch,), **kwargs)
    best = min(tried, key=lambda r: r.tpot_seconds)
    return best.draft_tokens, tried

