"""The `infersim` command: a thin shell over the library.

Every command parses options, calls one library function and prints its result (a rich table, or
`--json`). Bad input of any kind ends with one line on stderr and exit code 2. Heavy modules
(numpy, pydantic, the catalog) load inside commands so `infersim --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Optional

import typer

app = typer.Typer(
    help="Predict and explain LLM inference time, memory, energy and cost on GPUs, LPUs, wafers, TPUs and more.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

ModelOpt = typer.Option(..., "--model", "-m", help="catalog model id (`infersim models`) or a config.json / YAML path")
DeviceOpt = typer.Option(..., "--device", "-d", help="catalog device id (`infersim devices`) or a YAML path")
MaybeDeviceOpt = typer.Option(None, "--device", "-d",
                              help="catalog device id (`infersim devices`) or a YAML path (or give --system)")
SystemOpt = typer.Option(None, "--system", "-s", help="catalog system id (`infersim systems`) or a YAML path")
DevicesOpt = typer.Option(None, "--devices", "-n", help="N devices: N of --device behind a switch, or --system resized")
TpOpt = typer.Option(None, "--tp", help="tensor-parallel degree")
PpOpt = typer.Option(None, "--pp", help="pipeline-parallel degree (stages)")
DpOpt = typer.Option(None, "--dp", help="data-parallel degree (replicas; divides the batch)")
EpOpt = typer.Option(None, "--ep", help="expert-parallel degree (MoE; divides tp·dp)")
CpOpt = typer.Option(None, "--cp", help="context-parallel degree (ring attention over the prompt)")
OverlapOpt = typer.Option(False, "--overlap", help="hide collectives under compute (up to its length)")
MicrobatchOpt = typer.Option(None, "--microbatches", help="sequence groups a pipeline keeps in flight")
ImbalanceOpt = typer.Option(1.0, "--moe-imbalance", help="MoE routing skew: the busiest expert-parallel device's "
                            "tokens over the mean (>= 1)")
BatchOpt = typer.Option(1, "--batch", "-b", help="sequences decoded together")
PromptOpt = typer.Option(1024, "--prompt", "-p", help="prompt tokens per sequence")
OutputOpt = typer.Option(256, "--output", "-o", help="output tokens per sequence")
WeightsOpt = typer.Option(None, "--weights-dtype",
                          help="fp32, bf16, fp16, fp8, int8, int4-g128, int4-g128-zp (AWQ), mxfp4, nvfp4, ... "
                               "(specs/dtypes.py; default: as activations)")
MlpWeightsOpt = typer.Option(None, "--mlp-weights-dtype", help="format of the MLP and expert weights when it differs "
                                                                 "from --weights-dtype (tt-metal: bfp4 beside bfp8)")
KvOpt = typer.Option(None, "--kv-dtype", help="KV-cache format: bf16, fp16, fp8, int8-g128, int4-g128, int2-kivi, "
                                              "int1-kivi-g64, ... (default: as activations)")
KvBudgetOpt = typer.Option(None, "--kv-budget", help="KV tokens kept per sequence: 4096, or a share of the context "
                                                     "(20% or 0.2); the rest evicted")
KvSinksOpt = typer.Option(None, "--kv-sinks", help="attention sinks inside the budget (default 4 streaming, 0 h2o)")
KvEvictionOpt = typer.Option("streaming", "--kv-eviction", help="streaming (sinks + recent, StreamingLLM) or h2o "
                                                                "(heavy hitters + recent)")
KvOffloadOpt = typer.Option(None, "--kv-offload", help="share of the KV cache in host memory (0.9 or 90%), or its "
                                                       "oldest N tokens (N > 1), read over PCIe each decode step")
KvFetchOpt = typer.Option(None, "--kv-fetch", help="fetch only the top-N offloaded tokens per layer and step")
KvScoreOpt = typer.Option(0, "--kv-score-channels", help="key channels per KV head read over PCIe to pick the "
                                                        "top-N (TailorKV: 8)")
KvOffloadDtypeOpt = typer.Option(None, "--kv-offload-dtype", help="format of the offloaded part (default: --kv-dtype)")
KvOverlapOpt = typer.Option(True, "--kv-overlap/--kv-serial", help="hide PCIe transfers under the device's work "
                                                                   "(max) or add them (sum)")
KvBlockOpt = typer.Option(None, "--kv-block", help="paged KV cache: tokens per block (vLLM: 16)")
MlaDecodeOpt = typer.Option("absorbed", "--mla-decode", help="MLA decode form: absorbed or decompressed")
DecodeAttentionOpt = typer.Option("grouped", "--decode-attention",
                                  help="how decode reads a GQA/MQA cache: grouped (each KV head once: "
                                       "FlashDecoding, XQA) or per-query-head (TensorRT-LLM's masked MHA "
                                       "kernel, before XQA)")
PaddedBatchOpt = typer.Option(None, "--padded-batch", help="static batch shape the runtime decodes at, padding the "
                                                          "batch up to it (tt-metal: 32 users)")
MeshGridOpt = typer.Option(None, "--mesh-grid", help="wafers: run each layer on an N x N region of cores (WaferLLM's "
                                                      "decode grids); default: the cores shared by the layers held")
PrefillChunkOpt = typer.Option(None, "--prefill-chunk", help="prefill in chunks of N tokens (chunked prefill, as "
                                                             "vLLM and TensorRT-LLM run it); default: one pass")
ActOpt = typer.Option(None, "--activations-dtype", help="bf16, fp16 or fp32 (default: bf16 where the device has it)")
SsmStateOpt = typer.Option(None, "--ssm-state-dtype", help="SSM recurrent-state format: fp32 (default), bf16, ...")
RuntimeOpt = typer.Option(None, "--runtime", help="cuda-graph (GPU default), eager (CPU default), compiled (others)")
JsonOpt = typer.Option(False, "--json", help="print one JSON object instead of tables")
CalibrationOpt = typer.Option(None, "--calibration", help="a file from `infersim calibrate` for this device")


def _console() -> Any:
    from rich.console import Console

    return Console()


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _print_all(parts: Any) -> None:
    """Print rich renderables (tables, text) one after the other."""
    console = _console()
    for part in parts:
        console.print(part)


def _estimate(model: str, device: Optional[str], batch: int, prompt: int, output: int, weights_dtype: Optional[str],
              kv_dtype: Optional[str], activations_dtype: Optional[str], runtime: Optional[str],
              calibration: Optional[str] = None, kv_options: Optional[dict[str, Any]] = None, **parallel: Any) -> Any:
    from infersim.cost.estimate import estimate
    from infersim.specs.kvcache import kv_cache_from_options

    kv = kv_cache_from_options(**(kv_options or {}))
    return estimate(model, device, batch=batch, prompt_tokens=prompt, output_tokens=output,
                    weights_dtype=weights_dtype, kv_dtype=kv_dtype, activations_dtype=activations_dtype,
                    runtime=runtime, calibration=calibration, kv_cache=kv, **parallel)


def _kv_options(budget: Optional[str], sinks: Optional[int], eviction: str, offload: Optional[str],
                fetch: Optional[int], score_channels: int, offload_dtype: Optional[str], overlap: bool,
                block: Optional[int], mla_decode: str, decode_attention: str) -> dict[str, Any]:
    """The --kv-*, --mla-decode and --decode-attention options as `kvcache.kv_cache_from_options` takes them."""
    return dict(budget=budget, sinks=sinks, eviction=eviction, offload=offload, fetch_tokens=fetch,
                score_channels=score_channels, offload_dtype=offload_dtype, overlap=overlap, block_tokens=block,
                mla_decode=mla_decode, decode_attention=decode_attention)


def _estimate_from_options(model: str, device: Optional[str], batch: int, prompt: int, output: int,
                           weights_dtype: Optional[str], kv_dtype: Optional[str], activations_dtype: Optional[str],
                           runtime: Optional[str], calibration: Optional[str], system: Optional[str],
                           devices: Optional[int], tp: Optional[int], pp: Optional[int], dp: Optional[int],
                           ep: Optional[int], cp: Optional[int], overlap: bool, microbatches: Optional[int],
                           kv_budget: Optional[str], kv_sinks: Optional[int], kv_eviction: str,
                           kv_offload: Optional[str], kv_fetch: Optional[int], kv_score_channels: int,
                           kv_offload_dtype: Optional[str], kv_overlap: bool, kv_block: Optional[int],
                           mla_decode: str, decode_attention: str, prefill_chunk: Optional[int],
                           moe_imbalance: float,
                           mlp_weights_dtype: Optional[str], padded_batch: Optional[int],
                           ssm_state_dtype: Optional[str], mesh_grid: Optional[int]) -> Any:
    """The one estimate `estimate` and `explain` make from the options they share."""
    kv = _kv_options(kv_budget, kv_sinks, kv_eviction, kv_offload, kv_fetch, kv_score_channels, kv_offload_dtype,
                     kv_overlap, kv_block, mla_decode, decode_attention)
    est = _estimate(model, device, batch, prompt, output, weights_dtype, kv_dtype, activations_dtype, runtime,
                    calibration, kv, system=system, devices=devices, tp=tp, pp=pp, dp=dp, ep=ep, cp=cp,
                    overlap=overlap, microbatches=microbatches, prefill_chunk_tokens=prefill_chunk,
                    mlp_weights_dtype=mlp_weights_dtype, padded_batch=padded_batch,
                    moe_imbalance=moe_imbalance, ssm_state_dtype=ssm_state_dtype, mesh_grid=mesh_grid)
    return est


def _estimate_options(model: str = ModelOpt, device: Optional[str] = MaybeDeviceOpt, batch: int = BatchOpt,
                      prompt: int = PromptOpt, output: int = OutputOpt, weights_dtype: Optional[str] = WeightsOpt,
                      kv_dtype: Optional[str] = KvOpt, activations_dtype: Optional[str] = ActOpt,
                      runtime: Optional[str] = RuntimeOpt, calibration: Optional[str] = CalibrationOpt,
                      system: Optional[str] = SystemOpt, devices: Optional[int] = DevicesOpt,
                      tp: Optional[int] = TpOpt, pp: Optional[int] = PpOpt, dp: Optional[int] = DpOpt,
                      ep: Optional[int] = EpOpt, cp: Optional[int] = CpOpt, overlap: bool = OverlapOpt,
                      microbatches: Optional[int] = MicrobatchOpt, kv_budget: Optional[str] = KvBudgetOpt,
                      kv_sinks: Optional[int] = KvSinksOpt, kv_eviction: str = KvEvictionOpt,
                      kv_offload: Optional[str] = KvOffloadOpt, kv_fetch: Optional[int] = KvFetchOpt,
                      kv_score_channels: int = KvScoreOpt, kv_offload_dtype: Optional[str] = KvOffloadDtypeOpt,
                      kv_overlap: bool = KvOverlapOpt, kv_block: Optional[int] = KvBlockOpt,
                      mla_decode: str = MlaDecodeOpt, decode_attention: str = DecodeAttentionOpt,
                      prefill_chunk: Optional[int] = PrefillChunkOpt, moe_imbalance: float = ImbalanceOpt,
                      mlp_weights_dtype: Optional[str] = MlpWeightsOpt, padded_batch: Optional[int] = PaddedBatchOpt,
                      ssm_state_dtype: Optional[str] = SsmStateOpt, mesh_grid: Optional[int] = MeshGridOpt) -> None:
    """The options of one estimate, which `estimate` and `explain` share (their parameters, for typer)."""


def _with_estimate_options(command: Any) -> Any:
    """`command`, which takes the shared options as **options, as typer sees it: one signature holding
    `_estimate_options`' parameters, then the command's own, then `--json`."""
    import functools
    import inspect

    own = [p for p in inspect.signature(command).parameters.values()
           if p.kind is not p.VAR_KEYWORD and p.name != "as_json"]
    shared = list(inspect.signature(_estimate_options).parameters.values())
    json_opt = inspect.Parameter("as_json", inspect.Parameter.KEYWORD_ONLY, default=JsonOpt, annotation="bool")

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        return command(**kwargs)

    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in shared + own] + [json_opt]
    wrapper.__signature__ = inspect.Signature(params)
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    del wrapper.__wrapped__  # typer reads the signature above, not the command's
    return wrapper


@app.command("estimate")
@_with_estimate_options
def estimate_cmd(as_json: bool, **options: Any) -> None:
    """Time, memory, energy, cost and bottleneck of one model on one device or a system of them."""
    est = _estimate_from_options(**options)
    if as_json:
        _print_json(est.to_dict())
        return
    from infersim.report.tables import summary_table

    _console().print(summary_table(est))


@app.command("explain")
@_with_estimate_options
def explain_cmd(phase: str = typer.Option("both", "--phase", help="prefill, decode or both"), *, as_json: bool,
                **options: Any) -> None:
    """The op table: FLOPs, bytes, arithmetic intensity vs the device's ops:byte, time, what binds;
    collectives with their wire bytes, algorithm and time; PCIe transfers of an offloaded KV cache."""
    from infersim.errors import InfersimError

    if phase not in ("prefill", "decode", "both"):
        raise InfersimError(f"unknown phase '{phase}': choose prefill, decode or both")
    est = _estimate_from_options(**options)
    phases = ("prefill", "decode") if phase == "both" else (phase,)
    if as_json:
        _print_json([op for op in est.to_dict()["ops"] if op["phase"] in phases])
        return
    from infersim.report.tables import ops_table, summary_table

    _print_all([*(ops_table(est, name) for name in phases), summary_table(est)])


@app.command("compare")
def compare_cmd(model: str = ModelOpt,
                device: list[str] = typer.Option([], "--device", "-d", help="repeat for each device"),
                system: list[str] = typer.Option([], "--system", "-s", help="repeat for each system (default layouts)"),
                batch: int = BatchOpt, prompt: int = PromptOpt, output: int = OutputOpt,
                weights_dtype: Optional[str] = WeightsOpt, kv_dtype: Optional[str] = KvOpt, activations_dtype: Optional[str] = ActOpt,
                as_json: bool = JsonOpt) -> None:
    """One model on several devices or systems, side by side."""
    from infersim.errors import InfersimError

    if not device and not system:
        raise InfersimError("give at least one --device or --system to compare")
    estimates = [_estimate(model, d, batch, prompt, output, weights_dtype, kv_dtype, activations_dtype, None)
                 for d in device]
    estimates += [_estimate(model, None, batch, prompt, output, weights_dtype, kv_dtype, activations_dtype, None,
                            system=s) for s in system]
    if as_json:
        _print_json([e.to_dict() for e in estimates])
        return
    from infersim.report.tables import compare_table

    _console().print(compare_table(estimates))


@app.command("plan")
def plan_cmd(model: str = ModelOpt, device: str = DeviceOpt, batch: int = BatchOpt, prompt: int = PromptOpt,
             output: int = OutputOpt, weights_dtype: Optional[str] = WeightsOpt, kv_dtype: Optional[str] = KvOpt,
             activations_dtype: Optional[str] = ActOpt, runtime: Optional[str] = RuntimeOpt,
             target: Optional[float] = typer.Option(None, "--target-tokens-per-s-per-user",
                                                    help="slowest acceptable output tokens/s per user"),
             max_ttft: Optional[float] = typer.Option(None, "--max-ttft", help="longest acceptable TTFT, seconds"),
             max_devices: int = typer.Option(4096, "--max-devices", help="search no further than this many devices"),
             prefill_chunk: Optional[int] = PrefillChunkOpt, mlp_weights_dtype: Optional[str] = MlpWeightsOpt,
             as_json: bool = JsonOpt) -> None:
    """The fewest devices, and the layout on them, that hold the model and meet the targets, and why."""
    from infersim.serving.plan import plan

    result = plan(model, device, batch=batch, prompt_tokens=prompt, output_tokens=output, weights_dtype=weights_dtype,
                  kv_dtype=kv_dtype, activations_dtype=activations_dtype, runtime=runtime,
                  min_tokens_per_s_per_user=target, max_ttft_seconds=max_ttft, max_devices=max_devices,
                  prefill_chunk_tokens=prefill_chunk, mlp_weights_dtype=mlp_weights_dtype)
    if as_json:
        _print_json(result.to_dict())
        return
    from infersim.report.tables import plan_tables

    _print_all(plan_tables(result))


@app.command("speculate")
def speculate_cmd(model: str = ModelOpt, device: Optional[str] = MaybeDeviceOpt, system: Optional[str] = SystemOpt,
                  devices: Optional[int] = DevicesOpt, tp: Optional[int] = TpOpt, pp: Optional[int] = PpOpt,
                  dp: Optional[int] = DpOpt, ep: Optional[int] = EpOpt,
                  method: str = typer.Option("eagle", "--method", help="drafter: eagle, medusa, model, ngram"),
                  draft_model: Optional[str] = typer.Option(None, "--draft-model", help="draft model (--method model)"),
                  gamma: Optional[int] = typer.Option(None, "--gamma", help="drafted tokens per step γ "
                                                      "(default: the best of 1-8 for --acceptance)"),
                  acceptance: Optional[float] = typer.Option(None, "--acceptance", help="acceptance rate α in [0, 1)"),
                  mean_accepted: Optional[float] = typer.Option(None, "--mean-accepted",
                                                               help="mean accepted length τ per step (instead of α)"),
                  verify_tokens: Optional[int] = typer.Option(None, "--verify-tokens",
                                                              help="tokens verified per step (a tree's size; default γ+1)"),
                  head_layers: int = typer.Option(1, "--head-layers", help="EAGLE head decoder layers"),
                  heads: int = typer.Option(4, "--heads", help="Medusa heads"),
                  implementation: Optional[str] = typer.Option(
                      None, "--implementation", help="reference code whose measured host time an eager step pays: "
                      "eagle-1, medusa-1, hf-assisted, pld, ... (default by --method)"),
                  batch: list[int] = typer.Option([1, 8, 64], "--batch", "-b", help="batch sizes (repeatable)"),
                  prompt: int = PromptOpt, output: int = OutputOpt, weights_dtype: Optional[str] = WeightsOpt,
                  kv_dtype: Optional[str] = KvOpt, activations_dtype: Optional[str] = ActOpt,
                  runtime: Optional[str] = RuntimeOpt, as_json: bool = JsonOpt) -> None:
    """Speculative decoding against plain decoding: speedup and tokens/s per batch size, and the best γ."""
    from dataclasses import asdict

    from infersim.techniques.speculative import best_draft_length, make_speculation, speculate

    drafter = {"kind": method, "model": draft_model, "layers": head_layers, "heads": heads}
    common = dict(prompt_tokens=prompt, output_tokens=output, weights_dtype=weights_dtype, kv_dtype=kv_dtype,
                  activations_dtype=activations_dtype, runtime=runtime, system=system, devices=devices, tp=tp, pp=pp,
                  dp=dp, ep=ep)
    best = None
    if gamma is None:
        from infersim.errors import InfersimError

        if acceptance is None:
            raise InfersimError("give --gamma, or --acceptance to search the best γ")
        spec0 = make_speculation(drafter=drafter, draft_tokens=1, acceptance_rate=acceptance)
        best, _ = best_draft_length(model, device, spec0.drafter, acceptance, batch=batch[0], **common)
        gamma = best
    spec = make_speculation(drafter=drafter, draft_tokens=gamma, acceptance_rate=acceptance,
                            mean_accepted_tokens=mean_accepted, verify_tokens=verify_tokens,
                            implementation=implementation)
    results = speculate(model, device, spec, batches=tuple(batch), **common)
    if as_json:
        _print_json({"speculation": spec.model_dump(), "best_draft_tokens": best,
                     "results": [asdict(r) for r in results]})
        return
    from infersim.report.tables import speculation_table

    _console().print(speculation_table(model, results[0].machine, spec, results, best))


@app.command("techniques")
def techniques_cmd(model: str = ModelOpt,
                   device: list[str] = typer.Option([], "--device", "-d", help="repeat for each device"),
                   system: list[str] = typer.Option([], "--system", "-s",
                                                    help="repeat for each system (its default layout)"),
                   batch: int = BatchOpt, prompt: int = PromptOpt, output: int = OutputOpt,
                   acceptance: float = typer.Option(0.7, "--acceptance", help="speculative rows: acceptance rate α"),
                   technique: list[str] = typer.Option([], "--technique", "-t", help="only these (repeatable)"),
                   runtime: Optional[str] = RuntimeOpt, as_json: bool = JsonOpt) -> None:
    """The baseline and what each technique (formats, attention variants, speculative decoding) buys on each
    device or system: TPOT, tokens/s, memory and the largest batch and context that fit."""
    from dataclasses import asdict

    from infersim.techniques.compare import compare_techniques

    rows = compare_techniques(model, device, systems=system, batch=batch, prompt_tokens=prompt, output_tokens=output,
                              acceptance_rate=acceptance, techniques=technique or None, runtime=runtime)
    if as_json:
        _print_json([asdict(r) for r in rows])
        return
    from infersim.report.tables import techniques_tables

    _print_all(techniques_tables(model, rows, batch))


def _print_listing(specs: list[Any], table: Any, as_json: bool) -> None:
    """A catalog listing: every spec's fields as JSON, or a rich table."""
    if as_json:
        _print_json([spec.model_dump() for spec in specs])
    else:
        _console().print(table(specs))


