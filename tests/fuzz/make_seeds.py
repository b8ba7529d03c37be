#!/usr/bin/env python3
"""Writes the seed inputs of one fuzz target into a folder: real inputs from tests/data made
small (the fuzzer's max_len keeps inputs to a few KB), plus hand-written edge cases.
  usage: make_seeds.py TARGET OUT_DIR
  (TARGET: safetensors, multipart, config, tokenizer, request, realtime, stdin)
The audio target's seeds are committed files under tests/fuzz/corpus/audio; request and stdin
reuse them, and stdin also takes the head of the real speech in ../shared/audio when present."""
import base64
import json
import pathlib
import struct
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
AUDIO_CORPUS = ROOT / "tests" / "fuzz" / "corpus" / "audio"
SHARED_AUDIO = ROOT.parent / "shared" / "audio"


def safetensors(out):
    sizes = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
             "U8": 1, "BOOL": 1}

    def write(name, header, data=b""):
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)
        (out / name).write_bytes(struct.pack("<Q", len(text)) + text + data)

    # Every safetensors file under tests/data, shrunk to a valid file with the same keys and
    # dtypes but one-element tensors, plus each real header with its data cut off.
    for path in sorted(DATA.rglob("*.safetensors")):
        raw = path.read_bytes()
        (length,) = struct.unpack("<Q", raw[:8])
        (out / (path.stem + "-header-only")).write_bytes(raw[:8 + length])
        header, offset, small = json.loads(raw[8:8 + length]), 0, {}
        for name, info in header.items():
            if name == "__metadata__":
                small[name] = info
                continue
            size = sizes[info["dtype"]]
            small[name] = {"dtype": info["dtype"], "shape": [1] * len(info["shape"]),
                           "data_offsets": [offset, offset + size]}
            offset += size
        write(path.stem + "-small", small, (bytes(range(256)) * (offset // 256 + 1))[:offset])
    write("every-dtype", {name: {"dtype": name, "shape": [2, 1],
                                 "data_offsets": [16 * i, 16 * i + 2 * s]}
                          for i, (name, s) in enumerate(sizes.items())}, bytes(16 * len(sizes)))
    write("scalar-and-empty", {"__metadata__": {"format": "pt"},
                               "s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]},
                               "e": {"dtype": "BF16", "shape": [0, 3], "data_offsets": [4, 4]}},
          bytes(4))


def multipart(out):
    # The target reads a Content-Type line, then the body.
    def form(name, boundary, parts, close=True, crlf="\r\n"):
        body = ""
        for headers, data in parts:
            body += f"--{boundary}{crlf}" + "".join(h + crlf for h in headers) + crlf + data + crlf
        if close:
            body += f"--{boundary}--{crlf}"
        (out / name).write_bytes(
            f"multipart/form-data; boundary={boundary}\n".encode() + body.encode("latin-1"))

    upload = ['Content-Disposition: form-data; name="file"; filename="a.wav"',
              "Content-Type: audio/wav"]
    form("openai-upload", "XyZzy", [(upload, "RIFF....WAVEfmt "),
                                   (['Content-Disposition: form-data; name="model"'], "glm-asr"),
                                   (['Content-Disposition: form-data; name="response_format"'],
                                    "verbose_json")])
    form("quoted-boundary", '"a b;c"', [(upload, "x")])
    form("escaped-filename", "b", [(['Content-Disposition: form-data; name="file"; '
                                     'filename="q\\"uo\\\\te.wav"'], "data")])
    form("lf-only", "b", [(upload, "data")], crlf="\n")
    form("unterminated", "b", [(upload, "data")], close=False)
    form("empty-part", "b", [([], "")])
    (out / "header-only").write_bytes(b'form-data; name="x"; filename*=UTF-8\'\'%e2%82%ac\n')


def config(out):
    # config.json, then a NUL and generation_config.json.
    tiny = (DATA / "tiny" / "config.json").read_bytes()
    generation = (DATA / "tiny" / "generation_config.json").read_bytes()
    (out / "tiny").write_bytes(tiny)
    (out / "tiny-with-generation").write_bytes(tiny + b"\0" + generation)
    parsed = json.loads(tiny)
    parsed["text_config"]["rope_scaling"] = {"rope_type": "default", "rope_theta": 5e5}
    parsed["torch_dtype"] = "bfloat16"
    (out / "tiny-rope-scaling").write_text(json.dumps(parsed))
    del parsed["audio_config"]["rope_parameters"]
    parsed["text_config"]["eos_token_id"] = 59246
    (out / "tiny-scalar-eos").write_text(json.dumps(parsed))


def tokenizer(out):
    # The tiny tokenizer.json is 4 MB: keep its structure with a vocabulary of the byte alphabet
    # and the first merges whose parts and result stay in it.
    full = json.loads((DATA / "tiny" / "tokenizer.json").read_text())
    vocab = full["model"]["vocab"]
    keep = {token: i for token, i in vocab.items() if i < 300}
    merges = []
    for merge in full["model"].get("merges", []):
        a, b = merge.split(" ", 1) if isinstance(merge, str) else merge
        if a in keep and b in keep and a + b in keep:
            merges.append(merge)
        if len(merges) >= 60:
            break
    small = dict(full)
    small["model"] = dict(full["model"], vocab=keep, merges=merges)
    small["added_tokens"] = full["added_tokens"][:6]
    (out / "tiny-small").write_text(json.dumps(small, ensure_ascii=False))
    bare = {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}}
    (out / "bare-bpe").write_text(json.dumps(bare))


def request(out):
    # Raw bytes a client sends on one connection (pipelined requests follow each other).
    def http(method, target, headers=(), body=b"", version="1.1"):
        head = f"{method} {target} HTTP/{version}\r\nHost: localhost\r\n"
        head += "".join(h + "\r\n" for h in headers)
        if body and not any(h.lower().startswith("transfer-encoding") for h in headers):
            head += f"Content-Length: {len(body)}\r\n"
        return head.encode() + b"\r\n" + body

    def form(parts, boundary="XyZzy"):
        body = b""
        for name, data, filename in parts:
            disposition = f'Content-Disposition: form-data; name="{name}"'
            if filename:
                disposition += f'; filename="{filename}"\r\nContent-Type: audio/wav'
            body += f"--{boundary}\r\n{disposition}\r\n\r\n".encode() + data + b"\r\n"
        return body + f"--{boundary}--\r\n".encode()

    wav = (AUDIO_CORPUS / "tone16.wav").read_bytes()
    flac = (AUDIO_CORPUS / "tone.flac").read_bytes()
    multipart = "Content-Type: multipart/form-data; boundary=XyZzy"
    seeds = {
        "health": http("GET", "/health"),
        "ready-metrics": http("GET", "/ready") + http("GET", "/metrics"),
        "models": http("GET", "/v1/models") + http("GET", "/v1/models/GLM-ASR-Nano-2512"),
        "model-escaped": http("GET", "/v1/models/GLM%2DASR%zz"),
        "not-found": http("DELETE", "/v2/everything?x=1"),
        "method-not-allowed": http("POST", "/health", body=b"{}"),
        "preflight": http("OPTIONS", "/v1/audio/transcriptions",
                          ["Origin: https://app.example",
                           "Access-Control-Request-Method: POST",
                           "Access-Control-Request-Headers: content-type"]),
        "upload-json": http("POST", "/v1/audio/transcriptions",
                            [multipart, "Origin: http://localhost:3000"],
                            form([("file", wav, "a.wav"), ("model", b"whisper-1", None),
                                  ("response_format", b"json", None)])),
        "upload-verbose": http("POST", "/v1/audio/transcriptions", [multipart],
                               form([("file", flac, "a.flac"),
                                     ("response_format", b"verbose_json", None),
                                     ("prompt", b"names: Ada", None)])),
        "upload-srt-vtt": http("POST", "/v1/audio/transcriptions", [multipart],
                               form([("file", wav, "a.wav"), ("response_format", b"srt", None)]))
        + http("POST", "/v1/audio/transcriptions", [multipart],
               form([("file", wav, "a.wav"), ("response_format", b"vtt", None)])),
        "upload-stream": http("POST", "/v1/audio/transcriptions?stream=true", [multipart],
                              form([("file", wav, "a.wav"), ("stream", b"true", None)])),
        "raw-body": http("POST", "/v1/audio/transcriptions?response_format=text&stream=1&prompt=a+b",
                         ["Content-Type: audio/wav"], wav),
        "raw-octets": http("POST", "/v1/audio/transcriptions", ["Content-Type: application/octet-stream"],
                           flac),
        "chunked": http("POST", "/v1/audio/transcriptions",
                        ["Content-Type: audio/wav", "Transfer-Encoding: chunked"],
                        b"%x;ext=1\r\n" % 100 + wav[:100] + b"\r\n" + b"%x\r\n" % (len(wav) - 100)
                        + wav[100:] + b"\r\n0\r\nX-Trailer: t\r\n\r\n"),
        "wrong-type": http("POST", "/v1/audio/transcriptions", ["Content-Type: text/plain"], b"hi"),
        "http10": http("GET", "/health", ["Connection: keep-alive"], version="1.0")
        + http("GET", "/v1/models", version="1.0"),
        "expect-continue": http("POST", "/v1/audio/transcriptions",
                                ["Content-Type: audio/wav", "Expect: 100-continue"], wav),
        "upgrade": http("GET", "/v1/realtime", ["Upgrade: websocket", "Connection: Upgrade"]),
        "bad-version": b"GET /health HTTP/2.0\r\n\r\n",
        "close": http("GET", "/health", ["Connection: close"]) + http("GET", "/health"),
    }
    for name, data in seeds.items():
        (out / name).write_bytes(data)


def realtime(out):
    # One client event per line; "!tone MS", "!quiet MS", "!eof", "!binary" and "@N " as the
    # target reads them.
    def event(kind, **fields):
        return json.dumps(dict(type=kind, **fields))

    def append(samples, event_id=None):
        audio = base64.b64encode(struct.pack(f"<{len(samples)}h", *samples)).decode()
        return event("input_audio_buffer.append", audio=audio,
                     **({"event_id": event_id} if event_id else {}))

    loud = [12000 if (i // 20) % 2 else -12000 for i in range(2400)]  # 100 ms at 24 kHz
    manual = event("session.update", session={
        "type": "transcription",
        "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000},
                            "transcription": {"model": "glm-asr", "prompt": "p", "language": "en"},
                            "turn_detection": None}}})
    vad = event("session.update", session={"audio": {"input": {
        "turn_detection": {"type": "server_vad", "threshold": 0.3, "prefix_padding_ms": 100,
                           "silence_duration_ms": 200},
        "interim": {"enabled": True, "interval_ms": 100}}}})
    seeds = {
        "manual-turns": [manual, "@3 " + append(loud[:1600]), event("input_audio_buffer.commit"),
                         append(loud[:800]), event("input_audio_buffer.clear"),
                         event("input_audio_buffer.commit", event_id="e1")],
        "vad-turns": [vad, "!quiet 300", "!tone 500", "!quiet 400", "@5 " + append(loud),
                      "!quiet 300", "!tone 200", "!eof"],
        "interim": [vad, "@20 !tone 100", "!quiet 250"],
        "mistakes": ["{", "[1,2]", "null", '{"type": 7}', '{"event_id": "x"}',
                     event("bogus.event", event_id="y" * 200), "!binary",
                     event("input_audio_buffer.append", audio="not base64!"),
                     event("input_audio_buffer.append", audio="AAA="),
                     event("input_audio_buffer.append"),
                     event("session.update"),
                     event("session.update", session={"type": "realtime"}),
                     event("session.update", session={"audio": {"input": {
                         "format": {"type": "audio/pcmu", "rate": 8000}}}}),
                     event("session.update", session={"audio": {"input": {
                         "turn_detection": {"type": "semantic_vad", "threshold": 2}}}}),
                     event("session.update", session={"audio": {"input": {
                         "interim": {"interval_ms": 5}}}})],
        "rate-change-after-audio": [append(loud[:480]), manual],
        "buffer-full": [manual, "@50 !tone 100", event("input_audio_buffer.commit")],
    }
    for name, lines in seeds.items():
        (out / name).write_text("\n".join(lines) + "\n")


def stdin(out):
    # The option byte (see stdin_fuzz.cpp): bits 0-2 the rate (0: none, 1: 8000, 2: 16000, ...),
    # bits 3-4 the channels (0: 1, 1: 2), bits 5-6 the limit (0: 1 s, 2: 3 s).
    def option(rate=0, channels=0, limit=0):
        return bytes([rate | channels << 3 | limit << 5])

    for path in sorted(AUDIO_CORPUS.iterdir()):
        (out / ("container-" + path.name)).write_bytes(option(limit=2) + path.read_bytes())
    (out / "wav-with-rate").write_bytes(option(rate=2) + (AUDIO_CORPUS / "tone16.wav").read_bytes())
    (out / "mp3-frame-as-raw").write_bytes(option(rate=2) + b"\xff\xfb\x90\x64" + bytes(400))
    if SHARED_AUDIO.is_dir():  # real speech, cut to the fuzzer's max_len
        for path in sorted(SHARED_AUDIO.glob("*")):
            if path.suffix in (".wav", ".flac", ".mp3"):
                (out / ("speech-" + path.name)).write_bytes(
                    option(limit=2) + path.read_bytes()[:30000])
    tone = struct.pack("<1600h", *[int(8000 * ((i // 10) % 2 * 2 - 1)) for i in range(1600)])
    (out / "raw-16k-mono").write_bytes(option(rate=2) + tone)
    (out / "raw-8k-stereo").write_bytes(option(rate=1, channels=1) + tone)
    (out / "raw-odd-bytes").write_bytes(option(rate=2) + tone[:-1])
    (out / "raw-over-limit").write_bytes(option(rate=1, limit=1) + tone * 2)
    (out / "raw-no-rate").write_bytes(option() + tone)
    (out / "empty").write_bytes(option(rate=2))


if __name__ == "__main__":
    target, out_dir = sys.argv[1], pathlib.Path(sys.argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    globals()[target](out_dir)
