"""How the KV cache is held: how much of it is kept, where it lives, how it is allocated, and which form
MLA decodes in. The format itself is `Workload.kv_dtype` (specs/dtypes.py, scales included).

With S the tokens a sequence has seen, W(S) = `ModelSpec.attended_tokens(S)` (S, or a sliding window),
per sequence and layer:

    kept      K = min(W, budget)              budget: a fixed number of tokens, or a fraction of W (≥ sinks)
    on host   H = φ_off·K  or  min(N_off, K)  the oldest tokens, read over the device's PCIe link
    on device D = K − H                       rounded up to whole blocks of b tokens when paged
    fetched   F = H, or min(k, H) with top-k  the host tokens crossing the link each decode step
    attended  A = D + F                       the keys each new token attends to

- **Budgets** evict the rest. StreamingLLM (Xiao et al. 2023, arXiv 2309.17453) keeps `sink_tokens`
  attention sinks (4) and the most recent tokens; H2O (Zhang et al. 2023, arXiv 2306.14048) keeps heavy
  hitters (tokens with the largest accumulated attention) and recent tokens, e.g. 20 % of the sequence,
  and reads and rewrites an fp32 accumulated score per query head and kept token each step. The prompt
  is prefilled with full attention and cut to the budget before decoding (as both methods run).
- **Offload** (FlexGen, Sheng et al. 2023; TailorKV, Yao et al. 2025, arXiv 2505.19586): the host part is
  read over PCIe each decode step, all of it, or only the top-k tokens chosen by scoring every host
  token's first `score_channels` key channels per key/value head (TailorKV reads 8 of 128 channels of
  the keys over the link), overlapped with the device's work (max) or not (sum). The host part may be
  stored in another format (`dtype`: TailorKV keeps it fp16 while the device part is 1-bit).
- **Paging** (vLLM, Kwon et al. 2023, arXiv 2309.06180): the device part is allocated in blocks of b
  tokens, ⌈D/b⌉·b per sequence; the unused tail of the last block is fragmentation (b/2 on average
  over sequence lengths, at most b − 1 tokens).
- **MLA decode**: absorbed (W_UK folded into the query, W_UV into the output: attention runs on the
  latent) or decompressed (kv_up_proj rebuilds every cached token's keys and values each step).
- **Decode reads under GQA/MQA**: a grouped kernel (FlashDecoding, FlashInfer, TensorRT-LLM's XQA) loads
  each key/value head's cache once for its whole group of H/H_kv query heads. TensorRT-LLM's masked
  multi-head attention kernel runs "a single CUDA thread-block per head" (docs/source/advanced/gpt-attention.md),
  so each query head loads its key/value head's cache again: H/H_kv times the cache traffic and its
  dequantization (`query_head_reads`). It was TensorRT-LLM's only generation kernel before XQA (v0.8,
  2024), and XQA needs a paged cache (64/128-token blocks, same document); the XQA blog
  (docs/source/blogs/XQA-kernel.md @585c756) measured 2.4x the Llama-70B throughput on one H200 at
  128/2048 tokens with it.

Everything here works on numbers and numpy arrays of token counts alike (one entry per decode step).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, ValidationError, field_validator, \
    model_validator

from infersim.errors import InfersimError
from infersim.specs.dtypes import check_format
from infersim.specs.model import ModelSpec

_FROZEN = ConfigDict(frozen=True, extra="forbid")
STREAMING_SINKS = 4  # StreamingLLM keeps the first 4 tokens as attention sinks (arXiv 2309.17453 §3.2)
H2O_SCORE_BYTES = 4  # H2O's accumulated attention per query head and kept token, fp32
DECODE_ATTENTION_FORMS = ("grouped", "per-query-head")  # how decode reads a GQA/MQA cache (module docstring)


class KVBudget(BaseModel):
    """Tokens of each sequence's cache kept (and attended) per layer: `tokens`, or `fraction` of the
    tokens seen, never fewer than the sinks. `eviction` says which tokens beyond the sinks stay:
    `streaming` the most recent (StreamingLLM), `h2o` heavy hitters and recent ones (H2O)."""

    model_config = _FROZEN
    tokens: PositiveInt | None = None
    fraction: float | None = Field(None, gt=0, le=1)
    sink_tokens: NonNegativeInt | None = Field(None, description="default: 4 for streaming, 0 for h2o")
    eviction: Literal["streaming", "h2o"] = "streaming"

    @model_validator(mode="after")
    def _check(self) -> "KVBudget":
        if (self.tokens is None) == (self.fraction is None):
            raise ValueError("a KV budget is a number of tokens or a fraction of the context, exactly one")
        if self.tokens is not None and self.tokens < self.sinks:
            raise ValueError(f"a KV budget of {self.tokens} tokens is below its {self.sinks} attention sinks; "
                             f"give at least {self.sinks} tokens or fewer sinks")
        return self

    @property
    def sinks(self) -> int:
        if self.sink_tokens is not None:
            return self.sink_tokens
        return STREAMING_SINKS if self.eviction == "streaming" else 0

    def kept(self, tokens):
        """min(W, budget): the budget's tokens, or max(sinks, fraction·W), never more than W."""
        budget = self.tokens if self.tokens is not None else np.maximum(self.sinks, self.fraction * tokens)
        return np.minimum(tokens, budget)


