"""One forward pass as a list of operations, each with FLOPs and bytes by tensor class.

Ops know nothing of devices: they say how much arithmetic an operation does and how many bytes of
weights, KV cache and activations it moves; placement.py puts those classes in memory tiers and
roofline.py turns them into time. Repeated layers are built once and carry a `count`.

Decode is built for a whole vector of context lengths at once (numpy arrays in `Cost`), so the mean
step time over a generation is one vectorised evaluation, not a Python loop per token.

Symbols: B sequences, T new tokens per sequence, N = B·T token rows, S keys attended per new token,
d hidden size, H query heads, H_kv key/value heads, d_h head width, f MLP width, V vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, Union

import numpy as np

from infersim.cost.intensity import matmul_flops
from infersim.specs.dtypes import bytes_per_element
from infersim.specs.model import ModelSpec
from infersim.specs.workload import Workload

Number = Union[float, np.ndarray]
Phase = Literal["prefill", "decode"]
OpKind = Literal["matmul", "attention", "elementwise", "norm", "gather"]

# FLOPs per element of the small vector ops (counted, though they never bind on any catalog device):
# RMSNorm squares, sums, scales and multiplies by the weight; RoPE is a complex multiply per pair;
# SiLU-and-multiply is ~ 5 FLOPs (exp, add, divide, two multiplies).
_NORM_FLOPS_PER_ELEMENT = 4
_ROPE_FLOPS_PER_ELEMENT = 3
_GATED_ACT_FLOPS_PER_ELEMENT = 5
_RESIDUAL_FLOPS_PER_ELEMENT = 1
_LOGIT_BYTES = 4  # logits are produced in fp32 for sampling


def mean_of(value: Number) -> float:
    """A number, or the mean of an array of per-step numbers (cheap for plain floats)."""
    return float(value.mean()) if isinstance(value, np.ndarray) else float(value)


@dataclass(frozen=True, slots=True)
class Cost:
    """Work of one op: FLOPs, bytes moved per tensor class, and bytes on the wire. Costs add.

    Bytes are traffic (read + written), not footprint. Fields are floats, or numpy arrays over the
    decode steps of a generation.
    """

    flops: Number = 0.0
    weight_bytes: Number = 0.0
    kv_bytes: Number = 0.0
    activation_bytes: Number = 0.0
    wire_bytes: Number = 0.0

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(
            self.flops + other.flops,
            self.weight_bytes + other.weight_bytes,
            self.kv_bytes + other.kv_bytes,
            self.activation_bytes + other.activation_bytes,
            self.wire_bytes + other.wire_bytes,
        )

    def __mul__(self, factor: float) -> "Cost":
        return Cost(
            self.flops * factor,
            self.weight_bytes * factor,
            self.kv_bytes * factor,
            self.activation_bytes * factor,
            self.wire_bytes * factor,
        )

    __rmul__ = __mul__

    @property
    def bytes(self) -> Number:
        """All memory traffic: weights + KV cache + activations."""
        return self.weight_bytes + self.kv_bytes + self.activation_bytes


@dataclass(frozen=True, slots=True)
class Op:
    """One operation of a forward pass, `count` times per pass (once per layer of its kind).

    `launches` is the number of kernels it takes (0 when fused into the op before it, as the value
    product is fused with the score product in FlashAttention). `weights_dtype` is set on ops that
    multiply by stored weights, so the execution model can run them in that format where supported.
    """

    name: str
    kind: OpKind
    phase: Phase
    cost: Cost
    shape: str
    count: int = 1
    launches: int = 1
    weights_dtype: str | None = None
    weight_elements: float = 0.0  # distinct weight elements this op reads (for footprint cross-checks)
    gemm_rows: float = 0.0  # m of each GEMM a matmul op runs (rows per expert for grouped experts)


@dataclass(frozen=True, slots=True)
class _Ctx:
    """What every op builder needs: the model, the phase's token geometry and the byte widths."""

    model: ModelSpec
    phase: Phase
    batch: int
    new_tokens: int  # T per sequence
    keys: Number  # S: keys each new token attends to (mean over causal positions in prefill)
    cached: Number  # tokens already in the cache before this pass (0 in prefill)
    act_b: float
    weight_b: float
    kv_b: float
    weights_dtype: str
    layer_ops: list[Op] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """N = B·T token rows flowing through the matmuls."""
        return self.batch * self.new_tokens


