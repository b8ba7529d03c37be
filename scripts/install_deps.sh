#!/usr/bin/env bash
# Installs every Debian package glmasr needs to build and test. Idempotent: packages already
# present are skipped, so CI and developers can run it on every invocation.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  clang clang-format libclang-rt-14-dev       # libFuzzer target for the safetensors parser
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev                          # config.json, tokenizer.json, safetensors headers
  libsndfile1-dev libsoxr-dev                 # audio decoding (WAV/FLAC/Ogg/MP3) and resampling
  libfftw3-dev                                # STFT for the log-mel front end
  libpcre2-dev                                # tokenizer pre-tokenizer regex (Unicode classes, look-ahead)
  libcurl4-openssl-dev libssl-dev             # glmasr download (HTTPS, SHA-256 of model files)
  zlib1g-dev                                  # loop guard: compression-ratio test
  python3-srt python3-webvtt                  # tests: real SRT and WebVTT parsers for subtitle output
  python3 sox                                 # test helpers: local HTTP server, long-audio synthesis
  curl                                        # tests: glmasr serve end-to-end (HTTP client)
  libboost-dev                                # glmasr serve: Boost.Beast HTTP on Boost.Asio
  python3-setuptools python3-pip python3-venv # python/: pip install --no-build-isolation ./python
  python3-numpy python3-pytest                # python/ tests: NumPy input, pytest (tests/python)
)

# tests/sdk runs the official OpenAI Node SDK against glmasr serve (node --test, npm ci). A
# Node from elsewhere (nodesource) counts; Debian's nodejs 18 and npm are the fallback.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then packages+=(nodejs npm); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install_deps: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install_deps: all packages present"
fi
