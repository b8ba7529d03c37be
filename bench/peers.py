#!/usr/bin/env python3
"""The peers glmasr bench is compared with, on the same GPU and shapes, random weights:

  * transformers eager: GlmAsrForConditionalGeneration (attn_implementation="eager") for the
    decoding step at position 400, encoder + projector on one 30 s window, prefill of 390
    tokens and generate() of exactly 100 tokens from 30 s of audio features; LlamaModel with the
    seed report's shape (hidden 3584, MLP 18944, 28/4 heads, fp16) for one step at position 100;
  * PyTorch with static KV buffers + a CUDA graph: a hand-written Llama decoding step (fused QKV
    and gate|up weights, SDPA against the static cache) captured once and replayed, for the real
    decoder (28 layers + lm_head + argmax) and the seed shape (28 layers).

Times are medians of CUDA-event-timed runs after a warm-up (wall clock for generate). Writes a
JSON dict of milliseconds (--json) for bench/run.sh.
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn.functional as F


def median_ms(fn, runs=30, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def rope_tables(positions, dim, theta, dtype, device):
    inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.int64).float().to(device) / dim))
    freqs = torch.arange(positions, device=device).float()[:, None] * inv_freq[None, :]
    emb = torch.cat([freqs, freqs], -1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], -1)


def rms_norm(x, w, eps):
    variance = x.float().pow(2).mean(-1, keepdim=True)
    return w * (x.float() * torch.rsqrt(variance + eps)).to(x.dtype)


@torch.no_grad()
def static_graph_step(hidden, mlp, layers, heads, kv_heads, hd, vocab, position, dtype, with_head,
                      runs):
    """A Llama decoding step with static KV buffers, captured in one CUDA graph."""
    dev = "cuda"
    g = torch.Generator(device=dev).manual_seed(0)
    def rand(*shape, scale):
        return (torch.rand(*shape, generator=g, device=dev, dtype=torch.float32) * 2 - 1).mul_(scale).to(dtype)
    width = (heads + 2 * kv_heads) * hd
    weights = [dict(n1=torch.ones(hidden, device=dev, dtype=dtype), n2=torch.ones(hidden, device=dev, dtype=dtype),
                    qkv=rand(width, hidden, scale=hidden ** -0.5), o=rand(hidden, heads * hd, scale=(heads * hd) ** -0.5),
                    gu=rand(2 * mlp, hidden, scale=hidden ** -0.5), down=rand(hidden, mlp, scale=mlp ** -0.5))
               for _ in range(layers)]
    max_seq = position + 16
    k_cache = rand(layers, 1, kv_heads, max_seq, hd, scale=1.0)
    v_cache = rand(layers, 1, kv_heads, max_seq, hd, scale=1.0)
    embed = rand(vocab, hidden, scale=0.05) if with_head else None
    lm_head = rand(vocab, hidden, scale=hidden ** -0.5) if with_head else None
    final_norm = torch.ones(hidden, device=dev, dtype=dtype)
    cos, sin = rope_tables(max_seq, hd, 10000.0, dtype, dev)
    cos, sin = cos[position], sin[position]
    token = torch.tensor([1000], device=dev)
    x0 = rand(1, hidden, scale=1.0)
    out = {}

    def step():
        h = embed[token] if with_head else x0.clone()
        for l, w in enumerate(weights):
            a = rms_norm(h, w["n1"], 1e-5)
            qkv = a @ w["qkv"].t()
            q = qkv[:, :heads * hd].view(1, heads, 1, hd)
            k = qkv[:, heads * hd:(heads + kv_heads) * hd].view(1, kv_heads, 1, hd)
            v = qkv[:, (heads + kv_heads) * hd:].view(1, kv_heads, 1, hd)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            k_cache[l, :, :, position:position + 1] = k
            v_cache[l, :, :, position:position + 1] = v
            attn = F.scaled_dot_product_attention(q, k_cache[l, :, :, :position + 1], v_cache[l, :, :, :position + 1],
                                                  enable_gqa=True)
            h = h + attn.reshape(1, heads * hd) @ w["o"].t()
            a = rms_norm(h, w["n2"], 1e-5)
            gu = a @ w["gu"].t()
            h = h + (F.silu(gu[:, :mlp]) * gu[:, mlp:]) @ w["down"].t()
        if with_head:
            logits = rms_norm(h, final_norm, 1e-5) @ lm_head.t()
            out["token"] = logits.float().argmax(-1)
        else:
            out["h"] = h

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    ms = median_ms(graph.replay, runs)
    del graph, weights, k_cache, v_cache, embed, lm_head
    torch.cuda.empty_cache()
    return ms


@torch.no_grad()
def transformers_peers(runs, results):
    from transformers import GlmAsrConfig, GlmAsrForConditionalGeneration
    from transformers.cache_utils import DynamicCache
    config = GlmAsrConfig()
    config._attn_implementation = "eager"
    torch.manual_seed(0)
    model = GlmAsrForConditionalGeneration(config).to("cuda", torch.bfloat16).eval()
    text = config.text_config
    audio_id = config.audio_token_id
    # Decoding step at position 400.
    try:
        ids = torch.randint(0, 59000, (1, 400), device="cuda")
        cache = DynamicCache(config=text)
        model(input_ids=ids, past_key_values=cache, use_cache=True)
        token = torch.tensor([[1000]], device="cuda")

        def step():
            model(input_ids=token, past_key_values=cache, use_cache=True)
            cache.crop(400)
        results["decoder.step_ms.transformers"] = median_ms(step, runs)
    except Exception as e:  # report and go on: one failing peer must not hide the others
        print("transformers decoding step failed:", e)
    # Encoder + projector, one 30 s window.
    root = model.model
    features = torch.randn(1, 128, 3000, device="cuda", dtype=torch.bfloat16)
    try:
        def encode():
            hidden = root.audio_tower(features).last_hidden_state
            return root.multi_modal_projector(hidden.reshape(1, -1, config.audio_config.intermediate_size))
        results["encoder_ms.transformers"] = median_ms(encode, max(5, runs // 3))
    except Exception as e:
        print("transformers encoder failed:", e)
    # Prefill of 390 tokens (375 audio rows) and generate() of exactly 100 tokens.
    prompt = [59253, 10, 59261] + [audio_id] * 375 + [59262, 59253, 10, 5000, 6000, 7000, 8000, 9000,
                                                       10000, 11000, 59254, 10]
    input_ids = torch.tensor([prompt], device="cuda")
    mask = torch.ones(1, 3000, device="cuda", dtype=torch.long)
    inputs = dict(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), input_features=features,
                  input_features_mask=mask)
    try:
        def generate(n):
            return model.generate(**inputs, do_sample=False, max_new_tokens=n, min_new_tokens=n)
        results["prefill_ms.transformers"] = median_ms(lambda: generate(1), max(5, runs // 5))
        times = []
        generate(100)
        for _ in range(3):
            torch.cuda.synchronize()
            start = time.perf_counter()
            out = generate(100)
            torch.cuda.synchronize()
            times.append((time.perf_counter() - start) * 1e3)
        assert out.shape[1] - input_ids.shape[1] == 100, out.shape
        results["e2e_ms.transformers"] = statistics.median(times)
    except Exception as e:
        print("transformers generate failed:", e)
    del model
    torch.cuda.empty_cache()


@torch.no_grad()
def transformers_seed(runs, results):
    from transformers import LlamaConfig, LlamaModel
    from transformers.cache_utils import DynamicCache
    config = LlamaConfig(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                         num_attention_heads=28, num_key_value_heads=4, head_dim=128, vocab_size=1024,
                         attn_implementation="eager")
    model = LlamaModel(config).to("cuda", torch.float16).eval()
    cache = DynamicCache(config=config)
    model(inputs_embeds=torch.randn(1, 100, 3584, device="cuda", dtype=torch.float16), past_key_values=cache,
          use_cache=True)
    x = torch.randn(1, 1, 3584, device="cuda", dtype=torch.float16)

    def step():
        model(inputs_embeds=x, past_key_values=cache, use_cache=True)
        cache.crop(100)
    results["seed.layers_ms.transformers"] = median_ms(step, runs)
    del model, cache
    torch.cuda.empty_cache()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json")
    parser.add_argument("--skip-transformers", action="store_true")
    args = parser.parse_args()
    results = {}
    results["decoder.step_ms.pytorch_graph"] = static_graph_step(2048, 6144, 28, 16, 4, 128, 59264, 400,
                                                                 torch.bfloat16, True, args.runs)
    results["seed.layers_ms.pytorch_graph"] = static_graph_step(3584, 18944, 28, 28, 4, 128, 0, 100,
                                                                torch.float16, False, args.runs)
    if not args.skip_transformers:
        for peer in (transformers_peers, transformers_seed):
            try:
                peer(args.runs, results)
            except Exception as e:
                print(peer.__name__, "failed:", e)
    for key, value in sorted(results.items()):
        print(f"{key}: {value:.3f} ms")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