@app.command("devices")
def devices_cmd(as_json: bool = JsonOpt) -> None:
    """List the catalog's devices."""
    from infersim.specs.catalog import all_devices

    from infersim.report.tables import devices_table

    _print_listing(all_devices(), devices_table, as_json)


@app.command("systems")
def systems_cmd(as_json: bool = JsonOpt) -> None:
    """List the catalog's multi-chip systems: device, count, topology, links."""
    from infersim.specs.catalog import all_systems

    from infersim.report.tables import systems_table

    _print_listing(all_systems(), systems_table, as_json)


@app.command("models")
def models_cmd(as_json: bool = JsonOpt) -> None:
    """List the catalog's models."""
    from infersim.specs.catalog import all_models

    models = all_models()
    if as_json:
        _print_json([{**m.model_dump(), "attention": m.attention, "total_params": m.total_params,
                      "active_params": m.active_params} for m in models])
        return
    from infersim.report.tables import models_table

    _console().print(models_table(models))


@app.command("essay")
def essay_cmd(as_json: bool = JsonOpt) -> None:
    """The essays' accelerator table, critical batch sizes and MHA-vs-MLA KV cache, computed."""
    from infersim.report.essay import essay_figures, render_essay

    if as_json:
        _print_json(essay_figures())
        return
    _console().print(render_essay())