def _matmul(c: _Ctx, name: str, d_in: int, d_out: int, count: int, *, rows: float | None = None,
            weight_elements: float | None = None, bias: int = 0, gemms: float = 1.0) -> Op:
    """[N, d_in] @ [d_in, d_out]: 2·N·d_in·d_out FLOPs; reads weights and the input, writes the output.

    `weight_elements` overrides d_in·d_out when only part of a stored matrix set is touched (MoE).
    """
    n = c.rows if rows is None else rows
    elements = d_in * d_out + bias if weight_elements is None else weight_elements
    cost = Cost(
        flops=matmul_flops(n, d_in, d_out),
        weight_bytes=elements * c.weight_b,
        activation_bytes=n * (d_in + d_out) * c.act_b,
    )
    shape = f"[{_fmt(n)}, {d_in}] @ [{d_in}, {d_out}]"
    return Op(name, "matmul", c.phase, cost, shape, count, 1, c.weights_dtype, elements, n / gemms)


def _elementwise(c: _Ctx, name: str, kind: OpKind, elements_in: float, elements_out: float,
                 flops_per_element: float, count: int, *, weight_elements: float = 0.0,
                 kv_bytes: Number = 0.0) -> Op:
    cost = Cost(
        flops=flops_per_element * elements_out,
        weight_bytes=weight_elements * c.weight_b,
        kv_bytes=kv_bytes,
        activation_bytes=(elements_in + elements_out) * c.act_b,
    )
    return Op(name, kind, c.phase, cost, f"[{_fmt(elements_out)}]", count, 1, None, weight_elements)


def _norm(c: _Ctx, name: str, count: int) -> Op:
    d = c.model.hidden_size
    weights = d * (2 if c.model.norm == "layernorm" else 1)
    return _elementwise(c, name, "norm", c.rows * d, c.rows * d, _NORM_FLOPS_PER_ELEMENT, count,
                        weight_elements=weights)


def _residual(c: _Ctx, name: str, count: int) -> Op:
    """Residual add: reads two streams, writes one. Fused into the next norm (fused add-RMSNorm, as
    serving engines run it), so it launches no kernel of its own."""
    d = c.model.hidden_size
    op = _elementwise(c, name, "elementwise", 2 * c.rows * d, c.rows * d, _RESIDUAL_FLOPS_PER_ELEMENT, count)
    return replace(op, launches=0)


def _attention_products(c: _Ctx, count: int, *, heads: int, kv_heads: int, d_qk: int, d_v: int,
                        key_width: float, value_width: float, from_cache: bool = True) -> list[Op]:
    """Score (QKᵀ) and value (PV) products with FlashAttention traffic: no S×S matrix in memory.

    FLOPs: 2·B·T·H·S·d_qk and 2·B·T·H·S·d_v. Bytes: Q read and O written once (activations); keys
    and values read once per sequence (`key_width` / `value_width` elements per token), from the KV
    cache (in prefill, the tokens just written), or from activations when `from_cache` is false (MLA
    prefill reads the keys and values it just decompressed). Essay A1: intensity ST/(S+T).
    """
    b, t, s = c.batch, c.new_tokens, c.keys
    tokens = b * (c.model.attended_tokens(c.cached + t) if c.phase == "decode" else t)
    kv_b = c.kv_b if from_cache else c.act_b
    key_bytes, value_bytes = tokens * key_width * kv_b, tokens * value_width * kv_b
    q_bytes, o_bytes = b * t * heads * d_qk * c.act_b, b * t * heads * d_v * c.act_b
    if from_cache:
        score = Cost(flops=2.0 * b * t * heads * s * d_qk, kv_bytes=key_bytes, activation_bytes=q_bytes)
        value = Cost(flops=2.0 * b * t * heads * s * d_v, kv_bytes=value_bytes, activation_bytes=o_bytes)
    else:
        score = Cost(flops=2.0 * b * t * heads * s * d_qk, activation_bytes=q_bytes + key_bytes)
        value = Cost(flops=2.0 * b * t * heads * s * d_v, activation_bytes=o_bytes + value_bytes)
    tag = f"B={b} T={t} S={_fmt(s)} H={heads}/{kv_heads}"
    return [
        Op("attn_score", "attention", c.phase, score, f"{tag} d={d_qk}", count, 1),
        Op("attn_value", "attention", c.phase, value, f"{tag} d={d_v}", count, 0),  # fused with score
    ]


def _standard_attention(c: _Ctx, count: int) -> list[Op]:
    """MHA/GQA/MQA block: norm, fused QKV projection, RoPE + cache write, attention, output projection."""
    m = c.model
    d, h, hkv, dh = m.hidden_size, m.num_attention_heads, m.num_key_value_heads, m.head_dim
    q_width, kv_width = h * dh, hkv * dh
    bias = (q_width + 2 * kv_width) if m.attention_bias else 0
    cache_write = c.rows * 2 * kv_width * c.kv_b
    return [
        _norm(c, "attn_norm", count),
        _matmul(c, "qkv_proj", d, q_width + 2 * kv_width, count, bias=bias),
        _elementwise(c, "rope_cache_write", "elementwise", c.rows * (q_width + 2 * kv_width),
                     c.rows * (q_width + kv_width), _ROPE_FLOPS_PER_ELEMENT, count, kv_bytes=cache_write),
        *_attention_products(c, count, heads=h, kv_heads=hkv, d_qk=dh, d_v=dh,
                             key_width=kv_width, value_width=kv_width),
        _matmul(c, "o_proj", q_width, d, count),
        _residual(c, "attn_residual", count),
    ]


