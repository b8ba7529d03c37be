// A timeline of a CUDA program's kernels, copies and synchronizing calls, for the GPU machine
// (where nsys is missing): loaded by the CUDA driver through CUDA_INJECTION64_PATH, it collects
// CUPTI activity records and writes one line per record to $GLMASR_TRACE_OUT (default
// cupti_trace.txt) at exit:
//   K start_ns end_ns stream grid_x*grid_y*grid_z name      a kernel (graph nodes included)
//   M start_ns end_ns stream bytes copy_kind                 a copy
//   S start_ns end_ns thread api_name                        a synchronizing runtime call,
//                                                           a copy or a graph launch (host side)
// tools/timeline.py reads it. Build: tools/cupti_trace/build.sh. A tool for measurements only;
// nothing in glmasr links it.
#include <cupti.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace {

std::FILE* out = nullptr;
std::mutex out_mutex;
constexpr size_t kBufferBytes = 8u << 20;

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, kBufferBytes));
  *size = kBufferBytes;
  *max_records = 0;
}

void write_record(const CUpti_Activity* record) {
  switch (record->kind) {
    case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL:
    case CUPTI_ACTIVITY_KIND_KERNEL: {
      const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(record);
      std::fprintf(out, "K %llu %llu %u %d %s\n", static_cast<unsigned long long>(k->start),
                   static_cast<unsigned long long>(k->end), k->streamId,
                   k->gridX * k->gridY * k->gridZ, k->name ? k->name : "?");
      break;
    }
    case CUPTI_ACTIVITY_KIND_MEMCPY: {
      const auto* m = reinterpret_cast<const CUpti_ActivityMemcpy6*>(record);
      std::fprintf(out, "M %llu %llu %u %llu %u\n", static_cast<unsigned long long>(m->start),
                   static_cast<unsigned long long>(m->end), m->streamId,
                   static_cast<unsigned long long>(m->bytes), unsigned{m->copyKind});
      break;
    }
    case CUPTI_ACTIVITY_KIND_RUNTIME: {
      const auto* api = reinterpret_cast<const CUpti_ActivityAPI*>(record);
      const char* name = nullptr;
      cuptiGetCallbackName(CUPTI_CB_DOMAIN_RUNTIME_API, api->cbid, &name);
      if (name && (std::strstr(name, "Synchronize") || std::strstr(name, "Memcpy") ||
                   std::strstr(name, "GraphLaunch")))
        std::fprintf(out, "S %llu %llu %u %s\n", static_cast<unsigned long long>(api->start),
                     static_cast<unsigned long long>(api->end), api->threadId, name);
      break;
    }
    default:
      break;
  }
}

void CUPTIAPI buffer_completed(CUcontext, uint32_t, uint8_t* buffer, size_t, size_t valid) {
  {
    std::lock_guard<std::mutex> lock(out_mutex);
    CUpti_Activity* record = nullptr;
    while (cuptiActivityGetNextRecord(buffer, valid, &record) == CUPTI_SUCCESS)
      write_record(record);
  }
  std::free(buffer);
}

void flush_at_exit() {
  cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
  std::lock_guard<std::mutex> lock(out_mutex);
  if (out) std::fclose(out);
  out = nullptr;
}

}  // namespace

extern "C" int InitializeInjection() {
  const char* path = std::getenv("GLMASR_TRACE_OUT");
  out = std::fopen(path ? path : "cupti_trace.txt", "w");
  if (!out) return 0;
  cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed);
  cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
  cuptiActivityEnable(CUPTI_ACTIVITY_KIND_MEMCPY);
  cuptiActivityEnable(CUPTI_ACTIVITY_KIND_RUNTIME);
  std::atexit(flush_at_exit);
  return 1;
}
