// A TranscriptSegment seen through the C struct: pointers into the segment, valid while it lives.
#pragma once

#include "glmasr/glmasr.h"
#include "pipeline/transcript.h"

namespace glmasr::capi {

glmasr_segment segment_view(const TranscriptSegment& segment);

}  // namespace glmasr::capi
