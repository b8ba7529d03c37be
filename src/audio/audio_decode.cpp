#include "audio/audio_decode.h"

#include <sndfile.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <system_error>

#include "core/error.h"

namespace glmasr {
namespace {

// Beyond any real recording; rejects headers whose rate would overflow the resampler math.
constexpr int kMaxSampleRate = 1'000'000;
constexpr int kMaxChannels = 256;

struct SndfileCloser {
  void operator()(SNDFILE* file) const { sf_close(file); }
};

// Errors say which file and why, so a batch of inputs reports each failure usefully.
void check_is_nonempty_regular_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  GLMASR_CHECK(fs::exists(status), "audio file '", path, "': ",
               ec && ec != std::errc::no_such_file_or_directory ? ec.message() : "no such file");
  GLMASR_CHECK(!fs::is_directory(status), "audio file '", path,
               "': expected a file, got a directory");
  const auto size = fs::file_size(path, ec);
  GLMASR_CHECK(ec || size > 0, "audio file '", path, "' is empty (0 bytes)");
  // libsndfile reports a file it cannot open as undecodable: say the system's reason instead.
  std::FILE* probe = std::fopen(path.c_str(), "rb");
  GLMASR_CHECK(probe, "audio file '", path, "' cannot be opened: ", std::strerror(errno));
  std::fclose(probe);
}

// libsndfile silently shortens a WAV/AIFF whose data chunk runs past the end of the file and
// only notes it in its log ("data : 96000 (should be 47978)"). That is a truncated file. Huge
// declared sizes are the "unknown length" placeholders of streaming writers, not truncation.
std::string truncation_in_log(SNDFILE* file) {
  std::string log(16384, '\0');
  sf_command(file, SFC_GET_LOG_INFO, log.data(), static_cast<int>(log.size()));
  log.resize(log.find('\0'));
  constexpr unsigned long long kStreamingPlaceholder = 0x7FFF0000ULL;
  size_t line_start = 0;
  while (line_start < log.size()) {
    size_t line_end = log.find('\n', line_start);
    if (line_end == std::string::npos) line_end = log.size();
    const std::string line = log.substr(line_start, line_end - line_start);
    line_start = line_end + 1;
    unsigned long long declared = 0, actual = 0;
    char chunk[16] = {0};
    if (std::sscanf(line.c_str(), " %15s : %llu (should be %llu)", chunk, &declared, &actual) != 3)
      continue;
    const std::string name = chunk;
    if ((name == "data" || name == "SSND") && declared > actual && declared < kStreamingPlaceholder)
      return cat("its '", name, "' chunk declares ", declared, " bytes, the file holds ", actual);
  }
  return {};
}

// Everything after opening, shared by files and in-memory uploads; `label` names the input in
// errors ("audio file 'x.wav'").
DecodedAudio decode_open_sndfile(SNDFILE* file, const SF_INFO& info, const std::string& label) {
  GLMASR_CHECK(info.samplerate > 0 && info.samplerate <= kMaxSampleRate, label,
               ": expected a sample rate of 1..", kMaxSampleRate, " Hz, got ", info.samplerate);
  GLMASR_CHECK(info.channels > 0 && info.channels <= kMaxChannels, label, ": expected 1..",
               kMaxChannels, " channels, got ", info.channels);
  const std::string truncation = truncation_in_log(file);
  GLMASR_CHECK(truncation.empty(), label, " is truncated: ", truncation);
  // Integer PCM comes back divided by 2^(bits-1), as soundfile/librosa read it.
  sf_command(file, SFC_SET_NORM_FLOAT, nullptr, SF_TRUE);

  DecodedAudio audio;
  audio.sample_rate = info.samplerate;
  audio.channels = info.channels;
  // Read in blocks until the decoder stops rather than trusting the header's frame count, which
  // is an estimate for some formats (MP3 without a Xing header).
  constexpr sf_count_t kBlockFrames = 65536;
  std::vector<float> block(static_cast<size_t>(kBlockFrames * info.channels));
  // Reserve what the header announces (capped), so long files do not regrow and re-copy.
  if (info.frames > 0 && info.frames < (sf_count_t{1} << 32))
    audio.interleaved.reserve(static_cast<size_t>(info.frames * info.channels));
  for (;;) {
    const sf_count_t got = sf_readf_float(file, block.data(), kBlockFrames);
    if (got <= 0) break;
    audio.interleaved.insert(audio.interleaved.end(), block.begin(),
                             block.begin() + got * info.channels);
  }
  const int decode_error = sf_error(file);
  GLMASR_CHECK(decode_error == SF_ERR_NO_ERROR, label,
               " is damaged or truncated: decoding stopped after ", audio.frames(),
               " frames: libsndfile says \"", sf_strerror(file), "\"");
  // A header that promises more frames than the data holds means the file was cut short.
  const bool frames_known = info.frames > 0 && info.frames != SF_COUNT_MAX;
  GLMASR_CHECK(!frames_known || audio.frames() >= info.frames, label,
               " is truncated: the header announces ", info.frames, " frames, only ",
               audio.frames(), " could be decoded");
  GLMASR_CHECK(audio.frames() > 0, label, " holds no audio samples");
  return audio;
}

// libsndfile's virtual I/O over a byte buffer: the server decodes uploads without temp files.
struct MemoryReader {
  const std::string* bytes = nullptr;
  sf_count_t position = 0;

