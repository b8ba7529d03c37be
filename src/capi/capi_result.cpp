// glmasr_result_*: reading a finished transcription and rendering it in the CLI's formats.
#include "capi/capi_objects.h"
#include "capi/capi_segment.h"
#include "capi/capi_status.h"
#include "core/error.h"
#include "pipeline/subtitles.h"

using namespace glmasr;
using namespace glmasr::capi;

namespace glmasr::capi {

glmasr_segment segment_view(const TranscriptSegment& segment) {
  static_assert(sizeof(int) == sizeof(int32_t), "token ids are handed out as int32_t");
  return glmasr_segment{.id = segment.id,
                        .start = segment.start,
                        .end = segment.end,
                        .text = segment.text.c_str(),
                        .tokens = reinterpret_cast<const int32_t*>(segment.tokens.data()),
                        .token_count = segment.tokens.size(),
                        .avg_logprob = segment.avg_logprob,
                        .loop_detected = segment.loop_detected ? 1 : 0,
                        .stop_reason = segment.stop_reason.c_str()};
}

}  // namespace glmasr::capi

extern "C" {

const char* glmasr_result_text(const glmasr_result* result) {
  return result ? result->transcript.text.c_str() : "";
}

double glmasr_result_duration(const glmasr_result* result) {
  return result ? result->transcript.duration : 0;
}

double glmasr_result_seconds(const glmasr_result* result) {
  return result ? result->seconds : 0;
}

size_t glmasr_result_segment_count(const glmasr_result* result) {
  return result ? result->transcript.segments.size() : 0;
}

glmasr_status glmasr_result_segment(const glmasr_result* result, size_t index,
                                    glmasr_segment* segment) {
  return call_guarded([&] {
    require(result, "result");
    require(segment, "segment");
    const size_t count = result->transcript.segments.size();
    if (index >= count)
      fail_argument(cat("segment index ", index, ": expected below the segment count ", count));
    *segment = segment_view(result->transcript.segments[index]);
    return GLMASR_OK;
  });
}

glmasr_status glmasr_result_render(const glmasr_result* result, const char* format,
                                   const char** document) {
  return call_guarded([&] {
    require(document, "document");
    *document = nullptr;
    require(result, "result");
    require(format, "format");
    OutputFormat parsed;
    try {
      parsed = parse_output_format(format);
    } catch (const Error& e) {
      fail_argument(e.what());
    }
    std::lock_guard<std::mutex> lock(result->render_mutex);
    auto found = result->documents.find(format);
    if (found == result->documents.end())
      found =
          result->documents.emplace(format, render_transcript(result->transcript, parsed)).first;
    *document = found->second.c_str();
    return GLMASR_OK;
  });
}

void glmasr_result_free(glmasr_result* result) {
  delete result;
}

}  // extern "C"
