"""The system catalog: every multi-chip system loads, every figure names its source, the counts agree with
the topology, and the link figures agree with the devices' and systems.md where those pin them."""

from __future__ import annotations

import copy

import pytest

from infersim.errors import InfersimError
from infersim.specs.catalog import (SYSTEMS_DIR, all_systems, load_device, load_system, read_yaml, system_from_mapping,
                                    system_ids)
from infersim.specs.system import SystemSpec, TwoLevelTopology

EXPECTED_IDS = {
    "dgx-h100", "dgx-h200", "dgx-h100-4node", "gb200-nvl72", "mi300x-8", "tpu-v5p-2x2x1", "tpu-v5p-4x4x4",
    "tpu-v5p-8x8x8", "tpu-v5p-pod", "tpu-v5e-256", "groq-rack", "cerebras-cs-3", "cerebras-cs-3x4", "sambanova-sn40l-16",
    "tenstorrent-galaxy", "tenstorrent-t3000", "tenstorrent-n300",
}


def _raw(system_id: str) -> dict:
    return read_yaml(SYSTEMS_DIR / f"{system_id}.yaml")


def test_system_ids_are_exactly_the_catalog():
    assert set(system_ids()) == EXPECTED_IDS
    assert [s.id for s in all_systems()] == sorted(EXPECTED_IDS)


@pytest.mark.parametrize("system_id", sorted(EXPECTED_IDS))
def test_every_system_loads_and_names_a_catalog_device(system_id):
    system = load_system(system_id)
    assert system.id == system_id
    assert system.device_spec().id == system.device
    assert system.nodes * system.devices_per_node == system.device_count
    assert load_system(system) is system  # a spec passes through


@pytest.mark.parametrize("system_id", sorted(EXPECTED_IDS))
def test_every_figure_is_sourced(system_id):
    system = load_system(system_id)
    src = system.sources
    assert src.get("device_count", "").strip()
    levels = ["link"] + (["network"] if system.network else [])
    for level in levels:
        for figure in ("bytes_per_s_per_direction", "links_per_device", "latency_seconds", "base_latency_seconds"):
            assert src.get(f"{level}.{figure}", "").strip(), f"{system_id}: {level}.{figure}"
    if hasattr(system.topology, "dims"):
        assert src.get("topology.dims", "").strip()
    if isinstance(system.topology, TwoLevelTopology):
        assert src.get("topology.devices_per_node") and src.get("topology.nodes")
    for path, source in src.items():
        assert len(source) > 10, f"{system_id}: {path} source too thin: {source!r}"


def test_a_path_loads_like_an_id():
    assert load_system(str(SYSTEMS_DIR / "dgx-h100.yaml")) == load_system("dgx-h100")


# ---- the key figures (systems.md) --------------------------------------------------------------------
def test_nvidia_per_gpu_bandwidth():
    assert load_system("dgx-h100").device_bytes_per_s_per_direction == 450e9  # 18 NVLink4 x 25 GB/s
    assert load_system("dgx-h200").device_bytes_per_s_per_direction == 450e9
    assert load_system("gb200-nvl72").device_bytes_per_s_per_direction == 900e9  # 18 NVLink5 x 50 GB/s
    assert load_system("gb200-nvl72").device_count == 72
    assert "1,200 W" in load_system("gb200-nvl72").notes  # the GB200's B200 is not the catalog's HGX part


@pytest.mark.parametrize("system_id", ["dgx-h100", "dgx-h200", "gb200-nvl72", "mi300x-8", "tpu-v5p-8x8x8",
                                       "tpu-v5e-256"])
def test_link_figures_agree_with_the_device(system_id):
    """The system's per-device link total equals the device file's scale-out link total."""
    system = load_system(system_id)
    device_link = load_device(system.device).scale_out_link
    assert system.device_bytes_per_s_per_direction == pytest.approx(device_link.total_bytes_per_s_per_direction)


def test_tpu_slices():
    big = load_system("tpu-v5p-8x8x8")
    assert big.topology.kind == "torus-3d" and big.topology.dims == (8, 8, 8) and big.device_count == 512
    assert big.link.bytes_per_s_per_direction == 9e10 and big.link.links_per_device == 6
    assert load_system("tpu-v5p-4x4x4").device_count == 64
    small = load_system("tpu-v5p-2x2x1")  # no wraparound below a full axis of 4: a mesh
    assert small.topology.kind == "mesh-2d" and small.device_count == 4
    v5e = load_system("tpu-v5e-256")
    assert v5e.topology.dims == (16, 16) and v5e.link.bytes_per_s_per_direction == 4.5e10


def test_groq_rack_is_an_assumed_count_and_resizes():
    rack = load_system("groq-rack")
    assert (rack.nodes, rack.devices_per_node, rack.device_count) == (9, 8, 72)
    assert rack.sources["topology.nodes"].startswith("assumed:")
    assert rack.link.links_per_device == 7 and rack.link.bytes_per_s_per_direction == 14e9  # full mesh in a node
    assert rack.network.device_bytes_per_s_per_direction == 56e9  # 4 global ports x 14 GB/s
    deployment = rack.resized(576)
    assert (deployment.nodes, deployment.device_count) == (72, 576)
    assert "resized" in deployment.sources["device_count"]
    with pytest.raises(InfersimError, match="whole number of 8-device nodes"):
        rack.resized(100)


