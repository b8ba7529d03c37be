#include "audio/audio_decode.h"

#include <sndfile.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "core/error.h"

namespace glmasr {
namespace {

// Beyond any real recording; rejects headers whose rate would overflow the resampler math.
constexpr int kMaxSampleRate = 1'000'000;
constexpr int kMaxChannels = 256;
// Far beyond full scale (1), and far below what overflows float arithmetic downstream.
constexpr float kMaxSampleMagnitude = 1000;
// Samples decoded per libsndfile call, whatever the channel count (512 KB of floats).
constexpr int kBlockSamples = 1 << 17;
// The most frames reserved from a header (2.3 h at 16 kHz): beyond it the buffer grows as the
// data proves itself, so a lying header without a length limit cannot reserve gigabytes.
constexpr int64_t kMaxReservedFrames = int64_t{1} << 27;

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

// Where the decoder stops: the most source frames the length limit lets through, or the
// largest count when there is no limit.
int64_t max_frames_of(const DecodeOptions& options, int sample_rate) {
  if (options.max_seconds <= 0) return std::numeric_limits<int64_t>::max();
  const double frames = std::floor(options.max_seconds * sample_rate);
  return frames >= 9e18 ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(frames);
}

[[noreturn]] void fail_too_long(const std::string& label, double max_seconds, int64_t frames,
                                int sample_rate, const char* how) {
  throw AudioTooLongError(cat(label, " is longer than the ", max_seconds, " s limit: ", how, " ",
                              static_cast<double>(frames) / sample_rate, " s"));
}

// A header's frame count when it is one: 0 and SF_COUNT_MAX are libsndfile's "unknown".
bool frames_known(const SF_INFO& info) {
  return info.frames > 0 && info.frames != SF_COUNT_MAX;
}

// Appends samples and keeps `peak` at the most bytes held at once, counting the old storage
// while a growing vector moves to its new one, plus the fixed block buffers.
void append_tracked(std::vector<float>& out, const float* begin, const float* end,
                    size_t fixed_bytes, size_t& peak) {
  const size_t old_capacity = out.capacity();
  out.insert(out.end(), begin, end);
  const size_t moved_from = out.capacity() != old_capacity ? old_capacity : 0;
  peak = std::max(peak, (out.capacity() + moved_from) * sizeof(float) + fixed_bytes);
}

// Averages interleaved frames into `mono` in place of its contents, summing in double as
// mix_to_mono does, so that decoding with a mix-down gives the same samples as mixing after.
void mix_block(const float* interleaved, int64_t frames, int channels, std::vector<float>& mono) {
  mono.resize(static_cast<size_t>(frames));
  for (int64_t frame = 0; frame < frames; ++frame) {
    double sum = 0;
    for (int c = 0; c < channels; ++c) sum += interleaved[frame * channels + c];
    mono[frame] = static_cast<float>(sum / channels);
  }
}

// Everything after opening, shared by files and in-memory uploads; `label` names the input in
// errors ("audio file 'x.wav'").
DecodedAudio decode_open_sndfile(SNDFILE* file, const SF_INFO& info, const std::string& label,
                                 const DecodeOptions& options) {
  GLMASR_CHECK(info.samplerate > 0 && info.samplerate <= kMaxSampleRate, label,
               ": expected a sample rate of 1..", kMaxSampleRate, " Hz, got ", info.samplerate);
  GLMASR_CHECK(info.channels > 0 && info.channels <= kMaxChannels, label, ": expected 1..",
               kMaxChannels, " channels, got ", info.channels);
  const int64_t max_frames = max_frames_of(options, info.samplerate);
  // Refused from the header alone, before any allocation: a 200 KB FLAC can announce hours.
  if (frames_known(info) && info.frames > max_frames)
    fail_too_long(label, options.max_seconds, info.frames, info.samplerate, "its header announces");
  const std::string truncation = truncation_in_log(file);
  GLMASR_CHECK(truncation.empty(), label, " is truncated: ", truncation);
  // Integer PCM comes back divided by 2^(bits-1), as soundfile/librosa read it.
  sf_command(file, SFC_SET_NORM_FLOAT, nullptr, SF_TRUE);

  DecodedAudio audio;
  audio.sample_rate = info.samplerate;
  audio.source_channels = info.channels;
  audio.channels = options.mix_to_mono ? 1 : info.channels;
  // Read in blocks until the decoder stops rather than trusting the header's frame count, which
  // is an estimate for some formats (MP3 without a Xing header) and absent for streamed FLAC.
  const sf_count_t block_frames = std::max(1, kBlockSamples / info.channels);
  std::vector<float> block(static_cast<size_t>(block_frames * info.channels));
  std::vector<float> mono_block;
  if (options.mix_to_mono && info.channels > 1) mono_block.reserve(block_frames);
  const size_t block_bytes = (block.capacity() + mono_block.capacity()) * sizeof(float);
  // Reserve what the header announces (within the limit and a cap, as headers can lie), so long
  // files do not regrow and re-copy.
  if (frames_known(info)) {
    const int64_t frames = std::min({info.frames, max_frames, kMaxReservedFrames});
    audio.interleaved.reserve(static_cast<size_t>(frames * audio.channels));
  }
  size_t unobserved_peak = 0;
  size_t& peak = options.peak_decode_bytes ? *options.peak_decode_bytes : unobserved_peak;
  peak = audio.interleaved.capacity() * sizeof(float) + block_bytes;
  int64_t decoded = 0;
  for (;;) {
    // One frame past the limit is enough to know that it is passed.
    const int64_t room = max_frames - decoded;
    const sf_count_t want = room >= block_frames ? block_frames : room + 1;
    const sf_count_t got = sf_readf_float(file, block.data(), want);
    if (got <= 0) break;
    const float* begin = block.data();
    const float* end = begin + got * info.channels;
    // Float PCM can hold NaN, infinity or values that overflow to infinity once filtered
    // (resampling, the mel spectrum), which would poison the features of the whole input.
    if (const float* bad =
            std::find_if(begin, end, [](float x) { return !(std::abs(x) <= kMaxSampleMagnitude); });
        bad != end)
      fail_input(label, " holds a sample of ", *bad, " at frame ",
                 decoded + (bad - begin) / info.channels, ": expected finite samples within +-",
                 kMaxSampleMagnitude, " (float PCM is nominally within +-1)");
    decoded += got;
    if (decoded > max_frames)
      fail_too_long(label, options.max_seconds, decoded, info.samplerate, "decoding passed it at");
    if (options.mix_to_mono && info.channels > 1) {
      mix_block(block.data(), got, info.channels, mono_block);
      begin = mono_block.data();
      end = begin + got;
    }
    append_tracked(audio.interleaved, begin, end, block_bytes, peak);
  }
  const int decode_error = sf_error(file);
  GLMASR_CHECK(decode_error == SF_ERR_NO_ERROR, label,
               " is damaged or truncated: decoding stopped after ", decoded,
               " frames: libsndfile says \"", sf_strerror(file), "\"");
  // A header that promises more frames than the data holds means the file was cut short.
  GLMASR_CHECK(!frames_known(info) || decoded >= info.frames, label,
               " is truncated: the header announces ", info.frames, " frames, only ", decoded,
               " could be decoded");
  GLMASR_CHECK(decoded > 0, label, " holds no audio samples");
  return audio;
}

// "fLaC", STREAMINFO's block header and its 34 bytes: all of a FLAC upload's metadata that
// libsndfile is shown (checked_reader).
constexpr size_t kFlacStreamInfoBytes = 34;
constexpr size_t kFlacStreamInfoEnd = 4 + 4 + kFlacStreamInfoBytes;

// libsndfile's virtual I/O over a byte buffer, so the server decodes uploads without temp files:
// `head` (a rewritten start, possibly empty) followed by the bytes [body, body + body_size).
struct MemoryReader {
  std::array<char, kFlacStreamInfoEnd> head{};
  sf_count_t head_size = 0;
  const char* body = nullptr;
  sf_count_t body_size = 0;
  sf_count_t position = 0;

