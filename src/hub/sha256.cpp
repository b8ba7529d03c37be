#include "hub/sha256.h"

#include <openssl/evp.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <vector>

#include "core/error.h"

namespace glmasr {

namespace {

EVP_MD_CTX* ctx(void* p) {
  return static_cast<EVP_MD_CTX*>(p);
}

void hash_file_into(Digest& digest, const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  GLMASR_CHECK(file, "cannot open '", path, "' for hashing");
  std::vector<char> buffer(1 << 20);
  size_t got;
  while ((got = std::fread(buffer.data(), 1, buffer.size(), file.get())) > 0)
    digest.update(buffer.data(), got);
  GLMASR_CHECK(!std::ferror(file.get()), "read error while hashing '", path, "'");
}

}  // namespace

Digest::Digest(DigestKind kind) : context_(EVP_MD_CTX_new()) {
  GLMASR_CHECK(context_, "EVP_MD_CTX_new failed");
  const EVP_MD* md = kind == DigestKind::kSha256 ? EVP_sha256() : EVP_sha1();
  if (EVP_DigestInit_ex(ctx(context_), md, nullptr) != 1) {
    EVP_MD_CTX_free(ctx(context_));
    fail("EVP_DigestInit_ex failed");
  }
}

Digest::~Digest() {
  EVP_MD_CTX_free(ctx(context_));
}

void Digest::update(const void* data, size_t size) {
  GLMASR_CHECK(!finished_, "Digest::update after hex_digest");
  GLMASR_CHECK(EVP_DigestUpdate(ctx(context_), data, size) == 1, "EVP_DigestUpdate failed");
}

std::string Digest::hex_digest() {
  GLMASR_CHECK(!finished_, "Digest::hex_digest called twice");
  finished_ = true;
  unsigned char bytes[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  GLMASR_CHECK(EVP_DigestFinal_ex(ctx(context_), bytes, &length) == 1, "EVP_DigestFinal_ex failed");
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[bytes[i] >> 4];
    hex += kHex[bytes[i] & 15];
  }
  return hex;
}

std::string sha256_hex(std::string_view data) {
  Digest digest;
  digest.update(data);
  return digest.hex_digest();
}

std::string sha256_file_hex(const std::string& path) {
  Digest digest(DigestKind::kSha256);
  hash_file_into(digest, path);
  return digest.hex_digest();
}

std::string git_blob_sha1_file_hex(const std::string& path) {
  std::error_code error;
  const auto size = std::filesystem::file_size(path, error);
  GLMASR_CHECK(!error, "cannot read the size of '", path, "': ", error.message());
  Digest digest(DigestKind::kSha1);
  const std::string header = "blob " + std::to_string(size);
  digest.update(header.c_str(), header.size() + 1);  // with the terminating NUL, as git does
  hash_file_into(digest, path);
  return digest.hex_digest();
}

}  // namespace glmasr
