"""Fit a wafer mesh's fixed cost per all-reduce (β, cost/mesh.py) on WaferLLM's decode measurements.

The hops, ramps and multiply rate of a layer on the mesh come from the hardware's descriptions; what is left of
a measured decode step is a fixed cost per all-reduce (task activation, setup), the same for every one:

    β = mean_i (t_measured,i − t_i(β = 0)) / (t_i(β = 1) − t_i(β = 0))        cycles

t_i(β) infersim's decode step for row i with that β (the step is linear in it, so the denominator is the
number of all-reduces per token over the clock; calibration/published_fit.py). The rows are WaferLLM's Llama3-8B on three core grids
(published.yaml CW1a-c, OSDI'25 Table 4); its other models and Cerebras's own figures stay held out.
"""

from __future__ import annotations

from infersim.calibration.published_fit import fixed_cost_from_rows
from infersim.specs.device import DeviceSpec

FIT_CASES = ("CW1a", "CW1b", "CW1c")


def _with_fixed_cycles(device: DeviceSpec, cycles: float) -> DeviceSpec:
    assert device.mesh is not None
    return device.model_copy(update={"mesh": device.mesh.model_copy(update={"collective_fixed_cycles": cycles})})


def fit_collective_fixed_cycles(case_ids: tuple[str, ...] = FIT_CASES) -> float:
    """β in cycles from the published rows `case_ids` (module docstring)."""
    return fixed_cost_from_rows(case_ids, _with_fixed_cycles)
