"""Operator launches per decoding step: plain Hugging Face `generate` vs EAGLE-1 vs Medusa-1.

In a host-bound regime the time of one decoding step is proportional to the number of operators the
framework launches, so the ratio of launches per step between a speculative method and plain decoding
is what a performance model needs to reproduce the Spec-Bench speedups (hemingkx/Spec-Bench: A100,
PyTorch 2.0.1, Hugging Face models, fp16, greedy, batch 1).  This script counts them on a CPU with
`torch.profiler`, for one small random-weight Vicuna-like Llama, with the methods' own packages:

* plain: `transformers` `LlamaForCausalLM.generate(do_sample=False)` (what Spec-Bench's
  `inference_baseline.py` calls), eager attention (transformers 4.36/4.37 only pick SDPA with
  torch >= 2.1.1, so Spec-Bench's torch 2.0.1 baseline ran eager); an SDPA variant is also measured.
* eagle: eagle-llm 1.2.1 (EAGLE-1): its `EaModel`, the one-decoder-layer draft `cnets.Model`, its KV
  cache and the step functions `generate_candidates` / `tree_decoding` / `evaluate_posterior` /
  `update_inference_inputs`, with its default tree `eagle.model.choices.mc_sim_7b_63`
  (25 nodes + root, depth 5, draft top-k 10), driven by the loop of Spec-Bench's `ea_forward`
  (the same calls as the package's `EaModel.eagenerate`; the script checks the tokens agree).
* medusa: medusa-llm 0.1 (the only release on PyPI): its `MedusaModel` (4 heads, one ResBlock each),
  its KV cache and `tree_decoding` / `evaluate_posterior` / `update_inference_inputs`, driven by the
  loop of Spec-Bench's `medusa_forward`.  medusa-llm 0.1 only knows dense Cartesian trees
  (`medusa_choices=[1, 7, 6]`); Spec-Bench runs Medusa-1 with the sparse tree `mc_sim_7b_63`
  (63 nodes + root, depth 4, top-10 per head), so the two functions 0.1 lacks -- building the sparse
  tree buffers and picking the sparse-tree candidates -- are written here (`sparse_tree_buffers`,
  `sparse_tree_candidates`).  The package's own default (2 heads, [1, 7, 6], 50 tree tokens) is
  measured too as `medusa_pkg_default`.

Weights are random (`from_config`-style construction with the usual normal init), so almost nothing is
accepted; that is fine, the count of interest is launches per *step*, which does not depend on the
acceptance.  The models run in float16 (as Spec-Bench does), so the dtype casts the fp16 code path
issues (RMSNorm upcasts, the fp32 softmax, the fp32 logits) are counted.

What is counted (the filter)
----------------------------
The profiler records every aten call, nested: composite ops above the ops they call, and inside CPU
kernels whatever those call (`mean` -> `sum` + `div_` on a CPU, one kernel on a GPU).  Each aten op
is sorted by its dispatcher registrations (`op_kind`) into "meta" (`NON_LAUNCH_OPS`: views,
reshapes, allocations, metadata, scalar reads; the set is written into the JSON), "implicit"
(CompositeImplicitAutograd: `linear`, `matmul`, `to`, `softmax`, `dropout`, ... decompose the same
way on every device), "explicit" (CompositeExplicitAutograd: one C++ body for all devices that
calls other ops, e.g. `masked_fill` = `clone` + `masked_fill_`, or is itself a kernel, `copy_`) and
"backend" (a kernel per device).  Then:

* a *launch* is a backend op with no backend op above it, or an explicit op with no backend op
  above it and no backend or explicit op below it.  So `linear` counts its `mm`, a copying `to`
  its `copy_`, `masked_fill` two, `mean` one, a no-op `to` or an eval `dropout` zero, and the
  cast of a wrapped Python scalar inside `add` zero.  One CPU/CUDA difference is corrected: the
  fp16->fp32 cast inside `softmax(x, dtype=float32)` is dropped (CUDA fuses it into one
  `_softmax(half_to_float=True)` kernel; reported as `cpu_only_casts_dropped_per_step`);
* a *sync* is a host<-device wait the Python code causes: each `aten::_local_scalar_dense` with no
  backend op above it (`.item()`, `bool(t)`, `int(t)`, a tensor used as a slice bound; one inside
  a kernel reads a wrapped Python scalar on the host), each `Tensor.tolist()` (no aten op at all on
  a CPU tensor, so a `TorchFunctionMode` marks it) and each `aten::nonzero` (also a launch);
* an *h2d* is a `torch.tensor(..., device=...)` / `torch.as_tensor(..., device=...)` call: a
  host->device copy on a GPU, nothing on a CPU, so the same mode marks it (not in the launches);
* *host ops*: EAGLE and Medusa keep the KV-cache lengths (`current_length_data`) on the CPU on
  purpose; ops on that storage only (and `narrow` by such a length) are counted apart and are
  neither launches nor syncs on a GPU.

Each event is attributed to a decoding step (a `record_function` around each step of the loop; for
`generate`, the interval from the start of one model forward to the start of the next) and to a part
by the outermost phase label above it: `draft` (EAGLE's `ea_layer.topK_genrate`, the draft-tree
expansion, which runs inside `update_inference_inputs`), `verify` (the base model's
`LlamaModel.forward` and `lm_head` over the tree / the one new token), `heads` (Medusa's
`medusa_head` modules) and `bookkeeping` (everything else in the step: candidates, posterior, KV-cache
compaction, `torch.stack` of the head logits, the EOS check, hidden-state clones, tree-mask building
outside the models).  Prefill (the first forward and, for EAGLE, the first draft) is reported apart.

Caveats for using the numbers on a GPU: one launch is taken as one kernel; a few CUDA ops launch more
(cuBLAS split-K, CUB scans for cumsum/cumprod, multi-pass top-k, nonzero).  SDPA picks a CPU flash
kernel here, a flash or memory-efficient one on a GPU (one launch either way).  The counts are torch
2.13's; Spec-Bench ran 2.0.1, whose composite bodies may differ: 2.13's `repeat` adds an
`arange` + `add` + `cat` after its one copy (`repeat_index_ops_per_step`, included in the launches;
subtract them for a `repeat` that is a single copy).

Setup (a separate environment; nothing here is a dependency of infersim, and the tests never import
this file):

    python3 -m venv /tmp/specwork/venv && . /tmp/specwork/venv/bin/activate
    pip install torch==2.13.0                     # the CPU build
    pip install transformers==4.36.2 accelerate==0.21.0
    pip install --no-deps eagle_llm-1.2.1-py3-none-any.whl medusa_llm-0.1-py3-none-any.whl

Run (under a minute on 2 cores):

    python benchmarks/speculative_launches.py --layers 2 4 8 \
        --out data/measured/speculative-launches.json

Wall clock (`--wall`): the host time of a step, not its launches.  One thread, fp32 (CPU fp16 kernels
are slow enough to be seen), a model so narrow that compute is negligible (`WALL_SHAPE`: hidden 16,
1 head, head_dim 16, intermediate 43, vocab 32; same trees, top-k 10 and depths), no profiler:
`time.perf_counter` around each step (the same boundaries as above) and around the same phases
(draft / verify / heads; bookkeeping = the rest), median over `--wall-steps` - `--wall-warmup` steps
x `--wall-repeats` runs, fitted a + b*L; the same models' launches are counted (profile mode) to
express each part in plain-step "launch equivalents" (us / plain's us per launch).  It replaces only
the key "wall_clock" of --out:

    python benchmarks/speculative_launches.py --wall --layers 2 4 8 \
        --out data/measured/speculative-launches.json --wall-compare-shapes '[
            {"hidden_size": 8, "intermediate_size": 22}, {"vocab_size": 512},
            {"vocab_size": 512, "hidden_size": 64, "intermediate_size": 172,
             "num_attention_heads": 2, "num_key_value_heads": 2}]'
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import gc
import importlib.metadata
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field

import torch
from torch.overrides import TorchFunctionMode
from torch.profiler import ProfilerActivity, profile, record_function
from torch.utils import _pytree as pytree

TAG = "spec::"
PARTS = ("draft", "verify", "heads", "bookkeeping")

# aten ops that launch no kernel on their own: views and other metadata, allocations without a fill,
# conversions that are no-ops when nothing changes (if they do copy, the copy_ below them is counted),
# and the scalar reads, which are counted as syncs instead.
NON_LAUNCH_OPS = frozenset("aten::" + name for name in """
    view view_as _unsafe_view reshape _reshape_alias expand expand_as as_strided t numpy_T transpose
    swapaxes slice select narrow unsqueeze squeeze permute movedim alias detach detach_ unflatten
    flatten split split_with_sizes chunk unbind unfold diagonal lift_fresh resolve_conj resolve_neg
    contiguous to type_as empty empty_like empty_strided new_empty new_empty_strided resize_ set_
    size stride dim is_same_size result_type item is_nonzero _local_scalar_dense
    """.split())

# Medusa-1's default sparse tree (FasterDecoding/Medusa, medusa/model/medusa_choices.py, also the one
# Spec-Bench uses): 63 paths of top-k ranks, one rank per Medusa head.
MEDUSA_MC_SIM_7B_63 = [
    [0], [0, 0], [1], [0, 1], [2], [0, 0, 0], [1, 0], [0, 2], [3], [0, 3], [4], [0, 4], [2, 0],
    [0, 5], [0, 0, 1], [5], [0, 6], [6], [0, 7], [0, 1, 0], [1, 1], [7], [0, 8], [0, 0, 2], [3, 0],
    [0, 9], [8], [9], [1, 0, 0], [0, 2, 0], [1, 2], [0, 0, 3], [4, 0], [2, 1], [0, 0, 4], [0, 0, 5],
    [0, 0, 0, 0], [0, 1, 1], [0, 0, 6], [0, 3, 0], [5, 0], [1, 3], [0, 0, 7], [0, 0, 8], [0, 0, 9],
    [6, 0], [0, 4, 0], [1, 4], [7, 0], [0, 1, 2], [2, 0, 0], [3, 1], [2, 2], [8, 0], [0, 5, 0],
    [1, 5], [1, 0, 1], [0, 2, 1], [9, 0], [0, 6, 0], [0, 0, 0, 1], [1, 6], [0, 7, 0],
]
MEDUSA_TOPK = 10  # candidates taken from each Medusa head for the sparse tree

# The EAGLE draft head's config (EConfig): one decoder layer of the base model's shape, fc with bias,
# as EAGLE-Vicuna's heads are built.
EAGLE_DRAFT_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 32000,
    "hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 1, "num_attention_heads": 4,
    "num_key_value_heads": 4, "max_position_embeddings": 2048, "rms_norm_eps": 1e-6,
    "hidden_act": "silu", "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2, "bias": True,
    "torch_dtype": "float16",
}


# --------------------------------------------------------------------------------------------------
# Labelling: phases, steps, and the host-side / tolist / h2d marks
# --------------------------------------------------------------------------------------------------

def label(fn, name: str):
    """`fn` wrapped so that everything it runs sits under `record_function("spec::<name>")`."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with record_function(TAG + name):
            return fn(*args, **kwargs)

    return wrapped


