// consumer_cpp MODEL_DIR AUDIO: prints the transcript as `glmasr transcribe` does (txt), with
// the segments streamed through a callback checked against the result's.
#include <glmasr/glmasr.hpp>
#include <iostream>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: consumer_cpp MODEL_DIR AUDIO\n";
    return 2;
  }
  try {
    glmasr::Model model(argv[1]);
    std::vector<glmasr::Segment> streamed;
    glmasr::TranscribeOptions options;
    options.on_segment = [&](const glmasr::Segment& segment) {
      streamed.push_back(segment);
      return true;
    };
    const glmasr::Result result = model.transcribe_file(argv[2], options);
    const std::vector<glmasr::Segment> segments = result.segments();
    if (streamed.size() != segments.size()) {
      std::cerr << "consumer_cpp: streamed " << streamed.size() << " segments, result has "
                << segments.size() << "\n";
      return 1;
    }
    for (size_t i = 0; i < segments.size(); ++i)
      if (streamed[i].text != segments[i].text || streamed[i].tokens != segments[i].tokens) {
        std::cerr << "consumer_cpp: streamed segment " << i << " differs from the result's\n";
        return 1;
      }
    std::cout << result.render("txt");
    return 0;
  } catch (const glmasr::Error& e) {
    std::cerr << "consumer_cpp: " << e.what() << "\n";
    return 1;
  }
}
