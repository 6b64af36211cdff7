"""Sourced figures in catalog files.

In YAML a figure is written `{value: 3.35e12, source: "NVIDIA H100 datasheet"}`. Loading splits each
such pair: the value goes where the spec expects a number and the source into a flat
`sources` mapping keyed by the figure's dotted path (`memory.0.bytes_per_s`). Specs stay plain numbers
on the hot path, and every figure keeps its provenance for `infersim devices --json` and the docs.
"""

from __future__ import annotations

from typing import Any

from infersim.errors import InfersimError


def split_sources(data: Any, path: str = "") -> tuple[Any, dict[str, str]]:
    """Return (`data` with every {value, source} pair replaced by its value, {dotted path: source})."""
    sources: dict[str, str] = {}
    if isinstance(data, dict):
        if "value" in data and "source" in data and set(data) <= {"value", "source", "note"}:
            if not isinstance(data["source"], str) or not data["source"].strip():
                raise InfersimError(f"figure '{path}' has an empty source: name its datasheet, paper or command")
            return data["value"], {path: data["source"]}
        out = {}
        for key, value in data.items():
            child_path = f"{path}.{key}" if path else str(key)
            out[key], child = split_sources(value, child_path)
            sources.update(child)
        return out, sources
    if isinstance(data, list):
        out_list = []
        for index, value in enumerate(data):
            item, child = split_sources(value, f"{path}.{index}" if path else str(index))
            out_list.append(item)
            sources.update(child)
        return out_list, sources
    return data, sources


def unsourced_numbers(data: Any, sources: dict[str, str], path: str = "", exempt: frozenset[str] = frozenset()) -> list[str]:
    """Dotted paths of numeric leaves in `data` that have no source of their own or of an ancestor."""
    missing: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            missing += unsourced_numbers(value, sources, f"{path}.{key}" if path else str(key), exempt)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            missing += unsourced_numbers(value, sources, f"{path}.{index}" if path else str(index), exempt)
    elif isinstance(data, (int, float)) and not isinstance(data, bool):
        parts = path.split(".")
        ancestors = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        if not (ancestors & set(sources)) and parts[-1] not in exempt:
            missing.append(path)
    return missing