def _mla_attention(c: _Ctx, count: int) -> list[Op]:
    """Multi-head latent attention (DeepSeek-V2 section 2.1): cache a d_c latent + a d_r RoPE key.

    Prefill decompresses keys and values (kv_up_proj) and runs ordinary attention with d_qk = d_nope +
    d_r. Decode uses the absorbed form served in practice: queries are mapped into the latent space
    (q_absorb, by W_UK), scores and values are taken against the cached latent directly (one shared
    "KV head"), and the result is mapped back by W_UV (v_absorb) before the output projection.
    """
    m = c.model
    mla = m.mla
    assert mla is not None
    d, h = m.hidden_size, m.num_attention_heads
    d_nope, d_rope, d_c, d_v = mla.qk_nope_head_dim, mla.qk_rope_head_dim, mla.kv_lora_rank, mla.v_head_dim
    d_qk = d_nope + d_rope
    ops = [_norm(c, "attn_norm", count)]
    if mla.q_lora_rank:
        rq = mla.q_lora_rank
        q_elems = d * rq + rq + rq * h * d_qk  # down-projection, its norm, up-projection
        q_proj = _matmul(c, "q_proj", d, h * d_qk, count, weight_elements=q_elems)
        low_rank = replace(q_proj.cost, flops=matmul_flops(c.rows, d, rq) + matmul_flops(c.rows, rq, h * d_qk))
        ops.append(replace(q_proj, cost=low_rank))
    else:
        ops.append(_matmul(c, "q_proj", d, h * d_qk, count))
    ops.append(_matmul(c, "kv_down_proj", d, d_c + d_rope, count, bias=d_c))  # + its latent norm
    cache_write = c.rows * (d_c + d_rope) * c.kv_b
    ops.append(_elementwise(c, "rope_cache_write", "elementwise", c.rows * (h * d_rope + d_rope),
                            c.rows * (h * d_rope + d_rope), _ROPE_FLOPS_PER_ELEMENT, count, kv_bytes=cache_write))
    if c.phase == "prefill":
        ops.append(_matmul(c, "kv_up_proj", d_c, h * (d_nope + d_v), count))
        ops += _attention_products(c, count, heads=h, kv_heads=h, d_qk=d_qk, d_v=d_v,
                                   key_width=h * d_qk, value_width=h * d_v, from_cache=False)
    else:
        # W_UK and W_UV are the two halves of kv_up_proj's weights; each is read once per step.
        ops.append(_matmul(c, "q_absorb", d_nope, d_c, count, rows=c.rows * h, weight_elements=h * d_nope * d_c))
        # the latent serves as both key (with the RoPE key) and value: read once for the score
        ops += _attention_products(c, count, heads=h, kv_heads=1, d_qk=d_c + d_rope, d_v=d_c,
                                   key_width=d_c + d_rope, value_width=0)
        ops.append(_matmul(c, "v_absorb", d_c, d_v, count, rows=c.rows * h, weight_elements=h * d_c * d_v))
    ops.append(_matmul(c, "o_proj", h * d_v, d, count))
    ops.append(_residual(c, "attn_residual", count))
    return ops


def _dense_mlp(c: _Ctx, count: int, width: int, prefix: str = "") -> list[Op]:
    """Gated (SwiGLU: gate and up fused, act-and-multiply, down) or plain (up, act, down) MLP."""
    m = c.model
    d = m.hidden_size
    up_width = 2 * width if m.mlp == "gated" else width
    act_in = c.rows * up_width
    return [
        _matmul(c, f"{prefix}gate_up_proj" if m.mlp == "gated" else f"{prefix}up_proj", d, up_width, count),
        _elementwise(c, f"{prefix}mlp_act", "elementwise", act_in, c.rows * width,
                     _GATED_ACT_FLOPS_PER_ELEMENT, count),
        _matmul(c, f"{prefix}down_proj", width, d, count),
    ]


def expected_distinct_experts(assignments: float, num_experts: int, experts_per_token: int) -> float:
    """Experts touched when `assignments` tokens each pick k of E experts uniformly at random.

    E·(1 − (1 − k/E)^N) for N tokens: a given expert is missed by one token with probability
    1 − k/E. At batch-1 decode only k experts' weights are read; at large N all E are.
    """
    return num_experts * (1.0 - (1.0 - experts_per_token / num_experts) ** assignments)


