#!/usr/bin/env python3
"""Full-size parity material on the GPU machine: a random GLM-ASR checkpoint of the real
configuration drawn from a fixed seed, and transformers' bf16 reference dumps on real audio.

  python3 tools/make_parity_dump.py --out DIR --tokenizer-dir tests/data/tiny \
      --audio .device/audio/jfk.wav --audio .device/audio/librispeech.wav --max-new-tokens 48

Writes DIR/model (the checkpoint folder, hub layout, bf16) and DIR/<audio stem>.safetensors
(golden format, see glmasr_reference.py), then `glmasr compare --model DIR/model --reference ...`
reports the engine's parity.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import glmasr_checkpoint as ckpt  # noqa: E402
import glmasr_reference as ref  # noqa: E402

FULL_SEED = 2512


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--tokenizer-dir", required=True)
    parser.add_argument("--audio", action="append", required=True)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--seed", type=int, default=FULL_SEED)
    args = parser.parse_args()
    model_dir = os.path.join(args.out, "model")
    start = time.time()
    if not os.path.exists(os.path.join(model_dir, "model.safetensors")):
        model = ckpt.build_model("full", args.seed, device="cuda")
        ckpt.save_folder(model, "full", model_dir, args.tokenizer_dir)
        del model
        torch.cuda.empty_cache()
    print(f"checkpoint ready in {time.time() - start:.1f} s", flush=True)
    model = ckpt.load_reference(model_dir, torch.bfloat16, "cuda")
    from transformers import AutoProcessor
    processor = AutoProcessor.from_pretrained(model_dir)
    from safetensors.torch import save_file
    for path in args.audio:
        samples, rate = ref.read_wav(path)
        assert rate == 16000, f"{path}: expected 16 kHz"
        golden, text = ref.run(model, processor, samples, args.max_new_tokens)
        out = os.path.join(args.out, os.path.splitext(os.path.basename(path))[0] + ".safetensors")
        save_file(golden, out)
        margins = golden["margins"].tolist()
        print(f"{out}: prompt {golden['prompt_ids'].numel()} tokens {golden['tokens'].numel()} "
              f"min margin {min(margins):.3f}, first margin < 0.5 at step "
              f"{next((i for i, m in enumerate(margins) if m < 0.5), None)}; text {text[:80]!r}", flush=True)


if __name__ == "__main__":
    main()
