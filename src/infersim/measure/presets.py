"""What a measure run times: shapes per preset and device type, as data.

`quick` on CPU is sized to finish in under two minutes on a 2-core machine (fp32); `full` measures
more shapes and takes several minutes; `tiny` is for tests (seconds). The CUDA presets use the sizes
a GPU needs to leave its launch floor (head_dim 128, a Llama-2-7B-shaped model).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

from infersim.errors import InfersimError

GemmShape = tuple[int, int, int]  # (m, k, n): [m, k] @ [k, n]
MiB, GiB = 2**20, 2**30


@dataclass(frozen=True)
class AttentionShape:
    """q has `heads_q` heads, k and v `heads_kv` (GQA when fewer); `tokens` is the prompt length of a
    causal prefill, or the cached keys one decode query attends to."""

    batch: int
    heads_q: int
    heads_kv: int
    head_dim: int
    tokens: int


@dataclass(frozen=True)
class ModelShape:
    """A Llama-architecture model (family "llama") or a Mixtral-style MoE ("mixtral"), and its cases."""

    name: str
    family: str
    hidden_size: int
    num_layers: int
    heads: int
    kv_heads: int
    intermediate_size: int
    vocab_size: int = 32000
    experts: int = 0
    experts_per_token: int = 0
    prefill: tuple[tuple[int, int], ...] = ()  # (batch, prompt tokens)
    decode: tuple[tuple[int, int], ...] = ()  # (batch, tokens cached before the step)


@dataclass(frozen=True)
class Preset:
    name: str
    copy_bytes: tuple[int, ...]  # size of the copied tensor (half the bytes moved)
    gemm: tuple[GemmShape, ...]  # in the model dtype
    gemm_other_dtypes: tuple[GemmShape, ...]  # also in the other fast dtypes (full presets)
    attn_prefill: tuple[AttentionShape, ...]
    attn_decode: tuple[AttentionShape, ...]
    models: tuple[ModelShape, ...]
    warmup: int = 1
    repeats: int = 3
    decode_warmup: int = 2


def grid(ms: tuple[int, ...], kns: tuple[tuple[int, int], ...]) -> tuple[GemmShape, ...]:
    return tuple((m, k, n) for (k, n), m in product(kns, ms))


# ~60 M, ~250 M and ~0.85 B parameters (embeddings and the untied LM head included; vocab 32000).
LLAMA_60M = dict(family="llama", hidden_size=512, num_layers=8, heads=8, kv_heads=8, intermediate_size=1536)
LLAMA_250M = dict(family="llama", hidden_size=1024, num_layers=16, heads=16, kv_heads=4, intermediate_size=2816)
LLAMA_850M = dict(family="llama", hidden_size=2048, num_layers=16, heads=32, kv_heads=8, intermediate_size=5632)
MIXTRAL_60M = dict(family="mixtral", hidden_size=512, num_layers=4, heads=8, kv_heads=2, intermediate_size=1024,
                   experts=4, experts_per_token=2)
# Llama-2-7B's shape (the H100 reference model) and a small Mixtral for GPUs.
LLAMA_7B = dict(family="llama", hidden_size=4096, num_layers=32, heads=32, kv_heads=32, intermediate_size=11008)
MIXTRAL_1B = dict(family="mixtral", hidden_size=1024, num_layers=8, heads=16, kv_heads=4, intermediate_size=2816,
                  experts=8, experts_per_token=2)

_CPU_ATTN_PREFILL = (AttentionShape(1, 16, 16, 64, 256), AttentionShape(1, 16, 4, 64, 256),
                     AttentionShape(1, 16, 4, 64, 1024))
_CPU_ATTN_DECODE = (AttentionShape(1, 16, 16, 64, 1024), AttentionShape(4, 16, 4, 64, 1024),
                    AttentionShape(1, 16, 4, 64, 4096))
_GPU_ATTN_PREFILL = tuple(AttentionShape(b, 32, kv, 128, t) for b, kv, t in
                          ((1, 32, 1024), (1, 8, 1024), (1, 32, 4096), (1, 8, 4096), (8, 8, 2048)))
_GPU_ATTN_DECODE = tuple(AttentionShape(b, 32, kv, 128, t) for b, kv, t in
                         ((1, 32, 1024), (1, 8, 4096), (8, 8, 4096), (32, 32, 1024), (64, 8, 2048)))

PRESETS: dict[tuple[str, str], Preset] = {
    ("quick", "cpu"): Preset(
        name="quick",
        copy_bytes=(64 * MiB,),
        gemm=grid((1, 4, 16, 128, 512), ((512, 2048), (1024, 1024), (1024, 4096), (4096, 1024), (2048, 2048), (4096, 4096))),
        gemm_other_dtypes=(),
        attn_prefill=_CPU_ATTN_PREFILL, attn_decode=_CPU_ATTN_DECODE,
        models=(
            ModelShape("llama-60m", **LLAMA_60M, prefill=((1, 128), (1, 512), (4, 256)),
                       decode=((1, 128), (4, 128), (1, 1024))),
            ModelShape("llama-250m", **LLAMA_250M, prefill=((1, 64), (1, 256), (4, 128)),
                       decode=((1, 128), (4, 128), (1, 1024))),
            ModelShape("llama-850m", **LLAMA_850M, prefill=((1, 32), (1, 128)),
                       decode=((1, 128), (4, 128), (1, 1024))),
            ModelShape("mixtral-60m", **MIXTRAL_60M, prefill=((1, 64), (1, 256)), decode=((1, 128), (4, 128))),
        ),
    ),
    ("full", "cpu"): Preset(
        name="full",
        copy_bytes=(16 * MiB, 64 * MiB, 256 * MiB),
        gemm=grid((1, 4, 16, 64, 256, 1024), ((1024, 1024), (2048, 2048), (4096, 4096), (2048, 8192), (8192, 2048))),
        gemm_other_dtypes=grid((1, 64, 512), ((2048, 2048), (4096, 4096))),
        attn_prefill=_CPU_ATTN_PREFILL + (AttentionShape(4, 16, 4, 64, 512), AttentionShape(1, 32, 8, 64, 2048)),
        attn_decode=_CPU_ATTN_DECODE + (AttentionShape(16, 16, 4, 64, 1024), AttentionShape(1, 32, 8, 64, 8192)),
        models=(
            ModelShape("llama-60m", **LLAMA_60M, prefill=((1, 128), (1, 512), (4, 256), (16, 128), (1, 2048)),
                       decode=((1, 128), (4, 128), (16, 128), (1, 1024), (4, 2048))),
            ModelShape("llama-250m", **LLAMA_250M, prefill=((1, 64), (1, 256), (4, 128), (1, 1024)),
                       decode=((1, 128), (4, 128), (16, 128), (1, 1024), (4, 2048))),
            ModelShape("llama-850m", **LLAMA_850M, prefill=((1, 32), (1, 128), (4, 128), (1, 512)),
                       decode=((1, 128), (4, 128), (16, 128), (1, 1024), (4, 2048))),
            ModelShape("mixtral-60m", **MIXTRAL_60M, prefill=((1, 64), (1, 256), (4, 256)),
                       decode=((1, 128), (4, 128), (16, 128))),
        ),
        repeats=5,
    ),
    ("quick", "cuda"): Preset(
        name="quick",
        copy_bytes=(1 * GiB,),
        gemm=grid((1, 16, 128, 1024, 4096), ((4096, 4096), (4096, 11008), (11008, 4096))),
        gemm_other_dtypes=(),
        attn_prefill=_GPU_ATTN_PREFILL, attn_decode=_GPU_ATTN_DECODE,
        models=(
            ModelShape("llama-850m", **LLAMA_850M, prefill=((1, 128), (1, 1024), (8, 1024)),
                       decode=((1, 1024), (8, 1024), (32, 1024))),
            ModelShape("llama-7b-shape", **LLAMA_7B, prefill=((1, 128), (1, 1024), (8, 1024)),
                       decode=((1, 1024), (8, 1024), (32, 1024))),
            ModelShape("mixtral-1b", **MIXTRAL_1B, prefill=((1, 128), (1, 1024)), decode=((1, 1024), (8, 1024))),
        ),
        repeats=5, decode_warmup=3,
    ),
    ("full", "cuda"): Preset(
        name="full",
        copy_bytes=(256 * MiB, 1 * GiB, 2 * GiB),
        gemm=grid((1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192),
                  ((4096, 4096), (4096, 11008), (11008, 4096), (8192, 8192), (8192, 28672))),
        gemm_other_dtypes=grid((1, 16, 256, 4096), ((4096, 4096), (8192, 28672))),
        attn_prefill=_GPU_ATTN_PREFILL + (AttentionShape(1, 64, 8, 128, 8192), AttentionShape(32, 32, 8, 128, 512)),
        attn_decode=_GPU_ATTN_DECODE + (AttentionShape(128, 32, 8, 128, 1024), AttentionShape(1, 64, 8, 128, 32768)),
        models=(
            ModelShape("llama-850m", **LLAMA_850M, prefill=((1, 128), (1, 1024), (8, 1024), (1, 4096)),
                       decode=((1, 1024), (8, 1024), (32, 1024), (64, 2048))),
            ModelShape("llama-7b-shape", **LLAMA_7B, prefill=((1, 128), (1, 1024), (1, 4096), (8, 1024), (32, 512)),
                       decode=((1, 1043), (8, 1043), (32, 1043), (1, 3999))),
            ModelShape("mixtral-1b", **MIXTRAL_1B, prefill=((1, 128), (1, 1024), (8, 1024)),
                       decode=((1, 1024), (8, 1024), (32, 1024))),
        ),
        repeats=10, decode_warmup=3,
    ),
}

# Seconds on any device: for tests and for trying the instrument out.
TINY = Preset(
    name="tiny",
    copy_bytes=(1 * MiB,),
    gemm=grid((1, 8, 32), ((64, 64), (128, 128))),
    gemm_other_dtypes=(),
    attn_prefill=(AttentionShape(1, 4, 4, 16, 32), AttentionShape(1, 4, 2, 16, 32)),
    attn_decode=(AttentionShape(1, 4, 4, 16, 64), AttentionShape(2, 4, 2, 16, 64)),
    models=(
        ModelShape("llama-tiny", "llama", 64, 2, 4, 2, 128, vocab_size=256, prefill=((1, 8), (2, 16)),
                   decode=((1, 8), (2, 16))),
        ModelShape("mixtral-tiny", "mixtral", 64, 2, 4, 2, 64, vocab_size=256, experts=4, experts_per_token=2,
                   prefill=((1, 8),), decode=((1, 8),)),
    ),
    warmup=1, repeats=2, decode_warmup=1,
)


def preset(name: str, device_type: str) -> Preset:
    """The preset `name` (quick, full, tiny) for a device type (cpu, cuda)."""
    if name == "tiny":
        return TINY
    try:
        return PRESETS[(name, device_type)]
    except KeyError:
        known = sorted({n for n, _ in PRESETS} | {"tiny"})
        raise InfersimError(f"unknown measure preset '{name}': choose one of {', '.join(known)}") from None
