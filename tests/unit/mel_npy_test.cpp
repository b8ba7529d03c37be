// The .npy writer used by `glmasr mel`: header layout numpy accepts, and a round trip.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "core/error.h"
#include "io/npy.h"
#include "testing/testing.h"

namespace glmasr {
namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(Npy, HeaderIsVersion1AlignedTo64) {
  const std::string header = npy_header_f32({2, 128, 3000});
  EXPECT_EQ(header.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_EQ(header.size() % 64, 0u);
  const size_t dict_size =
      static_cast<unsigned char>(header[8]) | static_cast<unsigned char>(header[9]) << 8;
  EXPECT_EQ(dict_size, header.size() - 10);
  EXPECT_EQ(header.back(), '\n');
  EXPECT_NE(header.find("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 128, 3000), }"),
            std::string::npos)
      << header;
}

TEST(Npy, OneDimensionalShapeHasTrailingComma) {
  EXPECT_NE(npy_header_f32({5}).find("'shape': (5,)"), std::string::npos);
  EXPECT_NE(npy_header_f32({}).find("'shape': ()"), std::string::npos);
}

TEST(Npy, RoundTripsValuesAndShape) {
  const std::string path = testing::make_temp_dir("npy") + "/a.npy";
  FloatTensor tensor({2, 3, 4});
  for (int64_t i = 0; i < tensor.numel(); ++i) tensor[i] = 0.5f * static_cast<float>(i) - 3.0f;
  write_npy_f32(path, tensor);
  const std::string bytes = read_bytes(path);
  EXPECT_EQ(bytes.size(), 128u + 24u * 4u);  // numpy pads this header to 128 bytes
  const FloatTensor back = read_npy_f32(path);
  EXPECT_EQ(back.shape(), tensor.shape());
  EXPECT_EQ(back.values(), tensor.values());
}

TEST(Npy, ReaderRejectsOtherDtypesAndShortFiles) {
  const std::string dir = testing::make_temp_dir("npy-bad");
  FloatTensor tensor({3, 3}, 1.0f);
  write_npy_f32(dir + "/good.npy", tensor);
  const std::string good = read_bytes(dir + "/good.npy");

  std::string f8 = good;
  f8.replace(f8.find("<f4"), 3, "<f8");
  std::ofstream(dir + "/f8.npy", std::ios::binary) << f8;
  EXPECT_THROW(read_npy_f32(dir + "/f8.npy"), Error);

  std::ofstream(dir + "/short.npy", std::ios::binary) << good.substr(0, good.size() - 4);
  try {
    read_npy_f32(dir + "/short.npy");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("short.npy"), std::string::npos) << e.what();
  }
  std::ofstream(dir + "/text.npy", std::ios::binary) << "hello";
  EXPECT_THROW(read_npy_f32(dir + "/text.npy"), Error);
}

TEST(Npy, WriteToMissingDirectoryNamesThePath) {
  try {
    write_npy_f32("/nonexistent-dir/x.npy", FloatTensor({1}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/x.npy"), std::string::npos);
  }
}

}  // namespace
}  // namespace glmasr
