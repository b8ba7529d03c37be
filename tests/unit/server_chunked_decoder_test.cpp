// The chunked transfer decoder, fed whole and one byte at a time, with malformed framing.
#include <gtest/gtest.h>

#include "server/chunked_decoder.h"
#include "server/http_message.h"

namespace glmasr::server {
namespace {

TEST(ChunkedDecoder, DecodesChunksAndLeavesTheNextRequest) {
  ChunkedDecoder decoder(1000);
  const std::string input =
      "4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\nGET";
  const size_t used = decoder.feed(input);
  EXPECT_TRUE(decoder.done());
  EXPECT_EQ(decoder.body(), "Wikipedia in\r\n\r\nchunks.");
  EXPECT_EQ(input.substr(used), "GET");
}

TEST(ChunkedDecoder, SameResultOneByteAtATime) {
  ChunkedDecoder decoder(1000);
  const std::string input = "3\r\nabc\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: 1\r\n\r\n";
  for (char c : input) {
    ASSERT_FALSE(decoder.done());
    EXPECT_EQ(decoder.feed(std::string_view(&c, 1)), 1u);
  }
  EXPECT_TRUE(decoder.done());
  EXPECT_EQ(decoder.body(), "abcabcdefghijklmnopqrstuvwxyz");
}

TEST(ChunkedDecoder, AcceptsBareLineFeeds) {
  ChunkedDecoder decoder(1000);
  decoder.feed("2\nhi\n0\n\n");
  EXPECT_TRUE(decoder.done());
  EXPECT_EQ(decoder.body(), "hi");
}

TEST(ChunkedDecoder, NotDoneUntilTheFinalBlankLine) {
  ChunkedDecoder decoder(1000);
  decoder.feed("2\r\nhi\r\n0\r\n");
  EXPECT_FALSE(decoder.done());
  decoder.feed("\r\n");
  EXPECT_TRUE(decoder.done());
}

int status_of(const std::string& input, size_t limit = 1000) {
  ChunkedDecoder decoder(limit);
  try {
    decoder.feed(input);
  } catch (const HttpError& e) {
    return e.status();
  }
  return 0;
}

TEST(ChunkedDecoder, RejectsMalformedFraming) {
  for (const std::string& input : std::vector<std::string>{
           "\r\n", "g\r\n", "-1\r\n", "0x5\r\n", " 5\r\n", "2\r\nabc\r\n", "2\r\nabXX\r\n",
           "1000000000000000\r\n", "0\r\nbad trailer\r\n", std::string(5000, '1')})
    EXPECT_EQ(status_of(input), 400) << input.substr(0, 30);
}

TEST(ChunkedDecoder, RefusesABodyOverTheLimitFromTheSizeLine) {
  EXPECT_EQ(status_of("b\r\n", 10), 413);
  EXPECT_EQ(status_of("5\r\nhello\r\n6\r\n", 10), 413);
  EXPECT_EQ(status_of("fffffffffffffff\r\n", 10), 413);
  EXPECT_EQ(status_of("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", 10), 0);
}

}  // namespace
}  // namespace glmasr::server
