#!/usr/bin/env python3
"""Streaming latency of a running `glmasr serve` (standard library only).

SSE: POST /v1/audio/transcriptions with stream=true; time from the end of the upload to the
first transcript.text.delta, and to transcript.text.done.
Realtime: N WebSocket sessions on /v1/realtime?intent=transcription with manual turns, each fed
at real-time speed in 100 ms appends; time from input_audio_buffer.commit to
conversation.item.input_audio_transcription.completed, p50/p95 over every turn of every session.

Server VAD (--vad-seconds): held-out speech with pauses, made here from the clip: pieces of
1.5-4 s of it separated by pauses of 0.2-2 s, fed to one server_vad session at real-time speed;
the share of pauses longer than silence_duration_ms that ended a turn (speech_stopped inside the
pause), and speech end -> completed for those turns.
Batch cost (--batch-clients): the aggregate real-time factor of N keep-alive clients posting
the clip (bench/serve_bench.py's load), alone and again while the realtime sessions run.

  python3 bench/stream_bench.py --url http://127.0.0.1:8080 --audio speech.wav \
      --sse 20 --sessions 1,64 --turn-seconds 5 --turns 5 --vad-seconds 60 --batch-clients 32
"""
import argparse
import base64
import http.client
import json
import os
import random
import socket
import statistics
import struct
import threading
import time
import urllib.parse
import uuid
import wave


def percentile(values, q):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def report(name, values_ms):
    print(f"{name}: n={len(values_ms)} p50={percentile(values_ms, 50):.1f} ms "
          f"p95={percentile(values_ms, 95):.1f} ms mean={statistics.fmean(values_ms):.1f} ms"
          if values_ms else f"{name}: no samples")


def sse_once(host, port, audio_bytes):
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
            f"Content-Type: audio/wav\r\n\r\n").encode() + audio_bytes + (
            f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"stream\"\r\n\r\ntrue\r\n"
            f"--{boundary}--\r\n").encode()
    conn = http.client.HTTPConnection(host, port, timeout=300)
    conn.request("POST", "/v1/audio/transcriptions", body=body,
                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    uploaded = time.perf_counter()
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"SSE request failed: {response.status} {response.read()[:200]!r}")
    first = done = None
    while True:
        line = response.readline()
        if not line:
            break
        if not line.startswith(b"data: "):
            continue
        data = line[6:].strip()
        if data == b"[DONE]":
            break
        event = json.loads(data)
        if event.get("type") == "transcript.text.delta" and first is None:
            first = time.perf_counter()
        if event.get("type") == "transcript.text.done":
            done = time.perf_counter()
    conn.close()
    return (first - uploaded) * 1000 if first else None, (done - uploaded) * 1000


class WebSocket:
    """A minimal RFC 6455 client: text frames, masking, no extensions."""

    def __init__(self, host, port, path):
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"WebSocket upgrade refused: {head[:200]!r}")
        self.lock = threading.Lock()

    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        return data

    def send(self, event):
        payload = json.dumps(event).encode()
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else
                                bytes([0x80 | 126]) + struct.pack("!H", n) if n < 65536 else
                                bytes([0x80 | 127]) + struct.pack("!Q", n))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        with self.lock:
            self.sock.sendall(head + mask + masked)

    def _need(self, n):
        while len(self.buffer) < n:
            self.buffer += self._recv()

    def receive(self):
        while True:
            self._need(2)
            opcode, length = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
            at = 2
            if length == 126:
                self._need(4)
                length, at = struct.unpack("!H", self.buffer[2:4])[0], 4
            elif length == 127:
                self._need(10)
                length, at = struct.unpack("!Q", self.buffer[2:10])[0], 10
            self._need(at + length)
            payload, self.buffer = self.buffer[at:at + length], self.buffer[at + length:]
            if opcode == 0x8:
                raise ConnectionError(f"closed by the server: {payload[:2].hex()} {payload[2:]!r}")
            if opcode == 0x1:
                return json.loads(payload)

    def close(self):
        self.sock.close()


