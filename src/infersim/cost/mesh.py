"""A layer on a wafer's core mesh: the cores' multiply rate and the latency of its all-reduces.

A wafer (Cerebras WSE) keeps a layer's weights spread over a square region of P × P cores, each with its own
48 KB of SRAM: every weight matrix is split over the grid, the embedding along one side (WaferLLM, OSDI'25 §4.2).
A core multiplies the weights it holds at r multiply-accumulates per cycle when each weight serves one row (a
matrix-vector product: it reads the weight and an activation, multiplies, writes back; WaferLLM §7, r = 1), and at
up to its SIMD width W when each weight it reads serves m rows (a batch, a verify step's tokens, a prefill): the
weight read is shared, the lanes multiply it by m activations. A product of F FLOPs over m rows on a region of
n cores takes

    t_compute = (F / 2) / (n · min(W, r · m) · f)                      f: the clock

(W = 4 on WSE-2, 8 on WSE-3: their FP16 SIMD widths, The Next Platform 2024-03-14). Attention and the other ops
without a weight read at r: each sequence's cache is its own.

and a matrix-vector product ends in an all-reduce of its partial sums along a line of P cores: a chain reduce
inside groups of √P cores, then across the groups' roots, and a flooding broadcast back (WaferLLM's two-phase
K-tree; the cycle model of Luczynski et al., "Near-Optimal Wafer-Scale Reduce", HPDC'24):

    cycles = α·P + 2·T_R                 the broadcast over P hops and the two ramps
           + (2·T_R + 2)·(2√P − 2)       the reduce's dependent chain steps
           + 3·B                         the B values one core of the line holds, one per wavelet: 2B through
                                         the reduce, B through the broadcast
           + β                           a fixed cost per collective (task activation, setup)

A decode layer runs ten of them, one after another (WaferLLM Decode/*/src/decode.csl): one per matrix product
(QKV, O, gate/up, down), one per RMSNorm (its sum of squares) and four in attention (the scores over the head
dimension, the softmax's max and sum, the weighted values): `ops.LineReduce` on each op. The hops grow with P,
so spreading a layer over more cores makes it slower once the multiplies are short (WaferLLM Table 4: Llama3-8B
decodes at 2,700, 2,502 and 2,243 tokens/s on 420², 540² and 660² cores).

The region's side is P = √(cores · share), share the fraction of the device one layer runs on: 1/R for a wafer
holding R layers side by side (estimate.py), or a program's own grid (`estimate(mesh_grid=)`).
"""

from __future__ import annotations

import math

from infersim.cost.ops import LineReduce, Op, mean_of
from infersim.specs.device import MeshFabric

CHAIN_STEP_EXTRA_CYCLES = 2  # a chain step crosses a core's ramp twice (2·T_R) and takes 2 cycles more (Luczynski)


def region_side(mesh: MeshFabric, share: float) -> float:
    """P: cores along each side of the square region that holds `share` of the device's cores."""
    return math.sqrt(mesh.cores * share)


def mesh_flops_per_s(mesh: MeshFabric, rows_per_weight: float = 1.0) -> float:
    """The whole mesh's multiply rate when each weight a core reads serves `rows_per_weight` rows:
    2 · cores · min(W, r · m) · f FLOP/s (module docstring; a region of it runs at its share)."""
    macs = mesh.macs_per_cycle_per_core * max(rows_per_weight, 1.0)
    return 2.0 * mesh.cores * min(macs, mesh.simd_macs_per_cycle_per_core or mesh.macs_per_cycle_per_core) * mesh.clock_hz


def all_reduce_cycles(mesh: MeshFabric, side: float, values_per_core: float) -> float:
    """Cycles of one all-reduce along a line of `side` cores, each holding `values_per_core` (module docstring)."""
    broadcast = mesh.hop_cycles * side + 2 * mesh.ramp_cycles
    chain = (2 * mesh.ramp_cycles + CHAIN_STEP_EXTRA_CYCLES) * max(2 * math.sqrt(side) - 2, 0.0)
    wavelets = 3 * max(values_per_core, 1.0)
    return broadcast + chain + wavelets + mesh.collective_fixed_cycles


def _values_per_core(reduce: LineReduce, side: float) -> float:
    values = float(mean_of(reduce.values))
    return values / side if reduce.split else values


def fabric_seconds(op: Op, mesh: MeshFabric, side: float) -> float:
    """Seconds of the all-reduces one occurrence of `op` ends in, on a region of side × side cores."""
    cycles = sum(all_reduce_cycles(mesh, side, _values_per_core(r, side)) for r in op.line_reduces)
    return cycles / mesh.clock_hz