  static MemoryReader& of(void* user) { return *static_cast<MemoryReader*>(user); }
  static sf_count_t length(void* user) { return static_cast<sf_count_t>(of(user).bytes->size()); }
  static sf_count_t seek(sf_count_t offset, int whence, void* user) {
    MemoryReader& reader = of(user);
    const sf_count_t base = whence == SEEK_CUR   ? reader.position
                            : whence == SEEK_END ? length(user)
                                                 : 0;
    const sf_count_t target = base + offset;
    if (target < 0) return -1;
    reader.position = target;
    return reader.position;
  }
  static sf_count_t read(void* destination, sf_count_t count, void* user) {
    MemoryReader& reader = of(user);
    const sf_count_t available = std::max<sf_count_t>(0, length(user) - reader.position);
    const sf_count_t n = std::min(count, available);
    if (n > 0) std::memcpy(destination, reader.bytes->data() + reader.position, n);
    reader.position += n;
    return n;
  }
  static sf_count_t write(const void*, sf_count_t, void*) { return 0; }
  static sf_count_t tell(void* user) { return of(user).position; }
};

}  // namespace

DecodedAudio decode_audio_file(const std::string& path) {
  check_is_nonempty_regular_file(path);
  SF_INFO info{};
  std::unique_ptr<SNDFILE, SndfileCloser> file(sf_open(path.c_str(), SFM_READ, &info));
  GLMASR_CHECK(file, "audio file '", path, "' cannot be decoded (not a supported audio format, ",
               "or damaged): libsndfile says \"", sf_strerror(nullptr), "\"");
  return decode_open_sndfile(file.get(), info, cat("audio file '", path, "'"));
}

DecodedAudio decode_audio_memory(const std::string& bytes, const std::string& name) {
  GLMASR_CHECK(!bytes.empty(), "audio '", name, "' is empty (0 bytes)");
  SF_VIRTUAL_IO io{&MemoryReader::length, &MemoryReader::seek, &MemoryReader::read,
                   &MemoryReader::write, &MemoryReader::tell};
  MemoryReader reader{&bytes, 0};
  SF_INFO info{};
  std::unique_ptr<SNDFILE, SndfileCloser> file(sf_open_virtual(&io, SFM_READ, &info, &reader));
  GLMASR_CHECK(file, "audio '", name, "' cannot be decoded (not a supported audio format, ",
               "or damaged): libsndfile says \"", sf_strerror(nullptr), "\"");
  return decode_open_sndfile(file.get(), info, cat("audio '", name, "'"));
}

DecodedAudio decode_raw_s16le(const std::string& bytes, int sample_rate, int channels,
                              const std::string& source) {
  GLMASR_CHECK(sample_rate > 0, "raw PCM from ", source,
               " needs its sample rate (--input-rate HZ): expected a positive rate, got ",
               sample_rate);
  GLMASR_CHECK(sample_rate <= kMaxSampleRate, "raw PCM from ", source,
               ": expected a sample rate of 1..", kMaxSampleRate, " Hz, got ", sample_rate);
  GLMASR_CHECK(channels > 0 && channels <= kMaxChannels, "raw PCM from ", source, ": expected 1..",
               kMaxChannels, " channels, got ", channels);
  GLMASR_CHECK(!bytes.empty(), "raw PCM from ", source, " is empty (0 bytes)");
  const size_t frame_bytes = 2 * static_cast<size_t>(channels);
  GLMASR_CHECK(bytes.size() % frame_bytes == 0, "raw PCM from ", source, ": expected whole ",
               channels, "-channel 16-bit frames (a multiple of ", frame_bytes, " bytes), got ",
               bytes.size(), " bytes");
  DecodedAudio audio;
  audio.sample_rate = sample_rate;
  audio.channels = channels;
  audio.interleaved.resize(bytes.size() / 2);
  const auto* raw = reinterpret_cast<const unsigned char*>(bytes.data());
  for (size_t i = 0; i < audio.interleaved.size(); ++i) {
    // Assembled byte by byte so the result is little-endian on any host.
    const auto value = static_cast<int16_t>(static_cast<uint16_t>(raw[2 * i]) |
                                            static_cast<uint16_t>(raw[2 * i + 1]) << 8);
    audio.interleaved[i] = static_cast<float>(value) / 32768.0f;
  }
  return audio;
}

std::string read_all_bytes(std::FILE* in, const std::string& source) {
  std::string bytes;
  char buffer[1 << 16];
  size_t got;
  while ((got = std::fread(buffer, 1, sizeof buffer, in)) > 0) bytes.append(buffer, got);
  GLMASR_CHECK(!std::ferror(in), "reading ", source, " failed");
  return bytes;
}

}  // namespace glmasr
