"""`infersim measure`: the file follows docs/measure-format.md, weights are random normal, writes are atomic,
and a missing PyTorch is one line. One tiny run (a few seconds on CPU) is shared by the file tests."""

from __future__ import annotations

import json
import math
import shlex
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from infersim.cli import main
from infersim.errors import InfersimError
from infersim.measure import MISSING_TORCH
from infersim.measure.timing import Timer

# The fields docs/measure-format.md lists per kind; every row also carries `device` and `runtime`.
MACHINE_FIELDS = {"kind", "device", "device_type", "cpu_model", "cores", "gpu_name", "torch", "transformers",
                  "python", "command", "date", "threads"}
FIELDS = {
    "copy": {"bytes_moved", "seconds", "dtype"},
    "gemm": {"dtype", "m", "k", "n", "seconds"},
    "gemm_graph": {"dtype", "m", "k", "n", "seconds"},
    "attn_prefill": {"dtype", "batch", "heads_q", "heads_kv", "head_dim", "tokens", "seconds"},
    "attn_decode": {"dtype", "batch", "heads_q", "heads_kv", "head_dim", "cache_tokens", "seconds"},
    "op_overhead": {"op", "seconds"},
    "model_info": {"model", "params", "config", "dtype", "runtime"},
    "hf_prefill": {"model", "batch", "prompt", "seconds"},
    "hf_decode_eager": {"model", "batch", "context", "seconds_per_step", "cached_tokens"},
    "fast_decode_graph": {"model", "batch", "context", "seconds_per_step", "cached_tokens"},
}
CPU_KINDS = set(FIELDS) - {"gemm_graph", "fast_decode_graph"}


@pytest.mark.parametrize("module", ["torch", "transformers"])
def test_missing_torch_or_transformers_is_one_line_and_exit_2(monkeypatch, cli, tmp_path, module):
    monkeypatch.setitem(sys.modules, module, None)  # `import <module>` now raises ImportError
    code, out, err = cli("measure", "--quick", "--out", str(tmp_path / "m.jsonl"))
    assert (code, out, err) == (2, "", f"infersim: error: {MISSING_TORCH}\n")
    assert list(tmp_path.iterdir()) == []


def test_timer_warms_up_then_takes_the_median_per_call():
    calls, crops = [], []
    timer = Timer(SimpleNamespace(type="cpu"), warmup=1, repeats=3)
    seconds = timer.seconds(lambda: calls.append(1), inner=2, after=lambda: crops.append(1))
    assert len(calls) == (1 + 3) * 2  # (warm-up + repeats) samples x inner calls
    assert len(crops) == 1 + 3  # once after every sample
    assert 0 < seconds < 0.01


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    pytest.importorskip("torch", reason="measuring needs PyTorch (pip install -e '.[measure]')")
    pytest.importorskip("transformers", reason="measuring needs transformers (pip install -e '.[measure]')")
    path = tmp_path_factory.mktemp("measure") / "tiny.jsonl"
    try:
        main(["measure", "--preset", "tiny", "--device", "cpu", "--out", str(path)])
    except SystemExit as exc:  # pragma: no cover - a failure shows its stderr in the test output
        pytest.fail(f"infersim measure exited {exc.code}")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return path, rows


def test_machine_row_first_with_the_command_line(tiny_run):
    path, rows = tiny_run
    machine = rows[0]
    assert machine["kind"] == "machine" and [r["kind"] for r in rows].count("machine") == 1
    assert MACHINE_FIELDS <= set(machine)
    assert machine["device_type"] == "cpu" and machine["gpu_name"] is None
    assert machine["threads"] >= 1 and machine["cores"] >= 1
    assert shlex.split(machine["command"]) == ["infersim", "measure", "--device", "cpu", "--out", str(path),
                                               "--preset", "tiny"]


def test_every_row_has_its_kinds_fields(tiny_run):
    _, rows = tiny_run
    assert {r["kind"] for r in rows[1:]} == CPU_KINDS
    for row in rows[1:]:
        missing = (FIELDS[row["kind"]] | {"device", "runtime"}) - set(row)
        assert not missing, f"{row['kind']} row lacks {missing}"
        assert row["device"] == rows[0]["device"] and row["runtime"] == "pytorch-eager"
        for key in ("seconds", "seconds_per_step"):
            if key in row:
                assert math.isfinite(row[key]) and row[key] > 0


def test_rows_cover_gqa_both_tiny_ops_and_both_model_families(tiny_run):
    _, rows = tiny_run
    assert any(r["heads_kv"] < r["heads_q"] for r in rows if r["kind"] == "attn_prefill")
    assert any(r["heads_kv"] < r["heads_q"] for r in rows if r["kind"] == "attn_decode")
    assert {r["op"] for r in rows if r["kind"] == "op_overhead"} == {"add_tiny", "decoder_layer_tiny"}
    assert {r["config"]["model_type"] for r in rows if r["kind"] == "model_info"} == {"llama", "mixtral"}
    copy = next(r for r in rows if r["kind"] == "copy")
    assert copy["bytes_moved"] == 2 * 2**20  # a 1 MiB tensor read once and written once
    for row in (r for r in rows if r["kind"] == "hf_decode_eager"):
        assert row["context"] == row["cached_tokens"] + 1  # the cached tokens and the step's own


