#include "pipeline/transcriber.h"

#include <algorithm>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>

#include "audio/features.h"
#include "audio/mel.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/stopwatch.h"
#include "model/audio_tokens.h"
#include "text/prompt.h"

namespace glmasr {

// One input on its way through the loop: its transcript fills in as segments finish.
struct Transcriber::InputJob {
  std::mutex mutex;
  InputResult result;
  size_t segments_left = 0;  // submitted and not yet finished
  bool planned = false;      // every segment has been submitted
  bool reported = false;
  std::atomic<bool> started{false}, first_token{false};
  std::function<void(InputResult)> done;
  AudioProgress* progress = nullptr;

  // Streaming (when the caller asked for text deltas or segments as they are decoded): the
  // segments' texts go through the joiner in segment order; a segment decoding ahead of an
  // earlier one waits in live_text until the earlier one is complete.
  std::unique_ptr<TextJoiner> joiner;
  std::function<void(const TranscriptSegment&)> on_segment;
  std::vector<std::string> live_text;  // per segment: its text decoded so far
  std::vector<size_t> streamed;        // per segment: bytes of live_text given to the joiner
  std::vector<bool> segment_final;     // per segment: decoded (or skipped)
  size_t stream_next = 0;              // the segment being streamed

  bool streaming() const { return joiner || on_segment; }

  void start_stream(std::function<void(std::string_view)> on_delta,
                    std::function<void(const TranscriptSegment&)> segment_done) {
    on_segment = std::move(segment_done);
    if (on_delta) joiner = std::make_unique<TextJoiner>(std::move(on_delta));
    const size_t n = result.transcript->segments.size();
    live_text.assign(n, {});
    streamed.assign(n, 0);
    segment_final.assign(n, false);
    for (size_t i = 0; i < n; ++i)  // skipped (silent, too short) segments are final already
      segment_final[i] = !result.transcript->segments[i].stop_reason.empty();
  }

  // Passes on what has become streamable. Lock held.
  void pump() {
    if (!streaming() || !result.transcript) return;
    const auto& segments = result.transcript->segments;
    while (stream_next < segments.size()) {
      const size_t s = stream_next;
      if (joiner && streamed[s] < live_text[s].size()) {
        joiner->append(std::string_view(live_text[s]).substr(streamed[s]));
        streamed[s] = live_text[s].size();
      }
      if (!segment_final[s]) return;
      if (joiner) joiner->end_segment();
      if (on_segment) on_segment(segments[s]);
      ++stream_next;
    }
  }

  // Calls done once everything is in (with the lock held by the caller released first).
  void finish_if_complete(std::unique_lock<std::mutex>& lock) {
    if (reported || !planned || segments_left > 0) return;
    reported = true;
    pump();
    if (joiner && result.transcript) joiner->finish();
    if (result.transcript) {
      std::vector<std::string> texts;
      for (const auto& segment : result.transcript->segments) texts.push_back(segment.text);
      result.transcript->text = join_segment_texts(texts);
    }
    InputResult out = std::move(result);
    auto callback = std::move(done);
    lock.unlock();
    callback(std::move(out));
  }

