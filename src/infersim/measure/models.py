"""Whole-model runs: Hugging Face Llama and Mixtral models built from a config with random normal weights.

Nothing is downloaded: the model is `LlamaForCausalLM(config)` / `MixtralForCausalLM(config)`, its
initialisation skipped (twice as fast on CPU) and every weight matrix then drawn from
N(0, initializer_range²) under `torch.manual_seed(seed)`; norm scales are 1, biases 0.

- `hf_prefill`: one forward over a [batch, prompt] prompt with `use_cache=True`, logits of the last
  token only (as `generate` asks), under `torch.inference_mode`.
- `hf_decode_eager`: one new token per sequence against a DynamicCache already holding `cached_tokens`
  random normal keys/values per layer (a step's time does not depend on their values, and filling it
  directly spares a prefill); the step is the forward plus the greedy argmax. After each step the
  cache is cropped back, so every timed step reads `context = cached_tokens + 1` tokens (the cached
  ones and its own).
- `fast_decode_graph` (CUDA, Llama family): the same step in plain PyTorch over a static KV cache,
  captured in a CUDA graph, as serving engines run it.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from infersim.measure.machine import torch_dtype
from infersim.measure.presets import ModelShape, Preset
from infersim.measure.timing import Timer

Row = dict[str, Any]


def hf_config(shape: ModelShape) -> Any:
    """The Hugging Face config of a model shape (SDPA attention, untied LM head)."""
    from transformers import LlamaConfig, MixtralConfig

    longest = max([p for _, p in shape.prefill] + [c + 1 for _, c in shape.decode] + [1])
    common = dict(hidden_size=shape.hidden_size, intermediate_size=shape.intermediate_size,
                  num_hidden_layers=shape.num_layers, num_attention_heads=shape.heads,
                  num_key_value_heads=shape.kv_heads, vocab_size=shape.vocab_size,
                  max_position_embeddings=max(4096, longest), tie_word_embeddings=False)
    if shape.family == "llama":
        config = LlamaConfig(**common)
        config.architectures = ["LlamaForCausalLM"]
    elif shape.family == "mixtral":
        config = MixtralConfig(**common, num_local_experts=shape.experts, num_experts_per_tok=shape.experts_per_token,
                               sliding_window=None)
        config.architectures = ["MixtralForCausalLM"]
    else:
        raise ValueError(f"unknown model family '{shape.family}': llama or mixtral")
    config._attn_implementation = "sdpa"
    return config


@contextmanager
def _default_dtype(dtype: Any) -> Iterator[None]:
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _skipped_init() -> Any:
    """transformers' `no_init_weights` (where this version has it): construction without drawing weights."""
    try:
        from transformers.initialization import no_init_weights  # transformers >= 5
    except ImportError:
        try:
            from transformers.modeling_utils import no_init_weights  # transformers 4.x
        except ImportError:
            return nullcontext()
    return no_init_weights()


def init_normal(model: Any, std: float) -> None:
    """Every matrix (and expert tensor) ~ N(0, std²); 1-D parameters: biases 0, norm scales 1."""
    import torch

    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() >= 2:
                param.normal_(0.0, std)
            elif name.endswith("bias"):
                param.zero_()
            else:
                param.fill_(1.0)


def build_model(shape: ModelShape, device: Any, dtype: str, seed: int = 0) -> Any:
    """The model of `shape` on `device` in `dtype`, random normal weights, eval mode, no gradients."""
    import torch
    from transformers import LlamaForCausalLM, MixtralForCausalLM

    config = hf_config(shape)
    cls = LlamaForCausalLM if shape.family == "llama" else MixtralForCausalLM
    torch.manual_seed(seed)
    with _default_dtype(torch_dtype(dtype)), torch.device(device), _skipped_init():
        model = cls(config)
    init_normal(model, config.initializer_range)
    return model.eval().requires_grad_(False)


def json_config(config: Any) -> dict[str, Any]:
    """`config.to_dict()` with only JSON-serialisable values (nested dicts filtered the same way)."""

    def keep(mapping: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for key, value in mapping.items():
            if isinstance(value, dict):
                out[key] = keep(value)
                continue
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError):
                continue
            out[key] = value
        return out

    return keep(config.to_dict())


def _last_logits_only(model: Any) -> dict[str, int]:
    """The forward keyword that computes logits for the last position only, in this transformers."""
    params = inspect.signature(model.forward).parameters
    for name in ("logits_to_keep", "num_logits_to_keep"):
        if name in params:
            return {name: 1}
    return {}


def filled_cache(model: Any, batch: int, cached: int) -> Any:
    """A DynamicCache holding `cached` random normal keys and values per layer."""
    import torch
    from transformers import DynamicCache

    config = model.config
    param = next(model.parameters())
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    try:
        cache = DynamicCache(config=config)
    except TypeError:  # transformers 4.x: no config argument
        cache = DynamicCache()
    for layer in range(config.num_hidden_layers):
        keys = torch.randn(batch, config.num_key_value_heads, cached, head_dim, device=param.device, dtype=param.dtype)
        cache.update(keys, torch.randn_like(keys), layer)
    return cache


def prefill_seconds(model: Any, timer: Timer, batch: int, prompt: int) -> float:
    import torch

    ids = torch.randint(0, model.config.vocab_size, (batch, prompt), device=timer.device)
    keep = _last_logits_only(model)
    with torch.inference_mode():
        return timer.seconds(lambda: model(input_ids=ids, use_cache=True, **keep))


