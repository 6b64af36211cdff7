"""Seed figures E1-E4: the H100 bill of materials, the HBM3 price, memory's share of the BOM, and
Blackhole's GDDR6 against H100's HBM3 (essay section 'The GDDR6 Gambit'). E1 and E2 are cited
constants; E3 is derived from them and the catalog's H100 capacity; E4 comes from the catalog."""

import pytest

from infersim.figures import HBM3_USD_PER_GB, H100_BOM_USD_2023, h100_memory_share_of_bom, memory_share_of_bom
from infersim.specs.catalog import load_device


def test_e1_e2_cited_constants_name_their_sources():
    assert H100_BOM_USD_2023.value == 3320 and "Barron" in H100_BOM_USD_2023.source
    assert HBM3_USD_PER_GB.value == 15 and "SemiAnalysis" in HBM3_USD_PER_GB.source


def test_e3_memory_share_formula():
    assert memory_share_of_bom(80e9, 15.0, 3320.0) == pytest.approx(1200 / 3320)  # 80 GB × $15
    assert memory_share_of_bom(40e9, 15.0, 3320.0) == pytest.approx(memory_share_of_bom(80e9, 15.0, 3320.0) / 2)


def test_e3_h100_memory_is_36_percent_of_bom():
    share = h100_memory_share_of_bom()
    assert round(100 * share) == 36  # 80e9 B (catalog) / 1e9 × $15 / $3,320 = 36.1%
    assert round(100 * share, 1) == 36.1


def test_e4_blackhole_gddr6_against_h100_hbm3():
    blackhole, h100 = load_device("tenstorrent-blackhole-p150"), load_device("h100-sxm")
    assert blackhole.main_memory.technology.lower() == "gddr6" and h100.main_memory.technology.lower() == "hbm3"
    assert blackhole.main_memory.bytes_per_s == 512e9
    assert h100.main_memory.bytes_per_s == 3.35e12
    assert round(h100.main_memory.bytes_per_s / blackhole.main_memory.bytes_per_s, 1) == 6.5  # 3350 / 512
