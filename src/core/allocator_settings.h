// glibc malloc settings of the glmasr binary, in one place so that the tests that guard their
// consequences run under the same ones.
#pragma once

namespace glmasr {

// Segments allocate and free buffers of a few MB (samples, log-mel, prompts) by the hundred. By
// default glibc serves each from a fresh mmap, and first-touch page faults then cost more than
// the log-mel itself (measured: 3.4 s -> 0.9 s for an hour of audio on one core). Keeping such
// blocks in the heap, and not trimming it, lets them be reused. The cost: on a worker thread
// glibc's arenas are heaps of at most 64 MB, so a block below the threshold that grows by small
// reallocs moves from heap to fresh heap and every heap it leaves stays (no trimming). Code that
// can grow a large buffer that way (soxr's one-shot buffers did: 7.8 GB for 20 minutes of
// 48 kHz audio) must size it up front or work in blocks. No effect off glibc.
void keep_large_blocks_in_the_heap();

}  // namespace glmasr
