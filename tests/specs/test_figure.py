"""Sourced figures: values and sources part on load; unsourced numbers are found."""

from __future__ import annotations

import pytest

from infersim.errors import InfersimError
from infersim.specs.dtypes import bytes_per_element
from infersim.specs.figure import split_sources, unsourced_numbers


def test_split_keeps_values_and_sources_by_path():
    data = {"a": {"value": 3.0, "source": "datasheet"}, "tiers": [{"bw": {"value": 2, "source": "paper"}, "n": "x"}]}
    values, sources = split_sources(data)
    assert values == {"a": 3.0, "tiers": [{"bw": 2, "n": "x"}]}
    assert sources == {"a": "datasheet", "tiers.0.bw": "paper"}


def test_unsourced_numbers_are_listed_with_their_path():
    values, sources = split_sources({"a": {"value": 1, "source": "s"}, "b": 2, "c": {"count": 3}})
    assert unsourced_numbers(values, sources, exempt=frozenset({"count"})) == ["b"]


def test_empty_source_is_an_error():
    with pytest.raises(InfersimError, match="empty source"):
        split_sources({"a": {"value": 1, "source": " "}})


def test_bytes_per_element():
    assert [bytes_per_element(d) for d in ("fp32", "bf16", "fp8", "int4")] == [4, 2, 1, 0.5]