def label_module(module: torch.nn.Module, name: str) -> None:
    """Label every call of `module` (an instance attribute shadows the class's `forward`)."""
    module.forward = label(module.forward, name)


class HostAndSyncMarks(TorchFunctionMode):
    """Marks, for the profiler, what a CPU-only run cannot show by itself.

    * calls whose tensors all live in the given host storages (EAGLE's and Medusa's KV-cache lengths,
      deliberately kept on the CPU), and `narrow` by such a length, go under `spec::host`;
    * `Tensor.tolist()` on any other tensor goes under `spec::tolist` (a device->host copy and a wait
      on a GPU; on a CPU tensor it issues no aten op);
    * `torch.tensor` / `torch.as_tensor` with an explicit device go under `spec::h2d` (a host->device
      copy on a GPU; nothing on a CPU).
    Calls mixing host-storage and other tensors are counted in `mixed` (expected to stay zero)."""

    def __init__(self, host_tensors=()):
        super().__init__()
        self.host_ptrs = {t.untyped_storage().data_ptr() for t in host_tensors}
        self.mixed = collections.Counter()

    def _is_host(self, t: torch.Tensor) -> bool:
        return bool(self.host_ptrs) and t.untyped_storage().data_ptr() in self.host_ptrs

    def __torch_function__(self, func, types_, args=(), kwargs=None):
        kwargs = kwargs or {}
        mark = None
        if func in (torch.tensor, torch.as_tensor):
            if kwargs.get("device") is not None:
                mark = "h2d"
        else:
            tensors = [x for x in pytree.tree_leaves((args, kwargs)) if isinstance(x, torch.Tensor)]
            on_host = [self._is_host(t) for t in tensors]
            name = getattr(func, "__name__", str(func))
            if any(on_host):
                if all(on_host) or name == "narrow":
                    mark = "host"
                else:
                    self.mixed[name] += 1
            elif name == "tolist":
                mark = "tolist"
        if mark is None:
            return func(*args, **kwargs)
        with record_function(TAG + mark):
            return func(*args, **kwargs)


# --------------------------------------------------------------------------------------------------
# Counting
# --------------------------------------------------------------------------------------------------

@dataclass
class Tally:
    """Counts of one step (or of the prefill), by part."""

    launches: collections.Counter = field(default_factory=collections.Counter)
    syncs: collections.Counter = field(default_factory=collections.Counter)
    h2d: collections.Counter = field(default_factory=collections.Counter)
    host_ops: int = 0
    cpu_only: collections.Counter = field(default_factory=collections.Counter)
    repeat_extras: collections.Counter = field(default_factory=collections.Counter)
    sync_kinds: collections.Counter = field(default_factory=collections.Counter)
    ops: collections.Counter = field(default_factory=collections.Counter)  # (part, aten op) -> count


@functools.lru_cache(maxsize=None)
def op_kind(name: str) -> str:
    """How the aten op `name` (no overload, as the profiler names it) runs, from its registrations:

    * "meta": in NON_LAUNCH_OPS (views, allocations, scalar reads, no-op conversions);
    * "implicit": CompositeImplicitAutograd in every functional overload (`linear`, `matmul`, `to`,
      `softmax`, `dropout`, ...): only decomposes into other aten ops, the same on every device;
    * "explicit": CompositeExplicitAutograd(NonFunctional) and no CPU kernel (`_to_copy`, `clone`,
      `copy_`, `masked_fill`, `repeat`, `zeros`, `embedding`, ...): one C++ body for every device,
      which either calls other aten ops (the same on a GPU) or is itself a kernel (`copy_`);
    * "backend": a CPU (and, in a CUDA build, a CUDA) kernel of its own; what it calls inside is
      the CPU backend's business (`mean` -> `sum` + `div_`, the cast of a wrapped Python scalar
      inside `add`), while CUDA runs one kernel."""
    if not name.startswith("aten::"):
        return "other"
    if name in NON_LAUNCH_OPS:
        return "meta"
    packet = getattr(torch.ops.aten, name.removeprefix("aten::"), None)
    if packet is None:
        return "backend"
    implicit = explicit = backend = False
    for overload in packet.overloads():
        if "out" in overload:
            continue
        qualified = name if overload == "default" else f"{name}.{overload}"
        try:
            has = functools.partial(torch._C._dispatch_has_kernel_for_dispatch_key, qualified)
            implicit |= has("CompositeImplicitAutograd")
            explicit |= has("CompositeExplicitAutograd") or has("CompositeExplicitAutogradNonFunctional")
            backend |= has("CPU") or has("CUDA")
        except RuntimeError:  # a scalar-only overload outside the dispatcher (add.int, ...)
            continue
    if backend:
        return "backend"
    if explicit:
        return "explicit"
    return "implicit" if implicit else "backend"


