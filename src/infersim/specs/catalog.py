"""The built-in catalog (YAML under `catalog/`) and loading specs by name or path.

`load_model("llama-3-8b")` reads `catalog/models/llama-3-8b.yaml`; `load_model("path/to/config.json")`
imports a Hugging Face config; `load_device("h100-sxm")` reads `catalog/devices/h100-sxm.yaml`, and a
path to a YAML file loads a user's own device. Devices written by `infersim calibrate` live in the
user's device folder ($INFERSIM_HOME/devices, default ~/.infersim/devices) and load by id too.
Every problem is an `InfersimError` of one line.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from infersim.errors import InfersimError, unknown_name_error
from infersim.specs.device import DeviceSpec
from infersim.specs.figure import split_sources, unsourced_numbers
from infersim.specs.model import ModelSpec

CATALOG_DIR = Path(__file__).parent / "catalog"
DEVICES_DIR = CATALOG_DIR / "devices"
MODELS_DIR = CATALOG_DIR / "models"

# Numeric fields of a device that are counts or labels, not figures needing a source.
_UNSOURCED_OK = frozenset({"count"})


def validation_message(error: ValidationError, whole: str = "file") -> str:
    """Pydantic's first complaint as one line: 'field.path: message' (`whole` names a complaint about the
    object as a whole; empty: the message alone)."""
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or whole
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse a YAML mapping, turning I/O and syntax problems into one-line errors."""
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InfersimError(f"file not found: {path}") from None
    except OSError as exc:
        raise InfersimError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InfersimError(f"malformed YAML in {path}{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise InfersimError(f"{path} must hold a YAML mapping of fields, found {type(data).__name__}")
    return data


def _inherit_efficiency(values: dict[str, Any], sources: dict[str, str], origin: str) -> None:
    """`efficiency_from: {value: <catalog id>, source: "assumed: ..."}` takes that device's (fitted)
    efficiency block, each figure sourced as the assumption plus where the original came from."""
    base_id = values["efficiency_from"]
    if base_id not in _ids(DEVICES_DIR):
        raise InfersimError(f"{origin}: efficiency_from names '{base_id}', which is not a catalog device")
    base = _catalog_device(base_id)
    values["efficiency"] = base.efficiency.model_dump(exclude_unset=True)
    why = sources.get("efficiency_from", "assumed")
    for path, source in base.sources.items():
        if path.startswith("efficiency."):
            sources[path] = f"{why} [{base_id}: {source}]"


def validate_sourced(spec: Any, values: dict[str, Any], sources: dict[str, str], origin: str,
                     exempt: frozenset[str] = frozenset()) -> Any:
    """Check every number has a source, then validate `values` (with their `sources`) as `spec`;
    every problem is one `InfersimError` line naming `origin`."""
    missing = unsourced_numbers(values, sources, exempt=exempt)
    if missing:
        raise InfersimError(f"{origin}: figure '{missing[0]}' has no source; write it as {{value: ..., source: ...}}")
    values["sources"] = sources
    try:
        return spec.model_validate(values)
    except ValidationError as exc:
        raise InfersimError(f"{origin}: {validation_message(exc).removeprefix('file: ')}") from None


def device_from_mapping(data: dict[str, Any], origin: str) -> DeviceSpec:
    """Validate a device mapping whose figures are `{value, source}` pairs."""
    values, sources = split_sources(data)
    if "efficiency_from" in values:
        _inherit_efficiency(values, sources, origin)
    return validate_sourced(DeviceSpec, values, sources, origin, exempt=_UNSOURCED_OK)


def model_from_mapping(data: dict[str, Any], origin: str) -> ModelSpec:
    try:
        return ModelSpec.model_validate(data)
    except ValidationError as exc:
        raise InfersimError(f"{origin}: {validation_message(exc)}") from None


def _looks_like_path(name: str) -> bool:
    return name.endswith((".json", ".yaml", ".yml")) or "/" in name or "\\" in name


@lru_cache(maxsize=2)
def _ids(folder: Path) -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in folder.glob("*.yaml")))


def user_devices_dir() -> Path:
    """Where calibrated devices are kept: $INFERSIM_HOME/devices, default ~/.infersim/devices."""
    return Path(os.environ.get("INFERSIM_HOME") or Path.home() / ".infersim") / "devices"


def _user_device_ids() -> list[str]:
    folder = user_devices_dir()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def device_ids() -> list[str]:
    """Ids of the catalog's devices and the user's calibrated ones."""
    return sorted(set(_ids(DEVICES_DIR)) | set(_user_device_ids()))


def model_ids() -> list[str]:
    """Ids of the catalog's models (file names, read once per process)."""
    return list(_ids(MODELS_DIR))


