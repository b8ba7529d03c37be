#!/usr/bin/env python3
"""Writes the seed inputs of one fuzz target into a folder: real inputs from tests/data made
small (the fuzzer's max_len keeps inputs to a few KB), plus hand-written edge cases.
  usage: make_seeds.py TARGET OUT_DIR   (TARGET: safetensors, multipart, config, tokenizer)
The audio target's seeds are committed files under tests/fuzz/corpus/audio."""
import json
import pathlib
import struct
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


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


if __name__ == "__main__":
    target, out_dir = sys.argv[1], pathlib.Path(sys.argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    globals()[target](out_dir)