def classify(events, step_of, half_softmax_fused: bool = True) -> dict:
    """Tallies keyed by step id ("prefill", 0, 1, ...) from profiler `events`.

    A launch is a "backend" op with no backend op above it, or an "explicit" op that calls no
    backend or explicit op below it (with no backend op above it) -- see `op_kind`.  So `linear`
    counts its `mm`, `to` its `copy_`, `masked_fill` its `copy_` and `masked_fill_`, `mean` once.
    With `half_softmax_fused`, the fp16->fp32 cast inside `softmax(..., dtype=float32)` is dropped:
    CUDA runs that as one `_softmax(half_to_float=True)` kernel, the CPU casts first.
    A sync is an `aten::nonzero`, or an `aten::_local_scalar_dense` with no backend op above it
    (one inside a kernel reads a wrapped Python scalar on the host, e.g. `index_put_`'s value).

    `step_of(evt, labels)` maps an event and the `spec::` labels above it (innermost first) to a step
    id, or None for events outside every step."""
    calls_kernel = {}  # id(event) -> a backend or explicit op sits strictly below it

    def has_kernel_below(evt) -> bool:
        key = id(evt)
        if key not in calls_kernel:
            calls_kernel[key] = any(op_kind(c.name) in ("backend", "explicit") or has_kernel_below(c)
                                    for c in evt.cpu_children)
        return calls_kernel[key]

    tallies: dict = collections.defaultdict(Tally)
    for evt in events:
        name = evt.name
        if not (name.startswith("aten::") or name in (TAG + "tolist", TAG + "h2d")):
            continue
        labels, aten_above, parent = [], [], evt.cpu_parent
        while parent is not None:
            if parent.name.startswith(TAG):
                labels.append(parent.name[len(TAG):])
            elif parent.name.startswith("aten::"):
                aten_above.append(parent.name)
            parent = parent.cpu_parent
        step = step_of(evt, labels)
        if step is None:
            continue
        tally = tallies[step]
        phases = [x for x in labels if x in PARTS]
        part = phases[-1] if phases else "bookkeeping"  # the outermost phase wins
        inside_backend = any(op_kind(a) == "backend" for a in aten_above)
        kind = op_kind(name)
        launch = not inside_backend and (
            kind == "backend" or (kind == "explicit" and not has_kernel_below(evt)))
        sync = name == "aten::nonzero" or (name == "aten::_local_scalar_dense" and not inside_backend)
        if "host" in labels:
            tally.host_ops += launch or sync
            continue
        if name == TAG + "tolist":
            tally.syncs[part] += 1
            tally.sync_kinds["tolist"] += 1
            continue
        if name == TAG + "h2d":
            tally.h2d[part] += 1
            continue
        if sync:
            tally.syncs[part] += 1
            tally.sync_kinds[name] += 1
        if launch and half_softmax_fused and name in ("aten::copy_", "aten::_to_copy") and \
                any(a in ("aten::softmax", "aten::log_softmax") for a in aten_above):
            tally.cpu_only[part] += 1
            continue
        if launch:
            tally.launches[part] += 1
            tally.ops[(part, name)] += 1
            if "aten::repeat" in aten_above and name != "aten::copy_":
                tally.repeat_extras[part] += 1
    return tallies


def step_from_labels(evt, labels):
    """Step id for loops that wrap each step in `spec::step:<i>` and the prefill in `spec::prefill`."""
    if "prefill" in labels:
        return "prefill"
    for x in labels:
        if x.startswith("step:"):
            return int(x[5:])
    return None


def summarize(tallies: dict, steady: list, extra: dict | None = None) -> dict:
    """Per-part averages over the `steady` steps, and the prefill's counts."""

    def per_part(counter, n):
        out = {p: counter.get(p, 0) / n for p in PARTS}
        out["total"] = sum(counter.values()) / n
        return out

    def add(counters):
        total = collections.Counter()
        for c in counters:
            total.update(c)
        return total

    n = len(steady)
    rows = [tallies[s] for s in steady]
    launches = add(t.launches for t in rows)
    syncs = add(t.syncs for t in rows)
    h2d = add(t.h2d for t in rows)
    ops = add(t.ops for t in rows)
    totals = [sum(t.launches.values()) for t in rows]
    out = {
        "steady_steps_averaged": n,
        "launches_per_step": per_part(launches, n),
        "launches_per_step_min_max": [min(totals), max(totals)],
        "syncs_per_step": per_part(syncs, n),
        "sync_kinds_per_step": {k: v / n for k, v in sorted(add(t.sync_kinds for t in rows).items())},
        "h2d_copies_per_step": per_part(h2d, n),
        "host_side_ops_per_step": sum(t.host_ops for t in rows) / n,
        "cpu_only_casts_dropped_per_step": sum(sum(t.cpu_only.values()) for t in rows) / n,
        "repeat_index_ops_per_step": per_part(add(t.repeat_extras for t in rows), n),
        "top_ops_per_step": {f"{p} {o}": round(c / n, 2) for (p, o), c in ops.most_common(20)},
    }
    if "prefill" in tallies:
        pre = tallies["prefill"]
        out["prefill"] = {
            "launches": per_part(pre.launches, 1), "syncs": sum(pre.syncs.values()),
            "h2d_copies": sum(pre.h2d.values()), "host_side_ops": pre.host_ops,
        }
    if extra:
        out.update(extra)
    return out


@contextlib.contextmanager
def profiled(marks: HostAndSyncMarks):
    with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU]) as prof, marks:
        yield prof


# --------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------

def llama_config(layers: int, attn: str = "eager", shape: dict | None = None):
    """A small Vicuna-like Llama (Vicuna-7B's structure and vocabulary, narrower and shallower);
    `shape` overrides vocab_size / hidden_size / intermediate_size / attention heads (`--wall`)."""
    from transformers import LlamaConfig

    dims = dict(vocab_size=32000, hidden_size=256, intermediate_size=688,
                num_attention_heads=4, num_key_value_heads=4)
    dims.update(shape or {})
    config = LlamaConfig(
        num_hidden_layers=layers, max_position_embeddings=2048,
        rms_norm_eps=1e-6, hidden_act="silu", bos_token_id=1, eos_token_id=2, pad_token_id=0,
        tie_word_embeddings=False, **dims,
    )
    config._attn_implementation = attn
    return config


def random_model(cls, config, dtype, seed=0):
    """`cls(config)` with the usual random (normal, std = initializer_range) initialisation."""
    torch.manual_seed(seed)
    return cls(config).to(dtype).eval()


class _NoTokenizer:
    """Stands in for `AutoTokenizer.from_pretrained` (no hub): the loops only read `eos_token_id`.

    The EOS id is -1 so that random weights never stop a run early; the EOS check still runs
    (its ops are the same whatever the id)."""

    eos_token_id = -1

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        return cls()

    def decode(self, *args, **kwargs):
        return ""


