"""Seed figures Y1-Y3: memory reads of a naive, a tiled and a systolic n×n matmul (essay section
'Google TPU', after H.T. Kung 1982)."""

import math

from hypothesis import given
from hypothesis import strategies as st

from infersim.figures import naive_matmul_reads, naive_matmul_space, systolic_matmul_reads, tiled_matmul_reads


def _literal_matmul_reads(n: int) -> tuple[int, set[tuple[str, int, int]]]:
    """Run C = A·B as the triple loop and count reads of B (one per multiply-add) and distinct elements read."""
    reads, touched = 0, set()
    for i in range(n):
        for j in range(n):
            for k in range(n):
                reads += 1  # B[k, j]: no reuse, one read per multiply-add
                touched.add(("A", i, k))
                touched.add(("B", k, j))
    return reads, touched


def test_y1_naive_reads_and_space():
    assert naive_matmul_reads(4) == 64  # 4³
    assert naive_matmul_space(4) == 48  # 3·4²: A, B and C
    assert naive_matmul_reads(128) == 2_097_152  # 128³


def test_y1_y3_against_a_literal_loop():
    reads, touched = _literal_matmul_reads(6)
    assert naive_matmul_reads(6) == reads == 216
    # a systolic array reads each input element once: exactly the distinct elements the loop touches
    assert systolic_matmul_reads(6) == len(touched) == 72  # 2·6²


def test_y2_tiled_reads():
    # n = 1024, cache M = 65,536, line b = 64: 1024³ / (64·256) = 65,536
    assert tiled_matmul_reads(1024, 65_536, 64) == 65_536
    # a 4× larger cache halves the reads (√M)
    assert tiled_matmul_reads(1024, 4 * 65_536, 64) == 32_768


def test_y3_systolic_128_array():
    assert systolic_matmul_reads(128) == 32_768  # 2·128², a TPU MXU-sized problem


@given(st.integers(min_value=3, max_value=10_000))
def test_ordering_naive_above_systolic(n):
    assert systolic_matmul_reads(n) < naive_matmul_reads(n)
    assert naive_matmul_reads(n) / systolic_matmul_reads(n) == n / 2
    assert math.isclose(tiled_matmul_reads(n, 1.0, 1.0), naive_matmul_reads(n))  # no cache, no reuse