@app.command("calibrate-h100")
def calibrate_h100_cmd(markdown: bool = typer.Option(False, "--markdown", help="print the docs/validation.md section"),
                       as_json: bool = JsonOpt) -> None:
    """Refit h100-sxm's efficiencies on the shipped H100 measurements and score llama-2-7b."""
    from infersim.calibration.h100 import fit, markdown_report, score_llama_2_7b

    fitted = fit()
    rows = score_llama_2_7b()
    if as_json:
        _print_json({"fit": fitted.rounded(), "rows": [{**r.__dict__, "error": r.error} for r in rows]})
    elif markdown:
        sys.stdout.write(markdown_report(fitted, rows) + "\n")
    else:
        from rich.markdown import Markdown

        _console().print(Markdown(markdown_report(fitted, rows)))


@app.command("calibrate")
def calibrate_cmd(measure_file: str = typer.Argument(..., help="a JSONL file from `infersim measure`"),
                  device: Optional[str] = typer.Option(None, "--device", "-d",
                                                       help="catalog device the file was measured on (GPU files)"),
                  device_id: Optional[str] = typer.Option(None, "--id", help="id of the calibrated device"),
                  out: Optional[str] = typer.Option(None, "--out", help="where to write (default: the user device folder)")) -> None:
    """Fit achievable fractions and overheads on a measure file's microbenchmarks; write a device YAML."""
    from pathlib import Path

    from infersim.calibration.calibrate import calibrate
    from infersim.specs.catalog import load_device

    path = calibrate(Path(measure_file), base=device, device_id=device_id, out=Path(out) if out else None)
    written = load_device(str(path))
    sys.stdout.write(f"wrote {path}\nuse it as --device {written.id if not out else path}"
                     f"{f' or --device {written.calibrates} --calibration {path}' if device else ''}\n")


