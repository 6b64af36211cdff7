"""The model catalog: every shipped YAML loads, its closed-form parameter count matches what the authors
published, and real Hugging Face config.json files import to the same shapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infersim.errors import InfersimError
from infersim.specs.catalog import load_model, model_ids

HF_CONFIGS = Path(__file__).resolve().parents[1] / "data" / "hf_configs"

CATALOG_IDS = {
    "falcon-180b",
    "gpt-j-6b",
    "llama-2-7b",
    "vicuna-7b-v1.3",
    "vicuna-13b-v1.3",
    "vicuna-33b-v1.3",
    "vicuna-68m",
    "llama-2-13b",
    "llama-2-70b",
    "llama-3-8b",
    "llama-3-70b",
    "llama-3.1-8b",
    "llama-3.1-70b",
    "llama-3.1-405b",
    "mistral-7b",
    "mixtral-8x7b",
    "mixtral-8x22b",
    "qwen2.5-7b",
    "qwen2.5-72b",
    "deepseek-v2-lite",
    "deepseek-v3",
    "mamba-2.8b",
    "jamba-v0.1",
}

# Shipped config.json -> the catalog id it must reproduce.
SHIPPED_CONFIGS = {
    "llama-3.1-8b.json": "llama-3.1-8b",
    "mistral-7b.json": "mistral-7b",
    "mixtral-8x7b.json": "mixtral-8x7b",
    "qwen2.5-7b.json": "qwen2.5-7b",
    "deepseek-v2-lite.json": "deepseek-v2-lite",
    "deepseek-v3.json": "deepseek-v3",
    "mamba-2.8b.json": "mamba-2.8b",
    "jamba-v0.1.json": "jamba-v0.1",
}

SHAPE_FIELDS = (
    "hidden_size",
    "num_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "intermediate_size",
    "vocab_size",
    "tie_word_embeddings",
    "mlp",
    "attention_bias",
    "max_position_embeddings",
    "moe",
    "mla",
    "ssm",
    "rope",
    "norm",
)


def test_catalog_holds_exactly_the_expected_models():
    assert set(model_ids()) == CATALOG_IDS
    assert len(model_ids()) == len(CATALOG_IDS)


@pytest.mark.parametrize("model_id", sorted(CATALOG_IDS))
def test_every_catalog_model_loads_with_a_source(model_id):
    model = load_model(model_id)
    assert model.id == model_id
    assert model.source.strip()
    assert model.published_params is not None and model.published_params_source


@pytest.mark.parametrize("model_id", sorted(CATALOG_IDS))
def test_total_params_within_one_percent_of_published(model_id):
    model = load_model(model_id)
    rel = abs(model.total_params - model.published_params) / model.published_params
    assert rel < 0.01, (
        f"{model_id}: closed form {model.total_params:,} vs published {model.published_params:,} ({rel:.2%})"
    )


@pytest.mark.parametrize(
    ("model_id", "kind"),
    [
        ("llama-2-7b", "mha"),
        ("llama-2-13b", "mha"),
        ("llama-3-8b", "gqa"),
        ("llama-2-70b", "gqa"),
        ("qwen2.5-7b", "gqa"),
        ("mixtral-8x7b", "gqa"),
        ("deepseek-v2-lite", "mla"),
        ("deepseek-v3", "mla"),
    ],
)
def test_attention_kind(model_id, kind):
    assert load_model(model_id).attention == kind


def test_deepseek_v3_shapes_match_the_paper():
    m = load_model("deepseek-v3")
    assert (m.num_layers, m.hidden_size, m.num_attention_heads, m.vocab_size) == (61, 7168, 128, 129280)
    assert (m.mla.kv_lora_rank, m.mla.q_lora_rank) == (512, 1536)
    assert (m.mla.qk_nope_head_dim, m.mla.qk_rope_head_dim, m.mla.v_head_dim) == (128, 64, 128)
    assert (m.moe.num_experts, m.moe.experts_per_token, m.moe.num_shared_experts) == (256, 8, 1)
    assert (m.moe.expert_intermediate_size, m.moe.first_dense_layers, m.intermediate_size) == (2048, 3, 18432)
    assert (m.num_dense_layers, m.num_moe_layers) == (3, 58)
    # 37B activated per token (model card); the closed form counts the embedding table too.
    assert abs(m.active_params - 37e9) / 37e9 < 0.03


def test_mixture_of_experts_active_params_are_a_fraction():
    mixtral = load_model("mixtral-8x7b")
    assert mixtral.is_moe and mixtral.num_moe_layers == 32
    # Mistral AI: 12.9B of 46.7B parameters used per token.
    assert abs(mixtral.active_params - 12.9e9) / 12.9e9 < 0.01
    assert not load_model("llama-3-8b").is_moe


def test_qwen_has_qkv_bias_and_an_untied_head():
    for model_id in ("qwen2.5-7b", "qwen2.5-72b"):
        m = load_model(model_id)
        assert m.attention_bias and not m.tie_word_embeddings


def test_shipped_configs_are_all_present():
    assert {p.name for p in HF_CONFIGS.glob("*.json")} >= set(SHIPPED_CONFIGS)


@pytest.mark.parametrize(("filename", "model_id"), sorted(SHIPPED_CONFIGS.items()))
def test_hf_config_imports_to_the_catalog_shapes(filename, model_id):
    imported = load_model(str(HF_CONFIGS / filename))
    catalog = load_model(model_id)
    for field in SHAPE_FIELDS:
        assert getattr(imported, field) == getattr(catalog, field), field
    assert imported.total_params == catalog.total_params
    assert imported.id == Path(filename).stem


def test_hf_config_folder_imports(tmp_path):
    folder = tmp_path / "Mixtral-8x7B-v0.1"
    folder.mkdir()
    (folder / "config.json").write_text((HF_CONFIGS / "mixtral-8x7b.json").read_text())
    model = load_model(str(folder))
    assert model.id == "Mixtral-8x7B-v0.1"
    assert model.moe == load_model("mixtral-8x7b").moe


def test_hf_config_missing_hidden_size_names_the_field(tmp_path):
    config = json.loads((HF_CONFIGS / "llama-3.1-8b.json").read_text())
    del config["hidden_size"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(config))
    with pytest.raises(InfersimError, match="hidden_size"):
        load_model(str(path))


def test_hf_config_malformed_json_is_a_user_error(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"hidden_size": 4096,, "num_hidden_layers": 32}')
    with pytest.raises(InfersimError, match="malformed JSON"):
        load_model(str(path))


def test_heads_not_a_multiple_of_kv_heads_is_rejected(tmp_path):
    yaml_text = "\n".join(
        [
            "id: bad-gqa",
            "name: Bad GQA",
            "source: test",
            "hidden_size: 4096",
            "num_layers: 2",
            "num_attention_heads: 32",
            "num_key_value_heads: 6",
            "head_dim: 128",
            "intermediate_size: 11008",
            "vocab_size: 32000",
        ]
    )
    path = tmp_path / "bad-gqa.yaml"
    path.write_text(yaml_text + "\n")
    with pytest.raises(InfersimError, match="multiple"):
        load_model(str(path))


def test_hf_config_that_is_not_text_is_a_user_error(tmp_path):
    path = tmp_path / "weights.json"
    path.write_bytes(b"\xff\xfe\x00\x81 not utf-8")
    with pytest.raises(InfersimError, match="not a text file"):
        load_model(str(path))


def test_hf_config_with_zero_heads_is_a_user_error(tmp_path):
    config = json.loads((HF_CONFIGS / "mistral-7b.json").read_text())
    config["num_attention_heads"] = 0
    path = tmp_path / "zero-heads.json"
    path.write_text(json.dumps(config))
    with pytest.raises(InfersimError, match="num_attention_heads"):
        load_model(str(path))


def test_with_changes_recomputes_what_derives_from_the_shapes():
    from infersim.specs.catalog import load_model

    model = load_model("llama-3.1-8b")
    assert model.total_params and len(model.layer_kinds) == 32  # cached on the original
    head = model.with_changes(num_layers=1)
    assert len(head.layer_kinds) == 1 and head.num_attention_layers == 1
    assert head.total_params == model.total_params - 31 * (model.attention_params_per_layer()
                                                           + model.norm_params_per_layer()
                                                           + model.mlp_params(model.intermediate_size))
    with pytest.raises(Exception):
        model.with_changes(num_key_value_heads=3)  # 32 query heads: validated, not copied blindly