def build_eagle(layers, dtype, workdir, shape=None):
    """eagle-llm's `EaModel` around a random KV-cache Llama, with a random one-layer draft `Model`."""
    import eagle.model.ea_model as ea
    from eagle.model.modeling_llama_kv import LlamaForCausalLM as EagleLlama

    base = random_model(EagleLlama, llama_config(layers, shape=shape), dtype)
    path = os.path.join(workdir, "eagle_draft_config.json")
    with open(path, "w") as f:
        json.dump({**EAGLE_DRAFT_CONFIG, **(shape or {})}, f)
    ea.AutoTokenizer = _NoTokenizer  # EaModel.__init__ loads the base model's tokenizer
    torch.manual_seed(1)
    model = ea.EaModel(base, "random-init", path).eval()  # its Model() gets nn.Linear's random init
    return model


def build_medusa(layers, dtype, heads, shape=None):
    """medusa-llm's `MedusaModel` (`heads` heads, one ResBlock each) around a random KV-cache Llama."""
    import medusa.model.medusa_model as mm
    from medusa.model.modeling_llama_kv import LlamaForCausalLM as MedusaLlama

    base = random_model(MedusaLlama, llama_config(layers, shape=shape), dtype)
    mm.AutoTokenizer = _NoTokenizer
    model = mm.MedusaModel(base, medusa_num_heads=heads, medusa_num_layers=1,
                           base_model_name_or_path="random-init").eval()
    torch.manual_seed(2)
    with torch.no_grad():  # the package zero-initialises the ResBlocks and copies lm_head: randomise
        for p in model.medusa_head.parameters():
            p.normal_(0.0, 0.02)
    return model


# --------------------------------------------------------------------------------------------------
# Plain Hugging Face generate
# --------------------------------------------------------------------------------------------------

def measure_plain(layers, dtype, prompt, steps, warmup, attn="eager", shape=None, eos=None) -> dict:
    from transformers import LlamaForCausalLM

    model = random_model(LlamaForCausalLM, llama_config(layers, attn, shape), dtype)
    attn_class = type(model.model.layers[0].self_attn).__name__
    label_module(model.model, "verify")
    label_module(model.lm_head, "verify")
    model.forward = label(model.forward, "fwd")  # one call per generated token: the step boundary
    kwargs = dict(do_sample=False, max_new_tokens=steps)  # as Spec-Bench's baseline_forward
    if eos is not None:  # an id outside the vocabulary: the EOS check runs, never stops the run
        kwargs["eos_token_id"] = eos
    with torch.inference_mode():
        model.generate(prompt, **kwargs)  # warm-up
    marks = HostAndSyncMarks()
    with profiled(marks) as prof:
        out = model.generate(prompt, **kwargs)
    generated = out.shape[1] - prompt.shape[1]
    if generated != steps:
        raise RuntimeError(f"generate stopped after {generated} of {steps} tokens (EOS drawn)")
    events = prof.events()
    starts = sorted(e.time_range.start for e in events if e.name == TAG + "fwd")

    def step_of(evt, labels):
        import bisect
        i = bisect.bisect_right(starts, evt.time_range.start) - 1
        if i < 0:
            return None  # generate's set-up before the first forward
        return "prefill" if i == 0 else i

    tallies = classify(events, step_of)
    steady = list(range(1 + warmup, steps - 1))  # skip the first decode steps and the last one
    return summarize(tallies, steady, {
        "attention": attn_class, "tokens_per_step": 1.0, "mixed_host_device_calls": dict(marks.mixed),
    })


# --------------------------------------------------------------------------------------------------
# EAGLE-1
# --------------------------------------------------------------------------------------------------

def _finished(model, input_ids, input_len, new_token, max_length=None) -> bool:
    """Spec-Bench's stopping rules for its EAGLE and Medusa loops: an end-of-sequence token generated (the
    `.tolist()` sync every step), more than 1,024 new tokens, or (EAGLE) the sequence past `max_length`."""
    if model.tokenizer.eos_token_id in input_ids[0, input_len:].tolist():
        return True
    return new_token > 1024 or (max_length is not None and input_ids.shape[1] > max_length)


def _kv_cache(model, initialize_past_key_values):
    """The model's preallocated KV cache, emptied, or a new one kept on the model (as Spec-Bench's EAGLE and
    Medusa loops do); `initialize_past_key_values` is the method package's own."""
    if hasattr(model, "past_key_values"):
        model.current_length_data.zero_()
    else:
        (model.past_key_values, model.past_key_values_data,
         model.current_length_data) = initialize_past_key_values(model.base_model)
    return model.past_key_values, model.past_key_values_data, model.current_length_data


def eagle_forward(model, input_ids, max_steps, phase=None):
    """Spec-Bench's `ea_forward` (evaluation/inference_eagle.py), greedy, one `spec::step:<i>` label
    per step; the calls are those of eagle-llm's `EaModel.eagenerate`.  Returns (tokens, accepted)."""
    from eagle.model.choices import mc_sim_7b_63
    from eagle.model.kv_cache import initialize_past_key_values
    from eagle.model.utils import (evaluate_posterior, generate_candidates, generate_tree_buffers,
                                   initialize_tree, reset_tree_mode, tree_decoding,
                                   update_inference_inputs)

    tree_choices, logits_processor = mc_sim_7b_63, None
    input_ids = input_ids.clone()
    model.ea_layer.reset_kv()
    if getattr(model, "tree_choices", None) == tree_choices:
        tree_buffers = model.tree_buffers
    else:
        tree_buffers = generate_tree_buffers(
            tree_choices, device=model.base_model.model.layers[-1].self_attn.q_proj.weight.device)
        tree_buffers["retrieve_indices_head"] = tree_buffers["retrieve_indices"].to(
            model.base_model.lm_head.weight.device)
    model.tree_buffers, model.tree_choices = tree_buffers, tree_choices
    past_key_values, past_key_values_data, current_length_data = _kv_cache(model, initialize_past_key_values)
    input_len = cur_length = input_ids.shape[1]
    reset_tree_mode(model)
    phase = phase or (lambda name: record_function(TAG + name))
    with phase("prefill"):
        tree_logits, logits, hidden_state, sample_token = initialize_tree(
            input_ids, model, tree_buffers["tree_attn_mask"], past_key_values, logits_processor)
    new_token, accepted = 0, []
    for idx in range(max_steps):
        with phase(f"step:{idx}"):
            candidates, cart_candidates_prob, tree_candidates = generate_candidates(
                tree_logits, tree_buffers["tree_indices"], tree_buffers["retrieve_indices"],
                sample_token, logits_processor)
            logits, hidden_state_new, outputs = tree_decoding(
                model, tree_candidates, past_key_values, tree_buffers["tree_position_ids"],
                input_ids, tree_buffers["retrieve_indices_head"])
            best_candidate, accept_length, sample_p = evaluate_posterior(
                logits, candidates, logits_processor, cart_candidates_prob, tree_logits[2],
                tree_buffers["p_indices"], tree_candidates, tree_buffers["b_indices"])
            input_ids, tree_logits, new_token, hidden_state, sample_token = update_inference_inputs(
                input_ids, candidates, best_candidate, accept_length,
                tree_buffers["retrieve_indices"], logits_processor, logits, tree_logits, new_token,
                past_key_values_data, current_length_data, model, hidden_state, hidden_state_new,
                sample_p)
            accepted.append(input_ids.shape[1] - cur_length)
            cur_length = input_ids.shape[1]
            if _finished(model, input_ids, input_len, new_token, max_length=1960):
                break
    return input_ids, accepted


