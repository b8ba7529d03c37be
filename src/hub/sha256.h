// Message digests for verifying downloaded model files (OpenSSL libcrypto, EVP interface):
// SHA-256 for the hub's LFS files, and git's blob SHA-1 for small files kept in git itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace glmasr {

enum class DigestKind { kSha256, kSha1 };

// Incremental digest; hex_digest() ends it.
class Digest {
 public:
  explicit Digest(DigestKind kind = DigestKind::kSha256);
  ~Digest();
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;

  void update(const void* data, size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  // Lower-case hex of the digest. Throws if called twice.
  std::string hex_digest();

 private:
  void* context_;  // EVP_MD_CTX
  bool finished_ = false;
};

std::string sha256_hex(std::string_view data);
// SHA-256 of a file's contents; throws glmasr::Error naming the path if it cannot be read.
std::string sha256_file_hex(const std::string& path);
// git's object id of a file's contents: SHA-1 of "blob <size>\0" followed by the contents.
std::string git_blob_sha1_file_hex(const std::string& path);

}  // namespace glmasr
