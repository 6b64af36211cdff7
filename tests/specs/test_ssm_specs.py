"""State-space and hybrid model specs: closed-form parameters by hand, the layer pattern, the Hugging Face
importer for Mamba and Jamba configs, and impossible shapes as one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infersim.errors import InfersimError
from infersim.specs.catalog import load_model, model_from_mapping

HF_CONFIGS = Path(__file__).resolve().parents[1] / "data" / "hf_configs"

MAMBA_FIELDS = {"id": "tiny-mamba", "name": "tiny", "source": "test", "hidden_size": 64, "num_layers": 4,
                "vocab_size": 100, "ssm": {"d_state": 16, "d_conv": 4, "expand": 2, "dt_rank": 4}}


def test_mamba_2_8b_params_by_hand():
    m = load_model("mamba-2.8b")
    d, d_in, n, r, k = 2560, 5120, 16, 160, 4
    per_layer = (d * 2 * d_in  # in_proj: 26,214,400
                 + d_in * k + d_in  # conv1d and its bias: 25,600
                 + d_in * (r + 2 * n)  # x_proj: 983,040
                 + r * d_in + d_in  # dt_proj and its bias: 824,320
                 + d_in * n + d_in  # A_log, D: 87,040
                 + d_in * d  # out_proj: 13,107,200
                 + d)  # the block's RMSNorm
    assert per_layer == 41_244_160
    assert m.total_params == 64 * per_layer + 50280 * d + d == 2_768_345_600  # tied head, final norm
    assert m.active_params == m.total_params
    assert (m.num_attention_layers, m.num_ssm_layers, m.num_dense_layers, m.attention) == (0, 64, 0, "none")


def test_jamba_layer_pattern_and_params():
    m = load_model("jamba-v0.1")
    attention = [i for i, (mixer, _) in enumerate(m.layer_kinds) if mixer == "attention"]
    moe = [i for i, (_, mlp) in enumerate(m.layer_kinds) if mlp == "moe"]
    assert attention == [4, 12, 20, 28]  # i mod 8 = 4: one layer in eight
    assert moe == list(range(1, 32, 2))  # i mod 2 = 1
    assert m.layer_groups() == {("ssm", "dense"): 12, ("ssm", "moe"): 16, ("attention", "dense"): 4}
    # mamba block: in_proj 4096·16384 + conv 8192·4 + 8192 + x_proj 8192·288 + dt_proj 256·8192 + 8192
    # + A_log 8192·16 + D 8192 + out_proj 8192·4096 + inner norms 256 + 32
    assert m.ssm_params_per_layer() == 105_308_448
    # AI21: 12B active of 52B total (the Hub counts 51.6B); the closed form counts the embedding and head too
    assert abs(m.active_params - 12e9) / 12e9 < 0.01
    assert abs(m.total_params - 51.6e9) / 51.6e9 < 0.01


def test_pure_ssm_without_mlp_has_one_norm_per_layer():
    m = model_from_mapping(dict(MAMBA_FIELDS), "test")
    assert m.layer_kinds == (("ssm", "none"),) * 4
    assert m.total_params == 4 * (m.ssm_params_per_layer() + 64) + 100 * 64 * 2 + 64  # untied by default


@pytest.mark.parametrize(("change", "words"), [
    ({"ssm": {**MAMBA_FIELDS["ssm"], "d_state": 0}}, "ssm.d_state: Input should be greater than 0"),
    ({"ssm": {**MAMBA_FIELDS["ssm"], "attn_layer_period": 8}, "num_attention_heads": 4, "num_key_value_heads": 4,
      "head_dim": 16, "intermediate_size": 128}, "attn_layer_period (8) exceeds num_layers (4)"),
    ({"ssm": {**MAMBA_FIELDS["ssm"], "attn_layer_period": 2, "attn_layer_offset": 2}},
     "attn_layer_offset (2) must be smaller than attn_layer_period (2)"),
    ({"num_attention_heads": 4}, "num_attention_heads is given but no layer is attention"),
    ({"ssm": {**MAMBA_FIELDS["ssm"], "attn_layer_period": 2}, "intermediate_size": 128},
     "num_attention_heads is required: the model has 2 attention layers"),
    ({"ssm": None, "num_attention_heads": 4, "num_key_value_heads": 4, "head_dim": 16},
     "intermediate_size (the MLP width) is required"),
    ({"intermediate_size": 128, "moe": {"num_experts": 4, "experts_per_token": 2, "expert_intermediate_size": 32,
                                        "layer_period": 2, "layer_offset": 3}},
     "layer_offset (3) must be smaller than layer_period (2)"),
])
def test_impossible_shapes_are_one_line_errors(change, words):
    with pytest.raises(InfersimError) as info:
        model_from_mapping({**MAMBA_FIELDS, **change}, "bad.yaml")
    message = str(info.value)
    assert words in message and "\n" not in message and message.startswith("bad.yaml: ")


def test_bad_ssm_yaml_is_one_line_and_exit_2(cli, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in
                              {**MAMBA_FIELDS, "ssm": {**MAMBA_FIELDS["ssm"], "d_state": 0}}.items()) + "\n")
    code, _, err = cli("estimate", "-m", str(path), "-d", "h100-sxm")
    assert code == 2 and "d_state" in err and err.count("\n") == 1


def _edited(tmp_path: Path, shipped: str, **changes) -> str:
    """A shipped config.json with some fields changed, written where load_model can read it."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**json.loads((HF_CONFIGS / shipped).read_text()), **changes}))
    return str(path)


def test_mamba_config_auto_dt_rank_and_tied_head(tmp_path):
    model = load_model(_edited(tmp_path, "mamba-2.8b.json", time_step_rank="auto"))  # ceil(hidden_size / 16)
    assert model.ssm.dt_rank == 160 and model.tie_word_embeddings and model.intermediate_size is None


def test_mamba_config_with_a_foreign_inner_width_is_a_user_error(tmp_path):
    with pytest.raises(InfersimError, match="intermediate_size 6000 is not expand x hidden_size = 5120"):
        load_model(_edited(tmp_path, "mamba-2.8b.json", intermediate_size=6000))


def test_jamba_config_with_one_expert_is_dense(tmp_path):
    model = load_model(_edited(tmp_path, "jamba-v0.1.json", num_experts=1))
    assert model.moe is None and model.num_dense_layers == 32 and not model.rope


def test_mamba2_config_is_a_clear_error(tmp_path):
    with pytest.raises(InfersimError, match="Mamba-2's SSD layer .* is not modelled"):
        load_model(_edited(tmp_path, "mamba-2.8b.json", model_type="mamba2", num_heads=80))


def test_models_command_lists_them(cli):
    code, out, _ = cli("models", "--json")
    listed = {m["id"]: m for m in json.loads(out)}
    mamba = listed["mamba-2.8b"]
    assert code == 0 and mamba["ssm"]["d_state"] == 16 and mamba["num_attention_heads"] is None
    assert listed["jamba-v0.1"]["ssm"]["attn_layer_period"] == 8 and listed["jamba-v0.1"]["moe"]["layer_period"] == 2
    code, out, _ = cli("models")
    assert code == 0 and "mamba-2.8b" in out and "jamba-v0.1" in out
