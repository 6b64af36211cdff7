"""Import a Hugging Face `config.json` (read offline) as a `ModelSpec`.

Covers the Llama, Mistral, Mixtral, Qwen2/Qwen2-MoE and DeepSeek-V2/V3 families: their configs share
`hidden_size`, `num_hidden_layers`, `num_attention_heads`, `intermediate_size`, `vocab_size`, and name
MoE and MLA fields as mapped below. Two state-space families have their own fields: Mamba
(`model_type` "mamba", MambaForCausalLM: `state_size`, `conv_kernel`, `expand`, `time_step_rank`, and
`intermediate_size` meaning the SSM's inner width, not an MLP) and the Jamba hybrid ("jamba": the usual
attention and MoE fields plus `mamba_*`, `attn_layer_period/offset`, `expert_layer_period/offset`).
A missing required field is one clear error naming the field.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from infersim.errors import InfersimError
from infersim.specs.model import ModelSpec

_REQUIRED = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size")
_MAMBA_REQUIRED = ("hidden_size", "num_hidden_layers", "vocab_size", "state_size", "conv_kernel", "expand")
_GELU_PLAIN = {"gelu", "gelu_new", "gelu_pytorch_tanh", "relu"}  # families with an ungated MLP
_NOT_MODELLED = {"mamba2": "Mamba-2's SSD layer (multi-head state, grouped B and C) is not modelled; "
                           "Mamba-1 (model_type mamba) and Jamba are"}


def _read(path: Path) -> dict[str, Any]:
    if path.is_dir():
        path = path / "config.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InfersimError(f"config file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise InfersimError(f"malformed JSON in {path} at line {exc.lineno}: {exc.msg}") from None
    except UnicodeDecodeError:
        raise InfersimError(f"{path} is not a text file; a Hugging Face config.json is UTF-8 JSON") from None
    except OSError as exc:
        raise InfersimError(f"cannot read {path}: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise InfersimError(f"{path} must hold a JSON object, found {type(data).__name__}")
    if "text_config" in data and "hidden_size" not in data:  # multimodal wrappers keep the LM inside
        data = data["text_config"]
    return data


def _positive_ints(*values: Any) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values)


def _dt_rank(value: Any, hidden: Any) -> Any:
    """Mamba's Δ rank: 'auto' is ceil(d / 16) (HF MambaConfig, JambaConfig)."""
    return math.ceil(hidden / 16) if value in (None, "auto") and _positive_ints(hidden) else value


def _mamba_fields(config: dict[str, Any], origin: str) -> dict[str, Any]:
    """MambaForCausalLM: layers of norm + SSM block, no attention and no MLP; LM head tied unless stated."""
    missing = [key for key in _MAMBA_REQUIRED if config.get(key) is None]
    if missing:
        raise InfersimError(f"{origin} is missing {', '.join(missing)}; a Mamba config.json has them")
    hidden, expand = config["hidden_size"], config["expand"]
    inner = config.get("intermediate_size")
    if _positive_ints(hidden, expand) and inner is not None and inner != expand * hidden:
        raise InfersimError(f"{origin}: intermediate_size {inner} is not expand x hidden_size = {expand * hidden}; "
                            "infersim models the SSM inner width as expand x hidden_size")
    return {
        "hidden_size": hidden,
        "num_layers": config["num_hidden_layers"],
        "vocab_size": config["vocab_size"],
        "tie_word_embeddings": bool(config.get("tie_word_embeddings", True)),  # MambaConfig's default
        "norm": "rmsnorm" if config.get("rms_norm", True) else "layernorm",
        "max_position_embeddings": config.get("max_position_embeddings"),
        "ssm": {
            "d_state": config["state_size"],
            "d_conv": config["conv_kernel"],
            "expand": expand,
            "dt_rank": _dt_rank(config.get("time_step_rank"), hidden),
            "conv_bias": bool(config.get("use_conv_bias", True)),
            "proj_bias": bool(config.get("use_bias", False)),
        },
    }