def realtime_session(host, port, pcm, rate, turns, latencies, errors):
    try:
        ws = WebSocket(host, port, "/v1/realtime?intent=transcription")
        ws.receive()  # session.created
        ws.send({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": rate}, "turn_detection": None}}}})
        while ws.receive()["type"] != "session.updated":
            pass
        committed_at = {}
        done = threading.Event()
        results = []

        def reader():
            try:
                while len(results) < turns:
                    event = ws.receive()
                    kind = event["type"]
                    if kind == "conversation.item.input_audio_transcription.completed":
                        results.append((time.perf_counter() - committed_at["t"]) * 1000)
                    elif kind in ("conversation.item.input_audio_transcription.failed", "error"):
                        errors.append(event)
                        results.append(None)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))
            done.set()

        threading.Thread(target=reader, daemon=True).start()
        chunk = rate // 10 * 2
        for turn in range(turns):
            start = time.perf_counter()
            for i, at in enumerate(range(0, len(pcm), chunk)):
                time.sleep(max(0.0, start + i * 0.1 - time.perf_counter()))
                ws.send({"type": "input_audio_buffer.append",
                         "audio": base64.b64encode(pcm[at:at + chunk]).decode()})
            committed_at["t"] = time.perf_counter()
            ws.send({"type": "input_audio_buffer.commit"})
            while len(results) <= turn and not done.is_set():
                time.sleep(0.001)
        done.wait(60)
        latencies.extend(r for r in results if r is not None)
        ws.close()
    except Exception as e:  # noqa: BLE001
        errors.append(repr(e))


def speech_with_pauses(frames, rate, seconds, seed=11):
    """Pieces of the clip with pauses between them; returns (pcm, [(pause_start_s, pause_end_s)])."""
    rng = random.Random(seed)
    samples = len(frames) // 2
    pcm, pauses, at = bytearray(), [], 0
    while at < seconds * rate:
        length = int(rng.uniform(1.5, 4.0) * rate)
        start = rng.randrange(0, max(1, samples - length))
        pcm += frames[2 * start:2 * (start + length)]
        at += length
        pause = int(rng.choice([0.2, 0.3, 0.8, 1.0, 1.5, 2.0]) * rate)
        pauses.append((at / rate, (at + pause) / rate))
        pcm += b"\0\0" * pause
        at += pause
    return bytes(pcm), pauses


