"""One forward pass as a list of operations, each with FLOPs and bytes by tensor class.

Ops know nothing of devices: they say how much arithmetic an operation does and how many bytes of
weights, KV cache and activations it moves; placement.py puts those classes in memory tiers and
roofline.py turns them into time. Repeated layers are built once and carry a `count`.

Decode is built for a whole vector of context lengths at once (numpy arrays in `Cost`), so the mean
step time over a generation is one vectorised evaluation, not a Python loop per token.

Two graphs of the same arithmetic are built (`graph`):

- `fused`: as serving engines run a model (vLLM, TensorRT-LLM, SGLang, a captured CUDA graph): fused QKV
  and gate/up projections, one kernel each for the norm, RoPE + cache write and SiLU-and-multiply, the
  residual add fused into the next norm, a static KV cache written in place.
- `hf`: as Hugging Face `transformers` runs it eagerly (`modeling_llama.py`, `modeling_mixtral.py`,
  `cache_utils.DynamicCache`): q, k, v and gate, up as separate GEMMs; RMSNorm as its own kernels in fp32
  (cast, pow, mean, add, rsqrt, multiply, cast back, scale); RoPE as multiply, negate, concatenate,
  multiply, add for q and for k; SiLU then multiply; every residual add its own kernel; the attention
  output transposed into a contiguous copy; and a DynamicCache that concatenates each layer's new keys and
  values onto its cache (`torch.cat`), so a decode step reads and rewrites the whole cache. The FLOPs are
  the same; the kernels launched and the bytes moved are not.

Under a `Layout` (specs/layout.py) the ops are one device's: a tensor-parallel device holds H/tp query
heads, max(1, H_kv/tp) key/value heads, f/tp of the MLP, V/tp of the LM head and E/ep experts of width
f_e/(tp·dp/ep); `collective` ops carry the bytes each device puts on the wire (`Cost.wire_bytes`, the
buffer as nccl-tests sizes it: see cost/collectives.py) and the parallel axis whose group runs them.
Every layer is still listed (count = L): a pipeline's stages run one after the other for one token.

Layers come in kinds (`ModelSpec.layer_kinds`): an attention or SSM mixer, then a dense, MoE or no MLP; each
kind is built once with its count, its ops named apart ("attn."/"ssm.", "dense."/"moe.") when a model has more
than one. An SSM layer (Mamba-1, `_ssm_block`) keeps no KV cache: its decode reads and writes a per-sequence
state of constant size, so its cost does not depend on the context.

The KV-cache policy (`Workload.kv`, specs/kvcache.py) sets what decode attention reads: the D tokens
kept on the device (at the KV format's bytes, scales included) and the F fetched from host memory (at
the host format's); a budget or window caps both. An offloaded cache adds `transfer` ops: the bytes a
device reads over its PCIe link each step (`kv_host_fetch`: F tokens' keys and values plus the
`score_channels` key channels of every host token) or writes to it in prefill (`kv_host_store`);
choosing the top-k is a small `kv_topk_score` op. A quantized cache (any format but fp32/bf16/fp16) is
dequantized as it is read: `DEQUANT_FLOPS_PER_ELEMENT` per cached element, counted with attention.

Symbols: B sequences, T new tokens per sequence, N = B·T token rows, S keys attended per new token
(A = D + F under a KV policy), d hidden size, H query heads, H_kv key/value heads, d_h head width,
f MLP width, V vocabulary; SSM: d_in = expand·d inner channels, N_s state width (`d_state`), R Δ's rank,
K conv width (`d_conv`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, Union

import numpy as np

from infersim.cost.intensity import matmul_flops
from infersim.cost.memory import ssm_state_elements_per_layer
from infersim.specs.dtypes import DEQUANT_FLOPS_PER_ELEMENT, bytes_per_element, number_format
from infersim.specs.kvcache import H2O_SCORE_BYTES, KVCache
from infersim.specs.layout import Layout, split
from infersim.specs.model import ModelSpec
from infersim.specs.workload import Workload

Number = Union[float, np.ndarray]
Phase = Literal["prefill", "decode"]
OpKind = Literal["matmul", "attention", "scan", "elementwise", "norm", "gather", "collective", "transfer"]
Graph = Literal["fused", "hf"]
GRAPHS: tuple[str, ...] = ("fused", "hf")

# FLOPs per element of the small vector ops (counted, though they never bind on any catalog device):
# RMSNorm squares, sums, scales and multiplies by the weight; RoPE is a complex multiply per pair;
# SiLU-and-multiply is ~ 5 FLOPs (exp, add, divide, two multiplies).
_NORM_FLOPS_PER_ELEMENT = 4
_ROPE_FLOPS_PER_ELEMENT = 3
_GATED_ACT_FLOPS_PER_ELEMENT = 5
_RESIDUAL_FLOPS_PER_ELEMENT = 1
_LOGIT_BYTES = 4  # logits are produced in fp32 for sampling
_FP32_BYTES = 4
# Mamba's selective scan: 9 FLOPs per (token, channel, state) element (discretise Δ·A and its exp, Δ·B·u,
# h = Ā·h + B̄·u, C·h) and 1 each per (token, channel) for the D skip and the z gate: the count of
# mamba_ssm's selective_scan_fn (state-spaces/mamba issue 110). The depthwise conv: a MAC per tap, then
# its bias and SiLU (~5 FLOPs, as the MLP activation).
_SCAN_FLOPS_PER_STATE_ELEMENT = 9
_SCAN_FLOPS_PER_CHANNEL = 2
_CONV_EXTRA_FLOPS_PER_ELEMENT = 5

# Kernels Hugging Face's eager code launches (transformers 5.x, counted with torch.profiler on one layer):
HF_NORM_LAUNCHES = 6  # pow, mean, add eps, rsqrt, multiply, scale by the weight ...
HF_NORM_CAST_LAUNCHES = 2  # ... plus the cast to fp32 and back when activations are not fp32
HF_ROPE_LAUNCHES = 10  # per tensor (q, then k): x·cos, −x₂, cat(−x₂, x₁), ·sin, add
HF_CACHE_UPDATE_LAUNCHES = 2  # DynamicCache.update: torch.cat for keys and for values
HF_ROTARY_TABLE_LAUNCHES = 7  # cos and sin tables, once per forward: expand, matmul, transpose, cat, cos, sin, cast
HF_ROUTER_LAUNCHES = 9  # after the router GEMM: softmax, top-k, renormalise, one-hot, permute, sum, compare, nonzero, zeros
HF_DISPATCH_LAUNCHES_PER_EXPERT = 4  # per expert hit: where, gather its rows, scale by the gate, index_add back
# ... and its Mamba mixer (transformers 5.24's torch fallbacks, as without mamba_ssm and causal_conv1d), counted
# with a TorchDispatchMode as one layer's difference between 1- and 2-layer MambaForCausalLMs: a layer launches
# 31 kernels in decode and 32 + 3·T in a T-token prefill in fp32 (42 and 42 + 4·T in bf16), of which the norm
# takes 6 (8), the residual 1 and in_proj, x_proj, dt_proj, out_proj 1 each:
HF_SSM_CONV_LAUNCHES = 4  # concatenate onto the conv state (prefill: pad), copy it back, conv1d, SiLU
HF_SCAN_STEP_LAUNCHES = 16  # decode: softplus(Δ + bias), exp(Δ·A), Δ·B·x, h·Ā + B̄x, copy_ h, C·h, D, SiLU(z) ...
HF_SCAN_LAUNCHES = 17  # prefill, besides the loop ...
HF_SCAN_LAUNCHES_PER_TOKEN = 3  # ... which runs h·Ā, + B̄u and the product with C once per token
HF_SCAN_CAST_LAUNCHES = 8  # when activations are not fp32 (the state is), plus one more per token
# The fallback materialises fp32 [B, d_in, T, N_s] tensors (Δ·A, its exp, Δ·B, Δ·B·u, the loop's h and its
# products) and passes over them 13 times, reads and writes together, besides reading and writing h itself.
HF_SCAN_FP32_PASSES = 13


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
class LineReduce:
    """An all-reduce a wafer's core mesh runs along one line of a layer's region after an op (cost/mesh.py):
    `values` in all; each core of the line holds values / P of them when `split` (a matrix product's output,
    spread over the P cores of the region's side), else all of them (per-row scalars: a norm's sum of
    squares, a softmax's max and sum)."""

    values: Number
    split: bool = True


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
    collective: str | None = None  # collective ops: all-reduce, all-gather, all-to-all, send-recv; transfer: host-link
    axis: str | None = None  # the parallel axis whose group runs the collective: tp, ep, cp
    gemm_inner: float = 0.0  # k of each GEMM (d_qk of attention's score product; 0 where not fixed)
    gemm_cols: float = 0.0  # n of each GEMM (d_v of attention's value product; 0 where not fixed)
    kv_streams: float = 0.0  # decode attention: (sequence, key/value head) pairs reading the cache (0 otherwise)
    line_reduces: tuple[LineReduce, ...] = ()  # a wafer mesh's all-reduces after this op (cost/mesh.py)


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
    state_b: float = _FP32_BYTES  # an SSM layer's recurrent state (Workload.ssm_state_dtype)
    graph: Graph = "fused"
    layout: Layout = field(default_factory=Layout)
    moe_imbalance: float = 1.0  # Workload.moe_imbalance
    kv: KVCache = field(default_factory=KVCache)
    host_kv_b: float = 2.0  # bytes per element of the offloaded part of the cache
    kv_dequant: bool = False  # whether reading the device part / the host part takes dequantization
    host_kv_dequant: bool = False
    layer_ops: list[Op] = field(default_factory=list)
    mlp_weights_dtype: str | None = None  # the MLP and expert weights' format when it differs (Workload.mlp_dtype)

    @property
    def mlp_ctx(self) -> "_Ctx":
        """This context with the MLP weights' format (itself when they share the other weights' format)."""
        if self.mlp_weights_dtype is None or self.mlp_weights_dtype == self.weights_dtype:
            return self
        return replace(self, weights_dtype=self.mlp_weights_dtype,
                       weight_b=bytes_per_element(self.mlp_weights_dtype))

    @property
    def rows(self) -> int:
        """N = B·T token rows flowing through the matmuls."""
        return self.batch * self.new_tokens

    @property
    def hf(self) -> bool:
        return self.graph == "hf"

    @property
    def tp(self) -> int:
        return self.layout.tp


def _collective(c: _Ctx, name: str, kind: str, axis: str, bytes: Number, count: int) -> Op:
    """A collective every device of the `axis` group runs, `bytes` being its buffer per device."""
    return Op(name, "collective", c.phase, Cost(wire_bytes=bytes), f"{kind} {_fmt(bytes)} B", count, 1,
              collective=kind, axis=axis)


def _tp_all_reduce(c: _Ctx, name: str, count: int, width: int | None = None) -> list[Op]:
    """Row-parallel outputs summed over the tensor-parallel group: N·d activations each, or N·`width` (none at
    tp = 1)."""
    if c.tp == 1:
        return []
    width = c.model.hidden_size if width is None else width
    return [_collective(c, name, "all-reduce", "tp", c.rows * width * c.act_b, count)]


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
    return Op(name, "matmul", c.phase, cost, shape, count, 1, c.weights_dtype, elements, n / gemms,
              gemm_inner=d_in, gemm_cols=d_out, line_reduces=(LineReduce(n * d_out),))


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


def _hf_norm_launches(c: _Ctx) -> int:
    """Kernels one Hugging Face RMSNorm launches: 6, plus the cast to fp32 and back unless activations are."""
    return HF_NORM_LAUNCHES + (HF_NORM_CAST_LAUNCHES if c.act_b != _FP32_BYTES else 0)


def _norm(c: _Ctx, name: str, count: int) -> Op:
    """RMSNorm (or LayerNorm) over N rows of d. Fused: one kernel reading and writing N·d activations.

    hf (`LlamaRMSNorm.forward`): cast to fp32 (read b, write 4 bytes per element) when activations are
    not fp32; x² (read 4, write 4); its mean (read 4); + eps and rsqrt over N values; x · rsqrt (read 4,
    write 4); cast back (read 4, write b); · weight (read b, write b): 20 + 2b bytes per element, plus
    4 + b + 4 + b for the two casts."""
    d = c.model.hidden_size
    weights = d * (2 if c.model.norm == "layernorm" else 1)
    op = replace(_elementwise(c, name, "norm", c.rows * d, c.rows * d, _NORM_FLOPS_PER_ELEMENT, count,
                              weight_elements=weights), line_reduces=(LineReduce(c.rows, split=False),))
    if not c.hf:
        return op
    elements, b = c.rows * d, c.act_b
    casts = b != _FP32_BYTES
    per_element = 5 * _FP32_BYTES + 2 * b + (2 * (_FP32_BYTES + b) if casts else 0)
    traffic = elements * per_element + 4 * c.rows * _FP32_BYTES  # + the mean, eps and rsqrt over N values
    return replace(op, cost=replace(op.cost, activation_bytes=traffic), launches=_hf_norm_launches(c))


def _residual(c: _Ctx, name: str, count: int) -> Op:
    """Residual add: reads two streams, writes one. Fused into the next norm (fused add-RMSNorm, as
    serving engines run it), so it launches no kernel of its own; its own kernel in the hf graph."""
    d = c.model.hidden_size
    op = _elementwise(c, name, "elementwise", 2 * c.rows * d, c.rows * d, _RESIDUAL_FLOPS_PER_ELEMENT, count)
    return op if c.hf else replace(op, launches=0)


def _rope_cache_write(c: _Ctx, count: int, rotated_width: int, read_width: int, cache_width: int) -> Op:
    """RoPE on q and k (`rotated_width` = their widths together) and the new keys and values written to
    the cache (`cache_width` elements per token). Without RoPE (`rotated_width` 0, Jamba) it is the cache
    write alone, named `cache_write`.

    Fused: one kernel reads q, k, v (`read_width`), writes the rotated q and the cache entries.
    hf (`apply_rotary_pos_emb`, `DynamicCache.update`): per tensor x·cos (read, write), −x₂ over half
    (read, write), cat (read, write), ·sin (read, write), add (read 2, write 1): 10 element passes over
    q and k; then `torch.cat` of the cache with the new entries, which in decode reads and rewrites the
    layer's whole cache: 2·B·(cached + 1)·cache_width elements of KV-cache traffic per step."""
    rows = c.rows
    name = "rope_cache_write" if rotated_width else "cache_write"
    if not c.hf:
        cache_write = rows * cache_width * c.kv_b
        op = _elementwise(c, name, "elementwise", rows * read_width, rows * rotated_width, _ROPE_FLOPS_PER_ELEMENT,
                          count, kv_bytes=cache_write)
        return op if rotated_width else replace(op, shape=f"[{_fmt(rows * cache_width)}]")
    cached_after = c.kv.device_tokens(c.model, c.cached + c.new_tokens)  # each sequence's device cache after it
    cache_traffic = 2.0 * c.batch * cached_after * cache_width * c.kv_b if c.phase == "decode" else (
        2.0 * c.batch * (c.cached + c.new_tokens) * cache_width * c.kv_b)  # onto the cache earlier chunks wrote
    op = _elementwise(c, "rope_cache_write", "elementwise", 0, 0, _ROPE_FLOPS_PER_ELEMENT, count,
                      kv_bytes=cache_traffic)
    rope_bytes = 10.0 * rows * rotated_width * c.act_b
    flops = _ROPE_FLOPS_PER_ELEMENT * rows * rotated_width
    rope_launches = HF_ROPE_LAUNCHES if rotated_width else 0
    return replace(op, name=name, cost=replace(op.cost, flops=flops, activation_bytes=rope_bytes),
                   launches=rope_launches + HF_CACHE_UPDATE_LAUNCHES, shape=f"[{_fmt(rows * rotated_width)}]")


def _decode_cache_tokens(c: _Ctx) -> tuple[Number, Number]:
    """Cached tokens one decode step of this device reads, over its B sequences: B·D/cp on the device and
    B·F/cp fetched from the host (specs/kvcache.py), after T new tokens."""
    seen = c.cached + c.new_tokens
    share = c.batch / c.layout.cp
    return share * c.kv.device_tokens(c.model, seen), share * c.kv.fetched_tokens(c.model, seen)


def _prefix_host_tokens(c: _Ctx) -> Number:
    """Of the prefix a prefill chunk attends to (the C cached tokens, at most the window), those an
    offloaded cache holds in host memory; 0 for a one-pass prefill or without offload."""
    if c.kv.offload is None:
        return 0.0
    prefix = c.model.attended_prefix_tokens(np.asarray(c.cached, dtype=float))
    return c.kv.host_tokens(c.model, prefix)


def _attention_products(c: _Ctx, count: int, *, heads: int, kv_heads: int, d_qk: int, d_v: int,
                        key_width: float, value_width: float, from_cache: bool = True) -> list[Op]:
    """Score (QKᵀ) and value (PV) products with FlashAttention traffic: no S×S matrix in memory.

    FLOPs: 2·B·T·H·S·d_qk and 2·B·T·H·S·d_v. Bytes: Q read and O written once (activations); keys
    and values read once per sequence (`key_width` / `value_width` elements per token), from the KV
    cache (in prefill, the tokens just written), or from activations when `from_cache` is false (MLA
    prefill reads the keys and values it just decompressed). Essay A1: intensity ST/(S+T).

    Decode reads the D device tokens at b_kv and the F fetched ones at the host format's bytes, and
    dequantizes what is quantized: DEQUANT_FLOPS_PER_ELEMENT per element read. With
    `KVCache.query_head_reads` each of the H/H_kv query heads of a group reads (and dequantizes) its
    key/value head's cache itself: H/H_kv times those bytes. H2O adds its fp32 accumulated scores, read
    and rewritten: 2·B·H·A·4 bytes.

    Context parallelism (cp devices): in prefill each device's P/cp queries meet every one of the P keys
    as the blocks pass round the ring; in decode each device holds 1/cp of every cache and attends to it.
    """
    cp = c.layout.cp
    b, t, s = c.batch, c.new_tokens, c.keys
    dequantized: Number = 0.0  # cached tokens read that need dequantizing
    scores: Number = 0.0  # H2O's accumulated-score traffic
    if c.phase == "decode":
        device, fetched = _decode_cache_tokens(c)
        tokens, s = device + fetched, s / cp
        if c.kv.score_bytes_per_token(c.model):
            scores = 2.0 * tokens * heads * H2O_SCORE_BYTES
    else:  # all cp blocks of the prompt stream past this device's queries; a chunk also reads the prefix
        fetched = b * _prefix_host_tokens(c)
        device = b * (t * cp + c.model.attended_prefix_tokens(c.cached)) - fetched
        tokens = device + fetched
    if from_cache:
        token_bytes = device * c.kv_b + fetched * c.host_kv_b
        dequantized = (device if c.phase == "decode" else device - b * t * cp) * c.kv_dequant + (
            fetched * c.host_kv_dequant)
        if c.phase == "decode" and c.kv.query_head_reads:  # one read of the cache per query head
            token_bytes, dequantized = token_bytes * heads / kv_heads, dequantized * heads / kv_heads
    else:
        token_bytes = tokens * c.act_b
    key_bytes, value_bytes = token_bytes * key_width, token_bytes * value_width
    q_bytes, o_bytes = b * t * heads * d_qk * c.act_b, b * t * heads * d_v * c.act_b
    score_flops = 2.0 * b * t * heads * s * d_qk + DEQUANT_FLOPS_PER_ELEMENT * dequantized * key_width
    value_flops = 2.0 * b * t * heads * s * d_v + DEQUANT_FLOPS_PER_ELEMENT * dequantized * value_width
    if from_cache:
        score = Cost(flops=score_flops, kv_bytes=key_bytes + scores, activation_bytes=q_bytes)
        value = Cost(flops=value_flops, kv_bytes=value_bytes, activation_bytes=o_bytes)
    else:
        score = Cost(flops=score_flops, kv_bytes=scores, activation_bytes=q_bytes + key_bytes)
        value = Cost(flops=value_flops, activation_bytes=o_bytes + value_bytes)
    tag = f"B={b} T={t} S={_fmt(s)} H={heads}/{kv_heads}"
    streams = b * kv_heads if c.phase == "decode" and from_cache else 0.0  # for Efficiency's per-stream cap
    ops = [
        # on a wafer: the scores summed over the head dimension, then the softmax's max and sum per row and head
        Op("attn_score", "attention", c.phase, score, f"{tag} d={d_qk}", count, 1, gemm_inner=d_qk,
           kv_streams=streams, line_reduces=(LineReduce(b * t * s), LineReduce(b * t, split=False),
                                             LineReduce(b * t, split=False))),
        Op("attn_value", "attention", c.phase, value, f"{tag} d={d_v}", count, 0, gemm_cols=d_v,  # fused with score
           kv_streams=streams, line_reduces=(LineReduce(b * t * heads * d_v),)),
    ]
    if cp > 1 and c.phase == "prefill":  # ring attention: pass this device's key/value block on, cp − 1 times
        block = b * t * (key_width + value_width) * c.kv_b
        ops.append(_collective(c, "cp_ring_kv", "send-recv", "cp", (cp - 1) * block, count))
    elif cp > 1:  # combine the partial outputs (and their softmax sums) of the cp cache shards
        ops.append(_collective(c, "cp_combine", "all-reduce", "cp", b * t * heads * (d_v + 1) * c.act_b, count))
    return ops


def _transfer(c: _Ctx, name: str, bytes: Number, count: int) -> Op:
    """`bytes` over the device's host (PCIe) link, `count` times per pass; timed by estimate.time_phase."""
    return Op(name, "transfer", c.phase, Cost(wire_bytes=bytes), f"{_fmt(bytes)} B over PCIe", count, 1,
              collective="host-link")


def _host_kv_ops(c: _Ctx, count: int, cache_width: float, kv_heads: int) -> list[Op]:
    """What an offloaded cache adds to a layer (`cache_width` cached elements per token on this device).

    Prefill: the host part of the prompt's cache is written over the link, B·H(P)·width·b_host
    (`kv_host_store`). Decode: the F fetched tokens' keys and values are read, B·F·width·b_host, plus,
    to choose them, `score_channels` key channels of each of the H host tokens per key/value head,
    B·H·H_kv·c·b_host (`kv_host_fetch`); scoring those partial keys against the query (averaged over
    each key/value head's query group, as TailorKV does) is 2·B·H_kv·H·c FLOPs reading the same bytes
    (`kv_topk_score`), the top-k itself not counted."""
    offload = c.kv.offload
    if offload is None:
        return []
    share = c.batch / c.layout.cp
    if c.phase == "prefill":
        before = c.kv.host_tokens(c.model, np.asarray(c.cached, dtype=float))
        stored = share * (c.kv.host_tokens(c.model, c.cached + c.new_tokens * c.layout.cp) - before)
        ops = [_transfer(c, "kv_host_store", stored * cache_width * c.host_kv_b, count)]
        if np.any(c.cached):  # a later chunk reads back the prefix the earlier ones offloaded
            ops.append(_transfer(c, "kv_host_prefix_fetch", c.batch * _prefix_host_tokens(c) * cache_width *
                                 c.host_kv_b, count))
        return ops
    _, fetched = _decode_cache_tokens(c)
    host = share * c.kv.host_tokens(c.model, c.cached + c.new_tokens)
    proxy = host * kv_heads * offload.score_channels * c.host_kv_b
    ops = [_transfer(c, "kv_host_fetch", fetched * cache_width * c.host_kv_b + proxy, count)]
    if offload.score_channels:
        flops = 2.0 * kv_heads * host * offload.score_channels
        ops.append(Op("kv_topk_score", "attention", c.phase, Cost(flops=flops, kv_bytes=proxy),
                      f"[{_fmt(host)} x {kv_heads * offload.score_channels}]", count, 1,
                      gemm_inner=offload.score_channels))
    return ops


def _projections(c: _Ctx, fused_name: str, d_in: int, parts: tuple[tuple[str, int], ...], count: int,
                 bias: int = 0) -> list[Op]:
    """Projections of one input: one fused GEMM over all `parts` (name, width), or in the hf graph one
    GEMM per part, each reading the input again. `bias` elements are spread over the parts."""
    width = sum(w for _, w in parts)
    if not c.hf:
        return [_matmul(c, fused_name, d_in, width, count, bias=bias)]
    return [_matmul(c, name, d_in, w, count, bias=bias * w // width if bias else 0) for name, w in parts]


def _standard_attention(c: _Ctx, count: int) -> list[Op]:
    """MHA/GQA/MQA block: norm, QKV projection, RoPE + cache write, attention, output projection.

    hf adds the copy that makes SDPA's [B, H, T, d_h] output contiguous as [B, T, H·d_h] before o_proj."""
    m = c.model
    d, dh = m.hidden_size, m.head_dim
    h, hkv = m.num_attention_heads // c.tp, c.layout.kv_heads_per_device(m)
    q_width, kv_width = h * dh, hkv * dh
    bias = (q_width + 2 * kv_width) if m.attention_bias else 0
    rotated, read = (q_width + kv_width, q_width + 2 * kv_width) if m.rope else (0, 2 * kv_width)
    ops = [
        _norm(c, "attn_norm", count),
        *_projections(c, "qkv_proj", d, (("q_proj", q_width), ("k_proj", kv_width), ("v_proj", kv_width)),
                      count, bias),
        _rope_cache_write(c, count, rotated, read, 2 * kv_width),
        *_host_kv_ops(c, count, 2 * kv_width, hkv),
        *_attention_products(c, count, heads=h, kv_heads=hkv, d_qk=dh, d_v=dh,
                             key_width=kv_width, value_width=kv_width),
    ]
    if c.hf:
        ops.append(_elementwise(c, "attn_out_copy", "elementwise", c.rows * q_width, c.rows * q_width, 0, count))
    ops += [_matmul(c, "o_proj", q_width, d, count), *_tp_all_reduce(c, "attn_all_reduce", count),
            _residual(c, "attn_residual", count)]
    return ops


def _mla_attention(c: _Ctx, count: int) -> list[Op]:
    """Multi-head latent attention (DeepSeek-V2 section 2.1): cache a d_c latent + a d_r RoPE key.

    Prefill decompresses keys and values (kv_up_proj) and runs ordinary attention with d_qk = d_nope +
    d_r. Decode uses, by default, the absorbed form served in practice: queries are mapped into the
    latent space (q_absorb, by W_UK), scores and values are taken against the cached latent directly
    (one shared "KV head"), and the result is mapped back by W_UV (v_absorb) before the output
    projection. With `KVCache.mla_absorbed` false, decode decompresses as prefill does, every step:
    kv_up_proj [B·A, d_c] @ [d_c, H(d_n + d_v)] over all A attended tokens (reading the latent from the
    cache, writing the per-head keys and values), then MHA attention over them.
    """
    m = c.model
    mla = m.mla
    assert mla is not None
    d, h = m.hidden_size, m.num_attention_heads // c.tp  # the latent is not split: every device caches all of it
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
    ops.append(_rope_cache_write(c, count, h * d_rope + d_rope, h * d_rope + d_rope, d_c + d_rope))
    ops += _host_kv_ops(c, count, d_c + d_rope, 1)
    if c.phase == "decode" and not c.kv.mla_absorbed:
        ops.append(_mla_decompress(c, count, d_c, h * (d_nope + d_v)))
        ops += _attention_products(c, count, heads=h, kv_heads=h, d_qk=d_qk, d_v=d_v,
                                   key_width=h * d_nope + d_rope, value_width=h * d_v, from_cache=False)
    elif c.phase == "prefill":  # a chunk decompresses the cached prefix as well as its own tokens
        prefix_rows = c.batch * mean_of(c.model.attended_prefix_tokens(c.cached))  # mean over the chunks
        ops.append(_matmul(c, "kv_up_proj", d_c, h * (d_nope + d_v), count, rows=c.rows + prefix_rows))
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
    ops += _tp_all_reduce(c, "attn_all_reduce", count)
    ops.append(_residual(c, "attn_residual", count))
    return ops


def _ssm_block(c: _Ctx, count: int) -> list[Op]:
    """A Mamba-1 selective SSM block (Gu & Dao 2023, arXiv 2312.00752, §3.4 Fig. 3 and Algorithm 2), as a
    serving engine runs it (vLLM's MambaMixer: in_proj, causal_conv1d, x_proj, dt_proj, selective_scan,
    out_proj), over N = B·T rows and d_in' = ⌈d_in / tp⌉ channels:

        ssm_norm, in_proj [N, d] @ [d, 2d_in'], conv1d (2K + 5)·N·d_in', x_proj [N, d_in'] @ [d_in', R + 2N_s]
        (+ Jamba's three inner norms), dt_proj [N, R] @ [R, d_in'] + bias,
        selective_scan 9·N·d_in'·N_s + 2·N·d_in' FLOPs, out_proj [N, d_in'] @ [d_in', d], residual

    The scan is the hardware-aware kernel (paper §3.3.2): x, Δ, z, B, C read and y written once per token
    (N·(4d_in' + 2N_s) activations), A and D read as weights, the expanded [B, T, d_in, N_s] state kept on
    chip. State, in the KV-cache traffic class: decode reads and writes each sequence's h (d_in'·N_s at
    b_state) and conv window (d_in'·(K − 1) at b_a, `memory.ssm_state_elements_per_layer`); prefill starts
    from zero and writes both once. No KV cache, no attention: nothing here grows with the context.

    Tensor parallelism (vLLM): in_proj and dt_proj column-parallel, conv, A and D split by channel, x_proj
    row-parallel (an AllReduce of its N·(R + 2N_s) outputs), out_proj row-parallel (the usual N·d AllReduce).

    hf: the same arithmetic and traffic with Hugging Face's launch counts (HF_SSM_*, HF_SCAN_*), plus the
    13 passes of its torch fallback over fp32 [B, d_in, T, N_s] tensors; the conv state's extra column and
    passes are left out (a 1/(N_s + K) effect on state traffic that never binds).
    """
    m = c.model
    s = m.ssm
    assert s is not None
    d, n, r, rows = m.hidden_size, s.d_state, s.dt_rank, c.rows
    d_in = split(m.ssm_inner_size, c.tp)
    scan_state, conv_state = ssm_state_elements_per_layer(m, c.tp)
    passes = 2 if c.phase == "decode" else 1  # read and write the state, or write the final one
    conv_weights = d_in * s.d_conv + (d_in if s.conv_bias else 0)
    conv = _elementwise(c, "conv1d", "elementwise", rows * d_in, rows * d_in,
                        2 * s.d_conv + _CONV_EXTRA_FLOPS_PER_ELEMENT, count, weight_elements=conv_weights,
                        kv_bytes=passes * c.batch * conv_state * c.act_b)
    scan_weights = d_in * n + d_in  # A_log and D
    scan_cost = Cost(flops=rows * d_in * (_SCAN_FLOPS_PER_STATE_ELEMENT * n + _SCAN_FLOPS_PER_CHANNEL),
                     weight_bytes=scan_weights * c.weight_b, kv_bytes=passes * c.batch * scan_state * c.state_b,
                     activation_bytes=rows * (4 * d_in + 2 * n) * c.act_b)
    scan = Op("selective_scan", "scan", c.phase, scan_cost, f"B={c.batch} T={c.new_tokens} d_in={d_in} N={n}", count,
              1, None, scan_weights)
    inner = []
    if s.inner_norms:  # RMSNorm over Δ's R inputs, B and C (whole on every device: x_proj's output is summed)
        width = r + 2 * n
        inner = [replace(_elementwise(c, "ssm_inner_norms", "norm", rows * width, rows * width,
                                      _NORM_FLOPS_PER_ELEMENT, count, weight_elements=width),
                         launches=3 * (_hf_norm_launches(c) if c.hf else 1))]
    if c.hf:
        casts = c.act_b != _FP32_BYTES
        if c.phase == "decode":
            launches = HF_SCAN_STEP_LAUNCHES + (HF_SCAN_CAST_LAUNCHES + 1 if casts else 0)
        else:
            launches = HF_SCAN_LAUNCHES + (HF_SCAN_LAUNCHES_PER_TOKEN + casts) * c.new_tokens + (
                HF_SCAN_CAST_LAUNCHES if casts else 0)
        fallback = HF_SCAN_FP32_PASSES * rows * d_in * n * _FP32_BYTES
        scan = replace(scan, cost=replace(scan_cost, activation_bytes=scan_cost.activation_bytes + fallback),
                       launches=launches)
        conv = replace(conv, launches=HF_SSM_CONV_LAUNCHES)
    return [
        _norm(c, "ssm_norm", count),
        _matmul(c, "in_proj", d, 2 * d_in, count, bias=2 * d_in if s.proj_bias else 0),
        conv,
        _matmul(c, "x_proj", d_in, r + 2 * n, count),
        *_tp_all_reduce(c, "x_proj_all_reduce", count, width=r + 2 * n),
        *inner,
        _matmul(c, "dt_proj", r, d_in, count, bias=d_in),
        scan,
        _matmul(c, "out_proj", d_in, d, count, bias=d if s.proj_bias else 0),
        *_tp_all_reduce(c, "ssm_all_reduce", count),
        _residual(c, "ssm_residual", count),
    ]


def _mla_decompress(c: _Ctx, count: int, d_c: int, width: int) -> Op:
    """Non-absorbed MLA decode: kv_up_proj over every attended token, [B·A, d_c] @ [d_c, H(d_n + d_v)]:
    2·B·A·d_c·H(d_n + d_v) FLOPs (+ dequantization of a quantized latent), the latent read from the
    cache (B·D at b_kv, B·F at the host format's bytes), the per-head keys and values written as
    activations. The RoPE key is read with the decompressed keys (at b_a)."""
    device, fetched = _decode_cache_tokens(c)
    rows = device + fetched
    op = _matmul(c, "kv_up_proj", d_c, width, count, rows=rows)
    latent = (device * c.kv_b + fetched * c.host_kv_b) * d_c
    dequant = DEQUANT_FLOPS_PER_ELEMENT * (device * c.kv_dequant + fetched * c.host_kv_dequant) * d_c
    cost = replace(op.cost, flops=op.cost.flops + dequant, kv_bytes=latent, activation_bytes=rows * width * c.act_b)
    return replace(op, cost=cost, gemm_rows=mean_of(rows))


def _dense_mlp(c: _Ctx, count: int, width: int, prefix: str = "") -> list[Op]:
    """Gated (SwiGLU: gate and up, act-and-multiply, down) or plain (up, act, down) MLP.

    Fused: one gate_up GEMM and one SiLU-and-multiply kernel (read 2f, write f per row). hf: gate and
    up GEMMs, then SiLU (read f, write f) and the multiply (read 2f, write f) as two kernels."""
    m = c.model
    d = m.hidden_size
    width = split(width, c.tp)
    gated = m.mlp == "gated"
    if gated:
        ops = _projections(c, f"{prefix}gate_up_proj", d, ((f"{prefix}gate_proj", width), (f"{prefix}up_proj", width)),
                           count)
    else:
        ops = [_matmul(c, f"{prefix}up_proj", d, width, count)]
    act_in = c.rows * width * (2 if gated else 1)
    act = _elementwise(c, f"{prefix}mlp_act", "elementwise", act_in, c.rows * width, _GATED_ACT_FLOPS_PER_ELEMENT,
                       count)
    if c.hf and gated:
        act = replace(act, cost=replace(act.cost, activation_bytes=5.0 * c.rows * width * c.act_b), launches=2)
    return ops + [act, _matmul(c, f"{prefix}down_proj", width, d, count), *_tp_all_reduce(c, f"{prefix}mlp_all_reduce",
                                                                                           count)]


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

    Expert parallelism (ep > 1): the tp·dp devices of a stage pool their dp replicas' tokens (N·dp rows),
    each device holds E/ep experts split over e = tp·dp/ep devices, runs N·dp·(k + s)/ep rows through them,
    and the tokens go there and back by AllToAll (each device sends its N/tp rows to k experts). Routing
    skew (`Workload.moe_imbalance` ρ ≥ 1) gives the busiest device ρ times that, which sets the layer's
    time. ep = 1: every expert is split over the tp devices like a dense MLP, followed by its AllReduce;
    skew then moves rows between experts of one grouped GEMM and changes neither its FLOPs nor its bytes.
    """
    m = c.model
    moe = m.moe
    assert moe is not None
    lay = c.layout
    d, k, shared, experts = m.hidden_size, moe.experts_per_token, moe.num_shared_experts, moe.num_experts
    if lay.ep > 1:
        pooled = c.rows * lay.dp
        local = experts // lay.ep
        touched = local * (1.0 - (1.0 - k / experts) ** pooled) + shared
        rows = pooled * (k + shared) / lay.ep * c.moe_imbalance  # the busiest device sets the layer's time
        f = split(moe.expert_intermediate_size, lay.expert_tp)
    else:
        touched = expected_distinct_experts(c.rows, experts, k) + shared
        rows = c.rows * (k + shared)
        f = split(moe.expert_intermediate_size, c.tp)
    up_width = 2 * f if m.mlp == "gated" else f
    gate_up = _matmul(c, "experts_gate_up", d, up_width, count, rows=rows, weight_elements=touched * d * up_width,
                      gemms=touched)
    act = _elementwise(c, "experts_act", "elementwise", rows * up_width, rows * f, _GATED_ACT_FLOPS_PER_ELEMENT, count)
    down = _matmul(c, "experts_down", f, d, count, rows=rows, weight_elements=touched * f * d, gemms=touched)
    ops = [_matmul(c, "router", d, experts, count), gate_up, act, down]
    if c.hf:
        # MixtralSparseMoeBlock: softmax / top-k / masks after the router, then a Python loop over the experts
        # hit, each with its own GEMMs, SiLU and multiply (see _dense_mlp), gathering its rows, scaling its
        # output and index_add-ing it back (read 3, write 2 rows of d in all)
        hit = round(touched)
        routing = _elementwise(c, "experts_dispatch", "elementwise", rows * 3 * d, rows * 2 * d, 0, count)
        act_bytes = 5.0 * rows * f * c.act_b
        ops = [ops[0], replace(gate_up, launches=hit),
               replace(act, cost=replace(act.cost, activation_bytes=act_bytes), launches=2 * hit),
               replace(down, launches=hit),
               replace(routing, launches=HF_ROUTER_LAUNCHES + HF_DISPATCH_LAUNCHES_PER_EXPERT * hit)]
    if lay.ep > 1:  # the busiest device receives (and returns) `moe_imbalance` times the mean share
        sent = c.rows / c.tp * k * d * c.act_b * c.moe_imbalance
        ops.insert(1, _collective(c, "moe_dispatch", "all-to-all", "ep", sent, count))
        ops.append(_collective(c, "moe_combine", "all-to-all", "ep", sent, count))
    else:
        ops += _tp_all_reduce(c, "moe_all_reduce", count)
    return ops


def _layer_ops(c: _Ctx, count: int, mixer: str, mlp: str) -> list[Op]:
    """`count` layers of one kind: the mixer (attention, MLA or SSM), then the MLP (dense, MoE or none)."""
    if mixer == "ssm":
        ops = _ssm_block(c, count)
    else:
        ops = _mla_attention(c, count) if c.model.mla else _standard_attention(c, count)
    if mlp == "none":
        return ops
    f = c.mlp_ctx
    ffn = _moe_mlp(f, count) if mlp == "moe" else _dense_mlp(f, count, c.model.intermediate_size)
    return ops + [_norm(c, "mlp_norm", count)] + ffn + [_residual(c, "mlp_residual", count)]


_MIXER_TAGS = {"attention": "attn.", "ssm": "ssm."}


def _tag(ops: list[Op], prefix: str) -> list[Op]:
    """Name ops of one layer kind apart from the others' when a model has several."""
    return [replace(op, name=f"{prefix}{op.name}") for op in ops] if prefix else ops


def forward_ops(model: ModelSpec, workload: Workload, phase: Phase, cached_tokens: Number = 0,
                graph: Graph = "fused", layout: Layout | None = None, new_tokens: int = 1,
                chunk_tokens: int | None = None, logits: bool = True) -> list[Op]:
    """The ops of one forward pass, as `graph` runs them, on one device of `layout` (module docstring):
    `workload.batch` is then one data-parallel replica's sequences, and prefill rows are P/cp tokens.

    prefill: all `prompt_tokens` of every sequence at once, causal (each new token attends on average
    to (T+1)/2 keys, fewer under a sliding window), the LM head on the last token only. decode:
    `new_tokens` T per sequence (1; more when a speculative step verifies several drafted tokens at once)
    with `cached_tokens` already cached (a number or an array of them, one per step), the i-th attending to
    cached + i keys (at most the window), so (T+1)/2 more than cached on average; every new token gets
    its logits.

    Chunked prefill (`chunk_tokens` C): one chunk of C prompt tokens per sequence after `cached_tokens`
    (one start or an array of them) written by the earlier chunks; its attention reads that prefix from
    the cache as well (at most the window), and `logits=False` leaves out the LM head (only the chunk
    holding the prompt's last token needs it).
    """
    layout = layout or Layout()
    if phase == "prefill" and chunk_tokens is None:
        new, keys, cached = split(workload.prompt_tokens, layout.cp), model.mean_causal_keys(workload.prompt_tokens), 0
    elif phase == "prefill":
        if layout.cp > 1:
            raise ValueError("a chunked prefill runs without context parallelism")
        cached = np.asarray(cached_tokens, dtype=float)
        new, keys = chunk_tokens, model.mean_causal_keys(chunk_tokens, cached)
    else:
        cached = np.asarray(cached_tokens, dtype=float)
        new, keys = new_tokens, workload.kv.attended_tokens(model, cached + (new_tokens + 1) / 2.0)
    c = _Ctx(
        model=model, phase=phase, batch=workload.batch, new_tokens=new, keys=keys, cached=cached,
        act_b=bytes_per_element(workload.activations_dtype), weight_b=bytes_per_element(workload.weights_dtype),
        kv_b=bytes_per_element(workload.kv_dtype), weights_dtype=workload.weights_dtype,
        mlp_weights_dtype=workload.mlp_weights_dtype,
        state_b=bytes_per_element(workload.ssm_state_dtype), graph=graph, layout=layout,
        moe_imbalance=workload.moe_imbalance,
        kv=workload.kv, host_kv_b=bytes_per_element(workload.host_kv_dtype),
        kv_dequant=number_format(workload.kv_dtype).dequantized,
        host_kv_dequant=number_format(workload.host_kv_dtype).dequantized,
    )
    d, v = model.hidden_size, model.vocab_size
    # vocab-parallel embedding: a device looks up the rows whose tokens fall in its V/tp slice, then an AllReduce
    ops: list[Op] = [
        _elementwise(c, "embed", "gather", 0, c.rows * d, 0, 1, weight_elements=c.rows * d / c.tp),
        *_tp_all_reduce(c, "embed_all_reduce", 1),
    ]
    if c.hf and model.num_attention_layers and model.rope:  # the cos / sin tables, once per forward: N rows of d_h
        tables = _elementwise(c, "rotary_tables", "elementwise", 0, 2 * c.rows * model.head_dim, 1, 1)
        ops.append(replace(tables, launches=HF_ROTARY_TABLE_LAUNCHES))
    groups = model.layer_groups()
    several_mixers, several_mlps = len({x for x, _ in groups}) > 1, len({f for _, f in groups}) > 1
    for (mixer, mlp), count in groups.items():
        prefix = (_MIXER_TAGS[mixer] if several_mixers else "") + (f"{mlp}." if several_mlps else "")
        ops += _tag(_layer_ops(c, count, mixer, mlp), prefix)
    if not logits:
        return ops
    last = replace(c, new_tokens=new if phase == "decode" else 1, layer_ops=[])
    ops.append(_norm(last, "final_norm", 1))
    v_local = split(v, c.tp)  # vocab-parallel LM head, its logits gathered for sampling
    lm_head = _matmul(last, "lm_head", d, v_local, 1)
    logits = last.rows * v_local * _LOGIT_BYTES  # written in fp32 rather than the activation format
    ops.append(replace(lm_head, cost=replace(lm_head.cost, activation_bytes=last.rows * d * c.act_b + logits)))
    if c.tp > 1:
        ops.append(_collective(last, "logits_all_gather", "all-gather", "tp", last.rows * v * _LOGIT_BYTES, 1))
    logits = last.rows * v * _LOGIT_BYTES
    ops.append(Op("sample", "elementwise", phase, Cost(flops=float(last.rows * v), activation_bytes=logits),
                  f"[{last.rows}, {v}]", 1, 1))
    return ops


def pad_decode_ops(real: list[Op], padded: list[Op]) -> list[Op]:
    """A decode step a static-shape runtime runs at a padded batch (tt-metal's demos decode 32 users whatever
    the batch: the Galaxy's batch-1 and batch-32 steps both take 14 ms, llama3_70b_galaxy PERF.md): the
    matmuls, norms, collectives and sampling over the padded rows, the ops that read or write each
    sequence's cache or state (attention, the cache write, an SSM's scan, host transfers) over the real
    sequences only. `real` and `padded` are the same pass built at the two batch sizes."""
    if [op.name for op in real] != [op.name for op in padded]:
        raise ValueError("the real and padded passes must be the same ops")

    def per_sequence(op: Op) -> bool:
        return op.kind in ("attention", "transfer", "scan") or bool(np.any(op.cost.kv_bytes))
    return [r if per_sequence(r) else p for r, p in zip(real, padded)]


def total_cost(ops: list[Op]) -> Cost:
    """The pass's cost: each op's cost times its count, summed."""
    total = Cost()
    for op in ops:
        total = total + op.cost * op.count
    return total


def _fmt(value: Number) -> str:
    value = mean_of(value)
    return f"{value:.0f}" if value.is_integer() else f"{value:.1f}"
