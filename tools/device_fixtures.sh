#!/usr/bin/env bash
# On the GPU machine: regenerate the golden fixtures and bring them back as one archive.
#   .device/audio must hold jfk.wav, librispeech.wav (16 kHz WAV of 1272-128104-0000.flac) and
#   libritts_24k.wav; the archive lands in $OUT/fixtures.tar.gz (unpack into tests/).
set -u
work=$(mktemp -d)
{
  nvidia-smi
  python3 -c "import torch, transformers, tokenizers; print(torch.__version__, transformers.__version__, tokenizers.__version__)"
  ls -la /usr/local/cuda/lib64 2>/dev/null | grep -E "cublas|cudart" || echo "no /usr/local/cuda/lib64"
  ldconfig -p | grep -E "sndfile|soxr|fftw3f|pcre2-8|libcurl|FLAC|vorbis|opus|mpg123|mp3lame|libogg|libssl|libcrypto"
  find / -name "libcublasLt.so*" -not -path "/proc/*" 2>/dev/null | head
  which compute-sanitizer ncu nvcc
} > "$OUT/env.txt" 2>&1
python3 tools/make_fixtures.py --audio-dir .device/audio --out "$work/data" > "$OUT/fixtures.log" 2>&1
echo "make_fixtures rc=$?"
rm -rf "$work/data/_tokenizer"
tar czf "$OUT/fixtures.tar.gz" -C "$work" data
src=$(python3 -c "import transformers, os; print(os.path.dirname(transformers.__file__))")
tar czf "$OUT/reference_src.tar.gz" -C "$src" models/glmasr models/whisper/feature_extraction_whisper.py \
  audio_utils.py models/llama/modeling_llama.py 2>/dev/null
tail -40 "$OUT/fixtures.log"
