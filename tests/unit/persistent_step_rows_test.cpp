// The persistent decoding step's work list (cuda/kernels/persistent_step_rows.h): the producer
// walks the ring stages of a block's whole step with StageWalk while the consumers multiply the
// phases one by one (persistent_decode_step.cu's consume), so the two must visit the same stages
// in the same order, or the ring's slots would pair one phase's weights with another phase's
// inputs (or the kernel would wait forever). Checked here on the host for the real widths in
// bf16 and fp8, narrow shapes and blocks that own no rows in some phases.
#include "cuda/kernels/persistent_step_rows.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace glmasr::cuda::persistent_step {
namespace {

struct Shape {
  int layers, hidden, intermediate, heads, kv_heads, head_dim, vocab;
};

// Distinct fake matrix addresses (never dereferenced): only offsets from them are compared.
const void* fake_matrix(int index) {
  return reinterpret_cast<const void*>(uintptr_t{0x100000000} * uintptr_t(index + 1));
}

PersistentStepParams params_of(const Shape& shape, const PersistentStepLayer* layers) {
  PersistentStepParams p;
  p.layers = shape.layers;
  p.hidden = shape.hidden;
  p.intermediate = shape.intermediate;
  p.heads = shape.heads;
  p.kv_heads = shape.kv_heads;
  p.head_dim = shape.head_dim;
  p.vocab = shape.vocab;
  p.layer = layers;
  return p;
}

struct Stage {
  int layer;
  Phase phase;
  int stage;
  int64_t offset;  // from the matrix's row 0, bytes
  uint32_t bytes;
};

TEST(PersistentStepRows, WalkVisitsEveryPhasesStagesInTheConsumersOrder) {
  const Shape shapes[] = {{3, 2048, 6144, 16, 4, 128, 59264},
                          {3, 256, 1024, 4, 2, 64, 3000},
                          {2, 64, 128, 8, 1, 16, 500}};
  for (const Shape& shape : shapes) {
    std::vector<PersistentStepLayer> layers(size_t(shape.layers));
    for (int l = 0; l < shape.layers; ++l)
      layers[size_t(l)] = {.qkv = fake_matrix(4 * l),
                           .o = fake_matrix(4 * l + 1),
                           .gate_up = fake_matrix(4 * l + 2),
                           .down = fake_matrix(4 * l + 3)};
    PersistentStepParams p = params_of(shape, layers.data());
    p.lm_head = fake_matrix(4 * shape.layers);
    for (const int weight_bytes : {2, 1}) {
      for (const int blocks : {1, 7, 132}) {
        for (int block = 0; block < blocks; ++block) {
          SCOPED_TRACE(testing::Message()
                       << shape.hidden << " wide, " << weight_bytes << " bytes a weight, block "
                       << block << " of " << blocks);
          // The consumers' order: each streamed phase of each layer, then lm_head.
          std::vector<Stage> expected;
          auto add_phase = [&](int layer, Phase phase) {
            const BlockRows r = block_rows(p, layer, phase, blocks, block, weight_bytes);
            ASSERT_GT(r.per_stage, 0);
            for (int s = 0; s < r.stages(); ++s)
              expected.push_back({layer, phase, s,
                                  (r.first + int64_t{s} * r.per_stage) * r.row_bytes,
                                  static_cast<uint32_t>(r.rows_in(s) * r.row_bytes)});
          };
          for (int l = 0; l < p.layers; ++l)
            for (const Phase phase : {Phase::kQkv, Phase::kOut, Phase::kGateUp, Phase::kDown})
              add_phase(l, phase);
          add_phase(p.layers, Phase::kHead);

          std::vector<Stage> walked;
          for (StageWalk walk(p, blocks, block, weight_bytes); !walk.done(); walk.next()) {
            ASSERT_LT(walked.size(), expected.size() + 1) << "the walk does not end";
            const BlockRows& r = walk.rows();
            walked.push_back(
                {walk.layer(), walk.phase(), walk.stage(), walk.src() - r.w, walk.bytes()});
            // A stage fits its ring slot (gate and up rows together) and copies in 16 bytes.
            EXPECT_LE(int64_t{walk.bytes()} * (r.up_rows ? 2 : 1), kStageBytes);
            EXPECT_GT(walk.bytes(), 0u);
            EXPECT_EQ(walk.bytes() % 16, 0u);
            EXPECT_EQ((walk.src() - r.w) % 16, 0);
            EXPECT_EQ(walk.up_offset() % 16, 0);
            if (walk.phase() == Phase::kGateUp)
              EXPECT_EQ(walk.up_offset(), int64_t{p.intermediate} * p.hidden * weight_bytes);
          }
          ASSERT_EQ(walked.size(), expected.size());
          for (size_t i = 0; i < walked.size(); ++i) {
            EXPECT_EQ(walked[i].layer, expected[i].layer) << i;
            EXPECT_EQ(walked[i].phase, expected[i].phase) << i;
            EXPECT_EQ(walked[i].stage, expected[i].stage) << i;
            EXPECT_EQ(walked[i].offset, expected[i].offset) << i;
            EXPECT_EQ(walked[i].bytes, expected[i].bytes) << i;
          }
        }
      }
    }
  }
}

// Codes halve a row's bytes: a stage holds twice the rows up to the consumers' 8.
TEST(PersistentStepRows, CodesFillStagesWithMoreRows) {
  const PersistentStepLayer layer{};
  const PersistentStepParams p = params_of({1, 2048, 6144, 16, 4, 128, 59264}, &layer);
  EXPECT_EQ(block_rows(p, 0, Phase::kQkv, 132, 0, 2).per_stage, 6);
  EXPECT_EQ(block_rows(p, 0, Phase::kQkv, 132, 0, 1).per_stage, 8);
  EXPECT_EQ(block_rows(p, 0, Phase::kGateUp, 132, 0, 2).per_stage, 3);
  EXPECT_EQ(block_rows(p, 0, Phase::kGateUp, 132, 0, 1).per_stage, 4);
  EXPECT_EQ(block_rows(p, 0, Phase::kDown, 132, 0, 2).per_stage, 2);
  EXPECT_EQ(block_rows(p, 0, Phase::kDown, 132, 0, 1).per_stage, 4);
  EXPECT_EQ(block_rows(p, 1, Phase::kHead, 132, 0, 1).per_stage, 8);
}

}  // namespace
}  // namespace glmasr::cuda::persistent_step
