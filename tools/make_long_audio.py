#!/usr/bin/env python3
"""The long inputs of the throughput figures (issue 13): one hour of speech with pauses, made of
the given 16-bit WAV clips (16 kHz mono; 24 kHz is resampled linearly) joined in turn with
pauses of 0.4-1.2 s, as --out/hour.wav; and ten hours as 100 files of 6 minutes in
--out/files/ (the hour's ten 6-minute parts, each ten times under its own name)."""
import argparse
import os
import wave

import numpy as np

RATE = 16000


def read(path):
    with wave.open(path) as f:
        assert f.getsampwidth() == 2, f"{path}: expected 16-bit PCM"
        pcm = np.frombuffer(f.readframes(f.getnframes()), "<i2").astype(np.float32)
        pcm = pcm.reshape(-1, f.getnchannels()).mean(axis=1)
        rate = f.getframerate()
    if rate != RATE:
        t = np.arange(int(len(pcm) * RATE / rate)) * (rate / RATE)
        pcm = np.interp(t, np.arange(len(pcm)), pcm)
    return pcm.astype(np.float32)


def write(path, samples):
    with wave.open(path, "wb") as f:
        f.setnchannels(1), f.setsampwidth(2), f.setframerate(RATE)
        f.writeframes(np.clip(samples, -32768, 32767).astype("<i2").tobytes())


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--audio", nargs="+", required=True)
    parser.add_argument("--seconds", type=float, default=3600)
    args = parser.parse_args()
    clips = [read(p) for p in args.audio]
    rng = np.random.default_rng(13)
    parts, total, k = [], 0, 0
    while total < args.seconds * RATE:
        parts.append(clips[k % len(clips)])
        parts.append(np.zeros(int(rng.uniform(0.4, 1.2) * RATE), np.float32))
        total += len(parts[-2]) + len(parts[-1])
        k += 1
    hour = np.concatenate(parts)[: int(args.seconds * RATE)]
    os.makedirs(os.path.join(args.out, "files"), exist_ok=True)
    write(os.path.join(args.out, "hour.wav"), hour)
    piece = len(hour) // 10
    for p in range(10):
        write(os.path.join(args.out, f"part{p}.wav"), hour[p * piece:(p + 1) * piece])
    for i in range(100):
        link = os.path.join(args.out, "files", f"f{i:03d}.wav")
        if not os.path.exists(link):
            os.symlink(os.path.join("..", f"part{i % 10}.wav"), link)
    print(f"{args.out}/hour.wav: {len(hour) / RATE:.0f} s; files/: 100 x {piece / RATE:.0f} s")


if __name__ == "__main__":
    main()