def measure_eagle(layers, dtype, prompt, steps, warmup, workdir, shape=None) -> dict:
    model = build_eagle(layers, dtype, workdir, shape)
    # The package's own loop and Spec-Bench's agree token for token (same calls, same order).
    with torch.inference_mode():
        ours, _ = eagle_forward(model, prompt, 6)
        theirs = model.eagenerate(prompt, max_new_tokens=ours.shape[1] - prompt.shape[1] - 1)
    if not torch.equal(ours, theirs[:, :ours.shape[1]]):
        raise RuntimeError("the Spec-Bench loop and EaModel.eagenerate disagree")
    model.ea_layer.topK_genrate = label(model.ea_layer.topK_genrate, "draft")
    label_module(model.base_model.model, "verify")
    label_module(model.base_model.lm_head, "verify")  # inside topK_genrate the outer `draft` wins
    with torch.inference_mode():
        eagle_forward(model, prompt, warmup + 2)  # warm-up
    marks = HostAndSyncMarks([model.current_length_data])
    with profiled(marks) as prof:
        _, accepted = eagle_forward(model, prompt, steps)
    tallies = classify(prof.events(), step_from_labels)
    steady = list(range(warmup, steps))
    return summarize(tallies, steady, {
        "tree": "eagle.model.choices.mc_sim_7b_63",
        "tree_tokens_verified": int(model.tree_buffers["tree_indices"].numel()),
        "draft_forwards_per_step": 1 + len(model.ea_layer.tree_buffer["tree_indices"]),
        "tokens_per_step": sum(accepted[warmup:]) / len(steady),
        "mixed_host_device_calls": dict(marks.mixed),
    })


# --------------------------------------------------------------------------------------------------
# Medusa-1
# --------------------------------------------------------------------------------------------------

def sparse_tree_buffers(choices, device, topk=MEDUSA_TOPK) -> dict:
    """The buffers of a Medusa-1 sparse tree (what medusa-llm 0.1 lacks).

    Node 0 is the base model's next token; a path [r0, ..., rd] is the token of rank rd from head d
    under its prefix.  Returns the attention mask among tree tokens, each node's index into
    [base token, head 0 top-k, head 1 top-k, ...], its depth (position offset) and, for every
    leaf, the node indices of its path padded with -1 (longest paths first)."""
    paths = sorted((tuple(p) for p in choices), key=lambda p: (len(p), p))
    node = {p: i + 1 for i, p in enumerate(paths)}
    n = len(paths) + 1
    mask = torch.eye(n)
    mask[:, 0] = 1
    tree_indices = torch.zeros(n, dtype=torch.long)
    position_ids = torch.zeros(n, dtype=torch.long)
    for p, i in node.items():
        for d in range(1, len(p)):
            mask[i, node[p[:d]]] = 1
        tree_indices[i] = 1 + topk * (len(p) - 1) + p[-1]
        position_ids[i] = len(p)
    prefixes = {q[:d] for q in paths for d in range(1, len(q))}
    leaves = [p for p in reversed(paths) if p not in prefixes]
    depth = max(len(p) for p in paths)
    retrieve = torch.tensor([[0] + [node[p[:d]] for d in range(1, len(p) + 1)] + [-1] * (depth - len(p))
                             for p in leaves], dtype=torch.long)
    return {
        "medusa_attn_mask": mask[None, None].to(device),
        "tree_indices": tree_indices.to(device),
        "medusa_position_ids": position_ids.to(device),
        "retrieve_indices": retrieve.to(device),
    }


def sparse_tree_candidates(medusa_logits, logits, tree_indices, retrieve_indices, topk=MEDUSA_TOPK):
    """Greedy candidates of a Medusa-1 sparse tree: the base model's argmax and each head's top-k,
    laid out as the tree's tokens and as one row per leaf path (the padding reads an appended 0)."""
    base_token = torch.argmax(logits[:, -1]).unsqueeze(0)
    head_tokens = torch.topk(medusa_logits[:, 0, -1], topk, dim=-1).indices
    flat = torch.cat([base_token, head_tokens.view(-1)], dim=-1)
    tree_candidates = flat[tree_indices]
    padded = torch.cat([tree_candidates, torch.zeros(1, dtype=torch.long, device=flat.device)], dim=0)
    return padded[retrieve_indices], tree_candidates.unsqueeze(0)


def medusa_forward(model, input_ids, max_steps, choices, phase=None):
    """Spec-Bench's `medusa_forward` (evaluation/inference_medusa.py), greedy, with medusa-llm's
    step functions; `choices` is a sparse tree (list of paths) or a dense one (list of ints, the
    package's own format, candidates from its `generate_candidates`)."""
    from medusa.model import utils as mu
    from medusa.model.kv_cache import initialize_past_key_values

    sparse = isinstance(choices[0], list)
    temperature, posterior_threshold, posterior_alpha = 0.0, 0.09, 0.3
    input_ids = input_ids.clone()
    if getattr(model, "medusa_choices", None) == choices:
        medusa_buffers = model.medusa_buffers
    elif sparse:
        medusa_buffers = sparse_tree_buffers(choices, model.base_model.device)
    else:
        medusa_buffers = mu.generate_medusa_buffers(choices, device=model.base_model.device)
    model.medusa_buffers, model.medusa_choices = medusa_buffers, choices
    past_key_values, past_key_values_data, current_length_data = _kv_cache(model, initialize_past_key_values)
    input_len = cur_length = input_ids.shape[1]
    mu.reset_medusa_mode(model)
    phase = phase or (lambda name: record_function(TAG + name))
    with phase("prefill"):
        medusa_logits, logits = mu.initialize_medusa(
            input_ids, model, medusa_buffers["medusa_attn_mask"], past_key_values)
    new_token, accepted = 0, []
    for idx in range(max_steps):
        with phase(f"step:{idx}"):
            if sparse:
                candidates, tree_candidates = sparse_tree_candidates(
                    medusa_logits, logits, medusa_buffers["tree_indices"],
                    medusa_buffers["retrieve_indices"])
            else:
                candidates, tree_candidates = mu.generate_candidates(
                    medusa_logits, logits, choices[1:], medusa_buffers["tree_indices"], temperature)
            medusa_logits, logits, outputs = mu.tree_decoding(
                model, tree_candidates, past_key_values, medusa_buffers["medusa_position_ids"],
                input_ids, medusa_buffers["retrieve_indices"])
            best_candidate, accept_length = mu.evaluate_posterior(
                logits, candidates, temperature, posterior_threshold, posterior_alpha)
            input_ids, logits, medusa_logits, new_token = mu.update_inference_inputs(
                input_ids, candidates, best_candidate, accept_length,
                medusa_buffers["retrieve_indices"], outputs, logits, medusa_logits, new_token,
                past_key_values_data, current_length_data)
            accepted.append(input_ids.shape[1] - cur_length)
            cur_length = input_ids.shape[1]
            if _finished(model, input_ids, input_len, new_token):
                break
    return input_ids, accepted


def measure_medusa(layers, dtype, prompt, steps, warmup, choices, heads, shape=None) -> dict:
    model = build_medusa(layers, dtype, heads, shape)
    label_module(model.base_model.model, "verify")
    label_module(model.base_model.lm_head, "verify")
    for head in model.medusa_head:
        label_module(head, "heads")
    with torch.inference_mode():
        medusa_forward(model, prompt, warmup + 2, choices)  # warm-up
    marks = HostAndSyncMarks([model.current_length_data])
    with profiled(marks) as prof:
        _, accepted = medusa_forward(model, prompt, steps, choices)
    tallies = classify(prof.events(), step_from_labels)
    steady = list(range(warmup, steps))
    return summarize(tallies, steady, {
        "tree": "mc_sim_7b_63 (Medusa-1 sparse)" if isinstance(choices[0], list)
        else f"medusa-llm 0.1 default dense {choices}",
        "heads": heads,
        "tree_tokens_verified": int(model.medusa_buffers["tree_indices"].numel()),
        "tokens_per_step": sum(accepted[warmup:]) / len(steady),
        "mixed_host_device_calls": dict(marks.mixed),
    })


