"""Runs the transformers reference on one audio and collects named intermediates.

The result is a dict of tensors in the golden format every glmasr test and `glmasr compare`
read (all floats stored as float32):
  input_features   [W, mel, 3000]   processor output (the encoder input)
  window_frames    [W]        I64   valid mel frames per window
  conv_stem        [W, 1500, Ha]    gelu(conv2(gelu(conv1(x)))) transposed
  encoder_layer0   [W, 1500, Ha]    output of encoder layer 0
  encoder_output   [W, 1500, Ha]    after the final LayerNorm
  projector_output [W, R, Ht]       projector on every merged row
  audio_embeds     [N, Ht]          the kept rows, spliced into the prompt
  prompt_ids       [T]        I64
  decoder_layer0   [T, Ht]          decoder layer 0 output during prefill
  logits           [S, V]           logits of every generated step (step 0 = last prompt position)
  tokens           [S]        I64   greedy tokens (the stop token included when one came)
  margins          [S]              top-1 minus top-2 logit per step
"""
import numpy as np
import torch
import torch.nn.functional as F

DEFAULT_PROMPT = "Please transcribe this audio into text"


def render_prompt(prompt_text=DEFAULT_PROMPT):
    # Spec 5.1: the chat template's rendering with one audio item before the text item.
    return ("<|user|>\n<|begin_of_audio|><|pad|><|end_of_audio|><|user|>\n" + prompt_text.strip() +
            "<|assistant|>\n")


def submodules(model):
    root = model.model if hasattr(model, "model") and hasattr(model.model, "audio_tower") else model
    tower = root.audio_tower
    projector = root.multi_modal_projector
    lm = root.language_model
    decoder_layers = lm.model.layers if hasattr(lm, "model") else lm.layers
    return tower, projector, decoder_layers


def first_output(output):
    return output[0] if isinstance(output, (tuple, list)) else output


@torch.no_grad()
def run(model, processor, samples, max_new_tokens, prompt_text=DEFAULT_PROMPT):
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    inputs = processor(text=[render_prompt(prompt_text)], audio=[samples], sampling_rate=16000,
                       return_tensors="pt")
    input_features = inputs["input_features"]
    mask = inputs["input_features_mask"]
    tower, projector, decoder_layers = submodules(model)
    config = model.config

    captured = {}

    def keep_first(name):
        def hook(_module, _inputs, output):
            captured.setdefault(name, first_output(output).detach().float().cpu())
        return hook

    handles = [tower.layers[0].register_forward_hook(keep_first("encoder_layer0")),
               decoder_layers[0].register_forward_hook(keep_first("decoder_layer0"))]
    try:
        x = input_features.to(device, dtype)
        conv_stem = F.gelu(tower.conv2(F.gelu(tower.conv1(x)))).transpose(1, 2)
        encoder_output = tower(x).last_hidden_state
        windows = x.shape[0]
        merged = encoder_output.reshape(windows, -1, config.audio_config.intermediate_size)
        projector_output = projector(merged)
        frames = mask.sum(-1)
        after_conv = (frames - 1) // 2 + 1
        merge = config.audio_config.intermediate_size // config.audio_config.hidden_size
        kept = (after_conv - merge) // merge + 1
        audio_embeds = torch.cat([projector_output[w, :int(kept[w])] for w in range(windows)], 0)

        captured.pop("decoder_layer0", None)
        generated = model.generate(**{k: (v.to(device, dtype) if v.is_floating_point() else v.to(device))
                                      for k, v in inputs.items()},
                                   do_sample=False, max_new_tokens=max_new_tokens, min_new_tokens=0,
                                   output_logits=True, return_dict_in_generate=True)
    finally:
        for handle in handles:
            handle.remove()

    prompt_ids = inputs["input_ids"][0]
    tokens = generated.sequences[0, prompt_ids.shape[0]:].cpu()
    logits = torch.stack([step[0].float().cpu() for step in generated.logits])
    top2 = logits.topk(2, dim=-1).values
    text = processor.batch_decode(generated.sequences[:, prompt_ids.shape[0]:], skip_special_tokens=True)[0]
    golden = {
        "input_features": input_features.float().cpu(),
        "window_frames": frames.to(torch.int64).cpu(),
        "conv_stem": conv_stem.float().cpu(),
        "encoder_layer0": captured["encoder_layer0"],
        "encoder_output": encoder_output.float().cpu(),
        "projector_output": projector_output.float().cpu(),
        "audio_embeds": audio_embeds.float().cpu(),
        "prompt_ids": prompt_ids.to(torch.int64).cpu(),
        "decoder_layer0": captured["decoder_layer0"][0],
        "logits": logits,
        "tokens": tokens.to(torch.int64),
        "margins": (top2[:, 0] - top2[:, 1]).contiguous(),
    }
    return {k: v.contiguous() for k, v in golden.items()}, text


def read_wav(path):
    """16-bit PCM WAV -> (float32 mono samples, rate), with the stdlib only."""
    import wave
    with wave.open(path, "rb") as f:
        assert f.getsampwidth() == 2, f"{path}: expected 16-bit PCM"
        rate, channels = f.getframerate(), f.getnchannels()
        data = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
    return data.reshape(-1, channels).mean(axis=1), rate


def two_window_samples(jfk):
    """jfk + 0.5 s silence + jfk + 0.5 s silence + jfk: 34 s, two windows (also built by the C++ tests)."""
    gap = np.zeros(8000, dtype=np.float32)
    return np.concatenate([jfk, gap, jfk, gap, jfk]).astype(np.float32)
