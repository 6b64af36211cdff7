"""Rich tables for estimates, op-level explanations, comparisons and the catalog.

Numbers are SI inside infersim; here, and only here, they become ms, GB and tokens/s for people.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:  # pragma: no cover
    from infersim.cost.estimate import Estimate, OpResult
    from infersim.specs.device import DeviceSpec
    from infersim.specs.model import ModelSpec


def seconds(value: float) -> str:
    """Seconds in the unit that reads best: µs, ms or s."""
    if value < 1e-3:
        return f"{value * 1e6:.1f} µs"
    if value < 1.0:
        return f"{value * 1e3:.2f} ms"
    return f"{value:.2f} s"


def gigabytes(value: float) -> str:
    """Bytes as decimal GB (1 GB = 1e9 bytes)."""
    return f"{value / 1e9:.2f} GB"


def quantity(value: float) -> str:
    """A count with an SI prefix (k, M, G, T, P)."""
    for prefix, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {prefix}"
    return f"{value:.0f}"


BOUND_STYLE = {"compute": "red", "memory": "blue", "overhead": "yellow", "host": "magenta", "capacity": "bold red"}


def _bound(name: str) -> str:
    return f"[{BOUND_STYLE.get(name, 'white')}]{name}[/]"


def summary_table(est: "Estimate") -> Table:
    """The headline numbers of one estimate."""
    table = Table(title=f"{est.model} on {est.device} ({est.runtime}): batch {est.batch}, "
                        f"prompt {est.prompt_tokens}, output {est.output_tokens}, weights {est.weights_dtype}, "
                        f"KV {est.kv_dtype}", show_header=False, title_justify="left")
    table.add_column("quantity", style="bold")
    table.add_column("value", justify="right")
    mem = est.memory
    fit = "[green]fits[/]" if mem.fits else "[bold red]does not fit[/]"
    rows = [
        ("time to first token (prefill)", f"{seconds(est.ttft_seconds)}  ({_bound(est.prefill.bound_by)} bound)"),
        ("time per output token (mean)", f"{seconds(est.tpot_seconds)}  ({_bound(est.decode.bound_by)} bound)"),
        ("end-to-end latency", seconds(est.e2e_seconds)),
        ("output tokens/s per user", f"{est.output_tokens_per_s_per_user:,.1f}"),
        ("output tokens/s in total", f"{est.output_tokens_per_s_total:,.1f}"),
        ("weights", gigabytes(mem.weights_bytes)),
        ("KV cache", gigabytes(mem.kv_cache_bytes)),
        ("activations (peak)", gigabytes(mem.activation_bytes)),
        ("memory total / capacity", f"{gigabytes(mem.total_bytes)} / {gigabytes(mem.capacity_bytes)}  {fit}"),
        ("largest batch at this context", f"{est.max_batch:,}"),
        ("longest context at this batch", f"{est.max_context_tokens:,} tokens"),
        ("energy per output token", f"{est.joules_per_token:.3g} J"),
        ("cost per million output tokens", f"${est.usd_per_million_tokens:,.3g}"),
        ("bottleneck", _bound(est.bottleneck)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    if est.notes:
        table.caption = "\n".join(f"note: {note}" for note in est.notes)
        table.caption_justify = "left"
    return table


def ops_table(est: "Estimate", phase: str) -> Table:
    """Op-level explanation of one phase: FLOPs, bytes, intensity vs the device's ops:byte, time, limit."""
    ops: Sequence[OpResult] = [op for op in est.ops if op.phase == phase]
    result = est.prefill if phase == "prefill" else est.decode
    what = "one prefill pass" if phase == "prefill" else "the mean decode step"
    table = Table(title=f"{phase}: {what} of {est.model} on {est.device} = {seconds(result.seconds)} "
                        f"(device {seconds(result.device_seconds)}, host {seconds(result.host_seconds)})",
                  title_justify="left")
    for column, justify in (("op", "left"), ("×", "right"), ("shape", "left"), ("dtype", "left"),
                            ("FLOPs", "right"), ("bytes", "right"), ("FLOP/B", "right"), ("device FLOP/B", "right"),
                            ("time", "right"), ("share", "right"), ("bound by", "left")):
        table.add_column(column, justify=justify)
    for op in ops:
        intensity = "∞" if op.arithmetic_intensity is None else f"{op.arithmetic_intensity:,.1f}"
        share = op.seconds / result.device_seconds if result.device_seconds else 0.0
        table.add_row(op.name, str(op.count), op.shape, op.dtype, quantity(op.flops), quantity(op.bytes) + "B",
                      intensity, f"{op.device_ops_per_byte:,.0f}", seconds(op.seconds), f"{share:.1%}",
                      _bound(op.bound_by))
    return table


