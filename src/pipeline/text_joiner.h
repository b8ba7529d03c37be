// How the texts of an input's segments become its one text, as a stream: pieces of each
// segment's text arrive in segment order while it is decoded, and the joined text comes out as
// deltas that never need taking back. join_segment_texts runs the same joiner over finished
// texts, so streamed deltas joined are, by construction, the non-streamed text.
//
// The rule: each segment's text is trimmed of ASCII white space; the pieces are joined with one
// space, or none between CJK characters (written without spaces); the first piece keeps its
// leading and the last its trailing white space. A lone segment is therefore the model's text
// verbatim, exactly what the reference pipeline returns.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace glmasr {

class TextJoiner {
 public:
  // `emit` receives each delta (whole UTF-8 characters when the pieces are); may be empty.
  explicit TextJoiner(std::function<void(std::string_view delta)> emit = {});

  // More text of the current segment.
  void append(std::string_view piece);
  // The current segment is complete; the next append() starts the next segment.
  void end_segment();
  // Every segment is complete: emits the last piece's trailing white space.
  void finish();

  const std::string& text() const { return out_; }  // everything emitted so far

 private:
  void emit(std::string_view delta);

  std::function<void(std::string_view)> emit_;
  std::string out_;
  std::string held_;               // white space not yet known to be inside a piece
  std::string trailing_;           // trailing white space of the last non-empty piece
  bool segment_has_text_ = false;  // the current segment has shown non-space text
};

// The joined text of finished segment texts (see the rule above).
std::string join_segment_texts(const std::vector<std::string>& texts);

}  // namespace glmasr
