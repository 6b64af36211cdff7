"""What a transformer model is: the shapes that set its FLOPs, bytes and memory.

Field names follow Hugging Face configs (`num_key_value_heads`, `intermediate_size`) so a config.json
maps onto this spec field by field (see `hf_config.py`). `head_dim` is independent of the hidden size
(Mistral-Small: 32 heads x 128 = 4096 != 5120). Attention is MHA, GQA or MQA by the ratio of query to
key/value heads, or MLA (DeepSeek-V2/V3) when an `mla` block is given.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class MLASpec(BaseModel):
    """Multi-head latent attention (DeepSeek-V2, arXiv 2405.04434 section 2.1).

    Keys and values are rebuilt from a shared latent of width `kv_lora_rank`; only that latent and one
    RoPE key of width `qk_rope_head_dim` per token are cached.
    """

    model_config = _FROZEN
    kv_lora_rank: PositiveInt
    q_lora_rank: PositiveInt | None = None  # None: queries projected directly (DeepSeek-V2-Lite)
    qk_nope_head_dim: PositiveInt
    qk_rope_head_dim: PositiveInt
    v_head_dim: PositiveInt


class MoESpec(BaseModel):
    """Mixture of experts in the MLP: `num_experts` routed experts, `experts_per_token` chosen per token.

    The first `first_dense_layers` layers keep a dense MLP of the model's `intermediate_size`
    (DeepSeek's `first_k_dense_replace`); the others are MoE with `num_shared_experts` always-active
    experts beside the routed ones.
    """

    model_config = _FROZEN
    num_experts: PositiveInt
    experts_per_token: PositiveInt
    expert_intermediate_size: PositiveInt
    num_shared_experts: int = Field(0, ge=0)
    first_dense_layers: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> "MoESpec":
        if self.experts_per_token > self.num_experts:
            raise ValueError(
                f"experts_per_token ({self.experts_per_token}) exceeds num_experts ({self.num_experts})"
            )
        return self


class ModelSpec(BaseModel):
    """A decoder-only transformer. All sizes are element counts; bytes depend on the workload's dtypes."""

    model_config = _FROZEN
    id: str
    name: str
    source: str = Field(min_length=1, description="where the shapes come from (config.json, paper)")
    hidden_size: PositiveInt
    num_layers: PositiveInt
    num_attention_heads: PositiveInt
    num_key_value_heads: PositiveInt
    head_dim: PositiveInt
    intermediate_size: PositiveInt
    vocab_size: PositiveInt
    tie_word_embeddings: bool = False
    mlp: Literal["gated", "plain"] = "gated"
    norm: Literal["rmsnorm", "layernorm"] = "rmsnorm"
    attention_bias: bool = False
    max_position_embeddings: PositiveInt | None = None
    sliding_window: PositiveInt | None = Field(
        None, description="every layer attends to at most this many most recent tokens (Mistral 7B: 4096)")
    mla: MLASpec | None = None
    moe: MoESpec | None = None
    published_params: int | None = Field(None, gt=0, description="parameter count the authors state")
    published_params_source: str | None = None

    @model_validator(mode="after")
    def _check_shapes(self) -> "ModelSpec":
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(
                f"num_attention_heads ({self.num_attention_heads}) is not a multiple of "
                f"num_key_value_heads ({self.num_key_value_heads}); grouped-query attention needs "
                "every key/value head to serve the same number of query heads"
            )
        if self.moe and self.moe.first_dense_layers > self.num_layers:
            raise ValueError(
                f"moe.first_dense_layers ({self.moe.first_dense_layers}) exceeds num_layers ({self.num_layers})"
            )
        if self.published_params is not None and not self.published_params_source:
            raise ValueError("published_params needs published_params_source")
        return self

    # ---- derived shapes -------------------------------------------------------------------------
    @property
    def attention(self) -> Literal["mha", "gqa", "mqa", "mla"]:
        """Attention kind: MLA if latent, else by key/value heads (1: MQA, all: MHA, else GQA)."""
        if self.mla:
            return "mla"
        if self.num_key_value_heads == self.num_attention_heads:
            return "mha"
        return "mqa" if self.num_key_value_heads == 1 else "gqa"

    def attended_tokens(self, tokens):
        """Keys one token attends to (and cache entries kept) given `tokens` so far: all of them, or the
        sliding window's worth (works on numbers and numpy arrays)."""
        if self.sliding_window is None:
            return tokens
        import numpy as np

        return np.minimum(tokens, self.sliding_window)

    def mean_causal_keys(self, new_tokens: int) -> float:
        """Mean keys per token in a causal pass over `new_tokens` from an empty cache: mean of
        min(i, W) for i = 1…T, i.e. (T+1)/2 without a window, (W(W+1)/2 + (T−W)·W)/T when T > W."""
        t, w = new_tokens, self.sliding_window
        if w is None or t <= w:
            return (t + 1) / 2.0
        return (w * (w + 1) / 2.0 + (t - w) * w) / t

    @property
    def is_moe(self) -> bool:
        return self.moe is not None

    @property
    def num_dense_layers(self) -> int:
        """Layers with a dense MLP (all of them for a dense model)."""
        return self.moe.first_dense_layers if self.moe else self.num_layers

    @property
    def num_moe_layers(self) -> int:
        return self.num_layers - self.num_dense_layers

    @property
    def q_head_dim(self) -> int:
        """Width of one query/key head in the score product (MLA: no-RoPE part + RoPE part)."""
        return self.mla.qk_nope_head_dim + self.mla.qk_rope_head_dim if self.mla else self.head_dim

    @property
    def v_head_dim(self) -> int:
        return self.mla.v_head_dim if self.mla else self.head_dim

    @property
    def mlp_matrices(self) -> int:
        """Weight matrices per MLP: 3 when gated (gate, up, down: SwiGLU), 2 when plain (up, down)."""
        return 3 if self.mlp == "gated" else 2

    # ---- parameters (closed form; the op list derives the same numbers independently) -----------
    def attention_params_per_layer(self) -> int:
        """Weights of one attention block: projections in, output projection, biases.

        MHA/GQA/MQA: d*(H*dh) + 2*d*(Hkv*dh) + (H*dh)*d (+ biases on q, k, v when `attention_bias`).
        MLA (DeepSeek-V2 eq. 9-18): q via optional low rank (d*rq + rq*H*dq, with an rq-wide norm),
        kv down-projection d*(rkv + dr) with an rkv-wide norm, up-projection rkv*H*(dnope + dv),
        output H*dv*d.
        """
        d, h = self.hidden_size, self.num_attention_heads
        if self.mla:
            m = self.mla
            dq = m.qk_nope_head_dim + m.qk_rope_head_dim
            q = d * m.q_lora_rank + m.q_lora_rank + m.q_lora_rank * h * dq if m.q_lora_rank else d * h * dq
            kv = d * (m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank
            kv += m.kv_lora_rank * h * (m.qk_nope_head_dim + m.v_head_dim)
            return q + kv + h * m.v_head_dim * d
        q_width = h * self.head_dim
        kv_width = self.num_key_value_heads * self.head_dim
        bias = (q_width + 2 * kv_width) if self.attention_bias else 0
        return d * (q_width + 2 * kv_width) + q_width * d + bias

    def mlp_params(self, intermediate_size: int) -> int:
        """Weights of one MLP (or one expert) of width `intermediate_size`: matrices x d x f."""
        return self.mlp_matrices * self.hidden_size * intermediate_size

    def norm_params_per_layer(self) -> int:
        """Two norms per layer (pre-attention, pre-MLP); LayerNorm also has a bias."""
        return 2 * self.hidden_size * (2 if self.norm == "layernorm" else 1)

    def moe_layer_mlp_params(self, *, active_only: bool) -> int:
        """MLP weights of one MoE layer: router + routed experts (all or the active k) + shared ones."""
        assert self.moe is not None
        moe = self.moe
        experts = moe.experts_per_token if active_only else moe.num_experts
        router = self.hidden_size * moe.num_experts
        return router + (experts + moe.num_shared_experts) * self.mlp_params(moe.expert_intermediate_size)

    def embedding_params(self) -> int:
        """Token embedding plus the LM head unless tied: V*d*(1 or 2)."""
        return self.vocab_size * self.hidden_size * (1 if self.tie_word_embeddings else 2)

    def _params(self, *, active_only: bool) -> int:
        per_layer = self.attention_params_per_layer() + self.norm_params_per_layer()
        total = self.num_layers * per_layer + self.num_dense_layers * self.mlp_params(self.intermediate_size)
        if self.moe:
            total += self.num_moe_layers * self.moe_layer_mlp_params(active_only=active_only)
        final_norm = self.hidden_size * (2 if self.norm == "layernorm" else 1)
        return total + self.embedding_params() + final_norm

    @cached_property
    def total_params(self) -> int:
        """All weights, every expert included."""
        return self._params(active_only=False)

    @cached_property
    def active_params(self) -> int:
        """Weights one token touches (routed experts: only the k chosen), embedding table included."""
        return self._params(active_only=True)
