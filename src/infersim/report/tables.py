"""Rich tables for estimates, op-level explanations, comparisons and the catalog.

Numbers are SI inside infersim; here, and only here, they become ms, GB and tokens/s for people.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:  # pragma: no cover
    from infersim.cost.estimate import Estimate, OpResult
    from infersim.specs.device import DeviceSpec
    from infersim.specs.model import ModelSpec
    from infersim.serving.plan import Plan
    from infersim.specs.system import SystemSpec


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


BOUND_STYLE = {"compute": "red", "memory": "blue", "overhead": "yellow", "host": "magenta", "capacity": "bold red",
               "communication": "green", "host-link": "cyan", "fabric": "yellow"}


def _bound(name: str) -> str:
    return f"[{BOUND_STYLE.get(name, 'white')}]{name}[/]"


def summary_table(est: "Estimate") -> Table:
    """The headline numbers of one estimate."""
    table = Table(title=f"{est.model} on {est.machine_description} ({est.runtime}): batch {est.batch}, "
                        f"prompt {est.prompt_tokens}, output {est.output_tokens}, weights {est.weights_dtype}"
                        f"{f' (MLP {est.mlp_weights_dtype})' if est.mlp_weights_dtype else ''}, "
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
    ]
    if est.devices > 1:
        comm = est.decode.comm_seconds
        rows += [
            ("communication per decode step", f"{seconds(comm)}  ({comm / est.decode.seconds:.0%} of the step)"),
            ("communication in prefill", seconds(est.prefill.comm_seconds)),
        ]
        if est.ops_per_comm_byte:
            rows.append(("device ops:comms (FLOP/s per link B/s)", f"{est.ops_per_comm_byte:,.0f}"))
        if est.pipeline_stages > 1:
            rows.append(("pipeline stages, microbatches in flight", f"{est.pipeline_stages}, {est.microbatches}"))
    per = " per device" if est.devices > 1 else ""
    if est.decode.host_link_seconds:
        rows.append(("KV over PCIe per decode step", f"{gigabytes(est.decode.host_link_bytes)} in "
                                                     f"{seconds(est.decode.host_link_seconds)}"))
    rows += [
        (f"weights{per}", gigabytes(mem.weights_bytes)),
        (f"KV cache{per}", gigabytes(mem.kv_cache_bytes)),
        *([(f"SSM state{per}", gigabytes(mem.ssm_state_bytes))] if mem.ssm_state_bytes else []),
    ]
    if mem.kv_host_bytes:
        rows.append((f"KV cache in host memory{per}", gigabytes(mem.kv_host_bytes)))
    if mem.kv_fragmentation:
        rows.append(("KV cache unused in its last blocks", f"{mem.kv_fragmentation:.2%}"))
    rows += [
        (f"activations (peak){per}", gigabytes(mem.activation_bytes)),
        (f"memory total / usable capacity{per}",  # usable: the driver's total where known (MemoryTier)
         f"{gigabytes(mem.total_bytes)} / {gigabytes(mem.capacity_bytes)}  {fit}"),
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
    comm = f", communication {seconds(result.comm_seconds)}" if result.comm_seconds else ""
    table = Table(title=f"{phase}: {what} of {est.model} on {est.machine_description} = {seconds(result.seconds)} "
                        f"(device {seconds(result.device_seconds)}, host {seconds(result.host_seconds)}{comm})",
                  title_justify="left")
    for column, justify in (("op", "left"), ("×", "right"), ("shape", "left"), ("dtype", "left"),
                            ("FLOPs", "right"), ("bytes", "right"), ("FLOP/B", "right"), ("device FLOP/B", "right"),
                            ("time", "right"), ("share", "right"), ("bound by", "left")):
        table.add_column(column, justify=justify)
    total = sum(op.seconds for op in ops)
    for op in ops:
        intensity = "∞" if op.arithmetic_intensity is None else f"{op.arithmetic_intensity:,.1f}"
        share = op.seconds / total if total else 0.0
        if op.kind in ("collective", "transfer"):  # wire bytes and the algorithm (link) instead of traffic
            wire = "B wire" if op.kind == "collective" else "B over PCIe"
            table.add_row(op.name, str(op.count), op.shape, op.algorithm or "", "", quantity(op.wire_bytes) + wire,
                          "", "", seconds(op.seconds), f"{share:.1%}", _bound(op.bound_by))
            continue
        table.add_row(op.name, str(op.count), op.shape, op.dtype, quantity(op.flops), quantity(op.bytes) + "B",
                      intensity, f"{op.device_ops_per_byte:,.3g}", seconds(op.seconds), f"{share:.1%}",
                      _bound(op.bound_by))
    if result.wire_bytes:
        ratio = result.flops / result.wire_bytes
        table.caption = (f"ops:comms of this phase: {quantity(result.flops)}FLOP / {quantity(result.wire_bytes)}B on "
                         f"the wire = {ratio:,.0f} FLOP per wire byte; the device does {est.ops_per_comm_byte or 0:,.0f} "
                         f"FLOP per link byte, so communication binds where the phase's ratio is lower")
        table.caption_justify = "left"
    return table


def compare_table(estimates: Sequence["Estimate"]) -> Table:
    """Several estimates side by side, one column each."""
    first = estimates[0]
    table = Table(title=f"{first.model}: batch {first.batch}, prompt {first.prompt_tokens}, "
                        f"output {first.output_tokens}", title_justify="left")
    table.add_column("", style="bold")
    for est in estimates:
        table.add_column(est.machine_description, justify="right")
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
                      f"{main.capacity_bytes / 1e9:,.2f} GB {main.technology}"
                      + (f" ({main.reported_bytes / 1e9:,.2f} reported)" if main.reported_bytes else ""),
                      f"{main.bytes_per_s / 1e12:,.2f}",
                      f"{d.ops_per_byte():,.1f}", f"{d.tdp_watts:,.0f}")
    return table


def plan_tables(result: "Plan") -> list[object]:
    """The plan's answer (its estimate's summary), then why fewer devices do not do."""
    wanted = []
    if result.targets.get("min_tokens_per_s_per_user"):
        wanted.append(f"≥ {result.targets['min_tokens_per_s_per_user']:,.0f} tokens/s per user")
    if result.targets.get("max_ttft_seconds"):
        wanted.append(f"TTFT ≤ {seconds(result.targets['max_ttft_seconds'])}")
    goal = ", ".join(wanted) or "fits in memory"
    if result.best is None:
        size = f"{result.searched_devices:,} " if result.searched_devices else ""
        headline = f"plan: no system of up to {size}{result.device} meets: {goal}"
        if result.closest is None:
            table: object = Text(f"{headline} (no layout holds {result.model})")
        else:
            table = summary_table(result.closest)
            table.title = (f"{headline}\nthe closest that fits: {result.closest.devices} x {result.device} "
                           f"({result.closest.machine_description})\n{table.title}")
    else:
        table = summary_table(result.best)
        table.title = (f"plan: {result.best.devices} x {result.device} ({result.best.machine_description}) is the smallest that "
                       f"meets: {goal}\n{table.title}")
    why = Table(title=f"why not fewer ({result.layouts_tried} layouts estimated)", title_justify="left")
    why.add_column("devices", justify="right")
    why.add_column("reason")
    shown = list(result.rejected)
    if len(shown) > 8:  # the first (weights alone) and the last few before the answer say the most
        skipped = len(shown) - 7
        shown = shown[:1] + [None] + shown[-6:]
    for r in shown:
        if r is None:
            why.add_row("…", f"{skipped} more counts rejected (see --json)")
        else:
            why.add_row(str(r.devices), r.reason)
    parts: list[object] = [table, why]
    if result.alternatives:
        alt = Table(title="other layouts on as many devices", title_justify="left")
        for column in ("layout", "tokens/s per user", "tokens/s total", "TTFT", "$ per M tokens"):
            alt.add_column(column, justify="left" if column == "layout" else "right")
        for e in result.alternatives:
            alt.add_row(e.layout_description, f"{e.output_tokens_per_s_per_user:,.1f}", f"{e.output_tokens_per_s_total:,.1f}",
                        seconds(e.ttft_seconds), f"${e.usd_per_million_tokens:,.3g}")
        parts.append(alt)
    return parts


def speculation_table(model: str, device: str, spec: object, results: Sequence[object],
                      best: int | None = None) -> Table:
    """Plain against speculative decoding, one row per batch size."""
    drafter = spec.drafter  # type: ignore[attr-defined]
    how = f"{drafter.kind}" + (f" {drafter.model}" if drafter.model else "")
    chosen = f", the best γ for batch {results[0].batch} (1-8 tried)" if best is not None else ""
    table = Table(title=f"speculative decoding of {model} on {device}: {how}, γ = {spec.draft_tokens}{chosen}, "
                        f"{spec.verified_tokens} tokens verified, {spec.tokens_per_step:.2f} tokens per step",
                  title_justify="left")
    bookkeeping = any(r.bookkeeping_seconds for r in results)  # type: ignore[attr-defined]
    for column in ("batch", "plain TPOT", "draft", "verify", *(("bookkeeping",) if bookkeeping else ()), "TPOT",
                   "speedup", "tokens/s per user", "tokens/s total", "verify bound", "fits"):
        table.add_column(column, justify="left" if column in ("verify bound", "fits") else "right")
    for r in results:
        book = (seconds(r.bookkeeping_seconds),) if bookkeeping else ()
        table.add_row(str(r.batch), seconds(r.plain_tpot_seconds), seconds(r.draft_seconds), seconds(r.verify_seconds),
                      *book, seconds(r.tpot_seconds), f"{r.speedup:.2f}x", f"{r.output_tokens_per_s_per_user:,.1f}",
                      f"{r.output_tokens_per_s_total:,.1f}", _bound(r.verify_bound_by),
                      "[green]yes[/]" if r.fits else "[bold red]no[/]")
    table.caption = ("speedup = E · t_plain / (t_draft + t_verify): verifying several tokens is nearly free while "
                     "decode streams weights, and not once the verify pass is compute bound"
                     + ("; eager: each part at least the reference code's measured host time, plus its "
                        "bookkeeping (techniques/host_costs.py)" if bookkeeping else ""))
    table.caption_justify = "left"
    return table


def techniques_tables(model: str, rows: Sequence[object], batch: int) -> list[Table]:
    """One table per device: the baseline and each technique's TPOT, speedup, tokens/s, memory and fit."""
    tables = []
    for device in dict.fromkeys(r.device for r in rows):  # type: ignore[attr-defined]
        table = Table(title=f"{model} on {device}, batch {batch}: what each technique buys", title_justify="left")
        for column in ("technique", "TPOT", "speedup", "tokens/s per user", "tokens/s total", "memory", "fits",
                       "largest batch", "longest context", "note"):
            table.add_column(column, justify="left" if column in ("technique", "fits", "note") else "right")
        for r in (r for r in rows if r.device == device):  # type: ignore[attr-defined]
            def cell(value: object, fmt: str) -> str:
                return "—" if value is None else fmt.format(value)
            fits = "—" if r.fits is None else ("[green]yes[/]" if r.fits else "[bold red]no[/]")
            table.add_row(r.technique, "—" if r.tpot_seconds is None else seconds(r.tpot_seconds),
                          cell(r.speedup, "{:.2f}x"), cell(r.output_tokens_per_s_per_user, "{:,.1f}"),
                          cell(r.output_tokens_per_s_total, "{:,.1f}"),
                          "—" if r.memory_bytes is None else gigabytes(r.memory_bytes), fits,
                          cell(r.max_batch, "{:,}"), cell(r.max_context_tokens, "{:,}"), r.note or r.what)
        tables.append(table)
    return tables