def test_model_info_config_imports_to_the_same_parameter_count(tiny_run, tmp_path):
    """Two derivations agree: torch's count of the built model and infersim's count from its config."""
    from infersim.specs.hf_config import load_hf_config

    _, rows = tiny_run
    for info in (r for r in rows if r["kind"] == "model_info"):
        (tmp_path / "config.json").write_text(json.dumps(info["config"]))
        assert load_hf_config(tmp_path / "config.json").total_params == info["params"]


def test_weights_are_seeded_random_normal_not_zero():
    torch = pytest.importorskip("torch", reason="building a model needs PyTorch")
    pytest.importorskip("transformers", reason="building a model needs transformers")
    from transformers import LlamaForCausalLM

    from infersim.measure.models import build_model, hf_config
    from infersim.measure.presets import TINY

    shape = TINY.models[0]
    model = build_model(shape, torch.device("cpu"), "fp32", seed=0)
    weight = model.model.layers[0].mlp.gate_proj.weight
    assert weight.std().item() == pytest.approx(0.02, rel=0.1)  # N(0, initializer_range²), 8192 draws
    assert abs(weight.mean().item()) < 0.002
    assert torch.equal(model.model.layers[0].input_layernorm.weight, torch.ones(shape.hidden_size))
    assert all(p.std().item() > 0 for p in model.parameters() if p.dim() >= 2)
    assert torch.equal(build_model(shape, torch.device("cpu"), "fp32", seed=0).lm_head.weight, model.lm_head.weight)
    # skipping transformers' own initialisation leaves the computed buffers (RoPE frequencies) intact
    reference = dict(LlamaForCausalLM(hf_config(shape)).named_buffers())
    assert all(torch.equal(buffer, reference[name]) for name, buffer in model.named_buffers())


def test_a_failed_run_leaves_no_file(monkeypatch, tmp_path):
    pytest.importorskip("torch", reason="measuring needs PyTorch")
    pytest.importorskip("transformers", reason="measuring needs transformers")
    from infersim.measure import measure, microbench

    def fail(*args, **kwargs):
        raise RuntimeError("simulated failure after the copy and GEMM rows were written")

    monkeypatch.setattr(microbench, "attention_rows", fail)
    out = tmp_path / "m.jsonl"
    with pytest.raises(RuntimeError, match="simulated"):
        measure(preset_name="tiny", device="cpu", out=out)
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temp file
    out.write_text("earlier run\n")
    with pytest.raises(RuntimeError, match="simulated"):
        measure(preset_name="tiny", device="cpu", out=out)
    assert [p.name for p in tmp_path.iterdir()] == ["m.jsonl"] and out.read_text() == "earlier run\n"


def test_bad_requests_are_user_errors(tmp_path):
    torch = pytest.importorskip("torch", reason="measuring needs PyTorch")
    pytest.importorskip("transformers", reason="measuring needs transformers")
    from infersim.measure import measure

    with pytest.raises(InfersimError, match="unknown measure preset 'huge'"):
        measure(preset_name="huge", device="cpu", out=tmp_path / "m.jsonl")
    with pytest.raises(InfersimError, match="unknown device 'tpu'"):
        measure(preset_name="tiny", device="tpu", out=tmp_path / "m.jsonl")
    with pytest.raises(InfersimError, match="is a folder"):
        measure(preset_name="tiny", device="cpu", out=tmp_path)
    with pytest.raises(InfersimError, match="unknown --dtype 'fp64': choose one of fp32, bf16, fp16"):
        measure(preset_name="tiny", device="cpu", out=tmp_path / "m.jsonl", dtype="fp64")
    if not torch.cuda.is_available():
        with pytest.raises(InfersimError, match="sees no CUDA GPU"):
            measure(preset_name="tiny", device="cuda", out=tmp_path / "m.jsonl")
    assert list(tmp_path.iterdir()) == []


def test_default_file_name_names_device_and_date(monkeypatch, tmp_path):
    from datetime import date

    from infersim.measure.run import default_path

    monkeypatch.chdir(tmp_path)
    assert default_path("cpu") == Path(tmp_path) / f"infersim-measure-cpu-{date.today().isoformat()}.jsonl"


def test_timer_fastest_takes_the_floor_not_the_median(monkeypatch):
    timer = Timer(SimpleNamespace(type="cpu"), warmup=0, repeats=3)
    samples = iter([0.5, 0.1, 0.9])
    monkeypatch.setattr(Timer, "_sample", lambda self, fn, inner: next(samples))
    assert timer.seconds(lambda: None, fastest=True) == 0.1
    samples = iter([0.5, 0.1, 0.9])
    assert timer.seconds(lambda: None) == 0.5
