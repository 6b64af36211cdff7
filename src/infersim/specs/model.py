"""What a model is: the shapes that set its FLOPs, bytes and memory.

Field names follow Hugging Face configs (`num_key_value_heads`, `intermediate_size`) so a config.json
maps onto this spec field by field (see `hf_config.py`). `head_dim` is independent of the hidden size
(Mistral-Small: 32 heads x 128 = 4096 != 5120). Attention is MHA, GQA or MQA by the ratio of query to
key/value heads, or MLA (DeepSeek-V2/V3) when an `mla` block is given.

Each layer has a mixer (attention, or a Mamba selective state-space block when an `ssm` block is given)
and an MLP (dense, mixture of experts, or none). A pure SSM (Mamba) has no attention layer and no
attention fields; a hybrid (Jamba) puts attention on every `ssm.attn_layer_period`-th layer and MoE on
every `moe.layer_period`-th; `layer_kinds` lists what each layer is.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

_FROZEN = ConfigDict(frozen=True, extra="forbid")

Mixer = Literal["attention", "ssm"]
MLPKind = Literal["dense", "moe", "none"]


def _check_period(where: str, period: int, offset: int) -> None:
    """A layer pattern 'layer i when i mod period = offset' needs offset < period."""
    if offset >= period:
        raise ValueError(f"{where}_offset ({offset}) must be smaller than {where}_period ({period})")


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
    (DeepSeek's `first_k_dense_replace`); of the others, layer i is MoE when i mod `layer_period` =
    `layer_offset` (Jamba's `expert_layer_period` 2, `expert_layer_offset` 1: every odd layer) and dense
    otherwise. MoE layers have `num_shared_experts` always-active experts beside the routed ones.
    """

    model_config = _FROZEN
    num_experts: PositiveInt
    experts_per_token: PositiveInt
    expert_intermediate_size: PositiveInt
    num_shared_experts: int = Field(0, ge=0)
    first_dense_layers: int = Field(0, ge=0)
    layer_period: PositiveInt = 1
    layer_offset: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> "MoESpec":
        if self.experts_per_token > self.num_experts:
            raise ValueError(
                f"experts_per_token ({self.experts_per_token}) exceeds num_experts ({self.num_experts})"
            )
        _check_period("layer", self.layer_period, self.layer_offset)
        return self

    def is_moe_layer(self, layer: int) -> bool:
        """Whether 0-based `layer` has experts: past the first dense layers, on the period's offset."""
        return layer >= self.first_dense_layers and layer % self.layer_period == self.layer_offset


class SSMSpec(BaseModel):
    """A Mamba-1 selective state-space block in place of attention (Gu & Dao 2023, arXiv 2312.00752, §3.4
    Fig. 3, Algorithm 2; Hugging Face `MambaMixer`).

    Inner width d_in = `expand`·d. Per token: in_proj d → 2·d_in (x and the gate z), a causal depthwise
    conv of width `d_conv` over x, x_proj d_in → `dt_rank` + 2N (Δ's low-rank input, B and C), dt_proj
    `dt_rank` → d_in (+ bias), the selective scan over a d_in × N state with A (d_in × N) and D (d_in),
    y·SiLU(z), out_proj d_in → d. A sequence carries a constant-size state, d_in·N for the scan and
    d_in·(d_conv − 1) for the conv, instead of a KV cache. Field names are the paper's and Jamba's
    (`mamba_d_state` ...); Hugging Face's MambaConfig calls them state_size, conv_kernel, expand,
    time_step_rank.

    Layer pattern (Jamba, Lieber et al. 2024, arXiv 2403.19887 §2): layer i is attention when
    `attn_layer_period` is set and i mod period = `attn_layer_offset`, else SSM; None: every layer is
    SSM (a pure Mamba, which then has no attention fields).
    """

    model_config = _FROZEN
    d_state: PositiveInt = Field(description="N, state width per inner channel")
    d_conv: PositiveInt = Field(description="causal depthwise conv kernel width")
    expand: PositiveInt = Field(description="E, inner width d_in = E · hidden_size")
    dt_rank: PositiveInt = Field(description="R, the rank of Δ's projection (Mamba: ceil(d / 16))")
    conv_bias: bool = True
    proj_bias: bool = Field(False, description="biases on in_proj and out_proj (HF use_bias, Jamba mamba_proj_bias)")
    inner_norms: bool = Field(False, description="RMSNorms over Δ, B and C after x_proj (Jamba)")
    attn_layer_period: PositiveInt | None = None
    attn_layer_offset: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> "SSMSpec":
        if self.attn_layer_period is not None:
            _check_period("attn_layer", self.attn_layer_period, self.attn_layer_offset)
        elif self.attn_layer_offset:
            raise ValueError("attn_layer_offset needs attn_layer_period")
        return self