def test_cerebras_and_sambanova_and_galaxy():
    assert load_system("cerebras-cs-3").device_count == 1
    four = load_system("cerebras-cs-3x4")
    assert four.device_count == 4 and four.device_bytes_per_s_per_direction == 150e9  # 1.2 Tb/s
    samba = load_system("sambanova-sn40l-16")  # one node of 16 sockets and a host (SambaStack docs)
    assert samba.device_count == 16 and samba.topology.kind == "switch"
    assert samba.sources["link.bytes_per_s_per_direction"].startswith("assumed:")  # n/f in the sources
    galaxy = load_system("tenstorrent-galaxy")
    # 32 single Wormhole chips in a 4x8 mesh hold 32 x 12 GB = 384 GB
    assert galaxy.device_count * galaxy.device_spec().capacity_bytes == 384e9
    assert galaxy.topology.dims == (4, 8) and galaxy.device == "tenstorrent-wormhole"
    # the 8-chip systems are bounded by the one Ethernet link tt-metal drives between neighbours: 74% of 12.5 GB/s
    t3000 = load_system("tenstorrent-t3000")
    assert t3000.topology.dims == (2, 4) and t3000.link.bytes_per_s_per_direction == 9.2e9
    assert load_system("tenstorrent-n300").device_count == 2


# ---- validation: one clear line ----------------------------------------------------------------------
def test_device_count_must_match_the_torus():
    data = copy.deepcopy(_raw("tpu-v5p-8x8x8"))
    data["device_count"] = {"value": 500, "source": "typo"}
    with pytest.raises(InfersimError) as err:
        system_from_mapping(data, "system 'bad'")
    message = str(err.value)
    assert message == "system 'bad': device_count 500 does not match the torus-3d dims 8x8x8 (512 devices)"
    assert "\n" not in message


def test_device_count_must_match_nodes_times_devices_per_node():
    data = copy.deepcopy(_raw("groq-rack"))
    data["device_count"] = {"value": 64, "source": "typo"}
    with pytest.raises(InfersimError, match=r"does not match the two-level topology of 9 nodes x 8 devices \(72"):
        system_from_mapping(data, "system 'bad'")


def test_unknown_device_suggests_close_names():
    data = copy.deepcopy(_raw("dgx-h100"))
    data["device"] = "h100-sxm5"
    with pytest.raises(InfersimError, match=r"system 'bad': unknown device 'h100-sxm5': did you mean .*h100-sxm"):
        system_from_mapping(data, "system 'bad'")


def test_unknown_system_suggests_close_names():
    with pytest.raises(InfersimError, match=r"unknown system 'dgx-h10': did you mean .*dgx-h100"):
        load_system("dgx-h10")


def test_unsourced_figure_is_refused():
    data = copy.deepcopy(_raw("dgx-h100"))
    data["link"]["bytes_per_s_per_direction"] = 25e9
    with pytest.raises(InfersimError, match="figure 'link.bytes_per_s_per_direction' has no source"):
        system_from_mapping(data, "system 'bad'")


def test_unknown_topology_kind():
    data = copy.deepcopy(_raw("dgx-h100"))
    data["topology"] = {"kind": "hypercube"}
    with pytest.raises(InfersimError, match="system 'bad': topology"):
        system_from_mapping(data, "system 'bad'")


def test_fully_connected_needs_a_link_per_peer():
    data = copy.deepcopy(_raw("mi300x-8"))
    data["link"]["links_per_device"] = {"value": 3, "source": "typo"}
    with pytest.raises(InfersimError, match="fewer than the 7 peers"):
        system_from_mapping(data, "system 'bad'")


def test_two_level_needs_a_network_and_flat_systems_refuse_one():
    data = copy.deepcopy(_raw("groq-rack"))
    del data["network"]
    with pytest.raises(InfersimError, match="needs a network block"):
        system_from_mapping(data, "system 'bad'")
    flat = copy.deepcopy(_raw("dgx-h100"))
    flat["network"] = copy.deepcopy(_raw("dgx-h100-4node")["network"])
    with pytest.raises(InfersimError, match="network is only for two-level systems"):
        system_from_mapping(flat, "system 'bad'")


def test_specs_are_frozen():
    system = load_system("dgx-h100")
    with pytest.raises(Exception):
        system.device_count = 16  # type: ignore[misc]
    assert isinstance(system, SystemSpec)


def test_the_full_v5p_pod_is_its_16x20x28_torus():
    pod = load_system("tpu-v5p-pod")
    assert pod.device_count == 16 * 20 * 28 == 8960 and pod.topology.kind == "torus-3d"
    assert list(pod.topology.dims) == [16, 20, 28]