def _jamba_ssm(config: dict[str, Any]) -> dict[str, Any]:
    """Jamba's `mamba_*` block and its attention pattern (JambaConfig's defaults where a field is absent)."""
    return {
        "d_state": config.get("mamba_d_state", 16),
        "d_conv": config.get("mamba_d_conv", 4),
        "expand": config.get("mamba_expand", 2),
        "dt_rank": _dt_rank(config.get("mamba_dt_rank"), config["hidden_size"]),
        "conv_bias": bool(config.get("mamba_conv_bias", True)),
        "proj_bias": bool(config.get("mamba_proj_bias", False)),
        "inner_norms": bool(config.get("mamba_inner_layernorms", True)),  # always on in HF's JambaMambaMixer
        "attn_layer_period": config.get("attn_layer_period", 8),
        "attn_layer_offset": config.get("attn_layer_offset", 4),
    }


def hf_config_to_fields(config: dict[str, Any], origin: str) -> dict[str, Any]:
    """Map a config.json dict onto `ModelSpec` fields (raises InfersimError on a missing field)."""
    model_type = config.get("model_type")
    if model_type in _NOT_MODELLED:
        raise InfersimError(f"{origin}: model_type {model_type}: {_NOT_MODELLED[model_type]}")
    if model_type == "mamba":
        return _mamba_fields(config, origin)
    missing = [key for key in _REQUIRED if config.get(key) is None]
    if missing:
        raise InfersimError(
            f"{origin} is missing {', '.join(missing)}; a Llama/Mistral/Qwen2/DeepSeek/Jamba config.json has them "
            "(a Mamba one names model_type mamba)"
        )
    heads = config["num_attention_heads"]
    hidden = config["hidden_size"]
    fields: dict[str, Any] = {
        "hidden_size": hidden,
        "num_layers": config["num_hidden_layers"],
        "num_attention_heads": heads,
        "num_key_value_heads": config.get("num_key_value_heads") or heads,
        "head_dim": config.get("head_dim") or (hidden // heads if _positive_ints(hidden, heads) else None),
        "intermediate_size": config["intermediate_size"],
        "vocab_size": config["vocab_size"],
        "tie_word_embeddings": bool(config.get("tie_word_embeddings", False)),
        "mlp": "plain" if config.get("hidden_act") in _GELU_PLAIN else "gated",
        "attention_bias": bool(config.get("attention_bias", config.get("model_type") == "qwen2")),
        "max_position_embeddings": config.get("max_position_embeddings"),
        # Mistral uses its window; Qwen2 lists one but turns it off unless use_sliding_window is true
        "sliding_window": config.get("sliding_window") if config.get("use_sliding_window", True) else None,
    }
    if config.get("kv_lora_rank"):
        fields["mla"] = {
            "kv_lora_rank": config["kv_lora_rank"],
            "q_lora_rank": config.get("q_lora_rank"),
            "qk_nope_head_dim": config["qk_nope_head_dim"],
            "qk_rope_head_dim": config["qk_rope_head_dim"],
            "v_head_dim": config["v_head_dim"],
        }
        fields["head_dim"] = config["v_head_dim"]
    experts = config.get("n_routed_experts") or config.get("num_local_experts") or config.get("num_experts")
    jamba = model_type == "jamba"
    if jamba:
        fields.update(ssm=_jamba_ssm(config), rope=False)  # JambaAttention applies no positional encoding
    if experts and not (jamba and experts == 1):  # Jamba: one expert means a dense MLP on every layer
        fields["moe"] = {
            "num_experts": experts,
            "experts_per_token": config.get("num_experts_per_tok") or config.get("num_experts_per_token"),
            "expert_intermediate_size": config.get("moe_intermediate_size") or config["intermediate_size"],
            "num_shared_experts": config.get("n_shared_experts") or 0,
            "first_dense_layers": config.get("first_k_dense_replace") or 0,
        }
        if jamba:
            fields["moe"].update(layer_period=config.get("expert_layer_period", 2),
                                 layer_offset=config.get("expert_layer_offset", 1))
        if fields["moe"]["experts_per_token"] is None:
            raise InfersimError(f"{origin} names {experts} experts but not num_experts_per_tok")
    return fields


def load_hf_config(path: Path) -> ModelSpec:
    """A `ModelSpec` from a config.json file or a folder holding one."""
    from infersim.specs.catalog import model_from_mapping

    config = _read(path)
    file = path / "config.json" if path.is_dir() else path
    model_id = file.resolve().parent.name if file.name == "config.json" else file.stem
    fields = hf_config_to_fields(config, str(file))
    fields.update(id=model_id, name=str(config.get("_name_or_path") or model_id),
                  source=f"Hugging Face config.json: {file}")
    return model_from_mapping(fields, str(file))