class KVOffload(BaseModel):
    """Part of each sequence's kept cache (`fraction` of it, or its oldest `tokens`) held in host memory
    and read over the device's PCIe link each decode step: all of it, or the `fetch_tokens` top-k chosen
    by reading `score_channels` key channels of every host token (module docstring)."""

    model_config = _FROZEN
    fraction: float | None = None
    tokens: NonNegativeInt | None = None
    fetch_tokens: PositiveInt | None = Field(None, description="top-k host tokens fetched per layer and step")
    score_channels: NonNegativeInt = Field(0, description="key channels per KV head read to choose them")
    dtype: str | None = Field(None, description="format of the host part (default: the KV format)")
    overlap: bool = Field(True, description="transfers hidden under the device's work (max) or added (sum)")

    @field_validator("fraction")
    @classmethod
    def _fraction(cls, value: float | None) -> float | None:
        if value is not None and not 0 <= value <= 1:
            raise ValueError(f"the offloaded share of the KV cache must be between 0 and 1, got {value:g}")
        return value

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, value: str | None) -> str | None:
        return None if value is None else check_format(value)

    @model_validator(mode="after")
    def _check(self) -> "KVOffload":
        if (self.tokens is None) == (self.fraction is None):
            raise ValueError("KV offload is a fraction of the cache or a number of tokens, exactly one")
        if self.score_channels and self.fetch_tokens is None:
            raise ValueError("score_channels choose the top-k tokens to fetch: give fetch_tokens too")
        return self

    def host(self, kept):
        """H: φ_off·K or min(N_off, K)."""
        return self.fraction * kept if self.fraction is not None else np.minimum(self.tokens, kept)

    def fetched(self, host):
        """F: every host token, or min(k, H)."""
        return host if self.fetch_tokens is None else np.minimum(self.fetch_tokens, host)


class KVCache(BaseModel):
    """The KV-cache policy of a workload: budget, offload, paging, MLA's decode form and whether decode
    reads the cache per query head (all optional: the default is the whole cache on the device, allocated
    exactly, MLA absorbed, each key/value head read once per step)."""

    model_config = _FROZEN
    budget: KVBudget | None = None
    offload: KVOffload | None = None
    block_tokens: PositiveInt | None = Field(None, description="paged allocation: tokens per block")
    mla_absorbed: bool = True
    query_head_reads: bool = Field(False, description="decode loads each KV head's cache once per query head "
                                   "(TensorRT-LLM's masked MHA kernel), not once per group")

    # ---- token counts per sequence and layer (module docstring) -----------------------------------
    def kept_tokens(self, model: ModelSpec, tokens):
        """K = min(W(S), budget): `ModelSpec.attended_tokens` (the sliding window) cut to the budget."""
        window = model.attended_tokens(tokens)
        return window if self.budget is None else self.budget.kept(window)

    def host_tokens(self, model: ModelSpec, tokens):
        """H: the kept tokens held in host memory (0 without offload)."""
        kept = self.kept_tokens(model, tokens)
        return self.offload.host(kept) if self.offload else kept * 0.0

    def device_tokens(self, model: ModelSpec, tokens):
        """D = K − H: the kept tokens held on the device."""
        return self.kept_tokens(model, tokens) - self.host_tokens(model, tokens)

    def fetched_tokens(self, model: ModelSpec, tokens):
        """F: host tokens read over the link per decode step (0 without offload)."""
        host = self.host_tokens(model, tokens)
        return self.offload.fetched(host) if self.offload else host

    def attended_tokens(self, model: ModelSpec, tokens):
        """A = D + F: keys a new token attends to in decode."""
        return self.device_tokens(model, tokens) + self.fetched_tokens(model, tokens)

    def allocated_tokens(self, device_tokens):
        """⌈D/b⌉·b when paged, else D."""
        if self.block_tokens is None:
            return device_tokens
        return np.ceil(np.asarray(device_tokens, dtype=float) / self.block_tokens) * self.block_tokens

    def max_tokens_for(self, model: ModelSpec, allocated_tokens: float, limit: int) -> int | None:
        """The longest sequence (≤ `limit` tokens seen) whose device part fits in `allocated_tokens`, or
        None when even `limit` fits (a budget or window bounds the cache). The device part never shrinks
        as S grows, so a bisection over S finds it exactly."""
        def fits(seen: int) -> bool:
            return float(self.allocated_tokens(self.device_tokens(model, float(seen)))) <= allocated_tokens

        if fits(limit):
            return None
        low, high = 0, limit  # fits(low), not fits(high)
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if fits(mid) else (low, mid)
        return low

    def score_bytes_per_token(self, model: ModelSpec) -> float:
        """H2O's fp32 accumulated attention per kept token over all layers: L·H·4 bytes (0 otherwise)."""
        if self.budget is None or self.budget.eviction != "h2o":
            return 0.0
        return model.num_layers * model.num_attention_heads * H2O_SCORE_BYTES

    def describe(self) -> str:
        """One line for tables and notes: 'budget 4096 (streaming, 4 sinks), 90% offloaded, ...'."""
        parts = []
        if self.budget:
            size = f"{self.budget.tokens}" if self.budget.tokens else f"{self.budget.fraction:.0%}"
            parts.append(f"budget {size} ({self.budget.eviction}, {self.budget.sinks} sinks)")
        if self.offload:
            o = self.offload
            share = f"{o.fraction:.1%}" if o.fraction is not None else f"{o.tokens} tokens"
            fetch = f", top-{o.fetch_tokens} fetched" if o.fetch_tokens else ""
            parts.append(f"{share} offloaded{fetch}{', overlapped' if o.overlap else ', not overlapped'}")
        if self.block_tokens:
            parts.append(f"paged, {self.block_tokens}-token blocks")
        if not self.mla_absorbed:
            parts.append("MLA decompressed")
        if self.query_head_reads:
            parts.append("cache read per query head")
        return "; ".join(parts) or "whole cache on the device"