def vad_run(host, port, pcm, pauses, rate, silence_ms):
    """One server_vad session fed at real-time speed; returns (found, eligible, latencies_ms)."""
    ws = WebSocket(host, port, "/v1/realtime?intent=transcription")
    ws.receive()
    ws.send({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
        "format": {"type": "audio/pcm", "rate": rate},
        "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                           "silence_duration_ms": silence_ms}}}}})
    while ws.receive()["type"] != "session.updated":
        pass
    stopped, completed_at, start = {}, {}, time.perf_counter()
    finished = threading.Event()

    def reader():
        try:
            while True:
                event = ws.receive()
                if event["type"] == "input_audio_buffer.speech_stopped":
                    stopped[event["item_id"]] = event["audio_end_ms"] / 1000
                elif event["type"] == "conversation.item.input_audio_transcription.completed":
                    completed_at[event["item_id"]] = time.perf_counter() - start
        except (ConnectionError, OSError):
            pass
        finished.set()

    threading.Thread(target=reader, daemon=True).start()
    chunk = rate // 10 * 2
    for i, at in enumerate(range(0, len(pcm), chunk)):
        time.sleep(max(0.0, start + i * 0.1 - time.perf_counter()))
        ws.send({"type": "input_audio_buffer.append",
                 "audio": base64.b64encode(pcm[at:at + chunk]).decode()})
    time.sleep(2.0)  # the last turns finish
    ws.close()
    eligible = [p for p in pauses if (p[1] - p[0]) * 1000 > silence_ms and p[1] * rate * 2 <= len(pcm)]
    found, latencies = 0, []
    for begin, end in eligible:
        hits = [item for item, t in stopped.items() if begin - 0.05 <= t <= end]
        if hits:
            found += 1
            if hits[0] in completed_at:  # speech end (the pause's start) -> completed
                latencies.append((completed_at[hits[0]] - begin) * 1000)
    return found, len(eligible), latencies


def batch_rtf(port, clip_wav, clients, seconds):
    """Aggregate real-time factor of keep-alive clients posting the clip (serve_bench's load)."""
    import serve_bench  # noqa: E402 - beside this file
    return serve_bench.load_run(port, [clip_wav], clients, seconds)["rtf"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--audio", required=True, help="16-bit mono WAV, 16 or 24 kHz")
    parser.add_argument("--sse", type=int, default=10, help="SSE requests, one at a time (0: skip)")
    parser.add_argument("--sse-seconds", type=float, default=10, help="seconds of the clip uploaded")
    parser.add_argument("--sessions", default="1,64", help="comma-separated realtime session counts")
    parser.add_argument("--turn-seconds", type=float, default=5)
    parser.add_argument("--turns", type=int, default=5, help="turns per session")
    parser.add_argument("--phase-spread", type=float, default=None,
                        help="seconds over which the sessions' starts are spread (default: one turn,"
                             " as independent speakers are; 1 puts every turn within a second)")
    parser.add_argument("--vad-seconds", type=float, default=0, help="server VAD run (0: skip)")
    parser.add_argument("--silence-ms", type=int, default=500)
    parser.add_argument("--batch-clients", type=int, default=0,
                        help="batch throughput alone and beside the largest session count (0: skip)")
    parser.add_argument("--batch-seconds", type=float, default=20)
    args = parser.parse_args()
    url = urllib.parse.urlparse(args.url)
    host, port = url.hostname, url.port or 80

    with wave.open(args.audio, "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1 or w.getframerate() not in (16000, 24000):
            raise SystemExit(f"{args.audio}: expected a 16-bit mono WAV at 16 or 24 kHz")
        rate, frames = w.getframerate(), w.readframes(w.getnframes())

    def clip(seconds):  # repeated as needed to the length asked for
        need = int(seconds * rate) * 2
        return (frames * (need // len(frames) + 1))[:need]

    if args.sse:
        sse_pcm = clip(args.sse_seconds)
        wav_path = "/tmp/stream_bench_sse.wav"
        with wave.open(wav_path, "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate), w.writeframes(sse_pcm)
        audio_bytes = open(wav_path, "rb").read()
        sse_once(host, port, audio_bytes)  # warm-up
        firsts, dones = [], []
        for _ in range(args.sse):
            first, done = sse_once(host, port, audio_bytes)
            if first is not None:
                firsts.append(first)
            dones.append(done)
        report(f"SSE {args.sse_seconds:g} s clip, upload end -> first delta", firsts)
        report(f"SSE {args.sse_seconds:g} s clip, upload end -> done", dones)

    if args.vad_seconds:
        pcm, pauses = speech_with_pauses(frames, rate, args.vad_seconds)
        found, eligible, latencies = vad_run(host, port, pcm, pauses, rate, args.silence_ms)
        print(f"server VAD, {args.vad_seconds:g} s of speech with pauses: {found}/{eligible} pauses "
              f"> {args.silence_ms} ms ended a turn ({100 * found / max(1, eligible):.0f}%)")
        report(f"server VAD, speech end -> completed (silence_duration_ms {args.silence_ms})",
               latencies)

    turn_pcm = clip(args.turn_seconds)
    counts = [int(n) for n in args.sessions.split(",") if n]
    batch_clip = None
    if args.batch_clients:
        import serve_bench  # noqa: E402 - beside this file
        batch_clip = serve_bench.wav_bytes(clip(10)) if rate == 16000 else None
        if batch_clip is None:
            raise SystemExit("--batch-clients needs a 16 kHz clip (serve_bench's uploads)")
        alone = batch_rtf(port, batch_clip, args.batch_clients, args.batch_seconds)
        print(f"batch: {args.batch_clients} clients posting a 10 s clip, alone: {alone:.0f}x real time")
    for count in counts:
        beside = {}
        if batch_clip is not None and count == max(counts):
            def batch_beside():
                time.sleep(2.0)  # the sessions are streaming by then
                beside["rtf"] = batch_rtf(port, batch_clip, args.batch_clients, args.batch_seconds)
            batch_thread = threading.Thread(target=batch_beside)
            batch_thread.start()
        latencies, errors = [], []
        threads = [threading.Thread(target=realtime_session,
                                    args=(host, port, turn_pcm, rate, args.turns, latencies, errors))
                   for _ in range(count)]
        # Independent speakers finish their turns at unrelated times: the starts are spread
        # evenly over `spread` seconds (one turn by default). A small spread is the worst case,
        # every session committing at once.
        spread = args.turn_seconds if args.phase_spread is None else args.phase_spread
        for t in threads:
            t.start()
            time.sleep(spread / max(1, count))
        for t in threads:
            t.join()
        report(f"realtime {count} session(s), {args.turn_seconds:g} s turns, starts spread over "
               f"{spread:g} s, commit -> completed", latencies)
        if errors:
            print(f"  {len(errors)} errors, first: {errors[0]}")
        if beside or (batch_clip is not None and count == max(counts)):
            batch_thread.join()
            print(f"batch beside {count} realtime sessions: {beside['rtf']:.0f}x real time "
                  f"({100 * (1 - beside['rtf'] / alone):.1f}% lower than alone)")


if __name__ == "__main__":
    main()
