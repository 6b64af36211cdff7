"""Utilisation of a systolic matrix unit (a TPU's MXU) by one GEMM, from padding its shapes to the array.

A weight-stationary array of `rows` × `cols` cells holds one k × n weight tile of rows × cols while the
m activation rows of a [m, k] @ [k, n] GEMM stream through it, one row per cycle (scaling-book "How to
Think About TPUs": the MXU multiplies bf16[8, 128] @ bf16[128, 128] every 8 cycles; weights, the RHS,
enter from above, activations, the LHS, from the left). The roofline (cost/roofline.py) multiplies a
systolic device's achievable FLOP/s by this utilisation.
"""

from __future__ import annotations

import math

from infersim.specs.device import MatrixUnit


def padded_fraction(size: float, tile: int) -> float:
    """size / (⌈size / tile⌉ · tile): the share of the tiles covering `size` that holds real data
    (1 for size ≤ 0, an axis whose size the op does not fix)."""
    if size <= 0:
        return 1.0
    return size / (math.ceil(size / tile) * tile)


def systolic_utilisation(unit: MatrixUnit, m: float, k: float, n: float) -> float:
    """Achieved / peak FLOP/s of a [m, k] @ [k, n] GEMM on `unit`'s arrays, from its shapes alone:

        u = k / (⌈k/R⌉·R) · n / (⌈n/C⌉·C) · min(1, m/R)          R × C = unit.rows × unit.cols

    k and n: the weight matrix is cut into R × C tiles, and a tile that overhangs the matrix multiplies
    zeros (scaling-book "How to Think About TPUs": "weight matrices need to be padded to at least size
    128 (256 on TPU v6) in both dimensions to fill up the MXU"). k = n = 4096 on 128 × 128 pads nothing;
    n = 4160 fills 4160/4224 of its 33 tile columns; d_h = 64 on v6e's 256-wide array uses a quarter of it.

    m: shifting a weight tile into the array takes R cycles, one row of weights per cycle, and the unit
    double-buffers tiles so that the next loads while m activation rows stream past the current one
    (Jouppi et al. ISCA 2017, "In-Datacenter Performance Analysis of a Tensor Processing Unit" §2: "one
    64 KiB tile of weights plus one for double-buffering (to hide the 256 cycles it takes to shift a tile
    in)"; scaling-book appendix B: after the initial bubble "new inputs and weights can be loaded in
    without an additional bubble"). A tile then takes max(m, R) cycles for m rows of work: full rate once
    m ≥ R, m/R below it. Without double buffering the load would add to the stream, m/(m + R); the
    pipeline's one fill and drain of R + C cycles per GEMM (~0.2 µs at 1.5 GHz) is left to the per-op
    overhead τ_k.

    Assumes every array of the chip runs tiles of the same GEMM (they split it along m or n without
    further loss). A size ≤ 0 means the op does not fix that axis (attention's keys): no loss on it.
    """
    rows_factor = min(1.0, m / unit.rows) if m > 0 else 1.0
    return padded_fraction(k, unit.rows) * padded_fraction(n, unit.cols) * rows_factor