  void fail(const std::string& message, bool client_error, std::unique_lock<std::mutex>& lock) {
    if (result.transcript) {
      result.transcript.reset();
      result.error = message;
      result.client_error = client_error;
    }
    finish_if_complete(lock);
  }
};

// One segment in the loop: its features, its prompt and its loop guard.
struct Transcriber::SegmentJob {
  size_t index = 0;  // into the input's transcript segments
  double audio_seconds = 0;
  PlannedSegment planned;  // features, kept rows, prompt
  std::unique_ptr<LoopGuard> guard;
  std::unique_ptr<IncrementalDecoder> text_so_far_decoder;
  std::string text_so_far;
};

PlanOptions Transcriber::plan_options(const TranscribeOptions& options,
                                      const SequenceScheduler& scheduler) {
  return {.single_request = options.single_request,
          .segmenter = options.segmenter,
          .max_sequence_positions = scheduler.kv_positions(),
          .mel_threads = options.mel_threads};
}

Transcriber::Transcriber(SequenceScheduler& scheduler, const Tokenizer& tokenizer,
                         TranscribeOptions options)
    : Transcriber(scheduler, tokenizer, options,
                  std::make_shared<const SegmentPlanner>(scheduler.config(), tokenizer,
                                                         plan_options(options, scheduler))) {}

Transcriber::Transcriber(SequenceScheduler& scheduler, const Tokenizer& tokenizer,
                         TranscribeOptions options, std::shared_ptr<const SegmentPlanner> planner)
    : scheduler_(scheduler),
      tokenizer_(tokenizer),
      options_(std::move(options)),
      planner_(std::move(planner)) {
  GLMASR_CHECK(planner_ != nullptr, "Transcriber: expected a segment planner, got none");
  GLMASR_CHECK(options_.max_new_tokens > 0, "max new tokens must be positive, got ",
               options_.max_new_tokens);
}

void Transcriber::submit(Audio audio, const InputOptions& input_options,
                         std::function<void(InputResult)> done, AudioProgress* progress) {
  const AddElapsedTo planning(plan_seconds_);
  auto input = std::make_shared<InputJob>();
  input->result.source = audio.source;
  input->done = std::move(done);
  input->progress = progress;
  const std::string& prompt_text = input_options.prompt_text.value_or(options_.prompt_text);

  std::vector<AudioSegment> spans;
  try {
    Transcript transcript;
    spans = planner_->segments(audio, transcript);
    if (progress) {  // the length is known now; skipped (silent) segments count as done
      progress->add_total(transcript.duration);
      for (const TranscriptSegment& segment : transcript.segments)
        if (!segment.stop_reason.empty()) progress->add_done(segment.end - segment.start);
    }
    input->result.transcript = std::move(transcript);
    if (input_options.on_text_delta || input_options.on_segment)
      input->start_stream(input_options.on_text_delta, input_options.on_segment);
  } catch (const Error& e) {
    input->result.error = e.what();
    input->result.client_error = true;
    std::unique_lock<std::mutex> lock(input->mutex);
    input->planned = true;
    input->finish_if_complete(lock);
    return;
  }

  // Log-mel is the pipeline's main host cost (about 20 ms per 30 s window on one core): compute
  // it a few segments at a time in parallel and hand each group to the loop at once, so
  // decoding starts while later segments are still being prepared.
  int64_t prompt_tokens = 0;
  const size_t group = 8;
  try {
    for (size_t first = 0; first < spans.size(); first += group) {
      const size_t last = std::min(spans.size(), first + group);
      std::vector<std::shared_ptr<SegmentJob>> jobs(last - first);
      parallel_for(static_cast<int64_t>(last - first), kWindowSamples * 64,
                   [&](int64_t begin, int64_t end) {
                     for (int64_t k = begin; k < end; ++k) {
                       const size_t i = first + static_cast<size_t>(k);
                       if (!input->result.transcript->segments[i].stop_reason.empty()) continue;
                       auto job = std::make_shared<SegmentJob>();
                       job->index = i;
                       job->audio_seconds = spans[i].end_seconds - spans[i].start_seconds;
                       job->planned.mel = planner_->features(audio, spans[i]);
                       jobs[k] = std::move(job);
                     }
                   });
      for (auto& job : jobs) {
        if (!job) continue;
        planner_->build_prompt(job->planned, prompt_text, audio.source);
        prompt_tokens += static_cast<int64_t>(job->planned.prompt.size());
        if (options_.loop_guard)
          job->guard = std::make_unique<LoopGuard>(options_.loop_guard_options);
        if (options_.loop_guard || input->streaming())
          job->text_so_far_decoder = std::make_unique<IncrementalDecoder>(tokenizer_, true);
        submit_segment(input, std::move(job), input_options);
      }
    }
  } catch (const Error& e) {  // segments already submitted still finish; the input fails
    std::unique_lock<std::mutex> lock(input->mutex);
    input->planned = true;
    input->fail(e.what(), dynamic_cast<const InputError*>(&e) != nullptr, lock);
    return;
  }
  if (input_options.on_prompt_tokens) input_options.on_prompt_tokens(prompt_tokens);
  std::unique_lock<std::mutex> lock(input->mutex);
  input->planned = true;
  input->finish_if_complete(lock);
}

void Transcriber::submit_segment(const std::shared_ptr<InputJob>& input,
                                 std::shared_ptr<SegmentJob> segment,
                                 const InputOptions& input_options) {
  {
    std::lock_guard<std::mutex> lock(input->mutex);
    ++input->segments_left;
  }
  const int64_t max_positions = scheduler_.config().decoder.max_positions;
  Sequence sequence;
  GenerationRequest& request = sequence.request;
  request.mel = &segment->planned.mel;
  request.audio_rows = segment->planned.audio_rows;
  request.prompt_ids = segment->planned.prompt;
  // Never ask for more positions than the model has (long single requests near 630 s).
  request.max_new_tokens = static_cast<int>(std::max<int64_t>(
      1, std::min<int64_t>(options_.max_new_tokens,
                           max_positions - static_cast<int64_t>(segment->planned.prompt.size()))));
  SegmentJob* s = segment.get();  // alive: on_done below holds it
  InputJob* in = input.get();     // alive: on_done below holds it
  const bool streaming = input->streaming();
  if (s->guard || input_options.on_first_token || streaming) {
    request.on_token = [s, in, streaming, on_first = input_options.on_first_token](int32_t token) {
      if (on_first && !in->first_token.exchange(true)) on_first();
      std::string piece;
      if (s->text_so_far_decoder) piece = s->text_so_far_decoder->push(token);
      if (streaming && !piece.empty()) {
        std::lock_guard<std::mutex> lock(in->mutex);
        in->live_text[s->index] += piece;
        in->pump();
      }
      if (!s->guard) return true;
      if (s->guard->push(token)) return false;
      s->text_so_far += piece;
      // The compression test needs a long text; checking every 16 tokens keeps it cheap.
      if (s->guard->tokens_seen() % 16 == 0 && s->guard->check_text(s->text_so_far)) return false;
      return true;
    };
  }
  sequence.cancelled = input_options.cancelled;
  sequence.background = input_options.background;
  if (input_options.on_started)
    sequence.on_admitted = [in, on_started = input_options.on_started] {
      if (!in->started.exchange(true)) on_started();
    };
  sequence.on_done = [this, input, segment](GenerationResult g) {
    std::unique_lock<std::mutex> lock(input->mutex);
    --input->segments_left;
    if (input->progress) input->progress->add_done(segment->audio_seconds);
    if (g.stop == StopReason::kError) {
      input->fail(input->result.source + ": " + g.error, false, lock);
      return;
    }
    if (g.stop == StopReason::kCancelled) {
      input->fail(input->result.source + ": cancelled", true, lock);
      return;
    }
    if (input->result.transcript) {
      TranscriptSegment& out = input->result.transcript->segments[segment->index];
      out.tokens.assign(g.tokens.begin(), g.tokens.end());
      out.text = tokenizer_.decode(g.tokens, /*skip_special_tokens=*/true);
      double sum = 0;
      for (float lp : g.logprobs) sum += lp;
      out.avg_logprob = g.logprobs.empty() ? 0.0 : sum / static_cast<double>(g.logprobs.size());
      out.loop_detected = g.stop == StopReason::kStopped;
      out.stop_reason = out.loop_detected ? "loop" : stop_reason_name(g.stop);
      if (input->streaming()) {  // the final text settles what streamed (a held-back character)
        input->live_text[segment->index] = out.text;
        input->segment_final[segment->index] = true;
        input->pump();
      }
    }
    input->finish_if_complete(lock);
  };
  scheduler_.submit(std::move(sequence));
}

std::vector<InputResult> Transcriber::transcribe_files(const std::vector<std::string>& paths,
                                                       AudioProgress* progress,
                                                       const InputDoneFn& on_input_done) {
  return transcribe_inputs(
      paths.size(), [&](size_t i) { return paths[i]; },
      [&](size_t i) { return read_audio(paths[i], options_.audio); }, progress, on_input_done);
}

std::vector<InputResult> Transcriber::transcribe_audio(const std::vector<Audio>& inputs,
                                                       AudioProgress* progress,
                                                       const InputDoneFn& on_input_done) {
  return transcribe_inputs(
      inputs.size(), [&](size_t i) { return inputs[i].source; },
      [&](size_t i) { return inputs[i]; }, progress, on_input_done);
}

std::vector<InputResult> Transcriber::transcribe_inputs(
    size_t count, const std::function<std::string(size_t)>& source_of,
    const std::function<Audio(size_t)>& audio_of, AudioProgress* progress,
    const InputDoneFn& on_input_done) {
  std::vector<InputResult> results(count);
  // Inputs finish on the loop's thread in any order; they are reported in input order, each as
  // soon as it and every input before it are done (so stdout stays in order, and a finished
  // file is written while a later input, standard input say, is still being read).
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<bool> done(count, false);
  size_t next_to_report = 0;
  size_t in_flight = 0;  // submitted and not yet finished
  auto mark_done = [&](size_t i, std::unique_lock<std::mutex>& lock) {
    (void)lock;  // held by the caller
    done[i] = true;
    while (next_to_report < count && done[next_to_report]) {
      if (on_input_done) on_input_done(next_to_report, results[next_to_report]);
      ++next_to_report;
    }
    changed.notify_all();
  };
  // Input i + 1 is read (decoded, resampled) on another thread while input i is planned and
  // submitted: one input ahead, so reading overlaps planning and memory stays bounded.
  const auto read_on_a_thread = [&](size_t i) {
    return std::async(std::launch::async, [this, &audio_of, i] {
      const AddElapsedTo reading(read_seconds_);
      return audio_of(i);
    });
  };
  std::future<Audio> ahead;
  if (count > 0) ahead = read_on_a_thread(0);
  for (size_t i = 0; i < count; ++i) {
    Audio audio;
    std::future<Audio> reading = std::move(ahead);
    if (i + 1 < count) ahead = read_on_a_thread(i + 1);
    try {
      audio = reading.get();
    } catch (const Error& e) {
      std::unique_lock<std::mutex> lock(mutex);
      results[i].source = source_of(i);
      results[i].error = e.what();
      results[i].client_error = true;
      mark_done(i, lock);
      continue;
    }
    if (audio.source.empty()) audio.source = source_of(i);
    {
      // Bound the host memory of long lists: wait while many inputs are still in the loop.
      std::unique_lock<std::mutex> lock(mutex);
      changed.wait(lock, [&] {
        return in_flight < static_cast<size_t>(std::max(1, options_.inputs_in_flight));
      });
      ++in_flight;
    }
    submit(
        std::move(audio), {},
        [&, i](InputResult result) {
          std::unique_lock<std::mutex> lock(mutex);
          results[i] = std::move(result);
          --in_flight;
          mark_done(i, lock);
        },
        progress);
  }
  std::unique_lock<std::mutex> lock(mutex);
  changed.wait(lock, [&] { return next_to_report == count; });
  return results;
}

}  // namespace glmasr