# --------------------------------------------------------------------------------------------------
# Wall clock (--wall): host time per step, with a model too small for compute to matter
# --------------------------------------------------------------------------------------------------

# head_dim 16; the trees, the draft / head top-k (10) and the depths are the same as above.  At
# hidden 64 the 26- and 64-token tree verifies still show compute, and at vocab 512 so do the
# gathers / argmaxes of the tree's [leaves, depth, vocab] logits (Medusa's bookkeeping most): see
# --wall-compare-shapes.  With vocab 32 random weights accept a token now and then (EAGLE and Medusa
# tokens_per_step 1-2); that changes sizes, not the ops a step runs (but for argmax vs tensor(0)).
WALL_SHAPE = {"vocab_size": 32, "hidden_size": 16, "intermediate_size": 43,
              "num_attention_heads": 1, "num_key_value_heads": 1}
WALL_PARTS = ("draft", "verify", "heads", "bookkeeping", "total")


class PhaseClock:
    """`time.perf_counter` per decoding step and per part, no profiler.

    Wrapped callables add their time to the outermost active part (as the profile's labels do:
    lm_head inside EAGLE's topK_genrate counts as draft); `bookkeeping` is a step's time minus its
    other parts.  `phase` has the signature of the loops' `phase` argument."""

    def __init__(self):
        self.active = None
        self.parts = collections.Counter()
        self.steps: list[dict] = []

    def wrap(self, fn, name: str):
        clock = self

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            if clock.active is not None:
                return fn(*args, **kwargs)
            clock.active = name
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                clock.parts[name] += time.perf_counter() - t0
                clock.active = None

        return wrapped

    def wrap_module(self, module: torch.nn.Module, name: str) -> None:
        module.forward = self.wrap(module.forward, name)

    def row(self, total: float, parts: collections.Counter) -> dict:
        out = {p: parts.get(p, 0.0) * 1e6 for p in PARTS if p != "bookkeeping"}
        out["bookkeeping"] = total * 1e6 - sum(out.values())
        out["total"] = total * 1e6
        return out

    @contextlib.contextmanager
    def step(self):
        self.parts = collections.Counter()
        t0 = time.perf_counter()
        yield
        self.steps.append(self.row(time.perf_counter() - t0, self.parts))

    def phase(self, name: str):
        return self.step() if name.startswith("step:") else contextlib.nullcontext()


def wall_summary(rows_by_repeat: list, accepted: list | None = None) -> dict:
    """Medians (us) per part over all steady steps of all repeats, and each repeat's median total."""
    import statistics

    rows = [r for rep in rows_by_repeat for r in rep]
    extra = {"tokens_per_step": round(sum(accepted) / len(accepted), 3)} if accepted else {}
    return {**extra,
        "median_us": {p: round(statistics.median(r[p] for r in rows), 2) for p in WALL_PARTS},
        "min_total_us": round(min(r["total"] for r in rows), 2),
        "repeat_median_total_us": [round(statistics.median(r["total"] for r in rep), 2)
                                   for rep in rows_by_repeat],
        "steps_timed": len(rows),
    }


def wall_plain(layers, dtype, prompt, steps, warmup, repeats, shape) -> dict:
    """Plain `generate`: a step runs from the start of one model forward to the start of the next."""
    from transformers import LlamaForCausalLM

    model = random_model(LlamaForCausalLM, llama_config(layers, "eager", shape), dtype)
    clock = PhaseClock()
    clock.wrap_module(model.model, "verify")
    clock.wrap_module(model.lm_head, "verify")
    starts = []  # (start of a forward, parts accumulated since the previous start)
    inner = model.forward

    @functools.wraps(inner)
    def forward(*args, **kwargs):
        starts.append((time.perf_counter(), clock.parts))
        clock.parts = collections.Counter()
        return inner(*args, **kwargs)

    model.forward = forward
    # EOS id = vocab size: never drawn (tiny vocabularies draw id 2 now and then), same ops
    kwargs = dict(do_sample=False, max_new_tokens=steps, eos_token_id=shape["vocab_size"])
    out_rows = []
    with torch.inference_mode():
        model.generate(prompt, **kwargs)  # warm-up
        for _ in range(repeats):
            gc.collect()
            starts.clear()
            out = model.generate(prompt, **kwargs)
            if out.shape[1] - prompt.shape[1] != steps:
                raise RuntimeError("generate stopped early (EOS drawn)")
            # interval i = forward i .. forward i+1; 0 is the prefill; the last has no end
            out_rows.append([clock.row(starts[i + 1][0] - starts[i][0], starts[i + 1][1])
                             for i in range(1 + warmup, steps - 1)])
    return wall_summary(out_rows)


def wall_loop(model, loop, prompt, steps, warmup, repeats, clock, **loop_kwargs) -> dict:
    out_rows, accepted = [], []
    with torch.inference_mode():
        loop(model, prompt, warmup + 2, phase=clock.phase, **loop_kwargs)  # warm-up
        for _ in range(repeats):
            gc.collect()
            clock.steps = []
            _, acc = loop(model, prompt, steps, phase=clock.phase, **loop_kwargs)
            if len(clock.steps) != steps:
                raise RuntimeError(f"the loop stopped after {len(clock.steps)} of {steps} steps")
            out_rows.append(clock.steps[warmup:])
            accepted += acc[warmup:]
    return wall_summary(out_rows, accepted)


def wall_eagle(layers, dtype, prompt, steps, warmup, repeats, shape, workdir) -> dict:
    model = build_eagle(layers, dtype, workdir, shape)
    clock = PhaseClock()
    model.ea_layer.topK_genrate = clock.wrap(model.ea_layer.topK_genrate, "draft")
    clock.wrap_module(model.base_model.model, "verify")
    clock.wrap_module(model.base_model.lm_head, "verify")  # inside topK_genrate: draft
    return wall_loop(model, eagle_forward, prompt, steps, warmup, repeats, clock)


def wall_medusa(layers, dtype, prompt, steps, warmup, repeats, shape) -> dict:
    model = build_medusa(layers, dtype, 4, shape)
    clock = PhaseClock()
    clock.wrap_module(model.base_model.model, "verify")
    clock.wrap_module(model.base_model.lm_head, "verify")
    for head in model.medusa_head:
        clock.wrap_module(head, "heads")
    return wall_loop(model, medusa_forward, prompt, steps, warmup, repeats, clock,
                     choices=MEDUSA_MC_SIM_7B_63)