def compare_table(estimates: Sequence["Estimate"]) -> Table:
    """Several estimates side by side, one column each."""
    first = estimates[0]
    table = Table(title=f"{first.model}: batch {first.batch}, prompt {first.prompt_tokens}, "
                        f"output {first.output_tokens}", title_justify="left")
    table.add_column("", style="bold")
    for est in estimates:
        table.add_column(est.device, justify="right")
    rows = [
        ("TTFT", lambda e: seconds(e.ttft_seconds)),
        ("TPOT", lambda e: seconds(e.tpot_seconds)),
        ("tokens/s per user", lambda e: f"{e.output_tokens_per_s_per_user:,.1f}"),
        ("tokens/s total", lambda e: f"{e.output_tokens_per_s_total:,.1f}"),
        ("memory / capacity", lambda e: f"{gigabytes(e.memory.total_bytes)} / {gigabytes(e.memory.capacity_bytes)}"),
        ("fits", lambda e: "[green]yes[/]" if e.memory.fits else "[bold red]no[/]"),
        ("largest batch", lambda e: f"{e.max_batch:,}"),
        ("J per token", lambda e: f"{e.joules_per_token:.3g}"),
        ("$ per M tokens", lambda e: f"{e.usd_per_million_tokens:,.3g}"),
        ("bottleneck", lambda e: _bound(e.bottleneck)),
    ]
    for name, cell in rows:
        table.add_row(name, *[cell(e) for e in estimates])
    return table


def devices_table(devices: Sequence["DeviceSpec"]) -> Table:
    """One row per device: peak, the main memory tier (where weights go first), ops:byte, power."""
    table = Table(title="devices (main memory = the fastest tier that holds weights)", title_justify="left")
    table.add_column("id", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    for column in ("BF16 TFLOP/s", "main memory", "TB/s", "ops:byte", "TDP W"):
        table.add_column(column, justify="right", no_wrap=True)
    for d in devices:
        main = d.main_memory
        table.add_row(d.id, d.execution_model, f"{d.peak_for('bf16') / 1e12:,.0f}",
                      f"{main.capacity_bytes / 1e9:,.2f} GB {main.technology}", f"{main.bytes_per_s / 1e12:,.2f}",
                      f"{d.ops_per_byte():,.1f}", f"{d.tdp_watts:,.0f}")
    return table


def models_table(models: Sequence["ModelSpec"]) -> Table:
    table = Table(title="models", title_justify="left")
    for column in ("id", "params", "active", "layers", "d", "heads q/kv", "attention", "MLP"):
        table.add_column(column, justify="left" if column in ("id", "attention", "MLP") else "right", no_wrap=True)
    for m in models:
        mlp = f"MoE {m.moe.experts_per_token}/{m.moe.num_experts}" if m.moe else m.mlp
        table.add_row(m.id, f"{m.total_params / 1e9:,.2f} B", f"{m.active_params / 1e9:,.2f} B", str(m.num_layers),
                      str(m.hidden_size), f"{m.num_attention_heads}/{m.num_key_value_heads}", m.attention, mlp)
    return table