@app.command("validate")
def validate_cmd(measured: list[str] = typer.Option([], "--measured",
                                                   help="a JSONL file from `infersim measure` (repeatable)"),
                 device: Optional[str] = typer.Option(None, "--device", "-d",
                                                      help="device the --measured files are predicted on "
                                                           "(default: the one `infersim calibrate` wrote from each)"),
                 case: list[str] = typer.Option([], "--case", help="only this case (22a) or row (22, W6); "
                                                               "repeatable"),
                 category: Optional[str] = typer.Option(None, "--category",
                                                        help="only the categories whose name contains this"),
                 as_json: bool = JsonOpt,
                 write_docs: bool = typer.Option(False, "--write-docs", help="regenerate docs/validation.md")) -> None:
    """Score infersim against published figures and measurements: predicted vs measured, per category."""
    from infersim.validate import scorecard
    from infersim.validate.report import rich_tables
    from infersim.validate.report import write_docs as write

    card = scorecard(measured, device)
    shown = card.only(case, category)  # bad filters fail before anything is written
    if write_docs:  # the whole scorecard, whatever is shown
        sys.stderr.write(f"wrote {write(card)}\n")
    if as_json:
        _print_json(shown.to_dict())
        return
    _print_all(rich_tables(shown))


@app.command("measure")
def measure_cmd(quick: bool = typer.Option(False, "--quick", help="fewer shapes: under 2 minutes on a 2-core CPU"),
                out: Optional[str] = typer.Option(None, "--out", help="JSONL file to write "
                                                  "(default: ./infersim-measure-<device>-<date>.jsonl)"),
                device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda (default: cuda if present)"),
                dtype: Optional[str] = typer.Option(None, "--dtype", help="fp32, bf16 or fp16 (default: bf16 on CUDA; "
                                                    "on a CPU bf16 where it is as fast as fp32, else fp32)"),
                preset: Optional[str] = typer.Option(None, "--preset", hidden=True, help="quick, full or tiny")) -> None:
    """Time copies, GEMMs, attention, framework overhead and whole Hugging Face models on this machine."""
    import shlex
    from pathlib import Path

    from infersim.measure import measure

    if Path(sys.argv[0]).name == "infersim":  # the exact command line, when run as the installed script
        parts = ["infersim", *sys.argv[1:]]
    else:  # called in-process (tests, python -m): the same options, spelled out
        parts = ["infersim", "measure", *(["--quick"] if quick else [])]
        for name, value in (("--device", device), ("--out", out), ("--dtype", dtype), ("--preset", preset)):
            parts += [name, value] if value else []
    result = measure(preset_name=preset or ("quick" if quick else "full"), device=device, out=out, dtype=dtype,
                     command=shlex.join(parts), progress=lambda message: sys.stderr.write(f"measuring {message}\n"))
    sys.stdout.write(f"wrote {result.path}\n{result.summary()}\n")


@app.command("demo")
def demo_cmd() -> None:
    """A few estimates across a GPU, an SRAM LPU and a wafer, on built-in defaults."""
    from infersim.report.demo import render_demo

    _print_all(render_demo())


def _click_exceptions() -> Any:
    """The click exceptions module typer raises from: its vendored copy (typer ≥ 0.2x) or click."""
    try:
        from typer._click import exceptions
    except ImportError:  # older typer depends on click itself
        from click import exceptions
    return exceptions


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point: run the app; user errors become one line on stderr and exit code 2."""
    from infersim.errors import InfersimError

    click_errors = _click_exceptions()

    try:
        app(args=argv, standalone_mode=False, prog_name="infersim")
    except InfersimError as exc:
        sys.stderr.write(f"infersim: error: {exc}\n")
        sys.exit(2)
    except click_errors.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        sys.stderr.write(f"infersim: error: {exc.format_message()}{hint}\n")
        sys.exit(2)
    except click_errors.ClickException as exc:
        sys.stderr.write(f"infersim: error: {exc.format_message()}\n")
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