def measure_wall(args) -> dict:
    """Median host time per step (us) of plain / EAGLE / Medusa, by part, with one thread and the
    tiny `shape`; the launch counts of the same models (profile mode) to turn us into launches."""
    shape = {**WALL_SHAPE, **json.loads(args.wall_shape or "{}")}
    dtype = getattr(torch, args.wall_dtype)
    torch.set_num_threads(1)
    torch.manual_seed(1234)
    prompt = torch.randint(3, shape["vocab_size"], (1, args.prompt_tokens))
    started = time.time()
    times: dict = collections.defaultdict(dict)
    counts: dict = collections.defaultdict(dict)
    with tempfile.TemporaryDirectory() as workdir:
        for L in args.layers:
            key = str(L)
            w = (args.wall_steps, args.wall_warmup, args.wall_repeats, shape)
            times["plain"][key] = wall_plain(L, dtype, prompt, *w)
            times["eagle"][key] = wall_eagle(L, dtype, prompt, *w, workdir)
            times["medusa"][key] = wall_medusa(L, dtype, prompt, *w)
            print(f"L={L}: " + ", ".join(f"{m} {times[m][key]['median_us']['total']:.0f} us"
                                         for m in times), f"({time.time() - started:.0f} s)",
                  file=sys.stderr)
    layers = args.layers
    compare = []
    for extra in json.loads(args.wall_compare_shapes or "[]"):
        other = {**shape, **extra}
        t = {"plain": {}, "eagle": {}, "medusa": {}}
        with tempfile.TemporaryDirectory() as workdir:
            for L in layers:
                w = (args.wall_steps, args.wall_warmup, args.wall_repeats, other)
                t["plain"][str(L)] = wall_plain(L, dtype, prompt, *w)
                t["eagle"][str(L)] = wall_eagle(L, dtype, prompt, *w, workdir)
                t["medusa"][str(L)] = wall_medusa(L, dtype, prompt, *w)
        compare.append({"shape": other, "fit_us_a_plus_b_L": {
            m: {p: fit_line(layers, [by[str(L)]["median_us"][p] for L in layers]) for p in WALL_PARTS}
            for m, by in t.items()}})
        print(f"compare shape {extra} done ({time.time() - started:.0f} s)", file=sys.stderr)
    other_counts: dict = collections.defaultdict(dict)
    if not args.wall_no_counts:  # after all timings: no profiler has run before them
        with tempfile.TemporaryDirectory() as workdir:
            for L in layers:
                key = str(L)
                c = {"plain": measure_plain(L, dtype, prompt, args.steps, args.warmup, shape=shape,
                                           eos=shape["vocab_size"]),
                     "eagle": measure_eagle(L, dtype, prompt, args.steps, args.warmup, workdir, shape),
                     "medusa": measure_medusa(L, dtype, prompt, args.steps, args.warmup,
                                              MEDUSA_MC_SIM_7B_63, 4, shape)}
                for m, r in c.items():
                    counts[m][key] = r["launches_per_step"]
                    other_counts[m][key] = {
                        "syncs": r["syncs_per_step"]["total"],
                        "host_side_ops": r["host_side_ops_per_step"],
                        "h2d": r["h2d_copies_per_step"]["total"]}
    fit_us = {m: {p: fit_line(layers, [by[str(L)]["median_us"][p] for L in layers])
                  for p in WALL_PARTS} for m, by in times.items()}
    out = {
        "what": "median wall-clock (time.perf_counter) host time per decoding step, us, no profiler; "
                "compute negligible (tiny model, 1 thread); parts timed with perf_counter around the "
                "same phases the launch profile labels (bookkeeping = step - other parts)",
        "command": "python benchmarks/speculative_launches.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
        "settings": {
            "threads": torch.get_num_threads(), "dtype": args.wall_dtype, "shape": shape,
            "head_dim": shape["hidden_size"] // shape["num_attention_heads"],
            "layers": layers, "prompt_tokens": args.prompt_tokens,
            "steps_per_run": args.wall_steps, "warmup_steps_dropped": args.wall_warmup,
            "runs_per_point": args.wall_repeats, "grad_mode": "torch.inference_mode",
            "eagle_tree": "eagle.model.choices.mc_sim_7b_63 (draft top-k 10, depth 5)",
            "medusa_tree": "mc_sim_7b_63 sparse, 4 heads, top-10",
            "plain": "generate(do_sample=False), eager attention; step = forward start to next "
                     "forward start (decode steps 1+warmup .. steps-2)",
            "cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "torch": torch.__version__,
        },
        "results_us": dict(times),
        "fit_us_a_plus_b_L": fit_us,
    }
    if compare:
        out["compute_check_other_shapes"] = compare
    if counts:
        counts = dict(counts)
        fit_launch = {m: {p: fit_line(layers, [by[str(L)][p] for L in layers])
                          for p in WALL_PARTS} for m, by in counts.items()}
        out["launches_per_step_same_models"] = counts
        out["syncs_host_ops_h2d_per_step_same_models"] = dict(other_counts)
        out["fit_launches_a_plus_b_L"] = fit_launch
        per_launch = {str(L): round(times["plain"][str(L)]["median_us"]["total"]
                                    / counts["plain"][str(L)]["total"], 3) for L in layers}
        out["plain_us_per_launch"] = per_launch
        host_b = {m: fit_line(layers, [by[str(L)]["host_side_ops"] for L in layers])["per_layer_b"]
                  for m, by in other_counts.items()}
        out["per_layer_us_per_op"] = {
            "what": "b of the us fit / (b of the launch fit + b of the host-side ops fit): host time "
                    "per aten op a layer adds (host-side ops: EAGLE's / Medusa's KV-cache lengths, "
                    "CPU tensors; not launches, but host work on any device)",
            **{m: {"us_per_layer": fit_us[m]["total"]["per_layer_b"],
                   "launches_per_layer": fit_launch[m]["total"]["per_layer_b"],
                   "host_side_ops_per_layer": host_b[m],
                   "us_per_launch": round(fit_us[m]["total"]["per_layer_b"]
                                          / fit_launch[m]["total"]["per_layer_b"], 3),
                   "us_per_launch_or_host_op": round(fit_us[m]["total"]["per_layer_b"] / (
                       fit_launch[m]["total"]["per_layer_b"] + host_b[m]), 3)}
               for m in fit_us}}

        def at(fit, L):
            return fit["fixed_a"] + fit["per_layer_b"] * L

        proj = {}
        for L in sorted({40, 32, *layers}):
            us = {m: {p: at(fit_us[m][p], L) for p in WALL_PARTS} for m in fit_us}
            la = {m: {p: at(fit_launch[m][p], L) for p in WALL_PARTS} for m in fit_launch}
            unit = us["plain"]["total"] / la["plain"]["total"]
            proj[str(L)] = {
                "plain_us_per_launch": round(unit, 3),
                "us": {m: {p: round(v, 1) for p, v in d.items()} for m, d in us.items()},
                "launch_equivalents": {m: {p: round(v / unit, 1) for p, v in d.items()}
                                       for m, d in us.items()},
                "launches": {m: {p: round(v, 1) for p, v in d.items()} for m, d in la.items()},
                "launch_equivalents_per_launch": {
                    m: {p: (round(us[m][p] / unit / la[m][p], 3) if la[m][p] else None)
                        for p in WALL_PARTS} for m in us},
                "wall_ratio_to_plain": {m: round(us[m]["total"] / us["plain"]["total"], 3)
                                        for m in us},
                "launch_ratio_to_plain": {m: round(la[m]["total"] / la["plain"]["total"], 3)
                                          for m in la},
            }
        out["from_fits"] = proj
    return out


# --------------------------------------------------------------------------------------------------
# Fit and report
# --------------------------------------------------------------------------------------------------

def fit_line(xs, ys):
    """Least-squares a + b*x; with the largest residual."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    a = my - b * mx
    return {"fixed_a": round(a, 3), "per_layer_b": round(b, 3),
            "max_abs_residual": round(max(abs(y - a - b * x) for x, y in zip(xs, ys)), 3)}


def fits(results: dict, layers: list) -> dict:
    out = {}
    if len(layers) < 2:
        return out
    for method, by_layer in results.items():
        out[method] = {}
        for quantity in ("launches_per_step", "syncs_per_step"):
            out[method][quantity] = {
                part: fit_line(layers, [by_layer[str(L)][quantity][part] for L in layers])
                for part in (*PARTS, "total")
            }
        out[method]["prefill_launches"] = fit_line(
            layers, [by_layer[str(L)]["prefill"]["launches"]["total"] for L in layers])
    return out


def extrapolate(fit: dict, layers: int) -> dict:
    """Launches per step at `layers` from the fits, and each method's ratio to plain decoding."""
    totals = {m: f["launches_per_step"]["total"]["fixed_a"]
              + f["launches_per_step"]["total"]["per_layer_b"] * layers for m, f in fit.items()}
    out = {"layers": layers, "launches_per_step": {m: round(v, 1) for m, v in totals.items()}}
    if "plain" in totals:
        out["ratio_to_plain"] = {m: round(v / totals["plain"], 3) for m, v in totals.items()}
    return out


