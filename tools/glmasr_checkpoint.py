"""Random GLM-ASR checkpoints that make parity tests decisive.

Weights are drawn so that activations keep unit scale through every layer (std 1/sqrt(fan_in)),
biases and norm weights are perturbed away from their trivial values (a bias of 0 or a norm
weight of 1 hides indexing bugs), and the untied lm_head is large so that greedy decoding has wide
top-2 margins. The folder is written in the hub's key layout (spec section 2).
"""
import json
import os
import shutil

import torch

TINY = {
    "audio": dict(hidden_size=32, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                  num_key_value_heads=2, max_position_embeddings=1500, num_mel_bins=128),
    # heads * head_dim (24) differs from hidden_size (16) on purpose.
    "text": dict(hidden_size=16, intermediate_size=40, num_hidden_layers=2, num_attention_heads=2,
                 num_key_value_heads=1, head_dim=12),
}
FULL = {
    "audio": dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20,
                  num_key_value_heads=20, max_position_embeddings=1500, num_mel_bins=128),
    "text": dict(hidden_size=2048, intermediate_size=6144, num_hidden_layers=28, num_attention_heads=16,
                 num_key_value_heads=4, head_dim=128),
}
EOS = [59246, 59253, 59255]
LM_HEAD_GAIN = 10.0  # logits of std ~10: top-2 gaps far above bf16 noise on most steps


def config_dict(size):
    dims = TINY if size == "tiny" else FULL
    audio = dict(dims["audio"], model_type="glmasr_encoder", hidden_act="gelu", attention_dropout=0.0,
                 rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5})
    text = dict(dims["text"], model_type="llama", vocab_size=59264, hidden_act="silu", max_position_embeddings=8192,
                rms_norm_eps=1e-5, attention_bias=False, mlp_bias=False, eos_token_id=EOS, use_cache=True,
                tie_word_embeddings=False,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    return {
        "architectures": ["GlmAsrForConditionalGeneration"],
        "model_type": "glmasr",
        "audio_config": audio,
        "text_config": text,
        "audio_token_id": 59260,
        "projector_hidden_act": "gelu",
        "tie_word_embeddings": False,
        "dtype": "bfloat16",
    }


def hub_key(key):
    """In-memory transformers key -> the hub file's key (spec section 2)."""
    for prefix, hub in (("model.audio_tower.", "audio_tower."),
                        ("model.multi_modal_projector.", "multi_modal_projector."),
                        ("model.language_model.", "language_model.model."),
                        ("lm_head.", "language_model.lm_head.")):
        if key.startswith(prefix):
            return hub + key[len(prefix):]
    if key.startswith("language_model.") and not key.startswith(("language_model.model.", "language_model.lm_head.")):
        return "language_model.model." + key[len("language_model."):]
    return key


@torch.no_grad()
def randomize_(model, seed, device="cpu"):
    """Decisive random weights, rounded to bf16 so fp32 and bf16 runs see the same values."""
    gen = torch.Generator(device=device).manual_seed(seed)
    for name, param in sorted(model.named_parameters(), key=lambda kv: kv[0]):
        shape = param.shape

        def randn(shape):
            return torch.randn(shape, generator=gen, device=device)

        if name.endswith("embed_tokens.weight"):
            value = randn(shape)
        elif "lm_head" in name:
            value = randn(shape) * (LM_HEAD_GAIN / shape[1] ** 0.5)
        elif "norm" in name and name.endswith(".weight"):
            value = 1.0 + 0.1 * randn(shape)
        elif name.endswith(".bias"):
            value = 0.1 * randn(shape)
        elif param.dim() >= 2:
            fan_in = 1
            for extent in shape[1:]:
                fan_in *= extent
            value = randn(shape) / fan_in ** 0.5
        else:
            value = 0.1 * randn(shape)
        param.copy_(value.to(torch.bfloat16).to(param.dtype))


def build_model(size, seed, device="cpu"):
    """The tiny fixtures are drawn on the CPU; the full-size checkpoint on the GPU (much faster)."""
    from transformers import GlmAsrConfig, GlmAsrForConditionalGeneration
    config = GlmAsrConfig(**config_dict(size))
    torch.manual_seed(seed)
    with torch.device(device):
        model = GlmAsrForConditionalGeneration(config).to(torch.float32)
    randomize_(model, seed, device)
    return model


def save_folder(model, size, out_dir, tokenizer_dir, dtype=torch.bfloat16):
    """Writes config.json, generation_config.json, model.safetensors (hub keys) and tokenizer files."""
    from safetensors.torch import save_file
    os.makedirs(out_dir, exist_ok=True)
    state = {}
    for key, value in model.state_dict().items():
        state[hub_key(key)] = value.detach().to(dtype).contiguous().cpu()
    assert "language_model.lm_head.weight" in state, sorted(state)[:5]
    save_file(state, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config_dict(size), f, indent=2)
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump({"eos_token_id": EOS, "pad_token_id": 59246, "do_sample": False}, f, indent=2)
    for name in os.listdir(tokenizer_dir):
        if name.startswith(("tokenizer", "special_tokens", "processor", "preprocessor", "chat_template")):
            shutil.copy(os.path.join(tokenizer_dir, name), os.path.join(out_dir, name))
    return sorted(state)


def load_reference(model_dir, dtype, device):
    """Loads a folder with transformers and checks that every hub tensor arrived unchanged."""
    from safetensors.torch import load_file
    from transformers import GlmAsrForConditionalGeneration
    model = GlmAsrForConditionalGeneration.from_pretrained(model_dir, dtype=dtype, attn_implementation="eager")
    model.to(device).eval()
    stored = load_file(os.path.join(model_dir, "model.safetensors"))
    loaded = {hub_key(k): v for k, v in model.state_dict().items()}
    mismatched = [k for k, v in stored.items()
                  if k not in loaded or not torch.equal(loaded[k].float().cpu(), v.float())]
    if mismatched:
        raise RuntimeError(f"transformers did not load {len(mismatched)} tensors as stored: {mismatched[:5]}")
    return model
