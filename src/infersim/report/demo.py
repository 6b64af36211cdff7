"""`infersim demo`: the main job on built-in defaults.

Llama-3.1-8B at batch 1 (prompt 1024, output 256) on an HBM GPU, an SRAM LPU and a wafer, side by
side, then one line per device saying what binds and why. One LPU cannot hold the model, so the LPU
column is the smallest Groq system `infersim plan` finds that does, with its layout. Then the batch at
which an H100 stops being memory bound, computed, not quoted.
"""

from __future__ import annotations

import math
from typing import Any

DEMO_MODEL = "llama-3.1-8b"
DEMO_DEVICES = ("h100-sxm", "groq-lpu", "cerebras-wse-3")


def _why(est: Any) -> str:
    from infersim.report.tables import gigabytes, seconds
    from infersim.specs.catalog import load_device

    device = load_device(est.device)
    where = est.device if est.devices == 1 else f"{est.devices} x {est.device} ({est.layout_description})"
    if not est.memory.fits:
        chips = math.ceil(est.memory.total_bytes / device.capacity_bytes)
        return (f"{est.device}: [bold red]capacity[/] — {gigabytes(est.memory.total_bytes)} of weights and cache "
                f"against {gigabytes(device.capacity_bytes)} per chip: at least {chips} chips must share the model "
                f"(the times above are what one chip would take if it could hold it)")
    decode = est.decode
    tier = device.main_memory
    # decode.bytes is one tensor-parallel slice's traffic over every layer (all its pipeline stages)
    streamed = decode.bytes * est.layout["tp"] * est.layout["dp"]
    across = f" across the {est.devices} chips" if est.devices > 1 else ""
    why = (f"{where}: decode is {decode.bound_by} bound — each step streams "
           f"{gigabytes(streamed)}{across} from {tier.name} ({tier.bytes_per_s / 1e12:,.2f} TB/s peak"
           f"{' each' if est.devices > 1 else ''}) in "
           f"{seconds(decode.seconds)}; prefill is {est.prefill.bound_by} bound")
    if est.devices > 1:
        why += (f"; {est.devices} chips are the fewest that hold the model (`infersim plan`), "
                f"{seconds(decode.comm_seconds)} of each step is communication")
    if device.mesh is not None:
        fabric = sum(op.overhead_seconds for op in est.ops if op.phase == "decode")
        why += (f"; on its core mesh each layer's region multiplies at one weight per core per cycle and ends "
                f"every product in an all-reduce across the region's cores: {seconds(fabric)} of each step is "
                f"those all-reduces' latency")
    elif decode.bound_by == "overhead" and device.efficiency.host_launch_seconds == 0:
        latency = sum(op.overhead_seconds for op in est.ops if op.phase == "decode")
        fitted = device.figure_is("efficiency.kernel_overhead_seconds", "fitted")
        why += (f"; {seconds(latency)} of it is the kernels' fixed latency "
                f"({device.efficiency.kernel_overhead_seconds * 1e6:.1f} µs each"
                f"{', fitted on published speeds' if fitted else ''}), so more chips would barely help one user")
    spatial = [n for n in est.notes if "spatial machine" in n]
    return why + (f"\n  [yellow]caveat[/]: {spatial[0]}" if spatial else "")


def render_demo() -> list[Any]:
    """Rich renderables: the comparison table, why each device is where it is, the batch crossover."""
    from rich.text import Text

    from infersim.cost.estimate import estimate
    from infersim.report.tables import compare_table

    from infersim.serving.plan import plan

    workload = dict(batch=1, prompt_tokens=1024, output_tokens=256)
    estimates = []
    for device in DEMO_DEVICES:
        est = estimate(DEMO_MODEL, device, **workload)
        if not est.memory.fits:  # too big for one chip: the fewest chips that hold it
            planned = plan(DEMO_MODEL, device, **workload).best
            est = planned if planned is not None else est
        estimates.append(est)
    parts: list[Any] = [compare_table(estimates)]
    parts += [Text.from_markup(_why(e)) for e in estimates]
    crossover = next((b for b in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
                      if estimate(DEMO_MODEL, "h100-sxm", batch=b, prompt_tokens=1024, output_tokens=256)
                      .decode.bound_by == "compute"), None)
    if crossover:
        parts.append(Text(f"h100-sxm: decode turns compute bound at batch {crossover} "
                          f"(prompt 1024; larger batches buy throughput, not latency)."))
    parts.append(Text("Next: `infersim explain --model llama-3.1-8b --device h100-sxm` for the op table; "
                      "`infersim essay` for the essays' figures."))
    return parts
