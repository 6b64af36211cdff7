"""MLP weights in their own format (tt-metal's bfp4 MLP beside bfp8 attention): bytes that add up, and time."""

from __future__ import annotations

import pytest

from infersim.cost.estimate import estimate
from infersim.cost.memory import weight_bytes
from infersim.cost.parallel import device_weight_bytes, stage_weight_parts
from infersim.specs.catalog import load_model, model_ids
from infersim.specs.dtypes import bytes_per_element
from infersim.specs.layout import Layout


@pytest.mark.parametrize("model_id", sorted(model_ids()))
def test_the_two_parts_add_up_to_the_model(model_id):
    model = load_model(model_id)
    mlp, rest = stage_weight_parts(model, Layout(), 0)
    assert mlp + rest == model.total_params
    assert weight_bytes(model, "bfp8", "bfp4") == pytest.approx(
        mlp * bytes_per_element("bfp4") + rest * bytes_per_element("bfp8"))
    assert weight_bytes(model, "bf16", "bf16") == weight_bytes(model, "bf16")


def test_sharded_parts_add_up_to_the_whole():
    model = load_model("mixtral-8x7b")
    layout = Layout(tp=4, pp=2)
    per_stage = [stage_weight_parts(model, layout, s) for s in range(2)]
    whole_mlp, _ = stage_weight_parts(model, Layout(), 0)
    # the experts and the dense parts split over tp; the router is copied on every tensor-parallel device
    router = model.hidden_size * model.moe.num_experts * model.num_layers
    assert sum(m for m, _ in per_stage) * 4 == pytest.approx(whole_mlp + 3 * router)
    busiest = max(m * bytes_per_element("bfp4") + r * bytes_per_element("bfp8") for m, r in per_stage)
    assert device_weight_bytes(model, "bfp8", layout, "bfp4") == pytest.approx(busiest)


def test_a_leaner_mlp_decodes_faster_and_holds_less():
    kwargs = dict(system="tenstorrent-t3000", tp=8, batch=1, prompt_tokens=128, output_tokens=2)
    bfp8 = estimate("llama-3-70b", weights_dtype="bfp8", **kwargs)
    bfp4 = estimate("llama-3-70b", weights_dtype="bfp8", mlp_weights_dtype="bfp4", **kwargs)
    same = estimate("llama-3-70b", weights_dtype="bfp8", mlp_weights_dtype="bfp8", **kwargs)
    assert bfp4.tpot_seconds < bfp8.tpot_seconds and bfp4.memory.weights_bytes < bfp8.memory.weights_bytes
    assert same.tpot_seconds == bfp8.tpot_seconds and same.memory.weights_bytes == bfp8.memory.weights_bytes
    lean, full = ({r.name: r for r in e.ops if r.phase == "decode"} for e in (bfp4, bfp8))
    assert lean["gate_up_proj"].weight_bytes / full["gate_up_proj"].weight_bytes == pytest.approx(4.5 / 8.5)
    assert lean["qkv_proj"].weight_bytes == full["qkv_proj"].weight_bytes  # attention keeps bfp8


def test_block_floats_multiply_natively_only_on_tenstorrent():
    h100 = estimate("llama-2-7b", "h100-sxm", weights_dtype="bfp8", prompt_tokens=2048, output_tokens=2)
    tt = estimate("llama-2-7b", "tenstorrent-wormhole", weights_dtype="bfp8", prompt_tokens=2048, output_tokens=2)
    assert {r.dtype for r in h100.ops if r.name == "gate_up_proj"} == {"bf16"}  # dequantized: no bfp8 peak
    assert {r.dtype for r in tt.ops if r.name == "gate_up_proj"} == {"bfp8"}


def test_cli_takes_an_mlp_format_and_refuses_an_unknown_one(cli):
    code, out, _ = cli("estimate", "-m", "llama-2-7b", "-d", "tenstorrent-wormhole", "--weights-dtype", "bfp8",
                       "--mlp-weights-dtype", "bfp4")
    assert code == 0 and "weights bfp8 (MLP bfp4)" in out.replace("\n", " ")
    code, _, err = cli("estimate", "-m", "llama-2-7b", "-d", "h100-sxm", "--mlp-weights-dtype", "bfp3")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "bfp4" in err
