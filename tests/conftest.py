"""Shared fixtures: catalog specs loaded once."""

from __future__ import annotations

import pytest

from infersim.specs.catalog import load_device, load_model


@pytest.fixture(autouse=True)
def _isolated_user_catalog(tmp_path_factory, monkeypatch):
    """Tests never see the calibrated devices of whoever runs them (~/.infersim/devices)."""
    monkeypatch.setenv("INFERSIM_HOME", str(tmp_path_factory.getbasetemp() / "infersim-home"))


@pytest.fixture
def cli(capsys):
    """Run `infersim ARGS...` in-process: returns (exit code, stdout, stderr)."""
    from infersim.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(scope="session")
def h100():
    return load_device("h100-sxm")


@pytest.fixture(scope="session")
def llama7b():
    return load_model("llama-2-7b")