def version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _write(report: dict, out: str | None) -> int:
    """The report as indented JSON to `out`, or to stdout without one."""
    text = json.dumps(report, indent=1)
    if out:
        with open(out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--steps", type=int, default=16, help="profiled steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="first steps left out of the average")
    parser.add_argument("--prompt-tokens", type=int, default=64)
    parser.add_argument("--dtype", choices=["float16", "bfloat16", "float32"], default="float16")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    parser.add_argument("--out", help="write the JSON here")
    parser.add_argument("--wall", action="store_true",
                        help="instead: median wall-clock host time per step (tiny model, 1 thread), "
                             "written under the key 'wall_clock' of --out (other keys kept)")
    parser.add_argument("--wall-dtype", choices=["float16", "bfloat16", "float32"], default="float32",
                        help="fp32: CPU fp16 kernels are slow enough to show up in the timings")
    parser.add_argument("--wall-shape", help="JSON overriding WALL_SHAPE (vocab, hidden, heads, ...)")
    parser.add_argument("--wall-steps", type=int, default=40, help="timed steps per run")
    parser.add_argument("--wall-warmup", type=int, default=5, help="first steps of each run dropped")
    parser.add_argument("--wall-repeats", type=int, default=5, help="runs per method and depth")
    parser.add_argument("--wall-compare-shapes",
                        help="JSON list of shape overrides to time too (a check that compute is small)")
    parser.add_argument("--wall-no-counts", action="store_true",
                        help="skip the launch counts of the wall-clock models")
    args = parser.parse_args(argv)
    if args.wall:
        wall = measure_wall(args)
        report = {}
        if args.out and os.path.exists(args.out):
            with open(args.out) as f:
                report = json.load(f)
        report["wall_clock"] = wall
        return _write(report if args.out else wall, args.out)
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(1234)
    prompt = torch.randint(3, 32000, (1, args.prompt_tokens))
    started = time.time()
    results: dict = collections.defaultdict(dict)
    with tempfile.TemporaryDirectory() as workdir:
        for L in args.layers:
            key = str(L)
            results["plain"][key] = measure_plain(L, dtype, prompt, args.steps, args.warmup)
            results["plain_sdpa"][key] = measure_plain(L, dtype, prompt, args.steps, args.warmup, "sdpa")
            results["eagle"][key] = measure_eagle(L, dtype, prompt, args.steps, args.warmup, workdir)
            results["medusa"][key] = measure_medusa(L, dtype, prompt, args.steps, args.warmup,
                                                    MEDUSA_MC_SIM_7B_63, heads=4)
            results["medusa_pkg_default"][key] = measure_medusa(L, dtype, prompt, args.steps,
                                                                args.warmup, [1, 7, 6], heads=2)
            print(f"L={L}: " + ", ".join(
                f"{m} {results[m][key]['launches_per_step']['total']:.0f}" for m in results),
                f"launches/step ({time.time() - started:.0f} s)", file=sys.stderr)
    results = dict(results)
    report = {
        "what": "PyTorch operator launches (aten kernels) per decoding step, plain HF generate vs "
                "EAGLE-1 vs Medusa-1, one random-weight Vicuna-like Llama, greedy, batch 1, CPU profile",
        "command": "python benchmarks/speculative_launches.py " + " ".join(argv or sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
        "environment": {
            "python": platform.python_version(), "platform": platform.platform(),
            "torch": torch.__version__, "transformers": version("transformers"),
            "eagle-llm": version("eagle-llm"), "medusa-llm": version("medusa-llm"),
            "accelerate": version("accelerate"), "threads": torch.get_num_threads(),
        },
        "model": {
            "base": {k: v for k, v in llama_config(0).to_dict().items() if k in (
                "vocab_size", "hidden_size", "intermediate_size", "num_attention_heads",
                "num_key_value_heads", "max_position_embeddings", "rms_norm_eps", "hidden_act")},
            "layers": args.layers, "dtype": args.dtype, "weights": "random (normal init)",
            "prompt_tokens": args.prompt_tokens,
            "eagle_draft": "eagle.model.cnets.Model: 1 decoder layer + fc(2h->h, bias), base lm_head",
            "eagle_draft_config": EAGLE_DRAFT_CONFIG,
            "medusa_heads": "medusa.model.medusa_model.MedusaModel: 4 x (ResBlock(h) + Linear(h->V))",
        },
        "filter": {
            "launch": "outermost kernel op of each profiler call tree: an aten op with a CPU kernel "
                      "(backend) and no backend op above it, or a CompositeExplicitAutograd op "
                      "with no backend op above and no backend/explicit op below; "
                      "CompositeImplicitAutograd ops and non_launch_ops never count themselves; "
                      "the fp16->fp32 cast inside softmax(dtype=float32) is dropped (fused on "
                      "CUDA); ops on the CPU-resident KV-cache lengths are host_side_ops",
            "non_launch_ops": sorted(NON_LAUNCH_OPS),
            "sync": "aten::_local_scalar_dense with no backend op above it + Tensor.tolist() + "
                    "aten::nonzero (nonzero is a launch too)",
            "h2d": "torch.tensor/as_tensor with a device argument (not in launches)",
            "parts": "draft = EAGLE ea_layer.topK_genrate; verify = base LlamaModel.forward + "
                     "lm_head; heads = Medusa medusa_head modules; bookkeeping = the rest of the step",
            "steady_state": f"steps {args.warmup}..{args.steps - 1} of {args.steps} profiled "
                            f"(plain: decode steps {1 + args.warmup}..{args.steps - 2})",
        },
        "notes": [
            "no hub: models built from configs with random weights; AutoTokenizer inside EaModel / "
            "MedusaModel __init__ replaced by a stub whose eos_token_id is -1 (the EOS check still runs)",
            "eagle: Spec-Bench's ea_forward loop over eagle-llm's own functions; checked token for "
            "token against EaModel.eagenerate; default tree eagle.model.choices.mc_sim_7b_63 "
            "(25 nodes + root, depth 5)",
            "medusa: medusa-llm 0.1 has only dense Cartesian trees; the sparse mc_sim_7b_63 tree "
            "buffers and candidate selection (Medusa-1 / Spec-Bench) are implemented in this script, "
            "the rest (MedusaModel, KV cache, tree_decoding, evaluate_posterior, "
            "update_inference_inputs) is the package's; ResBlock weights re-drawn (the package "
            "zero-initialises them); medusa_pkg_default is the package's own [1, 7, 6] tree with 2 heads",
            "plain: transformers' generate(do_sample=False, max_new_tokens) as Spec-Bench's baseline; "
            "eager attention (what transformers 4.36/4.37 use with torch 2.0.1); plain_sdpa for "
            "comparison",
            "acceptance is ~0 with random weights (tokens_per_step 1.0); the per-step op count does "
            "not depend on it except evaluate_posterior's torch.tensor(0) (h2d) vs argmax when "
            "nothing / something is accepted",
        ],
        "results": results,
        "fit_a_plus_b_L": fits(results, args.layers),
    }
    if report["fit_a_plus_b_L"]:
        report["extrapolated_vicuna_7b_depth"] = extrapolate(report["fit_a_plus_b_L"], 32)
    return _write(report, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
