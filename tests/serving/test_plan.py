"""`infersim plan`: the fewest devices that hold a model and meet targets, with the reasons for fewer."""

from __future__ import annotations

import json
import math

import pytest

from infersim.errors import InfersimError
from infersim.serving.plan import layouts_for, plan, scaled_systems
from infersim.specs.catalog import load_device, load_model


def test_groq_needs_hundreds_of_chips_for_a_70b_model_and_says_why():
    result = plan("llama-2-70b", "groq-lpu", weights_dtype="int8", output_tokens=16)
    best = result.best
    chips_for_weights = math.ceil(load_model("llama-2-70b").total_params / 230e6)  # 1 byte per weight
    assert best is not None and best.memory.fits and best.system.startswith("groq-rack")
    assert best.devices >= chips_for_weights and best.devices % 8 == 0  # whole 8-chip GroqNodes
    assert "weights exceed" in result.rejected[0].reason  # the first count that cannot even hold the weights
    assert result.rejected[-1].devices < best.devices and "no layout fits" in result.rejected[-1].reason


def test_the_answer_is_the_smallest_count_that_qualifies():
    result = plan("llama-3.1-70b", "h100-sxm", min_tokens_per_s_per_user=50, output_tokens=16)
    assert result.best.output_tokens_per_s_per_user >= 50
    fewer = [r.devices for r in result.rejected]
    assert fewer == list(range(1, result.best.devices))  # every smaller count was tried and ruled out


def test_a_harder_target_never_needs_fewer_devices():
    counts = [plan("llama-3.1-70b", "h100-sxm", min_tokens_per_s_per_user=t, output_tokens=16).best.devices
              for t in (None, 30, 50, 70)]
    assert counts == sorted(counts)


def test_a_wafer_keeps_405b_in_sram_only_with_enough_wafers():
    fast = plan("llama-3.1-405b", "cerebras-wse-3", min_tokens_per_s_per_user=100, output_tokens=16)
    assert fast.best.devices * 44e9 >= 810e9 and not any("stream from" in n for n in fast.best.notes)


def test_with_no_answer_the_plan_shows_the_closest_layout_that_fits():
    """An LPU's per-user speed is latency bound (calibration/groq.py): no count up to 1,024 chips gives
    Llama-2-70B 400 tokens/s, and the plan says so and shows the fastest layout it found, not nothing."""
    result = plan("llama-2-70b", "groq-lpu", weights_dtype="int8", output_tokens=16, min_tokens_per_s_per_user=400,
                  max_devices=1024)
    assert result.best is None and result.searched_devices == 1024
    closest = result.closest
    assert closest is not None and closest.memory.fits and closest.output_tokens_per_s_per_user < 400
    slower = [float(r.reason.split(": ")[1].split(" ")[0]) for r in result.rejected if r.reason.startswith("best of")]
    assert slower and closest.output_tokens_per_s_per_user == pytest.approx(max(slower), abs=0.06)
    assert result.to_dict()["closest"]["devices"] == closest.devices


def test_moe_layouts_include_expert_parallelism():
    layouts = layouts_for(load_model("mixtral-8x7b"), 8, batch=8, prompt_tokens=128)
    assert any(layout.ep == 8 for layout in layouts) and all(layout.devices == 8 for layout in layouts)


def test_device_counts_come_in_the_systems_shapes():
    sizes = [s.device_count if s else 1 for s, _ in zip(scaled_systems(load_device("groq-lpu"), 64), range(20))]
    assert sizes[:8] == list(range(1, 9)) and all(n % 8 == 0 for n in sizes[8:])  # part of a node, then nodes
    tpu = [s.device_count if s else 1 for s in scaled_systems(load_device("tpu-v5e"), 256)]
    assert tpu == [1, 2, 4, 8, 16, 32, 64, 128, 256]


@pytest.mark.parametrize("kwargs, message", [
    (dict(min_tokens_per_s_per_user=-1), "must be positive"),
    (dict(max_ttft_seconds=0), "must be positive"),
    (dict(max_devices=0), "at least 1"),
])
def test_bad_targets(kwargs, message):
    with pytest.raises(InfersimError, match=message):
        plan("llama-3.1-8b", "h100-sxm", **kwargs)


def test_cli_plan(cli):
    code, out, err = cli("plan", "-m", "llama-3.1-70b", "-d", "h100-sxm", "--target-tokens-per-s-per-user", "50",
                         "-o", "16", "--json")
    data = json.loads(out)
    assert code == 0 and data["devices"] == 4 and data["layout"]["tp"] == 4 and data["rejected"][0]["devices"] == 1
    code, out, err = cli("plan", "-m", "llama-3.1-70b", "-d", "h100-sxm", "-o", "16")
    assert code == 0 and "why not fewer" in out
    code, out, err = cli("plan", "-m", "llama-3.1-70b", "-d", "h100-sxmm")
    assert code == 2 and err.count("\n") == 1 and "unknown device" in err
    code, out, err = cli("plan", "-m", "llama-2-7b", "-d", "h100-sxm", "--max-ttft", "0.0001", "--max-devices", "8")
    text = " ".join(out.split())
    assert code == 0 and "no system of up to 8 h100-sxm meets: TTFT" in text and "the closest that fits" in text


def test_chunked_prefill_lets_a_long_prompt_fit_fewer_devices():
    """131k tokens of one-pass activations push Llama-3.1-8B (2-bit KV) onto two RTX 3090s; chunks fit one."""
    kwargs = dict(prompt_tokens=131_072, kv_dtype="int2-kivi", output_tokens=16)
    one_pass = plan("llama-3.1-8b", "rtx-3090", **kwargs)
    chunked = plan("llama-3.1-8b", "rtx-3090", prefill_chunk_tokens=8192, **kwargs)
    assert one_pass.best.devices == 2 and chunked.best.devices == 1
    assert chunked.best.prefill_chunk_tokens == 8192 and chunked.best.layout["cp"] == 1
