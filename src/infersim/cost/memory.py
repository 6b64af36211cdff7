"""Memory footprints: weights, KV cache, and what fits in a capacity.

Bytes are `elements × bytes_per_element(dtype)` (dtypes.py, block scales included), nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from infersim.specs.dtypes import bytes_per_element
from infersim.specs.kvcache import KVCache
from infersim.specs.model import ModelSpec

_WHOLE_CACHE = KVCache()


def kv_elements_per_token(model: ModelSpec, *, mla_rope: bool = True) -> int:
    """Cached elements per token over all layers.

    MHA/GQA/MQA: 2 (K and V) · L · H_kv · d_head. MLA: L · (d_c + d_rope), the latent plus the one
    shared RoPE key (DeepSeek-V2 section 2.1.2); `mla_rope=False` drops the RoPE key as the essay does
    (essay K3: 2·61·512 bytes = 62,464 B with 2-byte values; with the RoPE key 2·61·576 = 70,272 B).
    """
    if model.mla:
        width = model.mla.kv_lora_rank + (model.mla.qk_rope_head_dim if mla_rope else 0)
        return model.num_layers * width
    return 2 * model.num_layers * model.num_key_value_heads * model.head_dim


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


def weight_bytes(model: ModelSpec, weights_dtype: str = "bf16") -> float:
    """Bytes of all weights (every expert) stored in `weights_dtype`, group scales included."""
    return model.total_params * bytes_per_element(weights_dtype)


def tokens_that_fit(capacity_bytes: float, bytes_per_token: float) -> float:
    """How many tokens of cache a capacity holds: capacity / bytes per token (essay K2, K5, K6)."""
    return capacity_bytes / bytes_per_token
