"""What a multi-chip system is: how many devices of which catalog device, wired in which topology, over
links of what bandwidth and latency.

A system is data (one YAML file each under `catalog/systems/`), like a device. Every figure in the file is
`{value, source}` (see `figure.py`); the sources are kept by dotted path in `sources`. Specs know nothing of
time: the cost of a collective on a system lives in `cost/collectives.py`.

Topologies (the `kind` of `topology`):

- `switch`: every device reaches every other through a switch (NVSwitch, an Ethernet or InfiniBand
  switch); a device's links all go into the switch, so its bandwidth is links × per-link bandwidth.
- `fully-connected`: a direct link (or bundle) between every pair of devices (MI300X xGMI mesh, a Groq
  8-card node); `link.links_per_device` counts all of a device's links to its peers, at least n − 1.
- `ring`, `torus-2d`, `torus-3d`, `mesh-2d`: links to nearest neighbours only; `link` describes one
  neighbour connection and `links_per_device` counts the ports, 2 per axis. A torus wraps around every axis;
  a mesh wraps none (its edge ports are free).
- `two-level`: `nodes` nodes of `devices_per_node` devices, wired inside a node as `node` (one of the kinds
  above) over `link`, and between nodes over `network` (a non-blocking fabric: fat tree, Dragonfly,
  Ethernet), whose figures are per device.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, Union

from pydantic import (BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, PositiveInt, ValidationError,
                      model_validator)

from infersim.errors import InfersimError

_FROZEN = ConfigDict(frozen=True, extra="forbid")

TOPOLOGY_KINDS = ("switch", "fully-connected", "ring", "torus-2d", "torus-3d", "mesh-2d", "two-level")


class LinkLevel(BaseModel):
    """The links of one level of a system, as one device sees them.

    `bytes_per_s_per_direction` is one link (one neighbour connection on a ring, torus or mesh);
    `links_per_device` how many such links a device has at this level; `latency_seconds` the α of one step
    or hop of a collective (NCCL's per-step latency, a torus's per-hop latency); `base_latency_seconds` the
    fixed cost of launching one collective (NCCL's base latency), 0 where collectives are compiled into one
    program.
    """

    model_config = _FROZEN
    name: str
    bytes_per_s_per_direction: PositiveFloat
    links_per_device: PositiveInt
    latency_seconds: NonNegativeFloat
    base_latency_seconds: NonNegativeFloat = 0.0

    @property
    def device_bytes_per_s_per_direction(self) -> float:
        """All of a device's links at this level together, per direction."""
        return self.bytes_per_s_per_direction * self.links_per_device


class SwitchTopology(BaseModel):
    model_config = _FROZEN
    kind: Literal["switch"]


class FullyConnectedTopology(BaseModel):
    model_config = _FROZEN
    kind: Literal["fully-connected"]


class RingTopology(BaseModel):
    model_config = _FROZEN
    kind: Literal["ring"]


class Torus2DTopology(BaseModel):
    model_config = _FROZEN
    kind: Literal["torus-2d"]
    dims: tuple[PositiveInt, PositiveInt]


class Torus3DTopology(BaseModel):
    model_config = _FROZEN
    kind: Literal["torus-3d"]
    dims: tuple[PositiveInt, PositiveInt, PositiveInt]


class Mesh2DTopology(BaseModel):
    model_config = _FROZEN
    kind: Literal["mesh-2d"]
    dims: tuple[PositiveInt, PositiveInt]


FlatTopology = Annotated[
    Union[SwitchTopology, FullyConnectedTopology, RingTopology, Torus2DTopology, Torus3DTopology, Mesh2DTopology],
    Field(discriminator="kind"),
]


class TwoLevelTopology(BaseModel):
    """`nodes` nodes of `devices_per_node` devices: `node` inside a node, a network between nodes."""

    model_config = _FROZEN
    kind: Literal["two-level"]
    devices_per_node: PositiveInt
    nodes: PositiveInt
    node: FlatTopology


Topology = Annotated[
    Union[SwitchTopology, FullyConnectedTopology, RingTopology, Torus2DTopology, Torus3DTopology, Mesh2DTopology,
          TwoLevelTopology],
    Field(discriminator="kind"),
]

DIMMED = (Torus2DTopology, Torus3DTopology, Mesh2DTopology)


def topology_device_count(topology: Topology) -> int | None:
    """Devices the topology itself fixes: the product of a torus's or mesh's dims, nodes × devices per
    node; None for a switch, fully-connected group or ring, which take any count."""
    if isinstance(topology, DIMMED):
        return math.prod(topology.dims)
    if isinstance(topology, TwoLevelTopology):
        return topology.nodes * topology.devices_per_node
    return None


def _describe(topology: Topology) -> str:
    if isinstance(topology, DIMMED):
        return f"{topology.kind} dims {'x'.join(map(str, topology.dims))}"
    if isinstance(topology, TwoLevelTopology):
        return f"two-level topology of {topology.nodes} nodes x {topology.devices_per_node} devices"
    return topology.kind


def _check_level(topology: Topology, link: LinkLevel, devices: int, where: str) -> None:
    """Ports a flat topology needs: n − 1 links for fully connected, 2 per axis on rings, tori and meshes."""
    if isinstance(topology, FullyConnectedTopology) and link.links_per_device < devices - 1:
        raise ValueError(f"{where}.links_per_device {link.links_per_device} is fewer than the {devices - 1} peers "
                         f"a fully-connected group of {devices} devices needs")
    axes = 1 if isinstance(topology, RingTopology) else len(getattr(topology, "dims", ())) or None
    if axes and link.links_per_device != 2 * axes:
        raise ValueError(f"{where}.links_per_device must be {2 * axes} on a {topology.kind} (one port per "
                         f"neighbour, 2 per axis; bundle parallel links into one by raising bytes_per_s_per_direction)")


class SystemSpec(BaseModel):
    """`device_count` devices of catalog device `device`, wired as `topology` over `link` (inside a node for
    a two-level system) and `network` (between nodes; two-level systems only)."""

    model_config = _FROZEN
    id: str
    name: str
    device: str = Field(description="catalog device id")
    device_count: PositiveInt
    topology: Topology
    link: LinkLevel
    network: LinkLevel | None = None
    notes: str = ""
    sources: dict[str, str] = Field(default_factory=dict, description="dotted figure path -> source")

    @model_validator(mode="after")
    def _check(self) -> "SystemSpec":
        expected = topology_device_count(self.topology)
        if expected is not None and expected != self.device_count:
            raise ValueError(f"device_count {self.device_count} does not match the {_describe(self.topology)} "
                             f"({expected} devices)")
        if isinstance(self.topology, TwoLevelTopology):
            node = self.topology.node
            inside = topology_device_count(node)
            if inside is not None and inside != self.topology.devices_per_node:
                raise ValueError(f"topology.devices_per_node {self.topology.devices_per_node} does not match the "
                                 f"node's {_describe(node)} ({inside} devices)")
            if self.network is None:
                raise ValueError("a two-level system needs a network block (the links between nodes)")
            _check_level(node, self.link, self.topology.devices_per_node, "link")
        else:
            if self.network is not None:
                raise ValueError(f"network is only for two-level systems; this one is {self.topology.kind}")
            _check_level(self.topology, self.link, self.device_count, "link")
        return self

    # ---- derived figures --------------------------------------------------------------------------
    @property
    def devices_per_node(self) -> int:
        """Devices inside one node: all of them unless the system is two-level."""
        return self.topology.devices_per_node if isinstance(self.topology, TwoLevelTopology) else self.device_count

    @property
    def nodes(self) -> int:
        return self.topology.nodes if isinstance(self.topology, TwoLevelTopology) else 1

    @property
    def device_bytes_per_s_per_direction(self) -> float:
        """One device's links inside its node (or the whole system) together, per direction."""
        return self.link.device_bytes_per_s_per_direction

    def device_spec(self):  # -> DeviceSpec (imported lazily: the catalog imports this module)
        """The catalog `DeviceSpec` the system is built from."""
        from infersim.specs.catalog import load_device

        return load_device(self.device)

    def resized(self, device_count: int | None = None, *, dims: tuple[int, ...] | None = None) -> "SystemSpec":
        """The same system with another number of devices (nodes for a two-level system, which must be a
        whole number; dims for a torus or mesh): e.g. a Groq deployment of 576 chips from `groq-rack`. Sources
        stay as they are, with `device_count` marked as changed."""
        topology = self.topology
        if isinstance(topology, DIMMED):
            if dims is None:
                raise InfersimError(f"{self.id}: resize a {topology.kind} by its dims, "
                                    f"e.g. dims={tuple(topology.dims)}")
            topology = topology.model_copy(update={"dims": tuple(dims)})
            device_count = math.prod(dims)
        elif device_count is None:
            raise InfersimError(f"{self.id}: resized needs a device_count")
        elif isinstance(topology, TwoLevelTopology):
            if device_count % topology.devices_per_node:
                raise InfersimError(f"{self.id}: device_count {device_count} is not a whole number of "
                                 f"{topology.devices_per_node}-device nodes")
            topology = topology.model_copy(update={"nodes": device_count // topology.devices_per_node})
        fields = self.model_dump()
        fields.update(topology=topology.model_dump(), device_count=device_count,
                      sources={**self.sources, "device_count": f"resized from {self.id} ({self.device_count} devices)"})
        try:
            return SystemSpec.model_validate(fields)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            message = first["msg"].removeprefix("Value error, ")
            prefix = f"{where}: " if where else ""
            raise InfersimError(f"{self.id} resized to {device_count}: {prefix}{message}") from None
