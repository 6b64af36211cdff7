"""The CLI: `--json` equals the library's `to_dict()`, bad input is one line and exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from infersim.cost.estimate import estimate


def test_estimate_json_equals_library(cli):
    code, out, _ = cli("estimate", "--model", "llama-2-7b", "--device", "h100-sxm", "--batch", "4",
                       "--prompt", "700", "--output", "50", "--kv-dtype", "fp8", "--json")
    assert code == 0
    expected = estimate("llama-2-7b", "h100-sxm", batch=4, prompt_tokens=700, output_tokens=50, kv_dtype="fp8")
    assert json.loads(out) == json.loads(json.dumps(expected.to_dict()))


def test_kv_options_reach_the_library(cli):
    code, out, _ = cli("estimate", "-m", "llama-3.1-8b", "-d", "rtx-3090", "--prompt", "32768", "--kv-dtype",
                       "int2-kivi", "--kv-budget", "20%", "--kv-eviction", "h2o", "--kv-offload", "0.5",
                       "--kv-fetch", "256", "--kv-score-channels", "8", "--kv-serial", "--kv-block", "16", "--json")
    assert code == 0
    from infersim.specs.kvcache import KVBudget, KVOffload

    expected = estimate("llama-3.1-8b", "rtx-3090", prompt_tokens=32768, kv_dtype="int2-kivi",
                        kv_budget=KVBudget(fraction=0.2, eviction="h2o"),
                        kv_offload=KVOffload(fraction=0.5, fetch_tokens=256, score_channels=8, overlap=False),
                        kv_block_tokens=16)
    assert json.loads(out) == json.loads(json.dumps(expected.to_dict()))
    code, out, _ = cli("explain", "-m", "llama-3.1-8b", "-d", "rtx-3090", "--kv-offload", "0.5", "--phase",
                       "decode", "--json")
    fetch = next(r for r in json.loads(out) if r["name"] == "kv_host_fetch")
    assert code == 0 and fetch["kind"] == "transfer" and fetch["algorithm"] == "pcie4" and fetch["wire_bytes"] > 0


def test_estimate_table_names_the_bottleneck(cli):
    code, out, _ = cli("estimate", "-m", "llama-2-7b", "-d", "h100-sxm")
    assert code == 0 and "time per output token" in out and "memory" in out


def test_explain_shows_every_op_and_the_device_ratio(cli):
    code, out, _ = cli("explain", "-m", "llama-2-7b", "-d", "h100-sxm", "--phase", "decode", "--json")
    rows = json.loads(out)
    assert code == 0 and {r["name"] for r in rows} >= {"qkv_proj", "attn_score", "o_proj", "gate_up_proj", "lm_head"}
    assert all(r["phase"] == "decode" for r in rows)
    assert rows[0]["device_ops_per_byte"] == pytest.approx(989.4e12 / 3.35e12)


def test_compare_two_devices(cli):
    code, out, _ = cli("compare", "-m", "llama-2-7b", "-d", "h100-sxm", "-d", "h100-sxm", "--json")
    assert code == 0 and len(json.loads(out)) == 2


def test_devices_and_models_list_json(cli):
    code, out, _ = cli("devices", "--json")
    devices = json.loads(out)
    assert code == 0 and any(d["id"] == "h100-sxm" and d["sources"] for d in devices)
    code, out, _ = cli("models", "--json")
    assert code == 0 and any(m["id"] == "llama-2-7b" and m["total_params"] == 6_738_415_616 for m in json.loads(out))


BAD = [
    (("estimate", "-m", "llama-2-7x", "-d", "h100-sxm"), "did you mean llama-2-7b"),
    (("estimate", "-m", "llama-2-7b", "-d", "h100"), "did you mean h100-sxm"),
    (("estimate", "-m", "llama-2-7b", "-d", "h100-sxm", "--batch", "0"), "batch"),
    (("estimate", "-m", "llama-2-7b", "-d", "h100-sxm", "--prompt", "-3"), "prompt_tokens"),
    (("estimate", "-m", "llama-2-7b", "-d", "h100-sxm", "--batch", "many"), "--batch"),
    (("estimate", "-m", "llama-2-7b", "-d", "h100-sxm", "--kv-dtype", "fp9"), "kv_dtype"),
    (("explain", "-m", "llama-2-7b", "-d", "h100-sxm", "--phase", "both2"), "phase"),
    (("estimate", "--frobnicate"), "No such option"),
    (("estimate", "-m", "llama-3.1-8b", "-d", "rtx-3090", "--kv-budget", "2"), "below its 4 attention sinks"),
    (("estimate", "-m", "llama-3.1-8b", "-d", "rtx-3090", "--kv-budget", "100", "--kv-sinks", "200"),
     "below its 200 attention sinks"),
    (("estimate", "-m", "llama-3.1-8b", "-d", "rtx-3090", "--kv-offload", "-0.5"), "must not be negative"),
    (("explain", "-m", "llama-3.1-8b", "-d", "rtx-3090", "--kv-offload", "1.5"), "must be whole"),
    (("estimate", "-m", "llama-3.1-8b", "-d", "h100-sxm", "--weights-dtype", "int4g128"), "did you mean int4-g128"),
    (("explain", "-m", "llama-3.1-8b", "-d", "h100-sxm", "--kv-dtype", "kivi2"), "unknown number format 'kivi2'"),
    (("estimate", "-m", "llama-3.1-8b", "-d", "h100-sxm", "--kv-offload", "0.5", "--kv-offload-dtype", "fp5"),
     "unknown number format 'fp5'"),
    (("estimate", "-m", "llama-3.1-8b", "-d", "cerebras-wse-3", "--kv-offload", "0.5"), "no PCIe host link"),
    (("estimate", "-m", "llama-3.1-8b", "-d", "h100-sxm", "--kv-block", "0"), "block_tokens"),
    (("explain", "-m", "llama-3.1-8b", "-d", "h100-sxm", "--decode-attention", "per-head"),
     "choose grouped or per-query-head"),
    (("estimate", "-m", "llama-3.1-8b", "-d", "h100-sxm", "--mesh-grid", "100"), "has no core mesh"),
    (("explain", "-m", "llama-3.1-8b", "-d", "cerebras-wse-3", "--mesh-grid", "5000"), "between 1 and 948"),
]


@pytest.mark.parametrize("args, words", BAD)
def test_bad_input_is_one_line_and_exit_2(cli, args, words):
    code, out, err = cli(*args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and words in err and "Traceback" not in err


def test_malformed_device_yaml(cli, tmp_path):
    bad = tmp_path / "dev.yaml"
    bad.write_text("id: x\npeak_flops_per_s: {bf16: [1, 2\n")
    code, _, err = cli("estimate", "-m", "llama-2-7b", "-d", str(bad))
    assert code == 2 and "malformed YAML" in err and err.count("\n") == 1


def test_heads_that_do_not_divide(cli, tmp_path):
    bad = tmp_path / "m.yaml"
    bad.write_text("id: m\nname: m\nsource: test\nhidden_size: 512\nnum_layers: 2\nnum_attention_heads: 8\n"
                   "num_key_value_heads: 3\nhead_dim: 64\nintermediate_size: 1024\nvocab_size: 1000\n")
    code, _, err = cli("estimate", "-m", str(bad), "-d", "h100-sxm")
    assert code == 2 and "multiple" in err and err.count("\n") == 1


def test_config_json_missing_fields(cli, tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"num_hidden_layers": 2, "vocab_size": 100}))
    code, _, err = cli("estimate", "-m", str(cfg), "-d", "h100-sxm")
    assert code == 2 and "hidden_size" in err


def test_console_script_exit_code_in_a_real_process():
    """The installed entry point, not just main(): exit 2 and one stderr line."""
    proc = subprocess.run([sys.executable, "-m", "infersim.cli", "estimate", "-m", "nope", "-d", "h100-sxm"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and proc.stdout == ""


def test_essay_prints_the_computed_tables(cli):
    code, out, _ = cli("essay")
    assert code == 0
    assert "295.2" in out and "758.8" in out and "1,749.0" in out  # table ops:byte, Blackhole, MHA KB/token
    code, out, _ = cli("essay", "--json")
    assert code == 0 and json.loads(out)


def test_demo_runs_on_defaults(cli):
    code, out, _ = cli("demo")
    assert code == 0
    for device in ("h100-sxm", "groq-lpu", "cerebras-wse-3"):
        assert device in out
    # one LPU cannot hold an 8B model: the demo shows the fewest chips infersim plan finds, and says so
    assert "chips are the fewest that hold the model" in out and "does not fit" not in out
    # the LPU's step is its kernels' latency (calibration/groq.py), which the demo says
    assert "kernels' fixed latency" in " ".join(out.split())


def test_calibrate_h100_json(cli):
    code, out, _ = cli("calibrate-h100", "--json")
    assert code == 0 and json.loads(out)["fit"]["memory_fraction"] > 0.8
