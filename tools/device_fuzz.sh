#!/usr/bin/env bash
# On the GPU machine's 16 CPU cores: every libFuzzer target at once, two forked workers each, for
# SECONDS, from the seeds, regressions and corpora packed beside the binaries (a folder made
# from build-fuzz on the developer machine: bin/, lib/, dict/, seeds/TARGET/, lsan.supp). Prints
# each target's last status line (executions, coverage, corpus, exec/s, crashes); logs in $OUT.
# A campaign may span several device calls: the corpora grown so far come back as
# $OUT/fuzz_corpus.tgz, and a carried FUZZ_CORPUS archive (the previous call's) is resumed from.
# The fuzzers run at nice 19, so GPU work started beside them in the same call keeps its CPUs.
#   FUZZ_DIR=.device/fuzz FUZZ_CORPUS=.device/fuzz_corpus.tgz bash tools/device_fuzz.sh 540
set -u
seconds=${1:-300}
dir=${FUZZ_DIR:-.device/fuzz}
export LD_LIBRARY_PATH=$PWD/$dir/lib
export LSAN_OPTIONS="suppressions=$PWD/$dir/lsan.supp"
declare -A max_len=([safetensors]=16384 [multipart]=4096 [config]=4096 [tokenizer]=8192
                    [audio]=16384 [request]=20480 [realtime]=16384 [stdin]=32768)
if [[ -n "${FUZZ_CORPUS:-}" && -f "$FUZZ_CORPUS" ]]; then tar -xzf "$FUZZ_CORPUS" -C /tmp; fi
for target in "${!max_len[@]}"; do
  mkdir -p /tmp/fuzz-corpus/$target /tmp/fuzz-artifacts/$target
  (cd /tmp/fuzz-artifacts/$target &&
    nice -n 19 "$OLDPWD/$dir/bin/${target}_fuzz" -fork=2 -ignore_crashes=1 -max_total_time="$seconds" \
      -dict="$OLDPWD/$dir/dict/$target.dict" -max_len="${max_len[$target]}" -timeout=10 \
      -rss_limit_mb=2048 -artifact_prefix=/tmp/fuzz-artifacts/$target/ \
      /tmp/fuzz-corpus/$target "$OLDPWD/$dir/seeds/$target" > /tmp/fuzz-$target.log 2>&1) &
done
wait
for target in $(echo "${!max_len[@]}" | tr ' ' '\n' | sort); do
  echo "$target: $(grep -E '^#[0-9]+' /tmp/fuzz-$target.log | tail -n 1)"
  findings=$(find /tmp/fuzz-artifacts/$target -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  echo "  findings: $findings"
done | tee "$OUT/fuzz_campaign.txt"
tar -czf "$OUT/fuzz_findings.tgz" -C /tmp fuzz-artifacts $(cd /tmp && ls fuzz-*.log)
tar -czf "$OUT/fuzz_corpus.tgz" -C /tmp fuzz-corpus
