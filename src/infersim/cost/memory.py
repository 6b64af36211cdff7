"""Memory footprints: weights, KV cache, and what fits in a capacity.

Bytes are `elements × bytes_per_element(dtype)` (dtypes.py), nothing else.
"""

from __future__ import annotations

from infersim.specs.dtypes import bytes_per_element
from infersim.specs.model import ModelSpec


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
    """KV-cache bytes one token occupies across all layers (see `kv_elements_per_token`)."""
    return kv_elements_per_token(model, mla_rope=mla_rope) * bytes_per_element(kv_dtype)


def kv_cache_bytes(model: ModelSpec, kv_dtype: str, sequences: int, tokens_per_sequence: int) -> float:
    """KV-cache bytes for `sequences` × `tokens_per_sequence` tokens: linear in both, up to a sliding
    window (a model with one keeps only the last W tokens per sequence: a rolling buffer)."""
    return sequences * model.attended_tokens(tokens_per_sequence) * kv_bytes_per_token(model, kv_dtype)


def weight_bytes(model: ModelSpec, weights_dtype: str = "bf16") -> float:
    """Bytes of all weights (every expert) stored in `weights_dtype`, group scales included."""
    return model.total_params * bytes_per_element(weights_dtype)


def tokens_that_fit(capacity_bytes: float, bytes_per_token: float) -> float:
    """How many tokens of cache a capacity holds: capacity / bytes per token (essay K2, K5, K6)."""
    return capacity_bytes / bytes_per_token
