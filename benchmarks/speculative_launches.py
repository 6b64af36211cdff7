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

Assisted generation (`--wall-assisted`): the same host-time measurement (`WALL_SHAPE`, one thread,
fp32, medians over steps x runs, a + b*L) for the two methods Spec-Bench runs through Hugging Face's
assisted-generation code, on whichever transformers is installed, with plain `generate` again on it:

* sps: `generate(do_sample=False, assistant_model=draft)`, the draft a random `LlamaForCausalLM` of
  the same shape and 2 layers (Spec-Bench's drafter vicuna-68m has 2), transformers' default
  schedule (num_assistant_tokens 5, heuristic); `sps_constant5` keeps 5 candidates every step.
* pld: `generate(do_sample=False, prompt_lookup_num_tokens=10)` with the lookup n-gram 3
  (transformers >= 4.37; 4.37's `generate` does not take `max_matching_ngram_size`, so it is set on
  the generator).  The prompt repeats a 16-token block, so lookups find matches.

A step is one target verify (start of candidate generation to the next start), split into draft
(candidate generation), verify (the target's `LlamaModel.forward` + `lm_head`) and bookkeeping (the
rest); tokens and candidates per step are recorded.  Results go under "wall_clock_assisted" /
"by_transformers" / VERSION of --out (other keys and versions kept); `--wall-assisted-rerun` stores
a second run beside the first with the medians that moved more than 10%.  The EAGLE / Medusa
measurements need transformers 4.36.2, PLD 4.37, so this runs once per environment, e.g. a second
venv with `pip install torch==2.13.0` then `pip install transformers==4.37.2`:

    python benchmarks/speculative_launches.py --wall-assisted --layers 2 4 8 \
        --out data/measured/speculative-launches.json      # in each venv; again with --wall-assisted-rerun

Lookahead decoding (`--wall-lookahead`): the same host-time measurement for lade 0.0.2 (Fu et al.
2024, the PyPI package) with Spec-Bench's settings (eval.sh: LEVEL 5, WINDOW_SIZE 7, GUESS_SET_SIZE
7; `lade.augment_all()`, `config_lade(...)`, USE_LADE=1, `generate(do_sample=False,
temperature=0.0, max_new_tokens)`), and plain `generate` on the same transformers.  A step is one
iteration of lade's loop, i.e. one target forward that both verifies the n-gram guesses and runs
the lookahead window.  lade's loop is one long function, so the script recompiles a copy of it with
perf_counter markers before 12 of its lines (`LADE_MARKERS`, nothing else changed) and wraps the
model calls: verify = lade's `LlamaModeljforward` (with its attention-mask builder, also reported
alone) + `lm_head`; draft = the n-gram pool lookup, the guess check, the lookahead-window update and
the pool update; bookkeeping = the rest (the forward's input / output assembly, the next-token
argmax, the KV-cache copy of accepted tokens, appending, EOS and stopping checks); sub-parts, tokens,
guesses and forward tokens per step are recorded, and lade's untimed loop is run as a check on the
timers.  lade 0.0.2 runs on transformers 4.34 only (tuple KV caches, the decoder layers'
`padding_mask` argument, `_expand_mask`; 4.36's Cache objects and SDPA attention break it), so it
gets its own venv, e.g. `pip install torch==2.13.0`, then `pip install transformers==4.34.1`, then
`pip install --no-deps lade-0.0.2.tar.gz`.  Results go under "wall_clock_lookahead" of --out;
`--wall-lookahead-rerun` stores a second run beside the first:

    python benchmarks/speculative_launches.py --wall-lookahead --layers 2 4 8 \
        --out data/measured/speculative-launches.json      # then again with --wall-lookahead-rerun

Lookahead launches (`--lookahead-launches`): the profile mode's count (the same `classify` /
`summarize`, model, fp16, prompt) for lade 0.0.2 with Spec-Bench's settings, and for plain `generate`,
in the lade venv (transformers 4.34.1).  The `--wall-lookahead` markers, put into the recompiled copy of
lade's loop, open and close profiler labels instead of reading a clock (`LadeLabels`): a step is one
iteration (one target forward), its parts are the wall mode's (verify = `LlamaModeljforward` with its
mask builder + `lm_head`; draft = pool lookup, guess check, window update, pool update; bookkeeping =
the rest), with the wall mode's sub-parts.  lade's mask builder makes tensors without a device
(`torch.tensor([...]).repeat(n)`), host tensors on a GPU too: `LadeMarks` counts their ops as host
ops and their copies into the device mask as h2d.  `--lookahead-steps` iterations are profiled (0 is
the prefill, 1 .. LEVEL-3 fill the window, 1 + --warmup .. the last but one averaged), grouped also by
tokens taken (and, for 1, by whether the pool had guesses): launches depend on those only.  Fits
a + b*L per part (mean and per group), at L = 32 and 40 with ratios to plain; it replaces only the
key "lookahead_launches" of --out:

    python benchmarks/speculative_launches.py --lookahead-launches --layers 2 4 8 \
        --out data/measured/speculative-launches.json

EAGLE-2 (`--wall-eagle2`): the same host-time measurement for EAGLE-2's dynamic draft tree, and plain
`generate` in the same environment.  Its code is not on PyPI: `--eagle2-src DIR` names a folder holding a
package `eagle2` made of the files `EAGLE2_FILES` lists, written there verbatim from the repositories and
commits it names (Spec-Bench's `model/eagle2/ea_model.py`, SafeAILab/EAGLE's EAGLE-2 `cnets.py`, `utils.py`,
`modeling_llama_kv.py`, ...; their sha256 go into the JSON).  Spec-Bench's `ea_forward` calls
`EaModel.eagenerate`, whose loop `eagle2_forward` runs with a step label (the same calls, checked token for
token), with Spec-Bench's tree (`EAGLE2_TREE`: 60 tokens verified, depth 5 = 6 draft forwards a step,
top-10); its parts are EAGLE-1's (draft = `ea_layer.topK_genrate`, verify = the base model and lm_head of
`tree_decoding`, bookkeeping = the rest: `evaluate_posterior`, `update_inference_inputs`, ...).  It runs
on transformers 4.36.2 (the EAGLE / Medusa venv).  Results go under "wall_clock_eagle2" of --out;
`--wall-eagle2-rerun` stores a second run beside the first:

    python benchmarks/speculative_launches.py --wall-eagle2 --eagle2-src /tmp/eagle2_src --layers 2 4 8 \
        --out data/measured/speculative-launches.json      # then again with --wall-eagle2-rerun
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
import warnings
import weakref
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


def _eagle_draft_config(workdir, shape=None) -> str:
    """The path of the EAGLE draft head's config (EAGLE_DRAFT_CONFIG with the `shape` overrides), written
    in `workdir`."""
    path = os.path.join(workdir, "eagle_draft_config.json")
    with open(path, "w") as f:
        json.dump({**EAGLE_DRAFT_CONFIG, **(shape or {})}, f)
    return path


def build_eagle(layers, dtype, workdir, shape=None):
    """eagle-llm's `EaModel` around a random KV-cache Llama, with a random one-layer draft `Model`."""
    import eagle.model.ea_model as ea
    from eagle.model.modeling_llama_kv import LlamaForCausalLM as EagleLlama

    base = random_model(EagleLlama, llama_config(layers, shape=shape), dtype)
    path = _eagle_draft_config(workdir, shape)
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

def _wall_settings(args, shape: dict, layers) -> dict:
    """The timing settings every host-time mode records: threads, format, shape, depths, steps and runs."""
    return {"threads": torch.get_num_threads(), "dtype": args.wall_dtype, "shape": shape,
            "head_dim": shape["hidden_size"] // shape["num_attention_heads"], "layers": layers,
            "prompt_tokens": args.prompt_tokens, "steps_per_run": args.wall_steps,
            "warmup_steps_dropped": args.wall_warmup, "runs_per_point": args.wall_repeats,
            "grad_mode": "torch.inference_mode"}


def _timed_run_settings(shape: dict) -> dict:
    """What the generate-driven modes (assisted, lookahead) add: one warm-up run, an EOS outside the vocabulary."""
    return {"warmup_runs": 1, "eos_token_id": f"{shape['vocab_size']} (never drawn; the EOS checks run)"}


def _machine() -> dict:
    """The measuring machine, for a report's settings."""
    return {"cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "torch": torch.__version__}


def _run_stamp() -> dict:
    """The command line that produced a report, and the date."""
    return {"command": "python benchmarks/speculative_launches.py " + " ".join(sys.argv[1:]),
            "date": time.strftime("%Y-%m-%d")}


def _wall_inputs(args, prompt_tokens: int | None = None):
    """The `--wall` shape, dtype and prompt (`prompt_tokens` random ids from 3 up, seed 1234; default
    --prompt-tokens), on one thread: what every host-time mode times against."""
    shape = {**WALL_SHAPE, **json.loads(args.wall_shape or "{}")}
    torch.set_num_threads(1)
    torch.manual_seed(1234)
    prompt = torch.randint(3, shape["vocab_size"], (1, prompt_tokens or args.prompt_tokens))
    return shape, getattr(torch, args.wall_dtype), prompt


def _environment(*packages: str) -> dict:
    """The versions of python, torch, transformers and the `packages`."""
    import transformers
    from importlib.metadata import version

    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, **{name: version(name) for name in packages}}


def _fitted_run(times: dict, fit_us: dict, at: dict, *packages: str, **checks: dict) -> dict:
    """A timed run's record: the command and date, the versions (`_environment` with the `packages`), the
    medians by method and depth, their a + b*L fits, the fits at L = 32 and 40, `checks`."""
    return {**_run_stamp(), "environment": _environment(*packages), "results_us": times,
            "fit_us_a_plus_b_L": fit_us, "at_layers_from_fits": at, **checks}


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


def _eagle_clock(model) -> PhaseClock:
    """A clock on the parts of an EAGLE (1 or 2) `EaModel`: draft = the draft head's tree expansion
    `ea_layer.topK_genrate`, verify = the base model's `LlamaModel` and `lm_head`."""
    clock = PhaseClock()
    model.ea_layer.topK_genrate = clock.wrap(model.ea_layer.topK_genrate, "draft")
    clock.wrap_module(model.base_model.model, "verify")
    clock.wrap_module(model.base_model.lm_head, "verify")  # inside topK_genrate: draft
    return clock


