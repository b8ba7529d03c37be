// How the persistent decoding step (persistent_decode_step.cu) splits a phase's `rows` output
// rows over its blocks: contiguous ranges balanced to one row, the blocks that take one row more
// rotating with `rotation` (the phase's number) so that every block streams about the same bytes
// over a step. Plain arithmetic, so host tests check it (tests/unit/row_split_test.cpp).
#pragma once

#include <cstdint>

#include "cuda/kernels/host_device.h"

namespace glmasr::cuda {

struct RowRange {
  int64_t first = 0, count = 0;
};

// Block `block` of `blocks` (0 <= block < blocks) in phase `rotation` (>= 0).
GLMASR_HOST_DEVICE inline RowRange split_rows(int64_t rows, int blocks, int block, int rotation) {
  const int64_t b = (int64_t{block} + rotation % blocks) % blocks;
  const int64_t first = rows * b / blocks;
  return {first, rows * (b + 1) / blocks - first};
}

}  // namespace glmasr::cuda
