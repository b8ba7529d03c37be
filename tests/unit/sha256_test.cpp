#include "hub/sha256.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "core/error.h"
#include "testing/testing.h"

namespace glmasr {
namespace {

// FIPS 180-2 test vectors.
TEST(Sha256, MatchesKnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, IncrementalUpdatesEqualOneShot) {
  const std::string text(1000003, 'a');
  Digest digest;
  for (size_t i = 0; i < text.size(); i += 4099) digest.update(text.substr(i, 4099));
  EXPECT_EQ(digest.hex_digest(), sha256_hex(text));
  EXPECT_THROW(digest.hex_digest(), Error);
}

TEST(Sha256, HashesFilesLikeGitAndSha256sum) {
  const std::string dir = testing::make_temp_dir("sha256");
  std::ofstream(dir + "/hello", std::ios::binary) << "hello\n";
  EXPECT_EQ(sha256_file_hex(dir + "/hello"),
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
  // `echo hello | git hash-object --stdin`
  EXPECT_EQ(git_blob_sha1_file_hex(dir + "/hello"), "ce013625030ba8dba906f756967f9e9ca394464a");
}

TEST(Sha256, NamesAFileItCannotRead) {
  try {
    sha256_file_hex("/nonexistent/weights.safetensors");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/weights.safetensors"), std::string::npos);
  }
}

}  // namespace
}  // namespace glmasr
