"""A layout on a system: what one device stores, which device groups run which collectives, and the
layout infersim picks when none is given.

Per-device footprints follow the sharding of `ops.py` (specs/layout.py has the rules): a tensor-parallel
device stores 1/tp of the projections, the MLP and the vocabulary, whole copies of what is not split
(norms, the router, an MLA latent projection, key/value heads when tp > H_kv), E/ep experts of width
f_e/(tp·dp/ep), d_in/tp of an SSM block's channels (`ModelSpec.ssm_params_per_layer`), and the layers of
its pipeline stage (of whatever kinds fall in it: a hybrid's attention and SSM layers are not evenly
spread); the first stage also holds the embedding and the last the LM head and final norm. Data- and
context-parallel replicas store everything again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from infersim.cost.collectives import Group
from infersim.errors import InfersimError
from infersim.specs.device import DeviceSpec
from infersim.specs.dtypes import bytes_per_element
from infersim.specs.layout import Layout, split
from infersim.specs.model import ModelSpec
from infersim.specs.system import LinkLevel, SwitchTopology, SystemSpec


SPATIAL_MACHINES = ("wafer", "sram-dataflow")


def lays_out_layers(device: DeviceSpec) -> bool:
    """Whether the device gives each layer its own cores and memory (estimate.py: R layer regions): a spatial
    machine whose weights live in its on-chip SRAM (an LPU, a wafer). A dataflow chip that streams its
    weights from a shared HBM (SambaNova's SN40L) runs every layer on the whole chip, like a GPU."""
    return device.execution_model in SPATIAL_MACHINES and device.main_memory.technology.lower().startswith("sram")


# ---- what one device stores -------------------------------------------------------------------------
def attention_elements_per_device(model: ModelSpec, layout: Layout) -> int:
    """Attention weights of one layer on one tensor-parallel device: H/tp query heads and the output, and
    H_kv' = max(1, H_kv/tp) key/value heads, biases split alike; MLA's low-rank down-projections and their
    norms copied on every device (`ModelSpec.attention_params_per_layer` of one device's heads)."""
    return model.attention_params_per_layer(heads=model.num_attention_heads // layout.tp,
                                            kv_heads=layout.kv_heads_per_device(model))


def mlp_elements_per_device(model: ModelSpec, layout: Layout, moe_layer: bool) -> int:
    """MLP weights of one layer on one device: the dense MLP split over tp; or the router (copied) and E/ep
    experts (and the shared ones) split over tp·dp/ep devices, or over tp when ep = 1."""
    if not moe_layer:
        return model.mlp_params(split(model.intermediate_size, layout.tp))
    moe = model.moe
    assert moe is not None
    if layout.ep > 1:
        experts, width = moe.num_experts // layout.ep, split(moe.expert_intermediate_size, layout.expert_tp)
    else:
        experts, width = moe.num_experts, split(moe.expert_intermediate_size, layout.tp)
    router = model.hidden_size * moe.num_experts
    return router + (experts + moe.num_shared_experts) * model.mlp_params(width)


def stage_groups(model: ModelSpec, layout: Layout, stage: int) -> dict[tuple[str, str], int]:
    """Layers of each (mixer, MLP) kind in pipeline stage `stage` (0-based)."""
    layers = layout.stage_layers(model.num_layers)
    first = sum(layers[:stage])
    return model.layer_groups(first, first + layers[stage])


def stage_weight_elements(model: ModelSpec, layout: Layout, stage: int) -> int:
    """Weights one device of pipeline stage `stage` (0-based) stores."""
    return sum(stage_weight_parts(model, layout, stage))


def stage_weight_parts(model: ModelSpec, layout: Layout, stage: int) -> tuple[int, int]:
    """(MLP and expert weights, all the others) one device of pipeline stage `stage` stores."""
    total = mlp_total = 0
    for (mixer, mlp), layers in stage_groups(model, layout, stage).items():
        per_layer = (attention_elements_per_device(model, layout) if mixer == "attention"
                     else model.ssm_params_per_layer(layout.tp)) + model.norm_params_per_layer(mlp != "none")
        total += layers * per_layer
        if mlp != "none":
            mlp_total += layers * mlp_elements_per_device(model, layout, mlp == "moe")
    vocab_slice = split(model.vocab_size, layout.tp) * model.hidden_size
    last = stage == layout.pp - 1
    if stage == 0:
        total += vocab_slice  # the embedding (and, when tied and pp = 1, the LM head too)
    if last:
        tied_here = model.tie_word_embeddings and stage == 0
        total += (0 if tied_here else vocab_slice) + model.norm_elements()
    return mlp_total, total


def device_weight_bytes(model: ModelSpec, weights_dtype: str, layout: Layout,
                        mlp_weights_dtype: str | None = None) -> float:
    """Weight bytes of the busiest device: the stage that stores the most (MLP and expert weights in
    `mlp_weights_dtype` when given)."""
    b, b_mlp = bytes_per_element(weights_dtype), bytes_per_element(mlp_weights_dtype or weights_dtype)

    def stored(stage: int) -> float:
        mlp, rest = stage_weight_parts(model, layout, stage)
        return mlp * b_mlp + rest * b
    return max(stored(s) for s in range(layout.pp))


def _busiest_stage_share(model: ModelSpec, layout: Layout, mixer: str) -> float:
    """The largest fraction of the model's `mixer` layers (attention or SSM) that one pipeline stage holds."""
    total = sum(n for (x, _), n in model.layer_groups().items() if x == mixer)
    if not total:
        return 0.0
    return max(sum(n for (x, _), n in stage_groups(model, layout, s).items() if x == mixer)
               for s in range(layout.pp)) / total


def kv_share(model: ModelSpec, layout: Layout) -> float:
    """Fraction of one sequence's KV cache one device of the busiest stage holds: its attention layers, its
    key/value heads (all of the MLA latent, which tensor parallelism cannot split), and 1/cp of the tokens
    (0 for a model without attention layers)."""
    if not model.num_attention_layers:
        return 0.0
    heads = 1.0 if model.mla else layout.kv_heads_per_device(model) / model.num_key_value_heads
    return _busiest_stage_share(model, layout, "attention") * heads / layout.cp


def ssm_state_share(model: ModelSpec, layout: Layout) -> float:
    """Fraction of one sequence's SSM state (`memory.ssm_state_bytes_per_sequence`) one device of the stage
    with the most SSM layers holds: those layers, and ⌈d_in/tp⌉/d_in of their channels (0 without SSM layers).
    With `kv_share` it bounds the busiest device from above when the two maxima fall on different stages."""
    if not model.num_ssm_layers:
        return 0.0
    d_in = model.ssm_inner_size
    return _busiest_stage_share(model, layout, "ssm") * split(d_in, layout.tp) / d_in


# ---- which devices talk -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Groups:
    """The device groups of a layout on a system: who runs each axis's collectives, and the link a pipeline
    stage sends its activations over to the next."""

    by_axis: dict[str, Group]
    stage_link: Group | None

    def for_axis(self, axis: str) -> Group:
        return self.by_axis[axis]


def _group(system: SystemSpec, size: int, what: str) -> Group:
    try:
        return Group.from_system(system, size)
    except InfersimError as exc:
        raise InfersimError(f"the {what} group of {size} devices has no route on '{system.id}': {exc}") from None


def groups_for(system: SystemSpec, layout: Layout) -> Groups:
    """Devices are numbered tp fastest, then cp, dp and pp (Megatron's order): a tensor-parallel group is the
    closest devices (inside one node when it fits), an expert group the tp·dp devices of a stage, a context
    group cp of them, and consecutive stages sit next to each other."""
    if layout.devices > system.device_count:
        raise InfersimError(f"the layout {layout.describe()} needs {layout.devices} devices; system '{system.id}' "
                            f"has {system.device_count}")
    by_axis = {"tp": _group(system, layout.tp, "tensor-parallel")}
    by_axis["ep"] = _group(system, layout.tp * layout.dp, "expert-parallel") if layout.ep > 1 else by_axis["tp"]
    by_axis["cp"] = _group(system, layout.cp, "context-parallel")
    stage_link = None
    if layout.pp > 1:
        stage = layout.stage_devices
        per_node = system.devices_per_node
        # the next stage's devices are `stage` further on: in this node, or (past it) on the next one
        size = 2 if stage < per_node else 2 * per_node
        stage_link = _group(system, min(size, system.device_count), "pipeline stage-to-stage")
    return Groups(by_axis, stage_link)


def switch_of(device: DeviceSpec, count: int) -> SystemSpec:
    """`count` of `device` behind one switch on its fastest chip-to-chip link (`--devices N` without a system).

    Assumption stated in the system's notes: every device reaches every other at its full link bandwidth,
    as in an NVSwitch node; the link's own latency (or 1 µs) per step, no base latency."""
    link = device.scale_out_link
    if link is None:
        raise InfersimError(f"{device.id} lists no chip-to-chip links, so {count} of them cannot be joined; "
                            f"give --system (see `infersim systems`)")
    latency = link.latency_seconds if link.latency_seconds is not None else 1e-6
    return SystemSpec(
        id=f"{device.id}x{count}", name=f"{count} x {device.name} ({link.name} switch, assumed)", device=device.id,
        device_count=count, topology=SwitchTopology(kind="switch"),
        link=LinkLevel(name=link.name, bytes_per_s_per_direction=link.bytes_per_s_per_direction,
                       links_per_device=link.count, latency_seconds=latency),
        notes="assumed: every device reaches every other through a switch at its full link bandwidth",
        sources={"device_count": "--devices", "link": f"{device.id} links.{link.name}"},
    )


def default_layout(model: ModelSpec, system: SystemSpec, batch: int, prompt_tokens: int) -> Layout:
    """The layout used when none is given: tensor parallelism over as many devices of a node as the heads
    allow, pipeline stages over the rest (as far as layers allow), data parallelism for what is left.
    Machines that lay layers out in space (an LPU or a wafer) pipeline layers first, as their compilers do.
    When no layout takes every device (a TPU pod for a small model at batch 1), the one that takes the most,
    the rest left idle (the estimate says so)."""
    n = system.device_count
    spatial = lays_out_layers(system.device_spec())

    def valid(layout: Layout) -> bool:
        try:
            layout.check(model, batch, prompt_tokens)
        except InfersimError:
            return False
        return True

    def key(layout: Layout) -> tuple:
        in_node = layout.tp <= system.devices_per_node
        return (layout.dp, -layout.pp, -layout.tp) if spatial else (layout.dp, not in_node, -layout.tp)

    candidates = []
    for tp in (d for d in range(1, n + 1) if n % d == 0):
        for pp in (d for d in range(1, n // tp + 1) if (n // tp) % d == 0):
            layout = Layout(tp=tp, pp=pp, dp=n // (tp * pp))
            if valid(layout):
                candidates.append((key(layout), layout))
    if candidates:
        return min(candidates, key=lambda kv: kv[0])[1]
    fewer = _largest_layout_within(model, system, batch, prompt_tokens, valid)
    if fewer is None:
        raise InfersimError(f"no layout of {model.id} fits the {n} devices of '{system.id}' with batch {batch}; "
                            f"give --tp/--pp/--dp")
    return min(fewer, key=key)


def _largest_layout_within(model: ModelSpec, system: SystemSpec, batch: int, prompt_tokens: int,
                           valid: Callable[[Layout], bool]) -> list[Layout] | None:
    """The valid layouts on the most devices the system can group (tp over the heads' divisors, pp up to
    the layers, dp over the batch's divisors), or None when not even one device does."""
    heads = model.num_attention_heads or 1
    most, best = 0, []
    for tp in (d for d in range(1, heads + 1) if heads % d == 0):
        for pp in range(1, model.num_layers + 1):
            for dp in (d for d in range(1, batch + 1) if batch % d == 0):
                layout = Layout(tp=tp, pp=pp, dp=dp)
                if not most <= layout.devices <= system.device_count or not valid(layout):
                    continue
                try:
                    groups_for(system, layout)
                except InfersimError:  # a shape the topology cannot group (a torus's sub-slices)
                    continue
                if layout.devices > most:
                    most, best = layout.devices, []
                best.append(layout)
    return best or None
