"""The cases infersim is scored on: one measured number each, and what it takes to predict it.

Two sources, read the same way into `Case`s:

- published figures, `data/published.yaml` (copied from the project's reference table of published
  measurements: vendor and paper numbers, each with its source and stated assumptions);
- measurement files (JSON lines, docs/measure-format.md): the H100 files shipped in
  `infersim.calibration.data`, and any file `infersim measure` wrote. Microbenchmark rows become
  kernel cases (one GEMM, one attention, one copy); whole-model rows (`hf_prefill`, `hf_decode_eager`,
  `fast_prefill`, `fast_decode_graph`) become whole-model cases of the model their `model_info` row
  describes, built from its Hugging Face `config`.

A case that cannot be predicted yet is still a case: it carries what it requires (`requires`) or a
reason (`unsupported`), and scoring lists it as unsupported. Nothing is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from infersim.calibration.fit import dtype_of
from infersim.errors import InfersimError
from infersim.specs.model import ModelSpec

PUBLISHED = "infersim.validate.data"

# measure-file runtimes -> infersim runtimes
RUNTIMES = {"pytorch-eager": "eager", "pytorch-cuda-graph": "cuda-graph"}
# microbenchmark kinds -> the kernel they time
KERNEL_KINDS = {"gemm": "gemm", "gemm_graph": "gemm", "attn_prefill": "attention_prefill",
                "attn_decode": "attention_decode", "copy": "copy"}
WHOLE_MODEL_KINDS = ("hf_prefill", "hf_decode_eager", "fast_prefill", "fast_decode_graph")
METADATA_KINDS = ("machine", "model_info", "fast_model_info")
LAYOUT_DEGREES = ("tp", "pp", "dp", "ep", "cp")  # the parallel degrees `infersim.estimate` takes


@dataclass(frozen=True)
class Case:
    """One measured figure and the configuration it was measured in.

    `kernel` is set for a single timed operation (gemm, attention_prefill, attention_decode, copy,
    collective, host_copy; its `shape` holds the sizes); otherwise the case is a whole model served on `devices`
    devices and predicted with `infersim.estimate`. Several devices sit in the catalog system
    `system_id` (resized to `devices` where it can be), or, without one, behind a switch on the
    device's fastest link (`cost.parallel.switch_of`); `layout` holds the parallel degrees the row
    states or its assumptions choose (tp, pp, dp, ep, cp; the rest default). `value` is in SI units
    (seconds, bytes/s, FLOP/s, tokens/s).
    """

    id: str
    category: str
    metric: str
    value: float
    source: str
    system: str = ""
    model: str | ModelSpec | None = None
    model_name: str = ""
    device: str | None = None
    device_name: str = ""
    devices: int | None = 1
    system_id: str | None = None
    layout: dict[str, int] = field(default_factory=dict)
    overlap: bool = False  # collectives hidden under compute (estimate's `overlap`)
    prefill_chunk_tokens: int | None = None  # a chunked prefill (estimate's `prefill_chunk_tokens`)
    padded_batch: int | None = None  # the static batch shape decode runs at (estimate's `padded_batch`)
    mesh_grid: int | None = None  # a wafer program's region side in cores (estimate's `mesh_grid`)
    parallelism: str = ""
    weights_dtype: str | None = None
    mlp_weights_dtype: str | None = None
    kv_dtype: str | None = None
    activations_dtype: str | None = None
    batch: int | None = None
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    runtime: str | None = None
    kernel: str | None = None
    shape: dict[str, Any] = field(default_factory=dict)
    kv_cache: dict[str, Any] = field(default_factory=dict)  # a `specs.kvcache.KVCache` (budget, offload, paging)
    requires: tuple[str, ...] = ()
    assumptions: str = ""
    value_text: str = ""
    bound: str | None = None  # "lower" / "upper" when the figure is "> x" / "up to x"
    unsupported: str | None = None  # a reason known when the case is built (e.g. no device to predict on)
    note: str = ""
    speculation: dict[str, Any] = field(default_factory=dict)  # techniques.speculative.Speculation fields
    mean_accepted_tokens: float | None = None  # τ a speculative-decoding row reports

    @property
    def model_id(self) -> str | None:
        return self.model.id if isinstance(self.model, ModelSpec) else self.model


# ---- published figures -----------------------------------------------------------------------------
_PUBLISHED_FIELDS = {
    "id": "id", "category": "category", "metric": "metric", "value": "value", "source": "source",
    "system": "system", "model": "model", "model_name": "model_name", "device": "device", "overlap": "overlap",
    "prefill_chunk_tokens": "prefill_chunk_tokens", "padded_batch": "padded_batch", "mesh_grid": "mesh_grid",
    "device_name": "device_name", "devices": "devices", "system_id": "system_id", "layout": "layout",
    "parallelism": "parallelism", "precision": "weights_dtype", "mlp_precision": "mlp_weights_dtype",
    "kv_dtype": "kv_dtype", "activations_dtype": "activations_dtype", "batch": "batch",
    "prompt_tokens": "prompt_tokens", "output_tokens": "output_tokens", "runtime": "runtime", "kernel": "kernel",
    "shape": "shape", "requires": "requires", "assumptions": "assumptions", "value_text": "value_text",
    "bound": "bound", "speculation": "speculation", "mean_accepted_tokens": "mean_accepted_tokens",
    "kv_cache": "kv_cache", "note": "note",
}
_PUBLISHED_INFO = {"date"}  # kept in the data, not used to predict


def _published() -> dict[str, Any]:
    """`data/published.yaml`, a syntax problem as one line (catalog.read_yaml)."""
    from infersim.specs.catalog import read_yaml

    return read_yaml(Path(str(resources.files(PUBLISHED).joinpath("published.yaml"))))


def published_entries() -> list[dict[str, Any]]:
    """The raw entries of `data/published.yaml`."""
    return list(_published()["cases"])


def published_sources() -> dict[str, str]:
    """The short source names the table uses ([TRT-061], [SNB], ...) and what they stand for."""
    return dict(_published().get("sources", {}))


def published_cases() -> list[Case]:
    """Every entry of `data/published.yaml` as a `Case`, in file order."""
    cases = []
    for entry in published_entries():
        unknown = set(entry) - set(_PUBLISHED_FIELDS) - _PUBLISHED_INFO
        if unknown:
            raise InfersimError(f"published.yaml entry {entry.get('id')}: unknown fields {sorted(unknown)}")
        fields = {_PUBLISHED_FIELDS[k]: v for k, v in entry.items() if k in _PUBLISHED_FIELDS and v is not None}
        fields["id"] = str(fields["id"])
        if not isinstance(fields.get("value"), (int, float)):
            raise InfersimError(f"published.yaml entry {fields['id']}: value must be a number in SI units "
                                f"(YAML floats need a dot and a signed exponent: 7.4e+14), got {entry.get('value')!r}")
        fields["value"] = float(fields["value"])
        fields["value_text"] = str(fields.get("value_text", ""))
        fields["requires"] = tuple(fields.get("requires", ()))
        layout = fields.get("layout", {})
        if not isinstance(layout, dict) or set(layout) - set(LAYOUT_DEGREES):
            raise InfersimError(f"published.yaml entry {fields['id']}: layout must map {', '.join(LAYOUT_DEGREES)} "
                                f"to degrees, got {layout!r}")
        fields.setdefault("devices", None)  # null or absent: the row does not state it
        cases.append(Case(**fields))
    return cases


# ---- measurement files -----------------------------------------------------------------------------
def _machine_kind(rows: list[dict[str, Any]]) -> str:
    from infersim.calibration.calibrate import machine_row

    return "CPU" if machine_row(rows).get("device_type", "cpu") == "cpu" else "GPU"


def _runtime(row: dict[str, Any], default: str) -> str:
    return RUNTIMES.get(str(row.get("runtime")), default)


def _kernel_case(row: dict[str, Any], label: str, machine: str, device: str | None,
                 unsupported: str | None) -> Case:
    kind = row["kind"]
    kernel = KERNEL_KINDS[kind]
    runtime = _runtime(row, "cuda-graph" if kind == "gemm_graph" else "eager")
    dtype = dtype_of(row)
    if kernel == "gemm":
        shape = {k: row[k] for k in ("m", "k", "n")}
        what = f"{kind} {dtype} m={row['m']} k={row['k']} n={row['n']}"
    elif kernel == "copy":
        shape = {"bytes_moved": row["bytes_moved"]}
        what = f"copy {row['bytes_moved'] / 2**20:,.0f} MiB moved"
    else:
        tokens_key = "tokens" if kernel == "attention_prefill" else "cache_tokens"
        shape = {k: row[k] for k in ("batch", "heads_q", "heads_kv", "head_dim", tokens_key)}
        what = (f"{kind} B={row['batch']} H={row['heads_q']}/{row['heads_kv']} d={row['head_dim']} "
                f"{'T' if kernel == 'attention_prefill' else 'S'}={row[tokens_key]}")
    # a GEMM stores its right-hand matrix as "weights": fp8 rows multiply in fp8 with 16-bit activations
    activations = dtype if dtype in ("bf16", "fp16", "fp32") else "bf16"
    return Case(id=f"{label} {what}", category=f"{machine} microbenchmarks ({runtime})", metric="seconds",
                value=float(row["seconds"]), source=label, system=str(row.get("device", "")), device=device,
                weights_dtype=dtype, kv_dtype=activations, activations_dtype=activations, runtime=runtime,
                kernel=kernel, shape=shape, unsupported=unsupported)


def _models(rows: list[dict[str, Any]], label: str) -> dict[str, ModelSpec | str | None]:
    """Model name -> a ModelSpec built from the model_info row's Hugging Face config, else the catalog
    id of that name, else None."""
    from infersim.specs.catalog import model_from_mapping, model_ids
    from infersim.specs.hf_config import hf_config_to_fields

    models: dict[str, ModelSpec | str | None] = {}
    for row in rows:
        if row.get("kind") != "model_info":
            continue
        name = str(row.get("model"))
        config = row.get("config")
        if isinstance(config, dict):
            origin = f"{label} model_info '{name}'"
            fields = hf_config_to_fields(config, origin)
            fields.update(id=name, name=name, source=f"measure file {label}: model_info config")
            models[name] = model_from_mapping(fields, origin)
        else:
            models[name] = name if name in model_ids() else None
    return models


def _whole_model_case(row: dict[str, Any], label: str, machine: str, device: str | None,
                      models: dict[str, ModelSpec | str | None], info: dict[str, dict[str, Any]],
                      unsupported: str | None) -> Case:
    kind, name = row["kind"], str(row.get("model"))
    runtime = _runtime(row, "eager" if kind.startswith("hf_") else "cuda-graph")
    model = models.get(name)
    if unsupported is None and model is None:
        unsupported = (f"model '{name}' has no model_info config in {label} and is not a catalog model"
                       if name in models else f"no model_info row for '{name}' in {label}")
    dtype = dtype_of(info.get(name), default=None)
    common = dict(category=f"{machine} whole models ({runtime})", source=label, system=str(row.get("device", "")),
                  model=model, model_name=name, device=device, devices=1, weights_dtype=dtype, kv_dtype=dtype,
                  activations_dtype=dtype, batch=int(row["batch"]), runtime=runtime, unsupported=unsupported)
    if kind in ("hf_prefill", "fast_prefill"):
        return Case(id=f"{label} {kind} {name} B={row['batch']} prompt={row['prompt']}", metric="prefill_seconds",
                    value=float(row["seconds"]), prompt_tokens=int(row["prompt"]), output_tokens=2, **common)
    # a step that reads a cache of `context` tokens: context − 1 cached before it, plus its own
    return Case(id=f"{label} {kind} {name} B={row['batch']} context={row['context']}", metric="tpot_seconds",
                value=float(row["seconds_per_step"]), prompt_tokens=int(row["context"]) - 1, output_tokens=2,
                **common)


def measured_cases(rows: list[dict[str, Any]], label: str, device: str | None,
                   unsupported: str | None = None) -> list[Case]:
    """Cases of one measurement file's rows, to be predicted on `device` (None: `unsupported` says why).

    Metadata rows (machine, model_info) are not cases; every other row is one, unknown kinds included
    (listed as unsupported)."""
    machine = _machine_kind(rows)
    models = _models(rows, label)
    info = {str(r.get("model")): r for r in rows if r.get("kind") == "model_info"}
    cases = []
    for number, row in enumerate(rows, 1):
        kind = row.get("kind")
        if kind in METADATA_KINDS:
            continue
        try:
            if kind in KERNEL_KINDS:
                cases.append(_kernel_case(row, label, machine, device, unsupported))
            elif kind in WHOLE_MODEL_KINDS:
                cases.append(_whole_model_case(row, label, machine, device, models, info, unsupported))
            else:
                reason = ("framework overhead probe: an input of `infersim calibrate`, not a prediction target"
                          if kind == "op_overhead" else f"unknown row kind '{kind}'")
                cases.append(Case(id=f"{label} line {number} {kind} {row.get('op', '')}".rstrip(),
                                  category=f"{machine} microbenchmarks ({_runtime(row, 'eager')})", metric="seconds",
                                  value=float(row.get("seconds", float("nan"))), source=label,
                                  device=device, unsupported=reason))
        except (KeyError, TypeError, ValueError) as exc:
            raise InfersimError(f"{label} line {number}: {kind} row is missing or has a bad field ({exc})") from None
    return cases


def shipped_h100_rows() -> dict[str, list[dict[str, Any]]]:
    """The H100 measurement files shipped with infersim, by file name."""
    from infersim.calibration.h100 import load_rows

    return {name: load_rows(name) for name in ("microbench.jsonl", "llama-2-7b.jsonl")}


def calibrated_device_for(path: Path) -> str | None:
    """Id of the device `infersim calibrate` wrote from this file (its figures cite the file's name),
    if one is in the user's device folder."""
    from infersim.specs.catalog import load_device, user_devices_dir

    folder = user_devices_dir()
    if not folder.is_dir():
        return None
    cited = f"measured: infersim calibrate {path.name}"
    for file in sorted(folder.glob("*.yaml")):
        try:
            device = load_device(file.stem)
        except InfersimError:
            continue
        if any(source.startswith(cited) for source in device.sources.values()):
            return device.id
    return None
