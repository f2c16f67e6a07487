from __future__ import annotations

import json

import pytest

from chip2grid import (
    InvalidParameterError,
    UnknownEntryError,
    get_model,
    list_models,
    load_hf_config,
)

REQUIRED = [
    "llama-2-7b",
    "llama-2-70b",
    "llama-3-8b",
    "llama-3-70b",
    "llama-3.1-8b",
    "llama-3.1-70b",
    "llama-3.1-405b",
    "llama-3.3-70b",
    "mistral-7b",
    "mixtral-8x7b",
    "mixtral-8x22b",
    "qwen3-30b-a3b",
    "qwen3-235b-a22b",
    "deepseek-v3",
    "deepseek-r1",
    "gpt-oss-20b",
    "gpt-oss-120b",
    "llama-4-scout-17b-16e",
    "llama-4-maverick-17b-128e",
    "gpt-j-6b",
    "bloom-176b",
]


def test_required_models_present() -> None:
    assert set(REQUIRED) <= set(list_models())


@pytest.mark.parametrize("model_id", list_models())
def test_param_count_matches_published_within_1pct(model_id: str) -> None:
    m = get_model(model_id)
    if not m.published_num_params:
        pytest.skip("no published count")
    if (
        "vision" in m.notes.lower()
        and "include" in m.notes.lower()
        and model_id.startswith("llama-4")
    ):
        pytest.skip("published total includes the vision encoder (see notes)")
    assert m.num_params == pytest.approx(m.published_num_params, rel=0.01), (
        m.published_params_source
    )


@pytest.mark.parametrize("model_id", [m for m in list_models() if get_model(m).is_moe])
def test_moe_active_params_match_published(model_id: str) -> None:
    m = get_model(model_id)
    if not m.published_num_active_params:
        pytest.skip("no published active count")
    # publishers differ on whether embedding tables count as active (gpt-oss: output head only)
    best = min(
        abs(m.num_active_params - m.published_num_active_params),
        abs(m.num_matmul_params_per_token - m.published_num_active_params),
    )
    assert best / m.published_num_active_params <= 0.05


def test_kv_cache_bytes_gqa_llama_3_70b() -> None:
    # 80 layers x 8 KV heads x 128 dims x 2 (K and V) x 2 bytes = 327,680 bytes per token
    m = get_model("llama-3.1-70b")
    assert m.kv_cache_bytes_per_token(2.0) == 80 * 8 * 128 * 2 * 2


def test_kv_cache_bytes_mla_deepseek() -> None:
    # MLA caches kv_lora_rank + rope dims = 512 + 64 per layer (DeepSeek-V3 report, sec. 2.1.1)
    m = get_model("deepseek-v3")
    assert m.is_mla
    assert m.kv_cache_bytes_per_token(1.0) == 61 * (512 + 64)


def test_mha_kv_equals_attention_heads() -> None:
    m = get_model("llama-2-7b")
    assert m.kv_cache_bytes_per_token(2.0) == 32 * 2 * 4096 * 2


def test_sliding_window_caps_kv_growth() -> None:
    m = get_model("gpt-oss-120b")
    assert m.sliding_window_tokens > 0
    short = m.kv_cache_bytes_per_token(2.0, context_tokens=m.sliding_window_tokens)
    long = m.kv_cache_bytes_per_token(2.0, context_tokens=100 * m.sliding_window_tokens)
    assert long < short


def test_attention_flops_grow_with_context() -> None:
    m = get_model("llama-3.1-8b")
    assert (
        m.flops_per_token(8192)
        > m.flops_per_token(1024)
        > m.flops_per_token(0)
        == 2 * m.num_matmul_params_per_token
    )


def test_prefill_flops_triangle() -> None:
    m = get_model("llama-3.1-8b")
    n = 1000
    assert m.prefill_flops(n) == pytest.approx(n * m.flops_per_token((n + 1) / 2))


def test_expected_active_experts() -> None:
    m = get_model("mixtral-8x7b")
    assert m.expected_active_experts(1) == pytest.approx(2.0)
    assert m.expected_active_experts(10_000) == pytest.approx(8.0)


def test_unknown_model_lists_close_names() -> None:
    with pytest.raises(UnknownEntryError, match=r"llama-3\.1-70b"):
        get_model("llama-3.1-7b")


def test_hf_config_roundtrip(tmp_path) -> None:
    config = {
        "model_type": "llama",
        "hidden_size": 4096,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "intermediate_size": 14336,
        "vocab_size": 128256,
        "max_position_embeddings": 131072,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
    }
    path = tmp_path / "my-model" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(config))
    m = load_hf_config(path)
    ref = get_model("llama-3.1-8b")
    assert m.num_params == pytest.approx(ref.num_params, rel=1e-6)
    assert get_model(str(path)).num_params == m.num_params


def test_hf_config_deepseek_mla(tmp_path) -> None:
    config = {
        "model_type": "deepseek_v3",
        "hidden_size": 7168,
        "num_hidden_layers": 61,
        "num_attention_heads": 128,
        "num_key_value_heads": 128,
        "intermediate_size": 18432,
        "moe_intermediate_size": 2048,
        "n_routed_experts": 256,
        "n_shared_experts": 1,
        "num_experts_per_tok": 8,
        "first_k_dense_replace": 3,
        "q_lora_rank": 1536,
        "kv_lora_rank": 512,
        "qk_nope_head_dim": 128,
        "qk_rope_head_dim": 64,
        "v_head_dim": 128,
        "vocab_size": 129280,
        "hidden_act": "silu",
        "num_nextn_predict_layers": 1,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    m = load_hf_config(path)
    assert m.num_params == pytest.approx(671e9, rel=0.01)
    assert m.num_active_params == pytest.approx(37e9, rel=0.05)


def test_bad_hf_config(tmp_path) -> None:
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(InvalidParameterError, match=r"config\.json"):
        load_hf_config(path)


@pytest.mark.parametrize(
    "change,needle",
    [
        ({"num_attention_heads": 0}, "num_attention_heads"),
        ({"hidden_size": "4096"}, "hidden_size"),
        ({"intermediate_size": "big"}, "numbers where config.json states sizes"),
        ({"vocab_size": None}, "vocab_size"),
        ({"num_key_value_heads": 5}, "num_kv_heads"),
    ],
)
def test_hf_config_with_bad_sizes_is_a_named_error(tmp_path, change, needle) -> None:
    config = {
        "model_type": "llama",
        "hidden_size": 4096,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "intermediate_size": 11008,
        "vocab_size": 32000,
    }
    config.update(change)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    with pytest.raises(InvalidParameterError, match=needle):
        load_hf_config(path)
