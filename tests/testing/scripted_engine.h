// A scripted engine for the scheduling tests (batch decoder, engine loop, dispatcher): the
// token at position p of a sequence is 100 + p, or kScriptedEos once p reaches the prompt's first
// id (so each request says how long it runs); a negative first id fails its admission. It
// records every admission group and step batch, and the order of step launches and collections;
// every fed token must be the one last chosen in its slot (so a pipelined step's row that follows
// the wrong row of the step before fails). One thread drives it, as any engine.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "engine/engine.h"

namespace glmasr::testing {

constexpr int32_t kScriptedEos = 7;

class ScriptedEngine final : public Engine {
 public:
  ScriptedEngine(int slots, int positions, int encoder_windows = 8)
      : slots_(slots), positions_(positions), encoder_windows_(encoder_windows) {
    config_.eos_token_ids = {kScriptedEos};
  }
  const ModelConfig& config() const override { return config_; }
  std::string describe() const override { return "scripted"; }
  std::string device() const override { return device_name; }
  int kv_slots() const override { return slots_; }
  int kv_positions() const override { return positions_; }
  int encoder_batch_windows() const override { return encoder_windows_; }

  std::vector<AdmissionResult> admit(const std::vector<SequenceAdmission>& admissions) override {
    if (gate.valid()) gate.wait();
    if (fault_on_admit) throw DeviceError("scripted device fault");
    std::vector<AdmissionResult> results;
    std::vector<int> group;
    for (const SequenceAdmission& a : admissions) {
      EXPECT_FALSE(occupied.count(a.slot)) << "slot " << a.slot << " handed out twice";
      group.push_back(a.request->prompt_ids.at(0));
      AdmissionResult r;
      occupied.insert(a.slot);  // a failed admission may have written the slot too
      if (a.request->prompt_ids.at(0) < 0) {
        r.error = "scripted admission failure";
      } else {
        stop_at[a.slot] = a.request->prompt_ids.at(0);
        r.first = choose(a.slot, static_cast<int>(a.request->prompt_ids.size()));
        last_chosen[a.slot] = r.first.token;
      }
      results.push_back(r);
    }
    admitted_groups.push_back(group);
    return results;
  }

  std::vector<TokenChoice> step(const std::vector<StepInput>& batch) override {
    step_sizes.push_back(static_cast<int>(batch.size()));
    std::vector<TokenChoice> out;
    for (const StepInput& s : batch) {
      EXPECT_TRUE(occupied.count(s.slot)) << "step on free slot " << s.slot;
      EXPECT_EQ(s.token, last_chosen[s.slot])
          << "slot " << s.slot << " fed a token it did not choose";
      out.push_back(choose(s.slot, s.position + 1));
      last_chosen[s.slot] = out.back().token;
    }
    return out;
  }

  void launch_step(const std::vector<StepInput>& batch) override {
    std::string entry = "launch";
    for (const StepInput& s : batch)
      entry += s.follows >= 0 ? " f" + std::to_string(s.follows) : " h";
    calls.push_back(entry);
    Engine::launch_step(batch);
  }

  std::vector<TokenChoice> collect_step() override {
    calls.push_back("collect");
    return Engine::collect_step();
  }

  void release(int slot) override {
    EXPECT_TRUE(occupied.erase(slot)) << "released free slot " << slot;
    ++releases;
  }

  FloatTensor encoder_output(const MelWindows&) override { return {}; }
  FloatTensor audio_embeddings(const MelWindows&) override { return {}; }
  FloatTensor teacher_forced_logits(const MelWindows&, const std::vector<int32_t>&,
                                    const std::vector<int32_t>&) override {
    return {};
  }

  std::vector<std::vector<int>> admitted_groups;  // first prompt id of each admitted request
  std::vector<int> step_sizes;
  // "launch" and each row's source ("h": the host's token, "fN": row N of the step before), or
  // "collect", in call order.
  std::vector<std::string> calls;
  std::map<int, int32_t> last_chosen;
  std::set<int> occupied;
  std::map<int, int> stop_at;
  int releases = 0;
  std::atomic<bool> fault_on_admit{false};  // the next admission throws a DeviceError
  std::string device_name = "cpu";
  std::shared_future<void> gate;  // when set, admissions wait for it (hold a loop still)

 private:
  TokenChoice choose(int slot, int length) {
    return {length >= stop_at[slot] ? kScriptedEos : 100 + length, -0.5f};
  }
  ModelConfig config_;
  int slots_, positions_, encoder_windows_;
};

inline MelWindows one_window() {
  MelWindows mel;
  mel.valid_frames = {3000};
  return mel;
}

// A request whose sequence reaches eos when its length reaches `stop_length` (prompt of 2).
inline GenerationRequest scripted_request(const MelWindows& mel, int stop_length,
                                          int max_new_tokens = 100) {
  return {.mel = &mel,
          .audio_rows = {375},
          .prompt_ids = {stop_length, 1},
          .max_new_tokens = max_new_tokens};
}

}  // namespace glmasr::testing
