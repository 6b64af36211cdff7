"""Microbenchmarks: the rows `infersim calibrate` fits a device on (docs/measure-format.md).

Each function times one kind of work and returns its rows (without `device`, which the writer adds).
Sizes are element counts, bytes come from `numel × element_size`, a multiply-add is 2 FLOPs.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from infersim.measure.machine import torch_dtype
from infersim.measure.presets import AttentionShape, GemmShape
from infersim.measure.timing import Timer

Row = dict[str, Any]

# Distinct weights a GEMM cycles through so that no cache (CPU L3, GPU L2; both well under 256 MiB
# today) holds its operand from one call to the next; capped so huge weights are not duplicated.
_CACHE_FLUSH_BYTES = 256 * 2**20
_MAX_WEIGHTS = 8


def _weights_to_cycle(weight_bytes: int) -> int:
    return max(1, min(_MAX_WEIGHTS, math.ceil(_CACHE_FLUSH_BYTES / weight_bytes)))


def copy_rows(timer: Timer, dtype: str, tensor_bytes: tuple[int, ...]) -> list[Row]:
    """`y.copy_(x)` of tensors of the given sizes; `bytes_moved` counts the read and the write."""
    import torch

    rows = []
    for size in tensor_bytes:
        x = torch.randn(size // torch_dtype(dtype).itemsize, device=timer.device, dtype=torch_dtype(dtype))
        y = torch.empty_like(x)
        seconds = timer.seconds(lambda: y.copy_(x))
        moved = 2 * x.numel() * x.element_size()  # read x + write y
        rows.append({"kind": "copy", "dtype": dtype, "bytes_moved": moved, "seconds": seconds,
                     "bytes_per_s": moved / seconds, "runtime": "pytorch-eager"})
        del x, y
    return rows


def _gemm_row(kind: str, dtype: str, shape: GemmShape, seconds: float, weights: int, runtime: str) -> Row:
    m, k, n = shape
    return {"kind": kind, "dtype": dtype, "m": m, "k": k, "n": n, "seconds": seconds,
            "flops_per_s": 2.0 * m * k * n / seconds, "distinct_weights": weights, "runtime": runtime}


def gemm_rows(timer: Timer, dtype: str, shapes: tuple[GemmShape, ...]) -> list[Row]:
    """Eager `F.linear(a, w)` ([m, k] by a [n, k] weight, as `nn.Linear` stores it, so the kernel is the
    one models run: CPU BLAS is up to ~1.5x slower on the other layout) per shape. Each sample runs one
    matmul against each of a few distinct weights in turn (`distinct_weights` in the row), so the weight
    comes from memory, not a cache; `seconds` is per matmul and includes the framework's per-call cost."""
    import torch

    dt = torch_dtype(dtype)
    rows = []
    weights: dict[tuple[int, int], list[Any]] = {}  # made once per [k, n], shared by every m
    for m, k, n in shapes:
        if (k, n) not in weights:
            weights.clear()
            copies = _weights_to_cycle(k * n * dt.itemsize)
            weights[(k, n)] = [torch.randn(n, k, device=timer.device, dtype=dt) for _ in range(copies)]
        ws = weights[(k, n)]
        a = torch.randn(m, k, device=timer.device, dtype=dt)
        next_weight = itertools.cycle(ws).__next__
        linear = torch.nn.functional.linear
        seconds = timer.seconds(lambda: linear(a, next_weight()), inner=len(ws))
        rows.append(_gemm_row("gemm", dtype, (m, k, n), seconds, len(ws), "pytorch-eager"))
    return rows


def _capture(body: Any) -> Any:
    """A CUDA graph of `body()`, warmed up on a side stream first as torch.cuda.graphs asks."""
    import torch

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            body()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        body()
    return graph


def gemm_graph_rows(timer: Timer, dtype: str, shapes: tuple[GemmShape, ...], weights: int = _MAX_WEIGHTS) -> list[Row]:
    """CUDA only: `weights` distinct [n, k] weights (the `nn.Linear` layout) each multiplied once inside one
    captured CUDA graph (no launch gaps, no weight left in L2); `seconds` is per matmul."""
    import torch

    dt = torch_dtype(dtype)
    rows = []
    for m, k, n in shapes:
        a = torch.randn(m, k, device=timer.device, dtype=dt)
        ws = [torch.randn(n, k, device=timer.device, dtype=dt) for _ in range(weights)]
        outs = [torch.empty(m, n, device=timer.device, dtype=dt) for _ in range(weights)]

        def body() -> None:
            for w, out in zip(ws, outs):
                torch.matmul(a, w.t(), out=out)

        graph = _capture(body)
        seconds = timer.seconds(graph.replay) / weights
        rows.append(_gemm_row("gemm_graph", dtype, (m, k, n), seconds, weights, "pytorch-cuda-graph"))
        del a, ws, outs, graph
    return rows


def _sdpa_supports_gqa() -> bool:
    """Whether this torch's scaled_dot_product_attention takes `enable_gqa` (torch >= 2.5)."""
    import torch

    q = torch.zeros(1, 2, 1, 8)
    kv = torch.zeros(1, 1, 1, 8)
    try:
        torch.nn.functional.scaled_dot_product_attention(q, kv, kv, enable_gqa=True)
    except (TypeError, RuntimeError):
        return False
    return True