class ModelSpec(BaseModel):
    """A decoder-only language model: a transformer, a state-space model or a hybrid of the two. All sizes
    are element counts; bytes depend on the workload's dtypes.

    The attention fields (heads, key/value heads, head width) are required when any layer is attention
    and absent when none is; `intermediate_size` (the dense MLP and default expert width) may only be left
    out by an SSM without MLPs (Mamba's layers are a norm and the mixer)."""

    model_config = _FROZEN
    id: str
    name: str
    source: str = Field(min_length=1, description="where the shapes come from (config.json, paper)")
    hidden_size: PositiveInt
    num_layers: PositiveInt
    num_attention_heads: PositiveInt | None = None
    num_key_value_heads: PositiveInt | None = None
    head_dim: PositiveInt | None = None
    intermediate_size: PositiveInt | None = None
    vocab_size: PositiveInt
    tie_word_embeddings: bool = False
    mlp: Literal["gated", "plain"] = "gated"
    norm: Literal["rmsnorm", "layernorm"] = "rmsnorm"
    attention_bias: bool = False
    max_position_embeddings: PositiveInt | None = None
    sliding_window: PositiveInt | None = Field(
        None, description="every layer attends to at most this many most recent tokens (Mistral 7B: 4096)")
    rope: bool = Field(True, description="rotary position embeddings on q and k (Jamba's attention has none)")
    mla: MLASpec | None = None
    moe: MoESpec | None = None
    ssm: SSMSpec | None = None
    published_params: int | None = Field(None, gt=0, description="parameter count the authors state")
    published_params_source: str | None = None

    @model_validator(mode="after")
    def _check_shapes(self) -> "ModelSpec":
        if self.ssm and self.ssm.attn_layer_period and self.ssm.attn_layer_period > self.num_layers:
            raise ValueError(f"ssm.attn_layer_period ({self.ssm.attn_layer_period}) exceeds num_layers "
                             f"({self.num_layers}); leave it out for a model with no attention layer")
        if self.moe and self.moe.layer_period > self.num_layers:
            raise ValueError(f"moe.layer_period ({self.moe.layer_period}) exceeds num_layers ({self.num_layers})")
        attention = ("num_attention_heads", "num_key_value_heads", "head_dim")
        if not self.num_attention_layers:
            given = [f for f in attention + ("mla", "sliding_window") if getattr(self, f) is not None]
            if given:
                raise ValueError(f"{given[0]} is given but no layer is attention (ssm with no attn_layer_period); "
                                 "drop it, or give ssm.attn_layer_period for a hybrid")
        else:
            missing = [f for f in attention if getattr(self, f) is None]
            if missing:
                raise ValueError(f"{missing[0]} is required: the model has {self.num_attention_layers} "
                                 "attention layers")
        if self.intermediate_size is None and (self.ssm is None or self.moe is not None):
            raise ValueError("intermediate_size (the MLP width) is required unless the model is an SSM without MLPs")
        if self.num_attention_layers and self.num_attention_heads % self.num_key_value_heads:
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
    def attention(self) -> Literal["mha", "gqa", "mqa", "mla", "none"]:
        """Attention kind: none without attention layers, MLA if latent, else by key/value heads (1: MQA,
        all: MHA, else GQA)."""
        if not self.num_attention_layers:
            return "none"
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

    def mean_causal_keys(self, new_tokens: int, cached_tokens=0):
        """Mean keys per token in a causal pass over T = `new_tokens` after C = `cached_tokens` (a number or an
        array): the mean of min(C + i, W) for i = 1…T, i.e. C + (T+1)/2 without a window W; with one, the
        first k = clamp(W − C, 0, T) tokens see C + i keys and the rest W, so (k·C + k(k+1)/2 + (T−k)·W)/T.
        From an empty cache: (T+1)/2, or (W(W+1)/2 + (T−W)·W)/T when T > W."""
        t, w = new_tokens, self.sliding_window
        if w is None:
            return cached_tokens + (t + 1) / 2.0
        c = np.asarray(cached_tokens, dtype=float)
        k = np.clip(w - c, 0.0, t)
        keys = (k * c + k * (k + 1) / 2.0 + (t - k) * w) / t
        return float(keys) if keys.ndim == 0 else keys

    def attended_prefix_tokens(self, cached_tokens):
        """Cached tokens a causal chunk after C cached ones reads: C, or at most the window W."""
        w = self.sliding_window
        return cached_tokens if w is None else np.minimum(cached_tokens, w)

    def with_changes(self, **fields: object) -> "ModelSpec":
        """A new, validated spec with `fields` changed. (Not `model_copy(update=...)`: that skips validation and
        carries over the cached derived figures, such as `layer_kinds` and `total_params`, of the original.)"""
        return ModelSpec.model_validate({**self.model_dump(), **fields})

    @property
    def is_moe(self) -> bool:
        return self.moe is not None

    @cached_property
    def layer_kinds(self) -> tuple[tuple[Mixer, MLPKind], ...]:
        """(mixer, MLP) of each layer in order: attention unless the SSM pattern makes it SSM; MoE where the
        MoE pattern says, else dense, or none for an SSM without MLPs."""
        ssm, moe = self.ssm, self.moe

        def mixer(i: int) -> Mixer:
            if ssm is None or (ssm.attn_layer_period and i % ssm.attn_layer_period == ssm.attn_layer_offset):
                return "attention"
            return "ssm"

        def mlp(i: int) -> MLPKind:
            if moe is not None and moe.is_moe_layer(i):
                return "moe"
            return "none" if self.intermediate_size is None else "dense"

        return tuple((mixer(i), mlp(i)) for i in range(self.num_layers))

    def layer_groups(self, start: int = 0, stop: int | None = None) -> dict[tuple[Mixer, MLPKind], int]:
        """How many layers of `start:stop` there are of each (mixer, MLP) kind, in order of first appearance."""
        groups: dict[tuple[Mixer, MLPKind], int] = {}
        for kind in self.layer_kinds[start:stop]:
            groups[kind] = groups.get(kind, 0) + 1
        return groups

    def _count(self, mixer: str | None = None, mlp: str | None = None) -> int:
        return sum(1 for x, f in self.layer_kinds if mixer in (None, x) and mlp in (None, f))

    @cached_property
    def num_attention_layers(self) -> int:
        """Layers whose mixer is attention (all of them without an `ssm` block)."""
        return self._count(mixer="attention")

    @cached_property
    def num_ssm_layers(self) -> int:
        return self._count(mixer="ssm")

    @cached_property
    def num_dense_layers(self) -> int:
        """Layers with a dense MLP (all of them for a dense transformer, none for Mamba)."""
        return self._count(mlp="dense")

    @property
    def num_moe_layers(self) -> int:
        return self._count(mlp="moe")

    @property
    def ssm_inner_size(self) -> int:
        """d_in = expand · d, the SSM block's inner width (0 without an `ssm` block)."""
        return self.ssm.expand * self.hidden_size if self.ssm else 0

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
    def attention_params_per_layer(self, heads: int | None = None, kv_heads: int | None = None) -> int:
        """Weights of one attention block: projections in, output projection, biases; of all the heads, or of
        `heads` query and `kv_heads` key/value heads (one tensor-parallel device's share, cost/parallel.py).

        MHA/GQA/MQA: d*(H*dh) + 2*d*(Hkv*dh) + (H*dh)*d (+ biases on q, k, v when `attention_bias`).
        MLA (DeepSeek-V2 eq. 9-18): q via optional low rank (d*rq + rq*H*dq, with an rq-wide norm),
        kv down-projection d*(rkv + dr) with an rkv-wide norm, up-projection rkv*H*(dnope + dv),
        output H*dv*d; the low-rank down-projections do not depend on H.
        """
        d = self.hidden_size
        h = self.num_attention_heads if heads is None else heads
        if self.mla:
            m = self.mla
            dq = m.qk_nope_head_dim + m.qk_rope_head_dim
            q = d * m.q_lora_rank + m.q_lora_rank + m.q_lora_rank * h * dq if m.q_lora_rank else d * h * dq
            kv = d * (m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank
            kv += m.kv_lora_rank * h * (m.qk_nope_head_dim + m.v_head_dim)
            return q + kv + h * m.v_head_dim * d
        q_width = h * self.head_dim
        kv_width = (self.num_key_value_heads if kv_heads is None else kv_heads) * self.head_dim
        bias = (q_width + 2 * kv_width) if self.attention_bias else 0
        return d * (q_width + 2 * kv_width) + q_width * d + bias

    def mlp_params(self, intermediate_size: int) -> int:
        """Weights of one MLP (or one expert) of width `intermediate_size`: matrices x d x f."""
        return self.mlp_matrices * self.hidden_size * intermediate_size

    def ssm_params_per_layer(self, tp: int = 1) -> int:
        """Weights of one SSM block on one of `tp` tensor-parallel devices (tp = 1: the whole block), with
        d_in' = ⌈d_in / tp⌉ of the inner channels (Gu & Dao 2023 Fig. 3; HF `MambaMixer`, vLLM's sharding):

            in_proj d·2d_in' (+ 2d_in' bias)      conv1d d_in'·d_conv (+ d_in' bias)
            x_proj d_in'·(R + 2N)                 dt_proj R·d_in' + d_in'       A_log d_in'·N    D d_in'
            out_proj d_in'·d (+ d bias)           Jamba's inner norms R + 2N

        x_proj is row-parallel (its R + 2N outputs are summed over the devices), so the inner norms after it
        and out_proj's bias are whole copies on every device.
        """
        s = self.ssm
        assert s is not None
        d, n, r = self.hidden_size, s.d_state, s.dt_rank
        d_in = -(-self.ssm_inner_size // tp)
        in_proj = d * 2 * d_in + (2 * d_in if s.proj_bias else 0)
        conv = d_in * s.d_conv + (d_in if s.conv_bias else 0)
        x_proj = d_in * (r + 2 * n)
        dt_proj = r * d_in + d_in
        scan = d_in * n + d_in  # A_log and D
        out_proj = d_in * d + (d if s.proj_bias else 0)
        inner_norms = r + 2 * n if s.inner_norms else 0
        return in_proj + conv + x_proj + dt_proj + scan + out_proj + inner_norms

    def norm_elements(self) -> int:
        """Weights of one norm over d: d (RMSNorm), 2d (LayerNorm, with its bias)."""
        return self.hidden_size * (2 if self.norm == "layernorm" else 1)

    def norm_params_per_layer(self, mlp: bool = True) -> int:
        """Two norms per layer (pre-mixer, pre-MLP); one in a layer without an MLP (Mamba)."""
        return (2 if mlp else 1) * self.norm_elements()

    def mixer_params(self, mixer: str) -> int:
        """Weights of one layer's mixer: attention or SSM."""
        return self.attention_params_per_layer() if mixer == "attention" else self.ssm_params_per_layer()

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

    def layer_params(self, mixer: str, mlp: str, *, active_only: bool = False) -> int:
        """Weights of one layer of a kind: its mixer, norms and MLP (dense, MoE or none)."""
        total = self.mixer_params(mixer) + self.norm_params_per_layer(mlp != "none")
        if mlp == "dense":
            total += self.mlp_params(self.intermediate_size)
        elif mlp == "moe":
            total += self.moe_layer_mlp_params(active_only=active_only)
        return total

    def _params(self, *, active_only: bool) -> int:
        total = sum(count * self.layer_params(mixer, mlp, active_only=active_only)
                    for (mixer, mlp), count in self.layer_groups().items())
        return total + self.embedding_params() + self.norm_elements()

    @cached_property
    def total_params(self) -> int:
        """All weights, every expert included."""
        return self._params(active_only=False)

    @cached_property
    def active_params(self) -> int:
        """Weights one token touches (routed experts: only the k chosen), embedding table included."""
        return self._params(active_only=True)
