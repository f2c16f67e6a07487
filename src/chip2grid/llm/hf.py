"""Read an architecture from a local Hugging Face ``config.json`` (no hub access)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chip2grid.errors import InvalidParameterError
from chip2grid.llm.architecture import Architecture


def _first(config: dict[str, Any], *names: str, default: Any = None) -> Any:
    for name in names:
        if config.get(name) is not None:
            return config[name]
    return default


def architecture_from_hf_config(config: dict[str, Any], model_id: str, source: str) -> Architecture:
    """Build an :class:`Architecture` from the dict of a Hugging Face ``config.json``.

    Handles Llama/Mistral/Qwen/Gemma style configs, Mixtral/Qwen-MoE/DeepSeek (MLA) MoE
    configs, GPT-J/GPT-NeoX/Falcon/BLOOM names, and multimodal configs with a ``text_config``.
    """
    if isinstance(config.get("text_config"), dict):
        merged = dict(config["text_config"])
        merged.setdefault("tie_word_embeddings", config.get("tie_word_embeddings", False))
        config = merged
    hidden = _first(config, "hidden_size", "n_embd", "d_model")
    layers = _first(config, "num_hidden_layers", "n_layer", "num_layers")
    heads = _first(config, "num_attention_heads", "n_head", "num_heads")
    if hidden is None or layers is None or heads is None:
        raise InvalidParameterError(
            f"{source}: hidden_size/num_hidden_layers/num_attention_heads",
            {"hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": heads},
            "a decoder config.json that states all three",
        )
    for name, value in (
        ("hidden_size", hidden),
        ("num_hidden_layers", layers),
        ("num_attention_heads", heads),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise InvalidParameterError(f"{source}: {name}", value, "an integer > 0")
    try:
        return _architecture(config, model_id, source, hidden, layers, heads)
    except InvalidParameterError:
        raise
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            source, "a field of the wrong type", f"numbers where config.json states sizes ({exc})"
        ) from None


def _architecture(
    config: dict[str, Any], model_id: str, source: str, hidden: int, layers: int, heads: int
) -> Architecture:
    """The :class:`Architecture` of a config whose three required sizes are checked."""
    vocab = _first(config, "vocab_size", "padded_vocab_size")
    if vocab is None:
        raise InvalidParameterError(f"{source}: vocab_size", None, "the vocabulary size")
    kv_heads = _first(config, "num_key_value_heads", "num_kv_heads", "n_head_kv")
    if kv_heads is None:
        kv_heads = 1 if config.get("multi_query") else heads
    head_dim = _first(config, "head_dim", default=None) or hidden // heads
    intermediate = _first(
        config, "intermediate_size_mlp", "intermediate_size", "n_inner", "ffn_hidden_size"
    )
    activation = str(_first(config, "hidden_act", "activation_function", default="silu")).lower()
    gated = "silu" in activation or "swish" in activation or "glu" in activation
    if config.get("model_type") in {"gemma", "gemma2", "gemma3", "gemma3_text"}:
        gated = True
    if intermediate is None:
        intermediate = 4 * hidden
    num_experts = (
        _first(config, "n_routed_experts", "num_local_experts", "num_experts", default=0) or 0
    )
    moe_size = _first(config, "moe_intermediate_size", default=None)
    if num_experts and moe_size is None:
        moe_size = _first(config, "intermediate_size")
    shared = _first(config, "n_shared_experts", default=0) or 0
    shared_size = moe_size or 0
    if config.get("shared_expert_intermediate_size"):
        shared, shared_size = 1, config["shared_expert_intermediate_size"]
    if config.get("model_type", "").startswith("llama4"):
        shared, shared_size = 1, _first(config, "intermediate_size")
        moe_size = _first(config, "intermediate_size")
        intermediate = _first(config, "intermediate_size_mlp", default=intermediate)
    window = _first(config, "sliding_window", "attention_chunk_size", default=0) or 0
    layer_types = config.get("layer_types")
    if isinstance(layer_types, list) and window:
        sliding_layers = sum(1 for t in layer_types if "sliding" in str(t) or "chunk" in str(t))
    elif config.get("use_sliding_window") is False:
        window, sliding_layers = 0, 0
    else:
        sliding_layers = layers if window else 0
    arch = Architecture(
        id=model_id,
        name=model_id,
        hf_repo=str(config.get("_name_or_path", "")),
        num_layers=int(layers),
        hidden_size=int(hidden),
        num_attention_heads=int(heads),
        num_kv_heads=int(kv_heads),
        head_dim=int(head_dim),
        intermediate_size=int(intermediate),
        mlp_gated=bool(gated),
        vocab_size=int(vocab),
        tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
        max_context_tokens=int(
            _first(config, "max_position_embeddings", "n_positions", "seq_length", default=0)
        ),
        sliding_window_tokens=int(window),
        num_sliding_window_layers=int(sliding_layers),
        q_lora_rank=int(config.get("q_lora_rank") or 0),
        kv_lora_rank=int(config.get("kv_lora_rank") or 0),
        qk_nope_head_dim=int(config.get("qk_nope_head_dim") or 0),
        qk_rope_head_dim=int(config.get("qk_rope_head_dim") or 0),
        v_head_dim=int(config.get("v_head_dim") or 0),
        num_experts=int(num_experts),
        num_experts_per_token=int(
            _first(config, "num_experts_per_tok", "num_experts_per_token", "top_k", default=0)
        ),
        moe_intermediate_size=int(moe_size or 0),
        num_shared_experts=int(shared),
        shared_expert_intermediate_size=int(shared_size) if shared else 0,
        num_dense_layers=int(config.get("first_k_dense_replace") or 0),
        moe_layer_interval=int(
            _first(config, "interleave_moe_layer_step", "moe_layer_freq", default=1) or 1
        ),
        num_mtp_layers=int(config.get("num_nextn_predict_layers") or 0),
        source=source,
    )
    return arch


def load_hf_config(path: str | Path) -> Architecture:
    """Read ``path`` (a ``config.json`` or a folder holding one) into an :class:`Architecture`."""
    file = Path(path)
    if file.is_dir():
        file = file / "config.json"
    if not file.is_file():
        raise InvalidParameterError(
            "model", str(path), "a catalog model id or a path to a local config.json"
        )
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidParameterError(
            "model", str(path), f"a valid JSON config.json ({exc})"
        ) from None
    if not isinstance(config, dict):
        raise InvalidParameterError("model", str(path), "a JSON object in config.json")
    return architecture_from_hf_config(
        config, model_id=file.parent.name or file.stem, source=str(file)
    )
