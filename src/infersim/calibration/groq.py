"""Fit the Groq LPU's fixed latency per kernel on Groq's published per-user speeds for its small models.

Groq's per-user rates for Llama-2-7B, Llama-3-8B and Llama-3.1-8B (published.yaml 2a, 6a, 7a, 48 chips) are
four to six times what the SRAM reads and the chip-to-chip all-reduces of infersim's model give; what is left
is a latency per dependent step, not a bandwidth (modelling §11.3): for 7B to 70B on 48 to 576 chips it is the
same 26-35 µs per decoder layer. infersim charges it as a fixed cost per kernel of the compiled program
(`kernel_overhead_seconds`), the mean of the rows' (calibration/published_fit.py):

    k = mean_i (t_measured,i − t_i(k = 0)) / (t_i(k = 1 s) − t_i(k = 0))        seconds per kernel

Groq's 70B rows (1a, 4a, 5a) and Mixtral 8x7B (3a) stay held out.
"""

from __future__ import annotations

from infersim.calibration.published_fit import fixed_cost_from_rows
from infersim.specs.device import DeviceSpec

FIT_CASES = ("2a", "6a", "7a")


def _with_kernel_overhead(device: DeviceSpec, seconds: float) -> DeviceSpec:
    efficiency = device.efficiency.model_copy(update={"kernel_overhead_seconds": seconds})
    return device.model_copy(update={"efficiency": efficiency})


def fit_kernel_overhead_seconds(case_ids: tuple[str, ...] = FIT_CASES) -> float:
    """Seconds per kernel from the published rows `case_ids` (module docstring)."""
    return fixed_cost_from_rows(case_ids, _with_kernel_overhead)
