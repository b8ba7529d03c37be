"""Builds a synthetic GLM-style byte-level BPE tokenizer.json with the `tokenizers` library.

The real GLM-ASR tokenizer is only published on the model hubs, which our machines cannot reach.
This one has the same structure (spec section 8): a byte-ordered base alphabet, 59 246 BPE entries
(ids 0..59245), the GLM-4 Split regex followed by ByteLevel, and the 18 special tokens at
59 246..59 263, so prompts and special ids are real and encodings exercise every code path.
"""
import json
import os
import random
import sys

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

BASE_VOCAB = 59246
SPECIAL_TOKENS = [
    "<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>", "<|system|>", "<|user|>",
    "<|assistant|>", "<|observation|>", "<|begin_of_image|>", "<|end_of_image|>",
    "<|begin_of_video|>", "<|end_of_video|>", "<|pad|>", "<|begin_of_audio|>", "<|end_of_audio|>",
    "<|reserved_59263|>",
]
GLM4_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character map (the ByteLevel alphabet)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, chars)}


def corpus(max_bytes=60_000_000, seed=0):
    """English prose/code from the Python installation plus synthetic CJK, digits and symbols."""
    rng = random.Random(seed)
    roots = sorted({os.path.dirname(os.__file__)} | {p for p in sys.path if p.endswith("site-packages")})
    total = 0
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                if not name.endswith((".py", ".txt", ".md", ".rst")):
                    continue
                try:
                    with open(os.path.join(dirpath, name), encoding="utf-8") as f:
                        text = f.read()
                except (UnicodeDecodeError, OSError):
                    continue
                total += len(text)
                yield text
                if total > max_bytes:
                    break
            if total > max_bytes:
                break
        if total > max_bytes:
            break
    # Zipf-weighted CJK "sentences" so that multi-byte merges exist.
    cjk = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
    weights = [1.0 / (i + 1) for i in range(len(cjk))]
    for _ in range(4000):
        words = []
        for _ in range(rng.randint(5, 40)):
            words.append("".join(rng.choices(cjk, weights, k=rng.randint(1, 4))))
        yield "".join(words) + "。" + str(rng.randint(0, 10**6)) + "，"


def build(out_path):
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(GLM4_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=BASE_VOCAB + 2000, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tokenizer.train_from_iterator(corpus(), trainer)
    trained = json.loads(tokenizer.to_str())

    # Re-number: the 256 byte characters first, in byte order, then learned tokens in training order.
    byte_chars = bytes_to_unicode()
    vocab = {byte_chars[b]: b for b in range(256)}
    learned = sorted(trained["model"]["vocab"].items(), key=lambda kv: kv[1])
    merges = []
    raw_merges = trained["model"]["merges"]
    for merge in raw_merges:
        left, right = merge if isinstance(merge, list) else merge.split(" ", 1)
        result = left + right
        if len(vocab) >= BASE_VOCAB:
            break
        if left in vocab and right in vocab and result not in vocab:
            vocab[result] = len(vocab)
            merges.append([left, right])
    del learned
    # If the corpus was too small, add merges of existing tokens until the size is exact.
    pieces = list(vocab.keys())
    rng = random.Random(1)
    while len(vocab) < BASE_VOCAB:
        left, right = rng.choice(pieces[256:] or pieces), rng.choice(pieces[:256])
        if left + right not in vocab:
            vocab[left + right] = len(vocab)
            merges.append([left, right])
    assert len(vocab) == BASE_VOCAB

    trained["model"]["vocab"] = vocab
    trained["model"]["merges"] = merges
    trained["added_tokens"] = [
        {"id": BASE_VOCAB + i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for i, t in enumerate(SPECIAL_TOKENS)
    ]
    trained["normalizer"] = None
    trained["post_processor"] = None
    text = json.dumps(trained, ensure_ascii=False)
    Tokenizer.from_str(text)  # must load
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(text)
    return out_path


GOLDEN_TEXTS = [
    "Please transcribe this audio into text",
    "And so my fellow Americans, ask not what your country can do for you.",
    "MISTER QUILTER IS THE APOSTLE OF THE MIDDLE CLASSES",
    "Yesterday it was thirty five degrees in Barcelona, but today the temperature will go down to minus twenty degrees.",
    "大家好，欢迎使用语音识别。今天天气很好！",
    "中英混合 mixed text 123 与数字 4567890",
    "日本語のテキストと한국어 텍스트",
    "3.14159 + 2.71828 = 5.85987; 1,000,000 and 12345678901234567890",
    "!!!???... ---*** ((())) [[[]]] {{{}}} ~~~ ``` '''",
    "emoji 👍🏽😀🎉 family 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵",
    "whitespace   runs\t\ttabs    and  double  spaces",
    "new\nlines\n\n\nand\r\nwindows\r\n line ends\n",
    "   leading spaces",
    "trailing spaces   ",
    "hello<|user|>world<|pad|><|pad|>x<|endoftext|>",
    "<|user|>\n<|begin_of_audio|><|pad|><|end_of_audio|><|user|>\nPlease transcribe this audio into text<|assistant|>\n",
    "pneumonoultramicroscopicsilicovolcanoconiosis supercalifragilisticexpialidocious",
    "I'm sure you're right, they'll see it's WE'D and I'LL and You'Ve",
    "https://example.com/path?query=1&x=y#frag email@example.org",
    "def f(x):\n    return x ** 2  # comment\n",
    "Ünïcödé çafé naïve résumé e\u0301 (combining)",
    "Arabic العربية and Hebrew עברית and Cyrillic кириллица",
    "zero\u200bwidth\u200djoiner and nbsp\u00a0here",
    "",
    " ",
    "\n",
    "a",
    "<|user|>",
    "<|use",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math 𝑥² ∑∫√∞ ≠ ≤ ≥",
]


def golden_cases(tokenizer_path):
    tokenizer = Tokenizer.from_file(tokenizer_path)
    cases = []
    for text in GOLDEN_TEXTS:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        cases.append({
            "text": text,
            "ids": ids,
            "decoded": tokenizer.decode(ids, skip_special_tokens=False),
            "decoded_skip_special": tokenizer.decode(ids, skip_special_tokens=True),
        })
    prompt_ids = tokenizer.encode(GOLDEN_TEXTS[0], add_special_tokens=False).ids
    return {"cases": cases, "prompt_text_ids": prompt_ids}
