// The persistent decoding step's split of a phase's rows over its blocks (cuda/kernels/
// row_split.h): every row goes to exactly one block, in contiguous ranges that differ by at most
// one row, and over a step's phases the extra rows rotate so that no block carries many more.
#include "cuda/kernels/row_split.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace glmasr::cuda {
namespace {

TEST(RowSplit, CoversEveryRowOnceInBalancedRanges) {
  for (const int64_t rows : {0, 1, 7, 131, 132, 133, 2048, 3072, 6144, 59264}) {
    for (const int blocks : {1, 2, 60, 132}) {
      for (const int rotation : {0, 1, 5, 131, 140, 1000}) {
        std::vector<int> owners(static_cast<size_t>(rows), 0);
        int64_t smallest = rows, largest = 0;
        for (int block = 0; block < blocks; ++block) {
          const RowRange r = split_rows(rows, blocks, block, rotation);
          ASSERT_GE(r.first, 0);
          ASSERT_LE(r.first + r.count, rows);
          for (int64_t i = r.first; i < r.first + r.count; ++i) ++owners[i];
          smallest = std::min(smallest, r.count);
          largest = std::max(largest, r.count);
        }
        for (int64_t i = 0; i < rows; ++i)
          ASSERT_EQ(owners[i], 1) << "row " << i << " of " << rows << ", " << blocks << " blocks";
        EXPECT_LE(largest - smallest, 1) << rows << " rows, " << blocks << " blocks";
      }
    }
  }
}

TEST(RowSplit, RotatesTheLongerRangesOverPhases) {
  // The real step's phase sizes on 132 SMs (qkv, o_proj, gate|up pairs, down) over 28 layers:
  // without rotation the same blocks would take the extra row of every phase.
  constexpr int kBlocks = 132, kLayers = 28;
  const int64_t sizes[] = {3072, 2048, 6144, 2048};
  std::vector<int64_t> total(kBlocks, 0);
  for (int layer = 0; layer < kLayers; ++layer)
    for (int kind = 0; kind < 4; ++kind)
      for (int block = 0; block < kBlocks; ++block)
        total[block] += split_rows(sizes[kind], kBlocks, block, layer * 5 + kind).count;
  const auto [low, high] = std::minmax_element(total.begin(), total.end());
  EXPECT_LE(*high - *low, 4 * kLayers / 2);  // at most about half the phases' extra rows
  int64_t unrotated_low = INT64_MAX, unrotated_high = 0;
  for (int block = 0; block < kBlocks; ++block) {
    int64_t sum = 0;
    for (int layer = 0; layer < kLayers; ++layer)
      for (int64_t size : sizes) sum += split_rows(size, kBlocks, block, 0).count;
    unrotated_low = std::min(unrotated_low, sum);
    unrotated_high = std::max(unrotated_high, sum);
  }
  EXPECT_LT(*high - *low, unrotated_high - unrotated_low);
}

}  // namespace
}  // namespace glmasr::cuda
