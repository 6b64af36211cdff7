"""Alpha-beta cost of collectives (AllReduce, AllGather, ReduceScatter, AllToAll, send/recv) on a group of
devices wired as a switch, a full mesh, a ring, a torus, a mesh or two levels of these.

Every algorithm costs T = α₀ + h·α + V/W: a fixed launch cost α₀ (NCCL's base latency), h sequential steps or
hops of α each (NCCL's per-step latency, a torus's per-hop latency), and the bytes V that cross the busiest
link-direction of a device divided by that link's bandwidth W, all links running in parallel with the steps
pipelined (Hockney's α-β model; NCCL `src/graph/tuning.cc`, systems.md AB1; scaling-book "How to Think About
TPUs" and "Sharded Matrices" for tori, "How to Think About GPUs" for NVLink and InfiniBand).

`bytes` is always the buffer of one device, as nccl-tests sizes it:
  - all-reduce: the buffer each device holds before and after (B in, B out);
  - all-gather: the gathered output on each device (each contributes B/n);
  - reduce-scatter: the input on each device (each keeps a reduced B/n);
  - all-to-all: what one device sends, B/n to each member (its own share stays);
  - send-recv: what one device sends to one other.

Symbols: n devices in the group, B bytes, W a device's bandwidth per direction for the algorithm, α per-step
latency, α₀ base latency, m devices per node and N nodes (two-level), a_i the size of torus axis i.
Specs know nothing of time, so a `SystemSpec` is turned into a `Group` here (`Group.from_system`).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

from infersim.errors import InfersimError, closest_names
from infersim.specs.system import (TOPOLOGY_KINDS, FullyConnectedTopology, RingTopology, SwitchTopology, SystemSpec,
                                   TwoLevelTopology)

COLLECTIVES = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all", "send-recv")
_ALIASES = {
    "allreduce": "all-reduce", "allgather": "all-gather", "reducescatter": "reduce-scatter",
    "alltoall": "all-to-all", "sendrecv": "send-recv", "send/recv": "send-recv", "p2p": "send-recv",
}
_DIMS_OF = {"torus-2d": 2, "torus-3d": 3, "mesh-2d": 2, "ring": 1}


@dataclass(frozen=True, slots=True)
class CollectiveTime:
    """Time of one collective: `seconds` = `latency_seconds` (α₀ + hops·α) + `bandwidth_seconds` (V/W), the
    `algorithm` that gives it and the sequential steps or hops it takes."""

    seconds: float
    latency_seconds: float
    bandwidth_seconds: float
    algorithm: str
    hops: int

    def __add__(self, other: "CollectiveTime") -> "CollectiveTime":
        """Two collectives run one after the other (the phases of a two-level algorithm)."""
        return CollectiveTime(self.seconds + other.seconds, self.latency_seconds + other.latency_seconds,
                              self.bandwidth_seconds + other.bandwidth_seconds,
                              f"{self.algorithm}+{other.algorithm}", self.hops + other.hops)


def _time(latency_seconds: float, bandwidth_seconds: float, algorithm: str, hops: int) -> CollectiveTime:
    return CollectiveTime(latency_seconds + bandwidth_seconds, latency_seconds, bandwidth_seconds, algorithm, hops)


# ---- the group ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Group:
    """n devices taking part in a collective, their topology and link figures.

    `bytes_per_s_per_direction` is one link (one neighbour connection on a ring, torus or mesh; one link to
    a peer in a fully-connected group); `links_per_device` how many a device has inside the group;
    `latency_seconds` α per step or hop and `base_latency_seconds` α₀ per collective. Rings, tori and meshes
    carry `dims` (their product is `size`) and `wraparound` per axis (default: a torus or ring wraps every
    axis, a mesh none). A `two-level` group has `node`, the group inside one node (`size` a multiple of
    `node.size`), and its own link figures describe the network between nodes, per device.
    """

    size: int
    topology: str
    bytes_per_s_per_direction: float
    latency_seconds: float = 0.0
    links_per_device: int = 1
    dims: tuple[int, ...] = ()
    wraparound: tuple[bool, ...] | None = None
    base_latency_seconds: float = 0.0
    node: Group | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise InfersimError(f"a group needs at least 1 device, got size {self.size!r}")
        if self.topology not in TOPOLOGY_KINDS:
            near = closest_names(self.topology, TOPOLOGY_KINDS)
            hint = f"did you mean {', '.join(near)}?" if near else f"known: {', '.join(TOPOLOGY_KINDS)}"
            raise InfersimError(f"unknown topology '{self.topology}': {hint}")
        if not (math.isfinite(self.bytes_per_s_per_direction) and self.bytes_per_s_per_direction > 0):
            raise InfersimError(f"bytes_per_s_per_direction must be positive, got {self.bytes_per_s_per_direction}")
        if not (self.latency_seconds >= 0 and self.base_latency_seconds >= 0):
            raise InfersimError("latency_seconds and base_latency_seconds must be >= 0")
        if self.links_per_device < 1:
            raise InfersimError(f"links_per_device must be at least 1, got {self.links_per_device}")
        if self.topology in _DIMS_OF:
            dims = tuple(self.dims) or ((self.size,) if self.topology == "ring" else ())
            if len(dims) != _DIMS_OF[self.topology] or any(a < 1 for a in dims):
                raise InfersimError(f"a {self.topology} group needs {_DIMS_OF[self.topology]} positive dims, "
                                    f"got {dims}")
            if math.prod(dims) != self.size:
                raise InfersimError(f"dims {'x'.join(map(str, dims))} hold {math.prod(dims)} devices, "
                                    f"not size {self.size}")
            wrap = self.wraparound if self.wraparound is not None else (
                (False,) * len(dims) if self.topology == "mesh-2d" else (True,) * len(dims))
            if len(wrap) != len(dims):
                raise InfersimError(f"wraparound needs one flag per axis ({len(dims)}), got {len(wrap)}")
            object.__setattr__(self, "dims", dims)
            object.__setattr__(self, "wraparound", tuple(bool(w) for w in wrap))
        if self.topology == "fully-connected" and self.links_per_device < self.size - 1:
            raise InfersimError(f"a fully-connected group of {self.size} needs at least {self.size - 1} links per "
                                f"device, got {self.links_per_device}")
        if self.topology == "two-level":
            if self.node is None or self.node.topology == "two-level":
                raise InfersimError("a two-level group needs node: the (flat) group inside one node")
            if self.size % self.node.size:
                raise InfersimError(f"a two-level group of {self.size} is not a whole number of "
                                    f"{self.node.size}-device nodes")
        elif self.node is not None:
            raise InfersimError(f"node is only for two-level groups, not {self.topology}")

    # ---- derived figures ------------------------------------------------------------------------------
    @property
    def device_bytes_per_s_per_direction(self) -> float:
        """All of a device's links in the group together, per direction (the network's, if two-level)."""
        return self.bytes_per_s_per_direction * self.links_per_device

    @property
    def nodes(self) -> int:
        return self.size // self.node.size if self.node is not None else 1

    @property
    def network(self) -> "Group":
        """Two-level only: the devices of one rail (the same position in every node) across the network,
        modelled as a non-blocking switch."""
        if self.node is None:
            raise InfersimError(f"a {self.topology} group has no network level")
        return Group(self.nodes, "switch", self.bytes_per_s_per_direction, self.latency_seconds,
                     self.links_per_device, base_latency_seconds=self.base_latency_seconds)

    @property
    def axes(self) -> tuple[tuple[int, bool], ...]:
        """(size, wraps) of each axis longer than 1 of a ring, torus or mesh."""
        return tuple((a, w) for a, w in zip(self.dims, self.wraparound or ()) if a > 1)

    # ---- from a system -------------------------------------------------------------------------------
    @classmethod
    def from_system(cls, system: SystemSpec, size: int | None = None,
                    dims: tuple[int, ...] | None = None) -> "Group":
        """The group of `size` devices of `system` (all of them by default), e.g. tp = 8 inside a node.

        A switch or fully-connected group takes any subset; a subset of a ring is an arc (no wraparound); a
        subset of a torus or mesh is a sub-slice of `dims` (placed greedily along the axes when not given),
        which keeps an axis's wraparound only when it spans the whole axis; a two-level system gives a flat
        group when `size` fits in one node, and a two-level group of whole nodes otherwise.
        """
        total = system.device_count
        if size is None:
            size = math.prod(dims) if dims else total
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InfersimError(f"a group needs at least 1 device, got {size!r}")
        if size > total:
            raise InfersimError(f"a group of {size} devices is larger than system '{system.id}' ({total} devices)")
        topology, link = system.topology, system.link
        if isinstance(topology, TwoLevelTopology):
            per_node = topology.devices_per_node
            if size <= per_node:
                return _flat_group(topology.node, link, per_node, size, dims, system.id)
            if size % per_node:
                raise InfersimError(f"a group of {size} on '{system.id}' must fit in one node ({per_node} devices) "
                                    f"or span whole nodes (a multiple of {per_node})")
            node = _flat_group(topology.node, link, per_node, per_node, None, system.id)
            network = system.network
            assert network is not None  # SystemSpec validation
            return cls(size, "two-level", network.bytes_per_s_per_direction, network.latency_seconds,
                       network.links_per_device, base_latency_seconds=network.base_latency_seconds, node=node)
        return _flat_group(topology, link, total, size, dims, system.id)


def _flat_group(topology, link, total: int, size: int, dims: tuple[int, ...] | None, system_id: str) -> Group:
    """`size` of the `total` devices of one flat topology level (see `Group.from_system`)."""
    common = dict(latency_seconds=link.latency_seconds, base_latency_seconds=link.base_latency_seconds)
    if isinstance(topology, SwitchTopology):
        return Group(size, "switch", link.bytes_per_s_per_direction, links_per_device=link.links_per_device, **common)
    if isinstance(topology, FullyConnectedTopology):
        # links spread evenly over the peers; a subset keeps only the links to its own members
        per_peer = link.device_bytes_per_s_per_direction / max(total - 1, 1)
        return Group(size, "fully-connected", per_peer, links_per_device=max(size - 1, 1), **common)
    if isinstance(topology, RingTopology):
        return Group(size, "ring", link.bytes_per_s_per_direction, links_per_device=2, dims=(size,),
                     wraparound=(size == total,), **common)
    full = tuple(topology.dims)
    dims = tuple(dims) if dims is not None else _greedy_slice(size, full, system_id)
    if len(dims) != len(full) or any(a < 1 or a > b for a, b in zip(dims, full)) or math.prod(dims) != size:
        raise InfersimError(f"dims {'x'.join(map(str, dims))} are not a {size}-device sub-slice of "
                            f"'{system_id}' ({'x'.join(map(str, full))})")
    wrap = tuple(topology.kind.startswith("torus") and a == b for a, b in zip(dims, full))
    return Group(size, topology.kind, link.bytes_per_s_per_direction, links_per_device=link.links_per_device,
                 dims=dims, wraparound=wrap, **common)


def _greedy_slice(size: int, full: tuple[int, ...], system_id: str) -> tuple[int, ...]:
    """Fill axes in order with the largest divisor of what is left that fits: 16 of 8x8x8 -> 8x2x1."""
    left, dims = size, []
    for axis in full:
        take = max(d for d in range(1, min(axis, left) + 1) if left % d == 0)
        dims.append(take)
        left //= take
    if left != 1:
        raise InfersimError(f"cannot place a group of {size} as a sub-slice of '{system_id}' "
                            f"({'x'.join(map(str, full))}); pass dims")
    return tuple(dims)


# ---- bandwidths the algorithms see -------------------------------------------------------------------
def _phases(kind: str) -> int:
    """AllReduce = ReduceScatter + AllGather: two passes over the data; the others one."""
    return 2 if kind == "all-reduce" else 1


def _has_hamiltonian_ring(group: Group) -> bool:
    """Whether a cycle through every device exists on neighbour links: a wrapped single axis, or two or more
    axes with an even device count or some wraparound (a snake)."""
    axes = group.axes
    if len(axes) == 1:
        return axes[0][1] and axes[0][0] > 2
    return len(axes) >= 2 and (group.size % 2 == 0 or any(w for _, w in axes))


def ring_bandwidth(group: Group) -> tuple[float, int]:
    """(W, hops per pass) of a ring AllGather/ReduceScatter on `group`.

    Switch: NCCL's unidirectional ring over all of a device's links, W = links × per-link, n − 1 steps.
    Fully connected: a bidirectional ring on 2 of the n − 1 peer links, W = 2 × per-peer, ⌊n/2⌋ hops (each
    shard floods both ways). Ring, torus, mesh: a bidirectional ring on neighbour links where a cycle through
    all devices exists (W = 2 × per-link, ⌊n/2⌋ hops); on a line without wraparound the data cannot go both
    ways round, W = per-link and n − 1 hops, twice the time (scaling-book "Sharded Matrices", AllGather pop
    quiz on a v5e axis without wraparound). Two devices share one link (or two, if their axis wraps).
    """
    n = group.size
    if group.topology == "switch":
        return group.device_bytes_per_s_per_direction, n - 1
    if group.topology == "fully-connected":
        per_peer = group.device_bytes_per_s_per_direction / (n - 1)
        return (per_peer, 1) if n == 2 else (2 * per_peer, n // 2)
    if n == 2:
        wraps = group.axes[0][1]
        return group.bytes_per_s_per_direction * (2 if wraps else 1), 1
    if _has_hamiltonian_ring(group):
        return 2 * group.bytes_per_s_per_direction, n // 2
    return group.bytes_per_s_per_direction, n - 1


# ---- one formula per algorithm -----------------------------------------------------------------------
def ring_seconds(kind: str, bytes: float, group: Group) -> CollectiveTime:
    """Ring ReduceScatter / AllGather / AllReduce.

    T_RS = T_AG = α₀ + h·α + (n−1)/n · B/W and T_AR = α₀ + 2h·α + 2(n−1)/n · B/W, with W and h from
    `ring_bandwidth` (NCCL tuning model: ring all-reduce latency = base + 2(n−1) × per-step and
    bus bandwidth = algorithm bandwidth × 2(n−1)/n, systems.md AB1; scaling-book: AllGather ≈ bytes / W_bidir).
    On a two-level group the ring runs through every device (NCCL's multi-node ring): per pass a chunk takes
    n − N intra-node steps and N − 1 network steps, and W = min(W_node-ring, m × W_network-per-device), since
    the m rings of a node (NCCL channels) each cross the network on their own NIC.
    """
    n, phases = group.size, _phases(kind)
    if group.topology == "two-level":
        node, m, nodes = group.node, group.node.size, group.nodes
        node_bandwidth = ring_bandwidth(node)[0] if m > 1 else math.inf
        bandwidth = min(node_bandwidth, m * group.device_bytes_per_s_per_direction)
        latency = max(node.base_latency_seconds, group.base_latency_seconds) + phases * (
            (n - nodes) * node.latency_seconds + (nodes - 1) * group.latency_seconds)
        return _time(latency, phases * (n - 1) / n * bytes / bandwidth, "ring", phases * (n - 1))
    bandwidth, hops = ring_bandwidth(group)
    return _time(group.base_latency_seconds + phases * hops * group.latency_seconds,
                 phases * (n - 1) / n * bytes / bandwidth, "ring", phases * hops)


def tree_seconds(kind: str, bytes: float, group: Group) -> CollectiveTime:
    """Pipelined double binary tree (NCCL's "tree", Sanders, Speck & Träff 2009).

    AllReduce: T = α₀ + 2⌈log₂n⌉·α + 2·B/W: a reduce up and a broadcast down, each ⌈log₂n⌉ steps, each device
    sending and receiving ≈ 2B in all (NCCL tuning.cc converts tree bus bandwidth to algorithm bandwidth with
    ratio 0.5, systems.md AB1). ReduceScatter as a tree reduce then a scatter from the root, AllGather as a
    gather then a broadcast (how MPICH did short messages; Thakur, Rabenseifner & Gropp 2005):
    T = α₀ + 2⌈log₂n⌉·α + (1 + (n−1)/n)·B/W, never above the tree AllReduce. W is a device's bandwidth into
    the switch. On a two-level group, NCCL's shape: a chain inside each node and a tree across nodes,
    hops 2((m−1) + ⌈log₂N⌉), W = min(W of the chain inside a node (as `ring_bandwidth`),
    m × W_network-per-device).
    """
    n = group.size
    volume = 2.0 if kind == "all-reduce" else 1.0 + (n - 1) / n
    if group.topology == "two-level":
        node, m = group.node, group.node.size
        bandwidth = min(ring_bandwidth(node)[0] if m > 1 else math.inf, m * group.device_bytes_per_s_per_direction)
        depth = math.ceil(math.log2(group.nodes))
        latency = max(node.base_latency_seconds, group.base_latency_seconds) + 2 * (
            (m - 1) * node.latency_seconds + depth * group.latency_seconds)
        return _time(latency, volume * bytes / bandwidth, "tree", 2 * (m - 1 + depth))
    depth = math.ceil(math.log2(n))
    return _time(group.base_latency_seconds + 2 * depth * group.latency_seconds,
                 volume * bytes / group.device_bytes_per_s_per_direction, "tree", 2 * depth)


def direct_seconds(kind: str, bytes: float, group: Group) -> CollectiveTime:
    """Every device sends straight to every other (one step), each over its own link or switch port.

    ReduceScatter / AllGather / AllToAll: T = α₀ + α + (n−1)/n · B/W; AllReduce as a direct ReduceScatter
    then a direct AllGather ("two-shot"): α₀ + 2α + 2(n−1)/n · B/W, with W = a device's links together
    (n−1 peer links on a full mesh such as MI300X's xGMI, systems.md A1; the switch ports for an AllToAll,
    which NCCL runs as grouped send/recv). Send-recv: α₀ + α + B/W_peer, one peer link (or all switch ports).
    """
    n, phases = group.size, _phases(kind)
    bandwidth = group.device_bytes_per_s_per_direction
    if kind == "send-recv":
        peer = bandwidth / (n - 1) if group.topology == "fully-connected" else bandwidth
        return _time(group.base_latency_seconds + group.latency_seconds, bytes / peer, "direct", 1)
    return _time(group.base_latency_seconds + phases * group.latency_seconds,
                 phases * (n - 1) / n * bytes / bandwidth, "direct", phases)


def _axis_figures(group: Group) -> list[tuple[int, float, int]]:
    """(size a, W one way round the axis's bidirectional ring, hops) of each axis longer than 1: with
    wraparound W = 2 × per-link and ⌊a/2⌋ hops, without W = per-link and a − 1 hops (scaling-book)."""
    link = group.bytes_per_s_per_direction
    return [(a, 2 * link if wraps else link, a // 2 if wraps else a - 1) for a, wraps in group.axes]


def per_axis_seconds(kind: str, bytes: float, group: Group) -> CollectiveTime:
    """Collectives over several torus or mesh axes at once (scaling-book "Sharded Matrices": an AllGather
    over several axes has n_axes times the bandwidth).

    The buffer is split into d slices, one per axis with more than one device; slice s reduce-scatters along
    the axes in the order s, s+1, … (cyclically), shrinking by a_i after each axis, so all axes work at once.
    Axis i carries L_i = Σ_s (a_i−1)/a_i · (B/d) / Π(a_j of the axes before i in slice s's order) / W_i, and
    T = α₀ + Σ_i h_i·α + max_i L_i (doubled for AllReduce = ReduceScatter + AllGather). With equal axes of
    W each this is (n−1)/n · B / (d·W): the scaling-book's bytes / (W_bidir · n_axes) with the (n−1)/n kept.
    Unequal axes are taken as perfectly pipelined (a lower bound on that schedule).
    """
    axes = _axis_figures(group)
    d, phases = len(axes), _phases(kind)
    loads = [0.0] * d
    for start in range(d):
        shrink = 1.0
        for k in range(d):
            i = (start + k) % d
            size, bandwidth, _ = axes[i]
            loads[i] += (size - 1) / size * (bytes / d) / shrink / bandwidth
            shrink *= size
    hops = sum(h for _, _, h in axes)
    return _time(group.base_latency_seconds + phases * hops * group.latency_seconds, phases * max(loads),
                 "per-axis", phases * hops)


def routed_all_to_all_seconds(kind: str, bytes: float, group: Group) -> CollectiveTime:
    """AllToAll on a ring, torus or mesh, routed over neighbour links (bisection bound).

    Cutting axis a into halves of h = ⌊a/2⌋ and a − h, the n·h/a devices on one side send (a−h)/a of their
    B across the cut, over n/a × c links per direction (c = 2 with wraparound, 1 without):
    T_bw = max over axes of h(a−h)/a · B/(c·W_link), and at least the injection bound (n−1)/n · B / (ports·W)
    (ports 2 per wrapped axis, 2(a−1)/a on average per unwrapped one). Latency α₀ + diameter·α, diameter
    Σ_i h_i. On a bidirectional ring this is n·B/(8·W_link), the scaling-book's "AllToAll is a quarter of an
    AllGather" (its bytes are the whole array, n·B here).
    """
    link = group.bytes_per_s_per_direction
    bisection = max(((a // 2) * (a - a // 2) / a * bytes / ((2 if wraps else 1) * link) for a, wraps in group.axes),
                    default=0.0)
    ports = sum(2.0 if wraps else 2 * (a - 1) / a for a, wraps in group.axes)
    injection = (group.size - 1) / group.size * bytes / (ports * link)
    hops = sum(h for _, _, h in _axis_figures(group))
    return _time(group.base_latency_seconds + hops * group.latency_seconds, max(bisection, injection), "routed", hops)


def neighbour_send_recv_seconds(kind: str, bytes: float, group: Group) -> CollectiveTime:
    """Send-recv between neighbours of a ring, torus or mesh: α₀ + α + B / W_link (one link, one hop)."""
    return _time(group.base_latency_seconds + group.latency_seconds, bytes / group.bytes_per_s_per_direction,
                 "direct", 1)


def two_level_seconds(kind: str, bytes: float, group: Group) -> CollectiveTime:
    """Hierarchical collectives on m devices per node × N nodes, the sub-collectives each at their best.

    AllReduce: ReduceScatter inside the node (B), AllReduce across nodes between the devices of one rail
    (B/m each, all m rails at once over each device's own network links), AllGather inside the node (B):
    T = T_RS,node(B) + T_AR,net(B/m) + T_AG,node(B). ReduceScatter: T_RS,node(B) + T_RS,net(B/m);
    AllGather: T_AG,net(B/m) + T_AG,node(B) (as in NCCL's CollNet / Horovod hierarchical allreduce; the
    scaling-book's GPU chapter costs multi-node collectives the same way). Each phase pays its own α₀.
    The reported algorithm names the phases, e.g. "two-level(ring|tree|ring)".
    """
    node, network, m = group.node, group.network, group.node.size
    if kind == "all-reduce":
        parts = [_best("reduce-scatter", bytes, node), _best("all-reduce", bytes / m, network),
                 _best("all-gather", bytes, node)]
    elif kind == "reduce-scatter":
        parts = [_best("reduce-scatter", bytes, node), _best("reduce-scatter", bytes / m, network)]
    else:
        parts = [_best("all-gather", bytes / m, network), _best("all-gather", bytes, node)]
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    name = f"two-level({'|'.join(p.algorithm for p in parts)})"
    return _time(total.latency_seconds, total.bandwidth_seconds, name, total.hops)


def two_level_all_to_all_seconds(kind: str, bytes: float, group: Group) -> CollectiveTime:
    """AllToAll on a two-level group: the (m−1)/n·B for node peers goes over the node's links (the node's own
    best AllToAll of m/n·B) while the (n−m)/n·B for other nodes leaves over the device's network links, at
    the same time: T = max(latencies) + max(T_bw,node, (n−m)/n · B / W_network)."""
    node, m, n = group.node, group.node.size, group.size
    inside = _best("all-to-all", bytes * m / n, node) if m > 1 else _time(0.0, 0.0, "none", 0)
    outside = (n - m) / n * bytes / group.device_bytes_per_s_per_direction
    latency = max(inside.latency_seconds, group.base_latency_seconds + group.latency_seconds)
    return _time(latency, max(inside.bandwidth_seconds, outside), "direct", max(inside.hops, 1))


def network_send_recv_seconds(kind: str, bytes: float, group: Group) -> CollectiveTime:
    """Send-recv between devices of different nodes (a pipeline-stage boundary across the network):
    α₀ + α + B / W_network-per-device."""
    return _time(group.base_latency_seconds + group.latency_seconds, bytes / group.device_bytes_per_s_per_direction,
                 "network", 1)


_REDUCTIONS = ("all-reduce", "all-gather", "reduce-scatter")


def algorithms_for(kind: str, group: Group) -> dict[str, object]:
    """The algorithms that apply to collective `kind` on `group`, by name, in order of preference on ties."""
    kind = _collective(kind)
    topology = group.topology
    if topology == "two-level":
        if kind in _REDUCTIONS:
            return {"two-level": two_level_seconds, "ring": ring_seconds, "tree": tree_seconds}
        if kind == "all-to-all":
            return {"direct": two_level_all_to_all_seconds}
        return {"network": network_send_recv_seconds}
    if topology == "switch":
        if kind in _REDUCTIONS:
            return {"ring": ring_seconds, "tree": tree_seconds}
        return {"direct": direct_seconds}
    if topology == "fully-connected":
        if kind in _REDUCTIONS:
            return {"direct": direct_seconds, "ring": ring_seconds}
        return {"direct": direct_seconds}
    # ring, torus, mesh
    if kind in _REDUCTIONS:
        options = {"ring": ring_seconds}
        if len(group.axes) >= 2:
            options["per-axis"] = per_axis_seconds
        return options
    return {"routed": routed_all_to_all_seconds} if kind == "all-to-all" else {"direct": neighbour_send_recv_seconds}


# ---- the entry point ---------------------------------------------------------------------------------
def _collective(kind: str) -> str:
    if not isinstance(kind, str):
        raise InfersimError(f"unknown collective {kind!r}: known {', '.join(COLLECTIVES)}")
    name = kind.strip().lower().replace("_", "-")
    name = _ALIASES.get(name.replace("-", ""), name) if name not in COLLECTIVES else name
    if name not in COLLECTIVES:
        near = closest_names(name, COLLECTIVES)
        hint = f"did you mean {', '.join(near)}?" if near else f"known: {', '.join(COLLECTIVES)}"
        raise InfersimError(f"unknown collective '{kind}': {hint}")
    return name


def _as_group(system_or_group: SystemSpec | Group) -> Group:
    if isinstance(system_or_group, Group):
        return system_or_group
    if isinstance(system_or_group, SystemSpec):
        return Group.from_system(system_or_group)
    raise InfersimError(f"expected a SystemSpec or a Group, got {type(system_or_group).__name__}")


def _check_bytes(bytes: float) -> float:
    if isinstance(bytes, bool) or not isinstance(bytes, numbers.Real) or not math.isfinite(bytes) or bytes < 0:
        raise InfersimError(f"bytes must be a finite number >= 0, got {bytes!r}")
    return float(bytes)


def collective_options(kind: str, bytes: float, system_or_group: SystemSpec | Group) -> dict[str, CollectiveTime]:
    """The time of every algorithm that applies, by name (see `algorithms_for`)."""
    kind, bytes, group = _collective(kind), _check_bytes(bytes), _as_group(system_or_group)
    if kind == "send-recv" and group.size < 2:
        raise InfersimError("send-recv needs a group of at least 2 devices")
    if group.size == 1 or bytes == 0:
        return {"none": _time(0.0, 0.0, "none", 0)}
    return {name: formula(kind, bytes, group) for name, formula in algorithms_for(kind, group).items()}


def _best(kind: str, bytes: float, group: Group) -> CollectiveTime:
    options = collective_options(kind, bytes, group)
    return min(options.values(), key=lambda t: t.seconds)


def collective_seconds(kind: str, bytes: float, system_or_group: SystemSpec | Group,
                       algorithm: str | None = None) -> CollectiveTime:
    """Time of collective `kind` ('all-reduce', 'all-gather', 'reduce-scatter', 'all-to-all', 'send-recv') on
    a buffer of `bytes` per device (see the module docstring for what that is per kind) over a `Group` or a
    whole `SystemSpec`.

    With `algorithm=None` the fastest applicable algorithm is chosen and named in the result; a named one
    must apply to this collective on this topology (`algorithms_for`). A group of one device, or no bytes,
    costs nothing (algorithm 'none').
    """
    kind, bytes, group = _collective(kind), _check_bytes(bytes), _as_group(system_or_group)
    if algorithm is None:
        return _best(kind, bytes, group)
    available = algorithms_for(kind, group)
    if algorithm not in available:
        raise InfersimError(f"algorithm '{algorithm}' does not apply to {kind} on a {group.topology} group; "
                            f"choose from {', '.join(available)}")
    options = collective_options(kind, bytes, group)
    return options.get(algorithm, options.get("none"))
