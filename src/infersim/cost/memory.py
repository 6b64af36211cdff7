"""Memory footprints: weights, KV cache, SSM state, and what fits in a capacity.

Bytes are `elements × bytes_per_element(dtype)` (dtypes.py, block scales included), nothing else. Only attention
layers keep a KV cache; an SSM layer keeps a recurrent state of constant size per sequence instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from infersim.cost.parallel import stage_weight_parts
from infersim.specs.dtypes import bytes_per_element
from infersim.specs.kvcache import KVCache
from infersim.specs.layout import Layout
from infersim.specs.model import ModelSpec

_WHOLE_CACHE = KVCache()


def kv_elements_per_token(model: ModelSpec, *, mla_rope: bool = True) -> int:
    """Cached elements per token over the attention layers L_attn (all L of a transformer, none of Mamba).

    MHA/GQA/MQA: 2 (K and V) · L_attn · H_kv · d_head. MLA: L_attn · (d_c + d_rope), the latent plus the one
    shared RoPE key (DeepSeek-V2 section 2.1.2); `mla_rope=False` drops the RoPE key as the essay does
    (essay K3: 2·61·512 bytes = 62,464 B with 2-byte values; with the RoPE key 2·61·576 = 70,272 B).
    Jamba: 2 · 4 · 8 · 128 = 8,192 (its 28 SSM layers cache nothing per token).
    """
    layers = model.num_attention_layers
    if not layers:
        return 0
    if model.mla:
        width = model.mla.kv_lora_rank + (model.mla.qk_rope_head_dim if mla_rope else 0)
        return layers * width
    return 2 * layers * model.num_key_value_heads * model.head_dim


def kv_bytes_per_token(model: ModelSpec, kv_dtype: str = "bf16", *, mla_rope: bool = True) -> float:
    """KV-cache bytes one token occupies across all layers (see `kv_elements_per_token`), scales included:
    Llama-3.1-8B 131,072 B in bf16, 32·2·8·128·3/8 = 24,576 B in int2-kivi (3 bits per element)."""
    return kv_elements_per_token(model, mla_rope=mla_rope) * bytes_per_element(kv_dtype)


@dataclass(frozen=True, slots=True)
class KVFootprint:
    """The KV cache of `sequences` sequences at the end of a run (specs/kvcache.py for the counts; per
    sequence and layer): K kept, D on the device (allocated: rounded up to whole blocks), H on the host.
    Device bytes = B·allocated·(KV bytes per token + H2O scores); host bytes = B·H·bytes per token in
    the host format."""

    kept_tokens: float
    device_tokens: float
    allocated_tokens: float
    host_tokens: float
    device_bytes: float
    host_bytes: float

    @property
    def fragmentation(self) -> float:
        """Share of the allocated device cache no token uses: 1 − D/⌈D/b⌉·b (0 when not paged)."""
        return 1.0 - self.device_tokens / self.allocated_tokens if self.allocated_tokens else 0.0


def kv_footprint(model: ModelSpec, kv_dtype: str, sequences: int, tokens_per_sequence: int,
                 kv: KVCache | None = None, host_dtype: str | None = None) -> KVFootprint:
    """Where `sequences` × `tokens_per_sequence` tokens of cache live under policy `kv` (see `KVFootprint`)."""
    kv = kv or _WHOLE_CACHE
    kept = float(kv.kept_tokens(model, float(tokens_per_sequence)))
    host = float(kv.host_tokens(model, float(tokens_per_sequence)))
    device = kept - host
    allocated = float(kv.allocated_tokens(device))
    per_token = kv_bytes_per_token(model, kv_dtype) + kv.score_bytes_per_token(model)
    return KVFootprint(kept, device, allocated, host, sequences * allocated * per_token,
                       sequences * host * kv_bytes_per_token(model, host_dtype or kv_dtype))


def kv_cache_bytes(model: ModelSpec, kv_dtype: str, sequences: int, tokens_per_sequence: int,
                   kv: KVCache | None = None) -> float:
    """Device KV-cache bytes for `sequences` × `tokens_per_sequence` tokens: linear in both up to a sliding
    window (a model with one keeps only the last W tokens per sequence: a rolling buffer) or a budget,
    less what is offloaded, rounded up to whole blocks when paged (`kv_footprint`)."""
    return kv_footprint(model, kv_dtype, sequences, tokens_per_sequence, kv).device_bytes


def ssm_state_elements_per_layer(model: ModelSpec, tp: int = 1) -> tuple[int, int]:
    """(scan, conv) state elements one sequence keeps in one SSM layer on one of `tp` devices (d_in' =
    ⌈d_in / tp⌉ channels each): d_in'·N for the selective scan's h, d_in'·(d_conv − 1) for the inputs the
    causal conv still needs (Gu & Dao 2023 §3.4; vLLM's `mamba1_state_shape` keeps d_conv − 1 columns,
    Hugging Face and mamba_ssm keep d_conv, one more). (0, 0) without an `ssm` block."""
    if model.ssm is None:
        return 0, 0
    d_in = -(-model.ssm_inner_size // tp)
    return d_in * model.ssm.d_state, d_in * (model.ssm.d_conv - 1)


def ssm_state_bytes_per_sequence(model: ModelSpec, state_dtype: str = "fp32", conv_dtype: str = "bf16") -> float:
    """Recurrent state one sequence keeps over all SSM layers, whatever its length:

        L_ssm · d_in · (N · b_state + (d_conv − 1) · b_conv)

    Mamba-2.8B (fp32 state, bf16 conv): 64 · 5,120 · (16 · 4 + 3 · 2) = 22,937,600 B ≈ 22.9 MB, what a
    bf16 Llama-2-7B cache holds in 44 tokens. State formats: see `Workload.ssm_state_dtype`."""
    scan, conv = ssm_state_elements_per_layer(model)
    per_layer = scan * bytes_per_element(state_dtype) + conv * bytes_per_element(conv_dtype)
    return model.num_ssm_layers * per_layer


def weight_bytes(model: ModelSpec, weights_dtype: str = "bf16", mlp_weights_dtype: str | None = None) -> float:
    """Bytes of all weights (every expert) stored in `weights_dtype`, group scales included; the MLP and
    expert weights in `mlp_weights_dtype` when given (their count from one device holding everything)."""
    if mlp_weights_dtype is None or mlp_weights_dtype == weights_dtype:
        return model.total_params * bytes_per_element(weights_dtype)
    mlp, rest = stage_weight_parts(model, Layout(), 0)
    return mlp * bytes_per_element(mlp_weights_dtype) + rest * bytes_per_element(weights_dtype)


def tokens_that_fit(capacity_bytes: float, bytes_per_token: float) -> float:
    """How many tokens of cache a capacity holds: capacity / bytes per token (essay K2, K5, K6)."""
    return capacity_bytes / bytes_per_token
