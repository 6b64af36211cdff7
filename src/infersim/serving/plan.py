"""Capacity planning: the fewest devices, and the layout on them, that hold a model and meet the targets.

    for n in the device counts its systems come in, smallest first:
        skip n if the weights alone overflow n devices' memory            (no estimate needed)
        for every layout tp · pp · dp (· ep) = n the model takes:
            estimate; keep it if it fits and meets the targets
        stop at the first n with a layout kept; pick the cheapest per token, then the fastest per user

Device counts come from the catalog's systems of that device (`scaled_systems`): a two-level system gives
any count up to one node (a part of a node) and whole nodes beyond; a switch any count; a torus or mesh its
power-of-two sub-slices; a device with no system, N of it behind a switch on its fastest link. Each count
that is rejected keeps its reason (the weights do not fit, the best layout is too slow), which is the
"why" of the answer.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from infersim.cost.estimate import Estimate, estimate
from infersim.cost.memory import weight_bytes as stored_weight_bytes
from infersim.cost.parallel import device_weight_bytes, switch_of
from infersim.errors import InfersimError
from infersim.specs.catalog import all_systems, load_device, load_model
from infersim.specs.device import DeviceSpec
from infersim.specs.layout import Layout
from infersim.specs.model import ModelSpec
from infersim.specs.system import DIMMED, SystemSpec, TwoLevelTopology

DEFAULT_MAX_DEVICES = 4096


@dataclass(frozen=True)
class Rejected:
    """A device count that does not do: how many, and why."""

    devices: int
    reason: str


@dataclass(frozen=True)
class Plan:
    """The answer: the chosen estimate (its system, layout and numbers), the counts ruled out before it and
    why, and how many layouts were estimated."""

    model: str
    device: str
    targets: dict[str, float | None]
    best: Estimate | None
    rejected: tuple[Rejected, ...]
    layouts_tried: int
    alternatives: tuple[Estimate, ...] = field(default=())  # other layouts on the same count that qualify
    closest: Estimate | None = None  # with no answer: of the layouts that fit, the one nearest the targets
    searched_devices: int | None = None  # with no answer: the largest count searched

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "device": self.device, "targets": self.targets,
            "devices": self.best.devices if self.best else None,
            "system": self.best.system if self.best else None,
            "layout": self.best.layout if self.best else None,
            "best": self.best.to_dict() if self.best else None,
            "rejected": [r.__dict__ for r in self.rejected], "layouts_tried": self.layouts_tried,
            "alternatives": [{"layout": e.layout, "tokens_per_s_per_user": e.output_tokens_per_s_per_user,
                              "tokens_per_s_total": e.output_tokens_per_s_total, "ttft_seconds": e.ttft_seconds,
                              "usd_per_million_tokens": e.usd_per_million_tokens} for e in self.alternatives],
            "closest": self.closest.to_dict() if self.closest else None,
            "searched_devices": self.searched_devices,
        }


# ---- device counts a device comes in ----------------------------------------------------------------
def _named(system: SystemSpec, count: int) -> SystemSpec:
    """A resized catalog system, named for its size so it is not mistaken for the catalog one."""
    return system.model_copy(update={"id": f"{system.id}/{count}", "name": f"{system.name}, resized to {count}"})


def _node_system(system: SystemSpec, count: int) -> SystemSpec:
    """`count` devices of one node of a two-level system, wired as the node is."""
    topology = system.topology
    assert isinstance(topology, TwoLevelTopology)
    fields = system.model_dump()
    fields.update(id=f"{system.id}/{count}", topology=topology.node.model_dump(), device_count=count, network=None,
                  name=f"{count} of one {system.id} node",
                  sources={**system.sources, "device_count": f"part of one {system.id} node"})
    return SystemSpec.model_validate(fields)


def _powers_of_two_dims(full: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
    """Sub-slices of a torus or mesh, growing one axis at a time by doubling: 1x1, 2x1, 2x2, 4x2, ..."""
    dims = [1] * len(full)
    yield tuple(dims)
    while True:
        grown = False
        for axis in sorted(range(len(full)), key=lambda a: dims[a]):
            if dims[axis] * 2 <= full[axis]:
                dims[axis] *= 2
                grown = True
                break
        if not grown:
            return
        yield tuple(dims)


def scaled_systems(device: DeviceSpec, max_devices: int = DEFAULT_MAX_DEVICES) -> Iterator[SystemSpec | None]:
    """Systems of `device` in growing size (None: the device alone), from the catalog's systems of it."""
    mine = sorted((s for s in all_systems() if s.device == device.id), key=lambda s: s.device_count)
    yield None
    two_level = [s for s in mine if isinstance(s.topology, TwoLevelTopology)]
    tori = [s for s in mine if isinstance(s.topology, DIMMED)]
    if two_level:
        base = two_level[-1]
        per_node = base.devices_per_node
        for n in range(2, per_node + 1):
            yield _node_system(base, n)
        for nodes in range(2, max_devices // per_node + 1):
            yield _named(base.resized(nodes * per_node), nodes * per_node)
    elif tori:
        seen = set()
        for base in tori:
            for dims in _powers_of_two_dims(tuple(base.topology.dims)):
                size = math.prod(dims)
                if 1 < size <= max_devices and size not in seen:
                    seen.add(size)
                    yield _named(base.resized(dims=dims), size)
    elif mine:
        base = mine[-1]
        limit = base.device_count if base.topology.kind == "fully-connected" else max_devices
        for n in range(2, limit + 1):
            yield base if n == base.device_count else _named(base.resized(n), n)
    elif device.scale_out_link is not None:
        n = 2
        while n <= max_devices:
            yield switch_of(device, n)
            n *= 2


# ---- layouts on n devices ---------------------------------------------------------------------------
def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def layouts_for(model: ModelSpec, n: int, batch: int, prompt_tokens: int) -> list[Layout]:
    """Every layout tp · pp · dp = n the model and batch take; MoE models also with experts split over
    all tp · dp devices of a stage where that divides the experts."""
    layouts = []
    for tp in _divisors(n):
        for pp in _divisors(n // tp):
            dp = n // (tp * pp)
            eps = [1]
            if model.moe and (tp * dp) > 1 and model.moe.num_experts % (tp * dp) == 0:
                eps.append(tp * dp)
            for ep in eps:
                layout = Layout(tp=tp, pp=pp, dp=dp, ep=ep)
                try:
                    layout.check(model, batch, prompt_tokens)
                except InfersimError:
                    continue
                layouts.append(layout)
    return layouts


def _bytes(value: float) -> str:
    return f"{value / 1e9:,.1f} GB" if value >= 1e9 else f"{value / 1e6:,.1f} MB"


def _shortfall(est: Estimate, min_tokens_per_s_per_user: float | None, max_ttft_seconds: float | None) -> float:
    """How far an estimate that fits falls short of the targets: the larger of its relative misses."""
    misses = [0.0]
    if min_tokens_per_s_per_user:
        misses.append(1 - est.output_tokens_per_s_per_user / min_tokens_per_s_per_user)
    if max_ttft_seconds:
        misses.append(est.ttft_seconds / max_ttft_seconds - 1)
    return max(misses)


def _meets(est: Estimate, min_tokens_per_s_per_user: float | None, max_ttft_seconds: float | None) -> str | None:
    """None when the estimate fits and meets the targets, else what it misses."""
    if not est.memory.fits:
        return f"needs {_bytes(est.memory.total_bytes)} per device, holds {_bytes(est.memory.capacity_bytes)}"
    if min_tokens_per_s_per_user is not None and est.output_tokens_per_s_per_user < min_tokens_per_s_per_user:
        return f"{est.output_tokens_per_s_per_user:,.1f} tokens/s per user < {min_tokens_per_s_per_user:,.1f}"
    if max_ttft_seconds is not None and est.ttft_seconds > max_ttft_seconds:
        return f"TTFT {est.ttft_seconds * 1e3:,.1f} ms > {max_ttft_seconds * 1e3:,.1f} ms"
    return None


def plan(model: str | ModelSpec, device: str | DeviceSpec, *, batch: int = 1, prompt_tokens: int = 1024,
         output_tokens: int = 256, weights_dtype: str | None = None, kv_dtype: str | None = None,
         activations_dtype: str | None = None, runtime: str | None = None,
         min_tokens_per_s_per_user: float | None = None, max_ttft_seconds: float | None = None,
         max_devices: int = DEFAULT_MAX_DEVICES, prefill_chunk_tokens: int | None = None,
         mlp_weights_dtype: str | None = None) -> Plan:
    """The fewest devices of `device`, in the systems the catalog has of it, and the layout on them that hold
    the model and meet the targets (module docstring). `prefill_chunk_tokens` prefills every candidate in
    chunks of that many tokens (layouts with context parallelism are then left out)."""
    model = load_model(model)
    device = load_device(device)
    for name, value in (("--target-tokens-per-s-per-user", min_tokens_per_s_per_user),
                        ("--max-ttft", max_ttft_seconds)):
        if value is not None and not value > 0:
            raise InfersimError(f"{name} must be positive, got {value}")
    if max_devices < 1:
        raise InfersimError(f"--max-devices must be at least 1, got {max_devices}")
    dtype = weights_dtype or activations_dtype or device.activation_dtype
    weight_bytes = stored_weight_bytes(model, dtype, mlp_weights_dtype)
    common = dict(batch=batch, prompt_tokens=prompt_tokens, output_tokens=output_tokens, weights_dtype=weights_dtype,
                  kv_dtype=kv_dtype, activations_dtype=activations_dtype, runtime=runtime,
                  prefill_chunk_tokens=prefill_chunk_tokens, mlp_weights_dtype=mlp_weights_dtype)
    chunked = prefill_chunk_tokens is not None and prefill_chunk_tokens < prompt_tokens
    targets = {"min_tokens_per_s_per_user": min_tokens_per_s_per_user, "max_ttft_seconds": max_ttft_seconds}
    rejected: list[Rejected] = []
    tried = 0
    last_fit_failure = None
    closest: Estimate | None = None
    searched = 0

    def shortfall(est: Estimate) -> float:
        return _shortfall(est, min_tokens_per_s_per_user, max_ttft_seconds)
    for system in scaled_systems(device, max_devices):
        n = system.device_count if system is not None else 1
        searched = n
        if weight_bytes > n * device.capacity_bytes:
            last_fit_failure = (n, f"{_bytes(weight_bytes)} of {dtype} weights exceed {n} x "
                                   f"{_bytes(device.capacity_bytes)}")
            continue
        if last_fit_failure is not None:
            rejected.append(Rejected(*last_fit_failure))
            last_fit_failure = None
        qualified, misses = [], []
        layouts = [lay for lay in layouts_for(model, n, batch, prompt_tokens) if not (chunked and lay.cp > 1)]
        heaviest: tuple[float, Layout] | None = None  # the layout whose busiest device overflows least
        for layout in layouts:
            stored = device_weight_bytes(model, dtype, layout, mlp_weights_dtype)
            if stored > device.capacity_bytes:  # estimate refuses it; no need to time it
                heaviest = min(heaviest or (stored, layout), (stored, layout), key=lambda sl: sl[0])
                continue
            est = estimate(model, device if system is None else None, system=system, layout=layout, **common)
            tried += 1
            miss = _meets(est, min_tokens_per_s_per_user, max_ttft_seconds)
            (misses.append((est, miss)) if miss else qualified.append(est))
        if qualified:
            qualified.sort(key=lambda e: (e.usd_per_million_tokens, -e.output_tokens_per_s_per_user))
            return Plan(model.id, device.id, targets, qualified[0], tuple(rejected), tried, tuple(qualified[1:4]))
        fitting = [(e, m) for e, m in misses if e.memory.fits]
        if fitting:  # the earlier of equals stays: min keeps the first
            closest = min(([closest] if closest else []) + [e for e, _ in fitting], key=shortfall)
            best, _ = max(fitting, key=lambda em: em[0].output_tokens_per_s_per_user)
            reason = f"best of {len(misses)} layouts ({best.layout_description}): {_meets(best, min_tokens_per_s_per_user, max_ttft_seconds)}"
        elif misses:
            tightest = min(misses, key=lambda em: em[0].memory.total_bytes)[0]
            reason = f"no layout fits: the best ({tightest.layout_description}) {_meets(tightest, None, None)}"
        elif heaviest is not None:
            stored, layout = heaviest
            reason = (f"no layout fits: the best ({layout.describe()}) stores {_bytes(stored)} of weights on its busiest device, "
                      f"which holds {_bytes(device.capacity_bytes)}")
        else:
            reason = "no layout of the model divides this many devices"
        rejected.append(Rejected(n, reason))
    if last_fit_failure is not None:
        rejected.append(Rejected(*last_fit_failure))
    return Plan(model.id, device.id, targets, None, tuple(rejected), tried, closest=closest, searched_devices=searched)