def _attention(q: Any, k: Any, v: Any, *, causal: bool, native_gqa: bool) -> Any:
    """SDPA with `k`, `v` having fewer heads than `q` (GQA): natively where torch can, else with K and V
    repeated to the query heads inside the call (as Hugging Face's `repeat_kv` does)."""
    import torch

    sdpa = torch.nn.functional.scaled_dot_product_attention
    groups = q.shape[1] // k.shape[1]
    if groups == 1:
        return sdpa(q, k, v, is_causal=causal)
    if native_gqa:
        return sdpa(q, k, v, is_causal=causal, enable_gqa=True)
    return sdpa(q, k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1), is_causal=causal)


def attention_rows(timer: Timer, dtype: str, prefill: tuple[AttentionShape, ...],
                   decode: tuple[AttentionShape, ...]) -> list[Row]:
    """`attn_prefill`: causal SDPA of `tokens` new tokens (q, k, v all [batch, heads, tokens, head_dim]);
    `attn_decode`: one query token per sequence against `cache_tokens` keys and values, not causal."""
    import torch

    dt = torch_dtype(dtype)
    native_gqa = _sdpa_supports_gqa()
    rows = []
    for kind, shapes in (("attn_prefill", prefill), ("attn_decode", decode)):
        for s in shapes:
            if s.heads_q % s.heads_kv:
                raise ValueError(f"heads_q {s.heads_q} is not a multiple of heads_kv {s.heads_kv}")
            queries = s.tokens if kind == "attn_prefill" else 1
            q = torch.randn(s.batch, s.heads_q, queries, s.head_dim, device=timer.device, dtype=dt)
            k = torch.randn(s.batch, s.heads_kv, s.tokens, s.head_dim, device=timer.device, dtype=dt)
            v = torch.randn_like(k)
            causal = kind == "attn_prefill"
            seconds = timer.seconds(lambda: _attention(q, k, v, causal=causal, native_gqa=native_gqa))
            length = {"tokens": s.tokens} if causal else {"cache_tokens": s.tokens}
            gqa = "none" if s.heads_q == s.heads_kv else ("enable_gqa" if native_gqa else "repeat_kv")
            rows.append({"kind": kind, "dtype": dtype, "batch": s.batch, "heads_q": s.heads_q,
                         "heads_kv": s.heads_kv, "head_dim": s.head_dim, **length, "seconds": seconds,
                         "gqa": gqa, "runtime": "pytorch-eager"})
            del q, k, v
    return rows


def tiny_decoder_layer(device: Any, dtype: Any) -> tuple[Any, Any]:
    """A Hugging Face LlamaDecoderLayer (hidden 64, 2 heads, FFN 128) and a call of it on one token."""
    import torch
    from transformers import LlamaConfig
    from transformers.models.llama import modeling_llama

    config = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=2, vocab_size=8, max_position_embeddings=16)
    config._attn_implementation = "sdpa"
    layer = modeling_llama.LlamaDecoderLayer(config, layer_idx=0).to(device=device, dtype=dtype).eval()
    rotary = modeling_llama.LlamaRotaryEmbedding(config=config).to(device)
    hidden = torch.randn(1, 1, 64, device=device, dtype=dtype)  # [batch, seq, hidden]
    positions = torch.zeros(1, 1, dtype=torch.long, device=device)
    cos, sin = rotary(hidden, positions)
    return layer, lambda: layer(hidden, attention_mask=None, position_ids=positions, position_embeddings=(cos, sin))


_OVERHEAD_REPEATS = 7  # the fixed framework cost is the fastest of these samples (a floor; a busy core only adds)


def op_overhead_rows(timer: Timer, dtype: str) -> list[Row]:
    """The fixed framework cost of an op whose arithmetic is negligible: `add_tiny` (a [1, 64] add) and
    `decoder_layer_tiny` (one tiny Hugging Face LlamaDecoderLayer forward on one token), each the fastest of
    `_OVERHEAD_REPEATS` samples."""
    import torch

    dt = torch_dtype(dtype)
    x = torch.randn(1, 64, device=timer.device, dtype=dt)
    y = torch.randn(1, 64, device=timer.device, dtype=dt)
    rows = [{"kind": "op_overhead", "op": "add_tiny", "dtype": dtype, "shape": [1, 64],
             "seconds": timer.seconds(lambda: torch.add(x, y), inner=200, repeats=_OVERHEAD_REPEATS, fastest=True),
             "runtime": "pytorch-eager"}]
    _, forward = tiny_decoder_layer(timer.device, dt)
    with torch.inference_mode():
        seconds = timer.seconds(forward, inner=20, repeats=_OVERHEAD_REPEATS, fastest=True)
    rows.append({"kind": "op_overhead", "op": "decoder_layer_tiny", "dtype": dtype, "hidden_size": 64,
                 "heads": 2, "tokens": 1, "seconds": seconds, "runtime": "pytorch-eager"})
    return rows
