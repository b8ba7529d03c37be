#!/usr/bin/env python3
"""Load, fairness, slow-client, soak and upload-bomb figures of `glmasr serve` (issue 10).

Runs on the GPU machine with only the standard library. Starts the server itself, drives it
with keep-alive clients (one thread each, http.client), and prints one table plus a JSON file.

  python3 bench/serve_bench.py --glmasr .device/bundle/glmasr --model /tmp/glmasr-full/model \
      --audio .device/audio --bomb .device/audio/bomb.flac --json $OUT/serve.json

Clips are 4-47 s mixes of the real recordings with pauses (seeded), the same clips that
`glmasr transcribe` gets as files for the CLI figure beside the server's.
"""
import argparse
import http.client
import io
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import wave

from health_probe import worst_health_ms


def read_wav(path):
    with wave.open(path) as f:
        assert f.getsampwidth() == 2 and f.getnchannels() == 1 and f.getframerate() == 16000, path
        return f.readframes(f.getnframes())


def wav_bytes(pcm):
    out = io.BytesIO()
    with wave.open(out, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(16000)
        f.writeframes(pcm)
    return out.getvalue()


def make_clips(audio_dir, count, seed=7):
    speech = [read_wav(os.path.join(audio_dir, n)) for n in ("jfk.wav", "librispeech.wav")]
    rng = random.Random(seed)
    clips = []
    for _ in range(count):
        target = rng.uniform(4, 47) * 16000 * 2
        pcm = b""
        while len(pcm) < target:
            pcm += rng.choice(speech) + b"\0\0" * rng.randint(4000, 12000)
        pcm = pcm[: int(target) // 2 * 2]
        clips.append(wav_bytes(pcm))
    return clips


def clip_seconds(clip):
    return (len(clip) - 44) / 32000


def multipart(clip, extra=None):
    boundary = "glmasrbench"
    parts = []
    for k, v in (extra or {}).items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="clip.wav"\r\n'
        f"Content-Type: audio/wav\r\n\r\n".encode() + clip + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Server:
    def __init__(self, glmasr, model, extra):
        self.log = tempfile.NamedTemporaryFile(prefix="serve", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [glmasr, "serve", "--model", model, "--port", "0", "--quiet", *extra],
            stderr=self.log, stdout=subprocess.DEVNULL)
        deadline = time.time() + 300
        self.port = None
        while time.time() < deadline and self.port is None:
            time.sleep(0.2)
            for line in open(self.log.name, errors="replace"):
                if "listening on http://" in line:
                    self.port = int(line.rsplit(":", 1)[1].split()[0])
            if self.proc.poll() is not None:
                raise SystemExit("serve exited: " + open(self.log.name).read()[-2000:])
        if self.port is None:
            raise SystemExit("serve did not start")
        self.startup = [l.strip() for l in open(self.log.name, errors="replace") if "glmasr serve:" in l]
        print("server:", *self.startup, sep="\n  ", flush=True)

    def rss_mb(self):
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def post(conn, clip, extra=None, timing=None):
    body, ctype = multipart(clip, extra)
    conn.request("POST", "/v1/audio/transcriptions", body=body, headers={"Content-Type": ctype})
    r = conn.getresponse()
    data = r.read()
    if timing is not None:  # Server-Timing: "audio;dur=1.2, prepare;dur=0.1, engine;dur=40.0, ..."
        for item in (r.getheader("Server-Timing") or "").split(","):
            name, _, dur = item.strip().partition(";dur=")
            if dur:
                timing[name] = float(dur)
    return r.status, data


def load_run(port, clips, clients, seconds, malformed=0.0, seed=1):
    """Keep-alive clients posting clips for `seconds`; returns per-request records."""
    stop_at = time.time() + seconds
    records, per_client, lock = [], [0] * clients, threading.Lock()

    def client(i):
        rng = random.Random(seed * 1000 + i)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        while time.time() < stop_at:
            clip = rng.choice(clips)
            bad = rng.random() < malformed
            t0 = time.time()
            try:
                if bad:  # a non-audio upload: must be a 4xx, never a 5xx
                    status, _ = post(conn, b"this is not audio" * 100)
                else:
                    status, _ = post(conn, clip)
            except (OSError, http.client.HTTPException):
                status = -1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            dt = time.time() - t0
            with lock:
                records.append((i, bad, status, dt, 0 if bad else clip_seconds(clip), t0))
                if status == 200:
                    per_client[i] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - t0
    ok = [r for r in records if r[2] == 200]
    lat = sorted(r[3] for r in ok)
    audio = sum(r[4] for r in ok)
    pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
    # The same after the opening burst (every client's first request arrives at once).
    later = sorted(r[3] for r in ok if r[5] - t0 >= 3.0)
    later_pct = lambda p: later[min(len(later) - 1, int(p * len(later)))] if later else float("nan")
    return {
        "clients": clients, "wall_s": wall, "requests_ok": len(ok), "audio_s": audio,
        "rtf": audio / wall if wall else 0, "p50_s": pct(0.5), "p99_s": pct(0.99),
        "after_3s_p50_s": later_pct(0.5), "after_3s_p99_s": later_pct(0.99),
        "least_served": min(per_client), "median_served": statistics.median(per_client),
        "status_counts": {str(s): sum(1 for r in records if r[2] == s) for s in {r[2] for r in records}},
        "fivexx": sum(1 for r in records if r[2] >= 500 or r[2] == -1),
    }


def start_health_probe(port, seconds):
    """health_probe.py in a process of its own: in this one the poll shares the interpreter lock
    with 64 client threads building multipart bodies, and its worst latency is partly theirs."""
    probe = os.path.join(os.path.dirname(os.path.abspath(__file__)), "health_probe.py")
    return subprocess.Popen([sys.executable, probe, str(port), str(seconds)],
                            stdout=subprocess.PIPE, text=True)


def health_latency(port, seconds, out):
    """The same poll from a thread of this process; stores the worst latency."""
    out["health_worst_ms"] = worst_health_ms(port, seconds)


def idle_and_slow(port, idle, slow, seconds):
    socks = []
    for _ in range(idle):
        try:
            s = socket.create_connection(("127.0.0.1", port))
            socks.append(s)
        except OSError:
            break
    stop = threading.Event()

    def loris():
        try:
            s = socket.create_connection(("127.0.0.1", port))
            msg = b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
            for ch in msg + b"x" * 1000:
                if stop.is_set():
                    break
                s.send(bytes([ch]))
                time.sleep(1.0)
        except OSError:
            pass

    lorises = [threading.Thread(target=loris, daemon=True) for _ in range(slow)]
    for t in lorises:
        t.start()
    return socks, stop


def cli_rtf(glmasr, model, clips, extra):
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for i, c in enumerate(clips):
            p = os.path.join(d, f"clip{i}.wav")
            open(p, "wb").write(c)
            paths.append(p)
        r = subprocess.run([glmasr, "transcribe", "--model", model, "--quiet", "--timings", *extra,
                            "-o", os.path.join(d, "out"), *paths], capture_output=True, text=True)
        line = [l for l in r.stderr.splitlines() if "real time" in l]
        return line[-1] if line else r.stderr[-500:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--glmasr", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--audio", required=True, help="folder with jfk.wav and librispeech.wav (16 kHz)")
    ap.add_argument("--bomb", help="the 8000 s silent 8 kHz FLAC")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--soak-seconds", type=float, default=60)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--max-new-tokens", default="100")
    ap.add_argument("--soak-only", action="store_true", help="only the soak (a long one)")
    ap.add_argument("--json")
    a = ap.parse_args()
    common = ["--max-new-tokens", a.max_new_tokens]
    clips = make_clips(a.audio, 48)
    out = {}
    if not a.soak_only:
        out["cli"] = cli_rtf(a.glmasr, a.model, clips, common + ["--max-batch", "128"])
        print("cli:", out["cli"], flush=True)
    server = Server(a.glmasr, a.model, common + ["--max-batch", "128"])
    try:
        load_run(server.port, clips[:4], 4, 5)  # warm-up (graphs captured, pools filled)
        if a.soak_only:
            load_run(server.port, clips, a.clients, 60, malformed=0.1, seed=4)  # the first minute
            rss0 = server.rss_mb()
            out["soak"] = load_run(server.port, clips, a.clients, a.soak_seconds, malformed=0.1,
                                   seed=3)
            out["soak"].update(rss_after_first_minute_mb=rss0, rss_end_mb=server.rss_mb())
            print("soak:", out["soak"], flush=True)
            return

        out["load"] = load_run(server.port, clips, a.clients, a.seconds)
        print("load:", out["load"], flush=True)
        one = [c for c in clips if 9 <= clip_seconds(c) <= 12] or clips[:1]
        conn = http.client.HTTPConnection("127.0.0.1", server.port)
        lat, engine, overhead = [], [], []
        for _ in range(10):
            timing = {}
            t0 = time.time()
            post(conn, one[0], timing=timing)
            lat.append(time.time() - t0)
            # What the service adds to the pipeline's own time for the request (log-mel and
            # admission, then the engine, as `glmasr transcribe` spends them): upload, form
            # parsing, decoding, rendering and the answer's way back.
            engine.append(timing.get("prepare", float("nan")) + timing.get("engine", float("nan")))
            overhead.append(lat[-1] * 1000 - engine[-1])
        out["single_client_10s_clip_ms"] = statistics.median(lat) * 1000
        out["single_client_engine_ms"] = statistics.median(engine)
        out["single_client_overhead_ms"] = statistics.median(overhead)
        out["single_client_server_timing"] = timing
        out["single_clip_cli"] = cli_rtf(a.glmasr, a.model, [one[0]], common)
        print("single:", out["single_client_10s_clip_ms"], "engine", out["single_client_engine_ms"],
              "overhead", out["single_client_overhead_ms"], out["single_client_server_timing"],
              out["single_clip_cli"], flush=True)
        socks, stop = idle_and_slow(server.port, 1000, 16, a.seconds)
        health = {}
        h = threading.Thread(target=health_latency, args=(server.port, a.seconds, health))
        h.start()
        probe = start_health_probe(server.port, a.seconds)
        out["load_with_idle_and_slow"] = load_run(server.port, clips, a.clients, a.seconds, seed=2)
        h.join()
        probe_out, _ = probe.communicate(timeout=60)
        stop.set()
        for s in socks:
            s.close()
        out["load_with_idle_and_slow"].update(
            health_worst_ms=json.loads(probe_out)["health_worst_ms"],
            health_worst_in_bench_process_ms=health["health_worst_ms"],
            idle_connections=len(socks))
        print("idle+slow:", out["load_with_idle_and_slow"], flush=True)
        rss0 = server.rss_mb()
        out["soak"] = load_run(server.port, clips, a.clients, a.soak_seconds, malformed=0.1, seed=3)
        out["soak"].update(rss_after_first_load_mb=rss0, rss_end_mb=server.rss_mb())
        print("soak:", out["soak"], flush=True)
        if a.bomb:
            bomb = open(a.bomb, "rb").read()
            rss_before = server.rss_mb()
            conn = http.client.HTTPConnection("127.0.0.1", server.port)
            body, ctype = multipart(bomb)
            t0 = time.time()
            conn.request("POST", "/v1/audio/transcriptions", body=body, headers={"Content-Type": ctype})
            r = conn.getresponse()
            r.read()
            out["bomb"] = {"status": r.status, "ms": (time.time() - t0) * 1000, "bytes": len(bomb),
                           "rss_delta_mb": server.rss_mb() - rss_before}
            print("bomb:", out["bomb"], flush=True)
    finally:
        server.stop()
        if a.json:
            json.dump(out, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
