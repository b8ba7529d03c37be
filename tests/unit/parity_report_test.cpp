// ParityReport's verdict: stage errors within tolerance, tokens equal on the steps before the
// first small reference margin, and equal on every step whose margin is above the threshold.
#include <gtest/gtest.h>

#include <string>

#include "runtime/parity.h"

namespace glmasr {
namespace {

// Stages within 3e-2; 5 steps, 2 before the first small margin, 3 with a clear margin.
ParityReport passing_report() {
  ParityReport report;
  report.stages = {{"encoder_output", 1.4e-2, 0.1}, {"logits", 2.0e-2, 1.0}};
  report.steps.resize(5);
  report.decisive_steps = 2;
  report.first_mismatch = 3;  // after the decisive prefix, at a small margin
  report.clear_steps = 3;
  report.clear_mismatches = 0;
  return report;
}

TEST(ParityReport, PassesWhenOnlySmallMarginStepsDiffer) {
  EXPECT_TRUE(passing_report().passed(3e-2));
}

TEST(ParityReport, FailsOnAClearStepThatDiffersAfterTheDecisivePrefix) {
  ParityReport report = passing_report();
  report.clear_mismatches = 1;
  EXPECT_FALSE(report.passed(3e-2));
  EXPECT_NE(report.format().find("3 steps have a margin above it, 1 of them differ"),
            std::string::npos)
      << report.format();
}

TEST(ParityReport, FailsOnAMismatchInsideTheDecisivePrefix) {
  ParityReport report = passing_report();
  report.first_mismatch = 1;
  EXPECT_FALSE(report.passed(3e-2));
}

TEST(ParityReport, FailsOnAStageAboveTolerance) {
  ParityReport report = passing_report();
  report.stages[1].relative = 4e-2;
  EXPECT_FALSE(report.passed(3e-2));
}

}  // namespace
}  // namespace glmasr
