#include "pipeline/transcriber.h"

#include <algorithm>
#include <memory>

#include "audio/features.h"
#include "audio/mel.h"
#include "core/error.h"
#include "core/parallel.h"
#include "text/prompt.h"

namespace glmasr {

namespace {

// Whether the UTF-8 text begins (or ends) with a CJK ideograph or kana, which take no spaces.
bool is_cjk(uint32_t cp) {
  return (cp >= 0x3040 && cp <= 0x30ff) || (cp >= 0x3400 && cp <= 0x9fff) ||
         (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xff00 && cp <= 0xffef) ||
         (cp >= 0x3000 && cp <= 0x303f);
}

uint32_t first_code_point(const std::string& s) {
  if (s.empty()) return 0;
  const auto b = static_cast<unsigned char>(s[0]);
  if (b < 0x80 || s.size() < 3) return b;
  if ((b & 0xf0) == 0xe0)
    return ((b & 0x0fu) << 12) | ((static_cast<unsigned char>(s[1]) & 0x3fu) << 6) |
           (static_cast<unsigned char>(s[2]) & 0x3fu);
  return b;
}

uint32_t last_code_point(const std::string& s) {
  size_t i = s.size();
  while (i > 0 && (static_cast<unsigned char>(s[i - 1]) & 0xc0) == 0x80) --i;
  return i == 0 ? 0 : first_code_point(s.substr(i - 1));
}

bool is_space(char c) {
  return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

}  // namespace

std::string join_segment_texts(const std::vector<std::string>& texts) {
  // A lone segment is the model's text verbatim, exactly what the reference pipeline returns.
  const auto non_empty =
      std::count_if(texts.begin(), texts.end(), [](const std::string& t) { return !t.empty(); });
  if (non_empty == 1)
    return *std::find_if(texts.begin(), texts.end(),
                         [](const std::string& t) { return !t.empty(); });
  std::string out;
  for (const auto& raw : texts) {
    const std::string text = trim(raw);
    if (text.empty()) continue;
    if (!out.empty() && !(is_cjk(last_code_point(out)) && is_cjk(first_code_point(text))))
      out += ' ';
    out += text;
  }
  return out;
}

// One generation request in flight, with what is needed to put its answer back in place.
struct Transcriber::PendingSegment {
  size_t input = 0;
  size_t segment = 0;  // index into the input's transcript segments
  double audio_seconds = 0;
  std::unique_ptr<MelWindows> mel;
  std::vector<int32_t> prompt;
  std::unique_ptr<LoopGuard> guard;
  std::unique_ptr<IncrementalDecoder> text_so_far_decoder;
  std::string text_so_far;
};

Transcriber::Transcriber(Engine& engine, const Tokenizer& tokenizer, TranscribeOptions options)
    : engine_(engine),
      tokenizer_(tokenizer),
      options_(std::move(options)),
      mel_(engine.config().encoder.num_mel_bins) {
  GLMASR_CHECK(options_.max_new_tokens > 0, "max new tokens must be positive, got ",
               options_.max_new_tokens);
}

std::vector<InputResult> Transcriber::transcribe_files(const std::vector<std::string>& paths,
                                                       AudioProgress* progress,
                                                       const InputDoneCallback& on_input_done) {
  return transcribe_each(
      paths.size(), [&](size_t i) { return paths[i]; },
      [&](size_t i) { return read_audio(paths[i], options_.audio); }, progress, on_input_done);
}

std::vector<InputResult> Transcriber::transcribe_audio(const std::vector<Audio>& inputs,
                                                       AudioProgress* progress,
                                                       const InputDoneCallback& on_input_done) {
  return transcribe_each(
      inputs.size(), [&](size_t i) { return inputs[i].source; },
      [&](size_t i) { return inputs[i]; }, progress, on_input_done);
}

std::vector<InputResult> Transcriber::transcribe_each(
    size_t count, const std::function<std::string(size_t)>& source_of,
    const std::function<Audio(size_t)>& audio_of, AudioProgress* progress,
    const InputDoneCallback& on_input_done) {
  std::vector<InputResult> results(count);
  std::vector<PendingSegment> pending;
  // run_batch decodes every pending segment, so once `pending` is empty every input planned so
  // far is finished: report those not yet reported, in order.
  size_t reported = 0;
  const auto report_planned = [&](size_t planned) {
    for (; reported < planned; ++reported)
      if (on_input_done) on_input_done(reported, results[reported]);
  };
  for (size_t i = 0; i < count; ++i) {
    results[i].source = source_of(i);
    try {
      plan_input(i, audio_of(i), pending, results);
      if (progress) {  // the length is known now; skipped (silent) segments count as done
        progress->add_total(results[i].transcript->duration);
        for (const TranscriptSegment& segment : results[i].transcript->segments)
          if (!segment.stop_reason.empty()) progress->add_done(segment.end - segment.start);
      }
    } catch (const Error& e) {
      results[i].error = e.what();
      results[i].transcript.reset();
    }
    // Decode as soon as a batch is full so memory stays bounded on long lists.
    if (static_cast<int>(pending.size()) >= options_.segments_per_batch)
      run_batch(pending, results, progress);
    if (pending.empty()) report_planned(i + 1);
  }
  run_batch(pending, results, progress);
  report_planned(count);
  return results;
}

void Transcriber::plan_input(size_t input, const Audio& audio, std::vector<PendingSegment>& pending,
                             std::vector<InputResult>& results) {
  const ModelConfig& config = engine_.config();
  const int64_t merge = config.encoder.merge_factor;
  const std::string& source = audio.source;
  check_audio_yields_tokens(static_cast<int64_t>(audio.samples.size()), source, merge);

  Transcript transcript;
  transcript.source = source;
  transcript.duration = static_cast<double>(audio.samples.size()) / kSampleRate;

  std::vector<AudioSegment> spans;
  if (options_.single_request) {
    const int64_t n = static_cast<int64_t>(audio.samples.size());
    GLMASR_CHECK(n <= kMaxWindows * kWindowSamples, source, ": audio is ",
                 static_cast<double>(n) / kSampleRate, " s; --single-request takes at most ",
                 kMaxWindows * kWindowSeconds, " s (", kMaxWindows,
                 " windows of 30 s); leave it out to transcribe any length in segments");
    spans.push_back({0, n, 0.0, transcript.duration, false});
  } else {
    spans = segment_audio(audio.samples, options_.segmenter);
  }

  // Log-mel of every segment first, in parallel: on long files this is the pipeline's main
  // host cost (about 20 ms per 30 s window on one core).
  std::vector<std::unique_ptr<MelWindows>> mels(spans.size());
  std::vector<bool> skip(spans.size());
  for (size_t i = 0; i < spans.size(); ++i) {
    const int64_t length = std::min(spans[i].end - spans[i].begin, kWindowSamples);
    skip[i] = spans[i].silent || audio_tokens_for_frames(valid_mel_frames(length), merge) <= 0;
  }
  parallel_for(static_cast<int64_t>(spans.size()), kWindowSamples * 64,
               [&](int64_t begin, int64_t end) {
                 for (int64_t i = begin; i < end; ++i) {
                   if (skip[i]) continue;
                   const std::vector<float> samples(audio.samples.begin() + spans[i].begin,
                                                    audio.samples.begin() + spans[i].end);
                   mels[i] = std::make_unique<MelWindows>(mel_.compute(samples, kMaxWindows));
                 }
               });

  for (size_t i = 0; i < spans.size(); ++i) {
    const AudioSegment& span = spans[i];
    TranscriptSegment segment;
    segment.id = static_cast<int>(transcript.segments.size());
    segment.start = span.start_seconds;
    segment.end = span.end_seconds;
    if (skip[i]) {
      segment.stop_reason = span.silent ? "silence" : "too_short";
      transcript.segments.push_back(std::move(segment));
      continue;
    }
    PendingSegment work;
    work.input = input;
    work.segment = transcript.segments.size();
    work.audio_seconds = span.end_seconds - span.start_seconds;
    work.mel = std::move(mels[i]);
    int64_t audio_tokens = 0;
    for (int64_t frames : work.mel->valid_frames)
      audio_tokens += audio_tokens_for_frames(frames, merge);
    work.prompt =
        build_prompt_ids(tokenizer_, audio_tokens, options_.prompt_text, config.audio_token_id);
    if (options_.loop_guard) {
      work.guard = std::make_unique<LoopGuard>(options_.loop_guard_options);
      work.text_so_far_decoder = std::make_unique<IncrementalDecoder>(tokenizer_, true);
    }
    transcript.segments.push_back(std::move(segment));
    pending.push_back(std::move(work));
  }
  results[input].transcript = std::move(transcript);
}

void Transcriber::run_batch(std::vector<PendingSegment>& batch, std::vector<InputResult>& results,
                            AudioProgress* progress) {
  if (batch.empty()) return;
  const int64_t max_positions = engine_.config().decoder.max_positions;
  std::vector<GenerationRequest> requests;
  requests.reserve(batch.size());
  for (auto& work : batch) {
    GenerationRequest request;
    request.mel = work.mel.get();
    request.prompt_ids = work.prompt;
    // Never ask for more positions than the model has (long single requests near 630 s).
    request.max_new_tokens = static_cast<int>(std::max<int64_t>(
        1, std::min<int64_t>(options_.max_new_tokens,
                             max_positions - static_cast<int64_t>(work.prompt.size()))));
    if (work.guard) {
      PendingSegment* w = &work;
      request.on_token = [w](int32_t token) {
        if (w->guard->push(token)) return false;
        w->text_so_far += w->text_so_far_decoder->push(token);
        // The compression test needs a long text; checking every 16 tokens keeps it cheap.
        if (w->guard->tokens_seen() % 16 == 0 && w->guard->check_text(w->text_so_far)) return false;
        return true;
      };
    }
    requests.push_back(std::move(request));
  }
  const std::vector<GenerationResult> generated = engine_.generate(requests);
  for (size_t i = 0; i < batch.size(); ++i) {
    PendingSegment& work = batch[i];
    InputResult& result = results[work.input];
    if (!result.transcript) continue;  // the input failed after this segment was planned
    const GenerationResult& g = generated[i];
    if (g.stop == StopReason::kError) {
      result.error = result.source + ": " + g.error;
      result.transcript.reset();
      continue;
    }
    TranscriptSegment& segment = result.transcript->segments[work.segment];
    segment.tokens.assign(g.tokens.begin(), g.tokens.end());
    segment.text = tokenizer_.decode(g.tokens, /*skip_special_tokens=*/true);
    double sum = 0;
    for (float lp : g.logprobs) sum += lp;
    segment.avg_logprob = g.logprobs.empty() ? 0.0 : sum / static_cast<double>(g.logprobs.size());
    segment.loop_detected = g.stop == StopReason::kStopped;
    segment.stop_reason = segment.loop_detected ? "loop" : stop_reason_name(g.stop);
    if (progress) progress->add_done(work.audio_seconds);
  }
  // Texts are joined once every segment of an input is in; recomputing per batch is cheap.
  for (auto& result : results) {
    if (!result.transcript) continue;
    std::vector<std::string> texts;
    for (const auto& segment : result.transcript->segments) texts.push_back(segment.text);
    result.transcript->text = join_segment_texts(texts);
  }
  batch.clear();
}

}  // namespace glmasr