  sf_count_t size() const { return head_size + body_size; }
  static MemoryReader& of(void* user) { return *static_cast<MemoryReader*>(user); }
  static sf_count_t length(void* user) { return of(user).size(); }
  static sf_count_t seek(sf_count_t offset, int whence, void* user) {
    MemoryReader& reader = of(user);
    const sf_count_t base = whence == SEEK_CUR   ? reader.position
                            : whence == SEEK_END ? reader.size()
                                                 : 0;
    const sf_count_t target = base + offset;
    if (target < 0) return -1;
    reader.position = target;
    return reader.position;
  }
  static sf_count_t read(void* destination, sf_count_t count, void* user) {
    MemoryReader& reader = of(user);
    auto* out = static_cast<char*>(destination);
    sf_count_t done = 0;
    while (done < count && reader.position < reader.size()) {
      const bool in_head = reader.position < reader.head_size;
      const char* from = in_head ? reader.head.data() + reader.position
                                 : reader.body + (reader.position - reader.head_size);
      const sf_count_t left =
          in_head ? reader.head_size - reader.position : reader.size() - reader.position;
      const sf_count_t n = std::min(count - done, left);
      std::memcpy(out + done, from, static_cast<size_t>(n));
      done += n;
      reader.position += n;
    }
    return done;
  }
  static sf_count_t write(const void*, sf_count_t, void*) { return 0; }
  static sf_count_t tell(void* user) { return of(user).position; }
};

// libsndfile 1.2.0 spins for minutes, reading nothing, on a RIFF/WAVE whose LIST chunk declares
// more bytes than follow (a 187-byte upload held a decoder thread for over 2 minutes), or whose
// LIST holds a sub-chunk larger than the LIST (a 936-byte upload, its LIST after the audio: over
// an hour; both found by the audio fuzzer). It parses every LIST it meets, before or after the
// data chunk, so the chunks are checked first: each chunk before the audio, and every LIST
// anywhere, must fit in the bytes received, and a LIST's sub-chunks must fit in the LIST. The
// data chunk may claim more than follows (a WAV written to a pipe cannot know its length); the
// chunks after it are then not there to check. `read_at(offset, out, n)` copies up to n of the
// input's `size` bytes from `offset` and returns how many it copied.
using ReadAt = std::function<size_t(size_t offset, unsigned char* out, size_t n)>;

// A LIST of more than this is refused unread: metadata, not speech, would be that large.
constexpr size_t kMaxWavListBytes = size_t{16} << 20;

uint32_t little_endian32(const unsigned char* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

std::string printable_id(const unsigned char* p) {
  std::string id(reinterpret_cast<const char*>(p), 4);
  for (char& c : id)
    if (c < 0x20 || c > 0x7e) c = '?';
  return id;
}

// The sub-chunks of the LIST whose body (after its 8-byte header) starts at `offset`.
void check_wav_list(const ReadAt& read_at, size_t offset, size_t length, const std::string& label) {
  if (length > kMaxWavListBytes)
    fail_input(label, " cannot be decoded: its LIST chunk at byte ", offset - 8, " declares ",
               length, " bytes, expected metadata of at most ", kMaxWavListBytes, " bytes");
  if (length == 0) return;  // an empty LIST: nothing to read (and body.data() may be null)
  std::vector<unsigned char> body(length);
  if (read_at(offset, body.data(), length) != length)
    fail_input(label, " is truncated: its LIST chunk at byte ", offset - 8, " ends early");
  for (size_t at = 4; at + 8 <= length;) {  // after the list type
    const size_t sub = little_endian32(body.data() + at + 4);
    at += 8;
    if (sub > length - at)
      fail_input(label, " cannot be decoded: it is not valid WAV, the sub-chunk '",
                 printable_id(body.data() + at - 8), "' of its LIST chunk at byte ", offset - 8,
                 " declares ", sub, " bytes and only ", length - at, " of the LIST follow");
    at += sub + (sub & 1);  // padded to an even length
  }
}

void check_wav_chunks(const ReadAt& read_at, size_t size, const std::string& label) {
  unsigned char header[12];
  if (read_at(0, header, 12) != 12 || std::memcmp(header, "RIFF", 4) != 0 ||
      std::memcmp(header + 8, "WAVE", 4) != 0)
    return;
  bool after_data = false;
  for (size_t offset = 12; offset + 8 <= size;) {
    if (read_at(offset, header, 8) != 8) return;
    const std::string id = printable_id(header);
    const size_t length = little_endian32(header + 4);
    offset += 8;
    const bool fits = length <= size - offset;
    if (id == "data") {
      if (!fits) return;  // the audio runs to the end
      after_data = true;
    } else if (!fits && (!after_data || id == "LIST")) {
      fail_input(label, " cannot be decoded: it is truncated or not valid WAV, its chunk '", id,
                 "' declares ", length, " bytes and only ", size - offset, " follow");
    } else if (!fits) {
      return;  // a trailing chunk cut short: libsndfile stops at the end
    }
    if (id == "LIST") check_wav_list(read_at, offset, length, label);
    offset += length + (length & 1);  // chunks are padded to an even length
  }
}

// libFLAC allocates what a metadata block header declares (up to 16 MB) before reading it, and
// misreads a STREAMINFO of the wrong size or place: a few hundred bytes of upload made it hold
// 13 MB (found by the audio fuzzer). A whole FLAC upload is checked against the FLAC format
// first: STREAMINFO first, once, 34 bytes; every block inside the bytes received. Inside a
// block that fits, libFLAC still trusts the lengths of the fields (a VORBIS_COMMENT's vendor
// string, a PICTURE's data): 93 bytes made it allocate 13.5 MB. Nothing but STREAMINFO matters
// for transcription, so libsndfile is shown the stream without the other blocks: the returned
// offset is where the audio frames begin (0: not FLAC).
size_t check_flac_metadata(const unsigned char* bytes, size_t size, const std::string& label) {
  if (size < 4 || std::memcmp(bytes, "fLaC", 4) != 0) return 0;
  size_t offset = 4;
  for (int index = 0;; ++index) {
    if (size - offset < 4)
      fail_input(label, " is truncated: its FLAC metadata ends inside a block header at byte ",
                 offset);
    const bool last = (bytes[offset] & 0x80) != 0;
    const int type = bytes[offset] & 0x7F;
    const size_t length = size_t{bytes[offset + 1]} << 16 | size_t{bytes[offset + 2]} << 8 |
                          size_t{bytes[offset + 3]};
    offset += 4;
    if ((type == 0) != (index == 0) || (type == 0 && length != kFlacStreamInfoBytes))
      fail_input(label, " is not valid FLAC: expected one ", kFlacStreamInfoBytes,
                 "-byte STREAMINFO block first, got block ", index, " of type ", type, " and ",
                 length, " bytes");
    if (type == 127)
      fail_input(label, " is not valid FLAC: metadata block ", index, " has the invalid type 127");
    if (length > size - offset)
      fail_input(label, " is truncated: its FLAC metadata block ", index, " declares ", length,
                 " bytes, only ", size - offset, " follow");
    offset += length;
    if (last) return offset;
  }
}

// The checked upload as libsndfile will read it (a FLAC upload without its metadata blocks
// other than STREAMINFO); `data` must outlive the reader.
MemoryReader checked_reader(const void* data, size_t size, const std::string& label) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  const size_t frames = check_flac_metadata(bytes, size, label);
  check_wav_chunks(
      [&](size_t offset, unsigned char* out, size_t n) {
        const size_t copied = offset < size ? std::min(n, size - offset) : 0;
        if (copied > 0) std::memcpy(out, bytes + offset, copied);
        return copied;
      },
      size, label);
  MemoryReader reader;
  reader.body = static_cast<const char*>(data);
  reader.body_size = static_cast<sf_count_t>(size);
  if (frames > kFlacStreamInfoEnd) {
    std::memcpy(reader.head.data(), bytes, kFlacStreamInfoEnd);
    reader.head[4] = static_cast<char>(0x80);  // STREAMINFO is now the last metadata block
    reader.head_size = kFlacStreamInfoEnd;
    reader.body += frames;
    reader.body_size = static_cast<sf_count_t>(size - frames);
  }
  return reader;
}

// An open in-memory decoder; `reader` must outlive it.
std::unique_ptr<SNDFILE, SndfileCloser> open_memory(MemoryReader& reader, SF_INFO& info) {
  static SF_VIRTUAL_IO io{&MemoryReader::length, &MemoryReader::seek, &MemoryReader::read,
                          &MemoryReader::write, &MemoryReader::tell};
  info = SF_INFO{};
  return std::unique_ptr<SNDFILE, SndfileCloser>(sf_open_virtual(&io, SFM_READ, &info, &reader));
}

}  // namespace

DecodedAudio decode_audio_file(const std::string& path, const DecodeOptions& options) {
  check_is_nonempty_regular_file(path);
  {  // the chunks libsndfile would misread (check_wav_chunks), read where they are
    std::unique_ptr<FILE, int (*)(FILE*)> head_file(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (head_file) {
      FILE* f = head_file.get();
      check_wav_chunks(
          [f](size_t offset, unsigned char* out, size_t n) -> size_t {
            if (offset > static_cast<size_t>(std::numeric_limits<long>::max()) ||
                std::fseek(f, static_cast<long>(offset), SEEK_SET) != 0)
              return 0;
            return std::fread(out, 1, n, f);
          },
          static_cast<size_t>(std::filesystem::file_size(path)), cat("audio file '", path, "'"));
    }
  }
  SF_INFO info{};
  std::unique_ptr<SNDFILE, SndfileCloser> file(sf_open(path.c_str(), SFM_READ, &info));
  GLMASR_CHECK(file, "audio file '", path, "' cannot be decoded (not a supported audio format, ",
               "or damaged): libsndfile says \"", sf_strerror(nullptr), "\"");
  return decode_open_sndfile(file.get(), info, cat("audio file '", path, "'"), options);
}

DecodedAudio decode_audio_memory(const void* data, size_t size, const std::string& name,
                                 const DecodeOptions& options) {
  GLMASR_CHECK(size > 0, "audio '", name, "' is empty (0 bytes)");
  MemoryReader reader = checked_reader(data, size, cat("audio '", name, "'"));
  SF_INFO info;
  const auto file = open_memory(reader, info);
  GLMASR_CHECK(file, "audio '", name, "' cannot be decoded (not a supported audio format, ",
               "or damaged): libsndfile says \"", sf_strerror(nullptr), "\"");
  return decode_open_sndfile(file.get(), info, cat("audio '", name, "'"), options);
}

DecodedAudio decode_audio_memory(const std::string& bytes, const std::string& name,
                                 const DecodeOptions& options) {
  return decode_audio_memory(bytes.data(), bytes.size(), name, options);
}

AudioInfo probe_audio_memory(const void* data, size_t size) {
  if (size == 0) fail_input("audio is empty (0 bytes)");
  MemoryReader reader = checked_reader(data, size, "audio");
  SF_INFO info;
  const auto file = open_memory(reader, info);
  if (!file)
    fail_input("audio cannot be decoded (not a supported audio format, or damaged): ",
               "libsndfile says \"", sf_strerror(nullptr), "\"");
  if (info.samplerate <= 0 || info.samplerate > kMaxSampleRate)
    fail_input("audio: expected a sample rate of 1..", kMaxSampleRate, " Hz, got ",
               info.samplerate);
  if (info.channels <= 0 || info.channels > kMaxChannels)
    fail_input("audio: expected 1..", kMaxChannels, " channels, got ", info.channels);
  SF_FORMAT_INFO format{};
  format.format = info.format & SF_FORMAT_TYPEMASK;
  const bool named = sf_command(nullptr, SFC_GET_FORMAT_INFO, &format, sizeof format) == 0;
  return AudioInfo{.frames = frames_known(info) ? info.frames : -1,
                   .sample_rate = info.samplerate,
                   .channels = info.channels,
                   .format = named && format.name ? format.name : "unknown"};
}

DecodedAudio decode_raw_s16le(const std::string& bytes, int sample_rate, int channels,
                              const std::string& source, const DecodeOptions& options) {
  GLMASR_CHECK(sample_rate > 0, "raw PCM from ", source,
               " needs its sample rate (--input-rate HZ): expected a positive rate, got ",
               sample_rate);
  GLMASR_CHECK(sample_rate <= kMaxSampleRate, "raw PCM from ", source,
               ": expected a sample rate of 1..", kMaxSampleRate, " Hz, got ", sample_rate);
  GLMASR_CHECK(channels > 0 && channels <= kMaxChannels, "raw PCM from ", source, ": expected 1..",
               kMaxChannels, " channels, got ", channels);
  GLMASR_CHECK(!bytes.empty(), "raw PCM from ", source, " is empty (0 bytes)");
  const size_t frame_bytes = 2 * static_cast<size_t>(channels);
  // Before the whole-frame check: a stream cut off at the limit need not end on a frame.
  const int64_t frames = static_cast<int64_t>(bytes.size() / frame_bytes);
  if (frames > max_frames_of(options, sample_rate))
    fail_too_long(cat("raw PCM from ", source), options.max_seconds, frames, sample_rate,
                  "it holds at least");
  GLMASR_CHECK(bytes.size() % frame_bytes == 0, "raw PCM from ", source, ": expected whole ",
               channels, "-channel 16-bit frames (a multiple of ", frame_bytes, " bytes), got ",
               bytes.size(), " bytes");
  DecodedAudio audio;
  audio.sample_rate = sample_rate;
  audio.source_channels = channels;
  audio.channels = options.mix_to_mono ? 1 : channels;
  const auto* raw = reinterpret_cast<const unsigned char*>(bytes.data());
  // Assembled byte by byte so the result is little-endian on any host.
  const auto sample_at = [raw](size_t i) {
    const auto value = static_cast<int16_t>(static_cast<uint16_t>(raw[2 * i]) |
                                            static_cast<uint16_t>(raw[2 * i + 1]) << 8);
    return static_cast<float>(value) / 32768.0f;
  };
  audio.interleaved.resize(static_cast<size_t>(frames * audio.channels));
  if (audio.channels == channels) {
    for (size_t i = 0; i < audio.interleaved.size(); ++i) audio.interleaved[i] = sample_at(i);
  } else {
    for (int64_t frame = 0; frame < frames; ++frame) {
      double sum = 0;  // as mix_to_mono sums
      for (int c = 0; c < channels; ++c) sum += sample_at(frame * channels + c);
      audio.interleaved[frame] = static_cast<float>(sum / channels);
    }
  }
  if (options.peak_decode_bytes)
    *options.peak_decode_bytes = audio.interleaved.capacity() * sizeof(float);
  return audio;
}

std::string read_all_bytes(std::FILE* in, const std::string& source, size_t max_bytes) {
  std::string bytes;
  char buffer[1 << 16];
  size_t got;
  while ((got = std::fread(buffer, 1, sizeof buffer, in)) > 0) {
    bytes.append(buffer, got);
    if (max_bytes > 0 && bytes.size() > max_bytes) {
      bytes.resize(max_bytes + 1);
      return bytes;
    }
  }
  GLMASR_CHECK(!std::ferror(in), "reading ", source, " failed");
  return bytes;
}

}  // namespace glmasr
