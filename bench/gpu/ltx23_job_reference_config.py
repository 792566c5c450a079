"""The published LTX-2.3 metadata the job reference's header-only files carry, and the Gemma-3-12B
config.json (gemma-3-12b-it-qat-q4_0-unquantized, transformers 4.x dialect as published) that
ltx-core would read from the Gemma folder. The checkpoint config is the one dict the repo keeps for
the published file (tests/worker/engine/ltx2/reference/inventory_reference.py), as make-model's ltx23-22b preset."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "worker", "engine", "ltx2", "reference"))
from inventory_reference import CONFIG, MODEL_VERSION, UPSAMPLER_CONFIG  # noqa: E402

GEMMA3_12B_CONFIG = {
    "architectures": ["Gemma3ForConditionalGeneration"],
    "model_type": "gemma3",
    "boi_token_index": 255999,
    "eoi_token_index": 256000,
    "eos_token_id": [1, 106],
    "image_token_index": 262144,
    "initializer_range": 0.02,
    "mm_tokens_per_image": 256,
    "torch_dtype": "bfloat16",
    "text_config": {
        "model_type": "gemma3_text",
        "vocab_size": 262208,
        "hidden_size": 3840,
        "intermediate_size": 15360,
        "num_hidden_layers": 48,
        "num_attention_heads": 16,
        "num_key_value_heads": 8,
        "head_dim": 256,
        "query_pre_attn_scalar": 256,
        "sliding_window": 1024,
        "sliding_window_pattern": 6,
        "rope_theta": 1000000.0,
        "rope_local_base_freq": 10000.0,
        "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
        "rms_norm_eps": 1e-06,
        "hidden_activation": "gelu_pytorch_tanh",
        "max_position_embeddings": 131072,
        "attn_logit_softcapping": None,
        "final_logit_softcapping": None,
    },
    "vision_config": {
        "model_type": "siglip_vision_model",
        "hidden_size": 1152,
        "intermediate_size": 4304,
        "num_hidden_layers": 27,
        "num_attention_heads": 16,
        "image_size": 896,
        "patch_size": 14,
        "num_channels": 3,
        "hidden_act": "gelu_pytorch_tanh",
        "layer_norm_eps": 1e-06,
        "vision_use_head": False,
    },
}


def checkpoint_metadata():
    return {"config": json.dumps(CONFIG), "model_version": MODEL_VERSION}


def upsampler_metadata():
    return {"config": json.dumps(UPSAMPLER_CONFIG)}