def share_or_tokens(text: str, what: str) -> tuple[float | None, int | None]:
    """Parse a CLI amount: '20%' or '0.2' (≤ 1) is a fraction, '4096' (> 1, whole) a number of tokens.
    Returns (fraction, tokens), one of them None; a negative or malformed amount is one error line."""
    raw = text.strip()
    try:
        value = float(raw.removesuffix("%")) / (100.0 if raw.endswith("%") else 1.0)
    except ValueError:
        raise InfersimError(f"{what} must be a fraction (0.2 or 20%) or a number of tokens, got '{text}'") from None
    if value < 0 or math.isnan(value):
        raise InfersimError(f"{what} must not be negative, got '{text}'")
    if raw.endswith("%") or value <= 1:
        return value, None
    if not value.is_integer():
        raise InfersimError(f"{what} above 1 is a number of tokens and must be whole, got '{text}'")
    return None, int(value)


def policy_error(exc: ValidationError) -> InfersimError:
    """A KV-policy validation problem as one line: 'field: message', or the message of a whole-spec check."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    return InfersimError(f"invalid KV cache policy: {where + ': ' if where else ''}{message}")


def kv_cache_from_options(*, budget: str | None = None, sinks: int | None = None, eviction: str = "streaming",
                          offload: str | None = None, fetch_tokens: int | None = None, score_channels: int = 0,
                          offload_dtype: str | None = None, overlap: bool = True, block_tokens: int | None = None,
                          mla_decode: str = "absorbed", decode_attention: str = "grouped") -> KVCache:
    """A `KVCache` from the CLI's options (amounts as `share_or_tokens` reads them); every problem is one
    `InfersimError` line."""
    if mla_decode not in ("absorbed", "decompressed"):
        raise InfersimError(f"unknown MLA decode form '{mla_decode}': choose absorbed or decompressed")
    if decode_attention not in DECODE_ATTENTION_FORMS:
        raise InfersimError(f"unknown decode attention '{decode_attention}': choose "
                            f"{' or '.join(DECODE_ATTENTION_FORMS)}")
    if budget is None and sinks is not None:
        raise InfersimError("--kv-sinks needs a --kv-budget (the sinks are part of the budget)")
    try:
        kv_budget = None
        if budget is not None:
            fraction, tokens = share_or_tokens(budget, "--kv-budget")
            kv_budget = KVBudget(tokens=tokens, fraction=fraction, sink_tokens=sinks, eviction=eviction)
        kv_offload = None
        if offload is not None:
            fraction, tokens = share_or_tokens(offload, "--kv-offload")
            kv_offload = KVOffload(fraction=fraction, tokens=tokens, fetch_tokens=fetch_tokens,
                                   score_channels=score_channels, dtype=offload_dtype, overlap=overlap)
        elif fetch_tokens is not None or score_channels or offload_dtype is not None:
            raise InfersimError("--kv-fetch, --kv-score-channels and --kv-offload-dtype need --kv-offload")
        return KVCache(budget=kv_budget, offload=kv_offload, block_tokens=block_tokens,
                       mla_absorbed=mla_decode == "absorbed",
                       query_head_reads=decode_attention == "per-query-head")
    except ValidationError as exc:
        raise policy_error(exc) from None