def _moe_mlp(c: _Ctx, count: int) -> list[Op]:
    """Router, then the routed (and shared) experts as grouped GEMMs.

    FLOPs follow the tokens: each row runs k routed + s shared experts. Weight bytes follow the
    experts actually touched this pass (expected distinct experts for N rows) plus the shared ones.
    """
    m = c.model
    moe = m.moe
    assert moe is not None
    d, f = m.hidden_size, moe.expert_intermediate_size
    k, shared = moe.experts_per_token, moe.num_shared_experts
    touched = expected_distinct_experts(c.rows, moe.num_experts, k) + shared
    up_width = 2 * f if m.mlp == "gated" else f
    rows = c.rows * (k + shared)
    ops = [_matmul(c, "router", d, moe.num_experts, count)]
    ops.append(_matmul(c, "experts_gate_up", d, up_width, count, rows=rows, weight_elements=touched * d * up_width,
                       gemms=touched))
    ops.append(_elementwise(c, "experts_act", "elementwise", rows * up_width, rows * f,
                            _GATED_ACT_FLOPS_PER_ELEMENT, count))
    ops.append(_matmul(c, "experts_down", f, d, count, rows=rows, weight_elements=touched * f * d, gemms=touched))
    return ops


def _layer_ops(c: _Ctx, count: int, moe_layer: bool) -> list[Op]:
    attention = _mla_attention(c, count) if c.model.mla else _standard_attention(c, count)
    mlp = _moe_mlp(c, count) if moe_layer else _dense_mlp(c, count, c.model.intermediate_size)
    return attention + [_norm(c, "mlp_norm", count)] + mlp + [_residual(c, "mlp_residual", count)]


def _tag(ops: list[Op], prefix: str) -> list[Op]:
    """Name ops of MoE layers apart from dense layers' ops when a model has both."""
    return [replace(op, name=f"{prefix}{op.name}") for op in ops]


def forward_ops(model: ModelSpec, workload: Workload, phase: Phase, cached_tokens: Number = 0) -> list[Op]:
    """The ops of one forward pass.

    prefill: all `prompt_tokens` of every sequence at once, causal (each new token attends on average
    to (T+1)/2 keys, fewer under a sliding window), the LM head on the last token only. decode: one new
    token per sequence with `cached_tokens` already cached (a number or an array of them, one per
    step), attending to cached + 1 keys (at most the window).
    """
    if phase == "prefill":
        new, keys, cached = workload.prompt_tokens, model.mean_causal_keys(workload.prompt_tokens), 0
    else:
        cached = np.asarray(cached_tokens, dtype=float)
        new, keys = 1, model.attended_tokens(cached + 1.0)
    c = _Ctx(
        model=model, phase=phase, batch=workload.batch, new_tokens=new, keys=keys, cached=cached,
        act_b=bytes_per_element(workload.activations_dtype), weight_b=bytes_per_element(workload.weights_dtype),
        kv_b=bytes_per_element(workload.kv_dtype), weights_dtype=workload.weights_dtype,
    )
    d, v = model.hidden_size, model.vocab_size
    ops: list[Op] = [
        _elementwise(c, "embed", "gather", 0, c.rows * d, 0, 1, weight_elements=c.rows * d),
    ]
    if model.num_dense_layers:
        dense = _layer_ops(c, model.num_dense_layers, moe_layer=False)
        ops += _tag(dense, "dense.") if model.num_moe_layers else dense
    if model.num_moe_layers:
        ops += _tag(_layer_ops(c, model.num_moe_layers, moe_layer=True), "moe." if model.num_dense_layers else "")
    last = _Ctx(model=model, phase=phase, batch=workload.batch, new_tokens=1, keys=keys, cached=cached,
                act_b=c.act_b, weight_b=c.weight_b, kv_b=c.kv_b, weights_dtype=c.weights_dtype)
    ops.append(_norm(last, "final_norm", 1))
    lm_head = _matmul(last, "lm_head", d, v, 1)
    logits = last.rows * v * _LOGIT_BYTES  # written in fp32 rather than the activation format
    ops.append(replace(lm_head, cost=replace(lm_head.cost, activation_bytes=last.rows * d * c.act_b + logits)))
    ops.append(Op("sample", "elementwise", phase, Cost(flops=float(last.rows * v), activation_bytes=logits),
                  f"[{last.rows}, {v}]", 1, 1))
    return ops


def total_cost(ops: list[Op]) -> Cost:
    """The pass's cost: each op's cost times its count, summed."""
    total = Cost()
    for op in ops:
        total = total + op.cost * op.count
    return total


def _fmt(value: Number) -> str:
    value = mean_of(value)
    return f"{value:.0f}" if value.is_integer() else f"{value:.1f}"
