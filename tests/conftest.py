"""Shared fixtures: catalog specs loaded once."""

from __future__ import annotations

import pytest

from infersim.specs.catalog import load_device, load_model


@pytest.fixture(scope="session")
def h100():
    return load_device("h100-sxm")


@pytest.fixture(scope="session")
def llama7b():
    return load_model("llama-2-7b")