@lru_cache(maxsize=None)
def _catalog_device(device_id: str) -> DeviceSpec:
    return device_from_mapping(read_yaml(DEVICES_DIR / f"{device_id}.yaml"), f"device '{device_id}'")


@lru_cache(maxsize=None)
def _catalog_model(model_id: str) -> ModelSpec:
    return model_from_mapping(read_yaml(MODELS_DIR / f"{model_id}.yaml"), f"model '{model_id}'")


def load_device(name: str | DeviceSpec, calibration: str | Path | None = None) -> DeviceSpec:
    """A device by catalog id, a calibrated id from the user's folder, or a YAML path; a `DeviceSpec`
    passes through. `calibration` names a file from `infersim calibrate` that must calibrate this device."""
    if isinstance(name, DeviceSpec):
        device = name
    elif _looks_like_path(name):
        device = device_from_mapping(read_yaml(Path(name)), str(name))
    elif name in _ids(DEVICES_DIR):
        device = _catalog_device(name)
    elif (user_devices_dir() / f"{name}.yaml").exists():
        device = device_from_mapping(read_yaml(user_devices_dir() / f"{name}.yaml"), f"device '{name}'")
    else:
        raise unknown_name_error("device", name, device_ids())
    if calibration is None:
        return device
    calibrated = device_from_mapping(read_yaml(Path(calibration)), str(calibration))
    if calibrated.calibrates != (device.calibrates or device.id):
        raise InfersimError(f"{calibration} calibrates '{calibrated.calibrates or calibrated.id}', not '{device.id}': "
                            f"use it with --device {calibrated.calibrates or calibrated.id}")
    return calibrated


def load_model(name: str | ModelSpec) -> ModelSpec:
    """A model by catalog id, from a model YAML, or from a Hugging Face config.json; specs pass through."""
    if isinstance(name, ModelSpec):
        return name
    if name.endswith(".json") or (Path(name).is_dir() and (Path(name) / "config.json").exists()):
        from infersim.specs.hf_config import load_hf_config

        return load_hf_config(Path(name))
    if _looks_like_path(name):
        return model_from_mapping(read_yaml(Path(name)), str(name))
    if name not in _ids(MODELS_DIR):
        raise unknown_name_error("model", name, model_ids())
    return _catalog_model(name)


def all_devices() -> list[DeviceSpec]:
    """The catalog's devices, then the user's calibrated ones."""
    return [_catalog_device(i) for i in _ids(DEVICES_DIR)] + [load_device(i) for i in _user_device_ids()
                                                              if i not in _ids(DEVICES_DIR)]


def all_models() -> list[ModelSpec]:
    return [_catalog_model(i) for i in model_ids()]


# ---- multi-chip systems (catalog/systems/*.yaml) ----------------------------------------------------
SYSTEMS_DIR = CATALOG_DIR / "systems"


@lru_cache(maxsize=1)
def _system_file_ids() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in SYSTEMS_DIR.glob("*.yaml")))


def system_from_mapping(data: dict[str, Any], origin: str) -> "SystemSpec":
    """Validate a system mapping whose figures are `{value, source}` pairs; its `device` must be a known
    device id (catalog or calibrated), else one error naming the closest ones."""
    from infersim.specs.system import SystemSpec

    values, sources = split_sources(data)
    device = values.get("device")
    if isinstance(device, str) and device not in device_ids():
        raise InfersimError(f"{origin}: {unknown_name_error('device', device, device_ids())}")
    return validate_sourced(SystemSpec, values, sources, origin)


@lru_cache(maxsize=None)
def _catalog_system(system_id: str) -> "SystemSpec":
    return system_from_mapping(read_yaml(SYSTEMS_DIR / f"{system_id}.yaml"), f"system '{system_id}'")


def system_ids() -> list[str]:
    """Ids of the catalog's multi-chip systems."""
    return list(_system_file_ids())


def load_system(name: "str | SystemSpec") -> "SystemSpec":
    """A multi-chip system by catalog id or from a YAML path; a `SystemSpec` passes through."""
    from infersim.specs.system import SystemSpec

    if isinstance(name, SystemSpec):
        return name
    if _looks_like_path(name):
        return system_from_mapping(read_yaml(Path(name)), str(name))
    if name not in _system_file_ids():
        from infersim.errors import closest_names

        pool = system_ids()
        near = closest_names(name, pool)
        hint = f"did you mean {', '.join(near)}?" if near else f"known systems: {', '.join(pool)}"
        raise InfersimError(f"unknown system '{name}': {hint}")
    return _catalog_system(name)


def all_systems() -> list["SystemSpec"]:
    """The catalog's multi-chip systems, by id."""
    return [_catalog_system(i) for i in system_ids()]