def systems_table(systems: Sequence["SystemSpec"]) -> Table:
    """One row per system: device and count, topology, per-device link bandwidth and latency."""
    table = Table(title="systems (link = one device's links at its own level, per direction)", title_justify="left")
    for column in ("id", "devices", "device", "topology", "link GB/s", "latency µs", "network GB/s"):
        table.add_column(column, justify="left" if column in ("id", "device", "topology") else "right", no_wrap=True)
    for s in systems:
        topology = s.topology.kind + (f" {s.nodes} x {s.devices_per_node} ({s.topology.node.kind})"
                                      if s.topology.kind == "two-level" else "")
        dims = getattr(s.topology, "dims", None)
        topology += f" {'x'.join(map(str, dims))}" if dims else ""
        network = f"{s.network.device_bytes_per_s_per_direction / 1e9:,.0f}" if s.network else ""
        table.add_row(s.id, str(s.device_count), s.device, topology,
                      f"{s.device_bytes_per_s_per_direction / 1e9:,.0f}", f"{s.link.latency_seconds * 1e6:.2g}", network)
    return table


def models_table(models: Sequence["ModelSpec"]) -> Table:
    table = Table(title="models", title_justify="left")
    for column in ("id", "params", "active", "layers", "d", "heads q/kv", "attention", "MLP"):
        table.add_column(column, justify="left" if column in ("id", "attention", "MLP") else "right", no_wrap=True)
    for m in models:
        mlp = f"MoE {m.moe.experts_per_token}/{m.moe.num_experts}" if m.moe else ("none" if m.intermediate_size is None
                                                                                 else m.mlp)
        heads = f"{m.num_attention_heads}/{m.num_key_value_heads}" if m.num_attention_layers else "-"
        mixer = m.attention if not m.num_ssm_layers else (
            f"{m.attention} x{m.num_attention_layers} + ssm x{m.num_ssm_layers}" if m.num_attention_layers else "ssm")
        table.add_row(m.id, f"{m.total_params / 1e9:,.2f} B", f"{m.active_params / 1e9:,.2f} B", str(m.num_layers),
                      str(m.hidden_size), heads, mixer, mlp)
    return table