def decode_seconds(model: Any, timer: Timer, batch: int, cached: int, warmup: int) -> float:
    """Median seconds of one eager decode step (forward + argmax) reading `cached + 1` tokens."""
    import torch

    with torch.inference_mode():
        cache = filled_cache(model, batch, cached)
        token = torch.randint(0, model.config.vocab_size, (batch, 1), device=timer.device)

        def step() -> Any:
            return model(input_ids=token, past_key_values=cache, use_cache=True).logits[:, -1].argmax(-1)

        def crop() -> None:  # drop the token the step appended; negative = tokens to remove, in 4.x and 5.x
            cache.crop(cached - cache.get_seq_length())

        return timer.seconds(step, after=crop, warmup=warmup)


def fast_decode_graph_seconds(model: Any, timer: Timer, batch: int, cached: int, warmup: int) -> tuple[float, int]:
    """CUDA only, Llama family. One decode step of `model`'s own modules in plain PyTorch over a static
    KV cache of `cached + 1` slots (the new token written into the last), LM head and argmax included,
    captured in a CUDA graph. Returns (median seconds per step, bytes of the whole KV cache)."""
    import torch
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    from infersim.measure.microbench import _attention, _capture, _sdpa_supports_gqa

    config, inner = model.config, model.model
    layers, heads_q, heads_kv = config.num_hidden_layers, config.num_attention_heads, config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads_q
    param = next(model.parameters())
    native_gqa = _sdpa_supports_gqa()
    with torch.no_grad():
        keys = torch.randn(layers, batch, heads_kv, cached + 1, head_dim, device=param.device, dtype=param.dtype)
        values = torch.randn_like(keys)
        token = torch.zeros(batch, 1, dtype=torch.long, device=param.device)
        position = torch.full((batch, 1), cached, dtype=torch.long, device=param.device)
        cos, sin = inner.rotary_emb(torch.empty(batch, 1, config.hidden_size, device=param.device,
                                                dtype=param.dtype), position)  # [B, 1, head_dim]

        def step() -> None:
            h = inner.embed_tokens(token)  # [B, 1, D]
            for i, layer in enumerate(inner.layers):
                attn = layer.self_attn
                x = layer.input_layernorm(h)
                q = attn.q_proj(x).view(batch, 1, heads_q, head_dim).transpose(1, 2)  # [B, Hq, 1, hd]
                k = attn.k_proj(x).view(batch, 1, heads_kv, head_dim).transpose(1, 2)  # [B, Hkv, 1, hd]
                v = attn.v_proj(x).view(batch, 1, heads_kv, head_dim).transpose(1, 2)
                q, k = apply_rotary_pos_emb(q, k, cos, sin)
                keys[i, :, :, cached:].copy_(k)
                values[i, :, :, cached:].copy_(v)
                o = _attention(q, keys[i], values[i], causal=False, native_gqa=native_gqa)  # [B, Hq, 1, hd]
                h = h + attn.o_proj(o.transpose(1, 2).reshape(batch, 1, heads_q * head_dim))
                h = h + layer.mlp(layer.post_attention_layernorm(h))
            logits = model.lm_head(inner.norm(h))  # [B, 1, V]
            token.copy_(logits[:, -1].argmax(-1, keepdim=True))

        graph = _capture(step)
        seconds = timer.seconds(graph.replay, warmup=warmup)
    kv_bytes = 2 * keys.numel() * keys.element_size()  # keys + values
    del graph, keys, values
    torch.cuda.empty_cache()
    return seconds, kv_bytes


def measure_model(shape: ModelShape, timer: Timer, dtype: str, plan: Preset, seed: int = 0) -> Iterator[Row]:
    """model_info, then the prefill and decode rows of one model shape (and CUDA-graph rows on CUDA)."""
    import gc

    import torch

    model = build_model(shape, timer.device, dtype, seed)
    info = {"kind": "model_info", "model": shape.name, "family": shape.family,
            "params": sum(p.numel() for p in model.parameters()), "config": json_config(model.config),
            "dtype": dtype, "runtime": "pytorch-eager", "attn_implementation": "sdpa",
            "weight_init": f"random normal: N(0, {model.config.initializer_range}^2) matrices, seed {seed}"}
    yield info
    for batch, prompt in shape.prefill:
        yield {"kind": "hf_prefill", "model": shape.name, "batch": batch, "prompt": prompt,
               "seconds": prefill_seconds(model, timer, batch, prompt), "logits_for": "last token",
               "dtype": dtype, "runtime": "pytorch-eager"}
    for batch, cached in shape.decode:
        yield {"kind": "hf_decode_eager", "model": shape.name, "batch": batch, "context": cached + 1,
               "cached_tokens": cached,
               "seconds_per_step": decode_seconds(model, timer, batch, cached, plan.decode_warmup),
               "dtype": dtype, "runtime": "pytorch-eager"}
    if timer.device.type == "cuda" and shape.family == "llama":
        for batch, cached in shape.decode:
            seconds, kv_bytes = fast_decode_graph_seconds(model, timer, batch, cached, plan.decode_warmup)
            yield {"kind": "fast_decode_graph", "model": shape.name, "batch": batch, "context": cached + 1,
                   "cached_tokens": cached, "seconds_per_step": seconds, "kv_cache_bytes": kv_bytes,
                   "dtype": dtype, "runtime": "pytorch-cuda-graph"}
    del model
    gc.collect()
    if timer.device.type == "cuda":
        torch.cuda.empty_cache()