def wall_eagle(layers, dtype, prompt, steps, warmup, repeats, shape, workdir) -> dict:
    model = build_eagle(layers, dtype, workdir, shape)
    return wall_loop(model, eagle_forward, prompt, steps, warmup, repeats, _eagle_clock(model))


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
    shape, dtype, prompt = _wall_inputs(args)
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
        **_run_stamp(),
        "settings": {
            **_wall_settings(args, shape, layers),
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
# Wall clock of Hugging Face assisted generation (--wall-assisted): SpS and PLD
# --------------------------------------------------------------------------------------------------

ASSISTED_PARTS = ("draft", "verify", "bookkeeping", "total")
SPS_DRAFT_LAYERS = 2  # Spec-Bench's SpS drafter, vicuna-68m, has 2 decoder layers
PLD_NUM_TOKENS, PLD_NGRAM = 10, 3  # Spec-Bench's PLD: draft_num_candidate_tokens, matching window
ASSISTED_METHODS = ("plain", "sps", "sps_constant5", "pld")


class AssistedClock:
    """`time.perf_counter` per step of transformers' `assisted_decoding` (one target verify), no
    profiler.  A step starts where candidate generation starts and ends where the next one starts;
    `draft` is the candidate generation (plus, on 4.36, the assistant-side cache crop and mask update
    that 4.37 moved into it), `verify` the target's `LlamaModel.forward` + `lm_head`, `bookkeeping`
    the rest of the step.  Records per step the sequence length at its start, the candidates it
    proposed and the assistant forwards it ran."""

    def __init__(self):
        self.steps: list[dict] = []
        self.cur: dict | None = None
        self.state = "idle"  # 4.36 inline drafting: "drafting" between the first assistant call
        self.draft_t0 = 0.0  # of a step and the target's _prepare_attention_mask

    def reset(self):
        self.__init__()

    def begin(self, cur_len: int) -> float:
        now = time.perf_counter()
        if self.cur is not None:
            self.cur["total"] = now - self.cur["t0"]
            self.steps.append(self.cur)
        self.cur = {"t0": now, "len": cur_len, "draft": 0.0, "verify": 0.0, "candidates": 0,
                    "draft_forwards": 0}
        return now

    def add(self, part: str, seconds: float) -> None:
        if self.cur is not None:
            self.cur[part] += seconds

    def timed(self, fn, part: str):
        clock = self

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                clock.add(part, time.perf_counter() - t0)

        return wrapped

    def counted(self, fn, key: str):
        clock = self

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            if clock.cur is not None:
                clock.cur[key] += 1
            return fn(*args, **kwargs)

        return wrapped


def _has_candidate_generators() -> bool:
    """transformers >= 4.37: candidate generation behind `CandidateGenerator.get_candidates`."""
    from transformers import GenerationMixin

    return hasattr(GenerationMixin, "_get_candidate_generator")


def _has_prompt_lookup() -> bool:
    from transformers import GenerationConfig

    return hasattr(GenerationConfig(), "prompt_lookup_num_tokens")


@contextlib.contextmanager
def _hooks_436(clock: AssistedClock, assistant):
    """transformers 4.36's assisted_decoding drafts inline: the step (and the draft) starts at the
    assistant's first `prepare_inputs_for_generation` of an iteration and the draft ends at the
    first `_prepare_attention_mask` after it (the target's, right after the drafting loop); the
    second `_prepare_attention_mask` of the iteration (the assistant's, after the verify) and
    `_crop_past_key_values(assistant, ...)` are timed into draft too."""
    import transformers.generation.utils as gu

    saved = gu._prepare_attention_mask, gu._crop_past_key_values
    inner_mask, inner_crop = saved
    inner_prep = assistant.prepare_inputs_for_generation

    def prepare_inputs(input_ids, **kwargs):
        if clock.state != "drafting":
            clock.draft_t0 = clock.begin(input_ids.shape[-1])
            clock.state = "drafting"
        return inner_prep(input_ids, **kwargs)

    def prepare_mask(*args, **kwargs):
        now = time.perf_counter()
        if clock.state == "drafting":
            clock.add("draft", now - clock.draft_t0)
            clock.state = "target"
            return inner_mask(*args, **kwargs)
        try:
            return inner_mask(*args, **kwargs)
        finally:
            clock.add("draft", time.perf_counter() - now)

    def crop(model, *args, **kwargs):
        if model is not assistant:
            return inner_crop(model, *args, **kwargs)
        t0 = time.perf_counter()
        try:
            return inner_crop(model, *args, **kwargs)
        finally:
            clock.add("draft", time.perf_counter() - t0)

    assistant.prepare_inputs_for_generation = prepare_inputs
    gu._prepare_attention_mask, gu._crop_past_key_values = prepare_mask, crop
    try:
        yield
    finally:
        gu._prepare_attention_mask, gu._crop_past_key_values = saved
        del assistant.prepare_inputs_for_generation


@contextlib.contextmanager
def _hooks_437(clock: AssistedClock, target, ngram_size: int | None):
    """transformers >= 4.37: the step (and the draft) is `candidate_generator.get_candidates`, start
    to the next start; the generator comes from the target's `_get_candidate_generator`.
    `ngram_size` sets `PromptLookupCandidateGenerator.max_matching_ngram_size`, which 4.37's
    `generate` neither accepts nor passes on (its generator keeps the default 2)."""
    inner_make = target._get_candidate_generator

    def make(*args, **kwargs):
        generator = inner_make(*args, **kwargs)
        if ngram_size is not None:
            generator.max_matching_ngram_size = ngram_size
        inner_get = generator.get_candidates

        def get_candidates(input_ids):
            t0 = clock.begin(input_ids.shape[-1])
            try:
                out = inner_get(input_ids)
            finally:
                clock.add("draft", time.perf_counter() - t0)
            clock.cur["candidates"] = out[0].shape[1] - input_ids.shape[1]
            return out

        generator.get_candidates = get_candidates
        return generator

    target._get_candidate_generator = make
    try:
        yield
    finally:
        del target._get_candidate_generator


def wall_assisted(method, layers, dtype, prompt, steps, warmup, repeats, shape) -> dict:
    """SpS (`generate(assistant_model=draft)`, a 2-layer draft of the same width; `sps`: the default
    schedule, 5 assistant tokens, heuristic; `sps_constant5`: 5 every step) or PLD
    (`generate(prompt_lookup_num_tokens=10)`, n-gram 3): `steps` + 1 candidate generations per run,
    steps 1 + warmup .. steps - 1 timed (step 0 holds both prefills)."""
    from transformers import LlamaForCausalLM, StoppingCriteria, StoppingCriteriaList

    target = random_model(LlamaForCausalLM, llama_config(layers, "eager", shape), dtype)
    clock = AssistedClock()
    clock_verify = clock.timed
    target.model.forward = clock_verify(target.model.forward, "verify")
    target.lm_head.forward = clock_verify(target.lm_head.forward, "verify")
    # EOS and pad ids outside the vocabulary: never drawn, the checks still run (4.37's assistant
    # generate() warns of right-padding whenever the sequence ends in the pad id, which random
    # weights draw now and then and Vicuna never: its pad is <unk>)
    kwargs = dict(do_sample=False, max_new_tokens=steps * (PLD_NUM_TOKENS + 2) + 8,
                  eos_token_id=shape["vocab_size"], pad_token_id=shape["vocab_size"] + 1)
    assistant = None
    if method in ("sps", "sps_constant5"):
        assistant = random_model(LlamaForCausalLM, llama_config(SPS_DRAFT_LAYERS, "eager", shape),
                                 dtype, seed=1)  # not the target's first layers: its own weights
        if method == "sps_constant5":
            assistant.generation_config.num_assistant_tokens_schedule = "constant"
        assistant.forward = clock.counted(assistant.forward, "draft_forwards")
        kwargs["assistant_model"] = assistant
        schedule = (assistant.generation_config.num_assistant_tokens,
                    assistant.generation_config.num_assistant_tokens_schedule)
    elif method == "pld":
        if not _has_prompt_lookup():
            raise RuntimeError("PLD needs transformers >= 4.37 (prompt_lookup_num_tokens)")
        kwargs["prompt_lookup_num_tokens"] = PLD_NUM_TOKENS
    else:
        raise ValueError(method)

    class StopAfterSteps(StoppingCriteria):  # called once per iteration, after its bookkeeping
        def __call__(self, input_ids, scores, **kw):
            return len(clock.steps) >= steps  # steps + 1 candidate generations begun

    kwargs["stopping_criteria"] = StoppingCriteriaList([StopAfterSteps()])
    if _has_candidate_generators():
        hooks = functools.partial(_hooks_437, clock, target, PLD_NGRAM if method == "pld" else None)
    else:
        hooks = functools.partial(_hooks_436, clock, assistant)
    rows, tokens, candidates, forwards, lengths = [], [], [], [], []
    with torch.inference_mode(), hooks():
        for rep in range(repeats + 1):  # the first run is a warm-up
            gc.collect()
            clock.reset()
            generated = target.generate(prompt, **kwargs)
            if len(clock.steps) < steps:
                raise RuntimeError(f"generate stopped after {len(clock.steps)} of {steps} steps")
            done = clock.steps + [clock.cur]  # the last one begun: only its start is used
            if rep == 0:  # greedy assisted generation must give plain greedy's tokens
                new_tokens = generated.shape[1] - prompt.shape[1]
                plain = target.generate(prompt, do_sample=False, max_new_tokens=new_tokens,
                                        eos_token_id=kwargs["eos_token_id"],
                                        pad_token_id=kwargs["pad_token_id"])
                same_as_plain = bool(torch.equal(plain, generated))
                continue
            timed = range(1 + warmup, steps)
            rows.append([{"draft": done[i]["draft"] * 1e6, "verify": done[i]["verify"] * 1e6,
                          "bookkeeping": (done[i]["total"] - done[i]["draft"] - done[i]["verify"])
                          * 1e6, "total": done[i]["total"] * 1e6} for i in timed])
            tokens += [done[i + 1]["len"] - done[i]["len"] for i in timed]
            lengths += [done[i]["len"] for i in timed]
            if method != "pld" and not _has_candidate_generators():  # 4.36: one forward a candidate
                candidates += [done[i]["draft_forwards"] for i in timed]
            else:
                candidates += [done[i]["candidates"] for i in timed]
            forwards += [done[i]["draft_forwards"] for i in timed]
    import statistics

    flat = [r for rep in rows for r in rep]
    out = {
        "tokens_equal_plain_greedy": same_as_plain,
        "tokens_per_step": round(sum(tokens) / len(tokens), 3),
        "tokens_per_step_histogram": dict(sorted(collections.Counter(tokens).items())),
        "candidates_per_step": round(sum(candidates) / len(candidates), 3),
        "candidates_per_step_histogram": dict(sorted(collections.Counter(candidates).items())),
        "context_tokens_timed": [min(lengths), max(lengths)],
        "median_us": {p: round(statistics.median(r[p] for r in flat), 2) for p in ASSISTED_PARTS},
        "min_total_us": round(min(r["total"] for r in flat), 2),
        "repeat_median_total_us": [round(statistics.median(r["total"] for r in rep), 2)
                                   for rep in rows],
        "steps_timed": len(flat),
    }
    if assistant is not None:
        out["assistant_forwards_per_step"] = round(sum(forwards) / len(forwards), 3)
        out["assistant_schedule"] = {"num_assistant_tokens": schedule[0],
                                     "num_assistant_tokens_schedule": schedule[1]}
    return out


def _assisted_point(method, L, dtype, prompt, args, shape) -> dict:
    w = (args.wall_steps, args.wall_warmup, args.wall_repeats, shape)
    if method == "plain":
        r = wall_plain(L, dtype, prompt, *w)
        r["median_us"] = {p: r["median_us"][p] for p in ASSISTED_PARTS}  # draft 0, no heads
        return {"tokens_per_step": 1.0, **r}
    return wall_assisted(method, L, dtype, prompt, *w)


def _assisted_fits_and_ratios(times: dict, layers: list) -> tuple[dict, dict]:
    if len(layers) < 2:
        return {}, {}
    fit_us = {m: {p: fit_line(layers, [by[str(L)]["median_us"][p] for L in layers])
                  for p in ASSISTED_PARTS} for m, by in times.items()}
    at = {}
    for L in (32, 40):
        us = {m: {p: round(f[p]["fixed_a"] + f[p]["per_layer_b"] * L, 1) for p in ASSISTED_PARTS}
              for m, f in fit_us.items()}
        at[str(L)] = {"us": us}
        if "plain" in us:
            at[str(L)]["ratio_to_plain"] = {m: round(u["total"] / us["plain"]["total"], 3)
                                            for m, u in us.items()}
    return fit_us, at


def measure_wall_assisted(args) -> tuple[str, dict, dict]:
    """Host time per step of plain `generate`, SpS and PLD on the installed transformers, with the
    tiny `--wall` shape and one thread.  Returns (transformers version, settings, results)."""
    import transformers

    period = args.wall_assisted_period  # a prompt that repeats: the n-gram lookups find matches
    shape, dtype, prompt = _wall_inputs(args, period)
    prompt = prompt.repeat(
        1, -(-args.prompt_tokens // period))[:, :args.prompt_tokens]
    methods = args.wall_assisted_methods or [
        m for m in ASSISTED_METHODS if m != "pld" or _has_prompt_lookup()]
    if "pld" in methods and not _has_prompt_lookup():
        raise SystemExit(f"pld needs transformers >= 4.37, this is {transformers.__version__}")
    started = time.time()
    times: dict = collections.defaultdict(dict)
    for L in args.layers:
        for m in methods:
            times[m][str(L)] = _assisted_point(m, L, dtype, prompt, args, shape)
        print(f"transformers {transformers.__version__} L={L}: " + ", ".join(
            f"{m} {times[m][str(L)]['median_us']['total']:.0f} us" for m in times),
            f"({time.time() - started:.0f} s)", file=sys.stderr)
    times = dict(times)
    fit_us, at = _assisted_fits_and_ratios(times, args.layers)
    settings = {
        **_wall_settings(args, shape, args.layers), **_timed_run_settings(shape),
        "prompt": f"{period} random token ids (seed 1234, from 3 up) repeated to {args.prompt_tokens}",
        "step": "one target verify: start of candidate generation to the next start (steps "
                "1+warmup .. steps-1 of steps+1 begun; step 0 holds the prefills); plain as in "
                "--wall: forward start to next forward start",
        "parts": "draft = candidate generation (4.37: CandidateGenerator.get_candidates; 4.36: the "
                 "inline drafting loop, from the assistant's first prepare_inputs_for_generation "
                 "to the target's _prepare_attention_mask, plus the assistant's cache crop and mask "
                 "update after the verify); verify = target LlamaModel.forward + lm_head; "
                 "bookkeeping = step - draft - verify",
        "sps": f"generate(do_sample=False, assistant_model=draft): draft LlamaForCausalLM, "
               f"{SPS_DRAFT_LAYERS} layers of the same shape, own random weights (seed 1); "
               "transformers' default schedule (num_assistant_tokens 5, heuristic: +2 when all "
               "candidates are accepted, else -1, at least 1; restarts at 5 every generate call)",
        "sps_constant5": "as sps with num_assistant_tokens_schedule='constant' (5 candidates every "
                         "step): the cost of a draft that keeps drafting 5",
        "pld": f"generate(do_sample=False, prompt_lookup_num_tokens={PLD_NUM_TOKENS}) with "
               f"PromptLookupCandidateGenerator.max_matching_ngram_size = {PLD_NGRAM} set on the "
               "generator (4.37's generate rejects max_matching_ngram_size as an unused model_kwarg "
               "and builds the generator with the default 2)",
        **_machine(),
    }
    return transformers.__version__, settings, _fitted_run(times, fit_us, at)


def _rel_diffs(first: dict, again: dict, limit: float = 0.10) -> tuple[dict, list]:
    """The largest relative difference between two runs' medians (per method, depth, part) and
    those over `limit`; parts under 1 us in both runs are left out."""
    worst, over = {"value": 0.0}, []
    for m, by in again["results_us"].items():
        for L, r in by.items():
            ref = first["results_us"].get(m, {}).get(L)
            if ref is None:
                continue
            for p, v in r["median_us"].items():
                a = ref["median_us"][p]
                if max(abs(a), abs(v)) < 1.0:
                    continue
                d = abs(v - a) / abs(a)
                if d > worst["value"]:
                    worst = {"value": round(d, 3), "method": m, "layers": int(L), "part": p}
                if d > limit:
                    over.append({"method": m, "layers": int(L), "part": p, "first_us": a,
                                 "rerun_us": v, "rel_diff": round(d, 3)})
    return worst, over


def _read_report(out: str | None) -> dict:
    """The JSON report stored at `out`, or {} when there is none (its other keys are kept on writing)."""
    if out and os.path.exists(out):
        with open(out) as f:
            return json.load(f)
    return {}


def _same_settings(stored: dict, settings: dict, key: str) -> None:
    """A run stored beside the one under `key` of the report must have its settings: else SystemExit."""
    if stored != settings:
        changed = sorted(k for k in {*stored, *settings} if stored.get(k) != settings.get(k))
        raise SystemExit(f"settings differ from the stored {key} ones: {changed}")


def _step_medians(results_us: dict, *sub_parts: str) -> dict:
    """Tokens per step and median us per part (and per part of the `sub_parts` keys), by method and depth."""
    return {m: {L: {"tokens_per_step": r["tokens_per_step"], **r["median_us"],
                    **{p: v for key in sub_parts for p, v in r.get(key, {}).items()}}
                for L, r in d.items()}
            for m, d in results_us.items()}


def _rerun_record(result: dict, worst: dict, over: list, medians: dict, *keys: str) -> dict:
    """A second run, stored beside the first: its command, how far its medians moved (`_rel_diffs`), its
    medians and its result's `keys`."""
    print(f"rerun vs stored: max rel diff {worst}; {len(over)} medians > 10% apart", file=sys.stderr)
    return {"what": "a second run of the same command after the first (nothing else running)",
            "command": result["command"], "date": result["date"],
            "max_rel_diff_of_a_median": worst, "medians_over_10pct_apart": over,
            "results_median_us": medians, **{k: result[k] for k in keys}}


# --------------------------------------------------------------------------------------------------
# Wall clock of Lookahead decoding (--wall-lookahead): the lade package
# --------------------------------------------------------------------------------------------------

# Spec-Bench's Lookahead settings (eval.sh: --level 5 --window 7 --guess 7; inference_lookahead.py:
# config_lade(LEVEL, WINDOW_SIZE, GUESS_SET_SIZE, DEBUG=0, USE_FLASH=0, DIST_WORKERS=1 GPU)).
# lade 0.0.2's config_lade takes no USE_FLASH / DIST_WORKERS (it has neither flash attention nor
# multi-GPU lookahead: the values Spec-Bench sets are the only behaviour it has).
LADE_CONFIG = {"LEVEL": 5, "WINDOW_SIZE": 7, "GUESS_SET_SIZE": 7, "DEBUG": 0}
LADE_PARTS = ("draft", "verify", "bookkeeping", "total")
# the loop's regions, each timed from the marker put before its first line to the next marker;
# "prepare" opens every iteration, the forward's own parts come from wrappers
LADE_SEGMENTS = ("prepare", "pool_lookup", "forward", "next_token", "window", "accept",
                 "pool_update", "kv_update", "append")
LADE_DRAFT = ("pool_lookup", "accept", "window", "pool_update")
LADE_SUBPARTS = ("verify_mask", "pool_lookup", "accept", "window", "pool_update", "prepare",
                 "forward_io", "next_token", "kv_update", "append")
# (line of lade.decoding.jacobi_greedy_search_multilevel, stripped; occurrence), the marker put before it
LADE_MARKERS = (
    ("if synced_gpus:", "_LADE_CLOCK.begin(input_ids.shape[1])"),  # top of the while loop
    ("if past_tokens[LEVEL - 2] is not None and lst_token in token_map and GUESS_SET_SIZE > 0:",
     "_LADE_CLOCK.seg('pool_lookup')"),
    ("assert return_dict_in_generate == False", "_LADE_CLOCK.seg('prepare')"),
    ("outputs = self.jforward_multilevel(",
     "_LADE_CLOCK.seg('forward', 0 if guess_tokens is None else len(guess_tokens) // GUESS_SIZE)"),
    ("steps += 1", "_LADE_CLOCK.seg('next_token')"),
    ("new_results = []", "_LADE_CLOCK.seg('window')"),  # the fill-phase branches and the steady one
    ("if guess_tokens is not None:", "_LADE_CLOCK.seg('accept')"),
    ("new_results = torch.argmax(outputs.inp_logits, dim=-1)[0].tolist()", "_LADE_CLOCK.seg('window')"),
    ("if GUESS_SET_SIZE != -1:", "_LADE_CLOCK.seg('pool_update')"),
    ("if ALWAYS_FWD_ONE:", "_LADE_CLOCK.seg('window')"),
    ("if max_hit > 0:", "_LADE_CLOCK.seg('kv_update')"),
    ("lst_token = hits[max_hit]", "_LADE_CLOCK.seg('append')"),
)

LADE_NOTES = [
    "lade 0.0.2 (PyPI, 2023-11) is written against transformers 4.34: it passes tuple KV caches layer by "
    "layer, gives the decoder layers a padding_mask argument and imports modeling_llama._expand_mask. On "
    "transformers 4.36.2 and 4.37.2 it fails (SDPA attention: 'LlamaSdpaAttention.forward() got an "
    "unexpected keyword argument padding_mask'; eager: the layers return no tuple cache, 'NoneType' object "
    "is not subscriptable in lade's KV-cache crop), so it runs on transformers 4.34.1 (eager attention "
    "only, as transformers does with Spec-Bench's torch 2.0.1). Spec-Bench imports its own copy "
    "(model/lade), whose decoding loop is lade 0.0.2's plus a list of accepted lengths",
    "random weights with vocab 32 make the greedy output periodic, so the n-gram guesses nearly always "
    "match: most steps take the most lade 0.0.2 takes, LEVEL - 1 = 4 tokens (its compare loop drops the "
    "token after a fully matched guess); real text accepts far fewer. What depends on that in the host "
    "time: kv_update copies k and v of each accepted guess token in every layer, accept compares more; "
    "by_tokens_per_step has the medians by tokens taken in the step",
    "verify's per-layer time above plain's is mostly the CPU compute of a ~30-60-token forward of the "
    "tiny model (forward_tokens_check), not host overhead; verify_mask (lade's attention-mask builder "
    "j_make_causal_mask_multilevel, inside LlamaModeljforward) is a fixed cost",
    "plain is timed with lade's greedy_search_proxy installed and USE_LADE unset: the proxy runs once per "
    "generate call, nothing per step",
]

class LadeClock:
    """`time.perf_counter` per iteration of lade's `jacobi_greedy_search_multilevel` loop (one target
    forward), no profiler.  `begin` (the loop's top) closes the previous iteration; `seg(name)` charges
    the time since the last marker to the region that was open and opens `name`; `timed` wrappers add
    the target forward (`verify`), lade's attention-mask builder (`verify_mask`, inside verify) and the
    whole `jforward_multilevel` call (`jforward`) to the open iteration."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.steps: list[dict] = []
        self.cur: dict | None = None
        self.region, self.t = None, 0.0
        self.begun = 0

    def begin(self, cur_len: int) -> None:
        now = time.perf_counter()
        if self.cur is not None:
            self.cur[self.region] += now - self.t
            self.cur["total"] = now - self.cur["t0"]
            self.steps.append(self.cur)
        self.cur = collections.defaultdict(float)
        self.cur.update(t0=now, len=cur_len)
        self.region, self.t = "prepare", now
        self.begun += 1

    def seg(self, name: str, guesses: int | None = None) -> None:
        now = time.perf_counter()
        if self.cur is not None:
            self.cur[self.region] += now - self.t
            if guesses is not None:
                self.cur["guesses"] = guesses
        self.region, self.t = name, now

    def finish(self) -> None:
        """After a run (LadeLabels closes its labels here)."""

    def timed(self, fn, part: str, count_tokens: bool = False):
        clock = self

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            if count_tokens and clock.cur is not None:
                clock.cur["forward_tokens"] += kwargs["input_ids"].shape[1]
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                if clock.cur is not None:
                    clock.cur[part] += time.perf_counter() - t0

        return wrapped


def _lade_instrumented(clock: LadeClock):
    """lade 0.0.2's `jacobi_greedy_search_multilevel`, recompiled from its source with the
    `LADE_MARKERS` calls put before their lines (same indentation) and nothing else changed, in a
    copy of `lade.decoding`'s globals holding `_LADE_CLOCK`."""
    import inspect
    import textwrap

    import lade.decoding as ld

    lines = textwrap.dedent(inspect.getsource(ld.jacobi_greedy_search_multilevel)).split("\n")
    for anchor, call in LADE_MARKERS:
        at = [i for i, line in enumerate(lines) if line.strip() == anchor]
        if len(at) != 1:
            raise RuntimeError(f"lade's loop changed: {anchor!r} found {len(at)} times (not lade 0.0.2?)")
        line = lines[at[0]]
        lines.insert(at[0], line[:len(line) - len(line.lstrip())] + call)
    namespace = dict(vars(ld), _LADE_CLOCK=clock)
    exec(compile("\n".join(lines), ld.__file__ + " (timed)", "exec"), namespace)
    return namespace["jacobi_greedy_search_multilevel"]


@contextlib.contextmanager
def _lade_active(function=None):
    """USE_LADE=1 (lade's greedy_search_proxy reads it per generate call) and, with `function`, that
    function in place of lade.decoding's loop; both undone on exit."""
    import lade.decoding as ld

    saved_env, saved_fn = os.environ.get("USE_LADE"), ld.jacobi_greedy_search_multilevel
    os.environ["USE_LADE"] = "1"
    if function is not None:
        ld.jacobi_greedy_search_multilevel = function
    try:
        yield
    finally:
        ld.jacobi_greedy_search_multilevel = saved_fn
        if saved_env is None:
            del os.environ["USE_LADE"]
        else:
            os.environ["USE_LADE"] = saved_env


def _lade_setup() -> None:
    """lade.augment_all() once (a second call would make greedy_search's saved original the proxy
    itself) and Spec-Bench's config_lade(...)."""
    import lade
    from transformers import GenerationMixin

    if GenerationMixin.greedy_search is not lade.decoding.greedy_search_proxy:
        lade.augment_all()
    lade.config_lade(**LADE_CONFIG)


def _lade_model(layers, dtype, shape=None):
    """`_lade_setup()` and a random eager Llama of `shape` (None: the profile mode's, `llama_config`)."""
    from transformers import LlamaForCausalLM

    _lade_setup()
    return random_model(LlamaForCausalLM, llama_config(layers, "eager", shape), dtype)


def _lade_run(model, prompt, clock: LadeClock, loop, steps: int) -> tuple[list, torch.Tensor]:
    """One lade `generate(do_sample=False, temperature=0.0, max_new_tokens)` as Spec-Bench's
    inference_lookahead calls it, through `loop` (`_lade_instrumented(clock)`), ended by a stopping
    criterion (called once per iteration, at its end) after steps + 1 loop iterations; EOS outside
    the vocabulary (never drawn, the checks run), max_new_tokens never reached.  Returns the
    iterations' records (`clock.steps` and the last one begun, of which only the start counts) and
    the output ids."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    class StopAfterSteps(StoppingCriteria):
        def __call__(self, input_ids, scores, **kw):
            return clock.begun >= steps + 1

    clock.reset()
    try:
        with _lade_active(loop), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # temperature=0.0 with do_sample=False
            generated = model.generate(
                prompt, do_sample=False, temperature=0.0, max_new_tokens=steps * LADE_CONFIG["LEVEL"] + 16,
                eos_token_id=model.config.vocab_size, stopping_criteria=StoppingCriteriaList([StopAfterSteps()]))
    finally:
        clock.finish()
    if len(clock.steps) != steps:
        raise RuntimeError(f"lade stopped after {len(clock.steps)} of {steps} iterations")
    return clock.steps + [clock.cur], generated


def _lade_same_as_plain(model, prompt, generated) -> bool:
    """Whether lade's output `generated` is plain greedy `generate`'s (as many new tokens, same EOS id)."""
    plain = model.generate(prompt, do_sample=False, max_new_tokens=generated.shape[1] - prompt.shape[1],
                           eos_token_id=model.config.vocab_size)
    return bool(torch.equal(plain, generated))


def _lade_token_counts(tokens: list, guesses: list, fwd_tokens: list) -> dict:
    """Means and histograms of the tokens taken, n-gram guesses verified and forward tokens per iteration."""
    return {
        "tokens_per_step": round(sum(tokens) / len(tokens), 3),
        "tokens_per_step_histogram": dict(sorted(collections.Counter(tokens).items())),
        "guesses_per_step": round(sum(guesses) / len(guesses), 3),
        "guesses_per_step_histogram": dict(sorted(collections.Counter(guesses).items())),
        "forward_tokens_per_step": round(sum(fwd_tokens) / len(fwd_tokens), 3),
        "forward_tokens_histogram": dict(sorted(collections.Counter(fwd_tokens).items())),
    }


def wall_lookahead(layers, dtype, prompt, steps, warmup, repeats, shape) -> dict:
    """lade's lookahead decoding through `generate(do_sample=False, temperature=0.0, ...)` as
    Spec-Bench's inference_lookahead calls it: `steps` + 1 loop iterations per run (a stopping
    criterion counts them), iterations 1 + warmup .. steps - 1 timed (0 is the prefill; 1 .. LEVEL-3
    fill the lookahead window), `repeats` runs after one warm-up run, which is checked token for
    token against plain greedy `generate`."""
    import statistics

    model = _lade_model(layers, dtype, shape)
    clock = LadeClock()
    model.model.LlamaModeljforward = clock.timed(model.model.LlamaModeljforward, "verify", True)
    model.lm_head.forward = clock.timed(model.lm_head.forward, "verify")
    model.model.j_prepare_decoder_attention_mask = clock.timed(
        model.model.j_prepare_decoder_attention_mask, "verify_mask")
    model.jforward_multilevel = clock.timed(model.jforward_multilevel, "jforward")
    timed_loop = _lade_instrumented(clock)
    rows, tokens, guesses, fwd_tokens, lengths = [], [], [], [], []
    with torch.inference_mode():
        for rep in range(repeats + 1):  # the first run is a warm-up
            gc.collect()
            done, generated = _lade_run(model, prompt, clock, timed_loop, steps)
            if rep == 0:
                same_as_plain = _lade_same_as_plain(model, prompt, generated)
                continue
            timed = range(1 + warmup, steps)
            rep_rows = []
            for i in timed:
                s = done[i]
                row = {p: s[p] * 1e6 for p in LADE_SEGMENTS}
                row["verify"], row["verify_mask"] = s["verify"] * 1e6, s["verify_mask"] * 1e6
                row["forward_io"] = (s["jforward"] - s["verify"]) * 1e6
                row["draft"] = sum(row[p] for p in LADE_DRAFT)
                row["total"] = s["total"] * 1e6
                row["bookkeeping"] = row["total"] - row["draft"] - row["verify"]
                row["tokens"] = done[i + 1]["len"] - s["len"]
                rep_rows.append(row)
            rows.append(rep_rows)
            tokens += [r["tokens"] for r in rep_rows]
            guesses += [done[i]["guesses"] for i in timed]
            fwd_tokens += [done[i]["forward_tokens"] for i in timed]
            lengths += [done[i]["len"] for i in timed]
    flat = [r for rep in rows for r in rep]
    by_tokens = {}
    for n in sorted(set(tokens)):
        sel = [r for r in flat if r["tokens"] == n]
        by_tokens[str(n)] = {
            "steps": len(sel),
            "median_us": {p: round(statistics.median(r[p] for r in sel), 2)
                          for p in (*LADE_PARTS, "kv_update", "accept")}}
    return {
        "tokens_equal_plain_greedy": same_as_plain,
        **_lade_token_counts(tokens, guesses, fwd_tokens),
        "context_tokens_timed": [min(lengths), max(lengths)],
        "median_us": {p: round(statistics.median(r[p] for r in flat), 2) for p in LADE_PARTS},
        "sub_parts_median_us": {p: round(statistics.median(r[p] for r in flat), 2)
                                for p in LADE_SUBPARTS},
        "mean_us": {p: round(statistics.fmean(r[p] for r in flat), 2)
                    for p in (*LADE_PARTS, *LADE_SUBPARTS)},
        "by_tokens_per_step": by_tokens,
        "min_total_us": round(min(r["total"] for r in flat), 2),
        "repeat_median_total_us": [round(statistics.median(r["total"] for r in rep), 2)
                                   for rep in rows],
        "steps_timed": len(flat),
    }


def lade_uninstrumented_mean(layers, dtype, prompt, steps, warmup, repeats, shape) -> dict:
    """The cost of the timers: lade's own loop (no markers, no wrappers), whole `generate` timed with
    steps + 1 and with 1 + warmup iterations; (difference) / (steps - warmup) is the mean of
    iterations 1 + warmup .. steps (one more than the timed range: the last iteration and generate's
    return), median over `repeats` pairs after a warm-up pair."""
    import statistics

    from transformers import LlamaForCausalLM, StoppingCriteria, StoppingCriteriaList

    _lade_setup()
    model = random_model(LlamaForCausalLM, llama_config(layers, "eager", shape), dtype)
    count = [0, 0]  # iterations done, iterations wanted

    class StopAfter(StoppingCriteria):
        def __call__(self, input_ids, scores, **kw):
            count[0] += 1
            return count[0] >= count[1]

    kwargs = dict(do_sample=False, temperature=0.0, max_new_tokens=steps * LADE_CONFIG["LEVEL"] + 16,
                  eos_token_id=shape["vocab_size"], stopping_criteria=StoppingCriteriaList([StopAfter()]))

    def run(n):
        count[:] = [0, n]
        gc.collect()
        t0 = time.perf_counter()
        model.generate(prompt, **kwargs)
        elapsed = time.perf_counter() - t0
        if count[0] != n:
            raise RuntimeError(f"lade stopped after {count[0]} of {n} iterations")
        return elapsed

    means = []
    with torch.inference_mode(), warnings.catch_warnings(), _lade_active():
        warnings.simplefilter("ignore", UserWarning)
        for rep in range(repeats + 1):
            long_, short = run(steps + 1), run(1 + warmup)
            if rep:
                means.append((long_ - short) / (steps - warmup) * 1e6)
    return {"median_of_run_means_us": round(statistics.median(means), 2),
            "run_means_us": [round(m, 2) for m in means]}


def forward_tokens_check(layers, dtype, prompt, shape, tokens, calls=200, warmup=50) -> dict:
    """How much of a forward's time grows with its token count here (CPU compute of the tiny model,
    not host overhead): plain `LlamaModel.forward` + `lm_head` (transformers' own causal mask, eager)
    of n new tokens after the prompt's KV cache, median of `calls` calls after `warmup`, per n."""
    import statistics

    from transformers import LlamaForCausalLM

    model = random_model(LlamaForCausalLM, llama_config(layers, "eager", shape), dtype)
    ctx = prompt.shape[1]
    out = {}
    with torch.inference_mode():
        past = model(prompt, use_cache=True).past_key_values  # tuples: not changed by the calls
        for n in tokens:
            ids = prompt[:, :n]
            mask = torch.ones(1, ctx + n, dtype=torch.long)
            pos = torch.arange(ctx, ctx + n).unsqueeze(0)
            ts = []
            for _ in range(calls + warmup):
                t0 = time.perf_counter()
                h = model.model(input_ids=ids, attention_mask=mask, position_ids=pos,
                                past_key_values=past, use_cache=True)[0]
                model.lm_head(h)
                ts.append(time.perf_counter() - t0)
            out[str(n)] = round(statistics.median(ts[warmup:]) * 1e6, 2)
    return out


def forward_tokens_fits(layers, dtype, prompt, shape, tokens, what: str) -> dict:
    """`forward_tokens_check` at each depth of `layers` (`what` says what it shows), with a + b*L per n."""
    fwd = {str(L): forward_tokens_check(L, dtype, prompt, shape, tokens) for L in layers}
    out = {"what": what, "us": fwd}
    if len(layers) >= 2:
        out["fit_us_a_plus_b_L"] = {
            n: fit_line(layers, [fwd[str(L)][n] for L in layers]) for n in fwd[str(layers[0])]}
    return out


def measure_wall_lookahead(args) -> tuple[dict, dict]:
    """Host time per step of lade's lookahead decoding and of plain `generate` on the installed
    transformers, with the `--wall` shape, prompt and one thread.  Returns (settings, results)."""
    import transformers

    import importlib.util

    if importlib.util.find_spec("lade") is None:
        raise SystemExit("--wall-lookahead needs the lade package (lade 0.0.2, transformers 4.34)")
    shape, dtype, prompt = _wall_inputs(args)
    started = time.time()
    times: dict = collections.defaultdict(dict)
    overhead: dict = {}
    w = (args.wall_steps, args.wall_warmup, args.wall_repeats, shape)
    for L in args.layers:
        key = str(L)
        times["plain"][key] = _assisted_point("plain", L, dtype, prompt, args, shape)
        times["lookahead"][key] = wall_lookahead(L, dtype, prompt, *w)
        overhead[key] = {
            **lade_uninstrumented_mean(L, dtype, prompt, *w),
            "instrumented_mean_total_us": times["lookahead"][key]["mean_us"]["total"]}
        print(f"transformers {transformers.__version__} L={L}: " + ", ".join(
            f"{m} {times[m][key]['median_us']['total']:.0f} us" for m in times),
            f"lookahead {times['lookahead'][key]['tokens_per_step']} tokens/step",
            f"({time.time() - started:.0f} s)", file=sys.stderr)
    times = dict(times)
    fit_us, at = _assisted_fits_and_ratios(times, args.layers)
    if len(args.layers) >= 2:
        fit_us["lookahead_sub_parts"] = {
            p: fit_line(args.layers, [times["lookahead"][str(L)]["sub_parts_median_us"][p]
                                      for L in args.layers]) for p in LADE_SUBPARTS}
        # steps that accepted n tokens, where every depth has at least 10 of them
        buckets = [n for n in times["lookahead"][str(args.layers[0])]["by_tokens_per_step"]
                   if all(times["lookahead"][str(L)]["by_tokens_per_step"].get(n, {}).get("steps", 0)
                          >= 10 for L in args.layers)]
        fit_us["lookahead_by_tokens_per_step"] = {
            n: {p: fit_line(args.layers, [
                times["lookahead"][str(L)]["by_tokens_per_step"][n]["median_us"][p]
                for L in args.layers]) for p in (*LADE_PARTS, "kv_update", "accept")}
            for n in buckets}
    window = LADE_CONFIG["WINDOW_SIZE"] * (LADE_CONFIG["LEVEL"] - 1)
    n_tokens = (1, 1 + window, 1 + window + LADE_CONFIG["GUESS_SET_SIZE"] * (LADE_CONFIG["LEVEL"] - 1))
    fwd_check = forward_tokens_fits(
        args.layers, dtype, prompt, shape, n_tokens,
        "plain LlamaModel.forward + lm_head of n new tokens after the prompt's cache (us, "
        "median of 200 calls): n = 1 (plain decoding), 1 + LEVEL-1 window rows x WINDOW "
        "(lookahead without guesses), + GUESS_SET_SIZE guesses x (LEVEL-1) (all guesses); "
        "what grows with n is the tiny model's CPU compute, not host overhead")
    settings = {
        **_wall_settings(args, shape, args.layers), **_timed_run_settings(shape),
        "prompt": f"{args.prompt_tokens} random token ids (seed 1234, from 3 up), as --wall",
        "lade_config": {**LADE_CONFIG, "ALWAYS_FWD_ONE": "1 (lade default)",
                        "GUESS_SIZE": f"LEVEL - 1 = {LADE_CONFIG['LEVEL'] - 1} tokens per n-gram guess"},
        "lade_config_source": "Spec-Bench eval.sh: inference_lookahead --level 5 --window 7 --guess 7; "
                              "inference_lookahead.py: augment_all(); config_lade(LEVEL, WINDOW_SIZE, "
                              "GUESS_SET_SIZE, DEBUG=0, USE_FLASH=0, DIST_WORKERS=1); USE_LADE=1; "
                              "lade 0.0.2's config_lade has no USE_FLASH / DIST_WORKERS (no flash, one "
                              "device: the only behaviour it has)",
        "generate_call": "model.generate(prompt, do_sample=False, temperature=0.0, max_new_tokens, "
                         "eos_token_id) as Spec-Bench's inference_lookahead (max_new_tokens = steps "
                         "* LEVEL + 16, never reached; a stopping criterion ends the run after "
                         "steps + 1 loop iterations)",
        "step": "one iteration of lade's jacobi_greedy_search_multilevel loop = one target forward: "
                "loop top to the next loop top, iterations 1+warmup .. steps-1 of steps+1 (0 is the "
                "prefill, 1..LEVEL-3 fill the window); plain as in --wall: forward start to next "
                "forward start",
        "parts": "verify = the one target forward that verifies the n-gram guesses and runs the "
                 "lookahead window: LlamaModel.LlamaModeljforward (lade's, incl. its attention-mask "
                 "builder j_prepare_decoder_attention_mask = sub-part verify_mask) + lm_head; "
                 "draft = the n-gram side outside the forward: pool_lookup (the guesses for the last "
                 "token from token_map), accept (argmax of the guess logits, .tolist(), the "
                 "compare loop), window (argmax of the window logits, .tolist(), the shift of "
                 "past_tokens; in the fill iterations the fill branches), pool_update (the new "
                 "n-grams into token_map); bookkeeping = the rest of the step (total - draft - "
                 "verify): prepare (prepare_inputs_for_generation, asserts), forward_io "
                 "(jforward_multilevel outside the model: input ids / positions / mask from window + "
                 "guesses, logits.float() and the slices), next_token (argmax, pad masking, "
                 ".item()), kv_update (attention-mask cat and the KV-cache copy of the accepted "
                 "guess tokens, per layer per accepted token, and the crop), append (tokens, "
                 "torch.cat of input_ids, _update_model_kwargs_for_generation, EOS check, stopping "
                 "criteria)",
        "timing": "markers (perf_counter calls) put before 12 lines of a recompiled copy of lade's "
                  "loop, wrappers on LlamaModeljforward / lm_head / j_prepare_decoder_attention_mask "
                  "/ jforward_multilevel; lade's code is otherwise unchanged; "
                  "timer_overhead_check compares with lade's own loop untimed",
        **_machine(),
    }
    return settings, _fitted_run(times, fit_us, at, "lade", timer_overhead_check=overhead,
                                 forward_tokens_check=fwd_check)


def _store_wall_run(out: str | None, key: str, settings: dict, result: dict, rerun: bool, first: dict,
                    rerun_keys: tuple[str, ...], sub_parts: tuple[str, ...] = ()) -> int:
    """Write `result` under `key` of the report at `out` (its other keys kept): a first run with `first`
    (its what, notes) beside it, or with `rerun` a second run of the same settings, stored in the first's
    block with how far its medians (and the `sub_parts` medians) moved, and the first's `rerun_keys`."""
    report = _read_report(out)
    if rerun:
        block = report.get(key)
        if block is None:
            raise SystemExit(f"no stored {key} run to compare the rerun with")
        _same_settings(block["settings"], settings, key)

        def medians(res):  # each part's median, and each sub-part's
            return {"results_us": {m: {L: {"median_us": {**r["median_us"],
                                                         **{p: v for sub in sub_parts
                                                            for p, v in r.get(sub, {}).items()}}}
                                       for L, r in by.items()}
                                   for m, by in res["results_us"].items()}}

        worst, over = _rel_diffs(medians(block), medians(result))
        block["rerun"] = _rerun_record(result, worst, over, _step_medians(result["results_us"], *sub_parts),
                                       *rerun_keys)
    else:
        report[key] = {**first, "settings": settings, **result}
    return _write(report if out else report.get(key, result), out)


def _wall_lookahead_main(args) -> int:
    settings, result = measure_wall_lookahead(args)
    first = {"what": "median wall-clock (time.perf_counter) host time per decoding step (one target "
                     "forward), us, no profiler, compute negligible (the --wall shape, 1 thread): "
                     "Lookahead decoding (lade 0.0.2, Spec-Bench's LEVEL 5 / WINDOW 7 / GUESS 7) vs "
                     "plain generate on the same transformers; ratios to plain per step",
             "notes": LADE_NOTES}
    return _store_wall_run(args.out, "wall_clock_lookahead", settings, result, args.wall_lookahead_rerun, first,
                           ("fit_us_a_plus_b_L", "at_layers_from_fits", "timer_overhead_check",
                            "forward_tokens_check"), ("sub_parts_median_us",))


# --------------------------------------------------------------------------------------------------
# Launches of Lookahead decoding (--lookahead-launches): lade's loop under the profiler
# --------------------------------------------------------------------------------------------------

class LadeLabels(LadeClock):
    """LadeClock's markers (the `LADE_MARKERS` lines of lade's loop) as profiler labels: each
    iteration under `spec::prefill` (the first: the prompt and the first window) or
    `spec::step:<i>`, each region of it under `spec::seg:<region>`, the draft regions (`LADE_DRAFT`)
    also under `spec::draft`; the iteration records (length, guesses, forward tokens) are kept as
    LadeClock keeps them.  Labels are opened and closed at the markers, which sit outside every
    `with` block and call of the loop, so they nest."""

    def reset(self):
        super().reset()
        self.entered: list = []

    def _close(self, keep: int) -> None:
        while len(self.entered) > keep:
            self.entered.pop().__exit__(None, None, None)

    def _open(self, *names: str) -> None:
        for name in names:
            rf = record_function(TAG + name)
            rf.__enter__()
            self.entered.append(rf)

    def begin(self, cur_len: int) -> None:
        self._close(0)
        super().begin(cur_len)
        self._open("prefill" if self.begun == 1 else f"step:{self.begun - 1}", "seg:prepare")

    def seg(self, name: str, guesses: int | None = None) -> None:
        super().seg(name, guesses)
        self._close(1)
        self._open(*(("draft",) if name in LADE_DRAFT else ()), "seg:" + name)

    def finish(self) -> None:
        self._close(0)


class LadeMarks(HostAndSyncMarks):
    """HostAndSyncMarks with the host tensors lade makes.  Its attention-mask builder builds the guess
    rows' diagonals with `torch.tensor([0, ..., min]).repeat(n)` and no device: on a GPU those stay on
    the host.  So a tensor from `torch.tensor` / `torch.as_tensor` without a device, and every result
    of a call on host tensors only, is a host tensor (the calls go under `spec::host`: host-side ops,
    not launches); `.to(device)` of one is an h2d; a host tensor handed to a device op
    (`mask.diagonal_scatter(small_m, -1)`) is first copied to the device (an h2d: CUDA's copy_ stages
    a host source into a device buffer, then copies it into the diagonal with a kernel, which the
    CPU's copy_ counts), counted by op in `staged`.  Host tensors are known by identity (weak refs)."""

    def __init__(self):
        super().__init__()
        self.host: dict = {}  # id -> weakref of a host tensor
        self.staged = collections.Counter()

    def _is_host(self, t: torch.Tensor) -> bool:
        ref = self.host.get(id(t))
        return ref is not None and ref() is t

    def _keep_on_host(self, out):
        for t in pytree.tree_leaves(out):
            if isinstance(t, torch.Tensor) and not self._is_host(t):
                self.host[id(t)] = weakref.ref(t, lambda _, key=id(t): self.host.pop(key, None))
        return out

    def _to_device(self, t):
        if not (isinstance(t, torch.Tensor) and self._is_host(t)):
            return t
        with record_function(TAG + "h2d"):
            return t.detach()  # a new tensor: not a host one

    def __torch_function__(self, func, types_, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.tensor, torch.as_tensor) and kwargs.get("device") is None:
            with record_function(TAG + "host"):
                return self._keep_on_host(func(*args, **kwargs))
        tensors = [x for x in pytree.tree_leaves((args, kwargs)) if isinstance(x, torch.Tensor)]
        host = [self._is_host(t) for t in tensors]
        name = getattr(func, "__name__", str(func))
        if any(host) and name == "to" and (
                "device" in kwargs or any(isinstance(a, (torch.device, str)) for a in args[1:])):
            return self._to_device(func(*args, **kwargs))
        if host and all(host):
            with record_function(TAG + "host"):
                return self._keep_on_host(func(*args, **kwargs))
        if any(host):
            self.staged[name] += 1
            args, kwargs = pytree.tree_map(self._to_device, (args, kwargs))
        return super().__torch_function__(func, types_, args, kwargs)


def _lade_sub_part(evt, labels):
    """(step, sub-part) of an event under LadeLabels' labels: verify_mask (lade's attention-mask
    builder), verify_model (the rest of the target forward), forward_io (jforward_multilevel outside
    the model), else the loop region."""
    step = step_from_labels(evt, labels)
    if step is None:
        return None
    if "verify_mask" in labels:
        return step, "verify_mask"
    if "verify" in labels:
        return step, "verify_model"
    region = next((x[4:] for x in labels if x.startswith("seg:")), "outside")
    return step, "forward_io" if region == "forward" else region


LOOKAHEAD_BUCKET_KEYS = ("launches_per_step", "launches_per_step_min_max", "syncs_per_step",
                         "h2d_copies_per_step", "host_side_ops_per_step")


def measure_lookahead(layers, dtype, prompt, steps, warmup) -> dict:
    """Launches per iteration of lade's loop (one target forward), counted as the profile mode counts
    plain / EAGLE / Medusa (`classify`, `summarize`, parts draft / verify / bookkeeping as
    --wall-lookahead splits them), on the profile mode's model: `steps` + 1 iterations, 1 + warmup ..
    steps - 1 averaged, the first one reported as the prefill; also by tokens taken in the step."""
    model = _lade_model(layers, dtype)
    labels = LadeLabels()
    model.model.LlamaModeljforward = labels.timed(
        label(model.model.LlamaModeljforward, "verify"), "verify", True)  # counts forward tokens
    label_module(model.lm_head, "verify")
    model.model.j_prepare_decoder_attention_mask = label(
        model.model.j_prepare_decoder_attention_mask, "verify_mask")  # inside verify
    loop = _lade_instrumented(labels)
    with torch.inference_mode():
        _, generated = _lade_run(model, prompt, labels, loop, steps)  # warm-up
        same_as_plain = _lade_same_as_plain(model, prompt, generated)
    marks = LadeMarks()
    with profiled(marks) as prof:
        done, _ = _lade_run(model, prompt, labels, loop, steps)
    events = prof.events()
    tallies = classify(events, step_from_labels)
    sub_tallies = classify(events, _lade_sub_part)
    steady = list(range(1 + warmup, steps))
    guess_size = LADE_CONFIG["LEVEL"] - 1
    it = {i: {"tokens": done[i + 1]["len"] - done[i]["len"], "guesses": done[i]["guesses"]} for i in steady}

    def sub_parts(sel):
        return {p: round(sum(sum(t.launches.values()) for (i, q), t in sub_tallies.items()
                             if i in sel and q == p) / len(sel), 3)
                for p in ("verify_mask", "verify_model", *LADE_SUBPARTS[1:])}

    def bucket(i):  # (tokens taken, whether the pool had guesses): a step taking more had some
        return it[i]["tokens"], it[i]["tokens"] > 1 or it[i]["guesses"] > 0

    by_tokens = {}
    for n, guessed in sorted({bucket(i) for i in steady}):
        sel = [i for i in steady if bucket(i) == (n, guessed)]
        summary = summarize(tallies, sel)
        name = f"tokens={n}" if n > 1 else f"tokens=1 guesses{'>0' if guessed else '=0'}"
        by_tokens[name] = {"steps": len(sel), "guesses_per_step": round(
            sum(it[i]["guesses"] for i in sel) / len(sel), 3),
            **{k: summary[k] for k in LOOKAHEAD_BUCKET_KEYS}, "sub_part_launches_per_step": sub_parts(sel)}
    tokens = [it[i]["tokens"] for i in steady]
    guesses = [it[i]["guesses"] for i in steady]
    subs = sub_parts(steady)
    total = sum(sum(tallies[i].launches.values()) for i in steady) / len(steady)
    if abs(sum(subs.values()) - total) > 0.01 * len(subs):  # every launch of a step sits in one region
        raise RuntimeError(f"lade's sub-parts hold {sum(subs.values())} launches per step, the steps {total}")
    return summarize(tallies, steady, {
        "tokens_equal_plain_greedy": same_as_plain,
        **_lade_token_counts(tokens, guesses, [done[i]["forward_tokens"] for i in steady]),
        "guess_tokens_verified_per_step": round(guess_size * sum(guesses) / len(guesses), 3),
        "guess_tokens_accepted_per_step": round(sum(tokens) / len(tokens) - 1, 3),
        "context_tokens": [done[steady[0]]["len"], done[steady[-1]]["len"]],
        "sub_part_launches_per_step": subs,
        "by_tokens_per_step": by_tokens,
        "host_tensors_staged_to_device_in_run": dict(sorted(marks.staged.items())),
        "mixed_host_device_calls": dict(marks.mixed),
    })


LOOKAHEAD_LAUNCH_PARTS = ("draft", "verify", "bookkeeping", "total")
LOOKAHEAD_LAUNCH_NOTES = [
    "lade 0.0.2 runs on transformers 4.34.1 only (see wall_clock_lookahead's notes), so plain generate is "
    "counted again here on 4.34.1; it has 2 launches and 1 sync a step more than the 4.36.2 one under "
    "'results': 4.34's LlamaModel.forward checks `0 in attention_mask` (eq, any, a scalar read)",
    "what a step's launches depend on: whether the pool had n-gram guesses for the last token (the mask "
    "builder's guess block -- mask[:, 0] = 0, fill_diagonal_, LEVEL - 2 diagonal_scatter, the copy back "
    "-- and the argmax of the guess logits: the same launches for 1 to GUESS_SET_SIZE guesses) and how "
    "many guess tokens were taken (kv_update copies k and v of each taken token in every layer: 2 "
    "launches per layer per token, plus torch.ones + cat of the attention mask once when any is taken); "
    "nothing else. So launches per step = by_tokens_per_step 'tokens=1 guesses>0' + 2 + 2*L*(n - 1) for "
    "a step taking n > 1 tokens; the mean over the profiled steps depends on the random model's mix",
    "random weights (vocab 32000) take 1 token in most steps, now and then up to LEVEL - 1 = 4 once the "
    "greedy output repeats; Spec-Bench's tau (about 1.6 tokens per step on Vicuna) is not this run's; "
    "at_layers_from_fits gives each bucket and estimate_tokens_per_step_1.6: 'tokens=1 guesses>0' + 0.6 x "
    "('tokens=2' - it), i.e. every step with guesses and 0.6 guess tokens taken a step; for a mix of 1-4 "
    "tokens averaging 1.6 that is at most 1.2 launches high (the mask's torch.ones + cat counted in 0.6 "
    "of the steps); a step without guesses has 10 launches fewer at any depth",
    "tokens_equal_plain_greedy is false where fp16 CPU rounding differs between lade's 30-60-token forwards "
    "and plain's one-token ones (L = 8 here; the same run in float32 agrees token for token)",
    "host tensors: lade's mask builder makes its diagonals with torch.tensor([...]) without a device and "
    ".repeat(n): on a GPU those stay on the host (host_side_ops_per_step, not launches) and each "
    "diagonal_scatter onto the device mask copies its source host->device (h2d_copies_per_step, verify) "
    "before its clone and copy kernels (launches); torch.tensor(..., device=...) of the input ids, "
    "position ids and accepted tokens are h2d too (bookkeeping)",
    "syncs: position_ids[0][-1].item() (jforward_multilevel), `0 in attention_mask` (LlamaModeljforward), "
    "next_tokens.item(), unfinished_sequences.max() == 0, the window's argmax .tolist() and, with "
    "guesses, the guess argmax .tolist()",
]


def _lookahead_bucket_fits(by_layer: dict, layers: list) -> dict:
    """a + b*L of the launches per part of each by_tokens_per_step bucket, over the depths whose
    profiled steps have it (at least two; which ones under "layers")."""
    out = {}
    for b in dict.fromkeys(b for L in layers for b in by_layer[str(L)]["by_tokens_per_step"]):
        have = [L for L in layers if b in by_layer[str(L)]["by_tokens_per_step"]]
        if len(set(have)) >= 2:
            out[b] = {"layers": have, **{p: fit_line(have, [
                by_layer[str(L)]["by_tokens_per_step"][b]["launches_per_step"][p] for L in have])
                for p in LOOKAHEAD_LAUNCH_PARTS}}
    return dict(sorted(out.items(), key=lambda kv: (int(kv[0].split()[0].removeprefix("tokens=")), kv[0])))


def _at_layers(fit: dict, L: int) -> float:
    return round(fit["fixed_a"] + fit["per_layer_b"] * L, 1)


def measure_lookahead_launches(args) -> dict:
    """Launches per step of lade's Lookahead decoding and of plain `generate` on the installed
    transformers (4.34.1), the profile mode's model, dtype and prompt, with a + b*L fits per part, by
    tokens taken in the step too, and at L = 32 and 40."""
    import importlib.util

    if importlib.util.find_spec("lade") is None:
        raise SystemExit("--lookahead-launches needs the lade package (lade 0.0.2, transformers 4.34)")
    if len(set(args.layers)) < 2:
        raise SystemExit("--lookahead-launches fits a + b·L per part: give at least two depths with --layers")
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    vocab = llama_config(0).vocab_size
    torch.manual_seed(1234)
    prompt = torch.randint(3, vocab, (1, args.prompt_tokens))  # the profile mode's prompt
    started = time.time()
    results: dict = collections.defaultdict(dict)
    for L in args.layers:
        key = str(L)
        results["plain"][key] = measure_plain(L, dtype, prompt, args.steps, args.warmup, eos=vocab)
        results["lookahead"][key] = measure_lookahead(L, dtype, prompt, args.lookahead_steps, args.warmup)
        print(f"L={L}: " + ", ".join(f"{m} {results[m][key]['launches_per_step']['total']:.1f}"
                                     for m in results),
              f"launches/step, lookahead {results['lookahead'][key]['tokens_per_step']} tokens/step "
              f"({time.time() - started:.0f} s)", file=sys.stderr)
    results = dict(results)
    fit = fits(results, args.layers)
    bucket_fit = _lookahead_bucket_fits(results["lookahead"], args.layers)
    at = {}
    for L in (32, 40):
        point = extrapolate(fit, L)
        point["launches_per_step_by_part"] = {
            m: {p: _at_layers(f["launches_per_step"][p], L) for p in LOOKAHEAD_LAUNCH_PARTS}
            for m, f in fit.items()}
        plain = point["launches_per_step"]["plain"]
        buckets = {b: _at_layers(f["total"], L) for b, f in bucket_fit.items()}
        one, two = buckets.get("tokens=1 guesses>0"), buckets.get("tokens=2")
        if one is not None and two is not None:
            buckets["estimate_tokens_per_step_1.6"] = round(one + 0.6 * (two - one), 1)
        point["lookahead_by_tokens_per_step"] = {
            b: {"launches_per_step": v, "ratio_to_plain": round(v / plain, 3)} for b, v in buckets.items()}
        at[str(L)] = point
    level, window = LADE_CONFIG["LEVEL"], LADE_CONFIG["WINDOW_SIZE"]
    return {
        "what": "PyTorch operator launches (aten kernels) per decoding step, CPU profile as under 'results' "
                "(the same classify / summarize filter, see 'filter'): Lookahead decoding (lade 0.0.2, "
                "Spec-Bench's LEVEL 5 / WINDOW 7 / GUESS 7) vs plain generate on the same transformers, "
                "the profile mode's random-weight Vicuna-like Llama; a step is one target forward",
        **_run_stamp(),
        "environment": {**_environment("lade"), "threads": torch.get_num_threads()},
        "settings": {
            "model": "llama_config (as 'model' / base), eager attention, random weights (normal init)",
            "layers": args.layers, "dtype": args.dtype, "prompt_tokens": args.prompt_tokens,
            "prompt": "random ids from 3 up, seed 1234 (the profile mode's)",
            "eos_token_id": f"{vocab} (never drawn; the EOS checks run)",
            "lade_config": LADE_CONFIG, "generate_call": "as wall_clock_lookahead's settings",
            "lookahead_iterations": f"{args.lookahead_steps} + 1 per run (after one warm-up run, "
                                    f"checked token for token against plain greedy generate); "
                                    f"{1 + args.warmup} .. {args.lookahead_steps - 1} averaged (0 is the "
                                    f"prefill, reported as 'prefill'; 1 .. {level - 3} fill the window)",
            "plain_steps": f"decode steps {1 + args.warmup} .. {args.steps - 2} of {args.steps}, as 'results'",
            "step": "one iteration of lade's jacobi_greedy_search_multilevel loop, labelled from loop top "
                    "to loop top by the --wall-lookahead markers (LADE_MARKERS) of a recompiled copy",
            "parts": "as wall_clock_lookahead's: verify = LlamaModeljforward (with its mask builder, "
                     "sub-part verify_mask) + lm_head; draft = pool_lookup, accept, window, pool_update; "
                     "bookkeeping = prepare, forward_io, next_token, kv_update, append",
            "forward_tokens": f"1 + {window} x {level - 1} window tokens + {level - 1} per guess",
            "by_tokens_per_step": "steps grouped by tokens taken (1 + guess tokens accepted) and, for 1, "
                                  "by whether the pool had guesses",
            **_machine(),
        },
        "notes": LOOKAHEAD_LAUNCH_NOTES,
        "results": results,
        "fit_a_plus_b_L": fit,
        "fit_lookahead_by_tokens_per_step": bucket_fit,
        "at_layers_from_fits": at,
    }


def _lookahead_launches_main(args) -> int:
    block = measure_lookahead_launches(args)
    report = _read_report(args.out)
    report["lookahead_launches"] = block
    return _write(report if args.out else block, args.out)


# --------------------------------------------------------------------------------------------------
# Wall clock of EAGLE-2 (--wall-eagle2): the reference code, not on PyPI
# --------------------------------------------------------------------------------------------------

# The package `eagle2` that --eagle2-src holds: these files, verbatim, of Spec-Bench (its EaModel, what its
# inference_eagle2.py runs) and of SafeAILab/EAGLE's EAGLE-2 (the cnets.Model of `total_tokens, depth, top_k,
# threshold`, the utils whose initialize_tree returns draft tokens, retrieve indices, tree mask, positions,
# logits, hidden state, sample token).  Files not stored at that commit: configs, choices and utils_c have one
# stored version (byte for byte eagle-llm 1.2.1's); kv_cache is an EAGLE-3-era one, whose cache holds 2200
# positions instead of max_position_embeddings (2048), which changes nothing a step does.
EAGLE2_FILES = {
    "ea_model.py": "hemingkx/Spec-Bench@a5fd1a3e3c2a96cc52203e9fad658221ac0add46:model/eagle2/ea_model.py",
    "cnets.py": "SafeAILab/EAGLE@bfeb532e689a3db4e1a9081c7c83219c9385e84a:eagle/model/cnets.py",
    "utils.py": "SafeAILab/EAGLE@bfeb532e689a3db4e1a9081c7c83219c9385e84a:eagle/model/utils.py",
    "modeling_llama_kv.py":
        "SafeAILab/EAGLE@bfeb532e689a3db4e1a9081c7c83219c9385e84a:eagle/model/modeling_llama_kv.py",
    "kv_cache.py": "SafeAILab/EAGLE@f2f2366485f092f9d0ffb0bc0c6bd174e69083bf:eagle/model/kv_cache.py",
    "configs.py": "SafeAILab/EAGLE@08dc06ccb428f2d3cf8380933ea50ed3e4178168:eagle/model/configs.py",
    "choices.py": "SafeAILab/EAGLE@08dc06ccb428f2d3cf8380933ea50ed3e4178168:eagle/model/choices.py",
    "utils_c.py": "SafeAILab/EAGLE@08dc06ccb428f2d3cf8380933ea50ed3e4178168:eagle/model/utils_c.py",
}
# Spec-Bench's EAGLE-2 tree (inference_eagle2.py's defaults; eval.sh passes none; threshold is
# EaModel.from_pretrained's default, unused by the tree code): 59 draft tokens + the root verified, the
# first top-10 then 5 expansions of the 10 best, 6 draft forwards a step
EAGLE2_TREE = {"total_token": 60, "depth": 5, "top_k": 10, "threshold": 1.0}
# Random weights give every draft token about the same score, so the 59 best are the first two levels (trees
# 2 deep, ~50 leaves); the base lm_head (the draft's head too) times this peaks the scores: trees 6 deep
EAGLE2_DEEP_HEAD_SCALE = 100.0


def eagle2_package(src: str):
    """`eagle2.ea_model`, imported from the folder `src` that holds the package `eagle2` (EAGLE2_FILES);
    ValueError, saying why, when it does not hold EAGLE-2's code."""
    import importlib
    import inspect
    import types

    if not os.path.isdir(os.path.join(src, "eagle2")):
        raise ValueError(f"--eagle2-src {src}: no folder eagle2 there (the package of EAGLE2_FILES)")
    missing = [f for f in EAGLE2_FILES if not os.path.isfile(os.path.join(src, "eagle2", f))]
    if missing:
        raise ValueError(f"--eagle2-src {src}: no {', '.join('eagle2/' + f for f in missing)}")
    sys.path.insert(0, os.path.abspath(src))
    # Spec-Bench's ea_model imports the Mixtral and Qwen2 KV models that only its from_pretrained uses
    # (Qwen2 needs transformers >= 4.37): placeholders stand in, the base model here is built from a config
    for name, cls in (("mixtral", "MixtralForCausalLM"), ("qwen2", "LlamaForCausalLM")):
        module = f"eagle2.modeling_{name}_kv"
        setattr(sys.modules.setdefault(module, types.ModuleType(module)), cls, None)
    try:
        ea = importlib.import_module("eagle2.ea_model")
    except Exception as e:  # a broken or foreign package is a usage error too
        raise ValueError(f"--eagle2-src {src}: cannot import eagle2.ea_model ({type(e).__name__}: {e})")
    if os.path.dirname(os.path.abspath(ea.__file__)) != os.path.join(os.path.abspath(src), "eagle2"):
        raise ValueError(f"--eagle2-src {src}: eagle2 was already imported from {ea.__file__}")
    draft_args = inspect.signature(ea.Model.__init__).parameters
    if not {"total_tokens", "depth", "top_k", "threshold"} <= set(draft_args):
        raise ValueError(f"--eagle2-src {src}: eagle2/cnets.py's Model is not EAGLE-2's (no total_tokens, "
                         "depth, top_k, threshold)")
    return ea


def eagle2_code(src: str) -> dict:
    """Each file of EAGLE2_FILES: where it comes from and the sha256 of the copy in `src`."""
    import hashlib

    def sha256(name):
        with open(os.path.join(src, "eagle2", name), "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()

    return {name: {"source": where, "sha256": sha256(name)} for name, where in EAGLE2_FILES.items()}


def build_eagle2(layers, dtype, workdir, shape=None):
    """Spec-Bench's EAGLE-2 `EaModel` (`eagle2_package` imports it) around its random KV-cache Llama, with a
    random one-layer draft `cnets.Model` and EAGLE2_TREE."""
    import eagle2.ea_model as ea

    base = random_model(ea.KVLlamaForCausalLM, llama_config(layers, shape=shape), dtype)
    path = _eagle_draft_config(workdir, shape)
    ea.AutoTokenizer = _NoTokenizer  # EaModel.__init__ loads the base model's tokenizer
    tree = (EAGLE2_TREE["total_token"], EAGLE2_TREE["depth"], EAGLE2_TREE["top_k"], EAGLE2_TREE["threshold"])
    torch.manual_seed(1)  # EaModel loads the draft's weights: those of a Model with nn.Linear's random init
    draft = ea.Model(ea.EConfig.from_pretrained(path), bias=EAGLE_DRAFT_CONFIG["bias"], total_tokens=tree[0],
                     depth=tree[1], top_k=tree[2], threshold=tree[3]).state_dict()
    return ea.EaModel(base, "random-init", path, *tree, draft).eval()


def eagle2_forward(model, input_ids, max_steps, phase=None):
    """The loop of Spec-Bench's EAGLE-2 `EaModel.eagenerate` (model/eagle2/ea_model.py; inference_eagle2.py's
    `ea_forward` calls it), greedy, one `phase(f"step:{i}")` per step; the stopping rules as `_finished`
    (Spec-Bench's max_new_tokens 1024).  Returns (tokens, accepted)."""
    from eagle2.kv_cache import initialize_past_key_values
    from eagle2.utils import (evaluate_posterior, initialize_tree, reset_tree_mode, tree_decoding,
                              update_inference_inputs)

    logits_processor = None
    padding = (torch.zeros(1, 1, dtype=torch.long) - 1).to(input_ids.device)
    input_ids = input_ids.clone()
    model.ea_layer.reset_kv()
    past_key_values, past_key_values_data, current_length_data = _kv_cache(model, initialize_past_key_values)
    input_len = cur_length = input_ids.shape[1]
    reset_tree_mode(model)
    phase = phase or (lambda name: record_function(TAG + name))
    with phase("prefill"):
        draft_tokens, retrieve_indices, tree_mask, tree_position_ids, logits, hidden_state, sample_token = \
            initialize_tree(input_ids, model, past_key_values, logits_processor)
    new_token, accepted = 0, []
    for idx in range(max_steps):
        with phase(f"step:{idx}"):
            model.base_model.model.tree_mask = tree_mask
            draft_tokens = draft_tokens.to(input_ids.device)
            logits, hidden_state_new, outputs = tree_decoding(
                model, draft_tokens, past_key_values, tree_position_ids, input_ids, retrieve_indices)
            draft_tokens = torch.cat((draft_tokens, padding), dim=1)
            candidates = draft_tokens[0, retrieve_indices]
            best_candidate, accept_length, sample_p = evaluate_posterior(logits, candidates, logits_processor)
            (input_ids, draft_tokens, retrieve_indices, tree_mask, tree_position_ids, new_token, hidden_state,
             sample_token) = update_inference_inputs(
                input_ids, candidates, best_candidate, accept_length, retrieve_indices, logits_processor,
                new_token, past_key_values_data, current_length_data, model, hidden_state_new, sample_p)
            accepted.append(input_ids.shape[1] - cur_length)
            cur_length = input_ids.shape[1]
            if _finished(model, input_ids, input_len, new_token,
                         max_length=2048 - model.ea_layer.total_tokens - 10):  # eagenerate's max_length
                break
    return input_ids, accepted


def wall_eagle2(layers, dtype, prompt, steps, warmup, repeats, shape, workdir, head_scale=1.0) -> dict:
    """EAGLE-2's steps (`eagle2_forward`) timed as EAGLE-1's; an untimed run first, checked token for token
    against `EaModel.eagenerate`, records the draft trees (verified tokens, leaves, deepest path).  The base
    lm_head's weights are multiplied by `head_scale`."""
    import statistics

    model = build_eagle2(layers, dtype, workdir, shape)
    with torch.no_grad():
        model.base_model.lm_head.weight.mul_(head_scale)
    expand, trees = model.ea_layer.topK_genrate, []

    def recorded(*args, **kwargs):
        out = expand(*args, **kwargs)  # draft tokens [1, n], retrieve indices [leaves, 1 + depth], ...
        trees.append((out[0].shape[1], *out[1].shape))
        return out

    model.ea_layer.topK_genrate = recorded
    with torch.inference_mode():
        ours, _ = eagle2_forward(model, prompt, steps)
        model.ea_layer.topK_genrate = expand
        theirs = model.eagenerate(prompt, max_new_tokens=ours.shape[1] - prompt.shape[1] - 1)
    if not torch.equal(ours, theirs[:, :ours.shape[1]]):
        raise RuntimeError("eagle2_forward and EaModel.eagenerate disagree")
    trees = trees[warmup:steps]  # those the timed steps verify (step i verifies trees[i], 0 the prefill's)
    return {**wall_loop(model, eagle2_forward, prompt, steps, warmup, repeats, _eagle_clock(model)),
            "tokens_equal_eagenerate": True,
            "tree_tokens_verified": sorted({n for n, _, _ in trees}),
            "tree_leaves_median": statistics.median(leaves for _, leaves, _ in trees),
            "tree_depth_histogram": dict(sorted(collections.Counter(d - 1 for *_, d in trees).items())),
            "draft_forwards_per_step": 1 + model.ea_layer.depth}


def measure_wall_eagle2(args) -> tuple[dict, dict]:
    """Host time per step of EAGLE-2 and of plain `generate` in this environment, with the `--wall` shape,
    prompt and one thread.  Returns (settings, results)."""
    import transformers

    shape, dtype, prompt = _wall_inputs(args)
    started = time.time()
    times: dict = collections.defaultdict(dict)
    with tempfile.TemporaryDirectory() as workdir:
        for L in args.layers:
            key = str(L)
            times["plain"][key] = _assisted_point("plain", L, dtype, prompt, args, shape)
            times["eagle2"][key] = wall_eagle2(L, dtype, prompt, args.wall_steps, args.wall_warmup,
                                               args.wall_repeats, shape, workdir)
            print(f"transformers {transformers.__version__} L={L}: " + ", ".join(
                f"{m} {times[m][key]['median_us']['total']:.0f} us" for m in times),
                f"eagle2 {times['eagle2'][key]['tokens_per_step']} tokens/step",
                f"({time.time() - started:.0f} s)", file=sys.stderr)
            if L == args.layers[0]:
                deep = wall_eagle2(L, dtype, prompt, args.wall_steps, args.wall_warmup, args.wall_repeats,
                                   shape, workdir, head_scale=EAGLE2_DEEP_HEAD_SCALE)
    times = dict(times)
    fit_us, at = _assisted_fits_and_ratios(times, args.layers)
    tree_check = {
        "what": f"EAGLE-2 at L = {args.layers[0]} with the base lm_head (the draft's head too) x "
                f"{EAGLE2_DEEP_HEAD_SCALE:g}: peaked scores, so the 59 draft tokens make trees of the full "
                "depth instead of wide shallow ones; the ops a step runs are the same, only the Python loops "
                "over the tree's leaves and depths (retrieve indices) and the tensors' sizes change",
        "random_weights": times["eagle2"][str(args.layers[0])], "peaked_head": deep}
    fwd_check = forward_tokens_fits(
        args.layers, dtype, prompt, shape, (1, EAGLE2_TREE["total_token"]),
        "plain LlamaModel.forward + lm_head of n new tokens after the prompt's cache (us, median of 200 "
        "calls): n = 1 (plain decoding) and the 60 tokens of EAGLE-2's tree verify (transformers' causal "
        "mask, not the tree's); what grows with n is the tiny model's CPU compute, not host overhead")
    settings = {
        **_wall_settings(args, shape, args.layers),
        "prompt": f"{args.prompt_tokens} random token ids (seed 1234, from 3 up), as --wall",
        "code": eagle2_code(args.eagle2_src),
        "code_notes": "placeholders stand in for eagle2.modeling_mixtral_kv / modeling_qwen2_kv, which "
                      "Spec-Bench's ea_model imports for from_pretrained's other architectures only; no "
                      "hub: the base model (eagle2.modeling_llama_kv, random normal init) and the draft's "
                      "config (EAGLE_DRAFT_CONFIG with the shape) are built here, the draft's weights a "
                      "cnets.Model's random init (seed 1) loaded by EaModel, the tokenizer a stub (EOS id "
                      "-1, the check runs)",
        "eagle2_tree": EAGLE2_TREE,
        "eagle2_tree_source": "hemingkx/Spec-Bench@a5fd1a3 evaluation/inference_eagle2.py defaults "
                              "(--total-token 60 --depth 5 --top-k 10; eval.sh's inference_eagle2 line "
                              "passes none); threshold: EaModel.from_pretrained's default, unused by the "
                              "tree code; cnets.Model keeps total_token - 1 = 59 draft tokens (+ the root: "
                              "60 verified) of the first top-10 and 5 expansions (6 draft forwards a step, "
                              "paths up to 6 draft tokens)",
        "step": "one iteration of EaModel.eagenerate's loop, run by eagle2_forward (the same calls; "
                "checked token for token against eagenerate): the tree verify, evaluate_posterior, "
                "update_inference_inputs (KV-cache compaction, next token, next draft tree), the EOS and "
                "length checks; steps warmup .. steps-1 of each run (the prefill and first tree apart); "
                "plain as in --wall: forward start to next forward start",
        "parts": "as EAGLE-1's in --wall: draft = ea_layer.topK_genrate (the dynamic tree: 6 draft "
                 "forwards, top-k scoring, the tree mask, position ids and retrieve indices, lm_head inside "
                 "it); verify = the base LlamaModel.forward + lm_head of tree_decoding; bookkeeping = the "
                 "rest of the step (tree_decoding's position ids and logits gather, the candidates, "
                 "evaluate_posterior, update_inference_inputs outside the draft, the EOS check)",
        **_machine(),
    }
    return settings, _fitted_run(times, fit_us, at, tree_shape_check=tree_check, forward_tokens_check=fwd_check)


def _wall_eagle2_main(args) -> int:
    settings, result = measure_wall_eagle2(args)
    first = {"what": "median wall-clock (time.perf_counter) host time per decoding step (one tree verify), "
                     "us, no profiler, compute negligible (the --wall shape, 1 thread): EAGLE-2 (Spec-Bench's "
                     "EaModel on SafeAILab/EAGLE's EAGLE-2 code, its dynamic tree of 60 tokens) vs plain "
                     "generate on the same transformers; ratios to plain per step"}
    return _store_wall_run(args.out, "wall_clock_eagle2", settings, result, args.wall_eagle2_rerun, first,
                           ("fit_us_a_plus_b_L", "at_layers_from_fits", "tree_shape_check", "forward_tokens_check"))


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


def _wall_assisted_main(args) -> int:
    ver, settings, result = measure_wall_assisted(args)
    report = _read_report(args.out)
    block = report.setdefault("wall_clock_assisted", {})
    by = block.setdefault("by_transformers", {})
    if by and block.get("settings") is not None:
        _same_settings(block["settings"], settings, "wall_clock_assisted")
    block["what"] = (
        "median wall-clock (time.perf_counter) host time per decoding step (one target verify), us, "
        "no profiler, compute negligible (the --wall shape, 1 thread): plain generate vs Hugging "
        "Face assisted generation, SpS (a 2-layer draft model) and PLD (prompt lookup), per "
        "transformers version; ratios to plain on the same version")
    block["settings"] = settings
    if args.wall_assisted_rerun:
        first = by.get(ver)
        if first is None:
            raise SystemExit(f"no stored run for transformers {ver} to compare the rerun with")
        worst, over = _rel_diffs(first, result)
        first["rerun"] = _rerun_record(result, worst, over, _step_medians(result["results_us"]),
                                       "fit_us_a_plus_b_L", "at_layers_from_fits")
    else:
        by[ver] = result
    return _write(report if args.out else block, args.out)


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
    parser.add_argument("--wall-assisted", action="store_true",
                        help="instead: the --wall host time per step of plain generate, SpS "
                             "(assistant_model) and PLD (prompt lookup, transformers >= 4.37) on the "
                             "installed transformers, written under 'wall_clock_assisted' of --out "
                             "(by transformers version; other keys and versions kept)")
    parser.add_argument("--wall-assisted-methods", nargs="+", choices=ASSISTED_METHODS,
                        help="default: all that the installed transformers has")
    parser.add_argument("--wall-assisted-period", type=int, default=16,
                        help="the prompt is this many random ids repeated to --prompt-tokens")
    parser.add_argument("--wall-assisted-rerun", action="store_true",
                        help="store this run as the rerun of the stored one of the same transformers "
                             "version, with the medians more than 10%% apart")
    parser.add_argument("--wall-lookahead", action="store_true",
                        help="instead: the --wall host time per step of Lookahead decoding (the lade "
                             "package, Spec-Bench's LEVEL 5 / WINDOW 7 / GUESS 7) and of plain "
                             "generate on the installed transformers, written under "
                             "'wall_clock_lookahead' of --out (other keys kept)")
    parser.add_argument("--wall-lookahead-rerun", action="store_true",
                        help="store this run as the rerun of the stored wall_clock_lookahead one, "
                             "with the medians more than 10%% apart")
    parser.add_argument("--lookahead-launches", action="store_true",
                        help="instead: the launches per step (profile mode) of Lookahead decoding (the "
                             "lade package, LEVEL 5 / WINDOW 7 / GUESS 7) and of plain generate on the "
                             "installed transformers, written under 'lookahead_launches' of --out "
                             "(other keys kept)")
    parser.add_argument("--lookahead-steps", type=int, default=96,
                        help="with --lookahead-launches: lade loop iterations profiled per run (more "
                             "than --steps: the steps are grouped by tokens taken)")
    parser.add_argument("--wall-eagle2", action="store_true",
                        help="instead: the --wall host time per step of EAGLE-2 (the reference code in "
                             "--eagle2-src, Spec-Bench's tree: 60 tokens, depth 5, top-10) and of plain "
                             "generate on the installed transformers, written under 'wall_clock_eagle2' of "
                             "--out (other keys kept)")
    parser.add_argument("--eagle2-src", metavar="DIR",
                        help="the folder holding the package eagle2 (the files of EAGLE2_FILES)")
    parser.add_argument("--wall-eagle2-rerun", action="store_true",
                        help="store this run as the rerun of the stored wall_clock_eagle2 one, with the "
                             "medians more than 10%% apart")
    args = parser.parse_args(argv)

    def usage(message: str):
        parser.exit(2, f"{parser.prog}: error: {message}\n")

    if args.wall_eagle2:
        if not args.eagle2_src:
            usage("--wall-eagle2 needs --eagle2-src DIR, the folder holding the eagle2 package")
        if len(set(args.layers)) < 2:
            usage("--wall-eagle2 fits a + b·L per part: give at least two depths with --layers")
        try:
            eagle2_package(args.eagle2_src)
        except ValueError as e:
            usage(str(e))
        return _wall_eagle2_main(args)
    if args.wall_assisted:
        return _wall_assisted_main(args)
    if args.wall_lookahead:
        return _wall_lookahead_main(args)
    if args.lookahead_launches:
        return _lookahead_launches_main(args)
    if args.wall:
        if len(set(args.layers)) < 2:
            parser.error("--wall fits a + b·L per part: give at least two depths with --layers")
        wall = measure_wall(args)
        report = _read_report(args.out)
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
